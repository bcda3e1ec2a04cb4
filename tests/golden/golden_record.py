"""Record the golden token ids of the bundled model (run once, before a refactor):

    .venv/bin/python tests/golden/golden_record.py > tests/golden/golden.json
"""

from __future__ import annotations

import json

import freedave
from freedave.decoding import make_strategy

PROMPTS = [
    "add 482+396",
    "add 007+999",
    "mark qwertyuiopasdfghjklzxcvbnmq",
    "copy k3xq9zpl0m2nb7vc8xw1aa4sd5fg6h",
    "hello, world",
]
SETTINGS = [
    ("static", {}),
    ("threshold", {"threshold": 0.9}),
    ("freedave", {"draft_depth": 4}),
    ("freedave-threshold", {"draft_depth": 4, "threshold": 0.9}),
]
SAMPLING = [{"temperature": 0.0}, {"temperature": 0.8, "top_p": 0.95, "seed": 3}]


def record() -> list[dict]:
    m = freedave.load("reference")
    rows = []
    for name, kw in SETTINGS:
        for sampling in SAMPLING:
            out = freedave.generate(m, PROMPTS, make_strategy(name, **kw), max_new_tokens=32, **sampling)
            rows.append({"strategy": name, **kw, **sampling, "token_ids": [r.token_ids for r in out]})
    return rows


if __name__ == "__main__":
    print(json.dumps({"prompts": PROMPTS, "rows": record()}, indent=1))
