"""Adaptive draft depth: pick d per round to maximise expected tokens per second.

Cost: the wall time of a whole round (drafting, the verification forward, acceptance), fitted
as ``a + b * rows`` through the median time of each row count, so a depth's overhead outside the
forward counts too. Gain: the expected tokens a prompt commits with depth d, ``E[min(r, d)]``,
estimated from the chains seen so far (``expected_tokens``: a chain that took every draft only says
r >= its length). Depth 1 is a candidate: one draft per round is one static step per forward, the
choice when drafting does not pay. A round of one draft says nothing about the reach (its one
draft is always right), so it adds no chain; while depth 1 is the choice, one round in ``PROBE``
drafts ``PROBE_DEPTH`` deep to keep learning. Once a depth has run ``MEASURED`` rounds, its own
measured steps per second replace the model's estimate (the model guides where to try next; what a
depth really delivers, with every extra forward and the work around it, decides).
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

CANDIDATES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
WARMUP = (4, 8, 16, 2)  # depths tried first, to learn the cost slope and the acceptance
REDECIDE = 32  # rounds between two decisions
PROBE, PROBE_DEPTH = 64, 4  # at depth 1: one round in PROBE drafts PROBE_DEPTH deep
MEASURED = 32  # rounds at a depth after which its measured rate replaces the model's


class DepthPolicy(Protocol):
    """Chooses FreeDave's draft depth each round and learns from what each verification cost.

    Pass one to ``decode(..., policy=)`` to keep what it learned across calls (a benchmark, a
    server); without one, a ``draft_depth="auto"`` call starts a fresh ``AutoDepth``.
    """

    def pick(self, prompts: int) -> int:
        """The draft depth of the next round, for ``prompts`` prompts still decoding."""
        ...

    def observe(self, rows: int, seconds: float, accepted: list[int], drafted: list[int]) -> None:
        """One verification forward over ``rows`` rows; per prompt the chain length and drafts."""
        ...


@dataclass(frozen=True)
class FixedDepth:
    """A fixed draft depth (``FreeDave(draft_depth=d)``); learns nothing."""

    depth: int

    def pick(self, prompts: int) -> int:
        return self.depth

    def observe(self, rows: int, seconds: float, accepted: list[int], drafted: list[int]) -> None:
        return None


@dataclass
class AutoDepth:
    """``draft_depth="auto"``: the depth with the best expected tokens per second (see above)."""

    candidates: tuple[int, ...] = CANDIDATES
    cost: list[tuple[int, float]] = field(default_factory=list)  # (rows, seconds) per round
    chains: list[tuple[int, bool]] = field(default_factory=list)  # (accepted, every draft accepted) per prompt
    # (depth, prompts) -> (base steps committed, seconds) of the rounds run at that depth
    measured: dict[tuple[int, int], list[tuple[int, float]]] = field(default_factory=dict)
    _recent: dict[int, deque[float]] = field(default_factory=dict)  # rows -> seconds of its last 32 rounds
    rounds: int = 0
    _picked: tuple[int, int] = (0, 0)
    _choice: int | None = None
    _decided_at: int = 0
    _prompts: int = 0

    def pick(self, prompts: int) -> int:
        self._picked = (self._depth(prompts), prompts)
        return self._picked[0]

    def _depth(self, prompts: int) -> int:
        if self.rounds < len(WARMUP):
            return WARMUP[self.rounds]
        # re-decide every REDECIDE rounds: the choice is cheap but not free next to a ~2 ms forward
        if self._choice is None or self.rounds - self._decided_at >= REDECIDE or prompts != self._prompts:
            self._choice, self._decided_at, self._prompts = self._decide(prompts), self.rounds, prompts
        if self._choice == 1 and self.rounds % PROBE == PROBE - 1:
            return PROBE_DEPTH
        return self._choice

    def _decide(self, prompts: int) -> int:
        """The depth with the best steps per second: measured where this depth ran ``MEASURED``
        rounds recently (which corrects what the model gets wrong), from the model for the depths
        next to the best measured one (so exploring moves one candidate at a time)."""
        rates = {}
        for d in self.candidates:
            seen = self.measured.get((d, prompts), [])[-4 * MEASURED :]
            if len(seen) >= MEASURED:
                rates[d] = sum(n for n, _ in seen) / sum(t for _, t in seen) / prompts
        near = self.candidates
        if rates:
            k = self.candidates.index(max(rates, key=rates.__getitem__))
            near = self.candidates[max(k - 1, 0) : k + 2]
        a, b = self._fit()
        gain = expected_tokens(self.chains[-256:], max(self.candidates))
        for d in near:
            rates.setdefault(d, gain[d] / (a + b * d * prompts))
        return max(sorted(rates), key=rates.__getitem__)  # ties: the shallower depth

    def observe(self, rows: int, seconds: float, accepted: list[int], drafted: list[int]) -> None:
        """One round: ``rows`` rows verified in ``seconds``; per prompt the chain length and drafts."""
        self.rounds += 1
        self.cost.append((rows, seconds))
        self._recent.setdefault(rows, deque(maxlen=32)).append(seconds)
        self.measured.setdefault(self._picked, []).append((sum(accepted), seconds))
        for j, n in zip(accepted, drafted, strict=True):
            if n > 1:  # one draft is always accepted: it says nothing about the reach
                self.chains.append((j, j >= n))

    def _fit(self) -> tuple[float, float]:
        """``a + b * rows`` through the median seconds of each row count (its last 32 rounds),
        weighted by how many rounds each median has: a slow spell of a shared machine moves one
        point, and a row count seen once (a warm-up round) cannot tilt the line."""
        pts = [(r, statistics.median(ts), len(ts)) for r, ts in self._recent.items()]
        n = sum(w for _, _, w in pts)
        mx = sum(r * w for r, _, w in pts) / n
        my = sum(t * w for _, t, w in pts) / n
        var = sum(w * (r - mx) ** 2 for r, _, w in pts)
        b = sum(w * (r - mx) * (t - my) for r, t, w in pts) / var if var > 0 else 0.0
        b = max(b, 1e-9)
        a = max(my - b * mx, 1e-9)
        return a, b


def expected_tokens(chains: list[tuple[int, bool]], depth: int) -> list[float]:
    """``E[min(r, d)]`` for ``d = 0 .. depth``: the tokens a round with d drafts commits, from
    observed chains (Kaplan-Meier). A chain of j < n drafts says r = j; one that took every draft
    says only r >= j. Past the longest observed chain the last hazard carries on, which lets the
    chooser try deeper drafts when the chains it saw were rarely cut."""
    events, full = [0] * (depth + 2), [0] * (depth + 2)
    for j, complete in chains:
        (full if complete else events)[min(j, depth + 1)] += 1
    out, surv, hazard = [0.0], 1.0, 0.0
    at_risk = len(chains)  # chains with r >= k: none ended before k
    for k in range(1, depth + 1):
        out.append(out[-1] + surv)  # P(r >= k)
        censored_here = full[k]  # known only r >= k: not at risk of ending at k
        if at_risk - censored_here > 0:
            hazard = events[k] / (at_risk - censored_here)
        surv *= 1 - hazard
        at_risk -= events[k] + full[k]
    return out
