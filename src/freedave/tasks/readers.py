"""Readers the tasks share (kept out of ``tasks/__init__`` so the tasks the registry imports do not
import the registry back)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from freedave.errors import DecodeError


def read_jsonl(path: str | Path, required: tuple[str, ...], flag: str = "--data") -> list[dict[str, Any]]:
    """Records of a JSONL file, each checked for ``required`` string fields; one-line errors."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DecodeError(f"{flag} {path}: no such file")
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DecodeError(f"{flag} {path}: cannot read it ({type(e).__name__})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise DecodeError(f"{flag} {path}: line {n} is not valid JSON (expected one object per line)") from None
        if not isinstance(row, dict):
            raise DecodeError(f"{flag} {path}: line {n} is not a JSON object")
        for key in required:
            if not isinstance(row.get(key), str | int | float) or isinstance(row.get(key), bool):
                raise DecodeError(f"{flag} {path}: line {n} has no {key!r} field (needs {', '.join(required)})")
        rows.append(row)
    if not rows:
        raise DecodeError(f"{flag} {path}: the file holds no records")
    return rows
