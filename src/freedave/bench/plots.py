"""PNG plots of a benchmark result (matplotlib, Agg backend): one function per figure."""

from __future__ import annotations

from pathlib import Path

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


def _rows(result: dict, strategy: str) -> list[dict]:
    return [r for r in result["rows"] if r["strategy"] == strategy]


def _title(result: dict, what: str) -> str:
    m = result["meta"]
    return f"{what} · {m['model']} · {m['task']} (n={m['n_problems']})"


def plot_accuracy_vs_speed(result: dict, path: Path) -> Path:
    """Accuracy against tokens/s: threshold as a curve over τ, FreeDave as points."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for r in _rows(result, "static"):
        ax.scatter([r["tokens_per_second"]], [r["accuracy"]], marker="*", s=180, color="black", label="static", zorder=3)
    th = sorted(_rows(result, "threshold"), key=lambda r: r["threshold"])
    if th:
        ax.plot([r["tokens_per_second"] for r in th], [r["accuracy"] for r in th], "o-", color="tab:orange", label="threshold (τ)")
        for r in th:
            ax.annotate(f"τ={r['threshold']:g}", (r["tokens_per_second"], r["accuracy"]), textcoords="offset points", xytext=(4, -10), fontsize=8)
    fd = sorted(_rows(result, "freedave"), key=lambda r: (isinstance(r["draft_depth"], str), str(r["draft_depth"]).zfill(4)))
    if fd:
        ax.scatter([r["tokens_per_second"] for r in fd], [r["accuracy"] for r in fd], marker="D", color="tab:blue", label="FreeDave (d)", zorder=3)
        for r in fd:
            ax.annotate(f"d={r['draft_depth']}", (r["tokens_per_second"], r["accuracy"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ft = _rows(result, "freedave-threshold")
    if ft:
        ax.scatter([r["tokens_per_second"] for r in ft], [r["accuracy"] for r in ft], marker="s", color="tab:green", label="FreeDave-threshold", zorder=3)
    ax.set_xlabel("valid tokens / second")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(_title(result, "accuracy vs speed"), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_draft_depth_sweep(result: dict, path: Path) -> Path:
    """Tokens/s and tokens/NFE against draft depth d, with static and the optimal-path bounds."""
    plt = _plt()
    rows = _rows(result, "freedave")
    fd = sorted((r for r in rows if isinstance(r["draft_depth"], int)), key=lambda r: r["draft_depth"])
    auto = [r for r in rows if r["draft_depth"] == "auto"]
    static = _rows(result, "static")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.6, 4.0))
    ds = [r["draft_depth"] for r in fd]
    if fd:
        a1.plot(ds, [r["tokens_per_second"] for r in fd], "o-", color="tab:blue", label="FreeDave")
        a2.plot(ds, [r["tokens_per_nfe"] for r in fd], "o-", color="tab:blue", label="FreeDave")
        for a in (a1, a2):
            a.set_xscale("log", base=2)
            a.set_xticks(ds, [str(d) for d in ds])
        for r in auto:  # adaptive depth: one figure per run, drawn across the sweep
            a1.axhline(r["tokens_per_second"], color="tab:green", ls="-.", label="FreeDave d=auto")
            a2.axhline(r["tokens_per_nfe"], color="tab:green", ls="-.", label="FreeDave d=auto")
    else:
        for a in (a1, a2):
            a.text(0.5, 0.5, "no FreeDave rows", ha="center", va="center", transform=a.transAxes)
    if static:
        s = static[0]
        a1.axhline(s["tokens_per_second"], color="black", ls=":", label="static")
        a2.axhline(s["tokens_per_nfe"], color="black", ls=":", label="static")
        if s.get("optimal_tokens_per_nfe"):
            a2.axhline(s["optimal_tokens_per_nfe"], color="tab:red", ls="--", label="optimal path (attainable)")
        if s.get("oracle_tokens_per_nfe"):
            a2.axhline(s["oracle_tokens_per_nfe"], color="tab:red", ls=":", alpha=0.6, label="oracle M*")
    a1.set_xlabel("draft depth d")
    a1.set_ylabel("valid tokens / second")
    a2.set_xlabel("draft depth d")
    a2.set_ylabel("valid tokens / forward (NFE)")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(_title(result, "draft-depth sweep"), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_accepted_histogram(result: dict, path: Path) -> Path:
    """Histogram of tokens committed per forward, one series per FreeDave depth and threshold τ."""
    plt = _plt()
    rows = [r for r in result["rows"] if r["strategy"] != "static"] or result["rows"]
    ks = sorted({int(k) for r in rows for k in r["accepted_histogram"]}) or [1]
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    width = 0.8 / max(len(rows), 1)
    for j, r in enumerate(rows):
        hist = r["accepted_histogram"]
        total = sum(hist.values()) or 1
        name = r["strategy"] + (f" d={r['draft_depth']}" if r["draft_depth"] is not None else "") + (
            f" τ={r['threshold']:g}" if r["threshold"] is not None else "")
        ax.bar([k - 0.4 + width * (j + 0.5) for k in ks], [hist.get(str(k), 0) / total for k in ks], width=width, label=name)
    ax.set_xlabel("tokens committed per forward")
    ax.set_ylabel("fraction of forwards")
    ax.set_xticks(ks)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(_title(result, "tokens accepted per forward"), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_plots(result: dict, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    return [
        plot_accuracy_vs_speed(result, out_dir / PLOTS["accuracy_vs_speed"]),
        plot_draft_depth_sweep(result, out_dir / PLOTS["draft_depth_sweep"]),
        plot_accepted_histogram(result, out_dir / PLOTS["accepted_histogram"]),
    ]
