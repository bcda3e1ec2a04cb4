"""``freedave demo`` and ``freedave info``: the bundled reference model, out of the box.

The demo decodes a handful of held-out problems of the bundled task with static, threshold and
FreeDave decoding, prints a table (accuracy, NFE, tokens/NFE, tokens/s, identical to static), and
shows for one problem how the response unmasks forward by forward under static and under FreeDave.

FreeDave follows the static path exactly (that is what "lossless" means), so its forwards are
consecutive runs of the static order: the run committed by FreeDave's forward i is the next
``accepted[i]`` static decisions. The picture is drawn from the static order and FreeDave's own
``Result.accepted``; the demo checks the two runs' tokens are identical before drawing it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import torch

from freedave.decoding import (
    DecodeConfig,
    FreeDave,
    Result,
    Static,
    Threshold,
    decode,
    decode_static,
)
from freedave.decoding.common import DecodeError, call_model, new_canvases
from freedave.decoding.optimal import attainable_nfe
from freedave.decoding.steps import static_step
from freedave.tasks.base import Problem
from freedave.tasks.reference import ReferenceTask, check

TAUS = (0.5, 0.7, 0.9, 0.95)
DRAFT_DEPTH = 8
MAX_NEW_TOKENS = 32
MASK_GLYPH, EOS_GLYPH = "·", "∎"


# ------------------------------------------------------------------------------------------------
# Measuring strategies side by side.


def strategies(taus: Sequence[float] = TAUS, depth: int = DRAFT_DEPTH) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [("static", Static())]
    out += [(f"threshold τ={t:g}", Threshold(t)) for t in taus]
    out.append((f"freedave d={depth}", FreeDave(depth)))
    return out


def summarize(label: str, problems: list[Problem], results: list[Result], texts: list[str],
              static: list[Result] | None, seconds: float) -> dict:
    tokens = sum(len(r.token_ids) for r in results)
    nfe = sum(r.nfe for r in results)
    correct = [check(p, t) for p, t in zip(problems, texts, strict=True)]
    kinds = sorted({p.kind for p in problems})
    row = {
        "strategy": label,
        "accuracy": sum(correct) / len(problems),
        "accuracy_by_kind": {
            k: sum(c for p, c in zip(problems, correct, strict=True) if p.kind == k)
            / sum(p.kind == k for p in problems)
            for k in kinds
        },
        "nfe": nfe,
        "tokens": tokens,
        "tokens_per_nfe": tokens / max(nfe, 1),
        "tokens_per_nfe_by_kind": {
            k: sum(len(r.token_ids) for p, r in zip(problems, results, strict=True) if p.kind == k)
            / max(1, sum(r.nfe for p, r in zip(problems, results, strict=True) if p.kind == k))
            for k in kinds
        },
        "seconds": seconds,
        "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
    }
    if static is not None:
        same = [r.token_ids == s.token_ids for r, s in zip(results, static, strict=True)]
        row["identical_to_static"] = sum(same) / len(same)
    return row


def evaluate(loaded, problems: list[Problem], *, taus: Sequence[float] = TAUS,  # noqa: ANN001
             depth: int = DRAFT_DEPTH, bound: bool = True) -> dict:
    """Accuracy, NFE and speed of every strategy on ``problems`` (all prompts batched per forward)."""
    cfg = DecodeConfig(max_new_tokens=MAX_NEW_TOKENS, block_size=loaded.block_size or 16)
    ids = [loaded.encode(p.prompt) for p in problems]
    rows, static = [], None
    for label, strategy in strategies(taus, depth):
        started = time.perf_counter()
        results = decode(loaded.denoiser, ids, cfg, strategy)
        seconds = time.perf_counter() - started
        texts = [loaded.decode(r.token_ids) for r in results]
        rows.append(summarize(label, problems, results, texts, static, seconds))
        if static is None:
            static = results
    out: dict[str, Any] = {"problems": len(problems), "block_size": cfg.block_size, "draft_depth": depth, "strategies": rows}
    if bound:
        traced = decode_static(loaded.denoiser, ids, cfg, trace=True)
        nfe = sum(attainable_nfe(r.reach) for r in traced)
        out["attainable_tokens_per_nfe"] = sum(len(r.token_ids) for r in traced) / nfe
        out["attainable_tokens_per_nfe_by_kind"] = {
            k: sum(len(r.token_ids) for p, r in zip(problems, traced, strict=True) if p.kind == k)
            / max(1, sum(attainable_nfe(r.reach) for p, r in zip(problems, traced, strict=True) if p.kind == k))
            for k in sorted({p.kind for p in problems})
        }
    out["static"] = rows[0]
    return out


# ------------------------------------------------------------------------------------------------
# The step-by-step picture of one problem.


def static_order(denoiser, prompt: list[int], cfg: DecodeConfig) -> tuple[list[int], torch.Tensor, int]:  # noqa: ANN001
    """Positions (relative to the response) in the order static decoding unmasks them, the final
    canvas and the prompt length: the static loop for one prompt, recording each decision."""
    (c,) = new_canvases(denoiser, [prompt], cfg, "cpu")
    order = []
    while not c.layout.is_terminal(c.x):
        ((scorer,),) = call_model(denoiser, [(c, [c.x], False)], cfg)
        nxt = static_step(c.x, c.layout, scorer, c.steps)
        order.append(int((nxt != c.x).nonzero()[0, 0]) - c.layout.prompt_len)
        c.x, c.steps = nxt, c.steps + 1
    return order, c.x[c.layout.prompt_len :], c.layout.prompt_len


def unmask_story(loaded, problem: Problem, depth: int = DRAFT_DEPTH) -> dict:  # noqa: ANN001
    """Per forward, the response positions committed, under static and under FreeDave."""
    cfg = DecodeConfig(max_new_tokens=MAX_NEW_TOKENS, block_size=loaded.block_size or 16)
    prompt = loaded.encode(problem.prompt)
    order, final, _ = static_order(loaded.denoiser, prompt, cfg)
    (fd,) = decode(loaded.denoiser, [prompt], cfg, FreeDave(depth))
    (st,) = decode(loaded.denoiser, [prompt], cfg, Static())
    if fd.token_ids != st.token_ids or sum(fd.accepted) != len(order):
        raise DecodeError("FreeDave left the static path on the demo problem; the model is not batch-invariant here")
    chunks, i = [], 0
    for k in fd.accepted:
        chunks.append(order[i : i + k])
        i += k
    glyphs = [_glyph(loaded, int(t)) for t in final.tolist()]
    return {
        "problem": problem.prompt,
        "response": loaded.decode(st.token_ids),
        "glyphs": glyphs,
        "static": [[p] for p in order],
        "static_nfe": st.nfe,
        "freedave": chunks,
        "freedave_nfe": fd.nfe,
    }


def _glyph(loaded, tok: int) -> str:  # noqa: ANN001
    den = loaded.denoiser
    if tok == den.eos_id:
        return EOS_GLYPH
    text = loaded.decode([tok])
    return text if len(text) == 1 and text.isprintable() else "?"


def render_story(story: dict, title: str, key: str):  # noqa: ANN201
    from rich.table import Table
    from rich.text import Text

    glyphs = story["glyphs"]
    n = max((max(c) for c in story[key] if c), default=-1) + 1
    table = Table(title=title, show_lines=False, title_justify="left")
    table.add_column("fwd", justify="right")
    table.add_column("+", justify="right")
    table.add_column("response (new tokens highlighted)", no_wrap=True)
    done: set[int] = set()
    first = 1
    if key == "freedave":  # the first forward only gives the distribution the first drafts come from
        table.add_row("1", "0", Text(MASK_GLYPH * n, style="dim"))
        first = 2
    for i, chunk in enumerate(story[key], start=first):
        new = set(chunk)
        line = Text()
        for p in range(n):
            if p in new:
                line.append(glyphs[p], style="bold black on green")
            elif p in done:
                line.append(glyphs[p])
            else:
                line.append(MASK_GLYPH, style="dim")
        done |= new
        table.add_row(str(i), str(len(chunk)), line)
    return table


# ------------------------------------------------------------------------------------------------
# CLI.


def cmd_demo(args: argparse.Namespace) -> int:
    from freedave.models.loading import load

    if args.problems < 1:
        raise DecodeError(f"--problems must be >= 1 (got {args.problems})")
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


def cmd_info(args: argparse.Namespace) -> int:
    from freedave.models.loading import load

    loaded = load(args.model, family=args.family, mask_token_id=args.mask_token_id,
                  trust_remote_code=args.trust_remote_code)
    den = loaded.denoiser
    model = loaded.model
    cfg = getattr(model, "config", None)
    files = [f for f in loaded.path.iterdir() if f.is_file()] if loaded.path.is_dir() else []
    info = {
        "path": str(loaded.path),
        "family": loaded.family,
        "model_type": getattr(cfg, "model_type", None),
        "block_size": loaded.block_size,
        "mask_token_id": den.mask_id,
        "eos_token_id": getattr(den, "eos_id", None),
        "pad_token_id": getattr(den, "pad_id", None),
        "vocab_size": den.vocab_size,
        "parameters": sum(p.numel() for p in model.parameters()) if model is not None else None,
        "hidden_size": getattr(cfg, "hidden_size", None),
        "num_hidden_layers": getattr(cfg, "num_hidden_layers", None),
        "tokenizer": loaded.tokenizer is not None,
        "checkpoint_bytes": sum(f.stat().st_size for f in files),
    }
    if args.json:
        print(json.dumps(info))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"freedave info · {args.model}", show_header=False)
    for k, v in info.items():
        table.add_row(k, str(v))
    Console().print(table)
    return 0


def add_parser(subparsers) -> None:  # noqa: ANN001
    p = subparsers.add_parser("demo", help="static vs threshold vs FreeDave on the bundled model")
    p.add_argument("--model", default="reference", help="'reference' (bundled) or a checkpoint folder of the same task")
    p.add_argument("--problems", type=int, default=12, help="held-out problems to decode (default 12)")
    p.add_argument("--draft-depth", type=int, default=DRAFT_DEPTH, help=f"FreeDave draft depth (default {DRAFT_DEPTH})")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--bound", action="store_true", help="also report the attainable tokens/NFE bound (a traced static run)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_demo)

    from freedave.cli import add_model_args

    i = subparsers.add_parser("info", help="what a model is: family, block size, special ids, size")
    add_model_args(i)
    i.add_argument("--json", action="store_true", help="print as JSON")
    i.set_defaults(func=cmd_info)
