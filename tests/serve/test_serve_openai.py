"""The official openai client against a real server: same tokens as ``freedave generate``."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from serve_util import solo

from freedave.cli.main import main as freedave_main

PROMPT = "add 482+396"


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def generate_cli(capsys, *flags: str) -> dict:  # noqa: ANN001
    """``freedave generate ... --json`` run for real; its one JSON line."""
    capsys.readouterr()
    assert freedave_main(["generate", "--model", "reference", "--json", *flags]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def tokens_of(url: str, text: str) -> list[int]:
    r = httpx.post(f"{url}/tokenize", json={"prompt": text})
    assert r.status_code == 200
    return r.json()["tokens"]


@pytest.mark.parametrize(
    ("flags", "body"),
    [
        (["--strategy", "freedave"], {}),
        (["--strategy", "static", "--temperature", "0.8", "--seed", "7"],
         {"strategy": "static", "temperature": 0.8, "seed": 7}),
        (["--strategy", "freedave", "--temperature", "0.8", "--top-k", "5", "--seed", "3"],
         {"strategy": "freedave", "temperature": 0.8, "top_k": 5, "seed": 3}),
    ],
)
def test_completion_equals_generate(server, capsys, flags, body) -> None:
    ref = generate_cli(capsys, "--prompt", PROMPT, "--max-new-tokens", "32", *flags)
    extra = {k: v for k, v in body.items() if k in ("strategy", "top_k")}
    std = {k: v for k, v in body.items() if k in ("temperature", "seed")}
    out = client(server).completions.create(model="reference", prompt=PROMPT, max_tokens=32, extra_body=extra, **std)
    choice = out.choices[0]
    assert choice.text == ref["text"]
    assert tokens_of(server, choice.text) == ref["token_ids"]
    assert out.usage.completion_tokens == len(ref["token_ids"])
    assert out.usage.prompt_tokens == len(PROMPT)  # one token per character
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens
    assert out.usage.nfe == ref["nfe"]
    assert choice.finish_reason == ("length" if len(ref["token_ids"]) == 32 else "stop")

    chunks = list(client(server).completions.create(
        model="reference", prompt=PROMPT, max_tokens=32, stream=True, stream_options={"include_usage": True},
        extra_body=extra, **std))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == choice.text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == choice.finish_reason
    assert chunks[-1].usage.completion_tokens == out.usage.completion_tokens
    assert chunks[-1].usage.nfe == out.usage.nfe


def test_chat_equals_generate_chat(server, capsys) -> None:
    ref = generate_cli(capsys, "--prompt", PROMPT, "--max-new-tokens", "32", "--chat", "--strategy", "static")
    msgs = [{"role": "user", "content": PROMPT}]
    out = client(server).chat.completions.create(model="reference", messages=msgs, max_tokens=32,
                                                 extra_body={"strategy": "static"})
    assert out.choices[0].message.content == ref["text"]
    assert out.choices[0].message.role == "assistant"
    assert out.usage.completion_tokens == len(ref["token_ids"])
    assert out.usage.nfe == ref["nfe"] and out.usage.tokens_per_nfe == pytest.approx(ref["tokens_per_nfe"])
    chunks = list(client(server).chat.completions.create(model="reference", messages=msgs, max_tokens=32,
                                                         stream=True, stream_options={"include_usage": True},
                                                         extra_body={"strategy": "static"}))
    *parts, last = chunks
    assert "".join(c.choices[0].delta.content or "" for c in parts) == ref["text"]
    assert parts[0].choices[0].delta.role == "assistant"
    assert len([c for c in parts if c.choices[0].delta.content]) >= 2  # sent block by block, not at the end
    assert last.choices == [] and last.usage.completion_tokens == out.usage.completion_tokens
    assert last.usage.prompt_tokens == out.usage.prompt_tokens and last.usage.nfe == out.usage.nfe


def test_stop_string_cuts_and_says_stop(server, loaded) -> None:
    full = loaded.decode(solo(loaded, PROMPT))
    assert "=" in full
    out = client(server).completions.create(model="reference", prompt=PROMPT, max_tokens=32, stop=["="])
    assert out.choices[0].text == full[: full.index("=")]
    assert out.choices[0].finish_reason == "stop"
    assert out.usage.completion_tokens == full.index("=") + 1  # the tokens up to the stop string
    streamed = client(server).completions.create(model="reference", prompt=PROMPT, max_tokens=32, stop="=",
                                                 stream=True)
    assert "".join(c.choices[0].text for c in streamed) == out.choices[0].text


def test_token_id_batches_like_lm_eval(server, loaded) -> None:
    """lm-eval's local-completions sends a list of token-id lists, echo false, no logprobs."""
    prompts = ["add 12+34", "copy hello world", "mark abcdefghijklmnopqrstuvwxyzabcde"]
    ids = [loaded.encode(p) for p in prompts]
    r = httpx.post(f"{server}/v1/completions", json={
        "model": "reference", "prompt": ids, "max_tokens": 32, "temperature": 0.0, "stop": ["\n\n"], "seed": 1234,
        "echo": False}, timeout=60)
    assert r.status_code == 200, r.text
    choices = sorted(r.json()["choices"], key=lambda c: c["index"])
    assert [c["index"] for c in choices] == [0, 1, 2]
    for p, c in zip(prompts, choices, strict=True):
        assert c["text"] == loaded.decode(solo(loaded, p, seed=1234))
    assert r.json()["usage"]["prompt_tokens"] == sum(map(len, ids))


