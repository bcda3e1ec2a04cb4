"""``torch.compile`` of a stack's position-wise parts: opt-in, ``freedave.load(..., compile=True)``.

What is compiled: each layer's norm + q|k|v projection + rotary (``qkv``), its output projection +
residual + MLP (``finish``), and the final norm + LM head (``head``), one compiled function each.
The function is the same for every layer (the stack's ``layer_ops``: the layer's weights are
inputs), so it is traced once, not once per layer. Attention (one segment, and on CPU one row, at a
time), embeddings, rotary tables, the plan and the KV cache stay eager: their shapes and Python
control flow change from call to call.

Shapes are dynamic (``dynamic=True``, sizes of 1 not specialised): the row and window dimensions
are symbolic, so a new prompt length or draft count does not recompile, and the 16-row tile
padding runs unconditionally under compile (one graph whether or not a row count is tile-aligned).
What remains are a few graphs per function (tensor layouts of the attention output), compiled on
first use; ``warm_up`` compiles the common ones at load time.

Linear layers stay library GEMMs (inductor calls the same ``mm``) on the same 16-row-padded row
counts; the norms, rotary and SiLU are fused into generated kernels whose per-row arithmetic does
not depend on how many rows share the call. Fusion may reorder float additions inside a norm, so
compiled logits can differ from eager ones in the last bits; ``freedave check --compile`` proves
batch invariance and cache exactness of the compiled forward itself.

On CUDA the mode is ``reduce-overhead`` (CUDA graphs). A CUDA-graph output lives in a pool that
the next compiled call may overwrite, so outputs that outlive the call (hidden states, cached
keys/values) are cloned.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from freedave.decoding.protocol import Query
from freedave.errors import ModelError


def compile_mode(device: torch.device | str) -> str | None:
    """``reduce-overhead`` (CUDA graphs) on CUDA, inductor's default elsewhere."""
    return "reduce-overhead" if torch.device(device).type == "cuda" else None


def check_available(device: torch.device | str) -> None:
    """One-line ``ModelError`` where ``torch.compile`` cannot run: no C++ compiler on CPU, no
    Triton on CUDA, another device, or an interpreter dynamo does not support."""
    kind = torch.device(device).type
    if kind not in ("cpu", "cuda"):
        raise ModelError(f"--compile supports cpu and cuda devices, not {kind}")
    if not torch._dynamo.is_dynamo_supported():
        raise ModelError("--compile: torch.compile is not supported on this Python version")
    if kind == "cpu" and not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++", "clang++")):
        raise ModelError("--compile on cpu needs a C++ compiler (g++ or clang++) on PATH")
    if kind == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            raise ModelError("--compile on cuda needs Triton (pip install triton)")


class CompiledStack:
    """A ``models.stack.Stack`` whose ``qkv``, ``finish`` and ``head`` run compiled; everything
    else is the wrapped stack's own (which must have ``layer_ops``)."""

    def __init__(self, inner: Any, device: torch.device | str) -> None:
        if not hasattr(inner, "layer_ops"):
            raise ModelError(f"--compile: {type(inner).__name__} has no compiled path; run without --compile")
        self.inner = inner
        self.n_layers, self.block, self.shift = inner.n_layers, inner.block, inner.shift
        self.split_rows = inner.split_rows
        self.mode = compile_mode(device)
        self.clone = self.mode == "reduce-overhead"
        self.compiled: dict[Callable, Callable] = {}
        self.head_fn = self.compile(type(inner).head)

    def compile(self, fn: Callable) -> Callable:
        if fn not in self.compiled:
            self.compiled[fn] = torch.compile(fn, dynamic=True, mode=self.mode, fullgraph=True)
        return self.compiled[fn]

    def out(self, x: Any) -> Any:
        if not self.clone:
            return x
        return tuple(t.clone() for t in x) if isinstance(x, tuple) else x.clone()

    def embed(self, tokens: Tensor) -> Tensor:
        return self.inner.embed(tokens)

    def rope(self, lo: int, hi: int) -> tuple[Tensor, Tensor]:
        return self.inner.rope(lo, hi)

    def heads(self, kv: Tensor) -> Tensor:
        return self.inner.heads(kv)

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return self.inner.attend(q, k, v)

    def qkv(self, i: int, h: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        (fn, args), _ = self.inner.layer_ops(i)
        return self.out(self.compile(fn)(*args, h, cos, sin))

    def finish(self, i: int, h: Tensor, attn: Tensor) -> Tensor:
        _, (fn, args) = self.inner.layer_ops(i)
        return self.out(self.compile(fn)(*args, h, attn))

    def head(self, h: Tensor) -> Tensor:
        return self.out(self.head_fn(self.inner, h))


def settle_dynamo() -> None:
    """Process-wide torch settings ``--compile`` needs (set only when it is asked for): sizes of 1
    are not specialised (one graph for one row and for many: 5 graphs instead of 12 on the
    reference model), and room for the few graphs each function gets."""
    import torch.fx.experimental._config as fx_config

    fx_config.backed_size_oblivious = True
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 32)


def compile_denoiser(den: Any, device: torch.device | str) -> float:
    """Give a built-in denoiser a compiled stack (``den.compiled_stack``) and compile it on a few
    warm-up windows; returns the seconds that took. One-line ``ModelError`` where it cannot."""
    check_available(device)
    settle_dynamo()
    inner = getattr(den, "stack_for_compile", None)
    if inner is None:
        raise ModelError("--compile needs a built-in model (reference, LLaDA, Dream, SDAR, Llama/Qwen)")
    den.compiled_stack = CompiledStack(inner(), device)
    t0 = time.perf_counter()
    try:
        warm_up(den, device)
    except ModelError:
        raise
    except Exception as e:  # inductor / compiler failures: say so in one line
        den.compiled_stack = None
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(f"--compile: torch.compile failed here ({type(e).__name__}: {first})") from None
    return time.perf_counter() - t0


def warm_up(den: Any, device: torch.device | str, block: int = 4) -> None:
    """Compile the graphs decoding meets first: one row and several, tile-aligned or not, with
    and without a cache."""
    low = 4 if den.vocab_size > 8 else 0
    with torch.no_grad():
        for rows, prompt in ((1, 5), (3, 5), (2, 8), (4, 6), (1, 12)):
            x = torch.full((rows, prompt + 2 * block), low, dtype=torch.long, device=device)
            x[:, prompt:] = den.mask_id
            den.logits([Query(x, prompt, block, prompt, prompt + block, den.new_cache())])
