"""Approximate KV caches for full-attention models (LLaDA / Dream style), after Fast-dLLM.

A full-attention model recomputes every position at every step. Fast-dLLM keeps the keys/values
of the positions outside the active block from the forward taken when the block became active
(the *refresh*), and between refreshes computes only:

- ``prefix``: the active block and everything after it, attending to the cached prefix;
- ``dual``: the active block only, attending to the cached prefix *and* the cached suffix.

Both are lossy against uncached decoding (the cached keys/values go stale as the block fills).
freedave's guarantee is relative: FreeDave with a cache gives the tokens static decoding gives
with the same cache. That holds because the logits of a state are a pure function of the state:

    a = the state's active block start, s_a = the state with every position from a on masked.
    If the state *is* s_a (its block just became active): the full, uncached forward of s_a.
    Otherwise: the active region computed against the keys/values of the full forward of s_a
    (prefix, and for ``dual`` also the suffix); positions outside the computed region read the
    refresh's hidden states.

Static meets s_a as the first state of every block and takes its refresh there; FreeDave meets
the same states (drafts stop at the block edge: ``draft_lookahead_blocks = 0``). The refresh of
s_a is memoised per prompt (``ApproxCache``), so it costs a full forward once, inside whichever
model call first needs it, and never an extra call; but it is a network pass of its own, and the
query reports it (``Query.passes``): a verification call whose drafts include a block's first
state costs two passes (that state's refresh, and the other drafts' active region). Shifted models (Dream: position i reads the
hidden state of i - 1) compute one more position, the one before the block, fresh.

Each row is computed on its own (fixed-tile linears, attention per row), so a row's logits never
depend on what else shares the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from freedave.decoding.protocol import Query
from freedave.errors import DecodeError
from freedave.models.forward import run_layers
from freedave.models.invariant import attend_rows, rope_tables
from freedave.models.kv_cache import KVCache
from freedave.models.reference import ReferenceStack
from freedave.models.stack import Stack

MODES = ("prefix", "dual")


# ---------------------------------------------------------------------------------------------
# Per-prompt cache state


@dataclass
class Refresh:
    """The full forward of a block's first state ``s_a``: keys/values and final hidden states."""

    prefix: Tensor  # [a] the tokens before the block (s_a is these, then masks)
    kv: KVCache  # every position's keys/values, per layer [1, H_kv, L, Dh]
    hidden: Tensor  # [1, L, D] before the final norm


@dataclass
class ApproxCache:
    """One prompt's refreshes, keyed by block start; the newest two are kept (the active block's
    and, at most, the next block's, met by a draft that completed the active block)."""

    refreshes: dict[int, Refresh] = field(default_factory=dict)

    def find(self, start: int, prefix: Tensor) -> Refresh | None:
        r = self.refreshes.get(start)
        return r if r is not None and torch.equal(r.prefix, prefix) else None

    def put(self, start: int, refresh: Refresh) -> None:
        self.refreshes[start] = refresh
        for old in sorted(self.refreshes)[:-2]:
            del self.refreshes[old]


# ---------------------------------------------------------------------------------------------


