"""Threshold parallel decoding (Fast-dLLM style baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from freedave.decoding.common import DecodeHooks, Result
from freedave.decoding.config import DecodeConfig, Threshold
from freedave.decoding.loop import decode_steps
from freedave.decoding.protocol import Denoiser
from freedave.decoding.steps import threshold_step


def decode_threshold(
    denoiser: Denoiser,
    prompts: Sequence[Sequence[int]],
    cfg: DecodeConfig,
    strategy: Threshold = Threshold(),
    *,
    device: Any = "cpu",
    first_index: int = 0,
    seeds: Sequence[int] | None = None,
    hooks: DecodeHooks | None = None,
) -> list[Result]:
    """Each forward unmasks every active-block position with confidence >= tau (at least one)."""
    step = partial(threshold_step, tau=strategy.threshold)
    canvases = decode_steps(denoiser, prompts, cfg, step, device=device, first_index=first_index,
                            seeds=seeds, hooks=hooks)
    return [c.result(strategy.name, threshold=strategy.threshold) for c in canvases]
