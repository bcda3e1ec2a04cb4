"""``benchmarks/round_overhead.py``: the timed pass runs no forward at all (every query answered from
the memo), so what it times is the decoder's own work, and the memo gives the model's tokens."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import freedave
from freedave.decoding import DecodeConfig, FreeDave, Static, decode
from freedave.tasks.reference import ReferenceTask

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("round_overhead", ROOT / "benchmarks" / "round_overhead.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_timed_pass_is_all_memo_and_reports_every_setting():
    mod = load_script()
    r = mod.measure(problems=2, repeats=1)
    assert r["memo_misses"] == 0
    assert set(r["us_per_forward"]) == set(mod.SETTINGS) and all(v > 0 for v in r["us_per_forward"].values())


def test_memoized_logits_give_the_models_tokens():
    mod = load_script()
    m = freedave.load("reference")
    memo = mod.Memo(m.denoiser)
    cfg = DecodeConfig(max_new_tokens=32, block_size=m.block_size)
    prompts = [m.encode(p.prompt) for p in ReferenceTask().problems(3)]
    want = [r.token_ids for r in decode(m.denoiser, prompts, cfg, Static())]
    for _ in range(2):  # filled, then answered from memory
        assert [decode(memo, [p], cfg, FreeDave(4))[0].token_ids for p in prompts] == want
    assert memo.misses > 0 and len(memo.memo) == memo.misses
