"""The FastAPI app: OpenAI-shaped endpoints over one loaded model and one batching scheduler.

Every error leaves as ``{"error": {"message", "type", "param", "code"}}``: bad input is a 4xx with
a one-line message, a decode that raises is a 500 for its own batch only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from freedave.decoding import DecodeConfig, Sampling, make_strategy
from freedave.decoding.common import block_layout_of, check_prompts
from freedave.errors import DecodeError, one_line
from freedave.options import check_draft_branches, parse_draft_depth, resolve_block_size
from freedave.serve import schemas as S
from freedave.serve.metrics import Metrics
from freedave.serve.scheduler import BatchKey, QueueFull, Row, Scheduler
from freedave.serve.settings import Settings
from freedave.serve.text import TextTracker

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error answered with an OpenAI-style body."""

    def __init__(self, status: int, message: str, param: str | None = None, type_: str = "invalid_request_error",
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.type, self.code = status, message, param, type_, code
        self.headers = headers


def error_response(status: int, message: str, type_: str, param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = S.ErrorResponse(error=S.ErrorBody(message=message, type=type_, param=param, code=code))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


@dataclass
class Job:
    """A request turned into rows, with what its response needs."""

    rows: list[Row]
    trackers: list[TextTracker]
    prompt_tokens: int
    events: asyncio.Queue


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 before any parsing."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._refuse(scope, receive, send)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise APIError(413, f"request body over {self.limit} bytes", code="body_too_large")
            return message

        return await self.app(scope, counted, send)

    async def _refuse(self, scope: dict, receive: Any, send: Any) -> None:
        response = error_response(413, f"request body over {self.limit} bytes", "invalid_request_error",
                                  code="body_too_large")
        await response(scope, receive, send)


@dataclass
class Engine:
    """What every handler reads from ``request.app.state.engine``; the scheduler exists while the app runs."""

    loaded: Any
    settings: Settings
    metrics: Metrics
    scheduler: Scheduler | None = None

    @property
    def max_length(self) -> int | None:
        return getattr(self.loaded.denoiser, "max_length", None)


def engine_of(request: Request) -> Engine:
    return request.app.state.engine


router = APIRouter()


def create_app(loaded: Any, settings: Settings) -> FastAPI:
    """An app serving ``loaded`` with ``settings``; the scheduler lives as long as the app runs."""
    app = FastAPI(title="freedave", lifespan=lifespan)
    app.state.engine = Engine(loaded, settings, Metrics())
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _crash)
    app.middleware("http")(_auth_and_count)
    app.include_router(router)
    return app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine, s = app.state.engine, app.state.engine.settings
    sched = Scheduler(engine.loaded.denoiser, engine.metrics, s.max_batch, s.max_queue, s.batch_wait_s, s.device)
    sched.start()
    engine.scheduler = sched
    yield
    await sched.stop()


# errors ------------------------------------------------------------------------------------
async def _api_error(_: Request, e: APIError) -> JSONResponse:
    return error_response(e.status, e.message, e.type, e.param, e.code, e.headers)


async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
    first = e.errors()[0] if e.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid" or not loc:
        return error_response(400, "the request body must be a JSON object", "invalid_request_error",
                              code="invalid_json")
    message = f"{'.'.join(loc)}: {first.get('msg', 'invalid value')}"
    return error_response(400, one_line(ValueError(message)), "invalid_request_error", loc[0])


async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
    return error_response(e.status_code, str(e.detail), "invalid_request_error")


async def _crash(_: Request, e: Exception) -> JSONResponse:
    log.exception("unhandled error")
    return error_response(500, f"internal error: {one_line(e)}", "server_error")


async def _auth_and_count(request: Request, call_next: Any) -> Response:
    engine = engine_of(request)
    key, metrics = engine.settings.api_key, engine.metrics
    if key is not None and request.headers.get("authorization") != f"Bearer {key}":
        metrics.requests.labels(request.url.path, "401").inc()
        return error_response(401, "missing or wrong API key (send Authorization: Bearer KEY)",
                              "authentication_error", code="invalid_api_key")
    try:
        response = await call_next(request)
    except APIError as e:  # raised while the body was read (BodyLimit)
        response = error_response(e.status, e.message, e.type, e.param, e.code)
    metrics.requests.labels(request.url.path, str(response.status_code)).inc()
    return response


# building rows -----------------------------------------------------------------------------
def pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def batch_key(engine: Engine, req: S._Generation, max_tokens: int) -> BatchKey:
    """The strategy and decode config of ``req`` (the server's settings fill what it leaves out)."""
    settings = engine.settings
    try:
        branches = pick(req.draft_branches, settings.draft_branches)
        check_draft_branches(branches)  # refused for every strategy, not only freedave
        strategy = make_strategy(
            pick(req.strategy, settings.strategy),
            parse_draft_depth(pick(req.draft_depth, settings.draft_depth)),
            pick(req.threshold, settings.threshold),
            pick(req.cross_blocks, settings.cross_blocks),
            branches,
        )
        sampling = Sampling(
            temperature=pick(req.temperature, settings.temperature),
            top_k=pick(req.top_k, settings.top_k),
            top_p=pick(req.top_p, settings.top_p),
            seed=0,
            confidence=pick(req.confidence, settings.confidence),
        )
        block = resolve_block_size(pick(req.block_size, settings.block_size), engine.loaded.block_size)
        cfg = DecodeConfig(max_new_tokens=max_tokens, block_size=block, sampling=sampling,
                           block_layout=pick(req.block_layout, settings.block_layout))
        block_layout_of(engine.loaded.denoiser, cfg)  # 'aligned' on a full/shifted model: 400
    except DecodeError as e:
        raise APIError(400, one_line(e), param=_param_of(str(e))) from None
    return BatchKey(strategy, cfg)


def check_common(settings: Settings, req: S._Generation) -> int:
    """Refuse what freedave does not do; the request's max_tokens."""
    if req.n != 1:
        raise APIError(400, f"n must be 1 (got {req.n})", param="n")
    if req.logprobs not in (None, False, 0):
        raise APIError(400, "logprobs are not supported", param="logprobs")
    max_tokens = pick(req.max_completion_tokens, pick(req.max_tokens, settings.max_tokens))
    if max_tokens <= 0:
        raise APIError(400, f"max_tokens must be >= 1 (got {max_tokens})", param="max_tokens")
    if max_tokens > settings.max_tokens_limit:
        raise APIError(400, f"max_tokens must be <= {settings.max_tokens_limit} (got {max_tokens})",
                       param="max_tokens")
    seed = pick(req.seed, settings.seed)
    if seed < 0:
        raise APIError(400, f"seed must be >= 0 (got {seed})", param="seed")
    return max_tokens


def check_lengths(engine: Engine, prompts: list[list[int]], key: BatchKey, max_tokens: int, param: str) -> None:
    """Every prompt plus its response fits the model's positions and passes the decoder's checks."""
    max_length = engine.max_length
    layout = block_layout_of(engine.loaded.denoiser, key.cfg)
    for i, p in enumerate(prompts):
        new = key.cfg.response_length(len(p), layout)
        if max_length is not None and len(p) + new > max_length:
            raise APIError(400, f"prompt {i} is too long: {len(p)} tokens + max_tokens {max_tokens} (rounded up to "
                                f"{new}) > the model's {max_length} positions", param=param)
    try:
        check_prompts(engine.loaded.denoiser, prompts, key.cfg)
    except DecodeError as e:
        raise APIError(400, one_line(e), param=param) from None


def make_job(engine: Engine, req: S._Generation, prompts: list[list[int]], param: str) -> Job:
    """Check ``req``, turn its prompts into rows and queue them."""
    max_tokens = check_common(engine.settings, req)
    key = batch_key(engine, req, max_tokens)
    check_lengths(engine, prompts, key, max_tokens, param)
    stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()
    seed = pick(req.seed, engine.settings.seed)
    rows = [Row(i, ids, key, seed, events, loop) for i, ids in enumerate(prompts)]
    trackers = [TextTracker(engine.loaded.decode, stops, max_tokens) for _ in prompts]
    try:
        engine.scheduler.submit(rows)
    except QueueFull as e:
        raise APIError(503, str(e), type_="server_error", code="queue_full",
                       headers={"Retry-After": "1"}) from None
    return Job(rows, trackers, sum(map(len, prompts)), events)


def encode(loaded: Any, text: str, param: str) -> list[int]:
    try:
        return loaded.encode(text)
    except DecodeError as e:
        raise APIError(400, one_line(e), param=param) from None


def completion_prompts(loaded: Any, prompt: S.Prompt) -> list[list[int]]:
    """A string, strings, token ids or lists of token ids: one id list per prompt."""
    if isinstance(prompt, str):
        return [encode(loaded, prompt, "prompt")]
    if not prompt:
        raise APIError(400, "prompt is empty", param="prompt")
    if all(isinstance(p, int) for p in prompt):
        return [list(prompt)]
    return [encode(loaded, p, "prompt") if isinstance(p, str) else list(p) for p in prompt]


def chat_prompt(loaded: Any, messages: list[S.ChatMessage]) -> list[int]:
    """The tokenizer's chat template; without one, the contents joined by newlines."""
    plain = [{"role": m.role, "content": _content(m.content)} for m in messages]
    tok = loaded.tokenizer
    if tok is not None and getattr(tok, "chat_template", None):
        ids = tok.apply_chat_template(plain, add_generation_prompt=True, tokenize=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    text = "\n".join(m["content"] for m in plain)
    if not text:
        raise APIError(400, "messages have no content", param="messages")
    return encode(loaded, text, "messages")


# running a job -----------------------------------------------------------------------------
async def deltas(metrics: Metrics, job: Job) -> AsyncIterator[tuple[int, str, str | None, Any]]:
    """``(index, text, finish_reason, result)`` as rows progress; finish_reason on the last."""
    left, first = len(job.rows), True
    while left:
        i, kind, payload = await job.events.get()
        row, tracker = job.rows[i], job.trackers[i]
        if kind == "error":
            raise APIError(500, payload, type_="server_error", code="decode_failed")
        done = kind == "done"
        text = tracker.update(payload.token_ids if done else payload, final=done)
        if tracker.stopped:
            row.cancelled = True  # the rest is not needed
        if text and first:
            metrics.first_block.observe(time.perf_counter() - row.submitted)
            first = False
        if done:
            left -= 1
            metrics.latency.observe(time.perf_counter() - row.submitted)
            yield i, text, tracker.finish_reason, payload
        elif text:
            yield i, text, None, None


def usage(metrics: Metrics, job: Job, nfe: int, calls: int) -> S.Usage:
    completion = sum(t.completion_tokens for t in job.trackers)
    metrics.count_tokens(job.prompt_tokens, completion, nfe)
    return S.Usage(prompt_tokens=job.prompt_tokens, completion_tokens=completion,
                   total_tokens=job.prompt_tokens + completion, nfe=nfe, model_calls=calls,
                   tokens_per_nfe=completion / max(nfe, 1))


async def collect(metrics: Metrics, job: Job) -> tuple[list[str], list[str], S.Usage]:
    """The non-streaming path: every row's whole text and finish reason, and the usage."""
    texts, reasons, nfe, calls = [""] * len(job.rows), [""] * len(job.rows), 0, 0
    try:
        async for i, text, reason, result in deltas(metrics, job):
            texts[i] += text
            if reason is not None:
                reasons[i], nfe, calls = reason, nfe + result.nfe, calls + result.model_calls
    finally:
        for row in job.rows:
            row.cancelled = True  # a client gone before the end frees its rows
    return texts, reasons, usage(metrics, job, nfe, calls)


Chunk = Callable[..., BaseModel]  # (index | None, text, finish_reason, usage=None) -> one SSE chunk


def sse(metrics: Metrics, job: Job, chunk: Chunk, include_usage: bool) -> StreamingResponse:
    """The streaming path: ``data: {...}`` chunks as text becomes final, then ``data: [DONE]``."""

    async def body() -> AsyncIterator[str]:
        nfe = calls = 0
        try:
            async for i, text, reason, result in deltas(metrics, job):
                if reason is not None:
                    nfe, calls = nfe + result.nfe, calls + result.model_calls
                yield _data(chunk(i, text, reason))
            if include_usage:
                yield _data(chunk(None, None, None, usage(metrics, job, nfe, calls)))
            else:
                usage(metrics, job, nfe, calls)
        except APIError as e:
            yield _data(S.ErrorResponse(error=S.ErrorBody(message=e.message, type=e.type, code=e.code)))
        finally:
            for row in job.rows:
                row.cancelled = True  # a client that disconnects frees its rows
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")


def completion_chunks(rid: str, created: int, name: str) -> Chunk:
    """Streamed completion chunks: one choice with its text; the usage chunk has no choices."""

    def chunk(i: int | None, text: str | None, reason: str | None, use: S.Usage | None = None) -> BaseModel:
        choices = [] if i is None else [S.CompletionChoice(index=i, text=text, finish_reason=reason)]
        return S.Completion(id=rid, created=created, model=name, choices=choices, usage=use)

    return chunk


def chat_chunks(rid: str, created: int, name: str) -> Chunk:
    """Streamed chat chunks: a row's first delta carries ``role``; the usage chunk has no choices."""
    started: set[int] = set()

    def chunk(i: int | None, text: str | None, reason: str | None, use: S.Usage | None = None) -> BaseModel:
        if i is None:
            return S.ChatChunk(id=rid, created=created, model=name, choices=[], usage=use)
        role = None if i in started else "assistant"
        started.add(i)
        delta = S.Delta(role=role, content=text or None)
        return S.ChatChunk(id=rid, created=created, model=name,
                           choices=[S.ChatChunkChoice(index=i, delta=delta, finish_reason=reason)])

    return chunk


def include_usage(req: S._Generation) -> bool:
    return bool(req.stream_options and req.stream_options.include_usage)


# endpoints ---------------------------------------------------------------------------------
@router.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@router.get("/metrics")
async def prometheus(request: Request) -> Response:
    return Response(engine_of(request).metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/v1/models")
async def models(request: Request) -> dict:
    engine = engine_of(request)
    return {"object": "list", "data": [
        {"id": engine.settings.model_name, "object": "model", "created": 0, "owned_by": "freedave",
         "max_model_len": engine.max_length}]}


@router.post("/v1/completions")
async def completions(req: S.CompletionRequest, request: Request) -> Any:
    engine = engine_of(request)
    if req.echo:
        raise APIError(400, "echo is not supported", param="echo")
    job = make_job(engine, req, completion_prompts(engine.loaded, req.prompt), "prompt")
    rid, created, name = f"cmpl-{uuid.uuid4().hex}", int(time.time()), req.model or engine.settings.model_name
    if req.stream:
        return sse(engine.metrics, job, completion_chunks(rid, created, name), include_usage(req))
    texts, reasons, use = await collect(engine.metrics, job)
    choices = [S.CompletionChoice(index=i, text=t, finish_reason=r)
               for i, (t, r) in enumerate(zip(texts, reasons, strict=True))]
    return S.Completion(id=rid, created=created, model=name, choices=choices, usage=use)


@router.post("/v1/chat/completions")
async def chat(req: S.ChatRequest, request: Request) -> Any:
    engine = engine_of(request)
    job = make_job(engine, req, [chat_prompt(engine.loaded, req.messages)], "messages")
    rid, created, name = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), req.model or engine.settings.model_name
    if req.stream:
        return sse(engine.metrics, job, chat_chunks(rid, created, name), include_usage(req))
    texts, reasons, use = await collect(engine.metrics, job)
    choice = S.ChatChoice(index=0, message=S.AssistantMessage(content=texts[0]), finish_reason=reasons[0])
    return S.ChatCompletion(id=rid, created=created, model=name, choices=[choice], usage=use)


@router.post("/tokenize")
async def tokenize(req: S.TokenizeRequest, request: Request) -> dict:
    engine = engine_of(request)
    if req.messages:
        ids = chat_prompt(engine.loaded, req.messages)
    elif req.prompt is not None:
        ids = encode(engine.loaded, req.prompt, "prompt")
    else:
        raise APIError(400, "give prompt or messages", param="prompt")
    return {"count": len(ids), "max_model_len": engine.max_length, "tokens": ids}


@router.post("/detokenize")
async def detokenize(request: Request) -> dict:
    body = await _json(request)
    tokens = body.get("tokens") if isinstance(body, dict) else None
    if not isinstance(tokens, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
        raise APIError(400, "tokens must be a list of integers", param="tokens")
    return {"prompt": engine_of(request).loaded.decode(tokens)}


@router.get("/tokenizer_info")
async def tokenizer_info(request: Request) -> dict:
    engine = engine_of(request)
    tok = engine.loaded.tokenizer
    get = (lambda name: getattr(tok, name, None)) if tok is not None else (lambda name: None)
    return {"eos_token": get("eos_token"), "bos_token": get("bos_token"), "pad_token": get("pad_token"),
            "chat_template": get("chat_template"), "model_max_length": engine.max_length,
            "vocab_size": engine.loaded.denoiser.vocab_size}


def _content(content: str | list[dict] | None) -> str:
    """A message's text (content parts: their ``text`` fields)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))


def _param_of(message: str) -> str | None:
    """The field an option error names (``top_p must be ...`` -> ``top_p``)."""
    words = message.split()
    word = words[1] if len(words) > 1 and words[0] == "unknown" else words[0] if words else ""
    return word if word.isidentifier() else None


def _data(obj: BaseModel) -> str:
    return f"data: {obj.model_dump_json(exclude_none=False)}\n\n"


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise APIError(400, "the request body is not valid JSON", code="invalid_json") from None
