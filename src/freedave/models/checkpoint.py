"""What a checkpoint folder says besides its weights: the tokenizer with its chat template, the
generation config, the mask and EOS token ids. Shared by the native (``models.hf``) and the
remote-code (``models.remote``) loaders."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from freedave.errors import DecodeError

log = logging.getLogger("freedave")


def read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        log.warning("ignoring unreadable %s", path)
        return {}


def load_tokenizer(path: Path, trust_remote_code: bool) -> Any:
    """The checkpoint's tokenizer with its chat template.

    ``tokenizer.json`` is read as it is by the library's fast tokenizer (Dream and LLaDA name remote
    tokenizer classes in ``tokenizer_config.json``; their files need no code). Otherwise
    ``AutoTokenizer`` (remote code only with the flag), then Qwen's BPE files with ``Qwen2Tokenizer``.
    """
    names = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
    if not any((path / n).is_file() for n in names):
        return None
    import transformers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast, Qwen2Tokenizer

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # config.json of a diffusion LM confuses AutoConfig
    first: Exception | None = None
    try:
        if (path / "tokenizer.json").is_file():  # the exact tokenizer, whatever class is named
            try:
                return PreTrainedTokenizerFast.from_pretrained(str(path))
            except Exception as e:
                first = e
        try:
            return AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
        except Exception as e:
            first = first or e
        if (path / "vocab.json").is_file() and (path / "merges.txt").is_file():  # Qwen BPE files
            try:
                return Qwen2Tokenizer.from_pretrained(str(path))
            except Exception as e:
                first = first or e
        raise DecodeError(f"cannot load the tokenizer in {path}: {type(first).__name__}: {first}") from None
    finally:
        transformers.logging.set_verbosity(verbosity)


def first_id(value: Any) -> int | None:
    if isinstance(value, list | tuple):
        return int(value[0]) if value else None
    return None if value is None else int(value)


def find_mask_id(path: Path, raw: dict, tokenizer: Any, override: int | None) -> int:
    if override is not None:
        return int(override)
    if raw.get("mask_token_id") is not None:
        return int(raw["mask_token_id"])
    tok_id = getattr(tokenizer, "mask_token_id", None) if tokenizer is not None else None
    if tok_id is not None:
        return int(tok_id)
    raise DecodeError(f"{path}: no mask token in config.json or the tokenizer; pass --mask-token-id ID")


def find_eos_id(raw: dict, generation: dict, tokenizer: Any) -> int | None:
    for value in (raw.get("eos_token_id"), generation.get("eos_token_id")):
        eos = first_id(value)
        if eos is not None:
            return eos
    return getattr(tokenizer, "eos_token_id", None) if tokenizer is not None else None
