"""Static decoding (paper Algorithm 1): one token per forward, the most confident one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from freedave.decoding.common import Canvas, DecodeHooks, Result
from freedave.decoding.config import DecodeConfig, Static
from freedave.decoding.loop import decode_steps
from freedave.decoding.optimal import draft_decisions, reach_from_trace
from freedave.decoding.protocol import Denoiser
from freedave.decoding.steps import Scorer, static_step


class Trace:
    """Per prompt and state n: the decisions drafted from f(x_n), and the one static took; with
    ``refresh_pass`` (an approximate cache) also the states that are a block's first state."""

    def __init__(self, refresh_pass: bool = False) -> None:
        self.drafted: dict[int, list[list[tuple[int, int]]]] = {}
        self.taken: dict[int, list[tuple[int, int]]] = {}
        self.refresh: dict[int, list[int]] | None = {} if refresh_pass else None

    def __call__(self, c: Canvas, scorer: Scorer, nxt: Tensor) -> None:
        self.drafted.setdefault(c.index, []).append(draft_decisions(c.x, c.layout, scorer, c.steps))
        if self.refresh is not None:
            start = c.layout.active_start(c.x)
            if start is not None and bool((c.x[start:] == c.layout.mask_id).all()):
                self.refresh.setdefault(c.index, []).append(c.steps)
        pos = int((nxt != c.x).nonzero()[0, 0])
        self.taken.setdefault(c.index, []).append((pos, int(nxt[pos])))

    def extra(self, c: Canvas) -> dict[str, Any]:
        """The traced fields of ``c``'s Result: reach r(n) and the decisions, response-relative."""
        taken = self.taken.get(c.index, [])
        reach = reach_from_trace(self.drafted.get(c.index, []), [p for p, _ in taken], c.x)
        decisions = tuple((p - c.layout.prompt_len, t) for p, t in taken)
        refresh = None if self.refresh is None else tuple(self.refresh.get(c.index, []))
        return {"reach": reach, "decisions": decisions, "refresh_states": refresh}


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
    and the decisions taken (it asks for one block of lookahead logits per forward, which the
    tokens never depend on); under an approximate cache also the states whose forward is a
    refresh (``Result.refresh_states``, for the bound's pass count)."""
    tracer = Trace(bool(getattr(denoiser, "refresh_pass", False))) if trace else None
    canvases = decode_steps(denoiser, prompts, cfg, static_step, lookahead=trace, observe=tracer,
                            device=device, first_index=first_index, seeds=seeds, hooks=hooks)
    return [c.result(strategy.name, **(tracer.extra(c) if tracer else {})) for c in canvases]
