"""Per-prompt seeds and decode hooks: a prompt's output never depends on its batch-mates.

With ``seeds``, prompt i decodes exactly as it would alone with ``Sampling(seed=seeds[i])``; the
hooks see only finished blocks (a prefix of the final output that only grows), and a cancelled
prompt stops without changing anyone else's output.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freedave.decoding import (
    DecodeConfig,
    DecodeHooks,
    FreeDave,
    Sampling,
    Static,
    Threshold,
    decode,
)
from freedave.errors import DecodeError
from helpers import VOCAB, prompt_st, tiny_denoiser

STRATEGIES = [Static(), Threshold(0.7), FreeDave(4), FreeDave("auto", cross_blocks=False)]


@given(
    family=st.sampled_from(["block", "full", "shifted"]),
    prompts=st.lists(prompt_st, min_size=1, max_size=4),
    seeds=st.lists(st.integers(0, 2**40), min_size=4, max_size=4),
    block_size=st.integers(1, 5),
    strategy=st.sampled_from(STRATEGIES),
    temperature=st.sampled_from([0.0, 0.7, 1.3]),
)
def test_seeded_batch_equals_each_solo_run(family, prompts, seeds, block_size, strategy, temperature):
    den = tiny_denoiser(family, 1, VOCAB)
    cfg = DecodeConfig(max_new_tokens=9, block_size=block_size, sampling=Sampling(temperature=temperature, top_p=0.9))
    seeds = seeds[: len(prompts)]
    batched = decode(den, prompts, cfg, strategy, seeds=seeds)
    for p, s, got in zip(prompts, seeds, batched, strict=True):
        solo = decode(den, [p], replace(cfg, sampling=replace(cfg.sampling, seed=s)), strategy)[0]
        assert got.token_ids == solo.token_ids
        assert got.steps == solo.steps


def test_seeds_change_sampled_output_and_are_checked():
    den = tiny_denoiser("block", 2, VOCAB)
    cfg = DecodeConfig(max_new_tokens=16, block_size=4, sampling=Sampling(temperature=1.5))
    p = [5, 6, 7]
    outs = {tuple(decode(den, [p], cfg, Static(), seeds=[s])[0].token_ids) for s in range(6)}
    assert len(outs) > 1  # the seed really keys the draws
    with pytest.raises(DecodeError, match="2 seeds for 1 prompts"):
        decode(den, [p], cfg, Static(), seeds=[1, 2])
    with pytest.raises(DecodeError, match="seeds must be integers >= 0"):
        decode(den, [p], cfg, Static(), seeds=[-1])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_progress_reports_growing_finished_prefixes(strategy):
    den = tiny_denoiser("block", 3, VOCAB)
    cfg = DecodeConfig(max_new_tokens=12, block_size=3)
    prompts = [[5, 6], [7, 8, 9], [10]]
    seen: dict[int, list[list[int]]] = {i: [] for i in range(3)}
    results = decode(den, prompts, cfg, strategy, hooks=DecodeHooks(on_progress=lambda i, ids: seen[i].append(list(ids))))
    for i, r in enumerate(results):
        reports = seen[i]
        assert reports, "every prompt reports at least its final output"
        assert reports[-1] == r.token_ids
        for a, b in zip(reports, reports[1:], strict=False):
            assert len(b) > len(a) and b[: len(a)] == a  # finished blocks never change
        assert all(len(x) % cfg.block_size == 0 for x in reports[:-1])  # whole blocks only


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_cancelled_prompt_stops_and_others_are_unchanged(strategy):
    den = tiny_denoiser("block", 4, VOCAB)
    cfg = DecodeConfig(max_new_tokens=24, block_size=2)
    cfg = replace(cfg, stop_at_eos=False)
    prompts = [[5, 6], [7, 8, 9]]
    full = decode(den, prompts, cfg, strategy)
    rounds = {"n": 0}

    def cancelled(i: int) -> bool:
        rounds["n"] += i == 0
        return i == 0 and rounds["n"] >= 2

    out = decode(den, prompts, cfg, strategy, hooks=DecodeHooks(is_cancelled=cancelled))
    assert out[1].token_ids == full[1].token_ids
    assert len(out[0].token_ids) < len(full[0].token_ids)
    assert out[0].token_ids == full[0].token_ids[: len(out[0].token_ids)]
    assert out[0].nfe < full[0].nfe
