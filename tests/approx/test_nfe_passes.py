"""NFE counts every network pass: a hook on the embedding module counts the passes actually run,
and the decoders' NFE must equal them (an approximate cache's refresh is a pass of its own);
``model_calls`` counts the denoiser calls."""

from __future__ import annotations

import pytest

from freedave.decoding import DecodeConfig, FreeDave, decode_freedave, decode_static
from freedave.decoding.optimal import attainable_nfe
from freedave.models.approx_cache import ApproxCacheDenoiser
from helpers import tiny_denoiser

PROMPTS = [[5, 9, 11], [7, 4, 4, 12, 30, 6, 8], [20]]


class PassCounter:
    """Counts forward calls of the model's embedding (every pass embeds its rows once)."""

    def __init__(self, model) -> None:  # noqa: ANN001
        self.n = 0
        self.handle = model.embed_tokens.register_forward_hook(self.hook)

    def hook(self, *_) -> None:  # noqa: ANN002
        self.n += 1


def denoiser(family: str, cache: str):  # noqa: ANN201
    den = tiny_denoiser(family, 1, use_cache=family == "block")
    return den if cache == "none" else ApproxCacheDenoiser(den, cache)


@pytest.mark.parametrize("family", ["full", "shifted"])
@pytest.mark.parametrize("cache", ["none", "prefix", "dual"])
@pytest.mark.parametrize("n_prompts", [1, 3])
@pytest.mark.parametrize("decoder", ["static", "freedave-2", "freedave-5"])
def test_nfe_equals_network_passes(family, cache, n_prompts, decoder):
    cfg = DecodeConfig(max_new_tokens=12, block_size=4)
    den, prompts = denoiser(family, cache), PROMPTS[:n_prompts]
    counter = PassCounter(getattr(den, "base", den).model)
    try:
        if decoder == "static":
            out = decode_static(den, prompts, cfg)
        else:
            out = decode_freedave(den, prompts, cfg, FreeDave(int(decoder.split("-")[1])))
    finally:
        counter.handle.remove()
    # each query is one prompt's own forward(s), so the passes add up over prompts
    assert sum(r.nfe for r in out) == counter.n
    for r in out:
        assert r.model_calls >= 1
        if cache == "none" or decoder == "static":
            assert r.nfe == r.model_calls  # one pass per call (static: a block's first call is its refresh)
    if cache != "none" and decoder == "freedave-5":
        # drafts that complete a block are verified beside other drafts: that call costs two passes
        assert sum(r.nfe for r in out) > sum(r.model_calls for r in out)


def test_block_family_static_one_pass_per_call():
    """The exact prefix cache writes finished blocks inside calls that happen anyway."""
    cfg = DecodeConfig(max_new_tokens=12, block_size=4)
    den = denoiser("block", "none")
    counter = PassCounter(den.model)
    try:
        out = decode_static(den, PROMPTS, cfg)
    finally:
        counter.handle.remove()
    assert sum(r.nfe for r in out) == sum(r.model_calls for r in out) == counter.n


@pytest.mark.parametrize("cache", ["prefix", "dual"])
def test_bound_counts_refresh_passes(cache):
    """The attainable bound, in passes, never exceeds what FreeDave ran at the deepest depth."""
    cfg = DecodeConfig(max_new_tokens=16, block_size=4)
    traced = decode_static(denoiser("full", cache), PROMPTS, cfg, trace=True)
    fast = decode_freedave(denoiser("full", cache), PROMPTS, cfg, FreeDave(16))
    for t, f in zip(traced, fast, strict=True):
        assert t.refresh_states is not None and 0 in t.refresh_states
        bound = attainable_nfe(t.reach, t.refresh_states)
        assert attainable_nfe(t.reach) <= bound <= f.nfe


def test_weighted_bound_examples():
    # states 0..4, block of 2: states 0, 2, 4 are first states; reach 2 everywhere
    reach = (2, 2, 2, 2, 2)
    assert attainable_nfe(reach) == 1 + 2  # 0 -> 2 -> 4 (target N - 1 = 4)
    # landing on 2 or 4 after another draft costs two passes: 0 -> 1 -> 3 -> 4 is cheapest
    assert attainable_nfe(reach, (0, 2, 4)) == 1 + 3
    assert attainable_nfe((1, 1, 1, 1, 1), (0, 2, 4)) == 1 + 4  # single-draft jumps cost one pass each
