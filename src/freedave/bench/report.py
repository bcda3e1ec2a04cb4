"""Benchmark output: the JSON file, the Markdown report and a terminal table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from freedave.bench.plots import PLOTS, write_plots
from freedave.bench.rows import BenchResult, Row

JSON_NAME = "results.json"
REPORT_NAME = "report.md"

COLUMNS = [  # (header, Row field, format)
    ("strategy", "strategy", "{}"),
    ("d", "draft_depth", "{}"),
    ("b", "draft_branches", "{}"),
    ("τ", "threshold", "{:g}"),
    ("n", "n", "{}"),
    ("accuracy", "accuracy", "{:.3f}"),
    ("tokens/s", "tokens_per_second", "{:.1f}"),
    ("tokens/NFE", "tokens_per_nfe", "{:.2f}"),
    ("NFE/problem", "nfe_per_problem", "{:.1f}"),
    ("exact vs static", "exact_match_vs_static", "{:.3f}"),
    ("bound tokens/NFE", "optimal_tokens_per_nfe", "{:.2f}"),
    ("speedup", "speedup_vs_static", "{:.2f}×"),
    ("predicted", "predicted_speedup", "{:.2f}×"),
    ("efficiency", "efficiency", "{:.2f}"),
    ("peak MB", "peak_memory_mb", "{:.0f}"),
    ("seconds", "seconds", "{:.2f}"),
]


def cell(row: Row, key: str, fmt: str) -> str:
    v = getattr(row, key)
    return "–" if v is None else fmt.format(v)


def markdown_table(result: BenchResult) -> str:
    lines = ["| " + " | ".join(h for h, _, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in result.rows:
        lines.append("| " + " | ".join(cell(r, k, f) for _, k, f in COLUMNS) + " |")
    return "\n".join(lines)


def kind_table(result: BenchResult) -> str:
    """Accuracy and tokens/NFE per problem kind (empty when the task has no kinds)."""
    kinds = sorted({k for r in result.rows for k in (r.accuracy_by_kind or {})})
    if not kinds:
        return ""
    head = "| strategy | d | τ | " + " | ".join(f"{k} acc | {k} tok/NFE" for k in kinds) + " |"
    lines = ["## By problem kind", "", head, "|" + "---|" * (3 + 2 * len(kinds))]
    for r in result.rows:
        acc, tpn = r.accuracy_by_kind or {}, r.tokens_per_nfe_by_kind or {}
        cells = [r.strategy, cell(r, "draft_depth", "{}"), cell(r, "threshold", "{:g}")]
        cells += [f"{acc[k]:.3f} | {tpn[k]:.2f}" if k in acc and k in tpn else "– | –" for k in kinds]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n"


def markdown_report(result: BenchResult) -> str:
    m = result.meta
    v = m["versions"]
    cfg = m["config"]
    machine = f"{m['gpu'] + ' (GPU), ' if m.get('gpu') else ''}{m['cpu']}, {m['cpu_count']} CPU cores, {m['threads']} torch threads"
    lib = ", ".join(f"{k} {val}" for k, val in v.items() if val)
    return f"""# freedave bench · {m['model']} · {m['task']}

{markdown_table(result)}

Throughput counts valid response tokens only (no mask, EOS or padding; never the prompt). Every setting
ran in one process on the same {m['n_problems']} prompts after an untimed warm-up; model loading is not
timed. Static decoding is the reference for `exact vs static`, `speedup` and the bound; `bound
tokens/NFE` is the attainable optimal path computed from a traced static run (oracle M\\*:
{_fmt(result.rows[0].oracle_tokens_per_nfe)} tokens/NFE). Peak memory: {m['memory_source']}.
{curve_note(m)}
{slower_note(result)}{kind_table(result)}## Command

```bash
{m['command'] or '(run from Python)'}
```

## Machine

- {machine}; device `{m['device']}`, dtype `{m['dtype']}`
- {m['platform']}
- {lib}
- date {m['date']}
- block size {cfg['block_size']}, max new tokens {cfg['max_new_tokens']}, batch size {cfg['batch_size']}, temperature {cfg['temperature']}, seed {cfg['seed']}

## Plots

![accuracy vs speed]({PLOTS['accuracy_vs_speed']})
![draft-depth sweep]({PLOTS['draft_depth_sweep']})
![tokens accepted per forward]({PLOTS['accepted_histogram']})
"""


def curve_note(meta: dict) -> str:
    """How ``predicted`` and ``efficiency`` were computed, with the run's cost curve."""
    curve = meta.get("cost_curve")
    if not curve:
        return ""
    ms = ", ".join(f"{r} → {v:.2f}" for r, v in curve["ms_per_forward"].items())
    block = ", ".join(f"{r} → {v:.2f}" for r, v in curve.get("ms_per_forward_with_block", {}).items())
    return (f"`predicted` is the speed-up over static that the forwards alone predict: {curve['predicted_speedup']}, "
            f"with cost(rows) the {curve['what']} (rows → ms: {ms}; with a block to cache: {block}). "
            "`efficiency` = `speedup` / `predicted`.\n")


def slower_note(result: BenchResult) -> str:
    """Say plainly which lossless settings were slower than static in this run."""
    slow = [r for r in result.rows if r.strategy.startswith("freedave") and (r.speedup_vs_static or 0) < 1]
    if not slow:
        return ""
    names = ", ".join(f"{r.strategy} d={r.draft_depth} ({r.speedup_vs_static:.2f}x)" for r in slow)
    return (f"**Slower than static in this run:** {names}. Fewer forwards only pay when a verification "
            "forward over d drafts costs little more than one static forward; see `seconds_per_forward`.\n\n")


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def to_json_text(result: BenchResult) -> str:
    """The JSON of ``freedave bench --json`` and ``results.json``."""
    return json.dumps(result.to_json(), indent=2, ensure_ascii=False)


def write_json(result: BenchResult, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(to_json_text(result) + "\n")


def write_report(result: BenchResult, out_dir: str | Path) -> list[Path]:
    """``results.json``, ``report.md`` and the PNG plots in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / JSON_NAME)
    (out / REPORT_NAME).write_text(markdown_report(result))
    return [out / JSON_NAME, out / REPORT_NAME, *write_plots(result, out)]


def print_table(result: BenchResult) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result.meta
    table = Table(title=f"freedave bench · {m['model']} · {m['task']} (n={m['n_problems']})")
    for h, _, _ in COLUMNS:
        table.add_column(h, justify="left" if h == "strategy" else "right")
    for r in result.rows:
        table.add_row(*(cell(r, k, f) for _, k, f in COLUMNS))
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    note = slower_note(result).strip()
    if note:
        console.print(note.replace("**", ""))
