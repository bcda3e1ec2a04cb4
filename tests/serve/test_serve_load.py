"""Batching under load, limits, bad input, disconnects, auth and decode failures, on real servers."""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from serve_util import metric, running, solo

from freedave.serve.settings import Settings
from freedave.tasks.reference import ReferenceTask

CONFIGS = [  # (request body fields, the same settings for solo())
    ({"strategy": "freedave"}, {"strategy": "freedave"}),
    ({"strategy": "static", "temperature": 0.7}, {"strategy": "static", "temperature": 0.7}),
    ({"strategy": "freedave", "temperature": 0.7, "top_p": 0.9}, {"strategy": "freedave", "temperature": 0.7, "top_p": 0.9}),
    ({"strategy": "threshold", "threshold": 0.8}, {"strategy": "threshold", "threshold": 0.8}),
]


def test_32_concurrent_requests_equal_their_solo_runs(server, loaded) -> None:
    problems = ReferenceTask().problems(8)
    jobs = []
    for i in range(32):
        body, kw = CONFIGS[i % len(CONFIGS)]
        jobs.append(({"prompt": problems[i % 8].prompt, "max_tokens": 32, "seed": 100 + i, **body},
                     dict(kw, seed=100 + i, prompt=problems[i % 8].prompt)))
    before = metric(server, "freedave_batch_size_count"), metric(server, "freedave_batch_size_sum")
    barrier = threading.Barrier(len(jobs))

    def send(body: dict) -> httpx.Response:
        barrier.wait()
        return httpx.post(f"{server}/v1/completions", json=body, timeout=120)

    with ThreadPoolExecutor(len(jobs)) as pool:
        responses = list(pool.map(send, [b for b, _ in jobs]))
    assert [r.status_code for r in responses] == [200] * 32
    assert len({r.json()["id"] for r in responses}) == 32  # every request answered, once
    for r, (_, kw) in zip(responses, jobs, strict=True):
        prompt = kw.pop("prompt")
        assert r.json()["choices"][0]["text"] == loaded.decode(solo(loaded, prompt, **kw)), (prompt, kw)
    batches = metric(server, "freedave_batch_size_count") - before[0]
    rows = metric(server, "freedave_batch_size_sum") - before[1]
    assert rows == 32
    assert batches < rows  # some decode call held more than one request


BAD = [
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, None),
    ({"json": {"prompt": 5}}, 400, "prompt"),
    ({"json": {"prompt": "add 1+2", "max_tokens": "many"}}, 400, "max_tokens"),
    ({"json": {"prompt": "add 1+2", "max_tokens": 0}}, 400, "max_tokens"),
    ({"json": {"prompt": "add 1+2", "temperature": -1}}, 400, "temperature"),
    ({"json": {"prompt": "add 1+2", "strategy": "greedy"}}, 400, "strategy"),
    ({"json": {"prompt": "add 1+2", "draft_depth": 0}}, 400, "draft_depth"),
    ({"json": {"prompt": "add 1+2", "draft_branches": -1}}, 400, "draft_branches"),
    ({"json": {"prompt": "add 1+2", "strategy": "static", "draft_branches": -3}}, 400, "draft_branches"),
    ({"json": {"prompt": "add 1+2", "draft_branches": "2"}}, 400, "draft_branches"),
    ({"json": {"prompt": "add 1+2", "draft_branches": 1.5}}, 400, "draft_branches"),
    ({"json": {"prompt": "x" * 250}}, 400, "prompt"),
    ({"json": {"prompt": []}}, 400, "prompt"),
    ({"json": {"prompt": [[5, 999999]]}}, 400, "prompt"),
    ({"json": {"prompt": "add 1+2", "n": 2}}, 400, "n"),
    ({"json": {"prompt": "add 1+2", "max_tokens": 10**6}}, 400, "max_tokens"),
    ({"json": {"prompt": "add 1+2", "echo": True, "logprobs": 1}}, 400, None),
    ({"json": {"prompt": "x" * (2 << 20)}}, 413, None),
]


@pytest.mark.parametrize(("kwargs", "status", "param"), BAD)
def test_bad_request_gets_4xx_error_object(server, kwargs, status, param) -> None:
    r = httpx.post(f"{server}/v1/completions", timeout=30, **kwargs)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"] and "\n" not in err["message"]
    if param is not None:
        assert err["param"] == param
    assert httpx.get(f"{server}/health").status_code == 200


