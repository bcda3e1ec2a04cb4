"""The bundled reference architecture: a small diffusion transformer in three attention families.

``attention="block"`` is a block-diffusion transformer (SDAR/TraDo shape): the prompt is one
bidirectional prefix, the response is cut into blocks; a block attends to the prompt, all earlier
blocks and itself. ``attention="full"`` is LLaDA-style bidirectional attention over the whole
canvas, and ``shift_logits=True`` gives Dream-style shifted logits (position i reads the hidden
state of i - 1).

Inference (``window_logits``) computes attention one segment at a time over exactly the keys that
segment may see, and every linear layer in fixed-shape row tiles, so a row's logits are bit-for-bit
the same whatever else is in the batch, and an exact prefix KV cache gives bit-for-bit the logits
of the uncached forward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import PretrainedConfig, PreTrainedModel

from freedave.decoding.protocol import Query
from freedave.models.forward import window_logits
from freedave.models.invariant import apply_rope, rope_tables, tiled_linear, tiled_weight
from freedave.models.kv_cache import KVCache

OWN_FIELDS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "max_position_embeddings", "rope_theta", "rms_norm_eps", "block_size", "attention", "shift_logits",
    "mask_token_id",
)  # ReferenceConfig's own settings; the special token ids go to PretrainedConfig


class ReferenceConfig(PretrainedConfig):
    model_type = "freedave_reference"

    def __init__(
        self,
        vocab_size: int = 288,
        hidden_size: int = 128,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        intermediate_size: int = 384,
        max_position_embeddings: int = 512,
        rope_theta: float = 10000.0,
        rms_norm_eps: float = 1e-5,
        block_size: int = 8,
        attention: str = "block",
        shift_logits: bool = False,
        mask_token_id: int | None = 3,
        eos_token_id: int | None = 2,
        pad_token_id: int | None = 0,
        bos_token_id: int | None = 1,
        **kwargs,
    ) -> None:
        if attention not in ("block", "full"):
            raise ValueError(f"attention must be 'block' or 'full' (got {attention!r})")
        given = locals()
        for name in OWN_FIELDS:  # in this order (it is the order config.json lists them in)
            setattr(self, name, given[name])
        super().__init__(
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            bos_token_id=bos_token_id,
            **kwargs,
        )


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


class Block(nn.Module):
    def __init__(self, cfg: ReferenceConfig) -> None:
        super().__init__()
        d, h = cfg.hidden_size, cfg.num_attention_heads
        self.n_head, self.head_dim = h, d // h
        self.attn_norm = RMSNorm(d, cfg.rms_norm_eps)
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.mlp_norm = RMSNorm(d, cfg.rms_norm_eps)
        self.gate_proj = nn.Linear(d, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(d, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, d, bias=False)

    def heads(self, x: Tensor) -> Tensor:  # [R, L, D] -> [R, H, L, Dh]
        r, n, _ = x.shape
        return x.view(r, n, self.n_head, self.head_dim).transpose(1, 2)

    def fused(self) -> tuple[Tensor, Tensor]:
        """Inference weights: q|k|v and gate|up stacked, so each is one GEMM. Rebuilt whenever a
        parameter changes (training) - keyed on the parameters' storage and version counters."""
        params = (self.q_proj.weight, self.k_proj.weight, self.v_proj.weight, self.gate_proj.weight, self.up_proj.weight)
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
        if getattr(self, "_fused_key", None) != key:
            with torch.no_grad():
                self._fused = (
                    torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]).contiguous(),
                    torch.cat([self.gate_proj.weight, self.up_proj.weight]).contiguous(),
                )
            self._fused_key = key
        return self._fused

    def qkv(self, h: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.qkv_with(self.fused()[0], h, cos, sin)

    def qkv_with(self, w_qkv: Tensor, h: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``qkv`` with the fused q|k|v weight given (a pure function of tensors: what
        ``models.compiled`` compiles once for every layer)."""
        r, n, d = h.shape
        a = F.rms_norm(h, (d,), self.attn_norm.weight, self.attn_norm.eps)
        out = tiled_weight(a, w_qkv).view(r, n, 3, self.n_head, self.head_dim)
        qk = apply_rope(out[:, :, :2].transpose(1, 3), cos, sin)  # [R, H, 2, L, Dh]
        q, k = qk[:, :, 0], qk[:, :, 1]
        v = out[:, :, 2].transpose(1, 2)
        return q, k, v

    def finish(self, h: Tensor, attn: Tensor) -> Tensor:
        return self.finish_with(self.fused()[1], h, attn)

    def finish_with(self, w_gate_up: Tensor, h: Tensor, attn: Tensor) -> Tensor:
        """``finish`` with the fused gate|up weight given. attn: [R, H, L, Dh] -> residual + MLP."""
        r, _, n, _ = attn.shape
        h = h + tiled_linear(attn.transpose(1, 2).reshape(r, n, -1), self.o_proj)
        m = F.rms_norm(h, (h.shape[-1],), self.mlp_norm.weight, self.mlp_norm.eps)
        gate, up = tiled_weight(m, w_gate_up).chunk(2, dim=-1)
        return h + tiled_linear(F.silu(gate) * up, self.down_proj)


class ReferenceModel(PreTrainedModel):
    config_class = ReferenceConfig
    base_model_prefix = "freedave_reference"
    main_input_name = "input_ids"

    def __init__(self, config: ReferenceConfig) -> None:
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)

    # ----------------------------------------------------------------------------------------
    # Training / plain HF forward: dense attention mask over the given sequence.
    def forward(
        self,
        input_ids: Tensor,  # [B, L]
        attn_mask: Tensor | None = None,  # [L, L] or [B, 1, L, L] bool, True = may attend
        position_ids: Tensor | None = None,  # [L]
        **_: object,
    ) -> Tensor:
        n = input_ids.shape[1]
        pos = position_ids if position_ids is not None else torch.arange(n, device=input_ids.device)
        cos, sin = rope_tables(int(pos.max()) + 1, self.layers[0].head_dim, self.config.rope_theta, input_ids.device)
        cos, sin = cos[pos], sin[pos]
        h = self.embed_tokens(input_ids)
        for layer in self.layers:
            a = layer.attn_norm(h)
            q = apply_rope(layer.heads(layer.q_proj(a)), cos, sin)
            k = apply_rope(layer.heads(layer.k_proj(a)), cos, sin)
            v = layer.heads(layer.v_proj(a))
            attn = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
            r = attn.shape[0]
            h = h + layer.o_proj(attn.transpose(1, 2).reshape(r, n, -1))
            m = layer.mlp_norm(h)
            h = h + layer.down_proj(F.silu(layer.gate_proj(m)) * layer.up_proj(m))
        logits = self.lm_head(self.norm(h))
        if self.config.shift_logits:
            logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        return logits

    # ----------------------------------------------------------------------------------------
    # Exact, batch-invariant inference over a window, with an optional prefix KV cache.
    def _rope(self, n: int, device: torch.device) -> tuple[Tensor, Tensor]:
        cached = getattr(self, "_rope_cache", None)
        if cached is None or cached[0].shape[0] < n or cached[0].device != device:
            size = max(n, self.config.max_position_embeddings)
            cos, sin = rope_tables(size, self.layers[0].head_dim, self.config.rope_theta, device)
            self._rope_cache = (cos.to(self.dtype), sin.to(self.dtype))
        cos, sin = self._rope_cache
        return cos[:n], sin[:n]

    def stack(self) -> ReferenceStack:
        return ReferenceStack(self)

    def window_logits(
        self,
        tokens: Tensor,  # [R, L]
        prompt_len: int,
        block_size: int,
        start: int,
        end: int,
        cache: KVCache | None = None,
        row_ends: Sequence[int] | None = None,
    ) -> Tensor:  # [R, end - start, V]
        """Exact, batch-invariant logits of positions ``start:end`` (see ``models.forward``)."""
        ends = None if row_ends is None else tuple(row_ends)
        return window_logits(self.stack(), Query(tokens, prompt_len, block_size, start, end, None, ends), cache)


class ReferenceStack:
    """``ReferenceModel``'s layers as a ``models.stack.Stack``: fused q|k|v and gate|up GEMMs in
    row tiles, attention over all rows of a segment at once."""

    split_rows = True

    def __init__(self, model: ReferenceModel) -> None:
        self.model = model
        self.layers = model.layers
        self.n_layers = len(model.layers)
        self.block = model.config.attention == "block"
        self.shift = 1 if model.config.shift_logits else 0

    def embed(self, tokens: Tensor) -> Tensor:
        return self.model.embed_tokens(tokens)

    def rope(self, lo: int, hi: int) -> tuple[Tensor, Tensor]:
        cos, sin = self.model._rope(hi, self.model.embed_tokens.weight.device)
        return cos[lo:hi], sin[lo:hi]

    def qkv(self, i: int, h: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.layers[i].qkv(h, cos, sin)

    def layer_ops(self, i: int) -> tuple[tuple[Callable, tuple], tuple[Callable, tuple]]:
        """Layer ``i``'s ``qkv`` and ``finish`` as (function, leading arguments): the same function
        for every layer, so ``models.compiled`` traces each once (the fused weights are read here,
        outside the compiled code)."""
        layer = self.layers[i]
        w_qkv, w_mlp = layer.fused()
        return (Block.qkv_with, (layer, w_qkv)), (Block.finish_with, (layer, w_mlp))

    def heads(self, kv: Tensor) -> Tensor:
        return kv

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return F.scaled_dot_product_attention(q, k, v)

    def finish(self, i: int, h: Tensor, attn: Tensor) -> Tensor:
        return self.layers[i].finish(h, attn)

    def head(self, h: Tensor) -> Tensor:
        return tiled_linear(self.model.norm(h), self.model.lm_head)
