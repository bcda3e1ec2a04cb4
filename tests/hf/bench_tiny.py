"""Static vs FreeDave on tiny LLaDA / Dream / SDAR checkpoints (CPU figures for the notes).

    nice -n 10 .venv/bin/python tests/hf/bench_tiny.py [--device cpu] [--dtypes float32 bfloat16] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from hf_tiny import save_llada, save_qwen_family  # noqa: E402

from freedave.decoding import DecodeConfig, FreeDave, Sampling, Static, decode  # noqa: E402
from freedave.models.loading import load  # noqa: E402

PROMPTS = [[9, 10, 11, 12, 13], [40, 41, 42], [100, 7, 8, 9, 20, 21, 22], [60, 61]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny models: 1 is fastest)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp())
    paths = {
        "llada (full)": save_llada(root / "llada")[0],
        "dream (shifted)": save_qwen_family(root / "dream", "dream")[0],
        "sdar (block)": save_qwen_family(root / "sdar", "sdar")[0],
    }
    print("| model | dtype | strategy | tokens/s | NFE | tokens/NFE | same tokens |")
    print("|---|---|---|---|---|---|---|")
    for name, path in paths.items():
        for dtype in args.dtypes:
            loaded = load(path, device=args.device, dtype=dtype)
            cfg = DecodeConfig(max_new_tokens=args.max_new_tokens, block_size=loaded.block_size or 8,
                               sampling=Sampling(temperature=0.0))
            ref = None
            for strategy in (Static(), FreeDave(draft_depth=args.depth)):
                decode(loaded.denoiser, PROMPTS[:1], cfg, strategy, device=args.device)  # warm-up
                t0 = time.perf_counter()
                out = decode(loaded.denoiser, PROMPTS, cfg, strategy, device=args.device)
                dt = time.perf_counter() - t0
                toks = sum(len(r.token_ids) for r in out)
                nfe = sum(r.nfe for r in out)
                ids = [r.token_ids for r in out]
                ref = ref or ids
                label = "static" if isinstance(strategy, Static) else f"freedave d={args.depth}"
                print(f"| {name} | {dtype} | {label} | {toks / dt:.0f} | {nfe} | {toks / nfe:.2f} | {ids == ref} |")


if __name__ == "__main__":
    main()
