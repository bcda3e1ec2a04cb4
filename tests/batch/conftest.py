"""Shared pieces of the batch-job tests: a small job over held-out reference problems, and what
each of its rows must decode to when decoded alone (``freedave.generate`` with the row's seed)."""

import json
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Two CPU cores shared with other jobs: one torch thread per process is many times faster here,
# and subprocesses (the CLI, Ray workers) inherit it.
os.environ["OMP_NUM_THREADS"] = "1"

from freedave.batch import JobSettings, row_seed  # noqa: E402
from freedave.decoding import FreeDave  # noqa: E402

torch.set_num_threads(1)

SETTINGS = JobSettings(strategy=FreeDave(draft_depth=4), max_new_tokens=32, temperature=0.8, top_p=0.95, seed=11)


def job_rows(n: int = 8) -> list[dict]:
    """n rows: string and integer ids, two lengths, some explicit seeds."""
    from freedave.tasks.reference import ReferenceTask

    rows = []
    for i, problem in enumerate(ReferenceTask().problems(n)):
        row = {"id": i if i % 3 == 0 else f"row-{i}", "prompt": problem.prompt}
        if i % 4 == 1:
            row["max_new_tokens"] = 16
        if i % 3 == 2:
            row["seed"] = 1000 + i
        rows.append(row)
    return rows


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def read_results(path) -> list[dict]:
    """The output file's rows sorted by id, without ``seconds`` (the one field that varies)."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return sorted(({k: v for k, v in r.items() if k != "seconds"} for r in rows), key=lambda r: json.dumps(r["id"]))


@pytest.fixture(scope="session")
def loaded():
    import freedave

    return freedave.load("reference")


@pytest.fixture(scope="session")
def solo(loaded):
    """Each row of job_rows() decoded alone with its seed, as `freedave generate --seed` would."""
    import freedave

    out = []
    for row in job_rows():
        seed = row.get("seed", row_seed(SETTINGS.seed, row["id"]))
        max_new = row.get("max_new_tokens", SETTINGS.max_new_tokens)
        (r,) = freedave.generate(loaded, [row["prompt"]], SETTINGS.strategy, max_new_tokens=max_new,
                                 temperature=SETTINGS.temperature, top_p=SETTINGS.top_p, seed=seed)
        out.append({"id": row["id"], "text": r.text, "token_ids": r.token_ids, "nfe": r.nfe,
                    "tokens_per_nfe": len(r.token_ids) / max(r.nfe, 1), "seed": seed, "max_new_tokens": max_new})
    return sorted(out, key=lambda r: json.dumps(r["id"]))
