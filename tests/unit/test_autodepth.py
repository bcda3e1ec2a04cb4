from freedave.decoding.autodepth import WARMUP, AutoDepth


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
