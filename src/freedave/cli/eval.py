"""``freedave eval``: lm-eval-harness tasks through freedave's decoders, several strategies side by side.

Wraps ``lm_eval.simple_evaluate`` with the ``freedave`` model (``freedave.eval``), prints the
harness's table per strategy, then one table of freedave's own columns (NFE, tokens/NFE, tokens/s).
The model loads once; every strategy decodes the same requests. lm-eval is imported only here, when
the subcommand runs (the ``eval`` extra).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from freedave.cli import args as common
from freedave.errors import DecodeError
from freedave.options import STRATEGIES, check_choice, parse_draft_depth

log = logging.getLogger("freedave.eval")


def add_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="run lm-eval-harness tasks with freedave's decoders")
    common.add_generation_args(e)
    e.add_argument("--tasks", required=True, help="comma list of lm-eval task names")
    e.add_argument("--strategies", default=None,
                   help="comma list of strategies to run one after another (default: --strategy)")
    e.add_argument("--limit", type=float, default=None, help="documents per task (or a fraction < 1)")
    e.add_argument("--include-path", default=None, help="a folder of extra task YAMLs (e.g. benchmarks/tasks)")
    e.add_argument("--output-path", default=None, help="write results (and samples) as JSON to this file")
    e.add_argument("--log-samples", action="store_true", help="keep per-sample inputs and outputs in the output")
    e.add_argument("--num-fewshot", type=int, default=None)
    e.add_argument("--apply-chat-template", action="store_true", help="format prompts with the tokenizer's chat template")
    e.add_argument("--batch-size", type=int, default=8, help="requests per decode call (changes no output)")
    e.add_argument("--mc-num", type=int, default=16, help="Monte Carlo masks per loglikelihood request")
    e.add_argument("--min-new-tokens", type=int, default=0, help="no EOS in the first N response tokens")
    e.add_argument("--gen-kwargs", default=None,
                   help="key=value,... over every task's generation_kwargs (e.g. max_gen_toks=32,block_size=8)")
    e.add_argument("--model-args", default="", help="extra key=value,... for the freedave lm-eval model")
    e.set_defaults(func=run)


def strategy_names(args: argparse.Namespace) -> list[str]:
    names = [s.strip() for s in args.strategies.split(",")] if args.strategies else [args.strategy]
    if not all(names):
        raise DecodeError("--strategies has an empty entry; give a comma list such as static,freedave")
    for name in names:
        check_choice("strategy", name, STRATEGIES)
    return names


def model_args(args: argparse.Namespace, strategy: str) -> dict[str, Any]:
    """The ``freedave`` model's arguments for one strategy (flags, then ``--model-args`` on top)."""
    from lm_eval.utils import simple_parse_args_string

    out: dict[str, Any] = {
        "strategy": strategy, "draft_depth": parse_draft_depth(args.draft_depth), "draft_branches": args.draft_branches,
        "threshold": args.threshold,
        "cross_blocks": not args.no_cross_blocks, "block_size": args.block_size,
        "block_layout": args.block_layout,
        "max_new_tokens": args.max_new_tokens, "temperature": args.temperature, "top_k": args.top_k,
        "top_p": args.top_p, "seed": args.seed, "confidence": args.confidence, "batch_size": args.batch_size, "device": args.device,
        "mc_num": args.mc_num, "min_new_tokens": args.min_new_tokens,
    }
    return out | simple_parse_args_string(args.model_args)


def metrics_text(task_results: dict[str, Any]) -> str:
    """``n=20 exact_match=0.85`` for one task: each metric (with its filter unless ``none``), no stderr."""
    parts = []
    for key, value in task_results.items():
        name, _, filt = key.partition(",")
        if "_stderr" in name or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        name = "n" if name == "sample_len" else name
        parts.append(f"{name}[{filt}]={value:.4g}" if filt and filt != "none" else f"{name}={value:.4g}")
    return " ".join(parts)


def speed_row(strategy: str, stats: dict[str, float]) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "requests": int(stats["requests"]),
        "nfe": int(stats["nfe"]),
        "tokens": int(stats["tokens"]),
        "tokens_per_nfe": stats["tokens"] / stats["nfe"] if stats["nfe"] else None,
        "tokens_per_second": stats["tokens"] / stats["seconds"] if stats["seconds"] else None,
        "seconds": stats["seconds"],
    }


def task_manager(include_path: str | None, tasks: list[str]) -> Any:
    """lm-eval's task index: the ``--include-path`` folder alone when it has every task asked for
    (indexing the harness's own thousands of YAMLs takes ~20 s on a small CPU), else everything."""
    from lm_eval.tasks import TaskManager

    if include_path:
        local = TaskManager(include_path=include_path, include_defaults=False)
        if set(tasks) <= set(local.all_tasks):
            return local
    return TaskManager(include_path=include_path)


def run(args: argparse.Namespace) -> int:
    from freedave.eval.dist import shutdown

    try:
        return evaluate(args)
    finally:
        shutdown()


def evaluate(args: argparse.Namespace) -> int:
    names = strategy_names(args)
    common.decode_config(args, None)  # bad lengths or sampling fail before the model loads
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise DecodeError("--tasks is empty; give a comma list of task names")
    if args.include_path and not Path(args.include_path).is_dir():
        raise DecodeError(f"--include-path {args.include_path}: no such folder")
    import lm_eval
    from lm_eval.utils import make_table

    from freedave.eval import FreeDaveLM
    from freedave.eval.dist import local_device

    args.device = local_device(args.device)  # under a launcher: this process's own GPU
    per_strategy = [model_args(args, name) for name in names]
    FreeDaveLM.check_args(per_strategy[0])  # a bad key or value fails before the model loads
    loaded = common.load_model(args)
    manager = task_manager(args.include_path, tasks)
    runs = []
    for name, kwargs in zip(names, per_strategy, strict=True):
        lm = FreeDaveLM(model=loaded, **kwargs)
        results = lm_eval.simple_evaluate(
            model=lm, tasks=tasks, limit=args.limit, num_fewshot=args.num_fewshot, task_manager=manager,
            log_samples=args.log_samples, apply_chat_template=args.apply_chat_template, gen_kwargs=args.gen_kwargs,
        )
        stats = lm.total_stats()  # every process takes part
        if lm.rank != 0:
            continue
        runs.append({"strategy": name, "processes": lm.world_size, "speed": speed_row(name, stats), "results": results["results"],
                     "samples": results.get("samples") if args.log_samples else None})
        print(f"freedave eval · {name}")
        print(make_table(results))
    if not runs:
        return 0
    common.print_table(
        f"freedave eval · {args.model}",
        ("strategy", "task", "metrics", "NFE", "tokens/NFE", "tokens/s"),
        [
            (r["strategy"], task, metrics_text(values), str(r["speed"]["nfe"]),
             f"{r['speed']['tokens_per_nfe'] or 0:.2f}", f"{r['speed']['tokens_per_second'] or 0:.1f}")
            for r in runs
            for task, values in r["results"].items()
        ],
    )
    if args.output_path:
        path = Path(args.output_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"model": args.model, "tasks": tasks, "runs": runs}, default=str, indent=1))
        log.info("wrote %s", path)
    return 0
