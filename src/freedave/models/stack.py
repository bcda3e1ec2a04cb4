"""The layer stack of a model, as the few operations the exact forward needs.

The reference model (``models.reference.ReferenceStack``) and the Hugging Face adapter
(``models.hf.HFStack``) implement it; ``models.forward`` runs any of them over a window, and the
approximate caches (``models.approx_cache``) run the same layers against refreshed keys/values.
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor


class Stack(Protocol):
    """A transformer body: embeddings, ``n_layers`` attention + MLP layers, final norm and head."""

    n_layers: int
    block: bool  # block-causal attention (prompt prefix, then blocks): an exact prefix cache holds
    shift: int  # 1: position i reads the hidden state of i - 1 (Dream-style), else 0
    # True: rows may run apart without changing any row's logits (the positions every row shares
    # run once, on row 0; a row that needs fewer logits stops earlier).
    split_rows: bool

    def embed(self, tokens: Tensor) -> Tensor:
        """``[R, L]`` token ids -> ``[R, L, D]`` hidden states."""
        ...

    def rope(self, lo: int, hi: int) -> tuple[Tensor, Tensor]:
        """Rotary cos/sin tables ``[hi - lo, Dh]`` for positions ``lo:hi``."""
        ...

    def qkv(self, i: int, h: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Layer ``i``: queries ``[R, H, L, Dh]`` and keys/values ``[R, H_kv, L, Dh]``, rotated."""
        ...

    def heads(self, kv: Tensor) -> Tensor:
        """Keys or values ``[R, H_kv, L, Dh]`` repeated to the query heads ``[R, H, L, Dh]``."""
        ...

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Attention of one segment (every query sees every key given), batch-invariant."""
        ...

    def finish(self, i: int, h: Tensor, attn: Tensor) -> Tensor:
        """Layer ``i``: output projection, residual and MLP; returns the new ``h``."""
        ...

    def head(self, h: Tensor) -> Tensor:
        """Final norm and LM head: ``[R, L, D]`` -> ``[R, L, V]``."""
        ...
