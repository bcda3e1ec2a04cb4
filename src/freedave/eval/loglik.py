"""Log-likelihood of a continuation under a masked diffusion LM: the Monte Carlo bound.

A diffusion LM has no left-to-right factorisation, so the harness's ``log p(continuation |
context)`` is estimated as LLaDA's paper does: mask ``l`` positions of the continuation, ``l``
uniform in ``1..C``, and score the masked tokens' log-probs reweighted by ``C / l``; the mean over
``mc_num`` masks is an unbiased estimate of a lower bound on the log-likelihood. Block-diffusion
models (family ``block``) were trained to denoise one block given clean earlier blocks, so there
the estimate is the sum over the continuation's blocks, each masked alone with earlier blocks clean.

Masks are drawn from a generator seeded per request, so an estimate is reproducible and does not
depend on the batch or the process it ran in. ``is_greedy`` (the harness's second value) is whether
the fully masked continuation (each block, for block models) has the continuation as its argmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from freedave.decoding.protocol import Denoiser, Query
from freedave.errors import DecodeError


@dataclass(frozen=True)
class Span:
    """One masked window of one request: ``start:end`` of ``tokens`` is masked row by row."""

    item: int  # the request it belongs to
    rows: Tensor  # [1 + mc_num, end] row 0 fully masked, then the random masks
    masked: Tensor  # [1 + mc_num, end - start] bool: which window positions are masked
    weights: Tensor  # [1 + mc_num] C_window / l per row (row 0: unused)
    target: Tensor  # [end - start] the true continuation tokens of the window
    prompt_len: int
    start: int
    end: int  # one past the last position computed (past the continuation: mask padding)


def windows(prompt_len: int, length: int, block_size: int, per_block: bool) -> list[tuple[int, int]]:
    """Continuation windows ``(lo, hi)`` in canvas positions: every block, or the whole of it."""
    end = prompt_len + length
    if not per_block:
        return [(prompt_len, end)]
    return [(lo, min(lo + block_size, end)) for lo in range(prompt_len, end, block_size)]


def spans_for(
    item: int, context: Sequence[int], continuation: Sequence[int], seed: int, mc_num: int, mask_id: int,
    block_size: int, per_block: bool, max_length: int | None = None,
) -> list[Span]:
    """The masked windows of one request, with masks drawn from ``seed``.

    Block models see a whole block while decoding (positions not yet decoded are masks), so a last
    window shorter than a block is padded with masks to a full block (those positions are not
    scored): the block the model scores looks like one it decodes.
    """
    gen = torch.Generator().manual_seed(seed)
    full = torch.tensor([*context, *continuation], dtype=torch.long)
    out = []
    for lo, hi in windows(len(context), len(continuation), block_size, per_block):
        n = hi - lo
        masked = torch.zeros(mc_num + 1, n, dtype=torch.bool)
        masked[0] = True
        weights = torch.ones(mc_num + 1, dtype=torch.float64)
        for r in range(1, mc_num + 1):
            count = int(torch.randint(1, n + 1, (1,), generator=gen))
            masked[r, torch.randperm(n, generator=gen)[:count]] = True
            weights[r] = n / count
        stop = lo + block_size if per_block else hi
        stop = min(stop, max_length) if max_length is not None else stop
        rows = torch.full((mc_num + 1, stop), mask_id, dtype=torch.long)
        rows[:, :hi] = full[:hi]
        rows[:, lo:hi] = torch.where(masked, torch.full_like(masked, mask_id, dtype=torch.long), rows[:, lo:hi])
        out.append(Span(item, rows, masked, weights, full[lo:hi], len(context), lo, stop))
    return out


def check_request(denoiser: Denoiser, i: int, context: Sequence[int], continuation: Sequence[int]) -> None:
    if not context:
        raise DecodeError(f"loglikelihood request {i} has an empty context; a diffusion LM needs a prompt to condition on")
    if denoiser.mask_id in context or denoiser.mask_id in continuation:
        raise DecodeError(f"loglikelihood request {i} contains the mask token (id {denoiser.mask_id})")
    limit = getattr(denoiser, "max_length", None)
    if limit is not None and len(context) + len(continuation) > limit:
        raise DecodeError(
            f"loglikelihood request {i} is too long: {len(context)} + {len(continuation)} tokens > the model's {limit} positions"
        )


def score(denoiser: Denoiser, spans: Sequence[Span], block_size: int, device: str) -> list[tuple[float, bool]]:
    """One batched forward over ``spans``: per span, (the mean reweighted masked log-prob, greedy)."""
    queries = [
        Query(s.rows.to(device), s.prompt_len, block_size, s.start, s.end, denoiser.new_cache()) for s in spans
    ]
    out = []
    for s, logits in zip(spans, denoiser.logits(queries), strict=True):
        logits = logits[:, : len(s.target)]  # the mask padding is not scored
        logp = torch.log_softmax(logits.double().cpu(), dim=-1)  # [R, n, V]
        token_logp = logp.gather(-1, s.target.expand(logp.shape[0], -1).unsqueeze(-1)).squeeze(-1)
        greedy = bool((logits[0].argmax(-1).cpu() == s.target).all())
        per_row = (token_logp * s.masked).sum(-1) * s.weights
        out.append((float(per_row[1:].mean()), greedy))
    return out


def mc_loglikelihood(
    denoiser: Denoiser,
    requests: Sequence[tuple[Sequence[int], Sequence[int], int]],
    *,
    mc_num: int,
    block_size: int,
    batch_size: int = 8,
    device: str = "cpu",
    on_done=None,  # noqa: ANN001 - callable(n): n more requests finished (a progress bar)
) -> list[tuple[float, bool]]:
    """``(log-likelihood estimate, is_greedy)`` per ``(context ids, continuation ids, seed)``."""
    if mc_num < 1:
        raise DecodeError(f"mc_num must be >= 1 (got {mc_num})")
    per_block = denoiser.family == "block"
    results: list[tuple[float, bool]] = []
    for first in range(0, len(requests), batch_size):
        batch = requests[first : first + batch_size]
        spans: list[Span] = []
        for j, (context, continuation, seed) in enumerate(batch):
            check_request(denoiser, first + j, context, continuation)
            spans += spans_for(j, context, continuation, seed, mc_num, denoiser.mask_id, block_size, per_block,
                               getattr(denoiser, "max_length", None))
        totals = [0.0] * len(batch)
        greedy = [True] * len(batch)
        scored = score(denoiser, spans, block_size, device) if spans else []
        for s, (value, is_greedy) in zip(spans, scored, strict=True):
            totals[s.item] += value
            greedy[s.item] = greedy[s.item] and is_greedy
        results += list(zip(totals, greedy, strict=True))
        if on_done is not None:
            on_done(len(batch))
    return results
