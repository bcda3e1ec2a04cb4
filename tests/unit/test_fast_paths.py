"""The greedy static fast paths (one ordering for all drafts, acceptance on token lists, greedy
table at the needed rows only) equal the generic step loop they replace, bit for bit."""

import random

import pytest
import torch

from freedave.decoding.config import Sampling
from freedave.decoding.drafts import Drafts, Pick, greedy_static_tree, tree_accept
from freedave.decoding.steps import (
    SELECT_MIN,
    Layout,
    Scorer,
    accept_prefix,
    static_step,
)

MASK, EOS, V = 3, 2, 12


def generic_drafts(y, layout, scorer, depth):  # freedave.draft's step loop
    out = []
    while len(out) < depth:
        nxt = static_step(y, layout, scorer, len(out))
        if nxt is None:
            break
        out.append(nxt)
        if layout.is_terminal(nxt):
            break
        y = nxt
    return out


def random_case(rng, block_layout):
    prompt = rng.randint(1, 7)
    gen = rng.randint(4, 14)
    layout = Layout(prompt, 4, MASK, EOS, True, 1, block_layout)
    vals = [9] * prompt + [MASK] * gen
    # decode a random part of the active block (and, sometimes, whole earlier blocks)
    done = rng.randint(0, gen - 1)
    first = layout.active_start(vals)
    for i in range(prompt, prompt + done):
        vals[i] = rng.choice([5, 6, 7])
        if rng.random() < 0.1 and i >= first:
            break
    y = torch.tensor(vals)
    if layout.is_terminal(y):
        return None
    start = layout.active_start(y)
    width = layout.window_end(y, lookahead=True) - start
    # near-ties: few distinct logits, and values one float32 ulp apart
    base = torch.tensor([rng.choice([0.0, 1.0, 1.0 + 2**-23, 2.0]) for _ in range(width * V)]).view(width, V)
    if rng.random() < 0.5:
        base[:, EOS] += 3.0 * (torch.rand(width) < 0.3)  # EOS picks: finished states
    return y, layout, Scorer(base, start, Sampling(), 0, MASK)


@pytest.mark.parametrize("block_layout", ["prompt", "aligned"])
def test_greedy_static_drafts_equal_the_step_loop(block_layout):
    rng = random.Random(block_layout)
    seen_cross = seen_terminal = 0
    for _ in range(400):
        case = random_case(rng, block_layout)
        if case is None:
            continue
        y, layout, scorer = case
        for depth in (1, 3, 6, 12):
            lim = scorer.limited(layout.window_end(y, lookahead=True))
            tree = greedy_static_tree(y, layout, lim, depth)
            fast = tree.states
            slow = generic_drafts(y, layout, lim, depth)
            assert [d.tolist() for d in fast] == [d.tolist() for d in slow]
            if fast:
                seen_terminal += layout.is_terminal(fast[-1])
                seen_cross += layout.active_start(fast[-1]) not in (None, layout.active_start(y))
            # acceptance on token lists == the tensor steps and accept_prefix
            scorers = [scorer] * len(fast)
            targets = []
            for k in range(len(fast) - 1):
                t = static_step(fast[k], layout, scorer, k + 1)
                if t is None:
                    break
                targets.append(t)
            expect = accept_prefix(fast, targets)
            if fast:
                assert tree_accept(tree, scorers, layout, 1) == (expect - 1, expect)
    assert seen_cross > 20 and seen_terminal > 20  # the cases reach block edges and EOS


def test_tree_accept_stops_at_the_first_wrong_draft():
    layout = Layout(1, 4, MASK, EOS)
    y = torch.tensor([9, MASK, MASK, MASK, MASK])
    logits = torch.zeros(4, V)
    logits[:, 5] = torch.tensor([4.0, 3.0, 2.0, 1.0])  # static order: positions 1, 2, 3, 4
    sc = Scorer(logits, 1, Sampling(), 0, MASK)
    good = greedy_static_tree(y, layout, sc, 4)
    picks = list(good.picks)
    picks[2] = Pick(4, 6, 0.5, 1)  # draft 3 decided the wrong position (4 instead of 3)
    wrong = Drafts(good.states, 4, picks)
    assert tree_accept(wrong, [sc] * 4, layout, 1) == (1, 2)
    assert tree_accept(good, [sc] * 4, layout, 1) == (3, 4)


@pytest.mark.parametrize("rule", ["full", "renormalized"])
def test_greedy_table_at_needed_rows_equals_the_full_table(rule):
    gen = torch.Generator().manual_seed(0)
    vocab = SELECT_MIN // 4  # large enough that skipping a few rows selects
    logits = torch.randn(3, 8, vocab, generator=gen)
    need = torch.rand(3, 8, generator=gen) < 0.5
    s = Sampling(confidence=rule)
    full = Scorer.batch(logits, 5, s, 0, MASK)
    part = Scorer.batch(logits, 5, s, 0, MASK, need)
    for r in range(3):
        positions = list(range(5, 13))
        assert part[r]._greedy[0].count(-1) == int((~need[r]).sum())  # only the needed rows computed
        assert part[r].decide(positions, 0) == full[r].decide(positions, 0)  # the rest on first use


@pytest.mark.parametrize("block_layout", ["prompt", "aligned"])
@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_decodes_with_row_selection_equal_those_without(monkeypatch, block_layout, temperature):
    """Forcing the needed-row greedy table on every call (as a large vocabulary does) changes no
    decode: same ids, steps and chains for static and FreeDave, greedy and sampled."""
    from freedave.decoding import DecodeConfig, Static, common, decode, steps
    from freedave.decoding.config import FreeDave
    from helpers import FakeDenoiser

    prompts = [[5, 6, 7], [8, 9], [4, 10, 11, 12, 13]]
    cfg = DecodeConfig(max_new_tokens=20, block_size=4, block_layout=block_layout,
                       sampling=Sampling(temperature=temperature, seed=3))
    strategies = [Static(), FreeDave(3), FreeDave(8)]

    def run():
        return [[(r.token_ids, r.steps, r.accepted) for r in decode(FakeDenoiser(), prompts, cfg, s)] for s in strategies]

    plain = run()
    monkeypatch.setattr(common, "SELECT_MIN_VOCAB", 0)
    monkeypatch.setattr(steps, "SELECT_MIN", 0)
    assert run() == plain
    assert plain[0] == [(a, b, tuple([1] * b)) for a, b, _ in plain[1]]  # FreeDave == static ids and steps
