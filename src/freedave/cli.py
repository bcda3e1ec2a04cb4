"""The ``freedave`` command line: parse, build a config, call, print.

Each subcommand lives beside the code it drives and exposes ``add_parser(subparsers)``; this file
only wires them together and turns user errors into one-line messages.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from freedave.decoding import DecodeConfig, Sampling, decode, make_strategy
from freedave.decoding.common import DecodeError

log = logging.getLogger("freedave")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Flags every model-using subcommand shares."""
    p.add_argument("--model", default="reference", help="'reference' (bundled) or a local checkpoint folder")
    p.add_argument("--family", choices=None, default=None, help="full | shifted | block (default: from the config)")
    p.add_argument("--mask-token-id", type=int, default=None, help="override the mask token id")
    p.add_argument("--device", default="cpu", help="cpu | cuda | mps")
    p.add_argument("--dtype", default="float32", help="float32 | bfloat16 | float16")
    p.add_argument("--trust-remote-code", action="store_true", help="allow a checkpoint's own Python code (off by default)")


def add_cache_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", default="none",
                   help="none | prefix | dual. Full/shifted models: Fast-dLLM style approximate KV cache, refreshed at block edges "
                        "(lossy vs. no cache; FreeDave still equals static with the same cache)")


def add_decode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--block-size", type=int, default=None, help="decoding block size (default: the model's)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)


def parse_depth(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise DecodeError(f"--draft-depth must be an integer >= 1 or 'auto' (got {value!r})") from None


def load_model(args: argparse.Namespace):  # noqa: ANN201
    from freedave.models.loading import load

    return load(
        args.model,
        family=args.family,
        device=args.device,
        dtype=args.dtype,
        mask_token_id=args.mask_token_id,
        trust_remote_code=args.trust_remote_code,
        deterministic=bool(getattr(args, "deterministic", False)),
        cache=getattr(args, "cache", "none"),
    )


def read_prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompt or [])
    if args.prompts_file:
        path = Path(args.prompts_file)
        if not path.is_file():
            raise DecodeError(f"--prompts-file {path}: no such file")
        prompts += [line for line in path.read_text().splitlines() if line.strip()]
    if not prompts:
        raise DecodeError("no prompt given; use --prompt TEXT or --prompts-file FILE")
    for i, p in enumerate(prompts):
        if not p:
            raise DecodeError(f"prompt {i} is empty")
    return prompts


def cmd_generate(args: argparse.Namespace) -> int:
    strategy = make_strategy(args.strategy, parse_depth(args.draft_depth), args.threshold, not args.no_cross_blocks)
    sampling = Sampling(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    if args.block_size is not None and args.block_size < 1:
        raise DecodeError(f"--block-size must be >= 1 (got {args.block_size})")
    prompts = read_prompts(args)
    loaded = load_model(args)
    cfg = DecodeConfig(
        max_new_tokens=args.max_new_tokens,
        block_size=args.block_size or loaded.block_size or 32,
        sampling=sampling,
    )
    ids = [loaded.encode(p, chat=getattr(args, "chat", False)) for p in prompts]
    results = decode(loaded.denoiser, ids, cfg, strategy, device=args.device)
    rows = []
    for prompt, r in zip(prompts, results, strict=True):
        rows.append(
            {
                "prompt": prompt,
                "text": loaded.decode(r.token_ids),
                "token_ids": r.token_ids,
                "nfe": r.nfe,
                "steps": r.steps,
                "strategy": r.strategy,
                "draft_depth": r.draft_depth,
                "threshold": r.threshold,
                "tokens_per_nfe": len(r.token_ids) / max(r.nfe, 1),
                "accepted": list(r.accepted),
                "seconds": r.seconds,
                "cache": getattr(args, "cache", "none"),
            }
        )
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"freedave generate · {strategy.name} · {args.model}")
    for col in ("prompt", "response", "NFE", "tokens/NFE", "seconds"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["prompt"], row["text"], str(row["nfe"]), f"{row['tokens_per_nfe']:.2f}", f"{row['seconds']:.3f}")
    Console().print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freedave", description="Fast, lossless decoding of diffusion LMs.")
    parser.add_argument("--verbose", "-v", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="decode prompts with one strategy")
    add_model_args(g)
    add_decode_args(g)
    add_cache_arg(g)
    g.add_argument("--prompt", action="append", help="a prompt (repeatable)")
    g.add_argument("--prompts-file", help="a file with one prompt per line")
    g.add_argument("--strategy", default="freedave", help="static | threshold | freedave | freedave-threshold")
    g.add_argument("--draft-depth", default="8", help="drafts per verification forward, or 'auto'")
    g.add_argument("--no-cross-blocks", action="store_true",
                   help="FreeDave drafts stop at the block edge (no next-block logits; cheaper forwards on CPU)")
    g.add_argument("--threshold", type=float, default=0.9, help="tau for threshold strategies")
    g.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template")
    g.add_argument("--deterministic", action="store_true",
                   help="GPU: fixed-shape GEMMs, one SDPA kernel, deterministic algorithms (CPU is batch-invariant anyway)")
    g.add_argument("--json", action="store_true", help="one JSON object per prompt per line")
    g.set_defaults(func=cmd_generate)

    for module in _SUBCOMMAND_MODULES:
        try:
            mod = __import__(module, fromlist=["add_parser"])
        except ImportError:
            continue
        mod.add_parser(sub)
    return parser


# Modules that contribute subcommands via ``add_parser(subparsers)`` (demo, info, bench, check, ...).
_SUBCOMMAND_MODULES = [
    "freedave.demo",
    "freedave.bench.cli",
    "freedave.check",
    "freedave.train",
]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return int(args.func(args) or 0)
    except (DecodeError, ValueError, FileNotFoundError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"freedave: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("freedave: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
