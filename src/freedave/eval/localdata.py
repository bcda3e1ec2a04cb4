"""Task data from a JSONL file next to a task YAML, for offline lm-eval tasks.

lm-eval resolves ``dataset_path``/``data_files`` against the working directory, so a task folder
used with ``--include-path`` from elsewhere would not find its own data. A task's ``utils.py``
calls ``jsonl_docs(Path(__file__).with_name("data.jsonl"))`` from its ``custom_dataset`` hook
instead: the file is read where it lies, and nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from freedave.errors import DecodeError


def jsonl_docs(path: Path, split: str = "test") -> Any:
    """A ``datasets.DatasetDict`` with one split holding the rows of ``path`` (one JSON object a line)."""
    import datasets

    if not path.is_file():
        raise DecodeError(f"task data {path}: no such file")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise DecodeError(f"task data {path} line {n}: not JSON ({e.msg})") from None
    if not rows:
        raise DecodeError(f"task data {path} has no rows")
    return datasets.DatasetDict({split: datasets.Dataset.from_list(rows)})
