"""Request and response bodies, shaped as OpenAI shapes them (the official client parses them).

Requests ignore fields they do not know (clients send e.g. ``frequency_penalty``); fields freedave
adds (``strategy``, ``draft_depth``, ``draft_branches``, ``threshold``, ``block_size``, ``cross_blocks``,
``top_k``)
come in the body, which the openai client fills from ``extra_body``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

Prompt = str | list[str] | list[StrictInt] | list[list[StrictInt]]


class StreamOptions(BaseModel):
    include_usage: StrictBool = False


class _Generation(BaseModel):
    """Fields completions and chat completions share."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    max_tokens: StrictInt | None = None
    max_completion_tokens: StrictInt | None = None  # newer name for max_tokens (chat)
    temperature: float | None = None
    top_p: float | None = None
    top_k: StrictInt | None = None
    seed: StrictInt | None = None
    stop: str | list[str] | None = None
    n: StrictInt = 1
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    logprobs: StrictBool | StrictInt | None = None
    # freedave's own
    strategy: str | None = None
    draft_depth: StrictInt | str | None = None
    draft_branches: StrictInt | None = None  # FreeDave runner-up rows per round (greedy; >= 0)
    threshold: float | None = None
    block_size: StrictInt | None = None
    block_layout: str | None = None
    cross_blocks: StrictBool | None = None
    confidence: str | None = None  # "full" | "renormalized"


class CompletionRequest(_Generation):
    prompt: Prompt
    echo: StrictBool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str
    content: str | list[dict] | None = None


class ChatRequest(_Generation):
    messages: list[ChatMessage] = Field(min_length=1)


class TokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    add_special_tokens: StrictBool = False


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    nfe: int  # network passes the rows took part in (freedave's)
    model_calls: int | None = None  # denoiser calls the rows took part in (freedave's)
    tokens_per_nfe: float


FinishReason = Literal["stop", "length"]


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: None = None
    finish_reason: FinishReason | None


class _Reply(BaseModel):
    """The head every response body starts with (subclasses pin ``object``; field order is kept)."""

    id: str
    object: str
    created: int
    model: str


class Completion(_Reply):
    object: Literal["text_completion"] = "text_completion"
    choices: list[CompletionChoice]
    usage: Usage | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: None = None
    finish_reason: FinishReason


class ChatCompletion(_Reply):
    object: Literal["chat.completion"] = "chat.completion"
    choices: list[ChatChoice]
    usage: Usage


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int
    delta: Delta
    logprobs: None = None
    finish_reason: FinishReason | None = None


class ChatChunk(_Reply):
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | int | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
