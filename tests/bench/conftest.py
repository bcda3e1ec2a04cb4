"""Fixtures for the benchmark tests: tiny checkpoints (random weights) and small JSONL tasks."""

from __future__ import annotations

import json

import pytest

from helpers import one_torch_thread, save_tiny_checkpoint


@pytest.fixture(scope="session")
def bench_ckpt(tmp_path_factory):
    """A tiny block-diffusion checkpoint with a character tokenizer, long enough for HumanEval prompts."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("bench") / "ckpt", max_len=1024)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def copy_data(tmp_path_factory):
    """A generic ``jsonl`` task: copy a short string."""
    rows = [{"prompt": f"copy ab{i}c:", "answer": f"ab{i}c", "kind": "even" if i % 2 == 0 else "odd"} for i in range(10)]
    return write_jsonl(tmp_path_factory.mktemp("data") / "copy.jsonl", rows)


@pytest.fixture(scope="session")
def gsm8k_data(tmp_path_factory):
    rows = [
        {"question": "Tom has 3 apples and buys 4 more. How many apples?", "answer": "3 + 4 = 7\n#### 7"},
        {"question": "A box holds 250 pens. How many pens in 4 boxes?", "answer": "250 * 4 = 1000\n#### 1,000"},
    ]
    return write_jsonl(tmp_path_factory.mktemp("data") / "gsm8k.jsonl", rows)


@pytest.fixture(scope="session")
def math500_data(tmp_path_factory):
    rows = [
        {"problem": "What is 1/2 as a fraction?", "answer": "\\frac{1}{2}", "subject": "Prealgebra", "unique_id": "t/1"},
        {"problem": "Simplify sqrt(18).", "answer": "3\\sqrt{2}", "subject": "Algebra", "unique_id": "t/2"},
    ]
    return write_jsonl(tmp_path_factory.mktemp("data") / "math500.jsonl", rows)


one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)
