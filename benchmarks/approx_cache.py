"""Issue-5 figure: approximate caches (prefix / dual, Fast-dLLM style) on a full-attention model.

A random full-attention reference model (hidden 128, 4 layers, 4 heads, vocab 288), 64 new tokens
in blocks of 8, prompts decoded one at a time. For static and FreeDave d = 8, with no cache,
prefix cache and dual cache: wall time per forward, tokens/s, NFE, token positions computed per
forward, and how many response tokens differ from uncached static (the cache is lossy; FreeDave
must equal static with the same cache).

Run: .venv/bin/python benchmarks/approx_cache.py [--threads 2] [--prompts 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from freedave.decoding import DecodeConfig, FreeDave, Static, decode
from freedave.models.adapters import ReferenceDenoiser
from freedave.models.approx_cache import with_approx_cache
from freedave.models.reference import ReferenceConfig, ReferenceModel


def build_model(seed: int = 0, std: float = 0.08) -> ReferenceModel:
    """Random weights, scaled up so that predictions are peaked and varied (not uniform)."""
    torch.manual_seed(seed)
    cfg = ReferenceConfig(vocab_size=288, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                          intermediate_size=384, max_position_embeddings=256, attention="full", block_size=8)
    model = ReferenceModel(cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, std)
    return model.eval()


def differing(tokens: list[int], ref: list[int]) -> int:
    """Response positions where two outputs differ (a length difference counts as differing)."""
    return sum(a != b for a, b in zip(tokens, ref, strict=False)) + abs(len(tokens) - len(ref))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats; the fastest is reported")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "approx_cache.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = build_model()
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(4, 288, (int(n),), generator=g).tolist() for n in torch.randint(8, 33, (args.prompts,), generator=g)]
    cfg = DecodeConfig(max_new_tokens=64, block_size=8, stop_at_eos=False)
    base = ReferenceDenoiser(model, use_cache=False)
    rows, uncached_static = [], None
    for cache in ("none", "prefix", "dual"):
        den = with_approx_cache(base, cache)
        static_tokens = None
        for strategy in (Static(), FreeDave(8)):
            decode(den, prompts[:1], cfg, strategy)  # warm-up
            best, results, positions = float("inf"), None, 0
            for _ in range(args.repeats):
                before = getattr(den, "positions", 0)
                t0 = time.perf_counter()
                results = [decode(den, [p], cfg, strategy, first_index=i)[0] for i, p in enumerate(prompts)]
                best = min(best, time.perf_counter() - t0)
                positions = getattr(den, "positions", 0) - before
            tokens = [r.token_ids for r in results]
            nfe = sum(r.nfe for r in results)
            if cache == "none" and strategy.name == "static":
                uncached_static = tokens
            if strategy.name == "static":
                static_tokens = tokens
            if cache == "none":  # no counter on the plain denoiser: every forward computes every row's canvas
                positions = sum((len(p) + cfg.gen_length) * r.nfe
                                for p, r in zip(prompts, results, strict=True)) if strategy.name == "static" else None
            n_tok = sum(len(t) for t in tokens)
            rows.append({
                "cache": cache,
                "strategy": strategy.name + (" d=8" if strategy.name == "freedave" else ""),
                "seconds": best,
                "nfe": nfe,  # network passes (a refresh inside a verification call is a pass of its own)
                "model_calls": sum(r.model_calls for r in results),
                "ms_per_forward": 1000 * best / nfe,
                "tokens_per_second": n_tok / best,
                "positions_per_forward": None if positions is None else positions / nfe,
                "tokens_differing_from_uncached_static": sum(differing(t, u) for t, u in zip(tokens, uncached_static, strict=True)),
                "problems_identical_to_uncached_static": sum(t == u for t, u in zip(tokens, uncached_static, strict=True)),
                "identical_to_static_same_cache": sum(t == s for t, s in zip(tokens, static_tokens, strict=True)),
                "tokens": n_tok,
            })
    out = {
        "command": "python benchmarks/approx_cache.py " + " ".join(sys.argv[1:]),
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "model": "random full-attention reference model: hidden 128, 4 layers, 4 heads, vocab 288",
        "problems": len(prompts),
        "max_new_tokens": cfg.max_new_tokens,
        "block_size": cfg.block_size,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"| cache | decoder | NFE (passes) | model calls | ms/pass | tokens/s | positions/forward | tokens ≠ uncached static "
          f"(of {rows[0]['tokens']}) | = static, same cache |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pos = "—" if r["positions_per_forward"] is None else f"{r['positions_per_forward']:.1f}"
        print(f"| {r['cache']} | {r['strategy']} | {r['nfe']} | {r['model_calls']} | {r['ms_per_forward']:.2f} | {r['tokens_per_second']:.0f} | "
              f"{pos} | {r['tokens_differing_from_uncached_static']} | {r['identical_to_static_same_cache']}/{len(prompts)} |")


if __name__ == "__main__":
    main()
