from freedave.decoding.autodepth import MEASURED as MEASURED_ROUNDS
from freedave.decoding.autodepth import PROBE_DEPTH, WARMUP, AutoDepth, expected_tokens


def test_warmup_then_prefers_deep_drafts_when_forwards_are_flat():
    c = AutoDepth()
    for d in WARMUP:
        assert c.pick(1) == d
        c.observe(d, 0.010, [d], [d])  # every draft accepted, and rows cost nothing extra
    assert c.pick(1) >= 16


def test_prefers_shallow_drafts_when_rows_are_costly_and_chains_short():
    c = AutoDepth()
    for d in WARMUP:
        c.pick(1)
        c.observe(d, 0.001 + 0.004 * d, [1], [d])  # chains of 1, each row 4x a forward's base cost
    assert c.pick(1) == 1


def test_learns_typical_chain():
    c = AutoDepth()
    for d in WARMUP:
        c.pick(1)
        c.observe(d, 0.002 + 0.0005 * d, [min(d, 5)], [d])
    assert 4 <= c.pick(1) <= 8


# ms per forward at 1 / 2 / 4 / 8 / 16 rows, benchmarks/results/cost_curve.json (2 CPU cores)
MEASURED = {1: 1.43, 2: 1.66, 4: 2.02, 8: 2.85, 16: 4.50}


def curve_ms(rows: int) -> float:
    """Piecewise-linear in rows through MEASURED (extrapolated past 16 with the last slope)."""
    pts = sorted(MEASURED.items())
    for (r0, t0), (r1, t1) in zip(pts, pts[1:], strict=False):
        if rows <= r1 or r1 == pts[-1][0]:
            return t0 + (t1 - t0) * (rows - r0) / (r1 - r0)
    raise AssertionError


def simulate(reach, rounds: int = 120, cost_ms=curve_ms) -> list[int]:
    """Feed an AutoDepth ``rounds`` rounds of one prompt: a round at depth d costs ``cost_ms(d)``
    and accepts min(reach(i), d) drafts. Returns the depths it picked."""
    policy, picks = AutoDepth(), []
    for i in range(rounds):
        d = policy.pick(1)
        picks.append(d)
        policy.observe(d, cost_ms(d) / 1000, [min(reach(i), d)], [d])
    return picks


def test_picks_plain_static_steps_when_drafting_never_pays():
    picks = simulate(lambda i: 1, rounds=400)  # no draft past the first is ever right
    after = picks[len(WARMUP) :]
    assert picks[: len(WARMUP)] == list(WARMUP)
    # depth 1 (one static step per forward) but for a rare probe that keeps learning the chains
    assert set(after) == {1, PROBE_DEPTH} and after.count(1) >= 0.98 * len(after)


def test_picks_deeper_drafts_when_chains_are_long():
    picks = simulate(lambda i: 6)  # six drafts verified every round
    after = picks[len(WARMUP) :]
    assert min(after) > 1 and max(after) <= 8
    # a chain of 6 at 2.5 ms beats 1 token at 1.43 ms: the choice settles on 6 or the next candidate
    assert after[-1] in (6, 8)


def test_switches_to_one_when_chains_collapse():
    picks = simulate(lambda i: 6 if i < 40 else 1, rounds=400)
    assert picks[40] > 1 and picks[-32:].count(1) >= 31


def test_a_probe_at_depth_one_finds_chains_that_grew():
    picks = simulate(lambda i: 1 if i < 100 else 6, rounds=400)
    assert picks[99] == 1 and min(picks[-32:]) > 1


def test_expected_tokens_reads_cut_and_complete_chains():
    # every chain cut at 2: E[min(r, d)] = min(2, d)
    assert expected_tokens([(2, False)] * 5, 4) == [0.0, 1.0, 2.0, 2.0, 2.0]
    # half end at 1, half took all 3 drafts (r >= 3): P(r >= 2) = P(r >= 3) = 0.5, and with no
    # chain ever cut past 1, the estimate stays 0.5 beyond
    assert expected_tokens([(1, False), (3, True)] * 4, 5) == [0.0, 1.0, 1.5, 2.0, 2.5, 3.0]
    # no chain seen: every draft counts
    assert expected_tokens([], 3) == [0.0, 1.0, 2.0, 3.0]


def test_a_depth_that_measures_slower_than_the_model_says_is_left():
    # rounds of 5-7 rows hit a slow path the linear cost model cannot see: 5 ms more
    picks = simulate(lambda i: 6, rounds=300, cost_ms=lambda d: curve_ms(d) + (5.0 if 5 <= d <= 7 else 0.0))
    after = picks[len(WARMUP) :]
    assert after[0] == 6  # the model's choice...
    assert after.count(6) <= 3 * MEASURED_ROUNDS and set(after[-64:]) == {8}  # ...until its measured rate says otherwise
