"""Adaptive draft depth: pick d per round to maximise expected tokens per second.

Cost: the wall time of a whole round (drafting, the verification forward, acceptance), fitted
online as ``a + b * rows`` from the rounds this run has made, so a depth's overhead outside the
forward counts too. Depth 1 is a candidate: a round of one draft is one static step per forward,
which is what the policy picks when drafting does not pay. Gain: the expected tokens a prompt commits with depth d,
``E[min(r, d)]``, from the chains observed so far (a chain that filled every draft only says
r >= d, so it counts as d + 1: a little optimism that lets the chooser try deeper drafts). A round
of one draft says nothing about the reach (its one draft is always right), so it adds no chain;
while depth 1 is the choice, one round in ``PROBE`` drafts ``PROBE_DEPTH`` deep to keep learning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

CANDIDATES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
WARMUP = (4, 8, 16, 2)  # depths tried first, to learn the cost slope and the acceptance
REDECIDE = 16  # rounds between two decisions
PROBE, PROBE_DEPTH = 64, 4  # at depth 1: one round in PROBE drafts PROBE_DEPTH deep


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
    cost: list[tuple[int, float]] = field(default_factory=list)  # (rows, seconds) per forward
    chains: list[float] = field(default_factory=list)  # observed (or censored, counted as j + 1) reach per round
    rounds: int = 0
    _choice: int | None = None
    _decided_at: int = 0
    _prompts: int = 0

    def pick(self, prompts: int) -> int:
        if self.rounds < len(WARMUP):
            return WARMUP[self.rounds]
        # re-decide every REDECIDE rounds: the choice is cheap but not free next to a ~2 ms forward
        if self._choice is None or self.rounds - self._decided_at >= REDECIDE or prompts != self._prompts:
            self._choice, self._decided_at, self._prompts = self._decide(prompts), self.rounds, prompts
        if self._choice == 1 and self.rounds % PROBE == PROBE - 1:
            return PROBE_DEPTH
        return self._choice

    def _decide(self, prompts: int) -> int:
        a, b = self._fit()
        recent = self.chains[-256:]
        best, best_rate = self.candidates[0], -1.0
        for d in self.candidates:
            gain = sum(min(r, d) for r in recent) / max(len(recent), 1)
            rate = gain / (a + b * d * prompts)
            if rate > best_rate:
                best, best_rate = d, rate
        return best

    def observe(self, rows: int, seconds: float, accepted: list[int], drafted: list[int]) -> None:
        """One verification forward over ``rows`` rows; per prompt the chain length and drafts."""
        self.rounds += 1
        self.cost.append((rows, seconds))
        for j, n in zip(accepted, drafted, strict=True):
            if n > 1:  # one draft is always accepted: it says nothing about the reach
                self.chains.append(j + 1.0 if j >= n else float(j))

    def _fit(self) -> tuple[float, float]:
        pts = self.cost[-64:]
        n = len(pts)
        mx = sum(r for r, _ in pts) / n
        my = sum(t for _, t in pts) / n
        var = sum((r - mx) ** 2 for r, _ in pts)
        b = sum((r - mx) * (t - my) for r, t in pts) / var if var > 0 else 0.0
        b = max(b, 1e-9)
        a = max(my - b * mx, 1e-9)
        return a, b
