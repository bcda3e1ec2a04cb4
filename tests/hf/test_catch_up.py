"""A finished block that a FreeDave verification already computed (its draft finished the block and
was accepted) is taken into the prefix cache instead of computed again: bit-exact, and counted as
one block fewer computed."""

from __future__ import annotations

import torch

import freedave
from freedave.bench.cost import ForwardLog, Forwards
from freedave.decoding import DecodeConfig, FreeDave, decode_freedave, decode_static
from freedave.decoding.protocol import Query
from freedave.models.kv_cache import KVCache
from freedave.tasks.reference import ReferenceTask
from helpers import tiny_denoiser


def test_an_offered_block_gives_the_cache_of_computing_it_again():
    den = tiny_denoiser("block", 1)
    P, B = 3, 4
    prompt = [5, 6, 7]
    done = [9, 10, 11, 12]  # block 1, finished in one row
    rows = torch.tensor([prompt + done + [den.mask_id] * 8, prompt + [9, den.mask_id, 11, den.mask_id] + [den.mask_id] * 8])
    with torch.no_grad():
        offered = den.new_cache()
        den.logits([Query(rows[:1], P, B, P, P, offered)])  # the prompt
        # a verification call whose first row finished block 1 (it needs block 2's logits too)
        den.logits([Query(rows, P, B, P, P + 2 * B, offered, (P + 2 * B, P + B))])
        assert offered.length == P
        x = rows[0]
        # the next call, from the state that finished block 1: the offered block is taken
        got = den.logits([Query(x.unsqueeze(0), P, B, P + B, P + 2 * B, offered)])[0]
        plain = den.new_cache()
        den.logits([Query(rows[:1], P, B, P, P, plain)])
        want = den.logits([Query(x.unsqueeze(0), P, B, P + B, P + 2 * B, plain)])[0]
    assert torch.equal(got, want)
    assert offered.length == plain.length == P + B
    for i in range(len(offered._keys)):
        assert torch.equal(offered.layer(i)[0], plain.layer(i)[0]) and torch.equal(offered.layer(i)[1], plain.layer(i)[1])


def test_catch_up_refuses_other_tokens_and_other_positions():
    c = KVCache()
    k = [torch.zeros(1, 2, 3, 4)]
    c.write(0, k, k)
    kv = [torch.arange(2 * 2 * 4 * 4, dtype=torch.float32).view(2, 2, 4, 4)]
    c.offer(3, torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]]), kv, kv)
    canvas = torch.tensor([0, 0, 0, 5, 6, 7, 9, 0])
    assert not c.catch_up(canvas, 7) and c.length == 3  # row 2 differs at one position
    assert not c.catch_up(torch.tensor([0, 0, 0, 5, 6, 7, 8, 0]), 6) and c.length == 3  # not one block on
    assert c.catch_up(torch.tensor([0, 0, 0, 5, 6, 7, 8, 0]), 7) and c.length == 7
    assert torch.equal(c.layer(0)[0][:, :, 3:7], kv[0][1:2])
    c.offer(7, torch.tensor([[1, 1, 1, 1]]), kv, kv)
    c.write(7, k, k)  # any write drops the offer: it was computed against the cache as it was
    assert not c.catch_up(torch.tensor([0] * 7 + [1, 1, 1, 1]), 11)


def test_freedave_computes_fewer_finished_blocks_with_the_same_tokens():
    m = freedave.load("reference")
    cfg = DecodeConfig(max_new_tokens=32, block_size=m.block_size)
    prompts = [m.encode(p.prompt) for p in ReferenceTask().problems(8)]
    static = decode_static(m.denoiser, prompts, cfg)
    log = ForwardLog(m.denoiser, timed=False)
    for depth in (1, 4):
        log.into = Forwards()
        out = [decode_freedave(log, [p], cfg, FreeDave(depth))[0] for p in prompts]
        assert [r.token_ids for r in out] == [r.token_ids for r in static]
        # a forward computes a finished block only for the prompt: the block a verification
        # finished was taken from that verification (static computes one per finished block)
        assert sum(log.into.fresh) == len(prompts)
