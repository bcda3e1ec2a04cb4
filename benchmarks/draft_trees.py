"""Draft trees, measured from a static trace before being built (issue 17).

A FreeDave round drafts a *chain* from one distribution f(x_n): draft k holds the k most
confident decisions d_1..d_k. It stops where static, at state n + m, takes d_{m+2} before d_{m+1}
(an *order* break: the runner-up went first). A *tree* adds a row that branches on that runner-up:
the node B_k = {d_1..d_{k-1}, d_{k+1}}. If static takes d_{k+1} then d_k, the path runs through
B_k and then the chain's own node C_{k+1} = {d_1..d_{k+1}}, so one extra row turns a break at k
into a chain that goes on. Every node is verified exactly like a chain draft (target = one static
step from the node's own distribution), so a tree decoder stays lossless.

This script replays the static trace of the bundled task (greedy, CPU) and counts, for a chain of
depth D and for trees that add up to B branch rows at the most nearly tied ranks (smallest
confidence gap between d_k and d_{k+1}), the verification forwards a greedy (farthest-jump)
decoder would need, the tokens per NFE, and the rows per forward. It also reports the attainable
chain bound (unlimited depth, no branches), which a tree may exceed: branching raises the reach
itself.

    .venv/bin/python benchmarks/draft_trees.py --problems 200 --threads 1 \
        --out benchmarks/results/draft_trees.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

import freedave
from freedave.decoding import DecodeConfig, FreeDave, decode_freedave
from freedave.decoding.common import call_model, new_canvases
from freedave.decoding.optimal import attainable_nfe, draft_decisions
from freedave.decoding.steps import static_choice
from freedave.tasks.reference import ReferenceTask

Decision = tuple[int, int]  # (position, token)


@dataclass(frozen=True)
class State:
    """One static state n: what f(x_n) drafts (in draft order, with confidences) and what static took."""

    drafted: list[Decision]
    conf: list[float]


def trace(den, ids: list[int], cfg: DecodeConfig) -> tuple[list[State], list[Decision]]:  # noqa: ANN001
    """Every static state's drafts and the decisions static took, from one greedy static run."""
    (c,) = new_canvases(den, [ids], cfg, "cpu")
    states, taken = [], []
    while not c.layout.is_terminal(c.x):
        ((scorer,),) = call_model(den, [(c, [c.x], True)], cfg)
        drafted = draft_decisions(c.x, c.layout, scorer, c.steps)
        _, conf = scorer.decide([p for p, _ in drafted], c.steps)
        states.append(State(drafted, conf))
        pos, tok = static_choice(c.x, c.layout, scorer, c.steps)
        taken.append((pos, tok))
        c.x = c.x.clone()
        c.x[pos] = tok
        c.steps += 1
    return states, taken


def branch_ranks(s: State, depth: int, branches: int) -> set[int]:
    """The ranks k (2 <= k < depth) whose runner-up d_{k+1} gets a branch row: the ``branches``
    most nearly tied ones (static always takes d_1, so k = 1 never needs one)."""
    ks = [k for k in range(2, min(depth, len(s.drafted))) if k < len(s.drafted)]
    gaps = sorted(ks, key=lambda k: (s.conf[k - 1] - s.conf[k], k))
    return set(gaps[:branches])


def tree_reach(s: State, taken: Sequence[Decision], n: int, depth: int, branches: set[int]) -> int:
    """How many static steps from state n a tree of chain depth ``depth`` with runner-up branches
    at ``branches`` verifies: the largest j with every static state n+1..n+j a node of the tree."""
    d = s.drafted[:depth]
    j = 0
    while n + j < len(taken) and j < len(d):
        want = set(taken[n : n + j + 1])  # static state n + j + 1, as decisions on top of x_n
        chain = set(d[: j + 1])
        k = j + 1  # B_k = d_1..d_{k-1} + d_{k+1}
        branch = set(d[: k - 1]) | {d[k]} if k in branches and k < len(d) else None
        if want != chain and want != branch:
            break
        j += 1
    return max(j, 1)


