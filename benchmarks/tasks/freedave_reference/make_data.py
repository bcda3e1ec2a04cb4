"""Write data.jsonl: the bundled task's first 200 held-out problems (``ReferenceTask().problems(200)``).

Run from the repository root: ``python benchmarks/tasks/freedave_reference/make_data.py``.
tests/eval checks that the committed file equals what this writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from freedave.tasks.reference import ReferenceTask

N_PROBLEMS = 200


def rows() -> list[dict]:
    return [{"id": p.id, "prompt": p.prompt, "answer": p.answer, "kind": p.kind} for p in ReferenceTask().problems(N_PROBLEMS)]


if __name__ == "__main__":
    out = Path(__file__).with_name("data.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows()), encoding="utf-8")
