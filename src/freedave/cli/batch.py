"""``freedave batch``: a resumable JSONL decoding job, in this process or on Ray (``--ray``)."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from freedave.batch import JobSettings, Summary, run_job
from freedave.cli import args as common


def add_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("batch", help="decode a JSONL file of prompts (resumable; --ray to scale out)")
    b.add_argument("--input", required=True, help='JSONL: {"id", "prompt" | "messages", "seed"?, "max_new_tokens"?}')
    b.add_argument("--output", required=True, help="JSONL results, appended per batch; rerun to resume")
    b.add_argument("--batch-size", type=int, default=8, help="rows per decode call (per worker with --ray)")
    b.add_argument("--summary", help="also write the summary JSON here (it always goes to stderr)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("--chat", action="store_true", help="apply the tokenizer's chat template to prompt rows")
    common.add_model_args(b)
    common.add_decode_args(b)
    common.add_strategy_args(b)
    b.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run on Ray Data; without ADDRESS start a local cluster")
    b.add_argument("--num-workers", type=int, default=1, help="--ray: decoding actors (each loads the model once)")
    b.add_argument("--gpus-per-worker", type=float, default=0.0, help="--ray: GPUs per actor")
    b.add_argument("--cpus-per-worker", type=float, default=1.0, help="--ray: CPUs per actor (fractions allowed)")
    b.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> JobSettings:
    common.decode_config(args, None)  # bad lengths or sampling fail before any work
    return JobSettings(
        model=args.model, strategy=common.strategy_from_args(args), max_new_tokens=args.max_new_tokens,
        block_size=args.block_size, block_layout=args.block_layout, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        seed=args.seed, confidence=args.confidence, chat=args.chat, device=args.device, dtype=args.dtype, family=args.family,
        mask_token_id=args.mask_token_id, trust_remote_code=args.trust_remote_code,
    )


class ProgressBar:
    """A rich progress bar on stderr: rows done of all, rows/s and tokens/s of this run."""

    def __init__(self, enabled: bool) -> None:
        self.progress: Any = None
        self.task: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("batch"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                console=Console(stderr=True),
            )

    def __enter__(self) -> ProgressBar:
        if self.progress:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.__exit__(*exc)

    def start(self, s: Summary) -> None:
        if self.progress:
            self.task = self.progress.add_task("batch", total=s.rows, completed=s.skipped, rate="")

    def update(self, s: Summary) -> None:
        if self.progress and self.task is not None:
            t = max(s.seconds, 1e-9)
            rate = f"{s.decoded / t:.1f} rows/s · {s.tokens / t:.0f} tok/s"
            self.progress.update(self.task, completed=s.skipped + s.decoded, rate=rate)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    engine = None
    ray_ctx: Any = nullcontext()
    if args.ray is not None:
        from freedave import ray as fd_ray  # ray is an optional extra: imported only here

        ray_ctx = fd_ray.cluster(None if args.ray == "local" else args.ray)
        engine = fd_ray.ray_engine(settings, f"{args.output}.ray", args.num_workers,
                                   args.cpus_per_worker, args.gpus_per_worker)
    with ray_ctx, ProgressBar(not args.no_progress) as bar:
        summary = run_job(settings, args.input, args.output, args.batch_size, engine=engine,
                          on_start=bar.start, on_batch=bar.update)
    text = json.dumps({"summary": summary.to_json(), "output": str(args.output)})
    print(text, file=sys.stderr)
    if args.summary:
        Path(args.summary).write_text(text + "\n")
    return 0
