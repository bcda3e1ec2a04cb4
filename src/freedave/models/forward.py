"""One exact, batch-invariant forward of any ``Stack`` over a window, with a prefix KV cache.

Attention runs one segment at a time over exactly the keys that segment may see (see
``invariant.segments``), so a block family model's logits with an exact prefix cache are bit-for-bit
those of the uncached forward; every op is batch-invariant, so a row's logits never depend on the
other rows of the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from freedave.decoding.protocol import Query
from freedave.models.invariant import segment_attention, segments
from freedave.models.kv_cache import KVCache
from freedave.models.stack import Stack
from freedave.options import block_origin

Segments = list[tuple[int, int]]


def run_layer(
    stack: Stack, i: int, h: Tensor, cos: Tensor, sin: Tensor, segs: Segments, base: int,
    pre: tuple[Tensor, Tensor] | None = None, post: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Layer ``i`` over rows ``h`` holding positions ``base..``. Every row also sees the shared
    keys/values ``pre`` (positions before ``base``) and ``post`` (positions after ``h``'s), each
    ``[1, H_kv, n, Dh]``. Returns the new ``h`` and this call's keys and values."""
    n = h.shape[0]
    q, k, v = stack.qkv(i, h, cos, sin)
    if pre is None and post is None:
        k_all, v_all = k.contiguous(), v.contiguous()
    else:
        ks = [*([pre[0].expand(n, -1, -1, -1)] if pre else []), k, *([post[0].expand(n, -1, -1, -1)] if post else [])]
        vs = [*([pre[1].expand(n, -1, -1, -1)] if pre else []), v, *([post[1].expand(n, -1, -1, -1)] if post else [])]
        k_all, v_all = torch.cat(ks, dim=2), torch.cat(vs, dim=2)
    attn = segment_attention(stack.attend, q, stack.heads(k_all).contiguous(), stack.heads(v_all).contiguous(), segs, base)
    return stack.finish(i, h, attn), k, v


