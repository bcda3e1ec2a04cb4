"""Issue-15 figures: `freedave batch` throughput, one process vs Ray Data with 1 and 2 workers.

The same job (held-out reference prompts, FreeDave d=4, sampled at temperature 0.8) runs three
ways; each run's wall time is end to end (``run_job``: reading, decoding, writing; for Ray also
starting the Ray Data job and loading the model in each actor, on an already started cluster).
Every configuration must write the same rows (sorted by id, ``seconds`` aside): the script fails
otherwise. One torch thread per process (one per actor), so 2 workers use the 2 cores.

Run: OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/batch_scale.py [--rows 256]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ray  # noqa: E402
import torch  # noqa: E402

import freedave  # noqa: E402
from freedave.batch import JobSettings, local_engine, run_job  # noqa: E402
from freedave.decoding import FreeDave  # noqa: E402
from freedave.ray import ray_engine  # noqa: E402
from freedave.tasks.reference import ReferenceTask  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "batch_scale.json"


def hardware() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu": model, "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(),
            "note": "2-core VM shared with other jobs; see load_average_at_start",
            "python": platform.python_version(), "torch": torch.__version__, "ray": ray.__version__,
            "torch_threads_per_process": 1}


def rows_of(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return sorted(({k: v for k, v in r.items() if k != "seconds"} for r in rows), key=lambda r: json.dumps(r["id"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args()
    torch.set_num_threads(1)
    settings = JobSettings(strategy=FreeDave(draft_depth=4), max_new_tokens=32, temperature=0.8, seed=0)
    tmp = Path(tempfile.mkdtemp(prefix="batch_scale_"))
    with (tmp / "in.jsonl").open("w") as fh:
        for i, problem in enumerate(ReferenceTask().problems(args.rows)):
            fh.write(json.dumps({"id": i, "prompt": problem.prompt}) + "\n")

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    runs = {
        "single-process": lambda: local_engine(settings, freedave.load("reference")),
        "ray, 1 worker": lambda: ray_engine(settings, tmp / "work", num_workers=1, cpus_per_worker=1.0),
        "ray, 2 workers": lambda: ray_engine(settings, tmp / "work", num_workers=2, cpus_per_worker=1.0),
    }
    results, reference = [], None
    for name, make in runs.items():
        out = tmp / f"{name.replace(' ', '').replace(',', '_')}.jsonl"
        started = time.perf_counter()
        summary = run_job(settings, tmp / "in.jsonl", out, args.batch_size, engine=make())
        wall = time.perf_counter() - started
        got = rows_of(out)
        reference = reference or got
        if got != reference:
            sys.exit(f"{name}: output differs from the single-process job")
        s = summary.to_json()
        results.append({"run": name, "rows": s["decoded"], "tokens": s["tokens"], "seconds": round(wall, 3),
                        "rows_per_s": round(s["decoded"] / wall, 2), "tokens_per_s": round(s["tokens"] / wall, 1),
                        "tokens_per_nfe": s["tokens_per_nfe"]})
        print(json.dumps(results[-1]), flush=True)
    ray.shutdown()
    base = results[0]["rows_per_s"]
    for r in results:
        r["speedup_vs_single_process"] = round(r["rows_per_s"] / base, 2)
    report = {
        "command": "OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/batch_scale.py "
                   f"--rows {args.rows} --batch-size {args.batch_size}",
        "job": {"rows": args.rows, "batch_size": args.batch_size, "model": "reference",
                "strategy": "freedave d=4", "max_new_tokens": 32, "temperature": 0.8},
        "identical_outputs": True,
        "hardware": hardware(),
        "results": results,
    }
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
