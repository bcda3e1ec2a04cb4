"""The heart of the suite: FreeDave output == static output, token for token."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from freedave.decoding import (
    DecodeConfig,
    FreeDave,
    FreeDaveThreshold,
    Threshold,
    attainable_nfe,
    decode_freedave,
    decode_static,
    decode_threshold,
    oracle_nfe,
)
from helpers import VOCAB, prompt_st, sampling_st, tiny_denoiser


@given(
    family=st.sampled_from(["block", "full", "shifted"]),
    model_seed=st.integers(0, 5),
    prompts=st.lists(prompt_st, min_size=1, max_size=3),
    block_size=st.integers(1, 6),
    max_new_tokens=st.integers(1, 20),
    depth=st.one_of(st.integers(1, 32), st.just("auto")),
    sampling=sampling_st,
    use_cache=st.booleans(),
    lookahead=st.sampled_from([1, 0]),
    cross_blocks=st.booleans(),
    branches=st.sampled_from([0, 0, 1, 2, 6]),  # runner-up rows (a draft tree; greedy decoding only)
)
def test_freedave_equals_static(family, model_seed, prompts, block_size, max_new_tokens, depth, sampling, use_cache,
                                lookahead, cross_blocks, branches):
    den = tiny_denoiser(family, model_seed, VOCAB, use_cache=use_cache)
    den.draft_lookahead_blocks = lookahead  # 0: drafts stop at the block edge (approximate caches)
    cfg = DecodeConfig(max_new_tokens=max_new_tokens, block_size=block_size, sampling=sampling)
    static = decode_static(den, prompts, cfg, trace=True)
    fast = decode_freedave(den, prompts, cfg, FreeDave(depth, cross_blocks=cross_blocks, draft_branches=branches))
    for s, f in zip(static, fast, strict=True):
        assert f.token_ids == s.token_ids
        assert f.steps == s.steps
        assert f.nfe <= s.nfe
        assert sum(f.accepted) == f.tokens_decoded == s.tokens_decoded
        bound = attainable_nfe(s.reach)
        # a tree raises the reach itself: only a chain is bounded by the chain's attainable path
        assert oracle_nfe(s.reach) <= bound and (branches or bound <= f.nfe)
        if depth == 1:
            assert f.nfe == s.nfe


@given(
    family=st.sampled_from(["block", "full", "shifted"]),
    model_seed=st.integers(0, 5),
    prompts=st.lists(prompt_st, min_size=1, max_size=3),
    block_size=st.integers(1, 6),
    max_new_tokens=st.integers(1, 20),
    depth=st.integers(1, 32),
    tau=st.sampled_from([0.05, 0.2, 0.5, 0.9, 1.0]),
    sampling=sampling_st,
)
def test_freedave_threshold_equals_threshold(family, model_seed, prompts, block_size, max_new_tokens, depth, tau, sampling):
    den = tiny_denoiser(family, model_seed, VOCAB)
    cfg = DecodeConfig(max_new_tokens=max_new_tokens, block_size=block_size, sampling=sampling)
    base = decode_threshold(den, prompts, cfg, Threshold(tau))
    fast = decode_freedave(den, prompts, cfg, FreeDaveThreshold(depth, tau))
    for b, f in zip(base, fast, strict=True):
        assert f.token_ids == b.token_ids
        assert f.steps == b.steps
        assert f.nfe <= b.nfe
        if depth == 1:
            assert f.nfe == b.nfe


@given(
    model_seed=st.integers(0, 5),
    prompts=st.lists(prompt_st, min_size=2, max_size=5),
    sampling=sampling_st,
    depth=st.integers(1, 16),
)
def test_output_does_not_depend_on_batch(model_seed, prompts, sampling, depth):
    """A prompt's output is the same alone or in any batch (and the prompt index keys the draws)."""
    den = tiny_denoiser("block", model_seed, VOCAB)
    cfg = DecodeConfig(max_new_tokens=12, block_size=4, sampling=sampling)
    together = decode_freedave(den, prompts, cfg, FreeDave(depth, draft_branches=depth % 3))  # chains and trees
    static = decode_static(den, prompts, cfg)
    for i, p in enumerate(prompts):
        # alone, as a batch of one at the same place in the request
        alone = decode_static(den, [p], cfg, first_index=i)[0]
        assert together[i].token_ids == static[i].token_ids == alone.token_ids
