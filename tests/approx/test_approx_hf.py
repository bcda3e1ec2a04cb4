"""Approximate caches on ``HFDenoiser`` (Llama / Qwen2 / Qwen3 weights, GQA) as LLaDA / Dream."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from freedave.decoding import (
    DecodeConfig,
    FreeDave,
    FreeDaveThreshold,
    Sampling,
    Static,
    Threshold,
    decode,
)
from freedave.decoding.protocol import Query
from freedave.models.approx_cache import ApproxCacheDenoiser

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hf"))
pytest.importorskip("transformers")
from hf_tiny import EOS, MASK, library_model  # noqa: E402


def hf_denoiser(arch: str, family: str):
    from freedave.models.hf import HFDenoiser

    return HFDenoiser(library_model(arch), family, mask_id=MASK, eos_id=EOS, use_cache=False)


@pytest.mark.parametrize(("arch", "family"), [("llama", "full"), ("qwen2", "shifted"), ("qwen3", "full")])
@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_hf_refresh_exact_and_freedave_equals_static(arch, family, mode):
    base = hf_denoiser(arch, family)
    prompt = [5, 9, 17, 40, 22]
    x = torch.tensor(prompt + [7, 8, 11, 30] + [MASK] * 12)[None]
    den = ApproxCacheDenoiser(base, mode)
    (got,) = den.logits([Query(x, 5, 4, 9, 13, den.new_cache())])
    (want,) = base.logits([Query(x, 5, 4, 9, 13)])
    assert torch.equal(got, want)
    prompts = [prompt, [60, 61, 62]]
    for sampling in (Sampling(), Sampling(temperature=0.8, top_p=0.9, seed=3)):
        cfg = DecodeConfig(max_new_tokens=16, block_size=4, sampling=sampling)
        static = decode(ApproxCacheDenoiser(base, mode), prompts, cfg, Static())
        fast = decode(ApproxCacheDenoiser(base, mode), prompts, cfg, FreeDave(8))
        assert [r.token_ids for r in fast] == [r.token_ids for r in static]
        assert all(f.model_calls <= s.model_calls for f, s in zip(fast, static, strict=True))
        thr = decode(ApproxCacheDenoiser(base, mode), prompts, cfg, Threshold(0.5))
        fthr = decode(ApproxCacheDenoiser(base, mode), prompts, cfg, FreeDaveThreshold(8, 0.5))
        assert [r.token_ids for r in fthr] == [r.token_ids for r in thr]

