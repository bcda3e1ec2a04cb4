"""Eager against ``--compile`` in one process, interleaved, on the bundled model and task.

Both models decode the same prompts with each strategy, alternately, twice; the faster of the two
runs of each is kept, so a slow spell of a shared machine falls on both alike. Prints tokens/s of
each, the ratio, whether the tokens agree, and the compile time (spent at load, never timed).

    .venv/bin/python benchmarks/compile_ab.py --limit 50 --threads 1 --out benchmarks/results/compile_ab.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from freedave.decoding import AutoDepth, DecodeConfig, FreeDave, Static, Threshold, decode
from freedave.models.loading import load
from freedave.tasks import get_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None, help="write the rows as JSON here (and a .md beside it)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = {"eager": load("reference", device=args.device), "compiled": load("reference", device=args.device, compile=True)}
    print(f"compiled at load in {models['compiled'].compile_seconds:.1f} s")
    first = models["eager"]
    prompts = [first.encode(p.prompt) for p in get_task("reference", None, args.limit).problems(args.limit)]
    cfg = DecodeConfig(max_new_tokens=64, block_size=first.block_size)
    den = first.denoiser
    rows = []
    exclude = {den.mask_id, den.eos_id, den.pad_id}
    for s in (Static(), Threshold(0.9), FreeDave(4), FreeDave("auto")):
        policies = {k: AutoDepth() if getattr(s, "draft_depth", None) == "auto" else None for k in models}
        best, tokens = {}, {}
        for k, m in models.items():  # warm-up (and the auto policy's first observations)
            decode(m.denoiser, prompts[:2], cfg, s, device=args.device, policy=policies[k])
        for _ in range(2):
            for k, m in models.items():
                t0 = time.perf_counter()
                out = decode(m.denoiser, prompts, cfg, s, device=args.device, policy=policies[k])
                best[k] = min(best.get(k, float("inf")), time.perf_counter() - t0)
                tokens[k] = [r.token_ids for r in out]
        valid = sum(t not in exclude for ids in tokens["eager"] for t in ids)
        name = s.name + (f" d={s.draft_depth}" if hasattr(s, "draft_depth") else f" τ={s.threshold}" if hasattr(s, "threshold") else "")
        rows.append({"strategy": name, "eager_tokens_per_second": valid / best["eager"],
                     "compiled_tokens_per_second": valid / best["compiled"], "speedup": best["eager"] / best["compiled"],
                     "same_tokens": tokens["eager"] == tokens["compiled"]})
        print(f"{name:14} eager {valid / best['eager']:8.1f} tok/s   compiled {valid / best['compiled']:8.1f} tok/s   "
              f"x{best['eager'] / best['compiled']:.2f}   same tokens: {tokens['eager'] == tokens['compiled']}")
    if args.out:
        write(Path(args.out), rows, args, models["compiled"].compile_seconds)


def write(path: Path, rows: list[dict], args: argparse.Namespace, compile_seconds: float) -> None:
    meta = {"limit": args.limit, "threads": args.threads, "device": args.device, "compile_seconds": compile_seconds,
            "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
            "command": f"benchmarks/compile_ab.py --limit {args.limit} --threads {args.threads} --out {path}"}
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    lines = [f"`{meta['command']}` (torch {meta['torch']}, {meta['device']}, {args.threads} thread(s); "
             f"compiled at load in {compile_seconds:.1f} s)", "",
             "| strategy | eager tok/s | compiled tok/s | compiled / eager | same tokens |", "|---|---|---|---|---|"]
    lines += [f"| {r['strategy']} | {r['eager_tokens_per_second']:.0f} | {r['compiled_tokens_per_second']:.0f} "
              f"| {r['speedup']:.2f} | {r['same_tokens']} |" for r in rows]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
