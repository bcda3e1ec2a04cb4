"""Pure step helpers shared by every decoder: score, select, step, terminal test.

A *canvas* ``y`` is a 1-D token tensor ``[P + G]``: the prompt, then ``G`` response positions.
Blocks of ``block_size`` are counted from the layout's origin: the prompt end (``prompt`` layout)
or position 0 (``aligned``, SDAR/TraDo: the first block holding a response position may start
inside the prompt; its prompt tokens are fixed, only its masks are decided). The *active block*
is the first block that still holds a mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from freedave.decoding.config import Sampling
from freedave.decoding.rng import keyed_uniform
from freedave.options import block_origin


@dataclass(frozen=True)
class Layout:
    """Where one prompt's response lives and which ids are special."""

    prompt_len: int
    block_size: int
    mask_id: int
    eos_id: int | None
    stop_at_eos: bool = True
    lookahead_blocks: int = 1  # blocks past the active one that drafts may reach
    block_layout: str = "prompt"  # "aligned": blocks from position 0; "prompt": from the prompt end
    # the response the user sees is cut here (the canvas runs to a block boundary, so it may hold more)
    max_new_tokens: int | None = None

    @cached_property
    def origin(self) -> int:
        """First position of the block grid (0 or ``prompt_len``)."""
        return block_origin(self.block_layout, self.prompt_len)

    def active_start(self, y: Tensor | list[int]) -> int | None:
        """Start of the first block that still holds a mask, or None when none does (under
        ``aligned`` it may lie inside the prompt)."""
        vals = y.tolist() if isinstance(y, Tensor) else y
        try:
            first = vals.index(self.mask_id, self.prompt_len)
        except ValueError:
            return None
        origin = self.origin
        return first - (first - origin) % self.block_size

    def is_terminal(self, y: Tensor | list[int]) -> bool:
        """Finished: no mask left, or a completed block holds EOS (stop after the EOS block)."""
        vals = y.tolist() if isinstance(y, Tensor) else y
        start = self.active_start(vals)
        if start is None:
            return True
        if self.stop_at_eos and self.eos_id is not None:
            return self.eos_id in vals[self.prompt_len : max(start, self.prompt_len)]
        return False

    def response(self, y: Tensor) -> list[int]:
        """Tokens of the completed blocks, cut before the first EOS and after ``max_new_tokens``."""
        vals = y.tolist()
        start = self.active_start(vals)
        out = vals[self.prompt_len : max(start, self.prompt_len) if start is not None else len(vals)]
        if self.eos_id is not None and self.eos_id in out:
            out = out[: out.index(self.eos_id)]
        return out if self.max_new_tokens is None else out[: self.max_new_tokens]

    def window_end(self, y: Tensor, lookahead: bool) -> int:
        """One past the last position whose logits a step (and drafts, with lookahead) needs."""
        start = self.active_start(y)
        assert start is not None, "window_end of a finished canvas"
        blocks = 1 + (self.lookahead_blocks if lookahead else 0)
        return min(y.shape[0], start + blocks * self.block_size)


