"""Loading a model by name or local path into a ``Loaded`` bundle (denoiser + tokenizer).

``"reference"`` is the bundled checkpoint shipped inside the package. Any other value must be a
local Hugging Face checkpoint folder; nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from freedave.errors import DecodeError, OptionError
from freedave.models.bundle import ASSETS, REFERENCE_PATH, Loaded, LoadOptions, read_config  # noqa: F401 (re-exported)
from freedave.options import CACHES, DTYPES, FAMILIES, check_choice

TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_path(name_or_path: str | Path) -> Path:
    if str(name_or_path) == "reference":
        path = REFERENCE_PATH
        if not (path / "config.json").is_file():
            raise DecodeError("the bundled reference checkpoint is missing; reinstall freedave")
        return path
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise DecodeError(f"unknown model {str(name_or_path)!r}: not 'reference' and no such local folder")
    if not (path / "config.json").is_file():
        raise DecodeError(f"{path} has no config.json; --model takes 'reference' or a Hugging Face checkpoint folder")
    return path


def load(
    name_or_path: str | Path = "reference",
    *,
    family: str | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    mask_token_id: int | None = None,
    trust_remote_code: bool = False,
    use_cache: bool = True,
    deterministic: bool = False,
    cache: str = "none",
    compile: bool = False,  # noqa: A002 (the option's name)
) -> Loaded:
    """Open a model for decoding. Weights come from safetensors only.

    ``cache`` (full/shifted families): ``"prefix"`` or ``"dual"`` wraps the denoiser in a
    Fast-dLLM style approximate cache (``freedave.models.approx_cache``); ``"none"`` is exact.

    ``deterministic`` (Hugging Face checkpoints): what makes the forward batch-invariant on GPU
    (fixed-shape GEMM chunks, one fixed SDPA kernel, no TF32, deterministic algorithms). On CPU
    the forward is batch-invariant without it.

    ``compile`` (built-in models, cpu or cuda, ``cache="none"``): ``torch.compile`` the forward's
    position-wise parts (``freedave.models.compiled``); compiling takes seconds, here, at load
    time (``Loaded.compile_seconds``). Never the default.
    """
    check_compile(compile, device, deterministic, cache)
    if family is not None:
        check_choice("family", family, FAMILIES)
    check_choice("dtype", dtype, DTYPES)
    check_choice("cache", cache, CACHES)
    from freedave.models import register_auto_classes

    register_auto_classes()  # transformers is needed from here on: let AutoConfig know the reference
    path = resolve_path(name_or_path)
    raw = read_config(path)
    opts = LoadOptions(family=family, device=device, dtype=TORCH_DTYPES[dtype], mask_token_id=mask_token_id,
                       trust_remote_code=trust_remote_code, use_cache=use_cache, deterministic=deterministic)
    if raw.get("model_type") == "freedave_reference":
        from freedave.models.reference_io import load_reference

        loaded = load_reference(path, opts)
    else:
        from freedave.models.hf import load_hf  # real checkpoints (LLaDA, Dream, SDAR/TraDo, ...)

        loaded = load_hf(path, raw, opts)
    if cache != "none":
        from freedave.models.approx_cache import with_approx_cache

        loaded.denoiser = with_approx_cache(loaded.denoiser, cache)
    if compile:
        from freedave.models.compiled import compile_denoiser

        loaded.compile_seconds = compile_denoiser(loaded.denoiser, device)
    return loaded


def check_compile(compile: bool, device: str, deterministic: bool, cache: str) -> None:  # noqa: A002
    """The one-line refusals of ``compile=True`` that need no compiler."""
    if not compile:
        return
    if cache != "none":
        raise OptionError(f"--compile works with --cache none only (the approximate caches run eager; got --cache {cache})")
    if deterministic and not str(device).startswith("cpu"):
        raise OptionError(
            f"--compile cannot be combined with --deterministic on {device}: compiled GPU kernels pick their "
            "reduction strategy by shape, so they are not batch-invariant (freedave check --compile says so)"
        )


def describe(loaded: Loaded) -> dict[str, Any]:
    """What a loaded model is: family, block size, special ids, size (``freedave info``)."""
    den, model = loaded.denoiser, loaded.model
    cfg = getattr(model, "config", None)
    files = [f for f in loaded.path.iterdir() if f.is_file()] if loaded.path.is_dir() else []
    return {
        "path": str(loaded.path),
        "family": loaded.family,
        "model_type": getattr(cfg, "model_type", None),
        "block_size": loaded.block_size,
        "block_layout": getattr(den, "block_layout", "prompt"),
        "mask_token_id": den.mask_id,
        "eos_token_id": getattr(den, "eos_id", None),
        "pad_token_id": getattr(den, "pad_id", None),
        "vocab_size": den.vocab_size,
        "parameters": sum(p.numel() for p in model.parameters()) if model is not None else None,
        "hidden_size": getattr(cfg, "hidden_size", None),
        "num_hidden_layers": getattr(cfg, "num_hidden_layers", None),
        "tokenizer": loaded.tokenizer is not None,
        "checkpoint_bytes": sum(f.stat().st_size for f in files),
    }
