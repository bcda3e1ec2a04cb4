"""The speed-up the forwards alone predict (``freedave.bench.cost``): formula, recorder, curve."""

from __future__ import annotations

import pytest
import torch

from freedave.bench.cost import (
    CurveProbe,
    ForwardLog,
    Forwards,
    measure_curve,
    measure_curves,
    predicted_seconds,
    predicted_speedup,
)
from freedave.decoding import DecodeConfig, decode
from freedave.decoding.config import FreeDave, Static
from helpers import tiny_denoiser

CURVE = {(1, False): 1.0, (2, False): 1.2, (4, False): 1.6, (8, False): 2.4, (1, True): 2.0, (4, True): 2.5}


def test_predicted_speedup_is_the_documented_formula():
    static = Forwards(rows=[1] * 40, fresh=[False] * 40)  # 40 forwards for 36 tokens
    run = Forwards(rows=[1] + [4] * 10, fresh=[False] * 11)  # 11 forwards for the same 36 tokens
    # (cost(1) * 40 / 36) / ((cost(1) + 10 * cost(4)) / 36)
    assert predicted_speedup(static, 36, run, 36, CURVE) == pytest.approx(40 / (1 + 16))
    assert predicted_seconds(run, CURVE) == pytest.approx(17.0)
    # per valid token: a run with fewer valid tokens is charged more per token
    assert predicted_speedup(static, 36, run, 18, CURVE) == pytest.approx(0.5 * 40 / 17)
    # a forward that also computes a finished block is priced by the fresh curve
    assert predicted_seconds(Forwards(rows=[1, 4], fresh=[True, True]), CURVE) == pytest.approx(4.5)
    assert predicted_speedup(static, 36, Forwards(), 36, CURVE) is None


def test_forward_log_records_rows_of_every_call_and_changes_nothing():
    den = tiny_denoiser("block")
    cfg = DecodeConfig(max_new_tokens=8, block_size=4)
    prompts = [[5, 6, 7], [8, 9]]
    log = ForwardLog(den)
    log.into = fw = Forwards()
    out = decode(log, prompts, cfg, FreeDave(3))
    assert [r.token_ids for r in out] == [r.token_ids for r in decode(den, prompts, cfg, FreeDave(3))]
    # one entry per model call, summing the rows of every prompt in it; NFE is charged per prompt
    assert len(fw.rows) <= sum(r.nfe for r in out) and fw.seconds > 0
    assert max(fw.rows) <= 2 * 3 and min(fw.rows) >= 1
    log.into = static = Forwards()
    res = decode(log, prompts[:1], cfg, Static())
    assert static.rows == [1] * res[0].nfe
    # the first forward computes the prompt, and one forward per finished block computes that block
    assert static.fresh[0] and sum(static.fresh) == 8 // 4


def test_measure_curves_times_every_key():
    den = tiny_denoiser("block")
    with torch.no_grad():
        curve = measure_curve(den, [5, 6, 7], 4, 8, [1, 3, 5], repeats=2)
        both = measure_curves(den, [5, 6, 7], 4, 8, [(1, False), (2, True), (3, False)], repeats=2)
    assert set(curve) == {1, 3, 5} and all(t > 0 for t in curve.values())
    assert set(both) == {(1, False), (2, True), (3, False)}


def test_curve_probe_spreads_samples_and_tops_up_late_keys():
    den = tiny_denoiser("block")
    with torch.no_grad():
        probe = CurveProbe(den, [5, 6, 7], 4, 8)
        for _ in range(3):  # probes between decodes: one timed call per key seen so far
            probe.probe([(1, False), (2, True)])
        assert {k: len(v) for k, v in probe.samples.items()} == {(1, False): 3, (2, True): 3}
        curve = probe.curve([(1, False), (2, True), (3, False)], repeats=5)  # (3, False) first seen at the end
    assert {k: len(v) for k, v in probe.samples.items()} == {(1, False): 5, (2, True): 5, (3, False): 5}
    assert set(curve) == {(1, False), (2, True), (3, False)} and all(t > 0 for t in curve.values())
