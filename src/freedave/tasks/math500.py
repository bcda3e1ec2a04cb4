"""MATH500 from a local JSONL in its standard fields: ``problem`` and ``answer`` (LaTeX)."""

from __future__ import annotations

from pathlib import Path

from freedave.tasks.base import Problem
from freedave.tasks.mathcheck import same_answer
from freedave.tasks.readers import read_jsonl

INSTRUCTION = "\nPlease reason step by step, and put your final answer within \\boxed{}."


class Math500Task:
    name = "math500"
    chat = True
    max_new_tokens = 256

    def __init__(self, path: str | Path) -> None:
        rows = read_jsonl(path, ("problem", "answer"))
        self._problems = [
            Problem(id=str(r.get("unique_id", i)), prompt=str(r["problem"]) + INSTRUCTION, answer=str(r["answer"]),
                    kind=str(r.get("subject", "")))
            for i, r in enumerate(rows)
        ]

    def problems(self, limit: int | None = None) -> list[Problem]:
        return self._problems[:limit] if limit else list(self._problems)

    def score(self, problem: Problem, completion: str) -> bool:
        return same_answer(problem.answer or "", completion)
