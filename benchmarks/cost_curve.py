"""Issue-5 figure: wall time of one forward against the number of draft rows, cached and uncached.

A verification forward over d drafts computes d rows of the active window (two blocks when drafts may
cross the block edge); a static forward computes one. The ratio at d = 8 is what caps FreeDave's
wall-clock gain. Times are the median of ``--repeats`` calls after a warm-up, in one process.

    .venv/bin/python benchmarks/cost_curve.py --model reference --out benchmarks/results/cost_curve.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import freedave
from freedave.decoding.protocol import Query


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(m: freedave.Loaded, rows: list[int], repeats: int, device: str = "cpu") -> dict:
    """Median ms of one forward per row count: cached 1-block window, cached 2-block, uncached."""
    den, bs = m.denoiser, m.block_size or 16
    prompt = m.encode("add 0482+0396") if m.tokenizer is not None else list(range(4, 20))
    p = len(prompt)
    length = p + 3 * bs
    base = torch.tensor(prompt + [den.mask_id] * 3 * bs)
    base[p : p + bs] = torch.tensor(m.encode("2+6+0=08 8+9+0=17")[:bs]) if m.tokenizer is not None else 5
    base = base.to(device)
    start = p + bs  # second block active; the first is finished (cached, or recomputed uncached)

    def one(rows: int, cached: bool, window_blocks: int) -> float:
        x = base.repeat(rows, 1)
        end = min(length, start + window_blocks * bs)
        times = []
        for i in range(repeats + 3):
            cache = den.new_cache() if cached else None
            if cache is not None:  # prefill prompt + first block outside the timed call
                den.logits([Query(x[:1], p, bs, start, start + bs, cache)])
            synchronize(device)
            t0 = time.perf_counter()
            den.logits([Query(x, p, bs, start, end, cache)])
            synchronize(device)
            if i >= 3:
                times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    table = []
    for r in rows:
        table.append({
            "rows": r,
            "cached_window1_ms": one(r, True, 1),
            "cached_window2_ms": one(r, True, 2),
            "uncached_window2_ms": one(r, False, 2),
        })
    base1 = table[0]["cached_window1_ms"]
    for row in table:
        row["ratio_vs_static"] = row["cached_window1_ms"] / base1
    return {"model": str(m.path), "block_size": bs, "prompt_len": p, "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(), "device": device, "rows": table}


def markdown(out: dict) -> str:
    lines = [f"threads={out['threads']}  block={out['block_size']}  prompt={out['prompt_len']}  device={out['device']}",
             "| rows (drafts) | cached, 1 block (ms) | cached, 2 blocks (ms) | uncached (ms) | ratio vs static |",
             "|---|---|---|---|---|"]
    for row in out["rows"]:
        lines.append(f"| {row['rows']} | {row['cached_window1_ms']:.2f} | {row['cached_window2_ms']:.2f} | "
                     f"{row['uncached_window2_ms']:.2f} | {row['ratio_vs_static']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="reference")
    ap.add_argument("--rows", default="1,2,4,8,16,32")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--out", default="benchmarks/results/cost_curve.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    m = freedave.load(args.model, device=args.device, dtype=args.dtype)
    with torch.no_grad():
        out = measure(m, [int(r) for r in args.rows.split(",")], args.repeats, args.device)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(markdown(out), end="")


if __name__ == "__main__":
    main()
