"""``freedave demo``: static vs threshold vs FreeDave on the bundled model, and one unmasking story."""

from __future__ import annotations

import argparse
import json

import torch

from freedave.demo import DRAFT_DEPTH, evaluate, render_story, unmask_story
from freedave.errors import OptionError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="static vs threshold vs FreeDave on the bundled model")
    p.add_argument("--model", default="reference", help="'reference' (bundled) or a checkpoint folder of the same task")
    p.add_argument("--problems", type=int, default=12, help="held-out problems to decode (default 12)")
    p.add_argument("--draft-depth", type=int, default=DRAFT_DEPTH, help=f"FreeDave draft depth (default {DRAFT_DEPTH})")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--bound", action="store_true", help="also report the attainable tokens/NFE bound (a traced static run)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from freedave.models.loading import load
    from freedave.tasks.reference import ReferenceTask

    if args.problems < 1:
        raise OptionError(f"--problems must be >= 1 (got {args.problems})")
    torch.set_num_threads(max(1, args.threads))
    loaded = load(args.model)
    problems = ReferenceTask().problems(args.problems)
    report = evaluate(loaded, problems, depth=args.draft_depth, bound=args.bound)
    example = next((p for p in problems if p.kind == "add"), problems[0])
    story = unmask_story(loaded, example, depth=args.draft_depth)
    if args.json:
        report["example"] = {k: story[k] for k in ("problem", "response", "static_nfe", "freedave_nfe", "freedave")}
        print(json.dumps(report))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"freedave demo · {len(problems)} held-out problems of the bundled task · block {report['block_size']}")
    for col in ("strategy", "accuracy", "NFE", "tokens/NFE", "tokens/s", "identical to static"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for row in report["strategies"]:
        same = row.get("identical_to_static")
        table.add_row(
            row["strategy"],
            f"{row['accuracy']:.2f}",
            str(row["nfe"]),
            f"{row['tokens_per_nfe']:.2f}",
            f"{row['tokens_per_s']:.0f}",
            "—" if same is None else ("yes" if same == 1 else f"no ({same:.0%})"),
        )
    console.print(table)
    console.print(f"\n[bold]{story['problem']}[/bold] → {story['response']}")
    console.print(render_story(story, f"static: {story['static_nfe']} forwards, one token each", "static"))
    console.print(render_story(
        story,
        f"FreeDave d={args.draft_depth}: {story['freedave_nfe']} forwards; each row after the first "
        "verifies a batch of drafts and keeps the longest verified run (highlighted)",
        "freedave",
    ))
    return 0
