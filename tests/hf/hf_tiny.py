"""Tiny Hugging Face checkpoints built inside the tests: plain Llama/Qwen2/Qwen3, and LLaDA, Dream
and SDAR folders written with those models' own config keys and weight names."""

from __future__ import annotations

import json
from pathlib import Path

import torch

VOCAB = 128
MASK, EOS, PAD, BOS = 3, 2, 0, 1
SPECIALS = ["<pad>", "<bos>", "<eos>", "<mask>"]
SENTINEL = "FREEDAVE_REMOTE_CODE_RAN"
CHAT = "{% for m in messages %}t5 {{ m['content'] }} t6 {% endfor %}{% if add_generation_prompt %}t7{% endif %}"


def dims(arch: str) -> dict:
    base = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rope_theta=10000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        eos_token_id=EOS,
        pad_token_id=PAD,
        bos_token_id=BOS,
    )
    if arch == "qwen3":
        base["head_dim"] = 8
    return base


def library_model(arch: str, seed: int = 0, std: float = 0.15):
    """A tiny random ``*ForCausalLM`` with weights large enough for confident predictions."""
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
        Qwen3Config,
        Qwen3ForCausalLM,
    )

    cfg_cls, cls = {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "qwen3": (Qwen3Config, Qwen3ForCausalLM),
    }[arch]
    config = cfg_cls(**dims(arch))
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    model = cls(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(std * torch.randn_like(p))
    return model.eval()


def save_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS)} | {f"t{i}": i for i in range(len(SPECIALS), VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", mask_token="<mask>"
    )
    fast.chat_template = CHAT
    fast.save_pretrained(str(path))
    cfg_path = path / "tokenizer_config.json"  # keep the word-level model whatever the config says
    cfg = json.loads(cfg_path.read_text()) | {"tokenizer_class": "PreTrainedTokenizerFast"}
    cfg_path.write_text(json.dumps(cfg, indent=2))


def save_plain(path: Path, arch: str, seed: int = 0) -> Path:
    """A plain causal-LM checkpoint of ``arch`` (config has a mask id so it can decode)."""
    model = library_model(arch, seed)
    model.config.mask_token_id = MASK
    model.save_pretrained(str(path))
    save_tokenizer(path)
    return path


def write_remote_code(path: Path, module: str) -> None:
    """A modeling file that leaves a mark if anything ever imports it."""
    (path / f"{module}.py").write_text(
        "import os, pathlib\n"
        f"pathlib.Path(os.path.dirname(__file__), {SENTINEL!r}).write_text('imported')\n"
        "raise RuntimeError('remote code executed')\n"
    )


def save_llada(path: Path, seed: int = 0, model: torch.nn.Module | None = None) -> tuple[Path, torch.nn.Module]:
    """LLaDA's published layout: OLMo-style config keys, ``model.transformer.*`` weight names
    (of ``model``, a ``LlamaForCausalLM`` of ``dims("llama")``; default: ``library_model``)."""
    from safetensors.torch import save_file

    model = model if model is not None else library_model("llama", seed)
    back = {
        "input_layernorm": "attn_norm",
        "self_attn.q_proj": "q_proj",
        "self_attn.k_proj": "k_proj",
        "self_attn.v_proj": "v_proj",
        "self_attn.o_proj": "attn_out",
        "post_attention_layernorm": "ff_norm",
        "mlp.gate_proj": "ff_proj",
        "mlp.up_proj": "up_proj",
        "mlp.down_proj": "ff_out",
    }
    state = {}
    for name, t in model.state_dict().items():
        if name == "model.embed_tokens.weight":
            new = "model.transformer.wte.weight"
        elif name == "model.norm.weight":
            new = "model.transformer.ln_f.weight"
        elif name == "lm_head.weight":
            new = "model.transformer.ff_out.weight"
        else:
            _, _, n, rest = name.split(".", 3)
            stem, kind = rest.rsplit(".", 1)
            new = f"model.transformer.blocks.{n}.{back[stem]}.{kind}"
        state[new] = t.contiguous()
    path.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["LLaDAModelLM"],
        "auto_map": {"AutoConfig": "configuration_llada.LLaDAConfig", "AutoModel": "modeling_llada.LLaDAModelLM"},
        "model_type": "llada",
        "activation_type": "silu",
        "block_type": "llama",
        "layer_norm_type": "rms",
        "alibi": False,
        "rope": True,
        "weight_tying": False,
        "include_bias": False,
        "d_model": 32,
        "n_layers": 2,
        "n_heads": 4,
        "n_kv_heads": 2,
        "mlp_hidden_size": 64,
        "mlp_ratio": 2,
        "max_sequence_length": 256,
        "rope_theta": 10000.0,
        "rms_norm_eps": 1e-6,
        "vocab_size": VOCAB,
        "embedding_size": VOCAB,
        "mask_token_id": MASK,
        "eos_token_id": EOS,
        "pad_token_id": PAD,
    }
    (path / "config.json").write_text(json.dumps(config, indent=2))
    write_remote_code(path, "modeling_llada")
    write_remote_code(path, "configuration_llada")
    save_tokenizer(path)
    return path, model


def save_qwen_family(
    path: Path, kind: str, seed: int = 0, model: torch.nn.Module | None = None, std: float = 0.15
) -> tuple[Path, torch.nn.Module]:
    """Dream (Qwen2 names, ``model_type="Dream"``) or SDAR (Qwen3 names, ``model_type="sdar"``)."""
    arch = "qwen2" if kind == "dream" else "qwen3"
    model = model if model is not None else library_model(arch, seed, std)
    model.save_pretrained(str(path))
    config = json.loads((path / "config.json").read_text())
    if kind == "dream":
        config |= {"model_type": "Dream", "architectures": ["DreamModel"],
                   "auto_map": {"AutoConfig": "configuration_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"}}
        write_remote_code(path, "modeling_dream")
    else:
        config |= {"model_type": "sdar", "architectures": ["SDARForCausalLM"], "block_size": 4,
                   "auto_map": {"AutoConfig": "configuration_sdar.SDARConfig", "AutoModelForCausalLM": "modeling_sdar.SDARForCausalLM"}}
        write_remote_code(path, "modeling_sdar")
    config["mask_token_id"] = MASK
    (path / "config.json").write_text(json.dumps(config, indent=2))
    save_tokenizer(path)
    return path, model


def block_mask(n: int, prompt_len: int, block: int, aligned: bool = False) -> torch.Tensor:
    """[n, n] bool: each block sees everything before it. ``aligned``: blocks from position 0
    (SDAR/TraDo); else the prompt is one bidirectional segment and blocks start at its end."""
    seg = torch.zeros(n, dtype=torch.long)
    for i in range(n):
        seg[i] = i // block if aligned else (0 if i < prompt_len else 1 + (i - prompt_len) // block)
    return seg[None, :] <= seg[:, None]
