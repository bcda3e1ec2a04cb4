"""``--cache`` on ``freedave generate`` and ``freedave bench``."""

from __future__ import annotations

import json

import pytest

from freedave.cli import main
from freedave.models.approx_cache import ApproxCacheDenoiser
from freedave.models.loading import load
from helpers import save_tiny_checkpoint


@pytest.fixture(scope="module")
def full_ckpt(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("approx") / "full", family="full", max_len=512)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_load_wraps_the_denoiser(full_ckpt):
    assert isinstance(load(full_ckpt, cache="dual").denoiser, ApproxCacheDenoiser)
    assert not isinstance(load(full_ckpt).denoiser, ApproxCacheDenoiser)


@pytest.mark.parametrize("cache", ["prefix", "dual"])
def test_generate_freedave_equals_static_with_cache(capsys, full_ckpt, cache):
    base = ["generate", "--model", str(full_ckpt), "--prompt", "12+34=", "--prompt", "abc", "--max-new-tokens", "16",
            "--block-size", "4", "--json", "--cache", cache]
    code, out, _ = run(capsys, *base, "--strategy", "static")
    assert code == 0
    static = [json.loads(line) for line in out.splitlines()]
    code, out, _ = run(capsys, *base, "--strategy", "freedave", "--draft-depth", "8")
    fast = [json.loads(line) for line in out.splitlines()]
    assert [r["token_ids"] for r in fast] == [r["token_ids"] for r in static]
    assert all(f["model_calls"] <= s["model_calls"] for f, s in zip(fast, static, strict=True))
    assert all(s["nfe"] == s["model_calls"] and f["nfe"] >= f["model_calls"] for f, s in zip(fast, static, strict=True))
    assert {r["cache"] for r in fast} == {cache}


def test_cache_refused_on_block_models_and_unknown_values(capsys, tiny_ckpt, full_ckpt):
    code, _, err = run(capsys, "generate", "--model", str(tiny_ckpt), "--prompt", "ab", "--cache", "dual")
    assert code == 2
    assert err.count("\n") == 1 and "exact already" in err
    code, _, err = run(capsys, "generate", "--model", str(full_ckpt), "--prompt", "ab", "--cache", "suffix")
    assert code == 2 and "choose one of none, prefix, dual" in err


def test_bench_reports_cache_and_uncached_static(capsys, full_ckpt, tmp_path):
    data = tmp_path / "copy.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"copy ab{i}c:", "answer": f"ab{i}c"}) + "\n" for i in range(3)))
    out = tmp_path / "bench.json"
    code, _, _ = run(capsys, "bench", "--model", str(full_ckpt), "--task", "jsonl", "--data", str(data), "--limit", "3",
                     "--strategies", "static,freedave,freedave-threshold", "--draft-depths", "4,8", "--thresholds", "0.5",
                     "--max-new-tokens", "12", "--block-size", "4", "--cache", "dual", "--no-warmup", "--quiet",
                     "--json", str(out))
    assert code == 0
    result = json.loads(out.read_text())
    assert result["meta"]["cache"] == "dual"
    assert "--cache dual" in result["meta"]["command"]
    assert set(result["meta"]["uncached_static"]) >= {"tokens_per_second", "accuracy", "exact_match_vs_cached_static"}
    for row in result["rows"]:
        assert row["cache"] == "dual"
        assert row["exact_match_vs_base"] == 1.0
        assert 0.0 <= row["exact_match_vs_uncached_static"] <= 1.0
