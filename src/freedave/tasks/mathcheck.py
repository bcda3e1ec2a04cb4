"""Answer checking for math tasks with ``math-verify``: equal values in any written form match."""

from __future__ import annotations

import re

from freedave.errors import DecodeError
from freedave.tasks.base import Problem

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _math_verify():  # noqa: ANN202
    try:
        from math_verify import parse, verify
    except ImportError:
        raise DecodeError("math tasks need the math-verify package: pip install 'freedave[tasks]'") from None
    return parse, verify


def final_answer_text(completion: str) -> str:
    """The part of a completion that states its answer: a ``\\boxed{}``, a ``#### N`` line, or the
    last number; the whole text when it has none of them."""
    if "\\boxed" in completion:
        return completion
    if "####" in completion:
        tail = completion.rsplit("####", 1)[1].strip()
        return tail.splitlines()[0] if tail else ""
    numbers = _NUMBER.findall(completion)
    return numbers[-1] if numbers else completion


def as_latex(answer: str) -> str:
    """A reference answer wrapped so math-verify reads it as LaTeX."""
    answer = answer.strip()
    return answer if ("$" in answer or "\\boxed" in answer) else f"${answer}$"


def same_answer(gold: str, completion: str) -> bool:
    """Whether the completion's final answer equals ``gold`` (numerically or symbolically)."""
    parse, verify = _math_verify()
    try:
        g = parse(as_latex(gold))
        p = parse(final_answer_text(completion))
        if not g or not p:
            return False
        return bool(verify(g, p))
    except Exception:  # math-verify raises on some malformed expressions: count as wrong
        return False


INSTRUCTION = "\nPlease reason step by step, and put your final answer within \\boxed{}."


class MathTask:
    """What GSM8K and MATH500 share: chat prompts ending in ``INSTRUCTION``, scored by ``same_answer``.

    Subclasses read their JSONL into ``self._problems``.
    """

    chat = True
    max_new_tokens = 256
    _problems: list[Problem]

    def problems(self, limit: int | None = None) -> list[Problem]:
        return self._problems[:limit] if limit else list(self._problems)

    def score(self, problem: Problem, completion: str) -> bool:
        return same_answer(problem.answer or "", completion)
