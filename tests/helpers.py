"""Tiny models and checkpoints built inside the tests (no downloads)."""

from __future__ import annotations

import functools
import string
from pathlib import Path

import torch
from hypothesis import strategies as st

from freedave.decoding.config import Sampling
from freedave.models.adapters import ReferenceDenoiser
from freedave.models.reference import ReferenceConfig, ReferenceModel

FAMILIES = {"block": ("block", False), "full": ("full", False), "shifted": ("full", True)}
CHARS = string.ascii_letters + string.digits + " +-*=,.:;()[]"
SPECIALS = ["<pad>", "<bos>", "<eos>", "<mask>"]
VOCAB = 32  # tiny_denoiser's default vocabulary

# hypothesis strategies shared by the lossless property tests
sampling_st = st.one_of(
    st.just(Sampling()),
    st.just(Sampling(confidence="renormalized")),
    st.builds(
        Sampling,
        temperature=st.sampled_from([0.3, 0.7, 1.0, 1.5]),
        top_k=st.sampled_from([0, 1, 3, 8]),
        top_p=st.sampled_from([1.0, 0.9, 0.5]),
        seed=st.integers(0, 2**40),
        confidence=st.sampled_from(["full", "renormalized"]),
    ),
)
prompt_st = st.lists(st.integers(4, VOCAB - 1), min_size=1, max_size=9)


def tiny_config(family: str = "block", vocab: int = 32, max_len: int = 256, **kw) -> ReferenceConfig:
    attention, shift = FAMILIES[family]
    base = dict(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_len,
        block_size=4,
        attention=attention,
        shift_logits=shift,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        mask_token_id=3,
    )
    base.update(kw)
    return ReferenceConfig(**base)


@functools.lru_cache(maxsize=64)
def tiny_model(family: str = "block", seed: int = 0, vocab: int = 32, std: float = 0.4) -> ReferenceModel:
    """A random tiny transformer; larger-than-usual weights give peaked, varied predictions."""
    torch.manual_seed(seed)
    model = ReferenceModel(tiny_config(family, vocab))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, std)
    return model.eval()


def tiny_denoiser(family: str = "block", seed: int = 0, vocab: int = 32, use_cache: bool = True) -> ReferenceDenoiser:
    return ReferenceDenoiser(tiny_model(family, seed, vocab), use_cache=use_cache)


def save_tokenizer(path: Path) -> None:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + list(CHARS))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>", mask_token="<mask>"
    )
    fast.save_pretrained(str(path))


def save_tiny_checkpoint(path: Path, family: str = "block", seed: int = 0, max_len: int = 256, nan: bool = False) -> Path:
    """A tiny reference-architecture checkpoint with a character tokenizer, as a user would have."""
    torch.manual_seed(seed)
    cfg = tiny_config(family, vocab=len(SPECIALS) + len(CHARS), max_len=max_len)
    model = ReferenceModel(cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.4)
        if nan:
            model.lm_head.weight.fill_(float("nan"))
    model.save_pretrained(str(path))
    save_tokenizer(path)
    return path


class FakeDenoiser:
    """A tiny stand-in model for decoder unit tests: each position's logits are a fixed random
    table plus a mix of the tokens at and before it, computed row by row (so exactly
    batch-invariant), cheap, and sensitive to every committed token. Counts its calls."""

    family = "block"

    def __init__(self, vocab: int = 16, max_length: int = 96, seed: int = 0, mix: float = 2.0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randn(max_length, vocab, generator=g, dtype=torch.float64) * 3
        self.mix = torch.randn(vocab, vocab, generator=g, dtype=torch.float64) * mix
        self.vocab_size, self.max_length, self.mask_id, self.eos_id = vocab, max_length, 3, 2
        self.calls = 0

    def new_cache(self) -> None:
        return None

    def logits(self, queries) -> list[torch.Tensor]:  # noqa: ANN001
        self.calls += 1
        out = []
        for q in queries:
            rows = [torch.nn.functional.one_hot(r, self.vocab_size).double().cumsum(0) @ self.mix for r in q.tokens]
            out.append(torch.stack([self.table[: q.tokens.shape[1]] + c for c in rows])[:, q.start : q.end])
        return out


def one_torch_thread():
    """Fixture body: one torch thread while a test package runs (tiny models on a shared 2-core
    machine decode far faster on one thread than on oversubscribed ones), restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
