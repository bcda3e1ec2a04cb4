"""The approximate caches themselves: exact at a refresh, approximate inside a block, cheaper, and
no extra forwards."""

from __future__ import annotations

import pytest
import torch

from freedave.decoding import DecodeConfig, FreeDave, decode_freedave, decode_static
from freedave.decoding.common import DecodeError
from freedave.decoding.protocol import Query
from freedave.models.approx_cache import ApproxCacheDenoiser, with_approx_cache
from helpers import tiny_denoiser

VOCAB = 32
MASK = 3
CASES = [(f, m) for f in ("full", "shifted") for m in ("prefix", "dual")]


def canvas(prompt: list[int], filled: list[int], gen: int) -> torch.Tensor:
    return torch.tensor(prompt + filled + [MASK] * (gen - len(filled)))


def uncached(family: str, seed: int = 0):
    return tiny_denoiser(family, seed, VOCAB, use_cache=False)


@pytest.mark.parametrize(("family", "mode"), CASES)
@pytest.mark.parametrize("filled", [0, 4, 8])
def test_refresh_logits_equal_uncached_exactly(family, mode, filled):
    """At a block's first state the cached denoiser returns the uncached logits, bit for bit."""
    base = uncached(family)
    den = ApproxCacheDenoiser(base, mode)
    prompt = [5, 9, 17, 4, 22]
    x = canvas(prompt, [7, 8, 11, 30, 12, 6, 19, 25][:filled], 16)[None]
    start = len(prompt) + filled
    q = Query(x, len(prompt), 4, start, start + 4, den.new_cache())
    (got,) = den.logits([q])
    (want,) = base.logits([Query(x, len(prompt), 4, start, start + 4)])
    assert torch.equal(got, want)
    assert den.refreshes == 1


@pytest.mark.parametrize(("family", "mode"), CASES)
def test_cache_is_approximate_inside_a_block(family, mode):
    """Once the block holds decoded tokens, cached logits differ from uncached ones (stale K/V)."""
    base = uncached(family, seed=1)
    den = ApproxCacheDenoiser(base, mode)
    prompt = [5, 9, 17, 4, 22]
    cache = den.new_cache()
    first = canvas(prompt, [], 16)[None]
    den.logits([Query(first, len(prompt), 8, 5, 13, cache)])  # the refresh
    later = canvas(prompt, [7, 8, 11], 16)[None]
    (got,) = den.logits([Query(later, len(prompt), 8, 5, 13, cache)])
    (want,) = base.logits([Query(later, len(prompt), 8, 5, 13)])
    assert den.refreshes == 1
    assert not torch.equal(got, want)
    assert (got - want).abs().max() > 1e-4


@pytest.mark.parametrize(("family", "mode"), CASES)
def test_rows_do_not_depend_on_the_batch(family, mode):
    """A row's cached logits are the same alone and beside other rows (FreeDave's verification)."""
    den = ApproxCacheDenoiser(uncached(family, seed=2), mode)
    prompt = [5, 9, 17]
    cache = den.new_cache()
    den.logits([Query(canvas(prompt, [], 12)[None], 3, 4, 3, 7, cache)])
    rows = torch.stack([canvas(prompt, f, 12) for f in ([7], [7, 8], [7, 8, 11], [7, 8, 11, 30])])
    (together,) = den.logits([Query(rows, 3, 4, 3, 11, cache)])
    for r in range(rows.shape[0]):
        (alone,) = den.logits([Query(rows[r : r + 1], 3, 4, 3, 11, cache)])
        assert torch.equal(alone[0], together[r])


@pytest.mark.parametrize(("family", "mode"), CASES)
def test_static_nfe_unchanged_and_fewer_positions(family, mode):
    """Refreshes happen inside forwards static takes anyway (same NFE as uncached static), and a
    cached forward pushes fewer token positions through the model."""
    prompts = [[5, 6, 7, 8], [9, 10, 11]]
    cfg = DecodeConfig(max_new_tokens=24, block_size=4, stop_at_eos=False)
    base = uncached(family, seed=3)
    den = ApproxCacheDenoiser(base, mode)
    plain = decode_static(base, prompts, cfg)
    with_cache = decode_static(den, prompts, cfg)
    for p, c in zip(plain, with_cache, strict=True):
        assert c.nfe == c.steps
        assert c.nfe == p.nfe
    nfe = sum(r.nfe for r in with_cache)
    full_cost = sum((len(p) + cfg.gen_length) * r.nfe for p, r in zip(prompts, with_cache, strict=True))
    assert den.positions < (0.75 if mode == "prefix" else 0.4) * full_cost
    blocks = sum(-(-r.tokens_decoded // 4) for r in with_cache)
    assert den.refreshes <= blocks + len(prompts)
    if mode == "dual":  # the block (and one position before it, shifted) between refreshes
        shift = 1 if family == "shifted" else 0
        assert den.positions <= den.refreshes * max(len(p) + cfg.gen_length for p in prompts) + (nfe - den.refreshes) * (4 + shift)


def test_freedave_with_cache_takes_fewer_forwards():
    prompts = [[5, 6, 7, 8]]
    cfg = DecodeConfig(max_new_tokens=24, block_size=8)
    static = decode_static(ApproxCacheDenoiser(uncached("full", 4), "dual"), prompts, cfg)
    fast = decode_freedave(ApproxCacheDenoiser(uncached("full", 4), "dual"), prompts, cfg, FreeDave(8))
    assert fast[0].token_ids == static[0].token_ids
    assert fast[0].nfe < static[0].nfe


def test_block_family_refuses_an_approximate_cache():
    with pytest.raises(DecodeError, match="exact already"):
        with_approx_cache(tiny_denoiser("block", 0, VOCAB), "dual")
    with pytest.raises(DecodeError, match="choose none, prefix or dual"):
        with_approx_cache(uncached("full"), "suffix")
    assert with_approx_cache(uncached("full"), "none").family == "full"
