"""What a decoder costs around the model, with the model's forward made (almost) free.

Every forward of a first pass over the problems is memoized by its query (rows, window, per-row
ends); a second pass then decodes the same problems with the stored logits, so its wall time is the
decoder's own work per forward: scoring, drafting, verification bookkeeping, acceptance, commits
(plus a dictionary lookup). Unlike a timed profile this is steady on a shared machine: nothing the
model does, and nothing another job does to the model's caches, is in it. The fastest of
``--repeats`` passes per setting is reported, in µs per forward (NFE).

    .venv/bin/python benchmarks/round_overhead.py --problems 40 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from typing import Any

import torch

import freedave
from freedave.decoding import DecodeConfig, FreeDave, Static, decode
from freedave.decoding.config import Strategy
from freedave.tasks.reference import ReferenceTask


class Memo:
    """A denoiser that answers a query it has seen from memory (logits depend only on the query)."""

    def __init__(self, den: Any) -> None:
        self.den, self.memo, self.misses = den, {}, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.den, name)

    def logits(self, queries: list) -> list[torch.Tensor]:
        out = []
        for q in queries:
            key = (q.tokens.numpy().tobytes(), tuple(q.tokens.shape), q.start, q.end, q.row_ends, q.block_layout)
            if key not in self.memo:
                self.misses += 1
                self.memo[key] = self.den.logits([replace(q, cache=None)])[0]  # uncached: bit-identical
            out.append(self.memo[key])
        return out


SETTINGS: dict[str, Strategy] = {
    "static": Static(), "freedave d=1": FreeDave(1), "freedave d=4": FreeDave(4), "freedave d=8": FreeDave(8),
    "freedave d=8 b=2": FreeDave(8, True, 2),
}


def measure(problems: int, repeats: int) -> dict[str, Any]:
    m = freedave.load("reference")
    memo = Memo(m.denoiser)
    cfg = DecodeConfig(max_new_tokens=32, block_size=m.block_size)
    prompts = [m.encode(p.prompt) for p in ReferenceTask().problems(problems)]
    for s in SETTINGS.values():  # fill the memo
        for ids in prompts:
            decode(memo, [ids], cfg, s)
    memo.misses = 0
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, s in SETTINGS.items():
            t0 = time.perf_counter()
            nfe = sum(decode(memo, [ids], cfg, s)[0].nfe for ids in prompts)
            best[name] = min(best.get(name, float("inf")), (time.perf_counter() - t0) / nfe * 1e6)
    return {"problems": problems, "repeats": repeats, "us_per_forward": best, "memo_misses": memo.misses,
            "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the result here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    r = measure(args.problems, args.repeats)
    for name, us in r["us_per_forward"].items():
        print(f"{name:18s} {us:7.1f} µs per forward outside the model")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()
