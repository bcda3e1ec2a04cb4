"""The explicit opt-in path: a checkpoint's own modeling code (``--trust-remote-code``).

Only reached for model types freedave has no adapter for. The model's forward is used as it is:
no row tiles, no per-segment attention, no cache, so FreeDave's output equals static decoding's
only as far as that forward is batch-invariant (``freedave check`` measures it). Block-causal
models need the attention pattern supplied per call, which remote code has no common way to take,
so only the ``full`` and ``shifted`` families run here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from freedave.decoding.protocol import Query
from freedave.errors import DecodeError
from freedave.models.bundle import Loaded
from freedave.models.checkpoint import find_eos_id, find_mask_id, load_tokenizer, read_json

log = logging.getLogger("freedave")


class RemoteDenoiser:
    """``model(input_ids).logits`` over the whole canvas; ``shifted`` moves logits right by one."""

    def __init__(self, model: Any, family: str, mask_id: int, eos_id: int | None, vocab_size: int) -> None:
        self.model = model.eval()
        self.family = family
        self.mask_id = mask_id
        self.eos_id = eos_id
        self.vocab_size = vocab_size
        self.device = next(model.parameters()).device

    def new_cache(self) -> Any:
        return None

    @torch.no_grad()
    def logits(self, queries: Sequence[Query]) -> list[Tensor]:
        out = []
        for q in queries:
            logits = self.model(input_ids=q.tokens.to(self.device)).logits
            if self.family == "shifted":
                logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
            out.append(logits[:, q.start : q.end].float())
        return out


def load_remote(
    path: Path,
    raw: dict,
    *,
    family: str | None,
    device: str,
    dtype: torch.dtype,
    mask_token_id: int | None,
    trust_remote_code: bool = False,
) -> Loaded:
    from transformers import AutoModel, AutoModelForCausalLM

    if not trust_remote_code:  # the explicit opt-in; never a default
        raise DecodeError(f"{path}: running a checkpoint's own code needs --trust-remote-code")
    if family is None:
        raise DecodeError(f"{path}: with --trust-remote-code, pass --family full|shifted (the attention family is not known)")
    if family == "block":
        raise DecodeError("--family block is not supported with --trust-remote-code (no common way to pass block-causal attention)")
    log.warning("running %s with its own code: the forward is not made batch-invariant", path)
    tokenizer = load_tokenizer(path, trust_remote_code=trust_remote_code)
    mask_id = find_mask_id(path, raw, tokenizer, mask_token_id)
    model = None
    for cls in (AutoModelForCausalLM, AutoModel):
        try:
            model = cls.from_pretrained(str(path), trust_remote_code=trust_remote_code, dtype=dtype, use_safetensors=True)
            break
        except ValueError:
            continue
    if model is None or not hasattr(model, "config"):
        raise DecodeError(f"{path}: transformers could not build a model from its remote code")
    model = model.to(device)
    vocab = int(getattr(model.config, "vocab_size", 0) or model.get_output_embeddings().weight.shape[0])
    eos = find_eos_id(raw, read_json(path / "generation_config.json"), tokenizer)
    den = RemoteDenoiser(model, family, mask_id, eos, vocab)
    return Loaded(den, tokenizer, path, family, block_size=None, model=model)
