"""FreeDave (paper Algorithm 2): draft several static futures from one forward, verify them all in
the next batched forward, keep the longest verified chain. Output is identical to the base decoder
(static, or threshold for ``FreeDaveThreshold``) whenever the forward is batch-invariant.

``decode_freedave`` is the loop; ``draft``, ``verify`` and ``accept`` are its three moves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor

from freedave.decoding.autodepth import AutoDepth, DepthPolicy, FixedDepth
from freedave.decoding.common import (
    Canvas,
    DecodeHooks,
    Result,
    advance,
    call_model,
    commit,
    new_canvases,
)
from freedave.decoding.config import DecodeConfig, FreeDave, FreeDaveThreshold
from freedave.decoding.loop import StepFn
from freedave.decoding.protocol import Denoiser
from freedave.decoding.steps import (
    Scorer,
    accept_prefix,
    greedy_static_drafts,
    static_accept,
    static_step,
    threshold_step,
)


def decode_freedave(
    denoiser: Denoiser,
    prompts: Sequence[Sequence[int]],
    cfg: DecodeConfig,
    strategy: FreeDave | FreeDaveThreshold = FreeDave(),
    *,
    policy: DepthPolicy | None = None,
    device: Any = "cpu",
    first_index: int = 0,
    seeds: Sequence[int] | None = None,
    hooks: DecodeHooks | None = None,
) -> list[Result]:
    """Decode with FreeDave. ``policy`` picks the draft depth of each round (default: the
    strategy's fixed depth, or a fresh ``AutoDepth`` for ``"auto"``; pass one to keep what it
    learns across calls)."""
    step, policy = base_step(strategy), policy or default_policy(strategy)
    canvases = new_canvases(denoiser, prompts, cfg, device, first_index, seeds, strategy.cross_blocks)
    active = [c for c in canvases if not c.done]
    # 1. the first forward: the distribution of every prompt's all-mask start state
    current = forward(denoiser, active, cfg)
    while active:
        t0 = time.perf_counter()  # the policy learns what a whole round costs, not just its forward
        # 1b. a distribution that misses its active block (no look past the edge): a plain forward
        current.update(forward(denoiser, [c for c in active if not _covers(current[c.index], c)], cfg))
        # 2. draft: up to d base steps from each prompt's current distribution
        depth = policy.pick(len(active))
        drafts = {c.index: draft(c, current[c.index], step, depth) for c in active}
        # 3. verify: one batched forward over every draft that is not already a finished state
        verified, rows = verify(denoiser, active, drafts, cfg, depth)
        chains: dict[int, int] = {}
        for c in active:
            # 4. accept the longest chain where draft k+1 == one base step from draft k
            j = chains[c.index] = accept(c, drafts[c.index], verified.get(c.index, []), step)
            commit(c, drafts[c.index][j - 1], j)
            if not c.done:  # 5. jump: the accepted draft's distribution gives the next drafts
                current[c.index] = verified[c.index][j - 1]
        if verified:
            policy.observe(rows, time.perf_counter() - t0, [chains[i] for i in verified], [len(drafts[i]) for i in verified])
        active = advance(active, hooks)
    return results(canvases, strategy)


def results(canvases: Sequence[Canvas], strategy: FreeDave | FreeDaveThreshold) -> list[Result]:
    thr = getattr(strategy, "threshold", None)
    return [c.result(strategy.name, draft_depth=strategy.draft_depth, threshold=thr) for c in canvases]


def base_step(strategy: FreeDave | FreeDaveThreshold) -> StepFn:
    """The base decoder FreeDave reproduces: static, or threshold for ``FreeDaveThreshold``."""
    if isinstance(strategy, FreeDaveThreshold):
        return partial(threshold_step, tau=strategy.threshold)
    return static_step


def default_policy(strategy: FreeDave | FreeDaveThreshold) -> DepthPolicy:
    return AutoDepth() if strategy.draft_depth == "auto" else FixedDepth(int(strategy.draft_depth))


def forward(denoiser: Denoiser, canvases: Sequence[Canvas], cfg: DecodeConfig) -> dict[int, Scorer]:
    """One batched plain forward at each canvas's state; none for no canvas. It asks for the next
    block's logits only where the active block is partly decoded: drafts from an all-mask block
    (every first forward) reach its edge only when they are as many as its size, and the wider
    window costs about a fifth of a forward."""
    if not canvases:
        return {}
    jobs = [(c, [c.x], _window_free(denoiser) or not _all_masked(c)) for c in canvases]
    return {c.index: s for c, (s,) in zip(canvases, call_model(denoiser, jobs, cfg), strict=True)}


def draft(c: Canvas, scorer: Scorer, step: StepFn, depth: int) -> list[Tensor]:
    """Draft k = the state after k base steps taken from one distribution (k = 1 .. depth).

    Drafts reach the active block and the next one (left-to-right priority); drafting stops at a
    finished state or where the next step's block lies beyond that.
    """
    scorer = scorer.limited(c.layout.window_end(c.x, lookahead=True))
    if step is static_step and scorer.sampling.greedy:  # all drafts from one ordering of the block
        return greedy_static_drafts(c.x, c.layout, scorer, depth)
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


def verify(
    denoiser: Denoiser, active: Sequence[Canvas], drafts: dict[int, list[Tensor]], cfg: DecodeConfig, depth: int
) -> tuple[dict[int, list[Scorer]], int]:
    """One batched forward over every unfinished draft: per prompt (that has one) the scorers of
    its drafts, and the rows verified."""
    rows = {c.index: _unfinished(drafts[c.index], c) for c in active}
    # lookahead logits (the next block) only where the draft likely to be accepted could reach
    # the block edge within a likely chain next round (a wrong guess only shortens next drafts)
    free = _window_free(denoiser)
    jobs = [(c, rows[c.index], free or _lookahead(rows[c.index], c, depth)) for c in active if rows[c.index]]
    if not jobs:
        return {}, 0
    verified = dict(zip([c.index for c, _, _ in jobs], call_model(denoiser, jobs, cfg), strict=True))
    return verified, sum(len(r) for _, r, _ in jobs)


def accept(c: Canvas, drafts: list[Tensor], scorers: list[Scorer], step: StepFn) -> int:
    """Length of the verified chain: target k is one base step from draft k's own distribution;
    keep drafts while draft k+1 == target k."""
    if step is static_step:  # compare token lists, no state tensors built
        return static_accept(drafts, scorers, c.layout, c.steps + 1)
    targets = []
    for k in range(min(len(scorers), len(drafts) - 1)):
        targets.append(step(drafts[k], c.layout, scorers[k], c.steps + k + 1))
        if targets[-1] is None or not torch.equal(targets[-1], drafts[k + 1]):
            break
    return accept_prefix(drafts, [t for t in targets if t is not None])


def _unfinished(drafts: list[Tensor], c: Canvas) -> list[Tensor]:
    """The drafts that are not a finished state: all but the last when it is one (drafting stops
    at the first finished state, so no other can be)."""
    return drafts[:-1] if drafts and c.layout.is_terminal(drafts[-1]) else drafts


def _expected_chain(c: Canvas, recent: int = 4) -> int:
    """A guess at how many drafts the next verification accepts: one more than the recent mean."""
    if not c.accepted:
        return 1 << 30  # no history: assume every draft is accepted
    last = c.accepted[-recent:]
    return -(-sum(last) // len(last)) + 1


def _window_free(denoiser: Denoiser) -> bool:
    """Whether a wider window costs nothing: a full-attention or shifted model computes the whole
    canvas in every forward, so the next block's logits come with it (block-causal models stop
    at the window's end)."""
    return getattr(denoiser, "family", "block") != "block"


def _lookahead(rows: list[Tensor], c: Canvas, depth: int) -> bool:
    """Ask for next-block logits? Only when every row is likely to be accepted (one of the first
    ``expect``) and its next drafts, a likely chain long, could reach past its active block.

    All rows or none: rows of one call that need different windows run as one forward per window,
    which costs more than the few chains a lookahead lengthens (benchmarks/README.md, speed).
    """
    expect = _expected_chain(c)
    if len(rows) > expect:
        return False
    reach = min(depth, expect)
    for y in rows:
        vals = y.tolist()
        start = c.layout.active_start(vals)
        if start is None or vals[start : start + c.layout.block_size].count(c.layout.mask_id) >= reach:
            return False
    return True


def _all_masked(c: Canvas) -> bool:
    """Whether the canvas's active block is still all masks."""
    vals = c.x.tolist()
    start = c.layout.active_start(vals)
    block = vals[start : start + c.layout.block_size] if start is not None else []
    return all(t == c.layout.mask_id for t in block)


def _covers(scorer: Scorer, c: Canvas) -> bool:
    start = c.layout.active_start(c.x)
    return start is not None and scorer.start <= start and min(start + c.layout.block_size, c.x.shape[0]) <= scorer.end
