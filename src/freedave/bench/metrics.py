"""Per-setting metrics from decode results: pure functions, no model, no timing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from freedave.decoding import Result
from freedave.decoding.optimal import attainable_nfe, oracle_nfe


def valid_tokens(token_ids: Sequence[int], exclude: set[int]) -> int:
    """Response tokens that count for throughput: no mask, EOS or padding (prompt never included)."""
    return sum(1 for t in token_ids if t not in exclude)


def exact_match(results: Sequence[Result], reference: Sequence[Result]) -> float:
    """Fraction of problems whose response tokens equal the reference run's."""
    same = sum(a.token_ids == b.token_ids for a, b in zip(results, reference, strict=True))
    return same / max(len(results), 1)


def accepted_histogram(results: Sequence[Result]) -> dict[str, int]:
    """How many drafting rounds (forwards that commit tokens) committed k tokens, keyed by k."""
    counts = Counter(k for r in results for k in r.accepted)
    return {str(k): counts[k] for k in sorted(counts)}


def bound_forwards(traced: Sequence[Result]) -> tuple[int, int]:
    """Summed attainable and oracle forwards of the optimal path, from traced static results."""
    att = orc = 0
    for r in traced:
        reach = r.reach or ()
        if reach:
            att += attainable_nfe(reach, r.refresh_states or ())
            orc += oracle_nfe(reach)
    return att, orc


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None
