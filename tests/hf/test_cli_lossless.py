"""FreeDave == static, token for token, on tiny checkpoints of each family loaded through the CLI."""

from __future__ import annotations

import json

import pytest

from freedave.cli import main

PROMPTS = ["t9 t10 t11 t12 t13", "t40 t41 t42", "t100 t7 t8 t9 t20 t21 t22"]


def run(capsys, path, family, strategy, prompts, temperature, depth=8, block=4, extra=()):
    argv = ["generate", "--model", str(path), "--strategy", strategy, "--draft-depth", str(depth),
            "--max-new-tokens", "16", "--block-size", str(block), "--temperature", str(temperature),
            "--seed", "7", "--json", *extra]
    if family:
        argv += ["--family", family]
    for p in prompts:
        argv += ["--prompt", p]
    assert main(argv) == 0, capsys.readouterr().err
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("kind,family", [("llama", "full"), ("qwen2", "shifted"), ("qwen3", "block")])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
@pytest.mark.parametrize("n_prompts", [1, 3])
def test_freedave_equals_static(capsys, ckpts, kind, family, temperature, n_prompts):
    prompts = PROMPTS[:n_prompts]
    static = run(capsys, ckpts[kind], family, "static", prompts, temperature)
    for depth in (2, 8):
        fast = run(capsys, ckpts[kind], family, "freedave", prompts, temperature, depth=depth)
        for s, f in zip(static, fast, strict=True):
            assert f["token_ids"] == s["token_ids"]
            assert f["nfe"] <= s["nfe"]


@pytest.mark.parametrize("kind", ["llada", "dream", "sdar"])
def test_native_checkpoints_decode_losslessly(capsys, ckpts, kind):
    """The published layouts, family from the config (no --family), chat template applied."""
    static = run(capsys, ckpts[kind], None, "static", PROMPTS[:2], 1.0, extra=("--chat",))
    fast = run(capsys, ckpts[kind], None, "freedave", PROMPTS[:2], 1.0, extra=("--chat",))
    assert [r["token_ids"] for r in fast] == [r["token_ids"] for r in static]
    assert all(len(r["token_ids"]) > 0 for r in static)
