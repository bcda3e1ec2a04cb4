"""GSM8K from a local JSONL in its standard fields: ``question`` and ``answer`` ending ``#### N``."""

from __future__ import annotations

from pathlib import Path

from freedave.errors import DecodeError
from freedave.tasks.base import Problem
from freedave.tasks.mathcheck import INSTRUCTION, MathTask
from freedave.tasks.readers import read_jsonl


def gold_answer(answer: str) -> str:
    """The number after ``####`` in a GSM8K answer, without thousands separators."""
    return answer.rsplit("####", 1)[1].strip().replace(",", "")


class GSM8KTask(MathTask):
    name = "gsm8k"

    def __init__(self, path: str | Path) -> None:
        rows = read_jsonl(path, ("question", "answer"))
        self._problems = []
        for i, r in enumerate(rows):
            if "####" not in str(r["answer"]):
                raise DecodeError(f"--data {path}: record {i + 1} has an 'answer' without '#### N'")
            self._problems.append(
                Problem(id=str(r.get("id", i)), prompt=str(r["question"]) + INSTRUCTION, answer=gold_answer(str(r["answer"])))
            )
