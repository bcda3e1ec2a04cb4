"""Decoders: plain loops over the ``Denoiser`` interface. Imports only torch.

Glossary
--------
- *canvas*: prompt + response positions; the response starts all-mask.
- *block*: ``block_size`` response positions decoded left to right (semi-autoregressive).
- *step*: one base-decoder decision (static: one token; threshold: one confident set).
- *NFE*: number of network passes (forwards); every pass counts, a cache refresh included.
- *model call*: one call of the denoiser (one batched forward request; usually one pass).
- *draft k*: the state after k base steps taken from one forward's distribution.
- *target k*: one base step from draft k's own distribution (from the verification forward).
- *accept*: keep the longest chain where draft k+1 equals target k.
- *reach r(n)*: how many static steps one distribution f(x_n) drafts correctly.
"""

from collections.abc import Sequence
from typing import Any

from freedave.decoding.autodepth import AutoDepth, DepthPolicy, FixedDepth
from freedave.decoding.common import DecodeHooks, Result
from freedave.decoding.config import (
    DecodeConfig,
    FreeDave,
    FreeDaveThreshold,
    Sampling,
    Static,
    Strategy,
    Threshold,
    make_strategy,
)
from freedave.decoding.freedave import decode_freedave
from freedave.decoding.loop import decode_steps
from freedave.decoding.optimal import attainable_nfe, oracle_nfe
from freedave.decoding.protocol import Denoiser, Query
from freedave.decoding.static import decode_static
from freedave.decoding.threshold import decode_threshold
from freedave.errors import DecodeError

__all__ = [
    "AutoDepth",
    "DepthPolicy",
    "FixedDepth",
    "DecodeConfig",
    "DecodeError",
    "DecodeHooks",
    "Denoiser",
    "FreeDave",
    "FreeDaveThreshold",
    "Query",
    "Result",
    "Sampling",
    "Static",
    "Strategy",
    "Threshold",
    "attainable_nfe",
    "decode",
    "decode_freedave",
    "decode_steps",
    "decode_static",
    "decode_threshold",
    "make_strategy",
    "oracle_nfe",
]


def decode(
    denoiser: Denoiser,
    prompts: Sequence[Sequence[int]],
    cfg: DecodeConfig,
    strategy: Strategy,
    *,
    policy: DepthPolicy | None = None,
    **kw: Any,
) -> list[Result]:
    """Run the loop that belongs to ``strategy`` (chosen once, up front). ``policy`` (FreeDave
    only) picks the draft depth; the other keywords (``device``, ``first_index``, ``seeds``,
    ``hooks``) go to every decoder."""
    if isinstance(strategy, FreeDave | FreeDaveThreshold):
        return decode_freedave(denoiser, prompts, cfg, strategy, policy=policy, **kw)
    if isinstance(strategy, Static):
        return decode_static(denoiser, prompts, cfg, strategy, **kw)
    if isinstance(strategy, Threshold):
        return decode_threshold(denoiser, prompts, cfg, strategy, **kw)
    raise DecodeError(f"unknown strategy {strategy!r}")
