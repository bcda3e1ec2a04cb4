"""Run decoders side by side on one task: same process, same inputs, warm-up first, static as reference.

``run_bench(cfg)`` returns ``{"meta": {...}, "rows": [...]}``, one row per strategy setting. Steps:

1. load the task's problems and the model, encode the prompts (chat template when the task wants it);
2. one untimed warm-up decode of the first batch per setting, then the timed decodes, interleaved
   batch by batch across settings (synchronized, loading excluded), with each setting's peak memory;
3. one untimed *traced* static run: each state's reach r(n) gives the optimal-path bounds;
4. score each completion once (cached on problem and text) and build the rows.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from freedave.bench import metrics, system
from freedave.decoding import DecodeConfig, Result, Sampling, decode, decode_static
from freedave.decoding.config import (
    FreeDave,
    FreeDaveThreshold,
    Static,
    Strategy,
    Threshold,
)
from freedave.errors import DecodeError
from freedave.options import CACHES, STRATEGIES, check_choice, check_draft_depth, resolve_block_size
from freedave.tasks import get_task

log = logging.getLogger("freedave.bench")

DEFAULT_STRATEGIES = ("static", "threshold", "freedave")
DEFAULT_DEPTHS = (2, 4, 8, 16, "auto")
DEFAULT_THRESHOLDS = (0.5, 0.7, 0.9, 0.95)
QUICK_LIMIT = 8
QUICK_DEPTHS = (2, 4, 8)
QUICK_THRESHOLDS = (0.9,)


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run does. ``None`` means "the default" (which ``--quick`` shrinks)."""

    model: str = "reference"
    task: str = "reference"
    data: str | None = None
    limit: int | None = None
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    draft_depths: tuple[int | str, ...] | None = None
    thresholds: tuple[float, ...] | None = None
    temperature: float = 0.0
    seed: int = 0
    block_size: int | None = None
    max_new_tokens: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 1
    cache: str = "none"  # "prefix" | "dual": approximate KV cache (full/shifted families)
    quick: bool = False
    warmup: bool = True
    cross_blocks: bool = True  # FreeDave drafts may continue into the next block
    family: str | None = None  # model flags, as ``generate`` takes them: override the checkpoint's config
    mask_token_id: int | None = None
    trust_remote_code: bool = False
    chat: bool | None = None  # chat template on / off; None: when the task wants it

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise DecodeError(f"--limit must be >= 1 (got {self.limit})")
        if not self.strategies:
            raise DecodeError("--strategies is empty; give a comma list such as static,threshold,freedave")
        for s in self.strategies:
            check_choice("strategy", s, STRATEGIES)
        if self.draft_depths is not None:
            if not self.draft_depths:
                raise DecodeError("--draft-depths is empty; give a comma list such as 2,4,8,16")
            for d in self.draft_depths:
                check_draft_depth(d)
        if self.thresholds is not None:
            if not self.thresholds:
                raise DecodeError("--thresholds is empty; give a comma list such as 0.7,0.9")
            for t in self.thresholds:
                if not 0 < t <= 1:
                    raise DecodeError(f"--thresholds: every threshold must be in (0, 1] (got {t})")
        if self.batch_size < 1:
            raise DecodeError(f"--batch-size must be >= 1 (got {self.batch_size})")
        if self.block_size is not None and self.block_size < 1:
            raise DecodeError(f"--block-size must be >= 1 (got {self.block_size})")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise DecodeError(f"--max-new-tokens must be >= 1 (got {self.max_new_tokens})")
        check_choice("cache", self.cache, CACHES)
        Sampling(temperature=self.temperature, seed=self.seed)  # validates both

    @property
    def depths(self) -> tuple[int, ...]:
        return self.draft_depths or (QUICK_DEPTHS if self.quick else DEFAULT_DEPTHS)

    @property
    def taus(self) -> tuple[float, ...]:
        return self.thresholds or (QUICK_THRESHOLDS if self.quick else DEFAULT_THRESHOLDS)

    @property
    def n_limit(self) -> int | None:
        return self.limit if self.limit is not None else (QUICK_LIMIT if self.quick else None)

    def settings(self) -> list[Strategy]:
        """Every strategy setting to run, static first (it is the reference)."""
        out: list[Strategy] = [Static()]
        # threshold also runs when freedave-threshold does: it is the decoder that one must equal
        if "threshold" in self.strategies or "freedave-threshold" in self.strategies:
            out += [Threshold(t) for t in self.taus]
        if "freedave" in self.strategies:
            out += [FreeDave(d, self.cross_blocks) for d in self.depths]
        if "freedave-threshold" in self.strategies:
            out += [FreeDaveThreshold(d, t, self.cross_blocks) for t in self.taus for d in self.depths]
        return out


@dataclass
class Timed:
    """One setting's timed run."""

    strategy: Strategy
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    peak_memory_mb: float = 0.0


