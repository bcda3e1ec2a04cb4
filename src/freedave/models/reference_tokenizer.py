"""The bundled model's tokenizer: one token per printable ASCII character, byte fallback for the rest.

Built with the ``tokenizers`` library (a BPE model with no merges and ``byte_fallback=True``) and
saved with ``transformers.PreTrainedTokenizerFast``, so ``AutoTokenizer.from_pretrained`` loads it.
Any UTF-8 text encodes: a character outside the printable ASCII set becomes its UTF-8 bytes
(``<0xNN>`` tokens), and decoding fuses them back, so text round-trips exactly.
"""

from __future__ import annotations

from pathlib import Path

SPECIALS = ("<pad>", "<bos>", "<eos>", "<mask>")  # ids 0, 1, 2, 3
PAD_ID, BOS_ID, EOS_ID, MASK_ID = range(4)
CHARS = "\n\t" + "".join(chr(c) for c in range(32, 127))


def vocabulary() -> dict[str, int]:
    """Specials, then the 256 byte tokens, then the characters: a fixed, ordered vocabulary."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for ch in CHARS:
        vocab[ch] = len(vocab)
    return vocab


def build_tokenizer():  # noqa: ANN201 - transformers.PreTrainedTokenizerFast
    """A fresh ``PreTrainedTokenizerFast`` for the reference model."""
    from tokenizers import Tokenizer, decoders
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(BPE(vocab=vocabulary(), merges=[], byte_fallback=True, fuse_unk=False))
    core.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    core.add_special_tokens(list(SPECIALS))
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        mask_token="<mask>",
        clean_up_tokenization_spaces=False,
    )


def save_tokenizer(path: str | Path) -> None:
    build_tokenizer().save_pretrained(str(path))
