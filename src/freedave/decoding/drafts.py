"""One FreeDave round's drafts: a chain, or a chain with runner-up branches (a draft tree).

All drafts of a round come from one distribution f(x). The *chain* C_1 .. C_n holds the states
after k = 1 .. n base steps. Greedy static steps from f(x) take a block's masked positions in its
confidence order d_1, d_2, ... (``greedy_static_picks``). Static decoding re-scores after every
step, and the chain usually breaks where static takes d_{k+1} before d_k: the runner-up went
first (95% of in-window breaks on the bundled task, ``benchmarks/order_instability.py``).

A *branch* row ``B_k = x + d_1 .. d_{k-1} + d_{k+1}`` covers that swap. When the target from C_{k-1}
is B_k, the walk moves to B_k; when B_k's own target is C_{k+1} (static took d_k next), it goes on
along the chain, so one extra row turns a break at k into a chain that continues. Branches go to
the ``branches`` most nearly tied ranks (smallest confidence gap between d_k and d_{k+1}, both in one
block). Every node is verified like a chain draft: its target is one static step from its own
distribution, and a node is kept only when it equals the target of the node before it. So the
output stays static decoding's, whatever the tree (``tests/property/test_lossless.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from torch import Tensor

from freedave.decoding.steps import Layout, Scorer, chain_states, masked_in_active, static_choice


class Pick(NamedTuple):
    """One greedy static decision drafted from f(x)."""

    position: int
    token: int
    confidence: float
    block: int  # which block the position lies in, counted from the active one (0)


@dataclass
class Drafts:
    """A round's drafts. ``states``: the chain C_1 .. C_chain, then the branch rows. ``picks``: the
    chain's decisions d_1 .. d_chain (greedy static drafts only; None for other base steps).
    ``branches``: rank k -> index in ``states`` of B_k."""

    states: list[Tensor]
    chain: int
    picks: list[Pick] | None = None
    branches: dict[int, int] = field(default_factory=dict)


def greedy_static_picks(y: Tensor, layout: Layout, scorer: Scorer, depth: int) -> list[Pick]:
    """The decisions of k = 1 .. depth greedy static steps from ``y`` with one scorer, from one
    ordering per block: applying them in order equals applying ``static_step`` k times (greedy
    decisions do not depend on the step or the state). Static steps from one distribution take the
    masked positions of the active block in confidence order (ties: lower position), then those of
    the next block; drafting stops at a finished state or where the next step's block lies beyond
    the scorer's window."""
    assert scorer.sampling.greedy, "greedy_static_picks needs a greedy scorer"
    vals = y.tolist()
    picks: list[Pick] = []
    block = 0  # 0: the active block, 1: the next one
    while len(picks) < depth:
        pos = masked_in_active(vals, layout, scorer)
        if pos is None:
            break
        tok, conf = scorer.decide(pos, 0)
        order = sorted(range(len(pos)), key=conf.__getitem__, reverse=True)  # stable: ties keep position order
        for i in order[: depth - len(picks)]:
            vals[pos[i]] = tok[i]
            picks.append(Pick(pos[i], tok[i], conf[i], block))  # type: ignore[arg-type]
        if len(picks) == depth or layout.is_terminal(vals):  # a block ends here: finished state?
            break
        block += 1
    return picks


def branch_ranks(picks: Sequence[Pick], budget: int) -> list[int]:
    """The ranks k (2 <= k < len(picks)) that get a branch row B_k: the ``budget`` ones whose d_k
    and d_{k+1} are most nearly tied in f(x)'s confidence and lie in one block (static always
    takes d_1 first, and never a next-block position before its block is done)."""
    ks = [k for k in range(2, len(picks)) if picks[k - 1].block == picks[k].block]
    return sorted(sorted(ks, key=lambda k: picks[k - 1].confidence - picks[k].confidence)[:budget])


def greedy_static_tree(y: Tensor, layout: Layout, scorer: Scorer, depth: int, branches: int = 0) -> Drafts:
    """The greedy static chain of ``depth`` drafts from ``y``, with ``branches`` runner-up rows."""
    picks = greedy_static_picks(y, layout, scorer, depth)
    states = chain_states(y, [(p.position, p.token) for p in picks])
    out = Drafts(states, len(states), picks)
    for k in branch_ranks(picks, branches):  # B_k = C_{k-1} + d_{k+1}
        (b,) = chain_states(states[k - 2], [(picks[k].position, picks[k].token)])
        out.branches[k] = len(out.states)
        out.states.append(b)
    return out


def tree_accept(d: Drafts, scorers: Sequence[Scorer | None], layout: Layout, step: int) -> tuple[int, int]:
    """``(index in d.states, base steps)`` of the farthest verified node of greedy static drafts.

    ``scorers[i]`` is the verified distribution of ``d.states[i]`` (None or missing: not verified,
    a finished state). ``step`` is the base step index of the step from C_1. The walk starts at C_1
    (static's first step from x is d_1) and, at C_j, moves to C_{j+1} when static's step from C_j
    takes d_{j+1}; else to B_{j+1} when it takes d_{j+2} and that branch exists, then on to C_{j+2}
    when B_{j+1}'s step takes d_{j+1} (else it stops at B_{j+1})."""
    assert d.picks is not None, "tree_accept needs greedy static drafts"
    picks, vals, j = d.picks, d.states[0].tolist(), 1

    def target(i: int, at: int) -> tuple[int, int] | None:  # static's step from state i (at base step ``at``)
        sc = scorers[i] if i < len(scorers) else None
        return None if sc is None else static_choice(vals, layout, sc, at)

    while j < d.chain:
        choice = target(j - 1, step + j - 1)
        if choice is not None and choice == picks[j][:2]:  # C_{j+1}
            vals[picks[j].position] = picks[j].token
            j += 1
            continue
        b = d.branches.get(j + 1)
        if b is None or choice is None or choice != picks[j + 1][:2]:
            break
        vals[picks[j + 1].position] = picks[j + 1].token  # at B_{j+1}
        if target(b, step + j) != picks[j][:2]:
            return b, j + 1
        vals[picks[j].position] = picks[j].token  # at C_{j+2}
        j += 2
    return j - 1, j
