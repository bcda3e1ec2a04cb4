"""Hugging Face checkpoints (LLaDA, Dream, SDAR/TraDo, plain Llama/Qwen2/Qwen3) as denoisers.

Loading reads ``config.json``, the safetensors weights (one file or shards listed in
``model.safetensors.index.json``), the tokenizer with its chat template, and
``generation_config.json``. It never unpickles (``*.bin`` weights are refused) and never imports a
checkpoint's Python code unless the explicit --trust-remote-code opt-in is given.

``HFDenoiser`` runs the library class's weights in a functional forward built like the reference
model's: attention one segment at a time over exactly the keys the segment may see, every linear
layer in fixed row tiles. So a row's logits do not depend on what else is in the batch, and the
block family's prefix KV cache is exact.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freedave.decoding.protocol import Query
from freedave.errors import DecodeError
from freedave.models.bundle import Loaded, LoadOptions
from freedave.models.checkpoint import find_eos_id, find_mask_id, load_tokenizer, read_json
from freedave.models.families import FAMILY_NAMES, Spec, find_spec
from freedave.models.forward import window_logits
from freedave.models.invariant import GPU_TILE, apply_rope, attend_rows, rope_from, tiled_linear
from freedave.models.kv_cache import KVCache

log = logging.getLogger("freedave")

class HFStack:
    """A Llama / Qwen2 / Qwen3 body as a ``models.stack.Stack``: the library class's weights in
    the batch-invariant functional forward (row-tiled linears; attention one row at a time on CPU
    and in deterministic mode, where the kernel would otherwise split its work by batch x heads).

    ``split_rows`` is False: every row computes every position it needs, as it always has here
    (off CPU without deterministic mode the forward is not batch-invariant, so rows must not be
    run apart)."""

    split_rows = False

    def __init__(self, model: nn.Module, family: str) -> None:
        cfg = model.config
        self.model, self.body = model, model.model
        self.layers = list(self.body.layers)
        self.n_layers = len(self.layers)
        self.block, self.shift = family == "block", int(family == "shifted")
        self.n_head = int(cfg.num_attention_heads)
        self.n_kv = int(getattr(cfg, "num_key_value_heads", None) or self.n_head)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_head)
        self.device = model.lm_head.weight.device
        rot = self.body.rotary_emb
        self.inv_freq = rot.inv_freq.detach().float().to(self.device)
        self.rope_scale = float(getattr(rot, "attention_scaling", 1.0))
        self.per_row, self.fixed = self.device.type == "cpu", 0  # see HFDenoiser.set_deterministic

    def embed(self, tokens: Tensor) -> Tensor:
        return self.body.embed_tokens(tokens.to(self.device))

    def rope(self, lo: int, hi: int) -> tuple[Tensor, Tensor]:
        return rope_from(self.inv_freq, lo, hi, self.rope_scale, self.body.embed_tokens.weight.dtype)

    def qkv(self, i: int, h: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.layer_qkv(self.layers[i], h, cos, sin)

    def layer_ops(self, i: int) -> tuple[tuple[Callable, tuple], tuple[Callable, tuple]]:
        """Layer ``i``'s ``qkv`` and ``finish`` as (function, leading arguments): the same function
        for every layer, so ``models.compiled`` traces each once."""
        layer = self.layers[i]
        return (HFStack.layer_qkv, (self, layer)), (HFStack.layer_finish, (self, layer))

    def layer_qkv(self, layer: nn.Module, h: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        attn = layer.self_attn
        r, n, _ = h.shape
        a = layer.input_layernorm(h)
        q = tiled_linear(a, attn.q_proj, self.fixed).view(r, n, self.n_head, self.head_dim)
        k = tiled_linear(a, attn.k_proj, self.fixed).view(r, n, self.n_kv, self.head_dim)
        v = tiled_linear(a, attn.v_proj, self.fixed).view(r, n, self.n_kv, self.head_dim)
        if hasattr(attn, "q_norm"):  # Qwen3: RMSNorm over each head before the rotation
            q, k = attn.q_norm(q), attn.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def heads(self, kv: Tensor) -> Tensor:
        groups = self.n_head // self.n_kv
        return kv.repeat_interleave(groups, dim=1) if groups > 1 else kv

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return attend_rows(q, k, v) if self.per_row else F.scaled_dot_product_attention(q, k, v)

    def finish(self, i: int, h: Tensor, attn: Tensor) -> Tensor:
        return self.layer_finish(self.layers[i], h, attn)

    def layer_finish(self, layer: nn.Module, h: Tensor, attn: Tensor) -> Tensor:
        r, _, n, _ = attn.shape
        h = h + tiled_linear(attn.transpose(1, 2).reshape(r, n, -1), layer.self_attn.o_proj, self.fixed)
        m = layer.post_attention_layernorm(h)
        mlp = layer.mlp
        gated = mlp.act_fn(tiled_linear(m, mlp.gate_proj, self.fixed)) * tiled_linear(m, mlp.up_proj, self.fixed)
        return h + tiled_linear(gated, mlp.down_proj, self.fixed)

    def head(self, h: Tensor) -> Tensor:
        return tiled_linear(self.body.norm(h), self.model.lm_head, self.fixed)


class HFDenoiser:
    """A Llama / Qwen2 / Qwen3 ``*ForCausalLM`` as a denoiser of one family.

    ``full``: one attention segment over the whole canvas. ``shifted``: the same, and position i
    reads the logits of hidden state i-1 (position 0 keeps its own). ``block``: each block of
    ``Query.block_size`` sees earlier blocks and itself; finished blocks' keys/values are cached
    exactly. Blocks are cut as ``Query.block_layout`` says; ``block_layout`` (what a decode uses
    when its config names none) is ``aligned`` for the block family, as SDAR/TraDo were trained and
    are decoded by their own code (blocks from position 0), and ``prompt`` for the others.
    """

    def __init__(
        self,
        model: nn.Module,
        family: str,
        *,
        mask_id: int,
        eos_id: int | None,
        use_cache: bool = True,
        deterministic: bool = False,
    ) -> None:
        if family not in FAMILY_NAMES:
            raise DecodeError(f"unknown family {family!r}; choose one of {', '.join(FAMILY_NAMES)}")
        self.model = model.eval()
        self.family = family
        self.mask_id = int(mask_id)
        self.eos_id = None if eos_id is None else int(eos_id)
        self.vocab_size = int(model.lm_head.weight.shape[0])
        self.max_length = int(getattr(model.config, "max_position_embeddings", 0)) or None
        self.use_cache = use_cache and family == "block"
        self.block_layout = "aligned" if family == "block" else "prompt"
        self.stack = HFStack(model, family)
        self.device = self.stack.device
        self.compiled_stack = None  # set by models.compiled (--compile)
        self.set_deterministic(deterministic)

    def stack_for_compile(self) -> HFStack:
        return self.stack

    def set_deterministic(self, on: bool) -> None:
        """Deterministic mode. On CPU the forward is batch-invariant either way (16-row tiles,
        attention one row at a time). On GPU it turns on what makes it so there: every linear layer
        in chunks of exactly ``GPU_TILE`` rows, attention per row on one fixed SDPA kernel, no TF32,
        deterministic algorithms. Cost: more, smaller kernel launches per forward."""
        self.deterministic = bool(on)
        self.stack.per_row = self.deterministic or self.device.type == "cpu"
        self.stack.fixed = GPU_TILE if (self.deterministic and self.device.type != "cpu") else 0
        if self.deterministic:
            set_deterministic(str(self.device))

    def new_cache(self) -> Any:
        return KVCache() if self.use_cache else None

    def logits(self, queries: Sequence[Query]) -> list[Tensor]:
        with attention_backend(self.device, self.deterministic):
            stack = self.compiled_stack or self.stack
            return [window_logits(stack, q, q.cache) for q in queries]

    def window_logits(
        self, tokens: Tensor, prompt_len: int, block_size: int, start: int, end: int, cache: KVCache | None = None,
        block_layout: str | None = None,
    ) -> Tensor:  # [R, end - start, V] float32
        """Logits of positions ``start:end`` of every row (see ``models.forward``); the blocks
        are cut as ``block_layout`` says (default: this denoiser's own)."""
        q = Query(tokens, prompt_len, block_size, start, end, block_layout=block_layout or self.block_layout)
        return window_logits(self.stack, q, cache)


def attention_backend(device: torch.device, deterministic: bool):  # noqa: ANN201
    """On CUDA in deterministic mode: one fixed SDPA kernel (memory-efficient attention)."""
    if not (deterministic and device.type == "cuda"):
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION])


