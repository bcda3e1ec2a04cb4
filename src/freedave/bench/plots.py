"""PNG plots of a benchmark result (matplotlib, Agg backend): one function per figure."""

from __future__ import annotations

from pathlib import Path

from freedave.bench.rows import BenchResult, Row

PLOTS = {
    "accuracy_vs_speed": "accuracy_vs_speed.png",
    "draft_depth_sweep": "draft_depth_sweep.png",
    "accepted_histogram": "accepted_histogram.png",
}


def _plt():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _title(result: BenchResult, what: str) -> str:
    m = result.meta
    return f"{what} · {m['model']} · {m['task']} (n={m['n_problems']})"


def _save(plt, fig, path: Path) -> Path:  # noqa: ANN001
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _depth_key(r: Row) -> tuple[bool, str]:
    return isinstance(r.draft_depth, str), str(r.draft_depth).zfill(4)


def plot_accuracy_vs_speed(result: BenchResult, path: Path) -> Path:
    """Accuracy against tokens/s: threshold as a curve over τ, FreeDave as points."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for r in result.of("static"):
        ax.scatter([r.tokens_per_second], [r.accuracy], marker="*", s=180, color="black", label="static", zorder=3)
    th = sorted(result.of("threshold"), key=lambda r: r.threshold)
    if th:
        ax.plot([r.tokens_per_second for r in th], [r.accuracy for r in th], "o-", color="tab:orange", label="threshold (τ)")
        for r in th:
            ax.annotate(f"τ={r.threshold:g}", (r.tokens_per_second, r.accuracy), textcoords="offset points", xytext=(4, -10), fontsize=8)
    fd = sorted(result.of("freedave"), key=_depth_key)
    if fd:
        ax.scatter([r.tokens_per_second for r in fd], [r.accuracy for r in fd], marker="D", color="tab:blue", label="FreeDave (d)", zorder=3)
        for r in fd:
            ax.annotate(f"d={r.draft_depth}", (r.tokens_per_second, r.accuracy), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ft = result.of("freedave-threshold")
    if ft:
        ax.scatter([r.tokens_per_second for r in ft], [r.accuracy for r in ft], marker="s", color="tab:green", label="FreeDave-threshold", zorder=3)
    ax.set_xlabel("valid tokens / second")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(_title(result, "accuracy vs speed"), fontsize=9)
    return _save(plt, fig, path)


def plot_draft_depth_sweep(result: BenchResult, path: Path) -> Path:
    """Tokens/s and tokens/NFE against draft depth d, with static and the optimal-path bounds."""
    plt = _plt()
    rows = [r for r in result.of("freedave") if not r.draft_branches]  # chains (a tree is its own series)
    fd = sorted((r for r in rows if isinstance(r.draft_depth, int)), key=lambda r: r.draft_depth)
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.0))
    series = (("tokens_per_second", "valid tokens / second"), ("tokens_per_nfe", "valid tokens / forward (NFE)"))
    for a, (key, ylabel) in zip(axes, series, strict=True):
        if fd:
            ds = [r.draft_depth for r in fd]
            a.plot(ds, [getattr(r, key) for r in fd], "o-", color="tab:blue", label="FreeDave")
            a.set_xscale("log", base=2)
            a.set_xticks(ds, [str(d) for d in ds])
            for r in rows:  # adaptive depth: one figure per run, drawn across the sweep
                if r.draft_depth == "auto":
                    a.axhline(getattr(r, key), color="tab:green", ls="-.", label="FreeDave d=auto")
        else:
            a.text(0.5, 0.5, "no FreeDave rows", ha="center", va="center", transform=a.transAxes)
        for s in result.of("static")[:1]:
            a.axhline(getattr(s, key), color="black", ls=":", label="static")
        a.set_xlabel("draft depth d")
        a.set_ylabel(ylabel)
    for s in result.of("static")[:1]:
        if s.optimal_tokens_per_nfe:
            axes[1].axhline(s.optimal_tokens_per_nfe, color="tab:red", ls="--", label="optimal path (attainable)")
        if s.oracle_tokens_per_nfe:
            axes[1].axhline(s.oracle_tokens_per_nfe, color="tab:red", ls=":", alpha=0.6, label="oracle M*")
    for a in axes:
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(_title(result, "draft-depth sweep"), fontsize=9)
    return _save(plt, fig, path)


def plot_accepted_histogram(result: BenchResult, path: Path) -> Path:
    """Histogram of tokens committed per forward, one series per FreeDave depth and threshold τ."""
    plt = _plt()
    rows = [r for r in result.rows if r.strategy != "static"] or list(result.rows)
    ks = sorted({int(k) for r in rows for k in r.accepted_histogram}) or [1]
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    width = 0.8 / max(len(rows), 1)
    for j, r in enumerate(rows):
        hist = r.accepted_histogram
        total = sum(hist.values()) or 1
        ax.bar([k - 0.4 + width * (j + 0.5) for k in ks], [hist.get(str(k), 0) / total for k in ks], width=width, label=r.label)
    ax.set_xlabel("tokens committed per forward")
    ax.set_ylabel("fraction of forwards")
    ax.set_xticks(ks)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(_title(result, "tokens accepted per forward"), fontsize=9)
    return _save(plt, fig, path)


def write_plots(result: BenchResult, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    return [
        plot_accuracy_vs_speed(result, out_dir / PLOTS["accuracy_vs_speed"]),
        plot_draft_depth_sweep(result, out_dir / PLOTS["draft_depth_sweep"]),
        plot_accepted_histogram(result, out_dir / PLOTS["accepted_histogram"]),
    ]
