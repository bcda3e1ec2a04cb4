"""Broken checkpoints give one-line errors and exit code 2."""

from __future__ import annotations

import json

import pytest

from freedave.cli import main


def run(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("freedave: error:") and "\n" not in err, err
    return err


def generate(path) -> list[str]:  # noqa: ANN001
    return ["generate", "--model", str(path), "--prompt", "add 12+34", "--strategy", "static"]


def test_corrupt_safetensors(checkpoint_copy, capsys) -> None:
    weights = checkpoint_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[:8] = b"\xff" * 8  # header length garbage
    weights.write_bytes(bytes(data))
    assert "safetensors" in run(capsys, generate(checkpoint_copy))


def test_truncated_safetensors(checkpoint_copy, capsys) -> None:
    weights = checkpoint_copy / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    assert "safetensors" in run(capsys, generate(checkpoint_copy))


def test_config_without_mask_token_id(checkpoint_copy, capsys) -> None:
    cfg_path = checkpoint_copy / "config.json"
    cfg = json.loads(cfg_path.read_text())
    del cfg["mask_token_id"]
    cfg_path.write_text(json.dumps(cfg))
    assert "mask_token_id" in run(capsys, generate(checkpoint_copy))


@pytest.mark.parametrize("command", ["generate", "info", "demo"])
def test_missing_tokenizer(checkpoint_copy, capsys, command: str) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (checkpoint_copy / name).unlink()
    argv = generate(checkpoint_copy) if command == "generate" else [command, "--model", str(checkpoint_copy)]
    if command == "info":
        assert main(argv + ["--json"]) == 0  # a folder without a tokenizer can still be described
        assert json.loads(capsys.readouterr().out)["tokenizer"] is False
        return
    assert "tokenizer" in run(capsys, argv)


def test_bundled_checkpoint_without_tokenizer(checkpoint_copy, capsys, monkeypatch) -> None:
    import freedave.models.loading as loading
    import freedave.models.reference_io as reference_io

    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (checkpoint_copy / name).unlink()
    monkeypatch.setattr(loading, "REFERENCE_PATH", checkpoint_copy)
    monkeypatch.setattr(reference_io, "REFERENCE_PATH", checkpoint_copy)
    assert "tokenizer" in run(capsys, ["info", "--model", "reference"])
