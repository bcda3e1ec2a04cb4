"""Pure step helpers shared by every decoder: score, select, step, terminal test.

A *canvas* ``y`` is a 1-D token tensor ``[P + G]``: the prompt, then ``G`` response positions cut
into blocks of ``block_size``. The *active block* is the first block that still holds a mask.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor

from freedave.decoding.config import Sampling
from freedave.decoding.rng import keyed_uniform


@dataclass(frozen=True)
class Layout:
    """Where one prompt's response lives and which ids are special."""

    prompt_len: int
    block_size: int
    mask_id: int
    eos_id: int | None
    stop_at_eos: bool = True
    lookahead_blocks: int = 1  # blocks past the active one that drafts may reach

    def active_start(self, y: Tensor) -> int | None:
        """Start of the first block that still holds a mask, or None when none does."""
        masked = (y[self.prompt_len :] == self.mask_id).nonzero()
        if masked.numel() == 0:
            return None
        first = int(masked[0, 0])
        return self.prompt_len + (first // self.block_size) * self.block_size

    def is_terminal(self, y: Tensor) -> bool:
        """Finished: no mask left, or a completed block holds EOS (stop after the EOS block)."""
        start = self.active_start(y)
        if start is None:
            return True
        if self.stop_at_eos and self.eos_id is not None:
            return bool((y[self.prompt_len : start] == self.eos_id).any())
        return False

    def response(self, y: Tensor) -> list[int]:
        """Tokens of the completed blocks, cut before the first EOS."""
        start = self.active_start(y)
        out = y[self.prompt_len : start if start is not None else y.shape[0]].tolist()
        if self.eos_id is not None and self.eos_id in out:
            out = out[: out.index(self.eos_id)]
        return out

    def window_end(self, y: Tensor, lookahead: bool) -> int:
        """One past the last position whose logits a step (and drafts, with lookahead) needs."""
        start = self.active_start(y)
        assert start is not None, "window_end of a finished canvas"
        blocks = 1 + (self.lookahead_blocks if lookahead else 0)
        return min(y.shape[0], start + blocks * self.block_size)


class Scorer:
    """Chosen token and confidence per position, from one forward's window logits.

    The mask token is never chosen. Confidence is the float64 softmax probability (of the unscaled logits) of the chosen token.
    Greedy picks the argmax (lowest id on ties) and takes no draws. Sampling draws by inverse CDF
    over the tempered, top-k/top-p filtered float64 distribution, with one keyed uniform per
    ``(seed, prompt index, position, step)``.
    """

    def __init__(self, logits: Tensor, start: int, sampling: Sampling, stream: int, mask_id: int) -> None:
        logits = logits.double()
        logits[:, mask_id] = float("-inf")  # the mask token is never a decision
        self.logits = logits  # [W, V] float64, positions start .. start + W - 1
        self.start = start
        self.end = start + logits.shape[0]
        self.sampling = sampling
        self.stream = stream
        self._memo: dict[str, tuple[Tensor, Tensor]] = {}  # shared with limited() views

    def limited(self, end: int) -> Scorer:
        """The same distribution, but steps may not use positions at or beyond ``end``."""
        view = copy.copy(self)
        view.end = min(self.end, end)
        return view

    def __call__(self, positions: Tensor, step: int) -> tuple[Tensor, Tensor]:
        """``(tokens [M], confidence [M] float64)`` for ``positions [M]`` at base step ``step``."""
        rows = positions - self.start
        if self.sampling.greedy:
            if "greedy" not in self._memo:
                conf, tok = torch.softmax(self.logits, dim=-1).max(dim=-1)
                self._memo["greedy"] = (tok, conf)
            tok, conf = self._memo["greedy"]
            return tok[rows], conf[rows]
        logits = self.logits[rows]
        probs = filtered_probs(logits, self.sampling)
        cdf = probs.cumsum(dim=-1)
        u = keyed_uniform(self.sampling.seed, self.stream, positions, step) * cdf[:, -1]
        tok = torch.searchsorted(cdf, u.unsqueeze(1), right=True).squeeze(1)
        tok = tok.clamp_max(logits.shape[-1] - 1)
        conf = torch.softmax(logits, dim=-1).gather(1, tok.unsqueeze(1)).squeeze(1)
        return tok, conf


def filtered_probs(logits: Tensor, sampling: Sampling) -> Tensor:
    """Tempered, top-k and top-p filtered probabilities ``[M, V]`` (float64, not renormalised)."""
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_k:
        k = min(sampling.top_k, probs.shape[-1])
        kth = probs.topk(k, dim=-1).values[:, -1:]
        probs = torch.where(probs >= kth, probs, torch.zeros_like(probs))
    if sampling.top_p < 1:
        sorted_p, order = probs.sort(dim=-1, descending=True, stable=True)
        keep_sorted = (sorted_p.cumsum(dim=-1) - sorted_p) < sampling.top_p
        keep = torch.zeros_like(keep_sorted).scatter(1, order, keep_sorted)
        probs = torch.where(keep, probs, torch.zeros_like(probs))
    return probs


def _masked_in_active(y: Tensor, layout: Layout, scorer: Scorer) -> Tensor | None:
    start = layout.active_start(y)
    if start is None:
        return None
    end = min(start + layout.block_size, y.shape[0])
    if end > scorer.end:  # the active block lies beyond this forward's window
        return None
    return start + (y[start:end] == layout.mask_id).nonzero().squeeze(1)


def static_step(y: Tensor, layout: Layout, scorer: Scorer, step: int) -> Tensor | None:
    """Unmask the most confident masked position of the active block (ties: lower position)."""
    pos = _masked_in_active(y, layout, scorer)
    if pos is None:
        return None
    tok, conf = scorer(pos, step)
    best = int(torch.argmax(conf))  # first maximum = lowest position
    out = y.clone()
    out[pos[best]] = tok[best]
    return out


def threshold_step(y: Tensor, layout: Layout, scorer: Scorer, step: int, tau: float) -> Tensor | None:
    """Unmask every masked position of the active block with confidence >= tau, at least one."""
    pos = _masked_in_active(y, layout, scorer)
    if pos is None:
        return None
    tok, conf = scorer(pos, step)
    take = conf >= tau
    take[int(torch.argmax(conf))] = True
    out = y.clone()
    out[pos[take]] = tok[take]
    return out


def accept_prefix(drafts: list[Tensor], targets: list[Tensor]) -> int:
    """Length of the verified chain: 1 + the number of k with ``drafts[k] == targets[k - 1]``."""
    j = 1
    while j < len(drafts) and j - 1 < len(targets) and torch.equal(drafts[j], targets[j - 1]):
        j += 1
    return j
