"""Issue-3 figures: static vs FreeDave on tiny random models of each family.

NFE, the optimal-path bounds (attainable and oracle) and the identical-output rate, for
d in {2, 4, 8, 16}. Run: .venv/bin/python benchmarks/tiny_lossless.py
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from freedave.decoding import (  # noqa: E402
    DecodeConfig,
    FreeDave,
    attainable_nfe,
    decode_freedave,
    decode_static,
    oracle_nfe,
)
from helpers import tiny_denoiser  # noqa: E402


def main() -> None:
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(4, 32, (int(n),), generator=g).tolist() for n in torch.randint(2, 12, (20,), generator=g)]
    cfg = DecodeConfig(max_new_tokens=32, block_size=8)
    rows = []
    for family in ("block", "full", "shifted"):
        den = tiny_denoiser(family, seed=0, vocab=32)
        static = decode_static(den, prompts, cfg, trace=True)
        base = {
            "family": family,
            "problems": len(prompts),
            "static_nfe": sum(r.nfe for r in static) / len(static),
            "attainable_nfe": sum(attainable_nfe(r.reach) for r in static) / len(static),
            "oracle_nfe": sum(oracle_nfe(r.reach) for r in static) / len(static),
        }
        for d in (2, 4, 8, 16):
            fast = decode_freedave(den, prompts, cfg, FreeDave(d))
            same = sum(f.token_ids == s.token_ids for f, s in zip(fast, static, strict=True)) / len(static)
            rows.append({**base, "draft_depth": d, "freedave_nfe": sum(r.nfe for r in fast) / len(fast), "identical": same})
    out = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(), "rows": rows}
    Path(__file__).parent.joinpath("results", "tiny_lossless.json").write_text(json.dumps(out, indent=1))
    print("| family | d | static NFE | FreeDave NFE | attainable bound | oracle M* | identical |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['family']} | {r['draft_depth']} | {r['static_nfe']:.1f} | {r['freedave_nfe']:.2f} | "
              f"{r['attainable_nfe']:.2f} | {r['oracle_nfe']:.2f} | {r['identical']:.2f} |")


if __name__ == "__main__":
    main()
