"""``freedave bench``: parse the flags into a ``BenchConfig``, run it, write JSON / report / table."""

from __future__ import annotations

import argparse

from freedave.cli.args import (
    add_block_layout_arg,
    add_compile_arg,
    add_confidence_arg,
    add_model_args,
)
from freedave.errors import DecodeError
from freedave.options import AUTO


def parse_list(flag: str, value: str | None, kind: type) -> tuple | None:
    """A comma list such as ``2,4,8``; ``None`` when the flag was not given."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise DecodeError(f"{flag} is empty; give a comma list such as {'2,4,8,16' if kind is int else '0.7,0.9'}")
    try:
        return tuple(kind(v) for v in items)
    except ValueError:
        raise DecodeError(f"{flag}: {value!r} is not a comma list of {'integers' if kind is int else 'numbers'}") from None


FLAGS = ("model", "task", "data", "limit", "strategies", "draft_depths", "thresholds", "temperature", "seed",
         "block_size", "block_layout", "max_new_tokens", "device", "dtype", "batch_size", "threads", "cache", "quick", "json", "out", "no_warmup",
         "no_cross_blocks", "family", "mask_token_id", "trust_remote_code", "chat", "confidence", "compile", "draft_branches")


def parse_depths(value: str | None) -> tuple | None:
    """``--draft-depths``: integers and/or ``auto`` (adaptive depth)."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise DecodeError("--draft-depths is empty; give a comma list such as 2,4,8,16,auto")
    try:
        return tuple(v if v == AUTO else int(v) for v in items)
    except ValueError:
        raise DecodeError(f"--draft-depths: {value!r} is not a comma list of integers or 'auto'") from None


def command_of(args: argparse.Namespace) -> list[str]:
    """The bench command that reproduces ``args``: every flag given or defaulted, in a fixed order."""
    argv = ["bench"]
    for name in FLAGS:
        v = getattr(args, name, None)
        flag = "--" + name.replace("_", "-")
        if name == "chat" and v is False:
            argv.append("--no-chat")
        if v is None or v is False:
            continue
        argv += [flag] if v is True else [flag, str(v)]
    return argv


def run(args: argparse.Namespace) -> int:
    from freedave.bench.report import print_table, to_json_text, write_json, write_report
    from freedave.bench.runner import BenchConfig, run_bench

    strategies = tuple(s.strip() for s in args.strategies.split(",") if s.strip())
    cfg = BenchConfig(
        model=args.model,
        task=args.task,
        data=args.data,
        limit=args.limit,
        strategies=strategies,
        draft_depths=parse_depths(args.draft_depths),
        thresholds=parse_list("--thresholds", args.thresholds, float),
        temperature=args.temperature,
        seed=args.seed,
        block_size=args.block_size,
        block_layout=args.block_layout,
        max_new_tokens=args.max_new_tokens,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        cache=args.cache,
        quick=args.quick,
        warmup=not args.no_warmup,
        cross_blocks=not args.no_cross_blocks,
        family=args.family,
        mask_token_id=args.mask_token_id,
        trust_remote_code=args.trust_remote_code,
        chat=args.chat,
        confidence=args.confidence,
        compile=args.compile,
        draft_branches=parse_list("--draft-branches", args.draft_branches, int) or (0,),
    )
    if args.threads is not None:
        if args.threads < 1:
            raise DecodeError(f"--threads must be >= 1 (got {args.threads})")
        import torch

        torch.set_num_threads(args.threads)
    to_stdout = args.json == "-"
    result = run_bench(cfg, argv=command_of(args), quiet=to_stdout or args.quiet)
    if args.out:
        write_report(result, args.out)
    if to_stdout:
        print(to_json_text(result))
        return 0
    if args.json:
        write_json(result, args.json)
    if not args.quiet:
        print_table(result)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "bench",
        help="run decoders side by side: accuracy, tokens/s, tokens/NFE, exact match, bound, plots",
        description="Static, threshold and FreeDave decoding on one task, in one process, on the same inputs.",
    )
    add_model_args(p)  # --model --family --mask-token-id --device --dtype --trust-remote-code, as generate has
    add_compile_arg(p)
    p.add_argument("--chat", action=argparse.BooleanOptionalAction, default=None,
                   help="apply the tokenizer's chat template to every prompt, or not (default: when the task wants it)")
    p.add_argument("--task", default="reference", help="reference | humaneval | gsm8k | math500 | jsonl")
    p.add_argument("--data", default=None, help="local JSONL for tasks whose data is not shipped (gsm8k, math500, jsonl)")
    p.add_argument("--limit", type=int, default=None, help="first N problems (default: all; 8 with --quick)")
    p.add_argument("--strategies", default="static,threshold,freedave",
                   help="comma list of static, threshold, freedave, freedave-threshold (static always runs)")
    p.add_argument("--draft-depths", default=None, help="FreeDave draft depths, comma list (default 2,4,8,16; 2,4,8 with --quick)")
    p.add_argument("--draft-branches", default=None,
                   help="FreeDave runner-up rows per round (a draft tree; greedy only), comma list: one setting "
                        "per depth and count (default 0: chains)")
    p.add_argument("--thresholds", default=None, help="threshold τ values, comma list (default 0.5,0.7,0.9,0.95; 0.9 with --quick)")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    add_confidence_arg(p)
    p.add_argument("--block-size", type=int, default=None, help="decoding block size (default: the model's)")
    add_block_layout_arg(p)
    p.add_argument("--max-new-tokens", type=int, default=None, help="default: the task's (64 for the reference task)")
    p.add_argument("--batch-size", type=int, default=1, help="prompts decoded together")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own choice)")
    p.add_argument("--cache", default="none",
                   help="none | prefix | dual: approximate KV cache for full/shifted models; every setting runs with "
                        "it, and uncached static runs beside them (meta.uncached_static)")
    p.add_argument("--quick", action="store_true", help="small sample, short sweep (< 5 min on 2 CPU cores)")
    p.add_argument("--json", default=None, metavar="PATH", help="write {meta, rows} JSON here ('-' = stdout, no progress)")
    p.add_argument("--out", default=None, metavar="DIR", help="write results.json, report.md and PNG plots here")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.add_argument("--no-cross-blocks", action="store_true",
                   help="FreeDave drafts stop at the block edge (forwards never widen to the next block)")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up decode (not for reported numbers)")
    p.set_defaults(func=run)
    return p
