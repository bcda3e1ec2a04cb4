"""Scoring for the freedave_reference lm-eval task: freedave's own checker, so that the eval's
accuracy equals ``freedave bench``'s (``mark`` has many right answers; exact match would miss them)."""

from __future__ import annotations

from pathlib import Path

from freedave.eval.localdata import jsonl_docs
from freedave.tasks.base import Problem
from freedave.tasks.reference import check


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    problem = Problem(id=doc["id"], prompt=doc["prompt"], answer=doc["answer"], kind=doc["kind"])
    return {"exact_match": float(check(problem, results[0]))}


def load_docs(**_: object):  # noqa: ANN201 - datasets.DatasetDict
    """The documents, from data.jsonl beside this file (wherever lm-eval runs from; no download).
    lm-eval passes the task's metadata as keyword arguments; none are needed."""
    return jsonl_docs(Path(__file__).with_name("data.jsonl"))
