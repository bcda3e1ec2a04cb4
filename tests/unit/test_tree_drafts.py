"""Draft trees (``decoding.drafts``): which runner-up rows are built, and how acceptance walks them."""

import torch

from freedave.decoding.config import Sampling
from freedave.decoding.drafts import Pick, branch_ranks, greedy_static_tree, tree_accept
from freedave.decoding.steps import Layout, Scorer

MASK, EOS, V = 3, 2, 12
LAYOUT = Layout(1, 4, MASK, EOS)  # prompt of 1, blocks of 4
X = torch.tensor([9] + [MASK] * 8)  # two response blocks: positions 1-4 and 5-8


def scorer(order: list[int], token: int = 5) -> Scorer:
    """A greedy scorer over positions 1-8 that prefers ``token`` everywhere and ranks the masked
    positions by ``order`` (first = most confident)."""
    logits = torch.zeros(8, V)
    for rank, pos in enumerate(order):
        logits[pos - 1, token] = 10.0 - rank
    return Scorer(logits, 1, Sampling(), 0, MASK)


def test_branch_ranks_pick_the_nearest_ties_in_one_block():
    picks = [Pick(1, 5, 0.9, 1), Pick(2, 5, 0.5, 1), Pick(3, 5, 0.49, 1), Pick(4, 5, 0.2, 1), Pick(5, 5, 0.19, 5)]
    # k=2: gap 0.01 (d2, d3); k=3: gap 0.29; k=4: d4 and d5 lie in different blocks, never a branch
    assert branch_ranks(picks, 1) == [2]
    assert branch_ranks(picks, 8) == [2, 3]
    assert branch_ranks(picks, 0) == []


def test_tree_rows_are_the_chain_then_one_swap_each():
    tree = greedy_static_tree(X, LAYOUT, scorer([1, 2, 3, 4, 5, 6]), depth=4, branches=2)
    assert [p.position for p in tree.picks] == [1, 2, 3, 4]
    assert tree.chain == 4 and set(tree.branches) == {2, 3}
    for k, i in tree.branches.items():  # B_k = d_1 .. d_{k-1} + d_{k+1}
        decided = {p for p in range(1, 9) if int(tree.states[i][p]) != MASK}
        assert decided == set(range(1, k)) | {k + 1}


def test_accept_walks_through_a_branch_and_back_onto_the_chain():
    tree = greedy_static_tree(X, LAYOUT, scorer([1, 2, 3, 4, 5]), depth=4, branches=1)
    assert tree.branches == {2: 4}  # the only branch rank: B_2 = {1, 3}, row 4
    swap = scorer([1, 3, 2, 4, 5])  # static, re-scored at C_1, takes position 3 before 2
    plain = scorer([1, 2, 3, 4, 5])
    # C_1 -> B_2 (target takes d3) -> C_3 (B_2's target takes d2) -> C_4
    assert tree_accept(tree, [swap, plain, plain, None, plain], LAYOUT, 1) == (3, 4)
    # the same swap without the branch row stops at C_1
    chain = greedy_static_tree(X, LAYOUT, scorer([1, 2, 3, 4, 5]), depth=4, branches=0)
    assert tree_accept(chain, [swap, plain, plain, None], LAYOUT, 1) == (0, 1)
    # B_2's own target takes position 4, not d2: the walk stops at B_2 (two steps)
    assert tree_accept(tree, [swap, plain, plain, None, scorer([1, 4, 2, 3])], LAYOUT, 1) == (4, 2)
    # a target that is neither the chain's next node nor a branch stops the walk
    assert tree_accept(tree, [scorer([1, 4, 2, 3]), plain, plain, None, plain], LAYOUT, 1) == (0, 1)
    # a different token at the chain's next position is not the chain's node
    assert tree_accept(tree, [scorer([1, 2, 3, 4], token=6), plain, plain, None, plain], LAYOUT, 1) == (0, 1)
