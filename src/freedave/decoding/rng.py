"""Keyed random draws: a draw is a pure function of (seed, prompt index, position, step).

No generator state is ever advanced, so a static run and a FreeDave run (which evaluates the same
static steps in a different order and grouping) see exactly the same numbers.
"""

from __future__ import annotations

import torch
from torch import Tensor

_M32 = 0xFFFFFFFF


def _mul32(x: Tensor, c: int) -> Tensor:
    """``(x * c) mod 2**32`` for ``0 <= x < 2**32`` without int64 overflow."""
    lo, hi = x & 0xFFFF, x >> 16
    return (lo * c + (((hi * c) & 0xFFFF) << 16)) & _M32


def _mix(x: Tensor) -> Tensor:
    """A 32-bit integer hash (the 'lowbias32' mixer) on int64 tensors holding 32-bit values."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def keyed_uniform(seed: int, stream: int, positions: Tensor, step: int) -> Tensor:
    """Uniform draws in (0, 1), float64, one per position: ``u(seed, stream, position, step)``.

    ``stream`` is the prompt's index in the user's request.
    """
    pos = positions.detach().to("cpu", torch.int64) & _M32
    h = _mix(torch.full_like(pos, seed & _M32) ^ 0x9E3779B9)
    h = _mix(h ^ (stream & _M32))
    h = _mix(h ^ pos)
    h = _mix(h ^ (step & _M32))
    h = _mix(h ^ ((seed >> 32) & _M32))
    return ((h.double() + 0.5) / 4294967296.0).to(positions.device)
