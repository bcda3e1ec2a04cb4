"""Loading the reference architecture from a checkpoint folder (config + safetensors + tokenizer)."""

from __future__ import annotations

from pathlib import Path

from freedave.errors import DecodeError
from freedave.models.adapters import ReferenceDenoiser
from freedave.models.bundle import REFERENCE_PATH, Loaded, LoadOptions, read_config
from freedave.models.reference import ReferenceConfig, ReferenceModel


def load_reference(path: Path, opts: LoadOptions) -> Loaded:
    """The bundled architecture from ``path`` (``opts.trust_remote_code``/``deterministic`` do not apply)."""
    family, device, dtype, mask_token_id = opts.family, opts.device, opts.dtype, opts.mask_token_id
    raw = read_config(path)
    if raw.get("mask_token_id") is None and mask_token_id is None:
        raise DecodeError(f"{path / 'config.json'} has no mask_token_id; pass --mask-token-id")
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise DecodeError(f"{path} has no model.safetensors (weights load from safetensors only)")
    try:
        from safetensors.torch import load_file

        state = load_file(str(weights))
    except Exception as e:  # corrupt or truncated file
        raise DecodeError(f"cannot read {weights}: corrupt or truncated safetensors file ({type(e).__name__})") from None
    config = ReferenceConfig(**{k: v for k, v in raw.items() if k not in ("model_type", "architectures", "transformers_version")})
    if mask_token_id is not None:
        config.mask_token_id = mask_token_id
    model = ReferenceModel(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        name = (missing or unexpected)[0]
        raise DecodeError(f"{weights}: {'missing' if missing else 'unexpected'} tensor {name!r}")
    model = model.to(device=device, dtype=dtype).eval()
    tokenizer = None
    if (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path))
        except Exception as e:
            raise DecodeError(f"cannot load the tokenizer in {path}: {type(e).__name__}") from None
    if tokenizer is None and path.resolve() == REFERENCE_PATH.resolve():
        raise DecodeError(f"the bundled checkpoint {path} has no tokenizer files; reinstall freedave")
    den = ReferenceDenoiser(model, use_cache=opts.use_cache)
    if family is not None and family != den.family:
        raise DecodeError(f"{path} is a {den.family!r} model; it cannot run as --family {family}")
    return Loaded(den, tokenizer, path, den.family, block_size=config.block_size, model=model)
