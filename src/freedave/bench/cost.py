"""What the forwards alone predict: a cost curve timed in the run, and the speed-up it implies.

A FreeDave setting makes fewer forwards than static decoding, but wider ones (one row per draft).
If nothing but the forwards took time, its speed-up over static would be

    predicted_speedup = (Σ_static cost(rows_f) / static valid tokens) / (Σ_setting cost(rows_f) / its valid tokens)

where each sum runs over the forwards a run made and ``cost(r)`` is the median wall time of one plain
forward of ``r`` rows over one block (cached prefix), timed in the same process between and after
the decodes (``CurveProbe``; ``measure_curve`` times it in one go). A forward that also computes a
finished block for the prefix cache (the first forward of a prompt, and the first forward after a
block is done unless a verification already computed that block: ``KVCache.catch_up``) is priced by
the curve timed with that block to compute. With one prompt per batch this is the familiar
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
    """The forwards one setting made: rows per call, whether the call also computed positions before
    its window (a finished block or the prompt, for the prefix cache), the seconds inside the model."""

    rows: list[int] = field(default_factory=list)
    fresh: list[bool] = field(default_factory=list)
    seconds: float = 0.0

    def shapes(self) -> list[tuple[int, bool]]:
        return list(zip(self.rows, self.fresh, strict=True))


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
        if self.into is None or not queries:
            return self._den.logits(queries)
        # read before the call (the call extends the cache), once a cache has taken any finished block
        # an earlier call computed (so a block the forward does not compute is not priced as computed)
        for q in queries:
            catch_up = getattr(q.cache, "catch_up", None)
            if catch_up is not None and q.cache.length < q.start:
                catch_up(q.tokens[0], q.start)
        fresh = any(getattr(q.cache, "length", q.start) < q.start for q in queries)
        t0 = time.perf_counter()
        out = self._den.logits(queries)
        if self._timed:
            self.into.seconds += time.perf_counter() - t0
        self.into.rows.append(sum(q.tokens.shape[0] for q in queries))
        self.into.fresh.append(fresh)
        return out


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


class _Canvas:
    """The canvas every curve forward runs on: ``prompt`` + ``gen_length`` positions, the blocks
    before the window finished (cached when the denoiser keeps a cache). ``call(r, fresh)`` makes
    one forward of ``r`` rows over ``window_blocks`` blocks and returns its seconds; ``fresh``: the
    block just before the window is not cached yet, so the forward computes it too."""

    def __init__(self, den: Any, prompt: Sequence[int], block_size: int, gen_length: int,
                 window_blocks: int = 1, device: str = "cpu") -> None:
        p, bs = len(prompt), block_size
        self.den, self.p, self.bs, self.device = den, p, bs, device
        self.start = p + bs if gen_length >= 2 * bs else p  # a finished block before the window, when there is room
        self.end = min(p + gen_length, self.start + window_blocks * bs)
        x = torch.tensor(list(prompt) + [den.mask_id] * gen_length, dtype=torch.long)
        x[p : self.start] = int(prompt[0])  # any finished tokens: the cost does not depend on their values
        self.x = x.to(device)
        self.caches: dict[int, Any] = {}

    def call(self, r: int, fresh: bool) -> float:
        den = self.den
        if r not in self.caches:  # warm-up; it also fills the cache with everything before the window
            self.caches[r] = den.new_cache()
            den.logits([Query(self.x.repeat(r, 1), self.p, self.bs, self.start, self.end, self.caches[r])])
        if fresh:  # a cache that holds the prompt only (nothing when the window starts there)
            self.caches[r] = den.new_cache()
            if self.start > self.p:
                den.logits([Query(self.x.unsqueeze(0), self.p, self.bs, self.p, self.start, self.caches[r])])
        q = Query(self.x.repeat(r, 1), self.p, self.bs, self.start, self.end, self.caches[r])
        _sync(self.device)
        t0 = time.perf_counter()
        den.logits([q])
        _sync(self.device)
        seconds = time.perf_counter() - t0
        if fresh:  # the next plain call needs the finished block cached again
            del self.caches[r]
        return seconds


def measure_curve(
    den: Any, prompt: Sequence[int], block_size: int, gen_length: int, rows: Sequence[int], *,
    repeats: int = 20, window_blocks: int = 1, fresh: bool = False, passes: int = 5, device: str = "cpu",
) -> dict[int, float]:
    """Median seconds of one forward of ``r`` rows (each ``r`` in ``rows``) over ``window_blocks``
    blocks of a canvas of ``prompt`` + ``gen_length`` positions, the blocks before the window
    finished (cached when the denoiser keeps a cache; with ``fresh``, the block just before the
    window is not cached yet: the forward computes it too). Each row count is timed in bursts of
    back-to-back calls, as a decoder makes them (a call right after a wider one runs slower, its
    caches cold); ``passes`` rounds of bursts over all row counts spread a slow spell of a shared
    machine over all of them. The median of ``repeats`` timed calls per row count."""
    canvas = _Canvas(den, prompt, block_size, gen_length, window_blocks, device)
    times: dict[int, list[float]] = {r: [] for r in rows}
    burst = max(1, repeats // passes)
    for _ in range(passes):
        for r in rows:
            for i in range(burst + 1):  # the first call of a burst is untimed: other shapes ran before it
                t = canvas.call(r, fresh)
                if i:
                    times[r].append(t)
    return {r: statistics.median(t) for r, t in times.items()}


Curve = dict[tuple[int, bool], float]
"""Seconds of one forward by ``(rows, fresh)``: ``fresh`` forwards also compute a finished block."""


def measure_curves(den: Any, prompt: Sequence[int], block_size: int, gen_length: int,
                   keys: Sequence[tuple[int, bool]], repeats: int = 15, device: str = "cpu") -> Curve:
    """``measure_curve`` at every ``(rows, fresh)`` in ``keys``: the plain and the fresh curve."""
    out: Curve = {}
    for fresh in (False, True):
        rows = sorted({r for r, f in keys if f == fresh})
        if rows:
            times = measure_curve(den, prompt, block_size, gen_length, rows, repeats=repeats, fresh=fresh, device=device)
            out.update({(r, fresh): t for r, t in times.items()})
    return out


class CurveProbe:
    """The cost curve timed a little at a time *between* a run's decodes, so that a slow spell of a
    shared machine weighs on the curve as it weighs on the decodes the curve prices.

    ``probe(keys)`` (called between batches of the interleaved schedule) times one burst of every
    ``(rows, fresh)`` key seen so far: ``WARM`` untimed calls, then a timed one. A decoder makes its
    calls of one shape back to back; a one-row call right after a wide one runs ~9% slower than after
    three calls of its own shape (wider shapes ~3%: measured on the 2-core CPU), so a burst with a
    single untimed call would overprice the narrow shapes static decoding uses. ``curve(keys,
    repeats)`` is the median per key, each key topped up to ``repeats`` samples at the end.
    """

    WARM = 3

    def __init__(self, den: Any, prompt: Sequence[int], block_size: int, gen_length: int, device: str = "cpu") -> None:
        self.canvas = _Canvas(den, prompt, block_size, gen_length, 1, device)
        self.samples: dict[tuple[int, bool], list[float]] = {}

    def probe(self, keys: Sequence[tuple[int, bool]]) -> None:
        for r, fresh in sorted(set(keys)):
            for _ in range(self.WARM):
                self.canvas.call(r, fresh)
            self.samples.setdefault((r, fresh), []).append(self.canvas.call(r, fresh))

    def curve(self, keys: Sequence[tuple[int, bool]], repeats: int) -> Curve:
        for key in sorted(set(keys)):
            while len(self.samples.get(key, [])) < repeats:
                self.probe([key])
        return {k: statistics.median(self.samples[k]) for k in sorted(set(keys))}


def predicted_seconds(forwards: Forwards, curve: Curve) -> float:
    """Σ cost(forward): the time the forwards alone would take."""
    return sum(curve[k] for k in forwards.shapes())


def predicted_speedup(static: Forwards, static_valid: int, run: Forwards, valid: int, curve: Curve) -> float | None:
    """(static predicted seconds per token) / (this run's predicted seconds per token)."""
    if not (static.rows and run.rows and static_valid and valid):
        return None
    per_token_static = predicted_seconds(static, curve) / static_valid
    return per_token_static / (predicted_seconds(run, curve) / valid)
