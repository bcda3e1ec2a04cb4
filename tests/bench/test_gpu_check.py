"""``benchmarks/gpu_check.sh`` run for real on CPU with the tiny config: every file, every field,
the checks passed, and FreeDave's tokens equal static's in its bench."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
CHECK_FIELDS = {"model", "family", "device", "dtype", "deterministic", "batch_sizes", "batch_invariant",
                "max_abs_diff", "cache_exact"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    env = os.environ | {"PYTHON": sys.executable, "DEVICE": "cpu", "OUT": str(out), "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(["bash", str(SCRIPT), "--tiny"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def load(path: Path) -> dict | list:
    assert path.is_file(), f"{path.name} was not written"
    return json.loads(path.read_text())


def test_writes_every_file(run):
    out, _ = run
    for name in ("gpu_check.json", "gpu_check.md", "check.json", "cost_curve.json", "bench.json", "bench_compile.json",
                 "bench/results.json", "bench/report.md"):
        assert (out / name).is_file(), name


def test_checks_cover_both_dtypes_with_and_without_deterministic_and_pass(run):
    out, _ = run
    checks = load(out / "check.json")
    assert {(c["dtype"], c["deterministic"]) for c in checks} == {
        ("float32", False), ("bfloat16", False), ("float32", True), ("bfloat16", True)}
    for c in checks:
        assert c["passed"] and c["exit_status"] == 0 and c["command"].startswith("freedave check ")
        assert set(c["report"]) >= CHECK_FIELDS
        assert c["report"]["batch_invariant"] and c["report"]["max_abs_diff"] == 0.0
        assert c["report"]["cache_exact"] is True  # a block-family (SDAR) model has an exact KV cache
        assert c["report"]["family"] == "block" and c["report"]["device"] == "cpu"
        assert c["report"]["deterministic"] is c["deterministic"]


def test_cost_curve_has_every_row_count(run):
    out, _ = run
    curve = load(out / "cost_curve.json")
    assert [r["rows"] for r in curve["rows"]] == [1, 2, 4, 8] and curve["block_size"] == 4
    for r in curve["rows"]:
        assert r["cached_window1_ms"] > 0 and r["uncached_window2_ms"] > 0 and r["ratio_vs_static"] > 0
    assert curve["rows"][0]["ratio_vs_static"] == 1.0


def test_bench_runs_every_strategy_and_freedave_equals_static(run):
    out, _ = run
    bench = load(out / "bench.json")
    rows = bench["rows"]
    assert [(r["strategy"], r["draft_depth"], r["draft_branches"]) for r in rows] == [
        ("static", None, None), ("threshold", None, None), ("freedave", 2, 0), ("freedave", 2, 2),
        ("freedave", 4, 0), ("freedave", 4, 2), ("freedave", 8, 0), ("freedave", 8, 2)]
    assert bench["meta"]["model_family"] == "block" and bench["meta"]["n_problems"] == 2
    for r in rows:
        assert r["exact_match_vs_static"] == 1.0 and r["tokens_per_second"] > 0 and r["nfe"] > 0
    assert rows[-1]["nfe"] <= rows[0]["nfe"]


def test_summary_fields_and_markdown(run):
    out, _ = run
    s = load(out / "gpu_check.json")
    assert s["passed"] is True and s["all_checks_passed"] is True and s["bench_exit_status"] == 0
    meta = s["meta"]
    assert meta["size"] == "tiny" and meta["device"] == "cpu" and meta["block_size"] == 4
    assert meta["parameters"] > 0 and meta["threads"] == 1  # --tiny on a CPU: one thread by default
    assert set(meta["timings"]) == {"build_s", "cost_curve_s", "bench_s", "compile_s", "check_s", "total_s"}
    assert all(v > 0 for v in meta["timings"].values()) and meta["seconds_total"] == meta["timings"]["total_s"]
    assert set(meta) >= {"date", "versions", "cpu", "gpu"}
    assert s["checks"] == load(out / "check.json") and s["bench"] == load(out / "bench.json")
    md = (out / "gpu_check.md").read_text()
    for heading in ("## freedave check", "## Cost curve", "## Bench", "**passed**", "freedave d=8", "## --compile"):
        assert heading in md


def test_size_flag_refuses_unknown_sizes(tmp_path):
    env = os.environ | {"PYTHON": sys.executable, "OUT": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(["bash", str(SCRIPT), "--size", "70b"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice: '70b'" in proc.stderr
    assert not (tmp_path / "gpu_check.json").exists()


def test_compiled_freedave_row_equals_static_and_compiled_check_passes_on_cpu(run):
    out, _ = run
    c = load(out / "gpu_check.json")["compiled"]
    bench = load(out / "bench_compile.json")
    assert c["bench_exit_status"] == 0 and c["bench"] == bench
    assert [(r["strategy"], r["draft_depth"], r["compile"]) for r in bench["rows"]] == [
        ("static", None, True), ("freedave", 8, True)]
    assert bench["meta"]["compile"] is True and bench["meta"]["compile_seconds"] > 0
    assert all(r["exact_match_vs_static"] == 1.0 and r["tokens_per_second"] > 0 for r in bench["rows"])
    assert c["check_passed"] and c["check"]["compile"] is True and c["check"]["batch_invariant"] is True
    assert c["check"]["cache_exact"] is True and c["check"]["compile_max_abs_diff_vs_eager"] < 1e-3