class Scorer:
    """Chosen token and confidence per position, from one forward's window logits.

    The mask token is never chosen. Confidence is the float64 softmax probability (of the unscaled
    logits) of the chosen token, over the whole vocabulary or, with ``confidence="renormalized"``,
    over every token but the mask (``confidence_probs``, the one place the rule lives).
    Greedy picks the argmax (lowest id on ties) and takes no draws. Sampling draws by inverse CDF
    over the tempered, top-k/top-p filtered float64 distribution of the non-mask tokens, with one
    keyed uniform per ``(seed, prompt index, position, step)``.
    """

    def __init__(self, logits: Tensor, start: int, sampling: Sampling, stream: int, mask_id: int) -> None:
        self._setup(logits, start, sampling, stream, mask_id)

    def _setup(self, logits: Tensor, start: int, sampling: Sampling, stream: int, mask_id: int) -> None:
        self.logits = logits  # [W, V] unscaled (float64 where read), positions start .. start + W - 1
        self.start = start
        self.end = start + logits.shape[0]
        self.sampling = sampling
        self.stream = stream
        self.mask_id = mask_id
        # greedy (token, confidence) per window row; token -1 where not computed yet (shared with
        # limited() views, filled on first use)
        self._greedy: tuple[list[int], list[float]] | None = None

    @classmethod
    def batch(
        cls, logits: Tensor, start: int, sampling: Sampling, stream: int, mask_id: int, need: Tensor | None = None
    ) -> list[Scorer]:
        """One scorer per row of ``logits [R, W, V]``; greedy decisions of all rows in one pass.

        ``need [R, W]`` (bool, optional) marks the window positions a step can decide from each row
        (its masked response positions); the greedy table is computed for those only, the others
        on first use. Every op here is row-wise over the vocabulary, so a row's decisions are
        bit-identical to ``Scorer(logits[r], ...)``: batching and selecting rows changes nothing
        but the number of kernel calls and the work.
        """
        out = []
        for r in range(logits.shape[0]):
            sc = cls.__new__(cls)
            sc._setup(logits[r], start, sampling, stream, mask_id)
            out.append(sc)
        if sampling.greedy:
            tok, conf = _greedy_rows(logits, mask_id, sampling.confidence, need)
            for sc, t, c in zip(out, tok.tolist(), conf.tolist(), strict=True):
                sc._greedy = (t, c)
        return out

    def limited(self, end: int) -> Scorer:
        """The same distribution, but steps may not use positions at or beyond ``end``."""
        if self.sampling.greedy and self._greedy is None:
            self._greedy = ([-1] * self.logits.shape[0], [0.0] * self.logits.shape[0])  # shared with the view
        view = object.__new__(type(self))  # a shallow copy (copy.copy costs ~5x more)
        view.__dict__.update(self.__dict__)
        view.end = min(self.end, end)
        return view

    def greedy_table(self) -> tuple[list[int], list[float]]:
        """Argmax token and its confidence for every window row (computed once)."""
        return self._greedy_at(list(range(self.start, self.start + self.logits.shape[0])))

    def _greedy_at(self, positions: list[int]) -> tuple[list[int], list[float]]:
        """The greedy table, filled at ``positions`` first where it is not yet."""
        if self._greedy is None:
            self._greedy = ([-1] * self.logits.shape[0], [0.0] * self.logits.shape[0])
        tok, conf = self._greedy
        missing = [p - self.start for p in positions if tok[p - self.start] < 0]
        if missing:
            rows = torch.tensor(missing, dtype=torch.long, device=self.logits.device)
            t, c = greedy_decisions(self.logits[rows], self.mask_id, self.sampling.confidence)
            for i, ti, ci in zip(missing, t.tolist(), c.tolist(), strict=True):
                tok[i], conf[i] = ti, ci
        return tok, conf

    def decide(self, positions: list[int], step: int) -> tuple[list[int], list[float]]:
        """``(tokens, confidences)`` for ``positions`` at base step ``step``, as Python lists."""
        if self.sampling.greedy:
            tok, conf = self._greedy_at(positions)
            return [tok[p - self.start] for p in positions], [conf[p - self.start] for p in positions]
        t, c = self(torch.tensor(positions, dtype=torch.long, device=self.logits.device), step)
        return t.tolist(), c.tolist()

    def __call__(self, positions: Tensor, step: int) -> tuple[Tensor, Tensor]:
        """``(tokens [M], confidence [M] float64)`` for ``positions [M]`` at base step ``step``."""
        rows = positions - self.start
        if self.sampling.greedy:
            tok, conf = self._greedy_at([int(p) for p in positions.tolist()])
            tok_t = torch.tensor(tok, dtype=torch.long, device=self.logits.device)
            conf_t = torch.tensor(conf, dtype=torch.float64, device=self.logits.device)
            return tok_t[rows], conf_t[rows]
        logits = self.logits[rows].double()  # [M, V] a copy
        probs = confidence_probs(logits, self.mask_id, self.sampling.confidence)
        logits[:, self.mask_id] = float("-inf")  # draws never take the mask token
        cdf = filtered_probs(logits, self.sampling).cumsum(dim=-1)
        u = keyed_uniform(self.sampling.seed, self.stream, positions, step) * cdf[:, -1]
        tok = torch.searchsorted(cdf, u.unsqueeze(1), right=True).squeeze(1)
        tok = tok.clamp_max(logits.shape[-1] - 1)
        return tok, probs.gather(1, tok.unsqueeze(1)).squeeze(1)


# Selecting the needed window rows (finding them included) costs ~20 µs of kernel calls on a 2-core
# CPU, a skipped logit saves ~3 ns: selection is tried only for vocabularies of SELECT_MIN_VOCAB or
# more (real models; the bundled model's 288 never pays, measured) and done when the skipped rows
# hold SELECT_MIN logits or more.
SELECT_MIN = 1 << 14
SELECT_MIN_VOCAB = 1 << 12


