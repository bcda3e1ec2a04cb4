"""The ``aligned`` block layout (SDAR/TraDo: blocks from position 0) keeps every lossless property:
FreeDave == static, a prompt decodes the same alone or batched, the cache changes nothing, and the
streamed blocks are a growing prefix of the final output."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from freedave.decoding import (
    DecodeConfig,
    DecodeHooks,
    FreeDave,
    attainable_nfe,
    decode_freedave,
    decode_static,
)
from freedave.decoding.common import new_canvases
from helpers import VOCAB, prompt_st, sampling_st, tiny_denoiser

ALIGNED = "aligned"


@settings(max_examples=25)
@given(
    model_seed=st.integers(0, 5),
    prompts=st.lists(prompt_st, min_size=1, max_size=3),
    block_size=st.integers(1, 6),
    max_new_tokens=st.integers(1, 14),
    depth=st.one_of(st.integers(1, 16), st.just("auto")),
    sampling=sampling_st,
    use_cache=st.booleans(),
    cross_blocks=st.booleans(),
)
def test_freedave_equals_static_aligned(model_seed, prompts, block_size, max_new_tokens, depth, sampling, use_cache,
                                        cross_blocks):
    den = tiny_denoiser("block", model_seed, VOCAB, use_cache=use_cache)
    cfg = DecodeConfig(max_new_tokens=max_new_tokens, block_size=block_size, sampling=sampling, block_layout=ALIGNED)
    static = decode_static(den, prompts, cfg, trace=True)
    fast = decode_freedave(den, prompts, cfg, FreeDave(depth, cross_blocks=cross_blocks))
    plain = decode_static(tiny_denoiser("block", model_seed, VOCAB, use_cache=not use_cache), prompts, cfg)
    for s, f, u in zip(static, fast, plain, strict=True):
        assert f.token_ids == s.token_ids == u.token_ids  # with or without the exact cache
        assert f.steps == s.steps
        assert f.nfe <= s.nfe
        assert attainable_nfe(s.reach) <= f.nfe
        if depth == 1:
            assert f.nfe == s.nfe


@settings(max_examples=25)
@given(prompt_len=st.integers(1, 12), block_size=st.integers(1, 7), max_new_tokens=st.integers(1, 20))
def test_aligned_canvas_ends_on_a_block_boundary_from_zero(prompt_len, block_size, max_new_tokens):
    den = tiny_denoiser("block", 0, VOCAB)
    cfg = DecodeConfig(max_new_tokens=max_new_tokens, block_size=block_size, block_layout=ALIGNED)
    (c,) = new_canvases(den, [[5] * prompt_len], cfg)
    n = c.x.shape[0]
    assert n % block_size == 0 and max_new_tokens <= n - prompt_len < max_new_tokens + block_size
    start = c.layout.active_start(c.x)
    assert start == prompt_len // block_size * block_size <= prompt_len  # the block holding the prompt end


@settings(max_examples=15)
@given(model_seed=st.integers(0, 5), prompts=st.lists(prompt_st, min_size=2, max_size=4), depth=st.integers(1, 8))
def test_aligned_batch_invariance_and_streaming(model_seed, prompts, depth):
    den = tiny_denoiser("block", model_seed, VOCAB)
    cfg = DecodeConfig(max_new_tokens=11, block_size=4, block_layout=ALIGNED)
    seen: dict[int, list[list[int]]] = {}
    hooks = DecodeHooks(on_progress=lambda i, ids: seen.setdefault(i, []).append(list(ids)))
    together = decode_freedave(den, prompts, cfg, FreeDave(depth), hooks=hooks)
    for i, p in enumerate(prompts):
        alone = decode_static(den, [p], cfg, first_index=i)[0]
        assert together[i].token_ids == alone.token_ids
        reports = seen.get(i, [])
        for a, b in zip(reports, reports[1:], strict=False):
            assert len(a) < len(b) and b[: len(a)] == a  # finished blocks only grow
        if reports:
            assert together[i].token_ids[: len(reports[-1])] == reports[-1]
