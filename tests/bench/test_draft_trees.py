"""``benchmarks/draft_trees.py``: the tree-reach arithmetic on hand-made traces, and the replayed
chain decoder agreeing with the real FreeDave decoder's NFE on the bundled model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trees():
    spec = importlib.util.spec_from_file_location("draft_trees", ROOT / "benchmarks" / "draft_trees.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["draft_trees"] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


A, B, C, D, E = (10, 1), (11, 2), (12, 3), (13, 4), (14, 5)


def test_runner_up_branch_turns_a_swap_into_a_longer_chain(trees):
    s = trees.State([A, B, C, D, E], [0.9, 0.5, 0.49, 0.3, 0.2])
    taken = [A, C, B, D, E]  # static took the runner-up C before B
    assert trees.tree_reach(s, taken, 0, 5, set()) == 1
    assert trees.tree_reach(s, taken, 0, 5, {2}) == 5  # B_2 = {A, C}, then the chain's {A, B, C}
    assert trees.tree_reach(s, taken, 0, 5, {3}) == 1  # a branch at the wrong rank does not help
    assert trees.tree_reach(s, taken, 0, 3, {2}) == 3  # never past the chain depth


def test_branch_ranks_pick_the_nearest_ties(trees):
    s = trees.State([A, B, C, D, E], [0.9, 0.5, 0.49, 0.3, 0.29])
    assert trees.branch_ranks(s, 5, 1) == {2}
    assert trees.branch_ranks(s, 5, 2) == {2, 4}
    assert trees.branch_ranks(s, 3, 4) == {2}  # only ranks whose runner-up is inside the depth


def test_simulated_chain_counts_forwards_like_the_decoder(trees):
    s = trees.State([A, B, C, D], [0.9, 0.8, 0.7, 0.6])
    taken = [A, B, C, D]
    states = [s, trees.State([B, C, D], [0.9, 0.8, 0.7]), trees.State([C, D], [0.9, 0.8]), trees.State([D], [0.9])]
    # first forward + one verification (drafts 1..4 all verified) = 2 forwards for 4 tokens
    assert trees.simulate(states, taken, 4, 0) == (2, 4)
    # depth 2: 0 -> 2 -> the last two tokens: draft 1 then a final single token without a check
    assert trees.simulate(states, taken, 2, 0)[0] == 3


def test_replay_matches_the_real_decoder_on_the_bundled_model(trees):
    r = trees.measure(4, [4], [0, 2])
    chain, tree = r["settings"]
    # the replay is the decoder up to its lookahead guesses (a row that did not ask for the next
    # block's logits drafts less next round): within 5% (1.5% on the 200-problem run)
    assert abs(chain["freedave_nfe"] - chain["nfe"]) <= 0.05 * chain["nfe"]
    assert tree["nfe"] <= chain["nfe"]  # a branch only ever adds verified states
    # and the real tree decoder agrees with the replay as closely as the chain does
    assert abs(tree["freedave_nfe"] - tree["nfe"]) <= 0.05 * tree["nfe"]
    assert r["chain_bound_nfe"] <= chain["nfe"]
