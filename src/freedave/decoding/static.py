"""Static decoding (paper Algorithm 1): one token per forward, the most confident one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from freedave.decoding.common import DecodeHooks, Result, advance, call_model, new_canvases
from freedave.decoding.config import DecodeConfig, Static
from freedave.decoding.optimal import draft_decisions, reach_from_trace
from freedave.decoding.protocol import Denoiser
from freedave.decoding.steps import static_step


def decode_static(
    denoiser: Denoiser,
    prompts: Sequence[Sequence[int]],
    cfg: DecodeConfig,
    strategy: Static = Static(),
    *,
    trace: bool = False,
    device: Any = "cpu",
    first_index: int = 0,
    seeds: Sequence[int] | None = None,
    hooks: DecodeHooks | None = None,
) -> list[Result]:
    """Decode every prompt with static steps. ``trace=True`` also records each state's reach r(n)
    (it asks for one block of lookahead logits per forward, which the tokens never depend on)."""
    canvases = new_canvases(denoiser, prompts, cfg, device, first_index, seeds)
    drafted: dict[int, list] = {c.index: [] for c in canvases}  # per state n: decisions drafted from f(x_n)
    taken: dict[int, list] = {c.index: [] for c in canvases}  # the decision static took at state n
    for c in canvases:
        if c.layout.is_terminal(c.x):
            c.finish()
    active = [c for c in canvases if not c.done]
    while active:
        # 1. one forward per unfinished prompt, all prompts batched into one call
        scorers = call_model(denoiser, [(c, [c.x], trace) for c in active], cfg)
        for c, (scorer,) in zip(active, scorers, strict=True):
            if trace:
                drafted[c.index].append(draft_decisions(c.x, c.layout, scorer, c.steps))
            # 2. unmask the most confident masked position of the active block
            nxt = static_step(c.x, c.layout, scorer, c.steps)
            if trace:
                taken[c.index].append(int((nxt != c.x).nonzero()[0, 0]))
            c.x, c.steps = nxt, c.steps + 1
            c.accepted.append(1)
            if c.layout.is_terminal(c.x):
                c.finish()
        active = advance(active, hooks)
    out = []
    for c in canvases:
        reach = reach_from_trace(drafted[c.index], taken[c.index], c.x) if trace else None
        out.append(c.result(strategy.name, reach=reach))
    return out