def set_deterministic(device: str) -> None:
    """Settings that make GPU arithmetic repeatable: no TF32, deterministic cuBLAS/cuDNN."""
    if not str(device).startswith("cuda"):
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    torch.use_deterministic_algorithms(True, warn_only=True)


# ---------------------------------------------------------------------------------------------
# Reading a checkpoint folder


def weight_files(path: Path) -> list[Path]:
    """The safetensors files of a checkpoint; refuses pickles."""
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, json.JSONDecodeError, KeyError, AttributeError) as e:
            raise DecodeError(f"cannot read {index}: {type(e).__name__}") from None
        files = [path / n for n in names]
        for f in files:
            if not f.is_file():
                raise DecodeError(f"{index} lists {f.name}, which is missing")
        return files
    single = path / "model.safetensors"
    if single.is_file():
        return [single]
    shards = sorted(path.glob("*.safetensors"))
    if shards:
        return shards
    if list(path.glob("*.bin")) or list(path.glob("*.pt")) or list(path.glob("*.pth")):
        raise DecodeError(f"{path} has only pickle weights (.bin/.pt); freedave loads safetensors only, convert them first")
    raise DecodeError(f"{path} has no safetensors weights")


def read_weights(path: Path, spec: Spec, device: str, dtype: torch.dtype) -> dict[str, Tensor]:
    """All tensors, renamed to the library class's names and cast to ``dtype`` on ``device``."""
    from safetensors import safe_open

    state: dict[str, Tensor] = {}
    for f in weight_files(path):
        try:
            with safe_open(str(f), framework="pt", device="cpu") as fh:
                for name in fh.keys():  # noqa: SIM118 (safe_open is not a dict)
                    new = spec.rename(name)
                    if new is None:
                        continue
                    t = fh.get_tensor(name)
                    state[new] = t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)
        except DecodeError:
            raise
        except Exception as e:  # corrupt or truncated file
            raise DecodeError(f"cannot read {f}: corrupt or truncated safetensors file ({type(e).__name__})") from None
    return state


