"""``models.forward`` runs a call's rows as one pass or splits them (row groups by window end; the
shared not-yet-cached blocks once on row 0) by ``PASS_POSITIONS``. Every form gives each row the
bit-identical logits of that row alone, and the same cache, on the bundled model and on a tiny
SDAR-style HF model, under both block layouts."""

from __future__ import annotations

import pytest
import torch
from hf_tiny import save_qwen_family

import freedave
from freedave.decoding.protocol import Query
from freedave.models import forward
from freedave.models.invariant import segments
from freedave.models.kv_cache import KVCache
from freedave.models.loading import load
from freedave.options import block_origin

P, B, L = 5, 4, 5 + 5 * 4  # prompt length, block size, canvas length
SPLIT, ONE_PASS = 0, 10**9  # PASS_POSITIONS: always split / always one pass


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    sdar = load(save_qwen_family(tmp_path_factory.mktemp("onepass") / "sdar", "sdar", seed=0)[0]).denoiser.stack
    sdar.split_rows = True  # on CPU its forward is batch-invariant: let it split as the reference does
    ref = freedave.load("reference").denoiser
    return {"reference": (ref.model.stack(), ref.mask_id), "sdar": (sdar, 1)}


def cache_to(stack, x: torch.Tensor, layout: str, past: int) -> KVCache:
    """A cache holding positions ``0:past`` (a forward of row 0 whose window starts at ``past``)."""
    cache = KVCache()
    if past:
        forward.window_logits(stack, Query(x[:1], P, B, past, past + 1, None, None, layout), cache)
    assert cache.length == past
    return cache


def forms(stack, x, layout, start, past, ends):
    """Per form: the call's logits and its cache (rows alone: one forward per row)."""
    out = {}
    for name, limit in (("split", SPLIT), ("one pass", ONE_PASS)):
        forward.PASS_POSITIONS = limit
        cache = cache_to(stack, x, layout, past)
        q = Query(x, P, B, start, max(ends), None, tuple(ends), layout)
        p = forward.plan(stack, q, cache)
        out[name] = (forward.window_logits(stack, q, cache), cache, p)
    alone = []
    for r, e in enumerate(ends):
        cache = cache_to(stack, x, layout, past)
        alone.append(forward.window_logits(stack, Query(x[r : r + 1], P, B, start, e, None, None, layout), cache)[0])
    return out, alone, cache


@pytest.mark.parametrize("model", ["reference", "sdar"])
@pytest.mark.parametrize("layout", ["prompt", "aligned"])
@pytest.mark.parametrize("blocks_uncached", [0, 1, 2])
@pytest.mark.parametrize("ends_of", [(1, 2), (2, 2, 1, 1, 2), (1, 1, 1), (2, 1, 2)])
def test_one_pass_equals_split_and_rows_alone(stacks, monkeypatch, model, layout, blocks_uncached, ends_of):
    stack, mask = stacks[model]
    monkeypatch.setattr(forward, "PASS_POSITIONS", forward.PASS_POSITIONS)
    bounds = [hi for _, hi in segments(L, block_origin(layout, P), B, True)]
    start = next(hi for hi in bounds if hi >= P + 4)  # an active block after a finished one
    past = [0, *bounds][: bounds.index(start) + 2][-1 - blocks_uncached]
    after = [hi for hi in bounds if hi > start]
    ends = [after[k - 1] for k in ends_of]
    g = torch.Generator().manual_seed(len(ends) + 3 * blocks_uncached)
    x = torch.randint(4, 30, (len(ends), L), generator=g)
    x[:, :start] = x[0, :start]
    x[:, start:][torch.rand(len(ends), L - start, generator=g) < 0.5] = mask
    out, alone, cache_alone = forms(stack, x, layout, start, past, ends)
    for name, (logits, cache, _) in out.items():
        for r, e in enumerate(ends):
            assert torch.equal(logits[r, : e - start], alone[r][: e - start]), (name, r)
        assert cache.length == cache_alone.length == start, name
        for i in range(stack.n_layers):
            assert all(torch.equal(a, b) for a, b in zip(cache.layer(i), cache_alone.layer(i), strict=True)), (name, i)
    # The forms really differ: split runs the shared blocks once and one pass per window end.
    one = out["one pass"][2]
    assert (one.split, len(one.groups)) == (past, 1)
    split = out["split"][2]
    assert split.split == start
    assert len(split.groups) == len(set(ends))
