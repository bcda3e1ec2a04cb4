"""The small interface every decoder calls: a denoiser over masked token sequences.

A *query* asks for the logits of positions ``start:end`` of ``R`` candidate rows that belong to one
prompt. All rows of a query share the prompt and every token before ``start`` (the finished
blocks); they differ only inside the window. Model-family details (bidirectional, shifted logits,
block-causal attention, KV caches) live behind this interface, in ``freedave.models``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from torch import Tensor


@dataclass
class Query:
    """Rows of one prompt whose window logits are needed."""

    tokens: Tensor  # [R, L] prompt + response canvas; rows agree on tokens[:, :start]
    prompt_len: int  # P: the response canvas starts here
    block_size: int  # decoding block size (the attention block of block-causal models)
    start: int  # first position whose logits are returned (start of the active block)
    end: int  # one past the last position whose logits are returned
    cache: Any = None  # the prompt's cache handle from ``Denoiser.new_cache`` (or None)
    # Optional per-row ends (each <= end): row r only needs logits for start:row_ends[r]. A
    # denoiser may skip the positions past a row's end (their logits are then ignored, any value
    # but NaN) or compute them anyway. None: every row needs start:end.
    row_ends: tuple[int, ...] | None = None
    # Where the block grid starts (``options.BLOCK_LAYOUTS``): "prompt" (the prompt is one
    # bidirectional prefix, blocks from prompt_len) or "aligned" (blocks from position 0, the
    # prompt block-causal too; ``start`` may then lie inside the prompt).
    block_layout: str = "prompt"
    # Set by the denoiser: the network passes this query cost. One forward of the rows is one pass,
    # however it is cut (positions every row shares run once, rows grouped by their ends, finished
    # blocks written into an exact cache on the way). A forward of another state that fills a cache
    # (an approximate cache's refresh) is a pass of its own; a cached one costs none.
    passes: int = 1


@runtime_checkable
class Denoiser(Protocol):
    """``f(x) -> logits`` for masked diffusion LMs, batched over queries."""

    mask_id: int
    vocab_size: int
    eos_id: int | None
    family: str  # "full" | "shifted" | "block"
    # Optional: ``max_length`` (positions the model supports) and ``draft_lookahead_blocks``
    # (default 1: drafts may reach one block past the active one; 0 for approximate caches) and
    # ``block_layout`` (the layout it decodes with when the config names none; default "prompt").

    def new_cache(self) -> Any:
        """A fresh per-prompt cache handle, or None when the denoiser keeps no cache."""
        ...

    def logits(self, queries: Sequence[Query]) -> list[Tensor]:
        """One ``[R, end - start, V]`` float tensor per query, in query order (and ``passes`` set on
        each query that did not cost exactly one network pass)."""
        ...
