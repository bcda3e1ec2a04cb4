"""The bundled reference task: a seeded mixture of small reasoning problems.

Three kinds, chosen for what they show about decoders (DESIGN.md §5):

- ``add``: column addition with worked carries, least significant column first, e.g.
  ``add 482+396`` -> ``2+6+0=08 8+9+0=17 4+3+1=08`` (the sum is the final
  carry, then the last digit of each column read right to left). One right answer; its structure
  tokens and copied digits are certain while sums wait on carries, so the static order is stable
  and FreeDave drafts long runs.
- ``perm``: write any arrangement of a multiset of letters with one dominant letter, e.g.
  ``perm aaaaaaaaaaabb`` -> ``a a b a a a a a a a a b a``. Many right answers (checked for validity,
  not exact match). Every slot's argmax is the dominant letter, so threshold decoding writes it
  everywhere once its share passes tau: the kind where threshold loses and static does not.
- ``copy``: repeat a random string. Confident everywhere: threshold is exact and fast here.

Problems are a pure function of ``(split, index)``; a prompt belongs to the held-out split when a
hash of its text falls in ``HELDOUT_SHARE``, so the two splits never share a prompt.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter

from freedave.tasks.base import Problem

KINDS = ("add", "perm", "copy")
KIND_WEIGHTS = (0.45, 0.35, 0.20)
HELDOUT_SHARE = 0.1  # fraction of the prompt space reserved for evaluation
HELDOUT_SEED = 20240901
COPY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
PERM_LETTERS = "abcde"
ADD_DIGITS = 3  # operands zero-padded: fixed layouts keep every lookup at a fixed offset
PERM_LENGTH = 13
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


def gen_perm(rng: random.Random) -> tuple[str, str, dict]:
    n = PERM_LENGTH
    letters = rng.sample(PERM_LETTERS, rng.randint(2, 3))
    dominant_share = rng.uniform(0.6, 0.95)
    dominant = min(max(round(n * dominant_share), n // 2 + 1), n - (len(letters) - 1))
    counts = {letters[0]: dominant}
    rest = n - dominant
    for i, ch in enumerate(letters[1:]):
        left = len(letters) - 2 - i  # letters still to fill after this one
        counts[ch] = rest if left == 0 else rng.randint(1, rest - left)
        rest -= counts[ch]
    multiset = "".join(sorted(ch * k for ch, k in counts.items()))
    arrangement = list(multiset)
    rng.shuffle(arrangement)
    return f"perm {multiset}", " ".join(arrangement), {"counts": counts}


def gen_copy(rng: random.Random) -> tuple[str, str, dict]:
    s = "".join(rng.choice(COPY_ALPHABET) for _ in range(COPY_LENGTH))
    return f"copy {s}", s, {}


GENERATORS = {"add": gen_add, "perm": gen_perm, "copy": gen_copy}


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
    """True when ``completion`` answers ``problem`` (exact for add/copy, valid for perm)."""
    text = completion.strip()
    if problem.kind == "perm":
        letters = text.split(" ")
        if any(len(ch) != 1 for ch in letters):
            return False
        return Counter(letters) == Counter(problem.prompt.split(" ", 1)[1])
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
