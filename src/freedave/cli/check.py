"""``freedave check``: is this model's forward batch-invariant (and its cache exact) here?"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from freedave.check import run_check
from freedave.cli import args as common


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check that the model's forward is batch-invariant here")
    common.add_model_args(p)
    common.add_compile_arg(p)
    p.add_argument("--deterministic", action="store_true", help="deterministic algorithms / fixed kernels")
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rep = run_check(common.load_model(args), model=str(args.model), device=args.device, dtype=args.dtype,
                    deterministic=args.deterministic, max_batch=args.max_batch)
    if args.json:
        print(json.dumps(asdict(rep)))
    else:
        ok = "yes" if rep.batch_invariant else f"NO (max |diff| {rep.max_abs_diff:.3g}: FreeDave may differ from static on near-ties)"
        print(f"model {rep.model} ({rep.family}) on {rep.device}/{rep.dtype}")
        print(f"batch-invariant over batches 1..{args.max_batch}: {ok}")
        if rep.cache_exact is not None:
            print(f"KV cache exact: {'yes' if rep.cache_exact else f'NO (max |diff| {rep.cache_max_abs_diff:.3g})'}")
        if rep.compile:
            print(f"compiled forward (--compile): max |compiled - eager| logits {rep.compile_max_abs_diff_vs_eager:.3g}")
        print(f"deterministic mode: {'on' if args.deterministic else 'off'} - {rep.note}")
    return 0 if rep.passed else 1