def test_models_tokenizer_info_health(server) -> None:
    assert [m.id for m in client(server).models.list().data] == ["reference"]
    info = httpx.get(f"{server}/tokenizer_info").json()
    assert info["eos_token"] == "<eos>" and info["model_max_length"] == 256
    assert httpx.post(f"{server}/detokenize", json={"tokens": tokens_of(server, "hi there")}).json()["prompt"] == "hi there"
    assert httpx.get(f"{server}/health").json() == {"status": "ok"}


def test_block_layout_field_streams_aligned_blocks(server, loaded) -> None:
    """``block_layout: "aligned"`` decodes as ``freedave.generate(..., block_layout="aligned")``; its
    stream (a short first block completing the prompt's) adds up to the same text; a bad value is a 400."""
    want = loaded.decode(solo(loaded, PROMPT, block_layout="aligned"))
    assert want != loaded.decode(solo(loaded, PROMPT))  # a different decoding from the default
    extra = {"block_layout": "aligned"}
    out = client(server).completions.create(model="reference", prompt=PROMPT, max_tokens=32, extra_body=extra)
    assert out.choices[0].text == want
    chunks = list(client(server).completions.create(model="reference", prompt=PROMPT, max_tokens=32, stream=True,
                                                    extra_body=extra))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == want
    r = httpx.post(f"{server}/v1/completions", json={"prompt": PROMPT, "block_layout": "diagonal"})
    assert r.status_code == 400 and "unknown block_layout 'diagonal'" in r.json()["error"]["message"]
    assert r.json()["error"]["param"] == "block_layout"


def test_draft_branches_field_equals_static_and_batches_apart(server, loaded) -> None:
    """``draft_branches: 2``: static's text; concurrent requests that differ only in it decode in
    separate batches (each one's NFE is its own strategy's, alone); the server's default applies."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import freedave
    from freedave.tasks.reference import ReferenceTask

    prompts = [p.prompt for p in ReferenceTask().problems(3)]
    alone = {b: freedave.generate(loaded, prompts, freedave.FreeDave(8, draft_branches=b), max_new_tokens=32)
             for b in (0, 2)}
    static = freedave.generate(loaded, prompts, freedave.Static(), max_new_tokens=32)
    assert sum(r.nfe for r in alone[2]) < sum(r.nfe for r in alone[0])  # the tree matters on these prompts
    jobs = [(p, b) for p in prompts for b in (0, 2)]
    barrier = threading.Barrier(len(jobs))

    def send(job: tuple[str, int]) -> httpx.Response:
        barrier.wait()
        body = {"prompt": job[0], "max_tokens": 32, "strategy": "freedave", "draft_depth": 8, "draft_branches": job[1]}
        return httpx.post(f"{server}/v1/completions", json=body, timeout=120)

    with ThreadPoolExecutor(len(jobs)) as pool:
        responses = list(pool.map(send, jobs))
    for (p, b), r in zip(jobs, responses, strict=True):
        assert r.status_code == 200, r.text
        i = prompts.index(p)
        assert r.json()["choices"][0]["text"] == static[i].text == loaded.decode(alone[b][i].token_ids)
        assert r.json()["usage"]["nfe"] == alone[b][i].nfe, (p, b)

    from serve_util import running

    from freedave.serve.settings import Settings

    with running(loaded, Settings(max_tokens=32, draft_depth=8, draft_branches=2)) as url:
        default = httpx.post(f"{url}/v1/completions", json={"prompt": prompts[0]}, timeout=60).json()
        chain = httpx.post(f"{url}/v1/completions", json={"prompt": prompts[0], "draft_branches": 0}, timeout=60).json()
    assert default["choices"][0]["text"] == chain["choices"][0]["text"] == static[0].text
    assert (default["usage"]["nfe"], chain["usage"]["nfe"]) == (alone[2][0].nfe, alone[0][0].nfe)
