"""State and the one model-call site shared by every decoder.

``Canvas`` is one prompt's decoding state; ``call_model`` is the only place a denoiser is called,
so NFE is counted there and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from freedave.decoding.config import DecodeConfig, Sampling
from freedave.decoding.protocol import Denoiser, Query
from freedave.decoding.steps import SELECT_MIN_VOCAB, Layout, Scorer
from freedave.errors import DecodeError
from freedave.options import resolve_block_layout


@dataclass(frozen=True)
class Result:
    """One prompt's output.

    ``token_ids`` is the response only (EOS and after removed). ``steps`` counts base-decoder
    steps (identical for static and FreeDave, which follow the same path); ``nfe`` counts the
    network passes this prompt's rows took part in (an approximate cache's refresh is a pass of
    its own); ``model_calls`` counts the denoiser calls it took part in (``nfe`` == ``model_calls``
    without an approximate cache); ``accepted`` is the number of base steps committed per drafting
    round (one per step for static); ``reach`` is only filled by a traced static run.
    """

    index: int
    token_ids: list[int]
    nfe: int
    steps: int
    tokens_decoded: int
    accepted: tuple[int, ...]
    seconds: float
    strategy: str
    draft_depth: int | str | None = None
    threshold: float | None = None
    reach: tuple[int, ...] | None = None
    text: str | None = None
    # traced static run: the (response position, token) static committed at each step, in order
    decisions: tuple[tuple[int, int], ...] | None = None
    model_calls: int = 0
    # traced static run, approximate cache: the states (step indices) that are a block's first
    # state, whose forward is a full-length pass of its own (the cache's refresh)
    refresh_states: tuple[int, ...] | None = None


@dataclass(frozen=True)
class DecodeHooks:
    """Optional callbacks into a running decode (a server streams and cancels through them).

    ``on_progress(i, token_ids)``: prompt ``i`` (its position in this call) has more finished
    response tokens: the finished blocks, cut at EOS. A finished block never changes, so what is
    reported is final. ``is_cancelled(i)``: checked after every round; a cancelled prompt stops
    and its Result holds what was finished.
    """

    on_progress: Callable[[int, list[int]], None] | None = None
    is_cancelled: Callable[[int], bool] | None = None


@dataclass
class Canvas:
    """One prompt being decoded."""

    index: int  # place in the user's request (unique in a call)
    x: Tensor  # [P + G] current (committed) state, on the CPU: steps read it on the host, no device sync
    layout: Layout
    cache: Any = None
    position: int = 0  # place in this call (what hooks are told)
    sampling: Sampling | None = None  # this prompt's sampling (its own seed when one was given)
    stream: int = 0  # with the seed, keys the random draws: (seed, stream, position, step)
    reported: int = 0  # finished response tokens already passed to on_progress
    nfe: int = 0  # network passes
    model_calls: int = 0
    steps: int = 0
    accepted: list[int] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0
    done: bool = False
    device: Any = "cpu"  # where the model runs: rows go there once per call

    @property
    def n_masked(self) -> int:
        return self.x[self.layout.prompt_len :].tolist().count(self.layout.mask_id)

    def finish(self) -> None:
        self.done = True
        self.seconds = time.perf_counter() - self.started

    def result(self, strategy: str, **extra: Any) -> Result:
        resp = self.layout.response(self.x)
        decoded = self.x.shape[0] - self.layout.prompt_len - self.n_masked
        return Result(
            index=self.index,
            token_ids=resp,
            nfe=self.nfe,
            model_calls=self.model_calls,
            steps=self.steps,
            tokens_decoded=decoded,
            accepted=tuple(self.accepted),
            seconds=self.seconds,
            strategy=strategy,
            **extra,
        )


def block_layout_of(denoiser: Denoiser, cfg: DecodeConfig) -> str:
    """The block layout a decode uses: the config's, else the denoiser's own, else ``prompt``."""
    return resolve_block_layout(cfg.block_layout, denoiser.family, getattr(denoiser, "block_layout", None))


def check_prompts(denoiser: Denoiser, prompts: Sequence[Sequence[int]], cfg: DecodeConfig) -> None:
    """Reject inputs no decoder can handle, with a one-line message each."""
    if len(prompts) == 0:
        raise DecodeError("no prompts given")
    layout = block_layout_of(denoiser, cfg)
    limit = getattr(denoiser, "max_length", None)
    for i, p in enumerate(prompts):
        if len(p) == 0:
            raise DecodeError(f"prompt {i} is empty")
        if denoiser.mask_id in p:
            raise DecodeError(f"prompt {i} contains the mask token (id {denoiser.mask_id})")
        bad = [t for t in p if not 0 <= int(t) < denoiser.vocab_size]
        if bad:
            raise DecodeError(f"prompt {i} has token id {bad[0]} outside the vocabulary (size {denoiser.vocab_size})")
        new = cfg.response_length(len(p), layout)
        if limit is not None and len(p) + new > limit:
            raise DecodeError(
                f"prompt {i} is too long: {len(p)} prompt + {new} new tokens > the model's "
                f"{limit} positions; shorten it or lower --max-new-tokens"
            )


def new_canvases(
    denoiser: Denoiser,
    prompts: Sequence[Sequence[int]],
    cfg: DecodeConfig,
    device: Any = "cpu",
    first_index: int = 0,
    seeds: Sequence[int] | None = None,
    cross_blocks: bool = True,
) -> list[Canvas]:
    """Canvases for a batch (a prompt with nothing to decode starts done); ``first_index`` is the
    batch's offset in the user's request (the prompt index keys the random draws, so splitting a
    request into batches changes nothing). ``cross_blocks=False`` stops drafts at the block edge.

    ``seeds``: one seed per prompt. Prompt i's draws are then keyed by ``(seeds[i], stream 0)``,
    exactly the draws of decoding it alone with ``Sampling(seed=seeds[i])``, so prompts with
    different seeds (a server's requests, a job's rows) can share a batch.
    """
    check_prompts(denoiser, prompts, cfg)
    if seeds is not None:
        if len(seeds) != len(prompts):
            raise DecodeError(f"got {len(seeds)} seeds for {len(prompts)} prompts")
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise DecodeError(f"seeds must be integers >= 0 (got {s!r})")
    out = []
    grid = block_layout_of(denoiser, cfg)
    # a denoiser whose logits past the active block are not exact (an approximate cache
    # refreshed at block edges) sets draft_lookahead_blocks = 0: drafts then stop at the edge
    lookahead = int(getattr(denoiser, "draft_lookahead_blocks", 1)) if cross_blocks else 0
    for i, p in enumerate(prompts):
        # token states stay on the host (a few hundred ids): every step, draft and terminal test
        # reads them there without a device sync; call_model sends the rows to ``device``
        masks = torch.full((cfg.response_length(len(p), grid),), denoiser.mask_id, dtype=torch.long)
        x = torch.cat([torch.as_tensor(list(p), dtype=torch.long), masks])
        layout = Layout(len(p), cfg.block_size, denoiser.mask_id, denoiser.eos_id, cfg.stop_at_eos, lookahead, grid,
                        cfg.max_new_tokens)
        if seeds is None:
            sampling, stream = cfg.sampling, first_index + i
        else:
            sampling, stream = replace(cfg.sampling, seed=seeds[i]), 0
        out.append(Canvas(first_index + i, x, layout, denoiser.new_cache(), i, sampling, stream, device=device))
        if layout.is_terminal(x):
            out[-1].finish()
    return out


def commit(c: Canvas, x: Tensor, steps: int) -> None:
    """Make ``x`` (``steps`` base steps on from ``c.x``) the canvas's state; finish it when done."""
    before = c.n_masked
    c.x, c.steps = x, c.steps + steps
    c.accepted.append(before - c.n_masked)
    if c.layout.is_terminal(c.x):
        c.finish()


