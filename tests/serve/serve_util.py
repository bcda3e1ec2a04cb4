"""A real server for tests: uvicorn in a background thread on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from freedave.serve.app import create_app
from freedave.serve.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(loaded, settings: Settings) -> Iterator[str]:  # noqa: ANN001
    """Serve ``loaded`` until the block ends; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(loaded, settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def metric(url: str, name: str, headers: dict | None = None) -> float:
    """The sum of every sample of ``name`` in /metrics."""
    text = httpx.get(f"{url}/metrics", headers=headers).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            sample, value = line.rsplit(" ", 1)
            if sample.split("{")[0] == name:
                total += float(value)
    return total


def solo(loaded, prompt, max_tokens: int = 32, strategy: str = "freedave", seed: int = 0, chat: bool = False,
         **sampling) -> list[int]:  # noqa: ANN001
    """The prompt decoded alone through ``freedave.generate`` (the reference every server answer must equal)."""
    from freedave import generate
    from freedave.decoding import make_strategy

    strat = make_strategy(strategy, sampling.pop("draft_depth", 8), sampling.pop("threshold", 0.9),
                          sampling.pop("cross_blocks", True))
    (result,) = generate(loaded, [prompt], strat, max_new_tokens=max_tokens, seed=seed, chat=chat, **sampling)
    return result.token_ids[:max_tokens]
