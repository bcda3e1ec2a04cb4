"""The bundled reference task: a seeded mixture of small reasoning problems.

Three kinds, chosen for what they show about decoders (DESIGN.md §5):

- ``add``: column addition with worked carries, least significant column first, e.g.
  ``add 482+396`` -> ``2+6+0=08 8+9+0=17 4+3+1=08`` (the sum is the final
  carry, then the last digit of each column read right to left). One right answer; its structure
  tokens and copied digits are certain while sums wait on carries, so the static order is stable
  and FreeDave drafts long runs.
- ``mark``: repeat a string of 31 letters with exactly one of them (any one) replaced by ``*``,
  e.g. ``mark qwertyuiopasdfghjklzxcvbnmqwert`` -> ``qwer*yuiopasdfghjklzxcvbnmqwert``. Many right answers
  (checked for validity, not exact match). While no ``*`` is written, each of the k letters still
  masked is a ``*`` with probability about 1/k, so every slot is individually confident (14/15 in
  the last block) that it keeps its letter, yet they cannot all keep it. Static decoding commits
  one slot at a time and writes the ``*`` where it is forced; threshold decoding commits every slot
  above tau at once and writes no ``*``: the kind where threshold loses and static does not.
- ``copy``: repeat a random string. Confident everywhere: threshold is exact and fast here.

Problems are a pure function of ``(split, index)``; a prompt belongs to the held-out split when a
hash of its text falls in ``HELDOUT_SHARE``, so the two splits never share a prompt.
"""

from __future__ import annotations

import hashlib
import random

from freedave.tasks.base import Problem

KINDS = ("add", "mark", "copy")
KIND_WEIGHTS = (0.40, 0.40, 0.20)
HELDOUT_SHARE = 0.1  # fraction of the prompt space reserved for evaluation
HELDOUT_SEED = 20240901
COPY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
MARK_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
ADD_DIGITS = 3  # operands zero-padded: fixed layouts keep every lookup at a fixed offset
MARK_LENGTH = 31  # the second block holds 15 letters and the EOS
COPY_LENGTH = 28
MAX_RESPONSE_CHARS = 31  # + EOS fits in 32 response positions (2 blocks of 16)


def is_heldout(prompt: str) -> bool:
    """True when ``prompt`` lies in the held-out split (a pure function of its text)."""
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < HELDOUT_SHARE


# ------------------------------------------------------------------------------------------------
# Generators: one function per kind, each taking a seeded ``random.Random``.


def worked_addition(a: int, b: int, n: int) -> str:
    """The worked-carry response for ``a + b`` with ``n``-digit operands (zero-padded)."""
    da, db = str(a).zfill(n)[::-1], str(b).zfill(n)[::-1]
    carry, cols, digits = 0, [], []
    for x, y in zip(da, db, strict=True):
        s = int(x) + int(y) + carry
        cols.append(f"{x}+{y}+{carry}={s:02d}")
        digits.append(str(s % 10))
        carry = s // 10
    return " ".join(cols)


def gen_add(rng: random.Random) -> tuple[str, str, dict]:
    a, b = rng.randrange(10**ADD_DIGITS), rng.randrange(10**ADD_DIGITS)
    prompt = f"add {str(a).zfill(ADD_DIGITS)}+{str(b).zfill(ADD_DIGITS)}"
    return prompt, worked_addition(a, b, ADD_DIGITS), {"a": a, "b": b}


def gen_mark(rng: random.Random) -> tuple[str, str, dict]:
    s = "".join(rng.choice(MARK_ALPHABET) for _ in range(MARK_LENGTH))
    star = rng.randrange(len(s))
    return f"mark {s}", s[:star] + "*" + s[star + 1 :], {"star": star}


def gen_copy(rng: random.Random) -> tuple[str, str, dict]:
    s = "".join(rng.choice(COPY_ALPHABET) for _ in range(COPY_LENGTH))
    return f"copy {s}", s, {}


GENERATORS = {"add": gen_add, "mark": gen_mark, "copy": gen_copy}


def sample_problem(rng: random.Random) -> tuple[str, str, str, dict]:
    kind = rng.choices(KINDS, weights=KIND_WEIGHTS)[0]
    prompt, answer, meta = GENERATORS[kind](rng)
    return kind, prompt, answer, meta


def generate(split: str, n: int, seed: int) -> list[Problem]:
    """``n`` distinct problems of ``split`` ("train" or "heldout"), a pure function of the seed."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout' (got {split!r})")
    want_heldout = split == "heldout"
    rng = random.Random(f"{split}:{seed}")
    out: list[Problem] = []
    seen: set[str] = set()
    while len(out) < n:
        kind, prompt, answer, meta = sample_problem(rng)
        if is_heldout(prompt) != want_heldout or prompt in seen:
            continue
        seen.add(prompt)
        out.append(Problem(id=f"reference/{split}/{len(out)}", prompt=prompt, answer=answer, kind=kind, meta=meta))
    return out


def train_problems(n: int, seed: int = 0) -> list[Problem]:
    """The training split: ``n`` problems, never a held-out prompt."""
    return generate("train", n, seed)


# ------------------------------------------------------------------------------------------------
# Checking.


def check(problem: Problem, completion: str) -> bool:
    """True when ``completion`` answers ``problem`` (exact for add/copy, valid for mark)."""
    text = completion.strip()
    if problem.kind == "mark":
        source = problem.prompt.split(" ", 1)[1]
        if len(text) != len(source) or text.count("*") != 1:
            return False
        star = text.index("*")
        return text[:star] == source[:star] and text[star + 1 :] == source[star + 1 :]
    return text == problem.answer


class ReferenceTask:
    """The bundled task's held-out split, as a benchmark ``Task``."""

    name = "reference"
    chat = False

    def __init__(self, seed: int = HELDOUT_SEED) -> None:
        self.seed = seed

    def problems(self, limit: int | None = None) -> list[Problem]:
        return generate("heldout", 400 if limit is None else limit, self.seed)

    def score(self, problem: Problem, completion: str) -> bool:
        return check(problem, completion)
