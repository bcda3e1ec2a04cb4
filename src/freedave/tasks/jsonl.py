"""A generic task from a local JSONL: ``{"prompt": ..., "answer": ...}`` per line, exact match.

The completion is right when, stripped of surrounding white space, it equals the answer (or starts
with it followed by a line break, so trailing text the model adds after an answer line is ignored).
"""

from __future__ import annotations

from pathlib import Path

from freedave.tasks.base import Problem
from freedave.tasks.readers import read_jsonl


class JsonlTask:
    name = "jsonl"
    chat = False
    max_new_tokens = 64

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._rows = read_jsonl(self.path, ("prompt", "answer"))

    def problems(self, limit: int | None = None) -> list[Problem]:
        rows = self._rows[:limit] if limit else self._rows
        return [
            Problem(id=str(r.get("id", i)), prompt=str(r["prompt"]), answer=str(r["answer"]), kind=str(r.get("kind", "")))
            for i, r in enumerate(rows)
        ]

    def score(self, problem: Problem, completion: str) -> bool:
        answer = (problem.answer or "").strip()
        text = completion.strip()
        return text == answer or text.startswith(answer + "\n")
