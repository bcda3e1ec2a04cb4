"""Pure benchmark metrics."""

from __future__ import annotations

from freedave.bench import metrics
from freedave.decoding import Result


def result(tokens, accepted=(1,), reach=None):
    return Result(index=0, token_ids=list(tokens), nfe=len(accepted), steps=len(tokens), tokens_decoded=len(tokens),
                  accepted=tuple(accepted), seconds=0.0, strategy="x", reach=reach)


def test_valid_tokens_skip_mask_eos_pad():
    assert metrics.valid_tokens([5, 6, 0, 2, 3, 7], exclude={0, 2, 3}) == 3


def test_exact_match_fraction():
    a = [result([1, 2]), result([3])]
    b = [result([1, 2]), result([4])]
    assert metrics.exact_match(a, b) == 0.5
    assert metrics.exact_match(a, a) == 1.0


def test_accepted_histogram_counts_rounds():
    h = metrics.accepted_histogram([result([1], accepted=(1, 3, 3)), result([1], accepted=(2,))])
    assert h == {"1": 1, "2": 1, "3": 2}


def test_bound_forwards_sum_attainable_and_oracle():
    # reach 1 everywhere: static itself (4 steps -> 4 forwards for both bounds)
    assert metrics.bound_forwards([result([1] * 4, reach=(1, 1, 1, 1))]) == (4, 4)
    # one forward reaches every state: oracle 1, attainable 2 (the last jump must be verified)
    assert metrics.bound_forwards([result([1] * 4, reach=(4, 3, 2, 1))]) == (2, 1)
    assert metrics.ratio(1, 0) is None


def test_slower_settings_are_named_in_the_report():
    from freedave.bench.report import slower_note
    from freedave.bench.rows import BenchResult, Row

    rows = [
        {"strategy": "static", "draft_depth": None, "speedup_vs_static": 1.0},
        {"strategy": "freedave", "draft_depth": 2, "speedup_vs_static": 1.4},
        {"strategy": "freedave", "draft_depth": 16, "speedup_vs_static": 0.8},
    ]
    note = slower_note(BenchResult({}, tuple(Row.from_json(r) for r in rows)))
    assert "d=16 (0.80x)" in note and "d=2" not in note
    assert slower_note(BenchResult({}, tuple(Row.from_json(r) for r in rows[:2]))) == ""
