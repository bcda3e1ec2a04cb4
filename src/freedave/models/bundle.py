"""The ``Loaded`` bundle and where the bundled checkpoint lives (no transformers import).

Kept apart from ``loading`` so the family loaders (``hf``, ``reference_io``, ``remote``) can build
a ``Loaded`` without importing the module that imports them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from freedave.errors import DecodeError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
REFERENCE_PATH = ASSETS / "reference"


@dataclass(frozen=True)
class LoadOptions:
    """How ``freedave.load`` asks a family loader (reference, HF, remote code) to open a checkpoint.

    ``dtype`` is a torch dtype here; ``freedave.load`` takes its name.
    """

    family: str | None = None
    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    mask_token_id: int | None = None
    trust_remote_code: bool = False
    use_cache: bool = True
    deterministic: bool = False


@dataclass
class Loaded:
    """A ready-to-decode model: the denoiser, its tokenizer (or None) and where it came from."""

    denoiser: Any
    tokenizer: Any
    path: Path
    family: str
    block_size: int | None = None  # the model's own block size (block family), if it has one
    model: Any = None
    compile_seconds: float | None = None  # --compile: how long compiling took at load (None: eager)

    def encode(self, text: str, chat: bool = False) -> list[int]:
        if self.tokenizer is None:
            raise DecodeError("this model has no tokenizer; pass token ids instead of text")
        if chat and getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
            )
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return list(ids)
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        if self.tokenizer is None:
            return " ".join(map(str, ids))
        return self.tokenizer.decode(ids, skip_special_tokens=False)


def read_config(path: Path) -> dict:
    try:
        return json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DecodeError(f"cannot read {path / 'config.json'}: {e}") from None
