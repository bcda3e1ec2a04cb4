"""Draft trees on the bundled model: the same tokens in fewer forwards than the chain. (Lossless
over random models, depths and branch budgets: the hypothesis test in test_lossless.py.)"""

from __future__ import annotations

import freedave
from freedave.decoding import DecodeConfig, FreeDave, decode_freedave, decode_static
from freedave.tasks.reference import ReferenceTask


def test_branches_cut_forwards_on_the_bundled_task():
    """On the bundled model, runner-up rows turn order breaks into longer chains: the same tokens
    in fewer forwards than the chain alone (the replay in benchmarks/draft_trees.py predicted it)."""
    m = freedave.load("reference")
    cfg = DecodeConfig(max_new_tokens=32, block_size=m.block_size)
    prompts = [m.encode(p.prompt) for p in ReferenceTask().problems(12)]
    static = decode_static(m.denoiser, prompts, cfg)
    nfe = {}
    for b in (0, 2):
        out = [decode_freedave(m.denoiser, [p], cfg, FreeDave(8, True, b))[0] for p in prompts]
        assert [r.token_ids for r in out] == [r.token_ids for r in static]
        nfe[b] = sum(r.nfe for r in out)
    assert nfe[2] < 0.95 * nfe[0]
