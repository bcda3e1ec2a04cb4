"""freedave: fast, lossless decoding of diffusion language models.

FreeDave drafts several candidate futures from one forward, verifies them all in the next batched
forward and keeps the longest verified chain: the tokens of static (one-token-per-forward)
decoding with far fewer forwards. See ``freedave.decoding`` for the glossary.

Dependencies by need: ``import freedave`` (and ``freedave.decoding``) imports torch only;
``load``, ``generate`` and ``Loaded`` bring in ``freedave.models`` (and transformers) on first use.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from freedave.decoding import (
    DecodeConfig,
    DecodeError,
    DecodeHooks,
    FreeDave,
    FreeDaveThreshold,
    Result,
    Sampling,
    Static,
    Threshold,
    decode,
)

if TYPE_CHECKING:
    from freedave.api import generate
    from freedave.models.bundle import Loaded
    from freedave.models.loading import load

__version__ = "0.1.0"

_LAZY = {"generate": "freedave.api", "load": "freedave.models.loading", "Loaded": "freedave.models.bundle"}


def __getattr__(name: str) -> Any:
    """``load``, ``generate`` and ``Loaded`` are imported on first use (they need transformers)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'freedave' has no attribute {name!r}")


if "transformers" in sys.modules:  # transformers is loaded anyway: make AutoConfig know the reference
    from freedave.models import register_auto_classes

    register_auto_classes()

__all__ = [
    "DecodeConfig",
    "DecodeError",
    "DecodeHooks",
    "FreeDave",
    "FreeDaveThreshold",
    "Loaded",
    "Result",
    "Sampling",
    "Static",
    "Threshold",
    "decode",
    "generate",
    "load",
]
