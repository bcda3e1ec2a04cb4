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
from freedave.decoding.drafts import Drafts, greedy_static_tree, tree_accept
from freedave.decoding.loop import StepFn
from freedave.decoding.protocol import Denoiser
from freedave.decoding.steps import Scorer, accept_prefix, static_step, threshold_step


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
    step, policy, branches = base_step(strategy), policy or default_policy(strategy), getattr(strategy, "draft_branches", 0)
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
        drafts = {c.index: draft(c, current[c.index], step, depth, branches) for c in active}
        # 3. verify: one batched forward over every draft that is not already a finished state
        verified, rows = verify(denoiser, active, drafts, cfg, depth)
        chains: dict[int, tuple[int, int]] = {}
        for c in active:
            # 4. accept the farthest verified draft: each kept draft is one base step from the one before
            row, n = chains[c.index] = accept(c, drafts[c.index], verified.get(c.index, []), step)
            commit(c, drafts[c.index].states[row], n)
            if not c.done:  # 5. jump: the accepted draft's distribution gives the next drafts
                current[c.index] = verified[c.index][row]
        if verified:
            policy.observe(rows, time.perf_counter() - t0, [chains[i][1] for i in verified], [drafts[i].chain for i in verified])
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


def draft(c: Canvas, scorer: Scorer, step: StepFn, depth: int, branches: int = 0) -> Drafts:
    """Draft k = the state after k base steps taken from one distribution (k = 1 .. depth), and,
    for greedy static steps, ``branches`` runner-up rows (``decoding.drafts``).

    Drafts reach the active block and the next one (left-to-right priority); drafting stops at a
    finished state or where the next step's block lies beyond that.
    """
    scorer = scorer.limited(c.layout.window_end(c.x, lookahead=True))
    if step is static_step and scorer.sampling.greedy:  # all drafts from one ordering of the block
        return greedy_static_tree(c.x, c.layout, scorer, depth, branches)
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
    return Drafts(drafts, len(drafts))


def verify(
    denoiser: Denoiser, active: Sequence[Canvas], drafts: dict[int, Drafts], cfg: DecodeConfig, depth: int
) -> tuple[dict[int, list[Scorer | None]], int]:
    """One batched forward over every unfinished draft: per prompt (that has one) the scorers of
    its drafts, aligned with ``Drafts.states`` (None for a finished state), and the rows verified."""
    chain = {c.index: _unfinished(drafts[c.index], c) for c in active}
    rows = {c.index: chain[c.index] + drafts[c.index].states[drafts[c.index].chain :] for c in active}
    # lookahead logits (the next block) only where the draft likely to be accepted could reach
    # the block edge within a likely chain next round (a wrong guess only shortens next drafts)
    free = _window_free(denoiser)
    jobs = [(c, rows[c.index], free or _lookahead(chain[c.index], c, depth)) for c in active if rows[c.index]]
    if not jobs:
        return {}, 0
    verified: dict[int, list[Scorer | None]] = {}
    for (c, _, _), scorers in zip(jobs, call_model(denoiser, jobs, cfg), strict=True):
        n = len(chain[c.index])
        gap: list[Scorer | None] = [None] * (drafts[c.index].chain - n)  # the finished last chain state
        verified[c.index] = [*scorers[:n], *gap, *scorers[n:]]
    return verified, sum(len(r) for _, r, _ in jobs)


def accept(c: Canvas, drafts: Drafts, scorers: list[Scorer | None], step: StepFn) -> tuple[int, int]:
    """``(index in drafts.states, base steps)`` of the farthest verified draft. Chain: target k is
    one base step from draft k's own distribution; keep drafts while draft k+1 == target k.
    Greedy static drafts (chain or tree) are walked on token lists (``drafts.tree_accept``)."""
    if drafts.picks is not None:
        return tree_accept(drafts, scorers, c.layout, c.steps + 1)
    states, targets = drafts.states, []
    for k in range(min(len(scorers), len(states) - 1)):
        sc = scorers[k]
        targets.append(None if sc is None else step(states[k], c.layout, sc, c.steps + k + 1))
        if targets[-1] is None or not torch.equal(targets[-1], states[k + 1]):
            break
    j = accept_prefix(states, [t for t in targets if t is not None])
    return j - 1, j


def _unfinished(drafts: Drafts, c: Canvas) -> list[Tensor]:
    """The chain drafts that are not a finished state: all but the last when it is one (drafting
    stops at the first finished state, so no other can be; branch rows never finish a block)."""
    chain = drafts.states[: drafts.chain]
    return chain[:-1] if chain and c.layout.is_terminal(chain[-1]) else chain


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
