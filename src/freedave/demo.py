"""``freedave demo`` and ``freedave info``: the bundled reference model, out of the box.

The demo decodes a handful of held-out problems of the bundled task with static, threshold and
FreeDave decoding, prints a table (accuracy, NFE, tokens/NFE, tokens/s, identical to static), and
shows for one problem how the response unmasks forward by forward under static and under FreeDave.

FreeDave follows the static path exactly (that is what "lossless" means), so its forwards are
consecutive runs of the static order: the run committed by FreeDave's forward i is the next
``accepted[i]`` static decisions. The picture is drawn from a traced static run's
``Result.decisions`` and FreeDave's own ``Result.accepted``; the demo checks the two runs' tokens are identical before drawing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from freedave.bench import metrics, runner
from freedave.bench.rows import Row
from freedave.decoding import DecodeConfig, FreeDave, decode, decode_static
from freedave.errors import DecodeError
from freedave.tasks.base import Problem

TAUS = (0.5, 0.7, 0.9, 0.95)
DRAFT_DEPTH = 8
MAX_NEW_TOKENS = 32
MASK_GLYPH, EOS_GLYPH = "·", "∎"


# ------------------------------------------------------------------------------------------------
# Measuring strategies side by side (the bench runner's steps, with the demo's settings).


def evaluate(loaded, problems: list[Problem], *, taus: Sequence[float] = TAUS,  # noqa: ANN001
             depth: int = DRAFT_DEPTH, bound: bool = True) -> dict[str, Any]:
    """Accuracy, NFE and speed of static, threshold (each τ) and FreeDave on ``problems`` (all
    prompts batched per forward), measured by the bench runner; ``bound`` adds the attainable
    optimal path from a traced static run."""
    cfg = runner.BenchConfig(strategies=("static", "threshold", "freedave"), draft_depths=(depth,), thresholds=tuple(taus),
                             block_size=loaded.block_size or 16, max_new_tokens=MAX_NEW_TOKENS,
                             batch_size=len(problems), warmup=False)
    prep = runner.prepare(cfg, loaded=loaded, problems=problems)
    with runner.progress(quiet=True) as bar, torch.no_grad():
        timed, _, memory_source = runner.time_settings(prep, cfg, bar)
        traced = runner.trace_bound(prep, cfg, bar) if bound else []
    rows = [demo_row(r) for r in runner.summarise(prep, cfg, timed, None, traced, memory_source).rows]
    out: dict[str, Any] = {"problems": len(problems), "block_size": prep.dcfg.block_size, "draft_depth": depth,
                           "strategies": rows}
    if bound:
        out["attainable_tokens_per_nfe"] = metrics.ratio(prep.valid(traced), metrics.bound_forwards(traced)[0])
        out["attainable_tokens_per_nfe_by_kind"] = runner.attainable_by_kind(prep, traced)
    out["static"] = rows[0]
    return out


def demo_row(r: Row) -> dict[str, Any]:
    """The demo's figures of one bench row (its JSON keys predate the bench's)."""
    row = {
        "strategy": r.label,
        "accuracy": r.accuracy,
        "accuracy_by_kind": r.accuracy_by_kind,
        "nfe": r.nfe,
        "tokens": r.valid_tokens,
        "tokens_per_nfe": r.tokens_per_nfe,
        "tokens_per_nfe_by_kind": r.tokens_per_nfe_by_kind,
        "seconds": r.seconds,
        "tokens_per_s": r.tokens_per_second or 0.0,
    }
    if r.strategy != "static":
        row["identical_to_static"] = r.exact_match_vs_static
    return row


# ------------------------------------------------------------------------------------------------
# The step-by-step picture of one problem.


def unmask_story(loaded, problem: Problem, depth: int = DRAFT_DEPTH) -> dict:  # noqa: ANN001
    """Per forward, the response positions committed, under static and under FreeDave."""
    cfg = DecodeConfig(max_new_tokens=MAX_NEW_TOKENS, block_size=loaded.block_size or 16)
    prompt = loaded.encode(problem.prompt)
    (st,) = decode_static(loaded.denoiser, [prompt], cfg, trace=True)
    order = [p for p, _ in st.decisions or ()]
    (fd,) = decode(loaded.denoiser, [prompt], cfg, FreeDave(depth))
    if fd.token_ids != st.token_ids or sum(fd.accepted) != len(order):
        raise DecodeError("FreeDave left the static path on the demo problem; the model is not batch-invariant here")
    chunks, i = [], 0
    for k in fd.accepted:
        chunks.append(order[i : i + k])
        i += k
    tokens = dict(st.decisions or ())
    glyphs = [_glyph(loaded, tokens.get(p, loaded.denoiser.mask_id)) for p in range(cfg.gen_length)]
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
