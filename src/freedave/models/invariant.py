"""Batch-invariant building blocks shared by every built-in forward (reference and Hugging Face).

A row's logits must not depend on what else shares the call: CPU GEMM kernels pick different code
paths (and summation orders) for different row counts, and the CPU attention kernel splits its
work by batch x heads. So linear layers run on row counts padded to a fixed tile, attention runs
one segment (and where needed one row) at a time over exactly the keys the segment may see, and
rotary tables are built elementwise.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ROW_TILE = 16  # linear layers run on row counts padded to a multiple of this (batch invariance)
GPU_TILE = 64  # deterministic mode on GPU: every linear layer runs on exactly this many rows

Attend = Callable[[Tensor, Tensor, Tensor], Tensor]


def tiled_weight(x: Tensor, weight: Tensor, bias: Tensor | None = None, fixed: int = 0) -> Tensor:
    """``x @ weight.T + bias`` on a row count padded to a multiple of ``ROW_TILE``.

    Padding to a fixed multiple keeps every row on one kernel path: the result of a row never
    depends on its neighbours. With ``fixed > 0`` (deterministic mode on GPU) the rows go through
    in chunks of exactly ``fixed`` rows, so every GEMM has one shape whatever the batch holds.
    """
    shape = x.shape
    flat = x.reshape(-1, shape[-1])
    n = flat.shape[0]
    pad = (-n) % (fixed or ROW_TILE)
    if torch.compiler.is_compiling() or pad:  # compiled: one graph whether or not n is tile-aligned
        flat = torch.cat([flat, flat.new_zeros(pad, flat.shape[1])])
    if fixed:
        out = torch.cat([F.linear(c, weight, bias) for c in flat.split(fixed)])
    else:
        out = F.linear(flat, weight, bias)
    return out[:n].reshape(*shape[:-1], out.shape[-1])


def tiled_linear(x: Tensor, layer: nn.Linear, fixed: int = 0) -> Tensor:
    """``layer(x)`` computed by ``tiled_weight``."""
    return tiled_weight(x, layer.weight, layer.bias, fixed)


def rope_tables(n: int, dim: int, theta: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """Rotary cos/sin tables ``[n, dim]`` (float32) for positions ``0:n``."""
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim))
    return rope_from(inv, 0, n, 1.0, torch.float32)


def rope_from(inv_freq: Tensor, lo: int, hi: int, scale: float, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Rotary cos/sin tables ``[hi - lo, dim]`` for positions ``lo:hi`` from inverse frequencies."""
    pos = torch.arange(lo, hi, device=inv_freq.device, dtype=torch.float32)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return (emb.cos() * scale).to(dtype), (emb.sin() * scale).to(dtype)


def rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotary embedding of ``x`` ``[..., L, Dh]`` with tables ``[L, Dh]``."""
    return x * cos + rotate_half(x) * sin


def attend_rows(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """SDPA one row at a time: the CPU kernel splits its work by batch x heads, so a row's result
    would otherwise change with how many rows share the call."""
    if q.shape[0] == 1:
        return F.scaled_dot_product_attention(q, k, v)
    return torch.cat([F.scaled_dot_product_attention(q[i : i + 1], k[i : i + 1], v[i : i + 1]) for i in range(q.shape[0])])


def segment_attention(attend: Attend, q: Tensor, k: Tensor, v: Tensor, segs: list[tuple[int, int]], base: int) -> Tensor:
    """Attention per segment ``(lo, hi)``: queries ``lo:hi`` see keys ``0:hi``. ``q`` holds the
    positions from ``base`` on; ``k``/``v`` every position from 0."""
    outs = [attend(q[:, :, lo - base : hi - base], k[:, :, :hi], v[:, :, :hi]) for lo, hi in segs]
    return torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]


def segments(n: int, origin: int, block_size: int, block: bool) -> list[tuple[int, int]]:
    """Attention segments of ``n`` positions: one for full attention; for the block family the
    positions before ``origin`` (one bidirectional prefix, absent when ``origin`` is 0) and then
    one per block of ``block_size`` from ``origin`` on. ``origin`` is the prompt length (``prompt``
    layout) or 0 (``aligned``: SDAR/TraDo's block-causal mask from position 0)."""
    if not block:
        return [(0, n)]
    prefix = [(0, min(origin, n))] if origin > 0 else []
    return prefix + [(lo, min(lo + block_size, n)) for lo in range(origin, n, block_size)]
