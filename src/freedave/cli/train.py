"""``freedave train-reference``: train the bundled reference model from scratch."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from freedave.errors import OptionError
from freedave.models.loading import REFERENCE_PATH
from freedave.train import TrainConfig, train

log = logging.getLogger("freedave.train")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-reference", help="train the bundled reference model from scratch")
    p.add_argument("--out", default=str(REFERENCE_PATH), help="checkpoint folder (default: the bundled one)")
    defaults = TrainConfig()
    for name in ("steps", "batch_size", "seed", "hidden_size", "num_hidden_layers", "num_attention_heads",
                 "intermediate_size", "block_size", "gen_length", "threads", "eval_size", "train_size"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=None, help=f"default {getattr(defaults, name)}")
    p.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default {defaults.lr})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__ and v is not None})
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out} exists and is not a folder")
    if not log.isEnabledFor(logging.INFO):  # the loss log is part of the run's output
        log.setLevel(logging.INFO)
        if not logging.getLogger().handlers:
            logging.basicConfig(format="%(message)s")
    summary = train(cfg, out, progress=not args.no_progress)
    if args.json:
        print(json.dumps(summary))
        return 0
    held = summary.get("heldout", {})
    static = held.get("static", {}).get("accuracy")
    print(
        f"saved {out}: {summary['parameters']} parameters, {summary['checkpoint_bytes'] / 2**20:.2f} MiB, "
        f"{summary['train_seconds']:.0f}s, final loss {summary['final_loss']}"
        + (f", held-out static accuracy {static:.3f}" if static is not None else "")
    )
    return 0
