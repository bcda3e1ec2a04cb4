"""What one benchmark run produces: a frozen ``Row`` per strategy setting and the ``BenchResult``.

The report, the plots and the JSON all read these; ``to_json`` gives the keys of
``freedave bench --json`` and of ``results.json``, in the field order below (a contract: scripts
and earlier result files use these names).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


def setting_label(strategy: str, draft_depth: int | str | None, threshold: float | None, branches: int | None = None) -> str:
    """``freedave d=8``, ``freedave d=8 b=2``, ``threshold τ=0.9``, ``static``: a setting in a few characters."""
    parts = [strategy]
    if draft_depth is not None:
        parts.append(f"d={draft_depth}")
    if branches:
        parts.append(f"b={branches}")
    if threshold is not None:
        parts.append(f"τ={threshold:g}")
    return " ".join(parts)


@dataclass(frozen=True)
class Row:
    """One strategy setting's figures (``None``: not defined for this setting or this run)."""

    strategy: str
    draft_depth: int | str | None
    threshold: float | None
    cross_blocks: bool | None
    task: str
    n: int
    accuracy: float
    tokens_per_second: float | None
    tokens_per_nfe: float | None
    nfe_per_problem: float
    exact_match_vs_static: float
    optimal_tokens_per_nfe: float | None  # the attainable optimal path, from a traced static run
    oracle_tokens_per_nfe: float | None
    speedup_vs_static: float | None
    peak_memory_mb: float
    seconds: float
    valid_tokens: int
    nfe: int
    steps_per_problem: float
    mean_accepted: float | None
    accepted_histogram: dict[str, int]
    seconds_per_forward: float | None
    fraction_of_bound: float | None
    accuracy_by_kind: dict[str, float] | None
    tokens_per_nfe_by_kind: dict[str, float] | None
    base_strategy: str  # the decoder this setting must equal (static, or threshold at its τ)
    exact_match_vs_base: float
    cache: str
    exact_match_vs_uncached_static: float
    model_calls: int = 0  # denoiser calls (== nfe unless an approximate cache refresh was a pass of its own)
    compile: bool | None = None  # the forward ran torch.compile'd (--compile)
    # the speed-up over static this run's forwards alone predict, from the cost curve timed in the
    # run (see freedave.bench.cost); efficiency = speedup_vs_static / predicted_speedup
    predicted_speedup: float | None = None
    efficiency: float | None = None
    rows_per_forward: float | None = None  # mean rows (drafts) per model call
    forward_share: float | None = None  # share of the wall time spent inside the model's forward (CPU)
    draft_branches: int | None = None  # FreeDave: runner-up rows per round (0: a chain; decoding.drafts)
    # seconds inside the model / the cost curve's price of the same forwards (CPU only): with
    # forward_share it splits efficiency into forward work beyond the curve and work outside the model
    forward_over_curve: float | None = None

    @property
    def label(self) -> str:
        return setting_label(self.strategy, self.draft_depth, self.threshold, self.draft_branches)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Row:
        """A row read back from a result file (a key an older file lacks reads as None)."""
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class BenchResult:
    """``meta`` (command, model, machine, versions, bounds: a free-form dict) and the rows, static
    first."""

    meta: dict[str, Any]
    rows: tuple[Row, ...]

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "rows": [r.to_json() for r in self.rows]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BenchResult:
        return cls(d["meta"], tuple(Row.from_json(r) for r in d["rows"]))

    def of(self, strategy: str) -> list[Row]:
        """The rows of one strategy, in run order."""
        return [r for r in self.rows if r.strategy == strategy]
