"""``freedave generate``: decode prompts with one strategy."""

from __future__ import annotations

import argparse
import json

from freedave.cli import args as common
from freedave.decoding import decode


def add_parser(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("generate", help="decode prompts with one strategy")
    common.add_generation_args(g)
    common.add_compile_arg(g)
    g.add_argument("--prompt", action="append", help="a prompt (repeatable)")
    g.add_argument("--prompts-file", help="a file with one prompt per line")
    g.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template")
    g.add_argument("--deterministic", action="store_true",
                   help="GPU: fixed-shape GEMMs, one SDPA kernel, deterministic algorithms (CPU is batch-invariant anyway)")
    g.add_argument("--json", action="store_true", help="one JSON object per prompt per line")
    g.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    strategy = common.strategy_from_args(args)
    common.decode_config(args, None)  # bad lengths or sampling fail before the model loads
    prompts = common.read_prompts(args)
    loaded = common.load_model(args)
    cfg = common.decode_config(args, loaded.block_size)
    ids = [loaded.encode(p, chat=args.chat) for p in prompts]
    results = decode(loaded.denoiser, ids, cfg, strategy, device=args.device)
    rows = [
        {
            "prompt": prompt,
            "text": loaded.decode(r.token_ids),
            "token_ids": r.token_ids,
            "nfe": r.nfe,
            "model_calls": r.model_calls,
            "steps": r.steps,
            "strategy": r.strategy,
            "draft_depth": r.draft_depth,
            "draft_branches": getattr(strategy, "draft_branches", None),
            "threshold": r.threshold,
            "tokens_per_nfe": len(r.token_ids) / max(r.nfe, 1),
            "accepted": list(r.accepted),
            "seconds": r.seconds,
            "cache": args.cache,
        }
        for prompt, r in zip(prompts, results, strict=True)
    ]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    common.print_table(
        f"freedave generate · {strategy.name} · {args.model}",
        ("prompt", "response", "NFE", "tokens/NFE", "seconds"),
        [(r["prompt"], r["text"], str(r["nfe"]), f"{r['tokens_per_nfe']:.2f}", f"{r['seconds']:.3f}") for r in rows],
    )
    return 0
