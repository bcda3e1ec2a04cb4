"""Run decoders side by side on one task: same process, same inputs, warm-up first, static as reference.

``run_bench(cfg)`` returns a ``BenchResult`` (meta and one ``Row`` per strategy setting), in four
steps, one function each (the demo calls them too):

1. ``prepare``: load the task's problems and the model, encode the prompts (chat template when
   the task wants it);
2. ``time_settings``: one untimed warm-up decode of the first batch per setting, then the timed
   decodes, interleaved batch by batch across settings (synchronized, loading excluded), with
   each setting's peak memory;
3. ``trace_bound``: one untimed *traced* static run: each state's reach r(n) gives the
   optimal-path bounds;
4. ``summarise``: score each completion once (cached on problem and text) and build the rows.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import torch

from freedave.bench import metrics, system
from freedave.bench.cost import (
    Curve,
    CurveProbe,
    ForwardLog,
    Forwards,
    predicted_seconds,
    predicted_speedup,
)
from freedave.bench.rows import BenchResult, Row, setting_label
from freedave.decoding import AutoDepth, DecodeConfig, Result, Sampling, decode, decode_static
from freedave.decoding.common import block_layout_of
from freedave.decoding.config import (
    FreeDave,
    FreeDaveThreshold,
    Static,
    Strategy,
    Threshold,
)
from freedave.decoding.optimal import attainable_nfe
from freedave.errors import DecodeError
from freedave.options import (
    AUTO,
    CACHES,
    DEFAULT_CONFIDENCE,
    STRATEGIES,
    check_block_layout,
    check_choice,
    check_draft_depth,
    resolve_block_size,
)
from freedave.tasks import get_task
from freedave.tasks.base import Problem

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
    block_layout: str | None = None  # None: the model's own
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
    confidence: str = DEFAULT_CONFIDENCE  # "full" | "renormalized" (see decoding.Sampling)
    compile: bool = False  # torch.compile the forward (compiled at load: never inside a timing)
    draft_branches: tuple[int, ...] = (0,)  # FreeDave runner-up rows per round: one setting per depth and count

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
        if not self.draft_branches:
            raise DecodeError("--draft-branches is empty; give a comma list such as 0,2")
        for b in self.draft_branches:
            if isinstance(b, bool) or not isinstance(b, int) or b < 0:
                raise DecodeError(f"--draft-branches: every count must be an integer >= 0 (got {b!r})")
        if self.batch_size < 1:
            raise DecodeError(f"--batch-size must be >= 1 (got {self.batch_size})")
        if self.block_size is not None and self.block_size < 1:
            raise DecodeError(f"--block-size must be >= 1 (got {self.block_size})")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise DecodeError(f"--max-new-tokens must be >= 1 (got {self.max_new_tokens})")
        check_choice("cache", self.cache, CACHES)
        if self.block_layout is not None:
            check_block_layout(self.block_layout)
        Sampling(temperature=self.temperature, seed=self.seed, confidence=self.confidence)  # validates them

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
            out += [FreeDave(d, self.cross_blocks, b) for d in self.depths for b in self.draft_branches]
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
    forwards: Forwards = field(default_factory=Forwards)  # rows per model call, seconds inside the model


def label(s: Strategy) -> str:
    return setting_label(s.name, getattr(s, "draft_depth", None), getattr(s, "threshold", None),
                         getattr(s, "draft_branches", None))


def progress(quiet: bool):  # noqa: ANN202
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), disable=quiet, transient=False,
    )


@dataclass(frozen=True)
class Prepared:
    """What every timed run shares: the task, its problems, the model and the encoded prompts."""

    task: Any
    problems: list[Problem]
    loaded: Any  # freedave.models.Loaded
    prompts: list[list[int]]
    dcfg: DecodeConfig
    batch_size: int
    chat: bool = False
    uncached: Any = None  # the denoiser without the approximate cache (static beside), or None

    @property
    def den(self) -> Any:
        return self.loaded.denoiser

    @cached_property
    def groups(self) -> list[tuple[int, Sequence[list[int]]]]:
        """``(offset, prompts)`` per batch: the offset keys the random draws of its prompts."""
        return [(i, self.prompts[i : i + self.batch_size]) for i in range(0, len(self.prompts), self.batch_size)]

    @cached_property
    def exclude(self) -> set[int]:
        """Token ids that are not valid response tokens (mask, EOS, padding)."""
        den = self.den
        return {t for t in (den.mask_id, getattr(den, "eos_id", None), getattr(den, "pad_id", None)) if t is not None}

    def valid(self, results: Sequence[Result]) -> int:
        return sum(metrics.valid_tokens(r.token_ids, self.exclude) for r in results)


def prepare(cfg: BenchConfig, loaded: Any = None, problems: list[Problem] | None = None) -> Prepared:
    """1. The task's problems (or ``problems``), the model (or ``loaded``) and the prompts."""
    task = get_task(cfg.task, cfg.data, cfg.limit)
    problems = task.problems(cfg.n_limit) if problems is None else problems
    if not problems:
        raise DecodeError(f"task {cfg.task!r} has no problems")
    if loaded is None:
        from freedave.models.loading import load

        loaded = load(cfg.model, device=cfg.device, dtype=cfg.dtype, cache=cfg.cache, family=cfg.family,
                      mask_token_id=cfg.mask_token_id, trust_remote_code=cfg.trust_remote_code, compile=cfg.compile)
    den = loaded.denoiser
    has_template = bool(getattr(loaded.tokenizer, "chat_template", None))
    if cfg.chat and not has_template:
        raise DecodeError(f"--chat: the tokenizer of {cfg.model} has no chat template")
    chat = bool(getattr(task, "chat", False) if cfg.chat is None else cfg.chat) and has_template
    dcfg = DecodeConfig(
        max_new_tokens=cfg.max_new_tokens or int(getattr(task, "max_new_tokens", 64)),
        block_size=resolve_block_size(cfg.block_size, loaded.block_size),
        sampling=Sampling(temperature=cfg.temperature, seed=cfg.seed, confidence=cfg.confidence),
        block_layout=cfg.block_layout,
    )
    block_layout_of(den, dcfg)  # 'aligned' on a full/shifted model fails before any decoding
    return Prepared(
        task, problems, loaded, [loaded.encode(p.prompt, chat=chat) for p in problems], dcfg, cfg.batch_size,
        chat, getattr(den, "base", den) if cfg.cache != "none" else None,
    )


