"""``FreeDaveLM``: freedave's decoders behind lm-eval's ``LM`` interface (model name ``freedave``).

- ``generate_until``: requests are grouped by their generation settings, decoded in batches of
  ``batch_size`` with one seed per request (derived from ``seed`` and the request's global key),
  then cut at the request's own ``until`` strings. Batching and process count change no output.
- ``loglikelihood``: the Monte Carlo estimate of ``freedave.eval.loglik`` (multiple-choice tasks).
- ``loglikelihood_rolling``: refused (a diffusion LM has no left-to-right factorisation).
- Data parallel: under ``accelerate launch``/``torchrun`` each process takes its share; the
  collectives the evaluator calls are in ``freedave.eval.dist``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from freedave.decoding import DecodeConfig, Sampling, Strategy, decode, make_strategy
from freedave.errors import DecodeError, OptionError
from freedave.eval import dist
from freedave.eval.gen import GenSettings, NoEarlyEOS, cut_at_stops, request_seed, settings_for
from freedave.eval.loglik import mc_loglikelihood
from freedave.models.loading import Loaded, load
from freedave.options import (
    CACHES,
    DEFAULT_CONFIDENCE,
    DEFAULT_DRAFT_DEPTH,
    DEFAULT_THRESHOLD,
    DTYPES,
    FAMILIES,
    check_block_layout,
    check_choice,
    parse_draft_depth,
    resolve_block_size,
)

log = logging.getLogger("freedave.eval")

MODEL_ARGS = (
    "model", "strategy", "draft_depth", "draft_branches", "threshold", "cross_blocks", "block_size", "block_layout", "max_new_tokens",
    "temperature", "top_k", "top_p", "seed", "batch_size", "device", "dtype", "family", "cache",
    "mc_num", "min_new_tokens", "mask_token_id", "trust_remote_code", "confidence",
)


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OptionError(f"{name} must be an integer >= {minimum} (got {value!r})")
    return value


@dataclass(frozen=True)
class EvalOptions:
    """The ``freedave`` model's arguments, validated (one-line ``OptionError`` for a bad one)."""

    strategy: Strategy
    sampling: Sampling
    max_new_tokens: int
    block_size: int | None  # None: the model's own
    block_layout: str | None  # None: the model's own
    min_new_tokens: int
    batch_size: int
    mc_num: int
    device: str
    dtype: str
    family: str | None
    cache: str
    mask_token_id: int | None
    trust_remote_code: bool


def parse_options(
    strategy: str = "freedave",
    draft_depth: int | str = DEFAULT_DRAFT_DEPTH,
    draft_branches: int | str = 0,
    threshold: float = DEFAULT_THRESHOLD,
    cross_blocks: bool = True,
    block_size: int | None = None,
    block_layout: str | None = None,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    confidence: str = DEFAULT_CONFIDENCE,
    batch_size: int | str = 8,
    device: str | None = "cpu",
    dtype: str = "float32",
    family: str | None = None,
    cache: str = "none",
    mc_num: int = 16,
    min_new_tokens: int = 0,
    mask_token_id: int | None = None,
    trust_remote_code: bool = False,
    max_batch_size: Any = None,  # passed by the harness; freedave's batches are fixed-size
    **unknown: Any,
) -> EvalOptions:
    if unknown:
        raise OptionError(f"unknown model_args {', '.join(sorted(unknown))}; freedave takes {', '.join(MODEL_ARGS)}")
    check_choice("dtype", dtype, DTYPES)
    check_choice("cache", cache, CACHES)
    if family is not None:
        check_choice("family", family, FAMILIES)
    if block_layout is not None:
        check_block_layout(block_layout)
    sampling = Sampling(temperature=float(temperature), top_k=int(top_k), top_p=float(top_p), seed=int(seed),
                        confidence=str(confidence))
    return EvalOptions(
        strategy=make_strategy(str(strategy), parse_draft_depth(draft_depth), float(threshold), bool(cross_blocks),
                               _positive_int("draft_branches", draft_branches, minimum=0)),
        sampling=sampling,
        max_new_tokens=_positive_int("max_new_tokens", max_new_tokens),
        block_size=None if block_size is None else _positive_int("block_size", block_size),
        block_layout=block_layout,
        min_new_tokens=_positive_int("min_new_tokens", min_new_tokens, minimum=0),
        batch_size=_positive_int("batch_size", batch_size),
        mc_num=_positive_int("mc_num", mc_num),
        device=str(device or "cpu"),
        dtype=dtype,
        family=family,
        cache=cache,
        mask_token_id=None if mask_token_id is None else _positive_int("mask_token_id", mask_token_id, minimum=0),
        trust_remote_code=bool(trust_remote_code),
    )


