from __future__ import annotations

from collections import Counter

from freedave.models.reference_tokenizer import build_tokenizer
from freedave.tasks.reference import (
    KINDS,
    MAX_RESPONSE_CHARS,
    ReferenceTask,
    check,
    generate,
    is_heldout,
    train_problems,
    worked_addition,
)


def test_splits_never_overlap() -> None:
    train = train_problems(5000, seed=0)
    held = ReferenceTask().problems(400)
    assert not {p.prompt for p in train} & {p.prompt for p in held}
    assert all(is_heldout(p.prompt) for p in held)
    assert not any(is_heldout(p.prompt) for p in train)


def test_deterministic_and_prefix_stable() -> None:
    a = ReferenceTask().problems(50)
    b = ReferenceTask().problems(20)
    assert a[:20] == b
    assert train_problems(30, seed=3) == train_problems(30, seed=3)
    assert train_problems(30, seed=3) != train_problems(30, seed=4)


def test_kinds_and_lengths() -> None:
    tok = build_tokenizer()
    problems = generate("heldout", 300, 7)
    assert set(Counter(p.kind for p in problems)) == set(KINDS)
    for p in problems:
        n = len(tok.encode(p.answer, add_special_tokens=False))
        assert 24 <= n <= 96 and len(p.answer) <= MAX_RESPONSE_CHARS, p
        assert check(p, p.answer)


def test_worked_addition() -> None:
    assert worked_addition(482, 396, 3) == "2+6+0=08 8+9+0=17 4+3+1=08"
    assert worked_addition(482, 96, 3) == "2+6+0=08 8+9+0=17 4+0+1=05"


def test_checker() -> None:
    task = ReferenceTask()
    mark = next(p for p in task.problems(100) if p.kind == "mark")
    letters = mark.prompt.split(" ", 1)[1]
    assert task.score(mark, mark.answer) and mark.answer.count("*") == 1
    assert task.score(mark, "*" + letters[1:])  # any one slot may hold the star
    assert task.score(mark, letters[:-1] + "*\n")
    assert not task.score(mark, letters)  # no star
    assert not task.score(mark, "**" + letters[2:])  # two stars
    assert not task.score(mark, "*" + letters[1:-1])  # a letter short
    wrong = "a" if letters[-1] != "a" else "b"
    assert not task.score(mark, "*" + letters[1:-1] + wrong)  # a changed letter
    add = next(p for p in task.problems(100) if p.kind == "add")
    assert task.score(add, add.answer)
    assert not task.score(add, add.answer[:-1] + "x")
