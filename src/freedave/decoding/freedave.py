"""FreeDave (paper Algorithm 2): draft several static futures from one forward, verify them all in
the next batched forward, keep the longest verified chain. Output is identical to the base decoder
(static, or threshold for ``FreeDaveThreshold``) whenever the forward is batch-invariant.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import torch
from torch import Tensor

from freedave.decoding.autodepth import DepthChooser
from freedave.decoding.common import Canvas, DecodeHooks, Result, advance, call_model, new_canvases
from freedave.decoding.config import DecodeConfig, FreeDave, FreeDaveThreshold
from freedave.decoding.protocol import Denoiser
from freedave.decoding.steps import Layout, Scorer, accept_prefix, static_step, threshold_step

StepFn = Callable[[Tensor, Layout, Scorer, int], Tensor | None]


def make_drafts(c: Canvas, scorer: Scorer, step: StepFn, depth: int) -> list[Tensor]:
    """Draft k = the state after k base steps taken from one distribution (k = 1 .. depth).

    Drafts reach the active block and the next one (left-to-right priority); drafting stops at a
    finished state or where the next step's block lies beyond that.
    """
    scorer = scorer.limited(c.layout.window_end(c.x, lookahead=True))
    drafts: list[Tensor] = []
    y = c.x
    while len(drafts) < depth:
        nxt = step(y, c.layout, scorer, c.steps + len(drafts))
        if nxt is None:
            break
        drafts.append(nxt)
        if c.layout.is_terminal(nxt):
            break
        y = nxt
    return drafts


def decode_freedave(
    denoiser: Denoiser,
    prompts: Sequence[Sequence[int]],
    cfg: DecodeConfig,
    strategy: FreeDave | FreeDaveThreshold = FreeDave(),
    *,
    device: Any = "cpu",
    first_index: int = 0,
    seeds: Sequence[int] | None = None,
    hooks: DecodeHooks | None = None,
) -> list[Result]:
    if isinstance(strategy, FreeDaveThreshold):
        step: StepFn = partial(threshold_step, tau=strategy.threshold)
    else:
        step = static_step
    chooser = _chooser(denoiser) if strategy.draft_depth == "auto" else None
    depth = 0 if chooser else int(strategy.draft_depth)
    canvases = new_canvases(denoiser, prompts, cfg, device, first_index, seeds)
    if not strategy.cross_blocks:
        for c in canvases:
            c.layout = replace(c.layout, lookahead_blocks=0)
    for c in canvases:
        if c.layout.is_terminal(c.x):
            c.finish()
    active = [c for c in canvases if not c.done]
    # 1. the first forward: the distribution of every prompt's all-mask start state
    current: dict[int, Scorer] = {}
    if active:
        for c, (s,) in zip(active, call_model(denoiser, [(c, [c.x], True) for c in active], cfg), strict=True):
            current[c.index] = s
    while active:
        # 1b. a prompt whose distribution does not cover its active block (a denoiser that cannot
        #     look past the block edge) takes one plain forward at its state, as static would
        stale = [c for c in active if not _covers(current[c.index], c)]
        if stale:
            for c, (s,) in zip(stale, call_model(denoiser, [(c, [c.x], True) for c in stale], cfg), strict=True):
                current[c.index] = s
        # 2. draft: up to d base steps from each prompt's current distribution
        if chooser:
            depth = chooser.pick(len(active))
        drafts = {c.index: make_drafts(c, current[c.index], step, depth) for c in active}
        # 3. verify: one batched forward over every draft that is not already a finished state
        rows = {c.index: [y for y in drafts[c.index] if not c.layout.is_terminal(y)] for c in active}
        # lookahead logits (the next block) only where the draft likely to be accepted could reach
        # the block edge within a likely chain next round (a wrong guess only shortens next drafts)
        jobs = [(c, rows[c.index], _lookahead_rows(rows[c.index], c, depth)) for c in active if rows[c.index]]
        t0 = time.perf_counter()
        verified = dict(zip([c.index for c, _, _ in jobs], call_model(denoiser, jobs, cfg), strict=True))
        elapsed = time.perf_counter() - t0
        chains: list[int] = []
        for c in active:
            ds, scorers = drafts[c.index], verified.get(c.index, [])
            # 4. targets: one base step from each verified draft's own distribution;
            #    accept the longest chain where draft k+1 == target k
            targets = []
            for k in range(min(len(scorers), len(ds) - 1)):
                targets.append(step(ds[k], c.layout, scorers[k], c.steps + k + 1))
                if targets[-1] is None or not _equal(targets[-1], ds[k + 1]):
                    break
            j = accept_prefix(ds, [t for t in targets if t is not None])
            if c.index in verified:
                chains.append(j)
            before = c.n_masked
            c.x, c.steps = ds[j - 1], c.steps + j
            c.accepted.append(before - c.n_masked)
            if c.layout.is_terminal(c.x):
                c.finish()
            else:
                # 5. jump: reuse the accepted draft's distribution for the next drafts
                current[c.index] = scorers[j - 1]
        if chooser and jobs:
            chooser.observe(sum(len(r) for _, r, _ in jobs), elapsed, chains, [len(drafts[c.index]) for c, _, _ in jobs])
        active = advance(active, hooks)
    thr = strategy.threshold if isinstance(strategy, FreeDaveThreshold) else None
    return [c.result(strategy.name, draft_depth=strategy.draft_depth, threshold=thr) for c in canvases]


def _chooser(denoiser: Denoiser) -> DepthChooser:
    """One chooser per denoiser: the cost curve and acceptance it learns carry across calls."""
    chooser = getattr(denoiser, "_freedave_depth_chooser", None)
    if chooser is None:
        chooser = DepthChooser()
        with contextlib.suppress(AttributeError):  # a denoiser with __slots__ learns per call
            denoiser._freedave_depth_chooser = chooser  # type: ignore[attr-defined]
    return chooser


def _expected_chain(c: Canvas, recent: int = 4) -> int:
    """A guess at how many drafts the next verification accepts: one more than the recent mean."""
    if not c.accepted:
        return 1 << 30  # no history: assume every draft is accepted
    last = c.accepted[-recent:]
    return -(-sum(last) // len(last)) + 1


def _lookahead_rows(rows: list[Tensor], c: Canvas, depth: int) -> list[bool]:
    """Per row: ask for next-block logits? Only a row likely to be accepted (one of the first
    ``expect``) whose next drafts, a likely chain long, could reach past its active block."""
    expect = _expected_chain(c)
    reach = min(depth, expect)
    out = []
    for k, y in enumerate(rows):
        vals = y.tolist()
        start = c.layout.active_start(vals)
        near = start is not None and vals[start : start + c.layout.block_size].count(c.layout.mask_id) < reach
        out.append(k < expect and near)
    return out


def _covers(scorer: Scorer, c: Canvas) -> bool:
    start = c.layout.active_start(c.x)
    return start is not None and scorer.start <= start and min(start + c.layout.block_size, c.x.shape[0]) <= scorer.end


def _equal(a: Tensor, b: Tensor) -> bool:
    return torch.equal(a, b)
