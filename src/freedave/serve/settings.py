"""Server limits and the generation defaults a request falls back to (no fastapi import here)."""

from __future__ import annotations

from dataclasses import dataclass

from freedave.options import (
    DEFAULT_CONFIDENCE,
    DEFAULT_DRAFT_DEPTH,
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_THRESHOLD,
)


@dataclass(frozen=True)
class Settings:
    """What ``freedave serve`` was started with."""

    model_name: str = "reference"
    api_key: str | None = None  # None: no auth
    # limits
    max_batch: int = 16  # rows decoded together
    max_queue: int = 256  # rows waiting; beyond: 503 with Retry-After
    max_tokens_limit: int = 1024  # largest max_tokens a request may ask for
    max_body_bytes: int = 1 << 20
    batch_wait_s: float = 0.002  # after the first request of a batch, wait this long for company
    # generation defaults (a request's own fields win)
    max_tokens: int = DEFAULT_MAX_NEW_TOKENS
    strategy: str = "freedave"
    draft_depth: int | str = DEFAULT_DRAFT_DEPTH
    draft_branches: int = 0  # FreeDave runner-up rows per round (a draft tree; greedy only)
    threshold: float = DEFAULT_THRESHOLD
    cross_blocks: bool = True
    block_size: int | None = None  # None: the model's own
    block_layout: str | None = None  # None: the model's own ("aligned" | "prompt")
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    confidence: str = DEFAULT_CONFIDENCE
    device: str = "cpu"
