"""The decode loops on a fake denoiser: static and threshold are step functions of one loop,
FreeDave's draft/verify reproduce them, and the depth policy is an object passed in."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from freedave.decoding import (
    AutoDepth,
    DecodeConfig,
    FreeDave,
    FreeDaveThreshold,
    Sampling,
    Static,
    Threshold,
    decode,
    decode_static,
    decode_steps,
)
from freedave.decoding.common import new_canvases
from freedave.decoding.freedave import accept, draft
from freedave.decoding.steps import Scorer, static_step, threshold_step
from helpers import FakeDenoiser, tiny_denoiser

PROMPTS = [[5, 6, 7], [8, 9], [10, 4, 11, 12], [13]]
CFG = DecodeConfig(max_new_tokens=24, block_size=8)


class CountingPolicy:
    """A fixed depth that records every pick and observation (any object with the two methods)."""

    def __init__(self, depth: int) -> None:
        self.depth, self.log = depth, []

    def pick(self, prompts: int) -> int:
        self.log.append(("pick", prompts))
        return self.depth

    def observe(self, rows, seconds, accepted, drafted) -> None:  # noqa: ANN001
        self.log.append(("observe", rows, tuple(accepted), tuple(drafted)))


def tokens(results) -> list[list[int]]:  # noqa: ANN001
    return [r.token_ids for r in results]


@pytest.mark.parametrize("sampling", [Sampling(), Sampling(temperature=0.8, top_k=5, seed=7)])
def test_static_is_the_loop_with_the_static_step(sampling: Sampling) -> None:
    cfg = DecodeConfig(max_new_tokens=24, block_size=8, sampling=sampling)
    canvases = decode_steps(FakeDenoiser(), PROMPTS, cfg, static_step)
    static = decode(FakeDenoiser(), PROMPTS, cfg, Static())
    assert [c.layout.response(c.x) for c in canvases] == tokens(static)
    assert all(r.accepted == (1,) * r.steps for r in static)
    assert any(len(r.token_ids) > 4 for r in static)


def test_nfe_counts_the_forwards_each_prompt_took_part_in() -> None:
    den = FakeDenoiser()
    (r,) = decode(den, PROMPTS[:1], CFG, Static())
    assert r.nfe == den.calls == r.steps


@pytest.mark.parametrize("depth", [1, 2, 4, 8, "auto"])
@pytest.mark.parametrize("cross_blocks", [True, False])
def test_freedave_gives_the_static_tokens_in_fewer_forwards(depth, cross_blocks: bool) -> None:  # noqa: ANN001
    static = decode(FakeDenoiser(), PROMPTS, CFG, Static())
    fd = decode(FakeDenoiser(), PROMPTS, CFG, FreeDave(depth, cross_blocks))
    assert tokens(fd) == tokens(static)
    assert [r.steps for r in fd] == [r.steps for r in static]
    if depth != 1:
        assert sum(r.nfe for r in fd) < sum(r.nfe for r in static)
        assert any(k < (4 if depth == "auto" else depth) for r in fd for k in r.accepted)  # some rejected


@pytest.mark.parametrize("tau", [0.3, 0.6, 0.9])
def test_freedave_threshold_gives_the_threshold_tokens(tau: float) -> None:
    base = decode(FakeDenoiser(), PROMPTS, CFG, Threshold(tau))
    loop = decode_steps(FakeDenoiser(), PROMPTS, CFG, partial(threshold_step, tau=tau))
    fd = decode(FakeDenoiser(), PROMPTS, CFG, FreeDaveThreshold(4, tau))
    assert tokens(fd) == tokens(base) == [c.layout.response(c.x) for c in loop]


def test_the_depth_policy_is_passed_in_and_never_stored_on_the_model() -> None:
    den = FakeDenoiser()
    before = set(vars(den))
    policy = CountingPolicy(3)
    out = decode(den, PROMPTS, CFG, FreeDave("auto"), policy=policy)
    assert set(vars(den)) == before
    picks = [e for e in policy.log if e[0] == "pick"]
    observed = [e for e in policy.log if e[0] == "observe"]
    assert picks and picks[0] == ("pick", len(PROMPTS))
    assert all(max(e[3]) <= 3 for e in observed)  # the policy's depth, not the strategy's "auto"
    assert tokens(out) == tokens(decode(FakeDenoiser(), PROMPTS, CFG, Static()))


def test_an_auto_policy_learns_across_calls() -> None:
    policy = AutoDepth()
    decode(FakeDenoiser(), PROMPTS, CFG, FreeDave("auto"), policy=policy)
    seen = len(policy.cost)
    decode(FakeDenoiser(), PROMPTS, CFG, FreeDave("auto"), policy=policy)
    assert seen > 0 and len(policy.cost) > seen


def test_draft_k_is_k_static_steps_and_verify_accepts_the_true_chain() -> None:
    den = FakeDenoiser(mix=0.0)  # logits ignore the tokens: every draft is what static would take
    (c,) = new_canvases(den, PROMPTS[:1], CFG)
    (logits,) = den.logits([_query(c)])
    scorer = Scorer(logits[0], c.layout.prompt_len, CFG.sampling, c.stream, den.mask_id)
    drafts = draft(c, scorer, static_step, 5)
    assert [int((d != c.x).sum()) for d in drafts.states] == [1, 2, 3, 4, 5]
    y = c.x
    for k, d in enumerate(drafts.states):
        y = static_step(y, c.layout, scorer, c.steps + k)
        assert torch.equal(y, d)
    scorers = [Scorer(logits[0], c.layout.prompt_len, CFG.sampling, c.stream, den.mask_id)] * 5
    assert accept(c, drafts, scorers, static_step) == (4, 5)


def test_a_traced_static_run_records_every_decision_it_took() -> None:
    (plain,) = decode_static(FakeDenoiser(), PROMPTS[:1], CFG)
    (r,) = decode_static(FakeDenoiser(), PROMPTS[:1], CFG, trace=True)
    assert r.token_ids == plain.token_ids and r.reach is not None and r.decisions is not None
    positions = [p for p, _ in r.decisions]
    assert len(positions) == len(set(positions)) == r.steps
    replay = dict(r.decisions)
    assert [replay[p] for p in range(len(r.token_ids))] == r.token_ids


def _query(c):  # noqa: ANN001, ANN202
    from freedave.decoding.protocol import Query

    start = c.layout.active_start(c.x)
    return Query(c.x.unsqueeze(0), c.layout.prompt_len, c.layout.block_size, start, c.layout.window_end(c.x, True))


@pytest.mark.parametrize("family", ["full", "shifted", "block"])
def test_next_block_window_asked_where_it_is_free(family):
    """A full-attention or shifted model computes the whole canvas in every forward, so FreeDave asks
    for the next block's logits on every call there (longer drafts at no cost); a block-causal model
    only where its rule expects them to pay."""
    den = tiny_denoiser(family, seed=3)
    windows: list[tuple[int, int]] = []  # (window start in the response, width)
    inner = den.logits

    def spy(queries):  # noqa: ANN001, ANN202
        windows.extend((q.start - q.prompt_len, q.end - q.start) for q in queries)
        return inner(queries)

    den.logits = spy
    cfg = DecodeConfig(max_new_tokens=24, block_size=8)
    prompts = [[5, 6, 7], [8, 9, 10, 11]]
    fast = decode(den, prompts, cfg, FreeDave(4))
    seen = list(windows)
    assert [r.token_ids for r in fast] == [r.token_ids for r in decode_static(den, prompts, cfg)]
    windows = seen
    # the window holds the next block too, where there is one (a row further on may widen it more)
    wide = [w >= min(16, 24 - start) for start, w in windows]
    if family == "block":  # the rule declines somewhere (every all-mask first forward) and asks somewhere
        assert not all(wide) and any(w for (start, _), w in zip(windows, wide, strict=True) if start < 16)
    else:
        assert all(wide)
