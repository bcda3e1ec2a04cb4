"""Generation requests from the harness: their settings, their seeds and their stop strings.

Pure functions with no lm-eval import, so they are tested on their own. A request's settings
(``GenSettings``) decide which requests may share a batch; its seed is derived from the run's seed
and the request's global key (task, document, request index, repeat), never from its place in a
process's share, so the number of processes and the batch size change no output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from freedave.errors import OptionError

# gen_kwargs keys the harness (or a task YAML) may pass, besides "until"
KNOWN_GEN_KWARGS = (
    "until", "max_gen_toks", "max_new_tokens", "gen_length", "block_size", "temperature", "do_sample",
    "top_k", "top_p", "min_new_tokens",
)


@dataclass(frozen=True)
class GenSettings:
    """Everything that must be equal for requests to share one decode call."""

    max_new_tokens: int
    block_size: int
    temperature: float
    top_k: int
    top_p: float
    min_new_tokens: int


def _int(gen: Mapping[str, Any], key: str, default: int) -> int:
    value = gen.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise OptionError(f"gen_kwargs {key} must be an integer (got {value!r})")
    return int(value)


def settings_for(gen: Mapping[str, Any], defaults: GenSettings) -> tuple[GenSettings, list[str]]:
    """The decode settings and stop strings of one request's ``gen_kwargs``.

    ``max_gen_toks`` (the harness's name; ``gen_length`` and ``max_new_tokens`` are aliases) and
    ``block_size`` set lengths per task; ``do_sample=False`` forces greedy decoding whatever the
    temperature; ``do_sample=True`` without a temperature samples at 1.
    """
    unknown = sorted(set(gen) - set(KNOWN_GEN_KWARGS))
    if unknown:
        raise OptionError(f"unsupported gen_kwargs {', '.join(unknown)}; freedave takes {', '.join(KNOWN_GEN_KWARGS)}")
    until = gen.get("until", [])
    until = [until] if isinstance(until, str) else list(until or [])
    if not all(isinstance(u, str) and u for u in until):
        raise OptionError(f"gen_kwargs until must be non-empty strings (got {until!r})")
    length = defaults.max_new_tokens
    for key in ("max_gen_toks", "max_new_tokens", "gen_length"):
        if key in gen:
            length = _int(gen, key, length)
    temperature = float(gen.get("temperature", defaults.temperature))
    do_sample = gen.get("do_sample")
    if do_sample is False:
        temperature = 0.0
    elif do_sample is True and "temperature" not in gen and temperature == 0:
        temperature = 1.0
    settings = GenSettings(
        max_new_tokens=length,
        block_size=_int(gen, "block_size", defaults.block_size),
        temperature=temperature,
        top_k=_int(gen, "top_k", defaults.top_k),
        top_p=float(gen.get("top_p", defaults.top_p)),
        min_new_tokens=_int(gen, "min_new_tokens", defaults.min_new_tokens),
    )
    if settings.min_new_tokens < 0:
        raise OptionError(f"min_new_tokens must be >= 0 (got {settings.min_new_tokens})")
    return settings, until


def cut_at_stops(text: str, until: Sequence[str]) -> str:
    """``text`` up to the earliest occurrence of any stop string (the harness does not cut)."""
    cut = len(text)
    for stop in until:
        at = text.find(stop)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]


def request_seed(seed: int, *key: object) -> int:
    """A 63-bit seed that is a pure function of the run's seed and a request's global key."""
    digest = hashlib.sha256(repr((seed, *key)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class NoEarlyEOS:
    """A denoiser whose EOS logit is pushed to -1e30 in the first ``min_new_tokens`` response
    positions, so a decoder cannot end the answer before it (diffusion LMs often answer with EOS
    only). A wrapper, not a decoder change: static and FreeDave see the same logits, so they still
    give the same tokens. Everything else is the wrapped denoiser's."""

    def __init__(self, inner: Any, min_new_tokens: int) -> None:
        if inner.eos_id is None:
            raise OptionError("min_new_tokens needs a model with an EOS token")
        self.inner = inner
        self.min_new_tokens = min_new_tokens

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def new_cache(self) -> Any:
        return self.inner.new_cache()

    def logits(self, queries: Sequence[Any]) -> list[Any]:
        outs = self.inner.logits(queries)
        for q, out in zip(queries, outs, strict=True):
            stop = min(q.end, q.prompt_len + self.min_new_tokens) - q.start
            if stop > 0:
                out[:, :stop, self.inner.eos_id] = -1e30
        return outs
