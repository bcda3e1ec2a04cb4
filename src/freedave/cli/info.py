"""``freedave info``: what a model is (family, block size, special ids, size)."""

from __future__ import annotations

import argparse
import json

from freedave.cli import args as common


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="what a model is: family, block size, special ids, size")
    common.add_model_args(p)
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from freedave.models.loading import describe

    info = describe(common.load_model(args))
    if args.json:
        print(json.dumps(info))
        return 0
    common.print_table(f"freedave info · {args.model}", ("key", "value"), [(k, str(v)) for k, v in info.items()], header=False)
    return 0
