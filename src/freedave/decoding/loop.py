"""The one loop of the one-step-per-forward decoders: static and threshold are step functions.

Each round makes one batched forward over every unfinished prompt, then takes one base step per
prompt from its distribution. FreeDave (``decoding.freedave``) runs the same steps, drafted from
one forward and verified by the next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor

from freedave.decoding.common import (
    Canvas,
    DecodeHooks,
    advance,
    call_model,
    commit,
    new_canvases,
)
from freedave.decoding.config import DecodeConfig
from freedave.decoding.protocol import Denoiser
from freedave.decoding.steps import Layout, Scorer

StepFn = Callable[[Tensor, Layout, Scorer, int], Tensor | None]
"""A base step ``step(y, layout, scorer, step_index) -> next state`` (None: the scorer's window
does not cover the active block)."""

Observer = Callable[[Canvas, Scorer, Tensor], None]
"""Called with ``(canvas, scorer, next_state)`` before each step is committed (a trace)."""


def decode_steps(
    denoiser: Denoiser,
    prompts: Sequence[Sequence[int]],
    cfg: DecodeConfig,
    step: StepFn,
    *,
    lookahead: bool = False,
    observe: Observer | None = None,
    hooks: DecodeHooks | None = None,
    **batch: Any,
) -> list[Canvas]:
    """Decode every prompt one base step per forward; the final canvases, in prompt order.

    ``lookahead`` asks each forward for the next block's logits too (a trace drafts from them;
    the steps never use them). ``batch`` (``device``, ``first_index``, ``seeds``) places the
    prompts as ``new_canvases`` does.
    """
    canvases = new_canvases(denoiser, prompts, cfg, **batch)
    active = [c for c in canvases if not c.done]
    while active:
        # 1. one forward per unfinished prompt, all prompts batched into one call
        scorers = call_model(denoiser, [(c, [c.x], lookahead) for c in active], cfg)
        for c, (scorer,) in zip(active, scorers, strict=True):
            # 2. one base step from the prompt's own distribution
            nxt = step(c.x, c.layout, scorer, c.steps)
            if observe is not None:
                observe(c, scorer, nxt)
            commit(c, nxt, 1)
        active = advance(active, hooks)
    return canvases
