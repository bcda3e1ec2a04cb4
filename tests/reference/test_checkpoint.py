"""The committed checkpoint: standard HF files, loadable, small, and accurate on held-out problems."""

from __future__ import annotations

import json

import torch

import freedave
from freedave.cli import main
from freedave.decoding import DecodeConfig, Static, Threshold, decode
from freedave.models.loading import REFERENCE_PATH
from freedave.tasks.reference import ReferenceTask


def test_files_and_size() -> None:
    names = {f.name for f in REFERENCE_PATH.iterdir()}
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        assert name in names
    assert not {n for n in names if n.endswith((".bin", ".pt", ".pth", ".ckpt"))}
    size = sum(f.stat().st_size for f in REFERENCE_PATH.iterdir() if f.is_file())
    assert size <= 20 * 2**20


def test_config_keys() -> None:
    cfg = json.loads((REFERENCE_PATH / "config.json").read_text())
    assert cfg["model_type"] == "freedave_reference"
    for key in ("mask_token_id", "block_size", "eos_token_id", "pad_token_id", "vocab_size"):
        assert cfg[key] is not None, key


def test_loads_with_auto_classes() -> None:
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer

    freedave.models.register_auto_classes()  # explicit: import freedave alone does not load transformers
    cfg = AutoConfig.from_pretrained(str(REFERENCE_PATH))
    model = AutoModel.from_pretrained(str(REFERENCE_PATH), use_safetensors=True)
    assert type(model).__name__ == "ReferenceModel"
    assert type(AutoModelForMaskedLM.from_pretrained(str(REFERENCE_PATH))).__name__ == "ReferenceModel"
    tok = AutoTokenizer.from_pretrained(str(REFERENCE_PATH))
    assert tok.mask_token_id == cfg.mask_token_id and tok.eos_token_id == cfg.eos_token_id
    assert tok.pad_token_id == cfg.pad_token_id and len(tok) == cfg.vocab_size
    # the bundled weights, loaded by freedave, match what AutoModel loaded
    ours = freedave.load("reference").model
    for (name, a), (_, b) in zip(ours.state_dict().items(), model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def accuracy(problems, strategy=Static()) -> float:  # noqa: ANN001, B008
    task = ReferenceTask()
    loaded = freedave.load("reference")
    results = decode(loaded.denoiser, [loaded.encode(p.prompt) for p in problems],
                     DecodeConfig(max_new_tokens=48, block_size=loaded.block_size), strategy)
    correct = sum(task.score(p, loaded.decode(r.token_ids)) for p, r in zip(problems, results, strict=True))
    return correct / len(problems)


def test_heldout_static_accuracy() -> None:
    """Issue 4: static decoding is accurate on the held-out split (fixed sample, every kind)."""
    problems = ReferenceTask().problems(60)
    assert {p.kind for p in problems} == {"add", "mark", "copy"}
    assert accuracy(problems) >= 0.90


def test_threshold_loses_accuracy_on_mark() -> None:
    """Issue 4: threshold decoding at a tau users pick visibly loses accuracy where static does not."""
    problems = [p for p in ReferenceTask().problems(60) if p.kind == "mark"][:16]
    static = accuracy(problems)
    assert static >= 0.9
    assert accuracy(problems, Threshold(threshold=0.9)) <= static - 0.25


def test_info_json(capsys) -> None:
    assert main(["info", "--model", "reference", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in ("path", "family", "block_size", "mask_token_id", "eos_token_id", "vocab_size", "parameters"):
        assert info[key] is not None, key
    assert info["family"] == "block" and info["parameters"] > 100_000
