"""Option vocabularies and defaults, in one place.

Each vocabulary is a ``Literal`` type with the tuple of its values beside it: the config
dataclasses validate against the tuples, argparse builds ``choices=`` from them, and the server and
the lm-eval wrapper name them in their error messages.
"""

from __future__ import annotations

from typing import Literal, get_args

from freedave.errors import OptionError

StrategyName = Literal["static", "threshold", "freedave", "freedave-threshold"]
FamilyName = Literal["full", "shifted", "block"]
CacheName = Literal["none", "prefix", "dual"]
DTypeName = Literal["float32", "bfloat16", "float16"]
# confidence of a decision: "full" = its probability in the softmax over the whole vocabulary (the
# families' own rule: LLaDA, Fast-dLLM, Dream); "renormalized" = over every token but the mask
ConfidenceName = Literal["full", "renormalized"]
# Where the block grid of a block-causal model starts. "aligned": at position 0, as SDAR/TraDo
# train and decode (the prompt is block-causal too; the first response block completes the
# prompt's last partial block). "prompt": at the prompt end, the prompt one bidirectional prefix.
BlockLayoutName = Literal["aligned", "prompt"]

STRATEGIES: tuple[str, ...] = get_args(StrategyName)
FAMILIES: tuple[str, ...] = get_args(FamilyName)
CACHES: tuple[str, ...] = get_args(CacheName)
DTYPES: tuple[str, ...] = get_args(DTypeName)
CONFIDENCES: tuple[str, ...] = get_args(ConfidenceName)
BLOCK_LAYOUTS: tuple[str, ...] = get_args(BlockLayoutName)
AUTO = "auto"  # draft_depth chosen per round from the measured cost curve

DEFAULT_BLOCK_SIZE = 32  # decoding block size when neither the user nor the model sets one
DEFAULT_MAX_NEW_TOKENS = 64
DEFAULT_DRAFT_DEPTH = 8
DEFAULT_THRESHOLD = 0.9
DEFAULT_CONFIDENCE = "full"
DEFAULT_BLOCK_LAYOUT = "prompt"  # a denoiser that names no layout of its own


def check_choice(what: str, value: object, choices: tuple[str, ...]) -> None:
    """One-line error unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise OptionError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def check_draft_depth(value: object) -> None:
    """``draft_depth`` is an integer >= 1 or ``"auto"`` (the one check and message for every entry point)."""
    if value == AUTO:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"draft_depth must be >= 1 or 'auto' (got {value!r})")


def check_draft_branches(value: object) -> None:
    """``draft_branches`` (runner-up rows per FreeDave round) is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OptionError(f"draft_branches must be an integer >= 0 (got {value!r})")


def parse_draft_depth(text: str | int) -> int | str:
    """A draft depth from text (CLI flag, model_args, JSON): an integer >= 1 or ``"auto"``."""
    if isinstance(text, int) and not isinstance(text, bool):
        check_draft_depth(text)
        return text
    value = str(text).strip()
    if value == AUTO:
        return AUTO
    try:
        depth = int(value)
    except ValueError:
        raise OptionError(f"draft_depth must be >= 1 or 'auto' (got {value!r})") from None
    check_draft_depth(depth)
    return depth


def resolve_block_size(requested: int | None, model_block: int | None) -> int:
    """The user's block size, else the model's own, else ``DEFAULT_BLOCK_SIZE``."""
    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise OptionError(f"block_size must be >= 1 (got {requested!r})")
        return requested
    return model_block or DEFAULT_BLOCK_SIZE


def check_block_layout(value: object) -> None:
    """One-line error unless ``value`` is one of ``BLOCK_LAYOUTS``."""
    check_choice("block_layout", value, BLOCK_LAYOUTS)


def resolve_block_layout(requested: str | None, family: str, model_layout: str | None) -> str:
    """The user's block layout, else the model's own, else ``DEFAULT_BLOCK_LAYOUT``.

    ``aligned`` is refused for the full and shifted families: their decode blocks start at the
    prompt end (LLaDA's and Dream's own generate), and there is no block-causal prompt to align."""
    layout = requested if requested is not None else (model_layout or DEFAULT_BLOCK_LAYOUT)
    check_block_layout(layout)
    if layout == "aligned" and family != "block":
        raise OptionError(
            f"block_layout 'aligned' is for block-causal models (SDAR/TraDo); a {family!r} model decodes "
            "its blocks from the prompt end, use 'prompt'"
        )
    return layout


def block_origin(layout: str, prompt_len: int) -> int:
    """First position of the block grid: 0 (``aligned``) or the prompt end (``prompt``)."""
    return 0 if layout == "aligned" else prompt_len
