"""No function in src/freedave longer than 60 lines; decode_freedave at most 40 (issue 12)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "freedave"
LIMIT, FREEDAVE_LIMIT = 60, 40


def long_functions() -> list[str]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                limit = FREEDAVE_LIMIT if node.name == "decode_freedave" else LIMIT
                if lines > limit:
                    out.append(f"{rel}:{node.lineno} {node.name} is {lines} lines (limit {limit})")
    return out


def test_no_function_is_too_long() -> None:
    assert not long_functions(), "\n".join(long_functions())


def test_decode_freedave_is_checked() -> None:
    text = (SRC / "decoding" / "freedave.py").read_text()
    assert any(isinstance(n, ast.FunctionDef) and n.name == "decode_freedave" for n in ast.walk(ast.parse(text)))
