"""The optimal-path bound, computed from a traced static run.

``reach[n]`` (r(n)) is the largest m such that drafting m static steps from f(x_n) alone gives
exactly the static states x_{n+1} .. x_{n+m}. A forward at state n can therefore verify any state
up to n + r(n).

- *Oracle* M*: fewest forwards of a feasible path from state 0 to the end state N (a forward at n
  jumps to any state up to n + r(n)).
- *Attainable*: fewest forwards of a decoder that verifies every decision: 1 (the first forward)
  + fewest jumps from state 0 to state N - 1 (the last token is then draft 1 and needs no check).
The attainable bound is the ceiling FreeDave is measured against.

Both count network passes, as NFE does. Under an approximate cache a block's first state is
computed by a full-length pass of its own (the refresh): a forward at that state is one pass (the
oracle's count is unchanged), but a verification forward whose drafts end at it after other drafts
costs two, which the attainable bound charges (``refresh_states``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from freedave.decoding.steps import Layout, Scorer, static_choice


def draft_decisions(x: Tensor, layout: Layout, scorer: Scorer, step: int) -> list[tuple[int, int]]:
    """The ``(position, token)`` decisions of every static step drafted from one distribution."""
    out: list[tuple[int, int]] = []
    vals = x.tolist()
    scorer = scorer.limited(layout.window_end(x, lookahead=True))
    while True:
        choice = static_choice(vals, layout, scorer, step + len(out))
        if choice is None:
            return out
        out.append(choice)
        vals[choice[0]] = choice[1]
        if layout.is_terminal(vals):
            return out


def reach_from_trace(drafted: list[list[tuple[int, int]]], taken_pos: list[int], final: Tensor) -> tuple[int, ...]:
    """r(n) for every static state n from the drafted and the taken decisions."""
    taken = [(p, int(final[p])) for p in taken_pos]
    reach = []
    for n, decisions in enumerate(drafted):
        m = 0
        while m < len(decisions) and n + m < len(taken) and decisions[m] == taken[n + m]:
            m += 1
        reach.append(max(m, 1))  # draft 1 is always the static step itself
    return tuple(reach)


def min_jumps(reach: Sequence[int], target: int) -> int:
    """Fewest jumps from state 0 to ``target`` when state n reaches n+1 .. n+reach[n]."""
    if target <= 0:
        return 0
    jumps, frontier, farthest = 0, 0, 0
    for n in range(target):
        farthest = max(farthest, n + reach[n])
        if n == frontier:
            jumps += 1
            frontier = farthest
            if frontier >= target:
                return jumps
    raise ValueError("target not reachable")


def oracle_nfe(reach: Sequence[int]) -> int:
    """Oracle bound M*: forwards on the shortest feasible path to the end state."""
    return min_jumps(reach, len(reach))


def attainable_nfe(reach: Sequence[int], refresh_states: Sequence[int] = ()) -> int:
    """Fewest passes of any decoder that verifies every decision (FreeDave's ceiling).
    ``refresh_states``: states whose forward is a pass of its own (see the module docstring)."""
    if not refresh_states:
        return 1 + min_jumps(reach, len(reach) - 1)
    return 1 + fewest_passes(reach, len(reach) - 1, set(refresh_states))


def fewest_passes(reach: Sequence[int], target: int, refresh: set[int]) -> int:
    """Fewest passes from state 0 to ``target``: a jump n -> m (m <= n + reach[n]) costs one pass,
    two when m is in ``refresh`` and the jump also verifies other states (m > n + 1)."""
    cost = [0] + [len(reach) * 2 + 2] * max(target, 0)
    for n in range(max(target, 0)):
        for m in range(n + 1, min(n + reach[n], target) + 1):
            cost[m] = min(cost[m], cost[n] + (2 if m in refresh and m > n + 1 else 1))
    return cost[max(target, 0)]


def mean_reach(reach: Sequence[int]) -> float:
    return float(torch.tensor(list(reach), dtype=torch.float64).mean()) if reach else 0.0