def batches(items: Sequence, size: int) -> list[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def label(s: Strategy) -> str:
    parts = [s.name]
    if isinstance(s, FreeDave | FreeDaveThreshold):
        parts.append(f"d={s.draft_depth}")
    if isinstance(s, Threshold | FreeDaveThreshold):
        parts.append(f"τ={s.threshold:g}")
    return " ".join(parts)


def _progress(quiet: bool):  # noqa: ANN202
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), disable=quiet, transient=False,
    )


def run_bench(cfg: BenchConfig, argv: Sequence[str] | None = None, quiet: bool = False) -> dict[str, Any]:
    """Run every setting of ``cfg``; ``argv`` is recorded as the command in ``meta``."""
    from freedave.models.loading import load

    # 1. problems, model, prompts
    task = get_task(cfg.task, cfg.data, cfg.limit)
    problems = task.problems(cfg.n_limit)
    if not problems:
        raise DecodeError(f"task {cfg.task!r} has no problems")
    loaded = load(cfg.model, device=cfg.device, dtype=cfg.dtype, cache=cfg.cache, family=cfg.family,
                  mask_token_id=cfg.mask_token_id, trust_remote_code=cfg.trust_remote_code)
    den = loaded.denoiser
    uncached = getattr(den, "base", den) if cfg.cache != "none" else None  # static without the cache
    has_template = bool(getattr(loaded.tokenizer, "chat_template", None))
    if cfg.chat and not has_template:
        raise DecodeError(f"--chat: the tokenizer of {cfg.model} has no chat template")
    chat = bool(getattr(task, "chat", False) if cfg.chat is None else cfg.chat) and has_template
    prompts = [loaded.encode(p.prompt, chat=chat) for p in problems]
    dcfg = DecodeConfig(
        max_new_tokens=cfg.max_new_tokens or int(getattr(task, "max_new_tokens", 64)),
        block_size=resolve_block_size(cfg.block_size, loaded.block_size),
        sampling=Sampling(temperature=cfg.temperature, seed=cfg.seed),
    )
    groups = batches(prompts, cfg.batch_size)
    exclude = {t for t in (den.mask_id, getattr(den, "eos_id", None), getattr(den, "pad_id", None)) if t is not None}
    settings = cfg.settings()
    memory = system.PeakMemory(cfg.device)

    timed = [Timed(s) for s in settings]
    plain = Timed(Static()) if uncached is not None else None  # lossy caches: uncached static beside
    with _progress(quiet) as bar, torch.no_grad():
        # 2. warm-up: one untimed decode of the first batch per setting
        if cfg.warmup:
            warm = bar.add_task("warm-up", total=len(settings))
            for s in settings:
                decode(den, groups[0], dcfg, s, device=cfg.device)
                bar.advance(warm)
            if plain is not None:
                decode(uncached, groups[0], dcfg, plain.strategy, device=cfg.device)
        # timed runs, interleaved: every setting decodes batch b before any decodes batch b + 1,
        # so a slow spell of a shared machine falls on all settings alike
        job = bar.add_task("decoding (problems x settings)", total=len(prompts) * len(settings))
        offsets = [sum(len(g) for g in groups[:b]) for b in range(len(groups))]
        for group, offset in zip(groups, offsets, strict=True):
            for run in timed + ([plain] if plain is not None else []):
                system.synchronize(cfg.device)
                memory.start()
                t0 = time.perf_counter()
                out = decode(den if run is not plain else uncached, group, dcfg, run.strategy, device=cfg.device, first_index=offset)
                system.synchronize(cfg.device)
                run.seconds += time.perf_counter() - t0
                run.peak_memory_mb = max(run.peak_memory_mb, memory.peak_mb())
                run.results += out
                if run is not plain:
                    bar.advance(job, len(group))
        # 3. traced static run (untimed): reach r(n) per state gives the bounds
        traced: list[Result] = []
        trace = bar.add_task("static trace (bound)", total=len(prompts))
        for group, offset in zip(groups, offsets, strict=True):
            traced += decode_static(den, group, dcfg, trace=True, device=cfg.device, first_index=offset)
            bar.advance(trace, len(group))

    # 4. score and build the rows
    scores: dict[tuple[str, str], bool] = {}

    def score(i: int, r: Result) -> bool:
        text = loaded.decode(r.token_ids)
        key = (problems[i].id, text)
        if key not in scores:
            scores[key] = bool(task.score(problems[i], text))
        return scores[key]

    static = timed[0]
    att, orc = metrics.bound_forwards(traced)
    static_valid = sum(metrics.valid_tokens(r.token_ids, exclude) for r in static.results)
    by_name = {(t.strategy.name, getattr(t.strategy, "threshold", None)): t for t in timed}
    static_tps = None
    rows_out = []
    for run in timed:
        s, res = run.strategy, run.results
        n = len(res)
        valid = sum(metrics.valid_tokens(r.token_ids, exclude) for r in res)
        nfe = sum(r.nfe for r in res)
        tps = metrics.ratio(valid, run.seconds)
        if static_tps is None:
            static_tps = tps
        base = static
        if isinstance(s, FreeDaveThreshold):
            base = by_name.get(("threshold", s.threshold), static)
        accepted = [k for r in res for k in r.accepted]
        tpn = metrics.ratio(valid, nfe)
        bound = metrics.ratio(static_valid, att)
        rows_out.append(
            {
                "strategy": s.name,
                "draft_depth": getattr(s, "draft_depth", None),
                "threshold": getattr(s, "threshold", None),
                "cross_blocks": getattr(s, "cross_blocks", None),
                "task": task.name,
                "n": n,
                "accuracy": sum(score(i, r) for i, r in enumerate(res)) / n,
                "tokens_per_second": tps,
                "tokens_per_nfe": tpn,
                "nfe_per_problem": nfe / n,
                "exact_match_vs_static": metrics.exact_match(res, static.results),
                "optimal_tokens_per_nfe": bound,
                "oracle_tokens_per_nfe": metrics.ratio(static_valid, orc),
                "speedup_vs_static": metrics.ratio(tps or 0.0, static_tps or 0.0),
                "peak_memory_mb": round(run.peak_memory_mb, 1),
                "seconds": run.seconds,
                "valid_tokens": valid,
                "nfe": nfe,
                "steps_per_problem": sum(r.steps for r in res) / n,
                "mean_accepted": sum(accepted) / len(accepted) if accepted else None,
                "accepted_histogram": metrics.accepted_histogram(res),
                "seconds_per_forward": metrics.ratio(run.seconds, nfe),
                "fraction_of_bound": metrics.ratio(tpn or 0.0, bound or 0.0) if bound else None,
                "accuracy_by_kind": by_kind(problems, res, lambda i, r: float(score(i, r))),
                "tokens_per_nfe_by_kind": by_kind_ratio(problems, res, exclude),
                "base_strategy": label(base.strategy),
                "exact_match_vs_base": metrics.exact_match(res, base.results),
                "cache": cfg.cache,
                "exact_match_vs_uncached_static": metrics.exact_match(res, (plain or static).results),
            }
        )

    meta = {
        "command": "freedave " + shlex.join(list(argv)) if argv is not None else None,
        "model": cfg.model,
        "model_path": str(loaded.path),
        "model_family": loaded.family,
        "task": task.name,
        "data": cfg.data,
        "n_problems": len(problems),
        "chat_template": chat,
        "config": {**asdict(cfg), "draft_depths": list(cfg.depths), "thresholds": list(cfg.taus), "limit": cfg.n_limit,
                   "block_size": dcfg.block_size, "max_new_tokens": dcfg.max_new_tokens},
        "versions": system.versions(),
        **system.machine(cfg.device),
        "device": cfg.device,
        "dtype": cfg.dtype,
        "date": system.now(),
        "memory_source": memory.source,
        "trace_matches_static": metrics.exact_match(traced, static.results),
        "bound_forwards": {"attainable": att, "oracle": orc},
        "warmup": "one untimed decode of the first batch per setting" if cfg.warmup else None,
        "schedule": "interleaved: every setting decodes batch b before any setting decodes batch b + 1",
        "cache": cfg.cache,
        "uncached_static": None if plain is None else uncached_summary(plain, static, exclude, score),
    }
    return {"meta": meta, "rows": rows_out}


