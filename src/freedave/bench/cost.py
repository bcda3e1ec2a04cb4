"""What the forwards alone predict: a cost curve timed in the run, and the speed-up it implies.

A FreeDave setting makes fewer forwards than static decoding, but wider ones (one row per draft).
If nothing but the forwards took time, its speed-up over static would be

    predicted_speedup = (Σ_static cost(rows_f) / static valid tokens) / (Σ_setting cost(rows_f) / its valid tokens)

where each sum runs over the forwards a run made and ``cost(r)`` is the median wall time of one plain
forward of ``r`` rows over one block (cached prefix), timed in the same process right after the
decodes (``measure_curve``). With one prompt per batch this is the familiar
``(cost(1) / static tokens-per-NFE) / (mean cost(rows) / tokens-per-NFE)``. ``efficiency`` = measured
speed-up / predicted: what is lost outside the model's plain forward (scoring, drafting, verifying,
accepting, and forward work beyond one block per row, such as next-block lookahead windows).

``ForwardLog`` wraps a denoiser and records the rows (and, on CPU, the wall time) of every call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from freedave.decoding.protocol import Query


@dataclass
class Forwards:
    """The forwards one setting made: rows per call and the seconds spent inside the model."""

    rows: list[int] = field(default_factory=list)
    seconds: float = 0.0


class ForwardLog:
    """A denoiser that records what each ``logits`` call asked for into ``self.into``; everything
    else is the wrapped denoiser's. ``timed``: also sum the wall time of each call (CPU only: a GPU
    call returns before its kernels finish)."""

    def __init__(self, denoiser: Any, timed: bool = True) -> None:
        self._den = denoiser
        self._timed = timed
        self.into: Forwards | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._den, name)

    def logits(self, queries: Sequence[Query]) -> list[torch.Tensor]:
        t0 = time.perf_counter()
        out = self._den.logits(queries)
        if self.into is not None and queries:
            if self._timed:
                self.into.seconds += time.perf_counter() - t0
            self.into.rows.append(sum(q.tokens.shape[0] for q in queries))
        return out


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def measure_curve(
    den: Any, prompt: Sequence[int], block_size: int, gen_length: int, rows: Sequence[int], *,
    repeats: int = 15, window_blocks: int = 1, device: str = "cpu",
) -> dict[int, float]:
    """Median seconds of one forward of ``r`` rows (each ``r`` in ``rows``) over ``window_blocks``
    blocks of a canvas of ``prompt`` + ``gen_length`` positions, the blocks before the window
    finished (cached when the denoiser keeps a cache). Row counts are timed round-robin, so a slow
    spell of a shared machine falls on all of them alike."""
    p, bs = len(prompt), block_size
    start = p + bs if gen_length >= 2 * bs else p  # a finished block before the window, when there is room
    end = min(p + gen_length, start + window_blocks * bs)
    x = torch.tensor(list(prompt) + [den.mask_id] * gen_length, dtype=torch.long)
    x[p:start] = int(prompt[0])  # any finished tokens: the cost does not depend on their values
    x = x.to(device)
    caches = {r: den.new_cache() for r in rows}
    for r in rows:  # warm-up; it also fills each cache with everything before the window
        den.logits([Query(x.repeat(r, 1), p, bs, start, end, caches[r])])
    times: dict[int, list[float]] = {r: [] for r in rows}
    for _ in range(repeats):
        for r in rows:
            q = Query(x.repeat(r, 1), p, bs, start, end, caches[r])
            _sync(device)
            t0 = time.perf_counter()
            den.logits([q])
            _sync(device)
            times[r].append(time.perf_counter() - t0)
    return {r: statistics.median(t) for r, t in times.items()}


def predicted_seconds(rows: Sequence[int], curve: dict[int, float]) -> float:
    """Σ cost(rows_f): the time the forwards alone would take."""
    return sum(curve[r] for r in rows)


def predicted_speedup(static: Forwards, static_valid: int, run: Forwards, valid: int,
                      curve: dict[int, float]) -> float | None:
    """(static predicted seconds per token) / (this run's predicted seconds per token)."""
    if not (static.rows and run.rows and static_valid and valid):
        return None
    per_token_static = predicted_seconds(static.rows, curve) / static_valid
    return per_token_static / (predicted_seconds(run.rows, curve) / valid)
