"""Data for the gsm8k_local example task: data.jsonl beside this file, read offline."""

from __future__ import annotations

from pathlib import Path

from freedave.eval.localdata import jsonl_docs


def load_docs(**_: object):  # noqa: ANN201 - datasets.DatasetDict
    return jsonl_docs(Path(__file__).with_name("data.jsonl"))
