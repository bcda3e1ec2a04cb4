"""Why FreeDave chains stop, measured on the bundled task (issue 17, "draft trees, measured first").

A traced static run gives, for every static state n, the decisions drafted from f(x_n) alone (in
draft order, which for one distribution is confidence order) and the decision static really took
at every later state. A chain from n stops at m = r(n), where static's (position, token) at state
n + m differs from draft m+1. The break is classified as
- ``order``: static took a position the draft ranked lower (rank 2 = the runner-up), with the
  token f(x_n) had for it: a draft tree branching on near-tied positions could extend the chain;
- ``token``: the same position as the draft, another token (the distribution changed its mind);
- ``undrafted``: a position f(x_n) did not draft (past its window), or another token elsewhere.
Only breaks inside the drafted window count (a chain that used every drafted decision did not
break). Greedy decoding, CPU.

    .venv/bin/python benchmarks/order_instability.py --problems 200 --out benchmarks/results/order_instability.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import torch

import freedave
from freedave.decoding import DecodeConfig
from freedave.tasks.reference import ReferenceTask

sys.path.insert(0, str(Path(__file__).resolve().parent))
from draft_trees import trace as trace_states  # noqa: E402


def trace(den, ids: list[int], cfg: DecodeConfig) -> tuple[list[list[tuple[int, int]]], list[tuple[int, int]]]:  # noqa: ANN001
    """Drafted decisions per static state, and the decisions static took (draft_trees' traced run)."""
    states, taken = trace_states(den, ids, cfg)
    return [s.drafted for s in states], taken


def classify(drafted: list[list[tuple[int, int]]], taken: list[tuple[int, int]]) -> tuple[Counter, Counter]:
    kinds, ranks = Counter(), Counter()
    for n, decisions in enumerate(drafted):
        m = 0
        while m < len(decisions) and n + m < len(taken) and decisions[m] == taken[n + m]:
            m += 1
        if m >= len(decisions) or n + m >= len(taken):
            kinds["complete"] += 1
            continue
        pos, tok = taken[n + m]
        later = [d[0] for d in decisions[m:]]
        if pos == decisions[m][0]:
            kinds["token"] += 1
        elif pos in later and decisions[m + later.index(pos)][1] == tok:
            kinds["order"] += 1
            ranks[later.index(pos) + 1] += 1
        else:
            kinds["undrafted"] += 1
    return kinds, ranks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    m = freedave.load("reference")
    cfg = DecodeConfig(max_new_tokens=32, block_size=m.block_size)
    by_kind: dict[str, Counter] = {}
    rank_all: Counter = Counter()
    for p in ReferenceTask().problems(args.problems):
        kinds, ranks = classify(*trace(m.denoiser, m.encode(p.prompt), cfg))
        by_kind.setdefault(p.kind, Counter()).update(kinds)
        rank_all.update(ranks)
    total = sum(by_kind.values(), Counter())
    breaks = total["order"] + total["token"] + total["undrafted"]
    report = {
        "problems": args.problems,
        "states": sum(total.values()),
        "breaks": breaks,
        "share": {k: total[k] / breaks for k in ("order", "token", "undrafted")} if breaks else {},
        "order_rank_of_taken_position": {str(k): v for k, v in sorted(rank_all.items())},
        "by_kind": {k: dict(v) for k, v in by_kind.items()},
        "hardware": "2-core shared CPU VM, float32, torch CPU",
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
