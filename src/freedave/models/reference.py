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

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import PretrainedConfig, PreTrainedModel

from freedave.models.invariant import apply_rope, rope_tables, segments, tiled_linear, tiled_weight
from freedave.models.kv_cache import KVCache


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
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.rope_theta = rope_theta
        self.rms_norm_eps = rms_norm_eps
        self.block_size = block_size
        self.attention = attention
        self.shift_logits = shift_logits
        self.mask_token_id = mask_token_id
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
        r, n, d = h.shape
        a = F.rms_norm(h, (d,), self.attn_norm.weight, self.attn_norm.eps)
        out = tiled_weight(a, self.fused()[0]).view(r, n, 3, self.n_head, self.head_dim)
        qk = apply_rope(out[:, :, :2].transpose(1, 3), cos, sin)  # [R, H, 2, L, Dh]
        q, k = qk[:, :, 0], qk[:, :, 1]
        v = out[:, :, 2].transpose(1, 2)
        return q, k, v

    def finish(self, h: Tensor, attn: Tensor) -> Tensor:
        # attn: [R, H, L, Dh] -> residual + MLP
        r, _, n, _ = attn.shape
        h = h + tiled_linear(attn.transpose(1, 2).reshape(r, n, -1), self.o_proj)
        m = F.rms_norm(h, (h.shape[-1],), self.mlp_norm.weight, self.mlp_norm.eps)
        gate, up = tiled_weight(m, self.fused()[1]).chunk(2, dim=-1)
        return h + tiled_linear(F.silu(gate) * up, self.down_proj)


def _layer(
    layer: Block, h: Tensor, cos: Tensor, sin: Tensor, k_pre: Tensor | None, v_pre: Tensor | None, base: int,
    segs: list[tuple[int, int]],
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One layer over rows ``h`` holding positions ``base..``; every row also sees the shared keys
    ``k_pre``/``v_pre`` ``[1, H, base, Dh]`` (or none). Attention runs per segment ``(lo, hi)``:
    queries ``lo:hi`` see keys ``0:hi``. Returns the new ``h``, this call's keys and values, and all
    keys and values seen."""
    n = h.shape[0]
    q, k, v = layer.qkv(h, cos, sin)
    if k_pre is not None:
        k_all = torch.cat([k_pre.expand(n, -1, -1, -1), k], dim=2)
        v_all = torch.cat([v_pre.expand(n, -1, -1, -1), v], dim=2)
    else:
        k_all, v_all = k.contiguous(), v.contiguous()
    outs = [F.scaled_dot_product_attention(q[:, :, lo - base : hi - base], k_all[:, :, :hi], v_all[:, :, :hi])
            for lo, hi in segs]
    return layer.finish(h, torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]), k, v, k_all, v_all


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

    @staticmethod
    def _row_groups(stop: int, row_ends: Sequence[int] | None) -> list[tuple[Tensor | slice, int]]:
        """``(rows, stop)`` groups: rows that need logits up to the same position compute together."""
        if row_ends is None or min(row_ends) >= stop:
            return [(slice(None), stop)]
        by_end: dict[int, list[int]] = {}
        for i, e in enumerate(row_ends):
            by_end.setdefault(min(e, stop), []).append(i)
        return [(torch.tensor(rows), e) for e, rows in sorted(by_end.items(), reverse=True)]

    def segments(self, n: int, prompt_len: int, block_size: int) -> list[tuple[int, int]]:
        """Attention segments ``(lo, hi)``: queries ``lo:hi`` see keys ``0:hi``."""
        return segments(n, prompt_len, block_size, self.config.attention == "block")

    @torch.no_grad()
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
        full = self.config.attention == "full"
        shift = 1 if self.config.shift_logits else 0
        # Positions to compute: full attention needs the whole canvas; block-causal stops at `end`.
        stop = tokens.shape[1] if full else end
        past = 0 if (full or cache is None) else cache.length
        if past > start:
            raise ValueError(f"cache covers {past} positions, beyond the window start {start}")
        segs = [(lo, hi) for lo, hi in self.segments(stop, prompt_len, block_size) if hi > past]
        if segs and segs[0][0] < past:
            raise ValueError(f"cache length {past} is not on a block boundary")
        r = tokens.shape[0]
        # Block family, several rows: positions past..start (prompt and finished blocks not yet
        # cached) hold the same tokens in every row, so they run once, on row 0, and only the window
        # start..stop runs per row. Per-row results are unchanged: every op is batch-invariant.
        split = start if not (full or shift) and r > 1 else past
        cos, sin = self._rope(stop, tokens.device)
        shared = self.embed_tokens(tokens[:1, past:split]) if split > past else None
        # Row groups by how far each row needs logits (block-causal: a row's positions before its
        # end do not depend on the positions after it, so a short row simply stops earlier).
        groups = self._row_groups(stop, row_ends if split == start else None)
        hs = [self.embed_tokens(tokens[rows, split:gstop]) for rows, gstop in groups]
        shared_segs = [(lo, hi) for lo, hi in segs if hi <= split]
        own_segs = [(lo, hi) for lo, hi in segs if hi > split]
        new_keys: list[Tensor] = []
        new_values: list[Tensor] = []
        for i, layer in enumerate(self.layers):
            k_pre, v_pre = cache.layer(i) if past else (None, None)  # [1, H, past, Dh]: keys every row sees
            if shared is not None:
                shared, ks, vs, k_pre, v_pre = _layer(layer, shared, cos[past:split], sin[past:split], k_pre, v_pre,
                                                      past, shared_segs)
                if cache is not None and not full:
                    new_keys.append(ks.contiguous())
                    new_values.append(vs.contiguous())
            for g, (_rows, gstop) in enumerate(groups):
                segs_g = [(lo, min(hi, gstop)) for lo, hi in own_segs if lo < gstop]
                hs[g], k, v, _, _ = _layer(layer, hs[g], cos[split:gstop], sin[split:gstop], k_pre, v_pre, split, segs_g)
                if g == 0 and cache is not None and not full and start > split:  # finished blocks computed per row
                    new_keys.append(k[:1, :, : start - split].contiguous())
                    new_values.append(v[:1, :, : start - split].contiguous())
        lo = start - shift - split
        logits = None
        for (rows, gstop), h in zip(groups, hs, strict=True):
            hi = min(end, gstop) - shift - split
            hw = h[:, max(lo, 0) : hi]
            if lo < 0:  # shifted logits: position 0 keeps its own hidden state
                hw = torch.cat([h[:, :1], hw], dim=1)
            part = tiled_linear(self.norm(hw), self.lm_head)
            if len(groups) == 1:
                logits = part
            else:
                if logits is None:
                    logits = part.new_zeros(r, end - start, part.shape[-1])
                logits[rows, : part.shape[1]] = part
        if new_keys:
            cache.write(past, new_keys, new_values)
        return logits.float()