def uncached_summary(plain: Timed, static: Timed, exclude: set[int], score) -> dict[str, Any]:  # noqa: ANN001
    """Static decoding without the approximate cache, timed beside the cached settings."""
    res = plain.results
    valid = sum(metrics.valid_tokens(r.token_ids, exclude) for r in res)
    nfe = sum(r.nfe for r in res)
    return {
        "accuracy": sum(score(i, r) for i, r in enumerate(res)) / len(res),
        "tokens_per_second": metrics.ratio(valid, plain.seconds),
        "tokens_per_nfe": metrics.ratio(valid, nfe),
        "seconds": plain.seconds,
        "nfe": nfe,
        "valid_tokens": valid,
        "seconds_per_forward": metrics.ratio(plain.seconds, nfe),
        "exact_match_vs_cached_static": metrics.exact_match(res, static.results),
    }


def by_kind(problems: Sequence, results: Sequence[Result], value) -> dict[str, float] | None:  # noqa: ANN001
    """Mean of ``value(i, result)`` per problem kind; None when the task has no kinds."""
    groups: dict[str, list[float]] = {}
    for i, r in enumerate(results):
        if problems[i].kind:
            groups.setdefault(problems[i].kind, []).append(value(i, r))
    return {k: sum(v) / len(v) for k, v in sorted(groups.items())} or None


def by_kind_ratio(problems: Sequence, results: Sequence[Result], exclude: set[int]) -> dict[str, float] | None:
    """Valid tokens / forwards per problem kind; None when the task has no kinds."""
    tok: dict[str, int] = {}
    nfe: dict[str, int] = {}
    for i, r in enumerate(results):
        k = problems[i].kind
        if k:
            tok[k] = tok.get(k, 0) + metrics.valid_tokens(r.token_ids, exclude)
            nfe[k] = nfe.get(k, 0) + r.nfe
    return {k: tok[k] / nfe[k] for k in sorted(tok) if nfe[k]} or None