class ApproxCacheDenoiser:
    """A full/shifted-family denoiser with a Fast-dLLM style ``prefix`` or ``dual`` cache.

    ``positions`` counts token positions pushed through the layer stack (all calls, all rows);
    ``refreshes`` counts full forwards taken to fill a cache.
    """

    draft_lookahead_blocks = 0  # logits past the active block are stale: drafts stop at its edge
    refresh_pass = True  # a block's first state is computed by a full-length pass of its own

    def __init__(self, base: Any, mode: str) -> None:
        if mode not in MODES:
            raise DecodeError(f"unknown cache {mode!r}; choose none, prefix or dual")
        if base.family not in ("full", "shifted"):
            raise DecodeError(
                f"--cache {mode} is for full-attention models; this is a {base.family!r} model, whose KV cache is exact already"
            )
        self.base, self.mode = base, mode
        self.mask_id, self.vocab_size, self.eos_id = base.mask_id, base.vocab_size, base.eos_id
        self.family = base.family
        self.max_length = getattr(base, "max_length", None)
        self.pad_id = getattr(base, "pad_id", None)
        self.stack = stack_of(base, mode)
        self.positions = 0
        self.refreshes = 0

    def new_cache(self) -> ApproxCache:
        return ApproxCache()

    def logits(self, queries: Sequence[Query]) -> list[Tensor]:
        ctx = torch.no_grad()
        if hasattr(self.base, "deterministic"):
            from freedave.models.hf import attention_backend

            backend = attention_backend(self.base.device, self.base.deterministic)
        else:
            from contextlib import nullcontext

            backend = nullcontext()
        with ctx, backend:
            return [self.query_logits(q) for q in queries]

    # ------------------------------------------------------------------------------------------
    def query_logits(self, q: Query) -> Tensor:  # [R, end - start, V] float32
        if q.cache is None:
            raise ValueError("an approximate-cache query needs the handle from new_cache()")
        # rows grouped by their own active block (all rows share one, except a draft that
        # completed the block: it is the next block's first state and takes that refresh)
        groups: dict[int, list[int]] = {}
        for r in range(q.tokens.shape[0]):
            groups.setdefault(self.active_start(q.tokens[r], q), []).append(r)
        hidden: list[Tensor | None] = [None] * q.tokens.shape[0]
        lo, hi = q.start - self.stack.shift, q.end - self.stack.shift  # hidden states the window reads
        refreshes, passes = self.refreshes, 0
        for a, idx in groups.items():
            ref = self.refresh_for(q.tokens[idx[0]], a, q.cache)
            fresh = [r for r in idx if not bool((q.tokens[r, a:] != self.mask_id).any())]
            for r in fresh:  # the block's first state: the full forward's own hidden states
                hidden[r] = ref.hidden[:, lo:hi]
            todo = [r for r in idx if r not in fresh]
            if todo:
                passes += 1
                hs = self.block_hidden(q.tokens[todo], a, q.block_size, ref)  # [n, L, D]
                for j, r in enumerate(todo):
                    hidden[r] = hs[j : j + 1, lo:hi]
        q.passes = passes + self.refreshes - refreshes  # each refresh run here is a pass of its own
        return self.stack.head(torch.cat(hidden)).float()

    def active_start(self, row: Tensor, q: Query) -> int:
        masked = (row[q.prompt_len :] == self.mask_id).nonzero()
        if masked.numel() == 0:
            return q.start
        return q.prompt_len + (int(masked[0, 0]) // q.block_size) * q.block_size

    def refresh_for(self, row: Tensor, a: int, cache: ApproxCache) -> Refresh:
        """The memoised full forward of ``s_a``: ``row`` up to ``a``, masks from ``a`` on."""
        prefix = row[:a]
        ref = cache.find(a, prefix)
        if ref is None:
            state = torch.cat([prefix, prefix.new_full((row.shape[0] - a,), self.mask_id)])
            ref = Refresh(prefix.clone(), *self.full_forward(state[None]))
            cache.put(a, ref)
        return ref

    def full_forward(self, tokens: Tensor) -> tuple[KVCache, Tensor]:
        """The uncached forward of ``tokens`` ``[1, L]``: its keys/values and final hidden states."""
        n = tokens.shape[1]
        h = self.stack.embed(tokens)
        cos, sin = self.stack.rope(0, n)
        h, keys, values = run_layers(self.stack, h, cos, sin, [(0, n)], 0)
        kv = KVCache(n)
        kv.write(0, keys, values)
        self.positions += n
        self.refreshes += 1
        return kv, h

    def block_hidden(self, tokens: Tensor, a: int, block_size: int, ref: Refresh) -> Tensor:  # [n, L, D]
        """Final hidden states of rows in block ``a``: the computed region fresh, the rest from
        the refresh. Region: from the position before the block (shifted) or the block start, to
        the end of the canvas (prefix cache) or of the block (dual cache); it attends to the
        refresh's keys/values outside itself."""
        st, (n, length) = self.stack, tokens.shape
        lo = a - st.shift
        hi = length if self.mode == "prefix" else min(a + block_size, length)
        cos, sin = st.rope(0, length)
        h = st.embed(tokens[:, lo:hi])
        h, _, _ = run_layers(st, h, cos[lo:hi], sin[lo:hi], [(lo, length)], lo, ref.kv, prefix=lo, suffix=hi)
        self.positions += n * (hi - lo)
        out = ref.hidden.expand(n, -1, -1).clone()
        out[:, lo:hi] = h
        return out


class ApproxReferenceStack(ReferenceStack):
    """The reference stack as the approximate caches run it: attention one row at a time and
    rotary tables rebuilt per call in float32 (what this path has always computed)."""

    def rope(self, lo: int, hi: int) -> tuple[Tensor, Tensor]:
        cos, sin = rope_tables(hi, self.layers[0].head_dim, self.model.config.rope_theta, self.model.embed_tokens.weight.device)
        return cos[lo:hi], sin[lo:hi]

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return attend_rows(q, k, v)


def stack_of(base: Any, mode: str) -> Stack:
    from freedave.models.adapters import ReferenceDenoiser
    from freedave.models.hf import HFDenoiser

    if isinstance(base, ReferenceDenoiser):
        return ApproxReferenceStack(base.model)
    if isinstance(base, HFDenoiser):
        return base.stack
    raise DecodeError(f"--cache {mode} needs a built-in model (reference, LLaDA, Dream, Llama/Qwen); use --cache none")


def with_approx_cache(den: Any, cache: str | None) -> Any:
    """``den`` itself for ``cache`` None/"none", else wrapped in an ``ApproxCacheDenoiser``."""
    if cache in (None, "none"):
        return den
    return ApproxCacheDenoiser(den, cache)
