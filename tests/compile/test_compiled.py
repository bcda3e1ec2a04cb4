"""``--compile``: the compiled forward decodes the same tokens as the eager one, stays batch-invariant
with an exact cache (``freedave check --compile``), is never the default, and refuses what it cannot
do in one line. The bundled model is compiled once for the module (seconds on CPU)."""

from __future__ import annotations

import pytest
import torch

from freedave.cli import main
from freedave.decoding import DecodeConfig, FreeDave, Static, Threshold, decode
from freedave.errors import ModelError
from freedave.models.compiled import CompiledStack, check_available
from freedave.models.loading import load
from freedave.tasks import get_task

STRATEGIES = [Static(), Threshold(0.9), FreeDave(4), FreeDave(8, cross_blocks=False), FreeDave("auto")]


@pytest.fixture(scope="module")
def models():
    torch.set_num_threads(1)
    return load("reference"), load("reference", compile=True)


@pytest.fixture(scope="module")
def prompts(models):
    eager, _ = models
    return [eager.encode(p.prompt) for p in get_task("reference", None, 4).problems(4)]


def test_compile_is_opt_in_and_records_its_time(models):
    eager, compiled = models
    assert eager.denoiser.compiled_stack is None and eager.compile_seconds is None
    assert isinstance(compiled.denoiser.compiled_stack, CompiledStack)
    assert compiled.compile_seconds > 0


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: f"{s.name}-{getattr(s, 'draft_depth', '')}")
def test_compiled_tokens_equal_eager_tokens(models, prompts, strategy):
    eager, compiled = models
    cfg = DecodeConfig(max_new_tokens=32, block_size=eager.block_size)
    want = decode(eager.denoiser, prompts, cfg, strategy)
    got = decode(compiled.denoiser, prompts, cfg, strategy)
    assert [r.token_ids for r in got] == [r.token_ids for r in want]
    if getattr(strategy, "draft_depth", None) != "auto":  # auto picks d from measured timings
        assert [r.nfe for r in got] == [r.nfe for r in want]
    if strategy.name == "freedave":  # and FreeDave still equals static under compile
        static = decode(compiled.denoiser, prompts, cfg, Static())
        assert [r.token_ids for r in got] == [r.token_ids for r in static]


def test_compiled_logits_close_to_eager(models):
    from freedave.check import compiled_vs_eager

    _, compiled = models
    diff = compiled_vs_eager(compiled.denoiser, "cpu")
    assert 0.0 <= diff < 1e-4  # fused norms may reorder float additions; the tokens above agree


def test_check_compile_passes_on_cpu(capsys):
    code = main(["check", "--compile", "--max-batch", "4", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"compile": true' in out and '"batch_invariant": true' in out and '"cache_exact": true' in out


@pytest.mark.parametrize("argv, words", [
    (["generate", "--prompt", "1+2=", "--compile", "--cache", "prefix"], "--compile works with --cache none only"),
    (["check", "--compile", "--deterministic", "--device", "cuda"], "--compile cannot be combined with --deterministic on cuda"),
    (["bench", "--compile", "--cache", "dual", "--limit", "1"], "--compile works with --cache none only"),
])
def test_flag_errors_are_one_line(capsys, argv, words):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1 and err.startswith("freedave: error: ")


def test_unavailable_devices_refuse_in_one_line():
    with pytest.raises(ModelError, match="--compile supports cpu and cuda devices, not mps"):
        check_available("mps")
    with pytest.raises(ModelError, match="has no compiled path"):
        CompiledStack(object(), "cpu")