def _greedy_rows(logits: Tensor, mask_id: int, rule: str, need: Tensor | None) -> tuple[Tensor, Tensor]:
    """``greedy_decisions`` of ``logits [R, W, V]``, computed only at the ``need [R, W]`` rows when
    that skips enough work (tokens -1 and confidences 0 elsewhere; rows are independent)."""
    if need is not None:
        vocab, n = logits.shape[-1], int(need.sum())
        if (need.numel() - n) * vocab >= SELECT_MIN:
            idx = need.flatten().nonzero().squeeze(1).to(logits.device)
            t, c = greedy_decisions(logits.reshape(-1, vocab).index_select(0, idx), mask_id, rule)
            tok = torch.full((need.numel(),), -1, dtype=torch.long, device=logits.device).index_copy_(0, idx, t)
            conf = torch.zeros(need.numel(), dtype=torch.float64, device=logits.device).index_copy_(0, idx, c)
            return tok.view(need.shape), conf.view(need.shape)
    return greedy_decisions(logits, mask_id, rule)


def confidence_probs(logits: Tensor, mask_id: int, rule: str) -> Tensor:
    """``[..., V]`` float64 probabilities whose entry at a chosen token is its confidence: the
    softmax of the unscaled logits over the whole vocabulary (``"full"``) or over every token but
    the mask (``"renormalized"``: p / (1 - p_mask))."""
    logits = logits.double()
    if rule == "renormalized":
        logits = logits.clone()
        logits[..., mask_id] = float("-inf")
    return torch.softmax(logits, dim=-1)


def greedy_decisions(logits: Tensor, mask_id: int, rule: str) -> tuple[Tensor, Tensor]:
    """``(tokens [...], confidences [...])``: the most probable non-mask token of every row (lowest
    id on ties) and its confidence under ``rule``."""
    probs = confidence_probs(logits, mask_id, rule)
    probs[..., mask_id] = -1.0  # never chosen (every other entry is >= 0)
    conf, tok = probs.max(dim=-1)
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


def masked_in_active(vals: list[int], layout: Layout, scorer: Scorer) -> list[int] | None:
    """The masked response positions of the active block, or None when there is none or the
    scorer's window does not cover it."""
    start = layout.active_start(vals)
    if start is None:
        return None
    end = min(start + layout.block_size, len(vals))
    if end > scorer.end:  # the active block lies beyond this forward's window
        return None
    # only response positions are decisions (an aligned block may start inside the prompt)
    return [i for i in range(max(start, layout.prompt_len), end) if vals[i] == layout.mask_id]


def static_choice(y: Tensor | list[int], layout: Layout, scorer: Scorer, step: int) -> tuple[int, int] | None:
    """``(position, token)`` of the static step from ``y``: the most confident masked position of
    the active block (ties: lower position), or None when the window does not cover that block."""
    vals = y.tolist() if isinstance(y, Tensor) else y
    pos = masked_in_active(vals, layout, scorer)
    if pos is None:
        return None
    tok, conf = scorer.decide(pos, step)
    best = max(range(len(pos)), key=conf.__getitem__)  # first maximum = lowest position
    return pos[best], tok[best]


def static_step(y: Tensor, layout: Layout, scorer: Scorer, step: int) -> Tensor | None:
    """Unmask the most confident masked position of the active block (ties: lower position)."""
    choice = static_choice(y, layout, scorer, step)
    if choice is None:
        return None
    out = y.clone()
    out[choice[0]] = choice[1]
    return out


def threshold_step(y: Tensor, layout: Layout, scorer: Scorer, step: int, tau: float) -> Tensor | None:
    """Unmask every masked position of the active block with confidence >= tau, at least one."""
    pos = masked_in_active(y.tolist(), layout, scorer)
    if pos is None:
        return None
    tok, conf = scorer.decide(pos, step)
    best = max(range(len(pos)), key=conf.__getitem__)
    take = [i for i in range(len(pos)) if conf[i] >= tau or i == best]
    out = y.clone()
    out[[pos[i] for i in take]] = torch.tensor([tok[i] for i in take], dtype=out.dtype, device=out.device)
    return out


def accept_prefix(drafts: list[Tensor], targets: list[Tensor]) -> int:
    """Length of the verified chain: 1 + the number of k with ``drafts[k] == targets[k - 1]``."""
    j = 1
    while j < len(drafts) and j - 1 < len(targets) and torch.equal(drafts[j], targets[j - 1]):
        j += 1
    return j


def chain_states(y: Tensor, picks: list[tuple[int, int]]) -> list[Tensor]:
    """The states ``y`` + picks[:1], ``y`` + picks[:2], ...: one copy and one write each (through
    numpy on the host, ~2.5x cheaper than tensor indexing; a batched index_put costs more)."""
    out = []
    if y.device.type == "cpu" and not y.requires_grad:
        arr = y.numpy()
        for p, t in picks:
            arr = arr.copy()
            arr[p] = t
            out.append(torch.from_numpy(arr))
        return out
    for p, t in picks:
        y = y.clone()
        y[p] = t
        out.append(y)
    return out