def time_settings(prep: Prepared, cfg: BenchConfig, bar: Any, probe: CurveProbe | None = None,
                  ) -> tuple[list[Timed], Timed | None, str]:
    """2. Warm-up, then every setting timed (and, beside a lossy cache, uncached static): the
    runs and where peak memory was read from. ``probe`` times the cost curve between batches."""
    settings = cfg.settings()
    memory = system.PeakMemory(cfg.device)
    timed = [Timed(s) for s in settings]
    auto = AutoDepth()  # every draft_depth="auto" setting: one learner for the whole run (warm-up included)

    def policy(s: Strategy) -> AutoDepth | None:
        return auto if getattr(s, "draft_depth", None) == AUTO else None

    plain = Timed(Static()) if prep.uncached is not None else None
    logged = ForwardLog(prep.den, timed=not cfg.device.startswith("cuda"))
    if cfg.warmup:
        warm = bar.add_task("warm-up", total=len(settings))
        for s in settings:
            decode(prep.den, prep.groups[0][1], prep.dcfg, s, device=cfg.device, policy=policy(s))
            bar.advance(warm)
        if plain is not None:
            decode(prep.uncached, prep.groups[0][1], prep.dcfg, plain.strategy, device=cfg.device)
    # interleaved: every setting decodes batch b before any decodes batch b + 1, so a slow spell
    # of a shared machine falls on all settings alike
    job = bar.add_task("decoding (problems x settings)", total=len(prep.prompts) * len(settings))
    every = max(1, len(prep.groups) // CURVE_PROBES)
    for g, (offset, group) in enumerate(prep.groups):
        if probe is not None and g % every == every - 1:  # untimed: between two batches
            probe.probe([k for run in timed for k in set(run.forwards.shapes())])
        for run in timed + ([plain] if plain is not None else []):
            system.synchronize(cfg.device)
            memory.start()
            t0 = time.perf_counter()
            den = logged if run is not plain else prep.uncached
            logged.into = run.forwards
            run.results += decode(den, group, prep.dcfg, run.strategy, device=cfg.device, first_index=offset,
                                  policy=policy(run.strategy))
            system.synchronize(cfg.device)
            run.seconds += time.perf_counter() - t0
            logged.into = None
            run.peak_memory_mb = max(run.peak_memory_mb, memory.peak_mb())
            if run is not plain:
                bar.advance(job, len(group))
    return timed, plain, memory.source


CURVE_REPEATS = 20
CURVE_PROBES = 20  # times during the decodes that the cost curve is probed


def time_curve(prep: Prepared, cfg: BenchConfig, timed: Sequence[Timed], probe: CurveProbe) -> Curve:
    """2b. The cost curve of this run: seconds of one plain one-block forward at every row count
    the timed runs' forwards used, with and without a finished block to cache (see ``bench.cost``),
    probed between the decodes and topped up to ``CURVE_REPEATS`` calls per key after them."""
    keys = {k for run in timed for k in run.forwards.shapes()}
    return probe.curve(sorted(keys), CURVE_REPEATS)


def trace_bound(prep: Prepared, cfg: BenchConfig, bar: Any) -> list[Result]:
    """3. One untimed traced static run: the reach r(n) of every state gives the bounds."""
    traced: list[Result] = []
    trace = bar.add_task("static trace (bound)", total=len(prep.prompts))
    for offset, group in prep.groups:
        traced += decode_static(prep.den, group, prep.dcfg, trace=True, device=cfg.device, first_index=offset)
        bar.advance(trace, len(group))
    return traced


class Scores:
    """Task scores of completions, each (problem, text) scored once."""

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        self.cache: dict[tuple[str, str], bool] = {}

    def __call__(self, i: int, r: Result) -> bool:
        problem = self.prep.problems[i]
        text = self.prep.loaded.decode(r.token_ids)
        key = (problem.id, text)
        if key not in self.cache:
            self.cache[key] = bool(self.prep.task.score(problem, text))
        return self.cache[key]

    def accuracy(self, results: Sequence[Result]) -> float:
        return sum(self(i, r) for i, r in enumerate(results)) / len(results)


@dataclass(frozen=True)
class Baseline:
    """What every row is compared with: static (timed, and uncached beside a lossy cache), the
    threshold runs that FreeDave-threshold must equal, and the optimal-path bound."""

    static: Timed
    plain: Timed | None
    by_threshold: dict[float, Timed]
    attainable: int
    oracle: int
    static_valid: int
    static_tps: float | None
    curve: Curve = field(default_factory=dict)  # (rows, fresh) -> seconds of one forward

    @classmethod
    def of(cls, prep: Prepared, timed: list[Timed], plain: Timed | None, traced: list[Result],
           curve: Curve | None = None) -> Baseline:
        static, (att, orc) = timed[0], metrics.bound_forwards(traced)
        valid = prep.valid(static.results)
        thresholds = {t.strategy.threshold: t for t in timed if isinstance(t.strategy, Threshold)}
        return cls(static, plain, thresholds, att, orc, valid, metrics.ratio(valid, static.seconds), curve or {})

    def predicted(self, run: Timed, valid: int) -> float | None:
        """The speed-up over static that ``run``'s forwards alone predict (None without a curve)."""
        if not self.curve:
            return None
        return predicted_speedup(self.static.forwards, self.static_valid, run.forwards, valid, self.curve)

    def over_curve(self, run: Timed) -> float | None:
        """Seconds inside the model / what the curve prices ``run``'s forwards at (CPU only): above 1
        where forwards did more than one plain block per row (next-block windows, a block computed
        per row) or ran slower inside a decode than in the curve's bursts."""
        if not (self.curve and run.forwards.seconds and run.forwards.rows):
            return None
        return run.forwards.seconds / predicted_seconds(run.forwards, self.curve)


def summarise(prep: Prepared, cfg: BenchConfig, timed: list[Timed], plain: Timed | None, traced: list[Result],
              memory_source: str, argv: Sequence[str] | None = None,
              curve: Curve | None = None) -> BenchResult:
    """4. One Row per timed setting (static first) and the run's meta."""
    base = Baseline.of(prep, timed, plain, traced, curve)
    scores = Scores(prep)
    rows = tuple(make_row(run, prep, cfg, base, scores) for run in timed)
    uncached = None if plain is None else uncached_summary(plain, base.static, prep, scores)
    return BenchResult(run_meta(prep, cfg, argv, memory_source, traced, base, uncached), rows)


def make_row(run: Timed, prep: Prepared, cfg: BenchConfig, base: Baseline, scores: Scores) -> Row:
    s, res = run.strategy, run.results
    n, valid, nfe = len(res), prep.valid(res), sum(r.nfe for r in res)
    tps, tpn = metrics.ratio(valid, run.seconds), metrics.ratio(valid, nfe)
    equal_to = base.by_threshold.get(s.threshold, base.static) if isinstance(s, FreeDaveThreshold) else base.static
    accepted = [k for r in res for k in r.accepted]
    bound = metrics.ratio(base.static_valid, base.attainable)
    speedup, predicted = metrics.ratio(tps or 0.0, base.static_tps or 0.0), base.predicted(run, valid)
    fw = run.forwards
    return Row(
        strategy=s.name,
        draft_depth=getattr(s, "draft_depth", None),
        threshold=getattr(s, "threshold", None),
        cross_blocks=getattr(s, "cross_blocks", None),
        task=prep.task.name,
        n=n,
        accuracy=scores.accuracy(res),
        tokens_per_second=tps,
        tokens_per_nfe=tpn,
        nfe_per_problem=nfe / n,
        exact_match_vs_static=metrics.exact_match(res, base.static.results),
        optimal_tokens_per_nfe=bound,
        oracle_tokens_per_nfe=metrics.ratio(base.static_valid, base.oracle),
        speedup_vs_static=speedup,
        peak_memory_mb=round(run.peak_memory_mb, 1),
        seconds=run.seconds,
        valid_tokens=valid,
        nfe=nfe,
        steps_per_problem=sum(r.steps for r in res) / n,
        mean_accepted=sum(accepted) / len(accepted) if accepted else None,
        accepted_histogram=metrics.accepted_histogram(res),
        seconds_per_forward=metrics.ratio(run.seconds, nfe),
        fraction_of_bound=metrics.ratio(tpn or 0.0, bound or 0.0) if bound else None,
        accuracy_by_kind=by_kind(prep.problems, res, lambda i, r: float(scores(i, r))),
        tokens_per_nfe_by_kind=by_kind_ratio(prep.problems, res, prep.exclude),
        base_strategy=label(equal_to.strategy),
        exact_match_vs_base=metrics.exact_match(res, equal_to.results),
        cache=cfg.cache,
        exact_match_vs_uncached_static=metrics.exact_match(res, (base.plain or base.static).results),
        model_calls=sum(r.model_calls for r in res),
        compile=cfg.compile,
        predicted_speedup=predicted,
        efficiency=metrics.ratio(speedup or 0.0, predicted or 0.0) if speedup and predicted else None,
        rows_per_forward=metrics.ratio(sum(fw.rows), len(fw.rows)),
        forward_share=metrics.ratio(fw.seconds, run.seconds) if fw.seconds else None,
        draft_branches=getattr(s, "draft_branches", None),
        forward_over_curve=base.over_curve(run),
    )


def run_meta(prep: Prepared, cfg: BenchConfig, argv: Sequence[str] | None, memory_source: str,
             traced: list[Result], base: Baseline, uncached: dict[str, Any] | None) -> dict[str, Any]:
    """The run's ``meta``: command, model, machine, versions, schedule and the bound's forwards."""
    return {
        "command": "freedave " + shlex.join(list(argv)) if argv is not None else None,
        "model": cfg.model,
        "model_path": str(prep.loaded.path),
        "model_family": prep.loaded.family,
        "task": prep.task.name,
        "data": cfg.data,
        "n_problems": len(prep.problems),
        "chat_template": prep.chat,
        "config": {**asdict(cfg), "draft_depths": list(cfg.depths), "thresholds": list(cfg.taus), "limit": cfg.n_limit,
                   "block_size": prep.dcfg.block_size, "max_new_tokens": prep.dcfg.max_new_tokens,
                   "block_layout": block_layout_of(prep.loaded.denoiser, prep.dcfg)},
        "versions": system.versions(),
        **system.machine(cfg.device),
        "device": cfg.device,
        "dtype": cfg.dtype,
        "date": system.now(),
        "memory_source": memory_source,
        "trace_matches_static": metrics.exact_match(traced, base.static.results) if traced else None,
        "bound_forwards": {"attainable": base.attainable, "oracle": base.oracle},
        "warmup": "one untimed decode of the first batch per setting" if cfg.warmup else None,
        "schedule": "interleaved: every setting decodes batch b before any setting decodes batch b + 1",
        "cache": cfg.cache,
        "uncached_static": uncached,
        "compile": cfg.compile,
        "compile_seconds": prep.loaded.compile_seconds,
        "cost_curve": cost_meta(base.curve),
    }


def cost_meta(curve: Curve) -> dict[str, Any] | None:
    """The run's cost curve as ``meta`` records it (None when it was not timed)."""
    if not curve:
        return None

    def ms(fresh: bool) -> dict[str, float]:
        return {str(r): round(1000 * t, 4) for (r, f), t in sorted(curve.items()) if f == fresh}

    return {"ms_per_forward": ms(False), "ms_per_forward_with_block": ms(True),
            "what": "median wall time of one plain forward over one block (prefix cached when the model keeps "
                    f"a cache; with_block: it also computes the finished block before it), at least {CURVE_REPEATS} "
                    f"calls per row count, probed between the decodes ({CURVE_PROBES} times in the run, "
                    f"{CurveProbe.WARM} untimed calls then a timed one per row count) and topped up after them, in this process",
            "predicted_speedup": "(sum_static cost(rows) / static valid tokens) / "
                                 "(sum_setting cost(rows) / setting valid tokens), sums over each run's forwards"}


def run_bench(cfg: BenchConfig, argv: Sequence[str] | None = None, quiet: bool = False) -> BenchResult:
    """Run every setting of ``cfg``; ``argv`` is recorded as the command in ``meta``."""
    prep = prepare(cfg)
    with progress(quiet) as bar, torch.no_grad():
        probe = CurveProbe(prep.den, prep.prompts[0], prep.dcfg.block_size, prep.dcfg.max_new_tokens, cfg.device)
        timed, plain, memory_source = time_settings(prep, cfg, bar, probe)
        curve = time_curve(prep, cfg, timed, probe)
        traced = trace_bound(prep, cfg, bar)
    return summarise(prep, cfg, timed, plain, traced, memory_source, argv, curve)


def uncached_summary(plain: Timed, static: Timed, prep: Prepared, scores: Scores) -> dict[str, Any]:
    """Static decoding without the approximate cache, timed beside the cached settings."""
    res = plain.results
    valid, nfe = prep.valid(res), sum(r.nfe for r in res)
    return {
        "accuracy": scores.accuracy(res),
        "tokens_per_second": metrics.ratio(valid, plain.seconds),
        "tokens_per_nfe": metrics.ratio(valid, nfe),
        "seconds": plain.seconds,
        "nfe": nfe,
        "model_calls": sum(r.model_calls for r in res),
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


def by_kind_ratio(problems: Sequence, results: Sequence[Result], exclude: set[int],
                  forwards: Callable[[Result], int] = lambda r: r.nfe) -> dict[str, float] | None:
    """Valid tokens / forwards (``forwards(result)``: its NFE by default) per problem kind; None
    when the task has no kinds."""
    tok: dict[str, int] = {}
    nfe: dict[str, int] = {}
    for i, r in enumerate(results):
        k = problems[i].kind
        if k:
            tok[k] = tok.get(k, 0) + metrics.valid_tokens(r.token_ids, exclude)
            nfe[k] = nfe.get(k, 0) + forwards(r)
    return {k: tok[k] / nfe[k] for k in sorted(tok) if nfe[k]} or None


def attainable_by_kind(prep: Prepared, traced: Sequence[Result]) -> dict[str, float] | None:
    """The attainable optimal path's tokens/NFE per problem kind, from a traced static run."""
    return by_kind_ratio(prep.problems, traced, prep.exclude, lambda r: attainable_nfe(r.reach or (), r.refresh_states or ()))
