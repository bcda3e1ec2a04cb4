"""Threshold parallel decoding (Fast-dLLM style baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from freedave.decoding.common import DecodeHooks, Result, advance, call_model, new_canvases
from freedave.decoding.config import DecodeConfig, Threshold
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
    canvases = new_canvases(denoiser, prompts, cfg, device, first_index, seeds)
    for c in canvases:
        if c.layout.is_terminal(c.x):
            c.finish()
    active = [c for c in canvases if not c.done]
    while active:
        # 1. one forward per unfinished prompt, batched
        scorers = call_model(denoiser, [(c, [c.x], False) for c in active], cfg)
        for c, (scorer,) in zip(active, scorers, strict=True):
            # 2. unmask all confident positions of the active block
            before = c.n_masked
            c.x = threshold_step(c.x, c.layout, scorer, c.steps, strategy.threshold)
            c.steps += 1
            c.accepted.append(before - c.n_masked)
            if c.layout.is_terminal(c.x):
                c.finish()
        active = advance(active, hooks)
    return [c.result(strategy.name, threshold=strategy.threshold) for c in canvases]