def advance(active: Sequence[Canvas], hooks: DecodeHooks | None) -> list[Canvas]:
    """After a round: tell ``hooks`` what finished, stop cancelled prompts, return those still going."""
    if hooks is not None:
        for c in active:
            if hooks.on_progress is not None:
                done = c.layout.response(c.x)
                if len(done) > c.reported:
                    c.reported = len(done)
                    hooks.on_progress(c.position, done)
            if not c.done and hooks.is_cancelled is not None and hooks.is_cancelled(c.position):
                c.finish()
    return [c for c in active if not c.done]


def call_model(
    denoiser: Denoiser,
    jobs: Sequence[tuple[Canvas, list[Tensor], bool | Sequence[bool]]],
    cfg: DecodeConfig,
) -> list[list[Scorer]]:
    """One batched forward: for each ``(canvas, rows, lookahead)`` the scorers of its rows.

    ``lookahead`` (one flag, or one per row) asks for the next block's logits too. Rows of a canvas
    share its committed state before the active block. Every canvas that takes part is charged
    one model call and the network passes its query cost (``Query.passes``, as the denoiser
    reports it), here and nowhere else.
    """
    queries, row_ends, needs = [], [], []
    for canvas, rows, lookahead in jobs:
        flags = [lookahead] * len(rows) if isinstance(lookahead, bool) else list(lookahead)
        ends = [canvas.layout.window_end(r, la) for r, la in zip(rows, flags, strict=True)]
        start, end = canvas.layout.active_start(canvas.x), max(ends)
        per_row = tuple(ends) if min(ends) < end else None
        tokens = torch.stack(rows)
        # which window rows a step can decide (worth finding only for a large vocabulary)
        big = denoiser.vocab_size >= SELECT_MIN_VOCAB
        needs.append(_decidable(tokens, canvas.layout, start, end, ends) if big else None)
        tokens = tokens.to(canvas.device)
        queries.append(Query(tokens, canvas.layout.prompt_len, cfg.block_size, start, end, canvas.cache, per_row,
                             canvas.layout.block_layout))
        row_ends.append(ends)
    outputs = denoiser.logits(queries)
    scorers = []
    for (canvas, rows, _), q, out, ends, need in zip(jobs, queries, outputs, row_ends, needs, strict=True):
        canvas.model_calls += 1
        canvas.nfe += q.passes
        if out.shape[:2] != (len(rows), q.end - q.start):
            raise DecodeError(f"denoiser returned logits of shape {tuple(out.shape)} for a window of {q.end - q.start}")
        nan = torch.isnan(out.sum())  # NaN anywhere makes the sum NaN (~5x cheaper than isnan().any())
        sampling = canvas.sampling or cfg.sampling
        row_scorers = Scorer.batch(out, q.start, sampling, canvas.stream, canvas.layout.mask_id, need)
        if nan:  # read after scoring: on a GPU the greedy table's copy to the host has waited already
            raise DecodeError(f"the model returned NaN logits (prompt {canvas.index}); check the weights and --dtype")
        for sc, e in zip(row_scorers, ends, strict=True):
            sc.end = e  # positions past a row's own end were not asked for
        scorers.append(row_scorers)
    return scorers


def _decidable(rows: Tensor, layout: Layout, start: int, end: int, ends: list[int]) -> Tensor:
    """``[R, end - start]`` bool: the window positions a step can decide from each row (its masked
    response positions before the row's own window end); the scorer's greedy table covers these."""
    need = rows[:, start:end] == layout.mask_id
    if start < layout.prompt_len:  # an aligned block starting inside the prompt
        need[:, : layout.prompt_len - start] = False
    for r, e in enumerate(ends):
        if e < end:
            need[r, e - start :] = False
    return need