def library_class(arch: str):  # noqa: ANN201
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
        Qwen3Config,
        Qwen3ForCausalLM,
    )

    return {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "qwen3": (Qwen3Config, Qwen3ForCausalLM),
    }[arch]


def build_model(path: Path, raw: dict, spec: Spec, device: str, dtype: torch.dtype) -> nn.Module:
    """The library class with the checkpoint's weights; every tensor checked by name and shape."""
    config_cls, model_cls = library_class(spec.arch)
    config = config_cls(**spec.config(raw))
    config._attn_implementation = "sdpa"
    with torch.device("meta"):
        model = model_cls(config)
    expected = {k: v for k, v in model.state_dict().items()}
    state = read_weights(path, spec, device, dtype)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    if tied and "lm_head.weight" not in state and "model.embed_tokens.weight" in state:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    for name, t in expected.items():
        if name not in state:
            raise DecodeError(f"{path}: missing tensor {checkpoint_name(spec, name)!r}")
        if tuple(state[name].shape) != tuple(t.shape):
            raise DecodeError(
                f"{path}: tensor {checkpoint_name(spec, name)!r} has shape {tuple(state[name].shape)}, "
                f"the config implies {tuple(t.shape)}"
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise DecodeError(f"{path}: unexpected tensor {checkpoint_name(spec, extra[0])!r}")
    model.load_state_dict(state, strict=True, assign=True)
    if tied:
        model.lm_head.weight = model.model.embed_tokens.weight
    rot = model.model.rotary_emb  # non-persistent buffers: rebuild them on the real device
    model.model.rotary_emb = type(rot)(config=config).to(device)
    return model.eval()


def checkpoint_name(spec: Spec, library_name: str) -> str:
    """The name a library tensor has in the checkpoint (for error messages)."""
    if spec.name != "llada":
        return library_name
    from freedave.models.families import LLADA_BLOCK, LLADA_TOP

    stem, kind = library_name.rsplit(".", 1)
    for old, new in LLADA_TOP.items():
        if stem == new:
            return f"model.transformer.{old}.{kind}"
    parts = stem.split(".", 3)  # model.layers.N.rest
    if len(parts) == 4:
        for old, new in LLADA_BLOCK.items():
            if parts[3] == new:
                return f"model.transformer.blocks.{parts[2]}.{old}.{kind}"
    return library_name


# ---------------------------------------------------------------------------------------------


def load_hf(path: Path, raw: dict, opts: LoadOptions) -> Loaded:
    """Open a local Hugging Face checkpoint folder (its ``config.json`` read as ``raw``) as a ``Loaded`` bundle."""
    family, device, dtype, mask_token_id = opts.family, opts.device, opts.dtype, opts.mask_token_id
    check_device(device, dtype)
    spec = find_spec(raw)
    if spec is None:
        if not opts.trust_remote_code:
            kind = raw.get("model_type") or (raw.get("architectures") or ["?"])[0]
            raise DecodeError(
                f"{path}: model type {kind!r} has no built-in adapter (LLaDA, Dream, SDAR/TraDo, Llama, Qwen2, Qwen3); "
                "pass --trust-remote-code to run the checkpoint's own code"
            )
        from freedave.models.remote import load_remote

        return load_remote(path, raw, family=family, device=device, dtype=dtype, mask_token_id=mask_token_id,
                           trust_remote_code=opts.trust_remote_code)
    fam = family or spec.family
    if fam is None:
        raise DecodeError(f"{path} is a plain {spec.arch} causal LM; pass --family full|shifted|block")
    tokenizer = load_tokenizer(path, trust_remote_code=False)  # native path: never remote code
    generation = read_json(path / "generation_config.json")
    mask_id = find_mask_id(path, raw, tokenizer, mask_token_id)
    eos_id = find_eos_id(raw, generation, tokenizer)
    model = build_model(path, raw, spec, device, dtype)
    den = HFDenoiser(model, fam, mask_id=mask_id, eos_id=eos_id, use_cache=opts.use_cache, deterministic=opts.deterministic)
    if not 0 <= mask_id < den.vocab_size:
        raise DecodeError(f"mask token id {mask_id} is outside the vocabulary (size {den.vocab_size}); check --mask-token-id")
    block_size = raw.get("block_size") if fam == "block" else None
    log.info("loaded %s as %s (%s family) on %s/%s", path, spec.name, fam, device, dtype)
    return Loaded(den, tokenizer, path, fam, block_size=None if block_size is None else int(block_size), model=model)


def check_device(device: str, dtype: torch.dtype) -> None:
    kind = str(device).split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise DecodeError("--device cuda: no CUDA device is available")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise DecodeError("--device mps: no MPS device is available")
    if kind not in ("cpu", "cuda", "mps"):
        raise DecodeError(f"unknown device {device!r}; choose cpu, cuda or mps")
