"""What the subcommands share: the parser class, the flag groups and the objects built from them.

Every vocabulary comes from ``freedave.options``, so a flag accepts exactly what the library does
and says so in the library's words.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from freedave.decoding import DecodeConfig, Sampling, Strategy, make_strategy
from freedave.errors import DecodeError, OptionError
from freedave.options import (
    BLOCK_LAYOUTS,
    CACHES,
    CONFIDENCES,
    DEFAULT_CONFIDENCE,
    DEFAULT_DRAFT_DEPTH,
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_THRESHOLD,
    DTYPES,
    FAMILIES,
    STRATEGIES,
    check_choice,
    check_draft_branches,
    parse_draft_depth,
    resolve_block_size,
)

BLOCK_LAYOUT_HELP = (
    "block-causal models: where blocks start. aligned: at position 0, the prompt block-causal too and the "
    "first response block completing its last partial block (SDAR/TraDo; their checkpoints' default); "
    "prompt: at the prompt end, the prompt one bidirectional prefix (the bundled model's default; "
    "full/shifted models take only this). Default: the model's own"
)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``freedave: error: ...`` and exit code 2, no usage dump."""

    def error(self, message: str) -> NoReturn:
        print(f"freedave: error: {message}", file=sys.stderr)
        sys.exit(2)


def choice(what: str, choices: tuple[str, ...]) -> Callable[[str], str]:
    """An argparse ``type`` that accepts one of ``choices`` and names them when it refuses."""

    def parse(value: str) -> str:
        try:
            check_choice(what, value, choices)
        except OptionError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value

    parse.__name__ = what
    return parse


def metavar(choices: tuple[str, ...]) -> str:
    return "{" + ",".join(choices) + "}"


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Flags every model-using subcommand shares."""
    p.add_argument("--model", default="reference", help="'reference' (bundled) or a local checkpoint folder")
    p.add_argument("--family", type=choice("family", FAMILIES), metavar=metavar(FAMILIES), default=None,
                   help="attention family (default: from the config)")
    p.add_argument("--mask-token-id", type=int, default=None, help="override the mask token id")
    p.add_argument("--device", default="cpu", help="cpu | cuda | mps")
    p.add_argument("--dtype", type=choice("dtype", DTYPES), metavar=metavar(DTYPES), default="float32")
    p.add_argument("--trust-remote-code", action="store_true", help="allow a checkpoint's own Python code (off by default)")


def add_compile_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the forward's position-wise parts (CPU: inductor, needs g++; CUDA: CUDA graphs); "
                        "compiles at load, for seconds; not with --deterministic on a GPU")


def add_cache_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", type=choice("cache", CACHES), metavar=metavar(CACHES), default="none",
                   help="full/shifted models: Fast-dLLM style approximate KV cache, refreshed at block edges "
                        "(lossy vs. no cache; FreeDave still equals static with the same cache)")


def add_block_layout_arg(p: argparse.ArgumentParser) -> None:
    """``--block-layout``: beside every ``--block-size``."""
    p.add_argument("--block-layout", type=choice("block_layout", BLOCK_LAYOUTS), metavar=metavar(BLOCK_LAYOUTS),
                   default=None, help=BLOCK_LAYOUT_HELP)


def add_decode_args(p: argparse.ArgumentParser) -> None:
    """Lengths and sampling."""
    p.add_argument("--block-size", type=int, default=None, help="decoding block size (default: the model's)")
    add_block_layout_arg(p)
    p.add_argument("--max-new-tokens", type=int, default=DEFAULT_MAX_NEW_TOKENS)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    add_confidence_arg(p)


def add_confidence_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--confidence", type=choice("confidence", CONFIDENCES), metavar=metavar(CONFIDENCES),
                   default=DEFAULT_CONFIDENCE,
                   help="score of a decision: its softmax probability over the full vocabulary (LLaDA, Dream, "
                        "Fast-dLLM) or renormalized without the mask token, p/(1-p_mask)")


def add_strategy_args(p: argparse.ArgumentParser, default: str = "freedave") -> None:
    """One strategy and its parameters."""
    p.add_argument("--strategy", type=choice("strategy", STRATEGIES), metavar=metavar(STRATEGIES), default=default)
    p.add_argument("--draft-depth", default=str(DEFAULT_DRAFT_DEPTH), help="drafts per verification forward, or 'auto'")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="tau for threshold strategies")
    p.add_argument("--no-cross-blocks", action="store_true",
                   help="FreeDave drafts stop at the block edge (no next-block logits; cheaper forwards on CPU)")
    p.add_argument("--draft-branches", type=int, default=0, metavar="N",
                   help="runner-up rows per FreeDave round, a draft tree (greedy only; sampled decoding drafts a chain)")



def add_generation_args(p: argparse.ArgumentParser) -> None:
    """The flags of every subcommand that decodes with one model: model, decode, cache, strategy."""
    add_model_args(p)
    add_decode_args(p)
    add_cache_arg(p)
    add_strategy_args(p)

def strategy_from_args(args: argparse.Namespace) -> Strategy:
    check_draft_branches(args.draft_branches)  # refused for every strategy, not only freedave
    return make_strategy(args.strategy, parse_draft_depth(args.draft_depth), args.threshold, not args.no_cross_blocks,
                         args.draft_branches)


def sampling_from_args(args: argparse.Namespace) -> Sampling:
    return Sampling(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                    confidence=args.confidence)


def decode_config(args: argparse.Namespace, model_block: int | None) -> DecodeConfig:
    """Lengths and sampling from the flags; the block size falls back to the model's own."""
    return DecodeConfig(
        max_new_tokens=args.max_new_tokens,
        block_size=resolve_block_size(args.block_size, model_block),
        sampling=sampling_from_args(args),
        block_layout=getattr(args, "block_layout", None),
    )


def load_model(args: argparse.Namespace) -> Any:
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
        compile=bool(getattr(args, "compile", False)),
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


def print_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]], header: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=header)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
