"""With an approximate cache, FreeDave == static and FreeDave-threshold == threshold (same cache)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from freedave.decoding import (
    DecodeConfig,
    FreeDave,
    FreeDaveThreshold,
    Threshold,
    decode_freedave,
    decode_static,
    decode_threshold,
)
from freedave.models.approx_cache import ApproxCacheDenoiser
from helpers import VOCAB, prompt_st, sampling_st, tiny_denoiser

common = dict(
    family=st.sampled_from(["full", "shifted"]),
    mode=st.sampled_from(["prefix", "dual"]),
    model_seed=st.integers(0, 5),
    prompts=st.lists(prompt_st, min_size=1, max_size=3),
    block_size=st.integers(1, 6),
    max_new_tokens=st.integers(1, 20),
    depth=st.integers(1, 16),
    sampling=sampling_st,
)


def cached(family: str, seed: int, mode: str) -> ApproxCacheDenoiser:
    return ApproxCacheDenoiser(tiny_denoiser(family, seed, VOCAB, use_cache=False), mode)


@given(**common)
def test_freedave_equals_static_with_cache(family, mode, model_seed, prompts, block_size, max_new_tokens, depth, sampling):
    cfg = DecodeConfig(max_new_tokens=max_new_tokens, block_size=block_size, sampling=sampling)
    static = decode_static(cached(family, model_seed, mode), prompts, cfg)
    fast = decode_freedave(cached(family, model_seed, mode), prompts, cfg, FreeDave(depth))
    for s, f in zip(static, fast, strict=True):
        assert f.token_ids == s.token_ids
        assert f.steps == s.steps
        assert f.model_calls <= s.model_calls  # passes may exceed static's: a drafted refresh is one
        assert sum(f.accepted) == f.tokens_decoded == s.tokens_decoded


@given(**common, tau=st.sampled_from([0.05, 0.2, 0.5, 0.9, 1.0]))
def test_freedave_threshold_equals_threshold_with_cache(family, mode, model_seed, prompts, block_size, max_new_tokens,
                                                        depth, sampling, tau):
    cfg = DecodeConfig(max_new_tokens=max_new_tokens, block_size=block_size, sampling=sampling)
    base = decode_threshold(cached(family, model_seed, mode), prompts, cfg, Threshold(tau))
    fast = decode_freedave(cached(family, model_seed, mode), prompts, cfg, FreeDaveThreshold(depth, tau))
    for b, f in zip(base, fast, strict=True):
        assert f.token_ids == b.token_ids
        assert f.steps == b.steps
        assert f.model_calls <= b.model_calls


@given(**common)
def test_output_does_not_depend_on_batch_with_cache(family, mode, model_seed, prompts, block_size, max_new_tokens, depth,
                                                    sampling):
    """A prompt decoded alone (with its own cache) or beside others gives the same tokens."""
    cfg = DecodeConfig(max_new_tokens=max_new_tokens, block_size=block_size, sampling=sampling)
    together = decode_freedave(cached(family, model_seed, mode), prompts, cfg, FreeDave(depth))
    for i, p in enumerate(prompts):
        alone = decode_static(cached(family, model_seed, mode), [p], cfg, first_index=i)[0]
        assert together[i].token_ids == alone.token_ids
