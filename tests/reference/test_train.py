from __future__ import annotations

import json

import pytest
import torch

import freedave
from freedave.cli import main
from freedave.models.reference import ReferenceModel
from freedave.models.reference_tokenizer import build_tokenizer
from freedave.tasks.reference import train_problems
from freedave.train import TrainConfig, encode_pairs, make_batch, model_config

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def test_two_stream_training_sees_the_inference_context() -> None:
    """The dense two-stream forward gives, for noisy block b, the logits inference computes from
    prompt + clean blocks < b + noisy block b."""
    torch.manual_seed(0)
    cfg = TrainConfig(**TINY)
    tok = build_tokenizer()
    model = ReferenceModel(model_config(cfg, len(tok))).eval()
    pairs = encode_pairs(tok, train_problems(6), cfg.gen_length)
    batch = make_batch(pairs, cfg.block_size, torch.Generator().manual_seed(0))
    with torch.no_grad():
        dense = model(batch["input_ids"], attn_mask=batch["attn_mask"], position_ids=batch["position_ids"])
    pmax, b = int(batch["pmax"]), cfg.block_size
    for i, (prompt, _) in enumerate(pairs):
        noisy = batch["input_ids"][i, pmax : pmax + cfg.gen_length]
        clean = batch["targets"][i]
        p = len(prompt)
        for k in range(cfg.gen_length // b):
            x = torch.cat([torch.tensor(prompt), clean[: k * b], noisy[k * b : (k + 1) * b]])[None]
            want = model.window_logits(x, p, b, p + k * b, p + (k + 1) * b)[0]
            got = dense[i, pmax + k * b : pmax + (k + 1) * b]
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_masks_only_response_blocks_up_to_eos() -> None:
    tok = build_tokenizer()
    pairs = encode_pairs(tok, train_problems(16), 48)
    batch = make_batch(pairs, 16, torch.Generator().manual_seed(1))
    masked, targets = batch["masked"], batch["targets"]
    first_eos = (targets == tok.eos_token_id).float().argmax(dim=1)
    for row in range(len(pairs)):
        last_block = int(first_eos[row]) // 16
        assert masked[row, (last_block + 1) * 16 :].sum() == 0
        for k in range(last_block + 1):
            assert masked[row, k * 16 : (k + 1) * 16].any()


def test_a_few_training_steps_write_a_loadable_checkpoint(tmp_path, capsys) -> None:
    out = tmp_path / "ckpt"
    argv = ["train-reference", "--out", str(out), "--steps", "3", "--batch-size", "4", "--train-size", "64",
            "--hidden-size", "32", "--num-hidden-layers", "1", "--num-attention-heads", "2",
            "--intermediate-size", "64", "--eval-size", "0", "--no-progress", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["parameters"] > 0 and summary["final_loss"] > 0
    for name in ("config.json", "model.safetensors", "tokenizer.json", "loss_curve.png", "training.json"):
        assert (out / name).is_file(), name
    loaded = freedave.load(out)
    assert loaded.family == "block" and loaded.block_size == 16


def test_bad_train_config() -> None:
    with pytest.raises(ValueError, match="gen_length"):
        TrainConfig(gen_length=40, block_size=16)