@pytest.mark.parametrize("body", [{"messages": []}, {"messages": [{"role": "user"}]}, {"messages": "hi"}, {}])
def test_bad_chat_request(server, body) -> None:
    r = httpx.post(f"{server}/v1/chat/completions", json=body)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{server}/health").status_code == 200


def test_unknown_route_is_an_error_object(server) -> None:
    r = httpx.get(f"{server}/v1/nothing")
    assert r.status_code == 404 and "error" in r.json()


def test_disconnect_mid_stream_frees_the_row(server) -> None:
    before = metric(server, "freedave_rows_cancelled_total")
    body = {"prompt": "zzzz", "max_tokens": 224, "strategy": "static", "stream": True}  # no EOS: runs long
    with httpx.stream("POST", f"{server}/v1/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        first = next(line for line in r.iter_lines() if line.startswith("data: "))
        assert '"text"' in first
    deadline = time.monotonic() + 30
    while metric(server, "freedave_rows_cancelled_total") == before:
        assert time.monotonic() < deadline, "the disconnected row was never cancelled"
        time.sleep(0.05)
    assert httpx.get(f"{server}/health").status_code == 200
    ok = httpx.post(f"{server}/v1/completions", json={"prompt": "add 1+2", "max_tokens": 16}, timeout=60)
    assert ok.status_code == 200


def test_api_key(loaded) -> None:
    with running(loaded, Settings(api_key="sekret", max_tokens=16)) as url:
        body = {"prompt": "add 1+2"}
        assert httpx.post(f"{url}/v1/completions", json=body).status_code == 401
        wrong = httpx.post(f"{url}/v1/completions", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
        assert httpx.get(f"{url}/v1/models").status_code == 401
        good = httpx.post(f"{url}/v1/completions", json=body, headers={"Authorization": "Bearer sekret"}, timeout=60)
        assert good.status_code == 200 and good.json()["choices"][0]["text"]
    with running(loaded, Settings(max_tokens=16)) as url:  # no key configured: no header needed
        assert httpx.post(f"{url}/v1/completions", json=body, timeout=60).status_code == 200


def test_queue_overflow_is_503_with_retry_after(loaded) -> None:
    with running(loaded, Settings(max_queue=1, max_batch=1, batch_wait_s=0.0)) as url:
        body = {"prompt": "zzzz", "max_tokens": 96, "strategy": "static"}
        barrier = threading.Barrier(12)

        def send(_: int) -> httpx.Response:
            barrier.wait()
            return httpx.post(f"{url}/v1/completions", json=body, timeout=120)

        with ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(send, range(12)))
        codes = sorted(r.status_code for r in responses)
        assert set(codes) == {200, 503} and codes.count(200) >= 1, codes
        for r in responses:
            if r.status_code == 503:
                assert r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "queue_full"
        assert metric(url, "freedave_rejected_total") == codes.count(503)


class Exploding:
    """The reference denoiser, except that any row holding ``bad_id`` makes the forward raise."""

    def __init__(self, inner, bad_id: int) -> None:  # noqa: ANN001
        self.inner, self.bad_id = inner, bad_id

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.inner, name)

    def logits(self, queries):  # noqa: ANN001, ANN201
        if any(bool((q.tokens == self.bad_id).any()) for q in queries):
            raise RuntimeError("boom")
        return self.inner.logits(queries)


def test_decode_exception_fails_only_its_batch(loaded) -> None:
    bad = loaded.encode("#")[0]
    broken = dataclasses.replace(loaded, denoiser=Exploding(loaded.denoiser, bad))
    with running(broken, Settings(max_tokens=16)) as url:
        r = httpx.post(f"{url}/v1/completions", json={"prompt": "copy #abc"}, timeout=60)
        assert r.status_code == 500
        assert r.json()["error"]["type"] == "server_error" and "boom" in r.json()["error"]["message"]
        good = httpx.post(f"{url}/v1/completions", json={"prompt": "add 1+2"}, timeout=60)
        assert good.status_code == 200
        assert good.json()["choices"][0]["text"] == loaded.decode(solo(loaded, "add 1+2", max_tokens=16))
        assert metric(url, "freedave_decode_errors_total") == 1
