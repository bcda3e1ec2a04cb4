"""The Python API: ``freedave.load`` and ``freedave.generate``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from freedave.decoding import DecodeConfig, DecodeHooks, Result, Sampling, Static, Strategy, decode
from freedave.errors import DecodeError
from freedave.models.loading import Loaded, load
from freedave.options import DEFAULT_CONFIDENCE, DEFAULT_MAX_NEW_TOKENS, resolve_block_size


def generate(
    model: Loaded | str | Path,
    prompts: str | Sequence[str] | Sequence[Sequence[int]],
    strategy: Strategy = Static(),
    *,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    block_size: int | None = None,
    block_layout: str | None = None,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    confidence: str = DEFAULT_CONFIDENCE,
    chat: bool = False,
    device: str = "cpu",
    seeds: Sequence[int] | None = None,
    hooks: DecodeHooks | None = None,
) -> list[Result]:
    """Decode ``prompts`` (text, or lists of token ids) with ``strategy``; one Result per prompt.

    ``seeds`` (one per prompt) replaces ``(seed, prompt index)`` as the key of each prompt's
    draws: prompt i then decodes exactly as it would alone with ``seed=seeds[i]``. ``hooks``
    streams finished blocks and cancels prompts (``DecodeHooks``). ``confidence``: ``"full"``
    (softmax over the whole vocabulary, the families' own rule) or ``"renormalized"`` (without the
    mask token). ``block_layout`` (block-causal models): ``"aligned"`` (blocks from position 0, as
    SDAR/TraDo) or ``"prompt"`` (blocks from the prompt end); None: the model's own (SDAR-style
    checkpoints ``aligned``, the bundled model ``prompt``).

    >>> import freedave
    >>> m = freedave.load("reference")
    >>> out = freedave.generate(m, ["12+34="], freedave.FreeDave(draft_depth=8))
    >>> tree = freedave.generate(m, ["12+34="], freedave.FreeDave(8, draft_branches=2))  # a draft tree
    >>> tree[0].token_ids == freedave.generate(m, ["12+34="])[0].token_ids  # greedy: static's tokens
    True
    """
    loaded = model if isinstance(model, Loaded) else load(model, device=device)
    if isinstance(prompts, str):
        prompts = [prompts]
    if len(prompts) == 0:
        raise DecodeError("no prompts given")
    texts = [p for p in prompts if isinstance(p, str)]
    if texts and len(texts) != len(prompts):
        raise DecodeError("prompts must be all text or all token-id lists")
    for i, p in enumerate(prompts):
        if isinstance(p, str) and not p:
            raise DecodeError(f"prompt {i} is empty")
    ids = [loaded.encode(p, chat=chat) for p in prompts] if texts else [list(p) for p in prompts]
    cfg = DecodeConfig(
        max_new_tokens=max_new_tokens,
        block_size=resolve_block_size(block_size, loaded.block_size),
        sampling=Sampling(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, confidence=confidence),
        block_layout=block_layout,
    )
    results = decode(loaded.denoiser, ids, cfg, strategy, device=device, seeds=seeds, hooks=hooks)
    return [replace(r, text=loaded.decode(r.token_ids)) for r in results]
