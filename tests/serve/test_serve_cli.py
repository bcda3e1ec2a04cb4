"""``freedave serve`` as a process: binds 127.0.0.1, answers, exits 0 on SIGTERM; one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from serve_util import free_port

from freedave.cli.main import main as freedave_main

SRC = Path(__file__).resolve().parents[2] / "src"


def test_serve_process_answers_and_exits_0_on_sigterm() -> None:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(SRC), HF_HUB_OFFLINE="1", FREEDAVE_API_KEY="k1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "freedave.cli.main", "serve", "--model", "reference", "--port", str(port),
         "--max-new-tokens", "16", "--strategy", "static", "--threads", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer k1"}
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                if httpx.get(f"{url}/health", headers=auth, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "freedave serve did not come up"
            time.sleep(0.2)
        assert httpx.get(f"{url}/health").status_code == 401  # the key came from FREEDAVE_API_KEY
        r = httpx.post(f"{url}/v1/completions", json={"prompt": "add 1+2"}, headers=auth, timeout=60)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 16
        # SIGTERM while a stream is in flight: the stream still ends properly, then the process exits 0
        body = {"prompt": "zzzz", "max_tokens": 96, "strategy": "static", "stream": True}
        with httpx.stream("POST", f"{url}/v1/completions", json=body, headers=auth, timeout=60) as r:
            lines = r.iter_lines()
            assert next(line for line in lines if line.startswith("data: ")).startswith('data: {"id"')
            proc.send_signal(signal.SIGTERM)
            rest = [line for line in lines if line.startswith("data: ")]
        assert rest[-1] == "data: [DONE]"
        assert proc.wait(timeout=30) == 0
        with pytest.raises(httpx.TransportError):  # no longer listening
            httpx.get(f"{url}/health", headers=auth, timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_flags_are_one_line(capsys) -> None:
    assert freedave_main(["serve", "--max-batch", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "freedave: error: --max-batch must be >= 1 (got 0)"
    assert freedave_main(["serve", "--threads", "0"]) == 2
    assert capsys.readouterr().err.strip() == "freedave: error: --threads must be >= 1 (got 0)"
    assert freedave_main(["serve", "--draft-depth", "zero"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert freedave_main(["serve", "--draft-branches", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "freedave: error: draft_branches must be an integer >= 0 (got -1)"


def test_without_the_serve_extra_says_so(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fastapi now fails
    monkeypatch.delitem(sys.modules, "freedave.serve.app", raising=False)
    assert freedave_main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert "serve extra" in err and "fastapi" in err and "\n" not in err


def test_api_key_flag_and_env(monkeypatch) -> None:
    from freedave.cli.main import build_parser
    from freedave.cli.serve import settings_from_args

    parse = build_parser().parse_args
    monkeypatch.delenv("FREEDAVE_API_KEY", raising=False)
    assert settings_from_args(parse(["serve"])).api_key is None  # off by default
    assert settings_from_args(parse(["serve"])).draft_branches == 0
    assert settings_from_args(parse(["serve", "--draft-branches", "3"])).draft_branches == 3
    assert settings_from_args(parse(["serve", "--api-key", "a"])).api_key == "a"
    monkeypatch.setenv("FREEDAVE_API_KEY", "b")
    assert settings_from_args(parse(["serve"])).api_key == "b"
    assert settings_from_args(parse(["serve", "--api-key", "a"])).api_key == "a"  # the flag wins