def simulate(states: list[State], taken: list[Decision], depth: int, branches: int) -> tuple[int, int]:
    """``(nfe, rows)`` of a greedy decoder: one first forward, then one verification forward per
    round (none when only the last token is left: draft 1 needs no check); it jumps to the
    farthest verified state."""
    n_total, n, nfe, rows = len(taken), 0, 1, 0
    while n < n_total:
        s = states[n]
        if n_total - n >= 2:
            ks = branch_ranks(s, depth, branches)
            nfe += 1
            rows += min(depth, len(s.drafted)) + len(ks)
        else:
            ks = set()
        n += min(tree_reach(s, taken, n, depth, ks), depth, n_total - n)
    return nfe, rows


def chain_reach(s: State, taken: Sequence[Decision], n: int) -> int:
    return tree_reach(s, taken, n, len(s.drafted), set())


def measure(problems: int, depths: Sequence[int], budgets: Sequence[int]) -> dict:
    m = freedave.load("reference")
    cfg = DecodeConfig(max_new_tokens=32, block_size=m.block_size)
    prompts = [m.encode(p.prompt) for p in ReferenceTask().problems(problems)]
    traces = [trace(m.denoiser, ids, cfg) for ids in prompts]
    tokens = sum(len(t) for _, t in traces)
    bound = sum(attainable_nfe([chain_reach(s, t, n) for n, s in enumerate(st)]) for st, t in traces)
    rows_out = []
    for depth in depths:
        for b in budgets:
            nfe = rows = 0
            for st, t in traces:
                f, r = simulate(st, t, depth, b)
                nfe, rows = nfe + f, rows + r
            # the real decoder at this depth and branch budget (decoding/drafts.py picks its branch ranks
            # the same way, but never across a block edge)
            real = sum(r.nfe for ids in prompts for r in decode_freedave(m.denoiser, [ids], cfg, FreeDave(depth, True, b)))
            rows_out.append(
                {
                    "draft_depth": depth,
                    "branch_rows": b,
                    "nfe": nfe,
                    "freedave_nfe": real,  # the real decoder's NFE at this depth and branch budget
                    "tokens_per_nfe": tokens / nfe,
                    "rows_per_forward": rows / max(nfe - len(traces), 1),
                }
            )
    return {
        "problems": problems,
        "static_tokens": tokens,
        "static_nfe": tokens,
        "chain_bound_nfe": bound,
        "chain_bound_tokens_per_nfe": tokens / bound,
        "settings": rows_out,
        "hardware": "2-core shared AMD EPYC VM, CPU, float32, greedy",
    }


def markdown(r: dict) -> str:
    lines = [
        f"Static: {r['static_tokens']} tokens in {r['static_nfe']} forwards over {r['problems']} problems; "
        f"attainable chain bound {r['chain_bound_tokens_per_nfe']:.2f} tokens/NFE.",
        "",
        "| d | branch rows | tokens/NFE (replay) | rows/forward | vs chain bound | real FreeDave tokens/NFE |",
        "|---|---|---|---|---|---|",
    ]
    for s in r["settings"]:
        ratio = s["tokens_per_nfe"] / r["chain_bound_tokens_per_nfe"]
        real = f"{r['static_tokens'] / s['freedave_nfe']:.2f}" if s["freedave_nfe"] else ""
        lines.append(
            f"| {s['draft_depth']} | {s['branch_rows']} | {s['tokens_per_nfe']:.2f} | {s['rows_per_forward']:.1f} "
            f"| {ratio:.2f} | {real} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=200)
    ap.add_argument("--depths", default="4,8,16")
    ap.add_argument("--budgets", default="0,1,2,4")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    report = measure(args.problems, [int(x) for x in args.depths.split(",")], [int(x) for x in args.budgets.split(",")])
    print(markdown(report))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
        Path(args.out).with_suffix(".md").write_text(markdown(report))


if __name__ == "__main__":
    main()
