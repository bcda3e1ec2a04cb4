"""The README's Python examples run as written (on the bundled model); the ones that talk to
``freedave serve`` at 127.0.0.1:8000 run against a real server started here on a free port."""

import re
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SERVER = "127.0.0.1:8000"


def python_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    return [b for b in blocks if "freedave" in b or SERVER in b]


def test_python_examples_run():
    # the Ray pipeline example needs a cluster and a prompts file: tests/batch/test_ray.py runs the
    # same Decoder pipeline on a local cluster
    runnable = [b for b in python_blocks() if "~/" not in b and SERVER not in b and "import ray" not in b]
    assert runnable
    exec(compile("\n".join(runnable), "README.md", "exec"), {})  # noqa: S102


def test_serve_examples_run_against_a_server(capsys):
    pytest.importorskip("fastapi")
    pytest.importorskip("openai")
    sys.path.insert(0, str(Path(__file__).parent / "serve"))
    from serve_util import running

    import freedave
    from freedave.serve.settings import Settings

    blocks = [b for b in python_blocks() if SERVER in b]
    assert blocks, "the README's Serve section lost its openai example"
    with running(freedave.load("reference"), Settings(max_tokens=32)) as url:
        code = "\n".join(blocks).replace(f"http://{SERVER}", url)
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102
    printed = capsys.readouterr().out
    # the streamed "copy ..." example came back whole, and both adds were worked digit by digit
    assert "\ndj2k2gfb8o7wxnroio6y9se00xr0\n" in printed
    assert printed.count("2+6+0=08 8+9+0=17 4+3+1=08") == 2
