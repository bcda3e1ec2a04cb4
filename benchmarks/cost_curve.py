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
from pathlib import Path

import torch

import freedave
from freedave.bench.cost import measure_curve


def measure(m: freedave.Loaded, rows: list[int], repeats: int, device: str = "cpu") -> dict:
    """Median ms of one forward per row count: cached 1-block window, cached 2-block, uncached
    (each timed by ``freedave.bench.cost.measure_curve``, the cost curve ``freedave bench`` times)."""
    den, bs = m.denoiser, m.block_size or 16
    prompt = m.encode("add 0482+0396") if m.tokenizer is not None else list(range(4, 20))

    def curve(den, window_blocks: int) -> dict[int, float]:  # noqa: ANN001
        return measure_curve(den, prompt, bs, 3 * bs, rows, repeats=repeats, window_blocks=window_blocks, device=device)

    w1, w2 = curve(den, 1), curve(den, 2)
    uncached = curve(_Uncached(den), 2)
    table = [{"rows": r, "cached_window1_ms": 1000 * w1[r], "cached_window2_ms": 1000 * w2[r],
              "uncached_window2_ms": 1000 * uncached[r]} for r in rows]
    base1 = table[0]["cached_window1_ms"]
    for row in table:
        row["ratio_vs_static"] = row["cached_window1_ms"] / base1
    return {"model": str(m.path), "block_size": bs, "prompt_len": len(prompt), "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(), "device": device, "rows": table}


class _Uncached:
    """The denoiser without its cache: every forward recomputes the prompt and finished blocks."""

    def __init__(self, den) -> None:  # noqa: ANN001
        self.den, self.mask_id = den, den.mask_id

    def new_cache(self) -> None:
        return None

    def logits(self, queries):  # noqa: ANN001, ANN201
        return self.den.logits(queries)


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
