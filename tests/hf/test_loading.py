"""Native layouts load through the renaming path with the library class's numerics; bad folders
are refused with one line; a checkpoint's own code is never imported without the flag."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from hf_tiny import MASK, SENTINEL, block_mask, library_model, save_plain
from safetensors.torch import load_file, save_file

from freedave.cli import main
from freedave.decoding.common import DecodeError
from freedave.models.loading import load

P, N = 5, 13  # prompt length, canvas length


def canvas(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, 128, (2, N), generator=g)
    x[:, P + 3 :: 2] = MASK
    return x


def library_logits(model, x, mask, shift: bool) -> torch.Tensor:
    with torch.no_grad():
        out = model(input_ids=x, attention_mask=mask.expand(x.shape[0], 1, N, N)).logits
    return torch.cat([out[:, :1], out[:, :-1]], dim=1) if shift else out


@pytest.mark.parametrize("kind,layout", [("llada", None), ("dream", None), ("sdar", "aligned"), ("sdar", "prompt")])
def test_native_layout_matches_library_class(ckpts, kind, layout):
    loaded = load(ckpts[kind])
    arch = {"llada": "llama", "dream": "qwen2", "sdar": "qwen3"}[kind]
    model = library_model(arch)  # the same seed wrote the checkpoint
    x = canvas()
    if kind == "sdar":
        mask = block_mask(N, P, 4, aligned=layout == "aligned")[None, None]
    else:
        mask = torch.ones(1, 1, N, N, dtype=torch.bool)
    want = library_logits(model, x, mask, shift=kind == "dream")
    got = loaded.denoiser.window_logits(x, P, 4, 0, N, block_layout=layout)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert loaded.family == {"llada": "full", "dream": "shifted", "sdar": "block"}[kind]


def test_block_cache_is_exact(ckpts):
    den = load(ckpts["sdar"]).denoiser
    x = canvas()
    cache = den.new_cache()
    assert cache is not None
    prompt = "prompt"  # blocks from the prompt end (aligned: tests/hf/test_block_layout.py)
    den.window_logits(x[:1], P, 4, P, P + 4, cache, prompt)  # writes the prompt
    den.window_logits(x[:1], P, 4, P + 4, P + 8, cache, prompt)  # writes block 0
    cached = den.window_logits(x, P, 4, P + 8, N, cache, prompt)
    plain = den.window_logits(x, P, 4, P + 8, N, None, prompt)
    assert torch.equal(cached, plain)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("kind", ["llada", "dream", "sdar"])
def test_rows_are_batch_invariant(ckpts, kind, dtype):
    torch.set_num_threads(2)  # the CPU SDPA kernel splits work across threads by batch x heads
    den = load(ckpts[kind], dtype=dtype).denoiser
    x = torch.randint(4, 128, (7, N), generator=torch.Generator().manual_seed(1))
    x[:, P + 4 :] = MASK
    x[:, :P] = x[0, :P]
    batch = den.window_logits(x, P, 4, P, P + 4)
    for i in (0, 3, 6):
        assert torch.equal(den.window_logits(x[i : i + 1], P, 4, P, P + 4), batch[i : i + 1])


def test_sharded_checkpoint(tmp_path):
    model = library_model("qwen3")
    model.config.mask_token_id = MASK
    model.save_pretrained(str(tmp_path), max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    den = load(tmp_path, family="full").denoiser
    x = canvas()
    want = library_logits(model, x, torch.ones(1, 1, N, N, dtype=torch.bool), shift=False)
    torch.testing.assert_close(den.window_logits(x, P, 4, 0, N), want, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Attention follows the family


def changed_positions(den, x, j, layout: str = "prompt") -> list[int]:
    y = x.clone()
    y[:, j] = 4 + (y[:, j] - 3) % 120
    a, b = den.window_logits(x, P, 4, 0, N, None, layout), den.window_logits(y, P, 4, 0, N, None, layout)
    return [i for i in range(N) if not torch.equal(a[:, i], b[:, i])]


@pytest.mark.parametrize("kind", ["llama", "qwen3"])
def test_family_decides_who_sees_whom(ckpts, kind):
    x = canvas()
    block = load(ckpts[kind], family="block").denoiser
    full = load(ckpts[kind], family="full").denoiser
    # block family: prompt = positions 0..4, blocks 5..8, 9..12
    assert changed_positions(block, x, 10) == list(range(9, 13))  # its own block only
    assert changed_positions(block, x, 6) == list(range(5, 13))  # its block and later blocks
    assert changed_positions(block, x, 2) == list(range(13))  # the prompt is bidirectional
    # aligned (SDAR/TraDo): blocks 0..3, 4..7, 8..11, 12 from position 0, the prompt's too
    assert changed_positions(block, x, 10, "aligned") == list(range(8, 13))
    assert changed_positions(block, x, 5, "aligned") == list(range(4, 13))  # the prompt tail's block
    assert changed_positions(block, x, 2, "aligned") == list(range(13))
    assert changed_positions(block, x, 12, "aligned") == [12]
    assert changed_positions(full, x, 10) == list(range(13))  # full: everything sees everything
    shifted = load(ckpts[kind], family="shifted").denoiser
    assert changed_positions(shifted, x, 12) == list(range(13))


# ---------------------------------------------------------------------------------------------
# Bad folders: one line naming the problem


def cli_error(capsys, *argv) -> str:
    capsys.readouterr()  # drop what building the checkpoint printed
    assert main(["generate", "--prompt", "t9 t10", "--max-new-tokens", "4", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "kind,tensor",
    [
        ("llada", "model.transformer.blocks.1.ff_proj.weight"),
        ("llada", "model.transformer.ff_out.weight"),
        ("dream", "model.layers.0.self_attn.q_proj.bias"),
        ("sdar", "model.layers.1.self_attn.k_norm.weight"),
    ],
)
def test_missing_wrong_or_misnamed_weight(capsys, ckpts, tmp_path, kind, tensor):
    for how in ("missing", "shape", "renamed"):
        bad = tmp_path / f"{kind}-{how}"
        shutil.copytree(ckpts[kind], bad)
        state = load_file(str(bad / "model.safetensors"))
        t = state.pop(tensor)
        if how == "shape":
            state[tensor] = t[..., :-1].contiguous()
        elif how == "renamed":
            state[tensor.replace(".weight", ".wieght").replace(".bias", ".bais")] = t
        save_file(state, str(bad / "model.safetensors"))
        err = cli_error(capsys, "--model", str(bad))
        if how == "renamed" and kind == "llada":
            assert "unexpected tensor" in err
        else:
            assert repr(tensor) in err, err


def test_pickle_weights_refused(capsys, ckpts, tmp_path):
    bad = tmp_path / "pickled"
    shutil.copytree(ckpts["qwen3"], bad)
    (bad / "model.safetensors").unlink()
    (bad / "pytorch_model.bin").write_bytes(b"not unpickled")
    assert "safetensors only" in cli_error(capsys, "--model", str(bad), "--family", "block")


def test_missing_mask_token_names_the_flag(capsys, tmp_path):
    path = save_plain(tmp_path / "nomask", "llama")
    cfg = json.loads((path / "config.json").read_text())
    del cfg["mask_token_id"]
    (path / "config.json").write_text(json.dumps(cfg))
    tcfg = json.loads((path / "tokenizer_config.json").read_text())
    tcfg.pop("mask_token", None)
    (path / "tokenizer_config.json").write_text(json.dumps(tcfg))
    tok = json.loads((path / "tokenizer.json").read_text())
    tok["added_tokens"] = [t for t in tok["added_tokens"] if t["content"] != "<mask>"]
    (path / "tokenizer.json").write_text(json.dumps(tok))
    assert "--mask-token-id" in cli_error(capsys, "--model", str(path), "--family", "full")
    assert main(["generate", "--model", str(path), "--family", "full", "--mask-token-id", "3",
                 "--prompt", "t9 t10", "--max-new-tokens", "4", "--json"]) == 0


def test_plain_checkpoint_needs_a_family(capsys, ckpts):
    assert "--family" in cli_error(capsys, "--model", str(ckpts["llama"]))


# ---------------------------------------------------------------------------------------------
# Remote code


@pytest.mark.parametrize("kind", ["llada", "dream", "sdar"])
def test_shipped_modeling_code_is_not_imported(ckpts, kind):
    load(ckpts[kind])
    assert not (ckpts[kind] / SENTINEL).exists()


def test_unknown_architecture_needs_the_flag(capsys, ckpts, tmp_path):
    path = tmp_path / "exotic"
    shutil.copytree(ckpts["dream"], path)
    cfg = json.loads((path / "config.json").read_text())
    cfg |= {"model_type": "exotic_dlm", "architectures": ["ExoticModel"],
            "auto_map": {"AutoConfig": "modeling_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"}}
    (path / "config.json").write_text(json.dumps(cfg))
    err = cli_error(capsys, "--model", str(path))
    assert "--trust-remote-code" in err
    assert not (path / SENTINEL).exists()
    with pytest.raises(DecodeError):
        load(path)
    assert not (path / SENTINEL).exists()


@pytest.mark.parametrize("kind,dtype", [("llada", "float32"), ("dream", "bfloat16"), ("sdar", "float32"), ("sdar", "bfloat16")])
def test_freedave_check_passes(capsys, ckpts, kind, dtype):
    """``freedave check`` on these models: batch-invariant, and the block cache exact."""
    capsys.readouterr()
    assert main(["check", "--model", str(ckpts[kind]), "--dtype", dtype, "--max-batch", "6", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["batch_invariant"] and report["max_abs_diff"] == 0.0
    assert report["cache_exact"] is (True if kind == "sdar" else None)
