"""MATH500 from a local JSONL in its standard fields: ``problem`` and ``answer`` (LaTeX)."""

from __future__ import annotations

from pathlib import Path

from freedave.tasks.base import Problem
from freedave.tasks.mathcheck import INSTRUCTION, MathTask
from freedave.tasks.readers import read_jsonl


class Math500Task(MathTask):
    name = "math500"

    def __init__(self, path: str | Path) -> None:
        rows = read_jsonl(path, ("problem", "answer"))
        self._problems = [
            Problem(id=str(r.get("unique_id", i)), prompt=str(r["problem"]) + INSTRUCTION, answer=str(r["answer"]),
                    kind=str(r.get("subject", "")))
            for i, r in enumerate(rows)
        ]