@register_model("freedave")
class FreeDaveLM(LM):
    """One model, one strategy; see the module docstring and ``parse_options`` for the arguments.
    ``model`` may be a ``Loaded`` bundle (``freedave eval`` loads once, runs several strategies)."""

    def __init__(self, model: str | Loaded = "reference", **kwargs: Any) -> None:
        super().__init__()
        opts = parse_options(**kwargs)
        self.strategy = opts.strategy
        self.block_layout = opts.block_layout
        self.batch_size, self.mc_num, self.seed = opts.batch_size, opts.mc_num, opts.sampling.seed
        self.confidence = opts.sampling.confidence
        device = dist.local_device(opts.device)
        dist.init(device)
        if dist.dist.is_initialized():
            self._rank, self._world_size = dist.dist.get_rank(), dist.dist.get_world_size()
        self._device = torch.device(device)
        self.device_name = device
        self.loaded = model if isinstance(model, Loaded) else load(
            str(model), family=opts.family, device=device, dtype=opts.dtype, mask_token_id=opts.mask_token_id,
            trust_remote_code=opts.trust_remote_code, cache=opts.cache,
        )
        self.tokenizer = self.loaded.tokenizer
        self.defaults = GenSettings(
            max_new_tokens=opts.max_new_tokens,
            block_size=resolve_block_size(opts.block_size, self.loaded.block_size),
            temperature=opts.sampling.temperature,
            top_k=opts.sampling.top_k,
            top_p=opts.sampling.top_p,
            min_new_tokens=opts.min_new_tokens,
        )
        self.stats = {"requests": 0, "tokens": 0, "nfe": 0, "seconds": 0.0}

    @staticmethod
    def check_args(kwargs: dict[str, Any]) -> EvalOptions:
        """Validate model arguments without loading anything."""
        return parse_options(**kwargs)

    # -- collectives the evaluator calls (rank and world_size come from LM) -----------------------

    def all_gather(self, tensor):  # noqa: ANN001, ANN201
        return dist.all_gather(tensor) if self.world_size > 1 else tensor

    def gather_object(self, obj, dst=0):  # noqa: ANN001, ANN201
        return dist.gather_object(obj, dst) if self.world_size > 1 else [obj]

    def barrier(self) -> None:
        dist.barrier()

    def total_stats(self) -> dict[str, float]:
        """Generation statistics summed over every process (call it on every process)."""
        parts = dist.all_objects(self.stats)
        total = {k: sum(p[k] for p in parts) for k in self.stats}
        total["seconds"] = max(p["seconds"] for p in parts)  # processes decode side by side
        return total

    # -- chat templates ----------------------------------------------------------------------------

    @property
    def tokenizer_name(self) -> str:
        return str(self.loaded.path).replace("/", "__")

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return getattr(self.tokenizer, "chat_template", None) or ""

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise OptionError(f"{self.loaded.path.name} has no chat template; drop --apply-chat-template")
        return self.tokenizer.apply_chat_template(chat_history, tokenize=False, add_generation_prompt=add_generation_prompt)

    # -- requests ----------------------------------------------------------------------------------

    def _bar(self, total: int, what: str, disable: bool = False) -> tqdm:
        return tqdm(total=total, desc=f"freedave {what}", disable=disable or self.rank != 0)

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
        """One string per request: decoded with its own settings and seed, cut at its ``until``."""
        out: list[str] = [""] * len(requests)
        groups: dict[GenSettings, list[tuple[int, list[int], list[str], int]]] = defaultdict(list)
        seen: dict[int, int] = defaultdict(int)  # copies of each Instance so far (its repeats)
        real: dict[tuple[int, int], int] = {}  # (instance, repeat) -> position of its output
        copies: list[tuple[int, int]] = []  # the evaluator's padding: (position, real position)
        for i, req in enumerate(requests):
            context, gen = req.args
            k, repeats = seen[id(req)], req.repeats or 1
            seen[id(req)] += 1
            if k >= repeats:  # padding that evens out the processes' shares: the same answer again
                copies.append((i, real[(id(req), k % repeats)]))
                continue
            real[(id(req), k)] = i
            settings, until = settings_for(dict(gen), self.defaults)
            seed = request_seed(self.seed, req.task_name, req.doc_id, req.idx, k)
            groups[settings].append((i, self.loaded.encode(context), until, seed))
        with self._bar(len(requests), "generate_until", disable_tqdm) as bar:
            for settings, items in groups.items():
                for first in range(0, len(items), self.batch_size):
                    batch = items[first : first + self.batch_size]
                    for (i, _, _, _), text in zip(batch, self._decode(settings, batch), strict=True):
                        out[i] = text
                    bar.update(len(batch))
            for i, j in copies:
                out[i] = out[j]
            bar.update(len(copies))
        return out

    def _decode(self, settings: GenSettings, batch: list[tuple[int, list[int], list[str], int]]) -> list[str]:
        cfg = DecodeConfig(
            max_new_tokens=settings.max_new_tokens,
            block_size=settings.block_size,
            sampling=Sampling(settings.temperature, settings.top_k, settings.top_p, self.seed, self.confidence),
            block_layout=self.block_layout,
        )
        denoiser = self.loaded.denoiser
        if settings.min_new_tokens:
            denoiser = NoEarlyEOS(denoiser, settings.min_new_tokens)
        started = time.perf_counter()
        results = decode(denoiser, [ids for _, ids, _, _ in batch], cfg, self.strategy, device=self.device_name,
                         seeds=[seed for *_, seed in batch])
        self.stats["seconds"] += time.perf_counter() - started
        texts = []
        for (_, _, until, _), r in zip(batch, results, strict=True):
            tokens = r.token_ids[: settings.max_new_tokens]  # blocks round the canvas up; the cap is exact
            self.stats["requests"] += 1
            self.stats["tokens"] += len(tokens)
            self.stats["nfe"] += r.nfe
            texts.append(cut_at_stops(self.loaded.decode(tokens), until))
        return texts

    def loglikelihood(self, requests: list, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """``(estimate, is_greedy)`` per ``(context, continuation)``; masks keyed by seed and text."""
        items = []
        for req in requests:
            context, continuation = req.args
            seed = request_seed(self.seed, "loglikelihood", context, continuation)
            items.append((self.loaded.encode(context), self.loaded.encode(continuation), seed))
        with self._bar(len(items), "loglikelihood", disable_tqdm) as bar:
            return mc_loglikelihood(
                self.loaded.denoiser, items, mc_num=self.mc_num, block_size=self.defaults.block_size,
                batch_size=self.batch_size, device=self.device_name, on_done=bar.update,
            )

    def loglikelihood_rolling(self, requests: list, disable_tqdm: bool = False) -> list[float]:
        raise DecodeError(
            "loglikelihood_rolling (perplexity tasks) is not supported: a diffusion LM has no left-to-right "
            "factorisation to roll over a document; use generation or multiple-choice tasks"
        )
