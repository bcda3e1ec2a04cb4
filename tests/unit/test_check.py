import json

import torch

import freedave.models.invariant as helpers_mod
import freedave.models.reference as ref
from freedave.check import check_denoiser
from freedave.cli import main
from freedave.models.adapters import ReferenceDenoiser
from helpers import tiny_config, tiny_denoiser


def test_check_passes_with_row_tiles():
    sizes, invariant, diff, cache_exact, _ = check_denoiser(tiny_denoiser("block", 4, 64), max_batch=12)
    assert sizes == list(range(1, 13)) and invariant and diff == 0.0 and cache_exact


def test_check_detects_batch_dependence(monkeypatch):
    # without fixed-shape tiles the CPU GEMM rounds small row counts differently
    monkeypatch.setattr(helpers_mod, "ROW_TILE", 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the rounding difference shows with the default 2 threads
    torch.manual_seed(0)
    model = ref.ReferenceModel(tiny_config("full", 64, hidden_size=128, intermediate_size=384)).eval()
    try:
        _, invariant, diff, _, _ = check_denoiser(ReferenceDenoiser(model), max_batch=12)
    finally:
        torch.set_num_threads(threads)
    assert not invariant and diff > 0


def test_check_cli_json(capsys, tiny_ckpt):
    assert main(["check", "--model", str(tiny_ckpt), "--json", "--max-batch", "6"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["batch_invariant"] is True and rep["cache_exact"] is True and rep["family"] == "block"
