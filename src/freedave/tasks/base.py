"""What a benchmark task is: problems with prompts, and a scorer for completions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Problem:
    id: str
    prompt: str  # the text given to the model (before any chat template)
    answer: str | None  # reference answer, if the task has one
    kind: str = ""  # problem kind within the task (e.g. "add", "perm")
    meta: dict[str, Any] = field(default_factory=dict)


class Task(Protocol):
    name: str
    chat: bool  # whether prompts should go through the model's chat template when it has one

    def problems(self, limit: int | None = None) -> list[Problem]: ...

    def score(self, problem: Problem, completion: str) -> bool: ...
