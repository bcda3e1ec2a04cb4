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

import time
from collections.abc import Sequence
from typing import Any

from freedave.decoding import (
    DecodeConfig,
    FreeDave,
    Result,
    Static,
    Threshold,
    decode,
    decode_static,
)
from freedave.decoding.optimal import attainable_nfe
from freedave.errors import DecodeError
from freedave.tasks.base import Problem
from freedave.tasks.reference import check

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
