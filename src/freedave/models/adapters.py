"""Denoiser adapters: a model plus its family's quirks, behind the ``Denoiser`` interface."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from freedave.decoding.protocol import Query
from freedave.models.forward import window_logits
from freedave.models.kv_cache import KVCache
from freedave.models.reference import ReferenceModel


class ReferenceDenoiser:
    """The bundled architecture (any family) as a denoiser; exact KV cache for the block family.

    ``block_layout`` is ``prompt``: the bundled model was trained with the prompt as one
    bidirectional prefix and blocks from the prompt end (``train.two_stream_mask``)."""

    block_layout = "prompt"

    def __init__(self, model: ReferenceModel, *, use_cache: bool = True) -> None:
        cfg = model.config
        self.model = model.eval()
        self.mask_id = int(cfg.mask_token_id)
        self.eos_id = None if cfg.eos_token_id is None else int(cfg.eos_token_id)
        self.pad_id = None if cfg.pad_token_id is None else int(cfg.pad_token_id)
        self.vocab_size = int(cfg.vocab_size)
        self.max_length = int(cfg.max_position_embeddings)
        self.family = "block" if cfg.attention == "block" else ("shifted" if cfg.shift_logits else "full")
        self.use_cache = use_cache and self.family == "block"
        self.compiled_stack = None  # set by models.compiled (--compile)

    def stack_for_compile(self) -> Any:
        return self.model.stack()

    def new_cache(self) -> Any:
        return KVCache(self.max_length) if self.use_cache else None

    def logits(self, queries: Sequence[Query]) -> list[Tensor]:
        stack = self.compiled_stack or self.model.stack()
        return [window_logits(stack, q, q.cache) for q in queries]
