"""Golden token ids of the bundled model (CPU, float32), recorded before the redesign.

A change of numerics or of any decoder's path shows up here. Re-record only on purpose
(``tests/golden/golden_record.py``) and say why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from golden_record import PROMPTS, record

GOLDEN = json.loads((Path(__file__).parent / "golden.json").read_text())


def test_prompts_unchanged() -> None:
    assert GOLDEN["prompts"] == PROMPTS


@pytest.fixture(scope="module")
def current() -> list[dict]:
    return record()


@pytest.mark.parametrize("i", range(len(GOLDEN["rows"])))
def test_golden_token_ids(current: list[dict], i: int) -> None:
    want, got = GOLDEN["rows"][i], current[i]
    assert {k: v for k, v in got.items() if k != "token_ids"} == {k: v for k, v in want.items() if k != "token_ids"}
    assert got["token_ids"] == want["token_ids"], f"{want['strategy']} changed its output"


def test_golden_freedave_equals_static() -> None:
    rows = {(r["strategy"], r["temperature"]): r["token_ids"] for r in GOLDEN["rows"]}
    for t in (0.0, 0.8):
        assert rows[("freedave", t)] == rows[("static", t)]
        assert rows[("freedave-threshold", t)] == rows[("threshold", t)]
