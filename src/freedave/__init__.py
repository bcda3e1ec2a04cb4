"""freedave: fast, lossless decoding of diffusion language models.

FreeDave drafts several candidate futures from one forward, verifies them all in the next batched
forward and keeps the longest verified chain: the tokens of static (one-token-per-forward)
decoding with far fewer forwards. See ``freedave.decoding`` for the glossary.
"""

from freedave.api import generate
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
from freedave.models import register_auto_classes
from freedave.models.loading import Loaded, load

__version__ = "0.1.0"

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
