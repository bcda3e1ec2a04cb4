"""Which library class runs a checkpoint, with which attention family, under which weight names.

LLaDA, Dream and SDAR/TraDo publish their modeling code as remote code; freedave never runs it.
Each is, numerically, an architecture transformers already ships:

- **LLaDA** (``model_type="llada"``, ``LLaDAModelLM``): a Llama block without biases (OLMo-style
  config keys and weight names), bidirectional, logits not shifted. Runs on ``LlamaForCausalLM``.
- **Dream** (``model_type="Dream"``, ``DreamModel``): Qwen2 weights and config keys, bidirectional,
  logits shifted right by one. Runs on ``Qwen2ForCausalLM``.
- **SDAR / TraDo** (``model_type="sdar"``, ``SDARForCausalLM``): Qwen3 weights and config keys
  (q/k norms, GQA), block-causal attention with ``block_size`` from the config. Runs on
  ``Qwen3ForCausalLM``.

Plain ``llama`` / ``qwen2`` / ``qwen3`` checkpoints run on their own class as any family
(``--family`` then has to be given).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from freedave.errors import DecodeError

ARCHS = ("llama", "qwen2", "qwen3")
FAMILY_NAMES = ("full", "shifted", "block")


@dataclass(frozen=True)
class Spec:
    """How to run one kind of checkpoint without its own code."""

    name: str  # "llada" | "dream" | "sdar" | "llama" | "qwen2" | "qwen3"
    arch: str  # the transformers architecture that runs it: one of ARCHS
    family: str | None  # the attention family it was trained with (None: plain causal LM)
    config: Callable[[dict], dict]  # raw config.json -> kwargs of the arch's config class
    rename: Callable[[str], str | None]  # checkpoint tensor name -> library name (None: ignore)


# ---------------------------------------------------------------------------------------------
# Config translation


def same_config(raw: dict) -> dict:
    drop = ("model_type", "architectures", "auto_map", "transformers_version", "torch_dtype", "dtype")
    return {k: v for k, v in raw.items() if k not in drop}


def llada_config(raw: dict) -> dict:
    """LLaDA (OLMo-style) config keys -> ``LlamaConfig`` kwargs; refuse options Llama cannot express."""
    checks = {
        "activation_type": ("silu", "swiglu"),
        "block_type": ("llama",),
        "layer_norm_type": ("rms",),
        "alibi": (False,),
        "rope": (True,),
        "input_emb_norm": (False,),
        "attention_layer_norm": (False,),
        "multi_query_attention": (None, False),
        "clip_qkv": (None,),
        "scale_logits": (False,),
    }
    for key, ok in checks.items():
        if key in raw and raw[key] not in ok:
            raise DecodeError(f"LLaDA config {key}={raw[key]!r} is not supported without remote code (expected {ok[0]!r})")
    missing = [k for k in ("d_model", "n_layers", "n_heads") if k not in raw]
    if missing:
        raise DecodeError(f"LLaDA config.json lacks {missing[0]!r}")
    d, heads = int(raw["d_model"]), int(raw["n_heads"])
    hidden = raw.get("mlp_hidden_size") or int(raw.get("mlp_ratio", 4)) * d
    bias = bool(raw.get("include_bias", False))
    eos = raw.get("eos_token_id")
    return {
        "hidden_size": d,
        "num_hidden_layers": int(raw["n_layers"]),
        "num_attention_heads": heads,
        "num_key_value_heads": int(raw.get("n_kv_heads") or heads),
        "intermediate_size": int(hidden),
        "vocab_size": int(raw.get("embedding_size") or raw["vocab_size"]),
        "max_position_embeddings": int(raw.get("max_sequence_length", 4096)),
        "rope_theta": float(raw.get("rope_theta", 10000.0)),
        "rms_norm_eps": float(raw.get("rms_norm_eps", 1e-5)),
        "attention_bias": bias,
        "mlp_bias": bias,
        "hidden_act": "silu",
        "tie_word_embeddings": bool(raw.get("weight_tying", False)),
        "mask_token_id": raw.get("mask_token_id"),
        "eos_token_id": eos,
        "pad_token_id": raw.get("pad_token_id"),
        "bos_token_id": raw.get("bos_token_id"),
    }


# ---------------------------------------------------------------------------------------------
# Weight renaming

LLADA_BLOCK = {
    "attn_norm": "input_layernorm",
    "q_proj": "self_attn.q_proj",
    "k_proj": "self_attn.k_proj",
    "v_proj": "self_attn.v_proj",
    "attn_out": "self_attn.o_proj",
    "ff_norm": "post_attention_layernorm",
    "ff_proj": "mlp.gate_proj",  # LLaDA's LLaMA block: act(ff_proj(x)) * up_proj(x) -> ff_out
    "up_proj": "mlp.up_proj",
    "ff_out": "mlp.down_proj",
}
LLADA_TOP = {"wte": "model.embed_tokens", "ln_f": "model.norm", "ff_out": "lm_head"}
LLADA_RE = re.compile(r"^model\.transformer\.(?:blocks\.(\d+)\.)?([a-z_]+)\.(weight|bias)$")


def llada_name(name: str) -> str | None:
    m = LLADA_RE.match(name)
    if m is None:
        raise DecodeError(f"unexpected tensor {name!r} in a LLaDA checkpoint")
    layer, part, kind = m.groups()
    table = LLADA_TOP if layer is None else LLADA_BLOCK
    if part not in table:
        raise DecodeError(f"unexpected tensor {name!r} in a LLaDA checkpoint")
    prefix = "" if layer is None else f"model.layers.{layer}."
    return f"{prefix}{table[part]}.{kind}"


def same_name(name: str) -> str | None:
    """Dream and SDAR/TraDo already use the Qwen2/Qwen3 names; rotary buffers are recomputed."""
    return None if name.endswith("rotary_emb.inv_freq") else name


SPECS = {
    "llada": Spec("llada", "llama", "full", llada_config, llada_name),
    "dream": Spec("dream", "qwen2", "shifted", same_config, same_name),
    "sdar": Spec("sdar", "qwen3", "block", same_config, same_name),
    "llama": Spec("llama", "llama", None, same_config, same_name),
    "qwen2": Spec("qwen2", "qwen2", None, same_config, same_name),
    "qwen3": Spec("qwen3", "qwen3", None, same_config, same_name),
}
ARCHITECTURES = {
    "LLaDAModelLM": "llada",
    "DreamModel": "dream",
    "SDARForCausalLM": "sdar",
    "LlamaForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
}
MODEL_TYPES = {"llada": "llada", "dream": "dream", "sdar": "sdar", "trado": "sdar", "llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}


def find_spec(raw: dict) -> Spec | None:
    """The spec for a raw config.json, from ``model_type`` first, then ``architectures``."""
    key = MODEL_TYPES.get(str(raw.get("model_type", "")).lower())
    if key is None:
        for arch in raw.get("architectures") or []:
            key = ARCHITECTURES.get(arch)
            if key:
                break
    return SPECS.get(key) if key else None
