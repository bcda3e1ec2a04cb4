"""``freedave``: the entry point. Every subcommand module is imported here, by name: a broken
import fails loudly instead of making a subcommand vanish."""

from __future__ import annotations

import logging
import sys

from freedave.cli import batch, bench, check, demo, generate, info, train
from freedave.cli.args import Parser
from freedave.errors import one_line

SUBCOMMANDS = (generate, batch, demo, info, bench, check, train)


def build_parser() -> Parser:
    parser = Parser(prog="freedave", description="Fast, lossless decoding of diffusion LMs.")
    parser.add_argument("--verbose", "-v", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # a bad flag (one line already printed) or --help
        return e.code if isinstance(e.code, int) else 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:  # DecodeError and friends are ValueErrors
        print(f"freedave: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("freedave: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
