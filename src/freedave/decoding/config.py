"""Decoding configuration: small frozen dataclasses, validated when built.

A *strategy* says how tokens are chosen per forward (``Static``, ``Threshold``, ``FreeDave``,
``FreeDaveThreshold``); ``Sampling`` says how a position's token is drawn; ``DecodeConfig`` holds
what every strategy shares (lengths, blocks, sampling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from freedave.errors import OptionError
from freedave.options import (
    CONFIDENCES,
    DEFAULT_BLOCK_SIZE,
    DEFAULT_CONFIDENCE,
    DEFAULT_DRAFT_DEPTH,
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_THRESHOLD,
    STRATEGIES,
    block_origin,
    check_block_layout,
    check_choice,
    check_draft_branches,
    check_draft_depth,
)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise OptionError(message)


@dataclass(frozen=True)
class Sampling:
    """How the token of a masked position is chosen and scored. ``temperature == 0`` is greedy (no
    draws). ``confidence``: ``"full"`` scores the chosen token by its softmax probability over the
    whole vocabulary, mask token included (LLaDA, Fast-dLLM, Dream); ``"renormalized"`` over every
    token but the mask, i.e. p / (1 - p_mask). The mask token itself is never chosen."""

    temperature: float = 0.0
    top_k: int = 0  # 0 = no top-k filter
    top_p: float = 1.0
    seed: int = 0
    confidence: str = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        _check(
            isinstance(self.temperature, int | float) and math.isfinite(self.temperature) and self.temperature >= 0,
            f"temperature must be >= 0 (got {self.temperature}); use 0 for greedy decoding",
        )
        _check(self.top_k >= 0, f"top_k must be >= 0 (got {self.top_k}); use 0 to disable it")
        _check(0 < self.top_p <= 1, f"top_p must be in (0, 1] (got {self.top_p}); use 1 to disable it")
        _check(self.seed >= 0, f"seed must be >= 0 (got {self.seed})")
        check_choice("confidence", self.confidence, CONFIDENCES)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class Static:
    """Paper Algorithm 1: one token per forward, the most confident of the active block."""

    name = "static"


@dataclass(frozen=True)
class Threshold:
    """Unmask every position of the active block with confidence >= tau (at least one)."""

    threshold: float = DEFAULT_THRESHOLD
    name = "threshold"

    def __post_init__(self) -> None:
        _check(0 < self.threshold <= 1, f"threshold must be in (0, 1] (got {self.threshold})")


@dataclass(frozen=True)
class FreeDave:
    """Paper Algorithm 2 over static steps: output identical to ``Static``."""

    draft_depth: int | str = DEFAULT_DRAFT_DEPTH
    # drafts continue past a block they complete, using next-block logits the previous forward
    # computed; off: drafts stop at the block edge and forwards never widen to the next block
    cross_blocks: bool = True
    # greedy decoding: this many extra rows per round that branch on a near-tied runner-up (a draft
    # tree, ``decoding.drafts``); sampled decoding drafts a chain
    draft_branches: int = 0
    name = "freedave"

    def __post_init__(self) -> None:
        check_draft_depth(self.draft_depth)
        check_draft_branches(self.draft_branches)


@dataclass(frozen=True)
class FreeDaveThreshold:
    """FreeDave whose base steps are threshold steps: output identical to ``Threshold``."""

    draft_depth: int | str = DEFAULT_DRAFT_DEPTH
    threshold: float = DEFAULT_THRESHOLD
    cross_blocks: bool = True
    name = "freedave-threshold"

    def __post_init__(self) -> None:
        check_draft_depth(self.draft_depth)
        _check(0 < self.threshold <= 1, f"threshold must be in (0, 1] (got {self.threshold})")


Strategy = Static | Threshold | FreeDave | FreeDaveThreshold


def make_strategy(
    name: str,
    draft_depth: int | str = DEFAULT_DRAFT_DEPTH,
    threshold: float = DEFAULT_THRESHOLD,
    cross_blocks: bool = True,
    draft_branches: int = 0,
) -> Strategy:
    """Build a strategy by its name (one of ``freedave.options.STRATEGIES``)."""
    check_choice("strategy", name, STRATEGIES)
    if name == "static":
        return Static()
    if name == "threshold":
        return Threshold(threshold)
    if name == "freedave":
        return FreeDave(draft_depth, cross_blocks, draft_branches)
    if name == "freedave-threshold":
        return FreeDaveThreshold(draft_depth, threshold, cross_blocks)
    raise AssertionError(name)  # unreachable: check_choice covers STRATEGIES


@dataclass(frozen=True)
class DecodeConfig:
    """What every strategy shares."""

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    block_size: int = DEFAULT_BLOCK_SIZE
    sampling: Sampling = field(default_factory=Sampling)
    stop_at_eos: bool = True
    # "aligned" | "prompt" (``options.BLOCK_LAYOUTS``); None: the denoiser's own ``block_layout``
    block_layout: str | None = None

    def __post_init__(self) -> None:
        _check(self.block_size >= 1, f"block_size must be >= 1 (got {self.block_size})")
        _check(self.max_new_tokens >= 1, f"max_new_tokens must be >= 1 (got {self.max_new_tokens})")
        if self.block_layout is not None:
            check_block_layout(self.block_layout)

    @property
    def gen_length(self) -> int:
        """``max_new_tokens`` rounded up to a whole number of blocks (the ``prompt`` layout's
        response length)."""
        return -(-self.max_new_tokens // self.block_size) * self.block_size

    def response_length(self, prompt_len: int, layout: str) -> int:
        """Response positions of a prompt of ``prompt_len`` tokens: ``max_new_tokens`` rounded up
        so the canvas ends on a block boundary of ``layout``'s grid. ``prompt``: ``gen_length``.
        ``aligned`` (SDAR/TraDo): the canvas is ``ceil((P + max_new_tokens) / B)`` whole blocks
        from position 0, so the first response block holds ``B - P % B`` response positions."""
        origin = block_origin(layout, prompt_len)
        end = origin + -(-(prompt_len + self.max_new_tokens - origin) // self.block_size) * self.block_size
        return end - prompt_len