def run_layers(
    stack: Stack, h: Tensor, cos: Tensor, sin: Tensor, segs: Segments, base: int,
    cache: KVCache | None = None, prefix: int = 0, suffix: int | None = None,
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Every layer over rows ``h`` (positions ``base..``), each also seeing ``cache`` positions
    ``0:prefix`` and, when ``suffix`` is given, ``suffix:``. Returns the final hidden states and
    this call's keys and values per layer."""
    keys: list[Tensor] = []
    values: list[Tensor] = []
    for i in range(stack.n_layers):
        pre = cache.layer(i, 0, prefix) if cache is not None and prefix else None
        post = cache.layer(i, suffix) if cache is not None and suffix is not None else None
        h, k, v = run_layer(stack, i, h, cos, sin, segs, base, pre, post)
        keys.append(k)
        values.append(v)
    return h, keys, values


@dataclass(frozen=True)
class Plan:
    """Which positions a window forward computes, and how its rows split."""

    past: int  # positions 0:past come from the cache
    split: int  # positions past:split run once, on row 0 (every row holds the same tokens there)
    stop: int  # positions split:stop run per row group
    segs: Segments  # attention segments of past:stop
    groups: list[tuple[Tensor | slice, int]]  # (rows, stop): rows that need positions up to stop


def plan(stack: Stack, q: Query, cache: KVCache | None) -> Plan:
    # Full attention needs the whole canvas; block-causal stops at the window end.
    stop = q.end if stack.block else q.tokens.shape[1]
    past = cache.length if (stack.block and cache is not None) else 0
    if past > q.start:
        raise ValueError(f"cache covers {past} positions, beyond the window start {q.start}")
    origin = block_origin(q.block_layout, q.prompt_len)
    segs = [(lo, hi) for lo, hi in segments(stop, origin, q.block_size, stack.block) if hi > past]
    if segs and segs[0][0] < past:
        raise ValueError(f"cache length {past} is not on a block boundary")
    # Block family, several rows: positions past..start (prompt and finished blocks not yet cached;
    # under ``aligned`` the whole prompt blocks before the active one) hold the same tokens in every
    # row. They run once, on row 0, as a pass of their own when that saves more than a pass costs
    # (``PASS_POSITIONS``); else every row computes them in its own pass. Per-row results are the
    # same either way: every op is batch-invariant.
    rows = q.tokens.shape[0]
    shared = stack.split_rows and stack.block and not stack.shift and rows > 1
    split = q.start if shared and (rows - 1) * (q.start - past) > PASS_POSITIONS else past
    ends = q.row_ends if stack.split_rows and stack.block else None
    return Plan(past, split, stop, segs, row_groups(stop, ends, {hi for _, hi in segs}))


# A pass costs about as much as this many more positions in one pass. Measured on the bundled model
# (CPU, 1 thread, block 16; benchmarks/README.md): merging every split made d=16 runs ~17% slower
# (its calls merge up to 16 rows x 16 positions), merging the small ones made d=4 ~8% faster. A split
# of a forward into passes that saves at most this many positions per pass it adds is not made.
PASS_POSITIONS = 64


def row_groups(
    stop: int, row_ends: Sequence[int] | None, bounds: set[int] | None = None,
) -> list[tuple[Tensor | slice, int]]:
    """``(rows, stop)`` groups: rows that need logits up to the same position compute together
    (block-causal: a row's positions before its end do not depend on those after it). The groups
    merge into one pass up to ``stop`` when that computes at most ``PASS_POSITIONS`` more positions
    per pass saved and every end is a segment end in ``bounds`` (so a row's logits before its end
    are the same; those past it are computed and ignored)."""
    if row_ends is None or min(row_ends) >= stop:
        return [(slice(None), stop)]
    by_end: dict[int, list[int]] = {}
    for i, e in enumerate(row_ends):
        by_end.setdefault(min(e, stop), []).append(i)
    extra = sum(stop - min(e, stop) for e in row_ends)
    if extra <= PASS_POSITIONS * (len(by_end) - 1) and set(by_end) <= (bounds or set()) | {stop}:
        return [(slice(None), stop)]
    return [(torch.tensor(rows), e) for e, rows in sorted(by_end.items(), reverse=True)]


@torch.no_grad()
def window_logits(stack: Stack, q: Query, cache: KVCache | None) -> Tensor:
    """``[R, end - start, V]`` float32 logits of ``q``'s window. ``cache`` (not ``q.cache``: the
    denoiser decides which handle is an exact KV cache) is read and extended with the clean
    positions before ``q.start`` this call computes."""
    keep = cache is not None and stack.block  # extend the cache with what this call computes
    if keep and cache.length < q.start:  # a finished block an earlier call already computed
        cache.catch_up(q.tokens[0], q.start)
    p = plan(stack, q, cache)
    cos, sin = stack.rope(p.past, p.stop)
    ctx = cache
    if p.split > p.past:  # 1. the shared positions, once, on row 0
        shared_segs = [(lo, hi) for lo, hi in p.segs if hi <= p.split]
        h0 = stack.embed(q.tokens[:1, p.past : p.split])
        _, ks, vs = run_layers(stack, h0, cos[: p.split - p.past], sin[: p.split - p.past], shared_segs, p.past, cache, p.past)
        ctx = cache if keep else KVCache()
        ctx.write(p.past, ks, vs)
    own_segs = [(lo, hi) for lo, hi in p.segs if hi > p.split]
    hs = []
    for g, (rows, gstop) in enumerate(p.groups):  # 2. each row group, over its own positions
        segs = [(lo, min(hi, gstop)) for lo, hi in own_segs if lo < gstop]
        c, s = cos[p.split - p.past : gstop - p.past], sin[p.split - p.past : gstop - p.past]
        h, ks, vs = run_layers(stack, stack.embed(q.tokens[rows, p.split : gstop]), c, s, segs, p.split, ctx, p.split)
        hs.append(h)
        if g == 0 and keep and q.start > p.split:  # finished blocks computed per row: cache them
            n = q.start - p.split
            cache.write(p.split, [k[:1, :, :n] for k in ks], [v[:1, :, :n] for v in vs])
        if g == 0 and keep and gstop > q.start + q.block_size:  # rows that went past the active block
            lo, hi = q.start - p.split, q.start - p.split + q.block_size
            cache.offer(q.start, q.tokens[rows, q.start : q.start + q.block_size],
                        [k[:, :, lo:hi] for k in ks], [v[:, :, lo:hi] for v in vs])
    return head_logits(stack, q, p, hs).float()


def head_logits(stack: Stack, q: Query, p: Plan, hs: list[Tensor]) -> Tensor:
    """The window's logits from each row group's final hidden states (``hs[g]`` holds positions
    ``split:`` of group ``g``)."""
    lo = q.start - stack.shift - p.split
    logits = None
    for (rows, gstop), h in zip(p.groups, hs, strict=True):
        hw = h[:, max(lo, 0) : min(q.end, gstop) - stack.shift - p.split]
        if lo < 0:  # shifted logits: position 0 keeps its own hidden state
            hw = torch.cat([h[:, :1], hw], dim=1)
        part = stack.head(hw)
        if len(p.groups) == 1:
            return part
        if logits is None:
            logits = part.new_zeros(q.tokens.shape[0], q.end - q.start, part.shape[-1])
        logits[rows, : part.shape[1]] = part
    return logits
