from __future__ import annotations

import pytest

from freedave.models.reference_tokenizer import (
    EOS_ID,
    MASK_ID,
    PAD_ID,
    build_tokenizer,
    save_tokenizer,
)

TEXTS = [
    "add 482+396",
    "def f(x):\n    return {'a': x ** 2}  # comment\n\tpass\r\n",
    "The quick brown fox — jumps over “the” lazy dog… ½ café naïve",
    "你好，世界！这是一个测试。",
    "emoji 🙂🚀👩‍👩‍👧 and flags 🇫🇷",
    "\x00\x01\x7f control bytes and trailing spaces   ",
    "",
]


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip(tokenizer, text: str) -> None:
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids, skip_special_tokens=False) == text


def test_task_characters_are_single_tokens(tokenizer) -> None:
    text = "add 1234+5678 perm aab copy xyz09 =+ "
    assert len(tokenizer.encode(text, add_special_tokens=False)) == len(text)


def test_special_ids_and_size(tokenizer) -> None:
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.mask_token_id) == (PAD_ID, EOS_ID, MASK_ID)
    assert 256 < len(tokenizer) < 400


def test_saved_tokenizer_loads_with_auto(tmp_path) -> None:
    from transformers import AutoTokenizer

    save_tokenizer(tmp_path)
    tok = AutoTokenizer.from_pretrained(str(tmp_path))
    assert tok.mask_token_id == MASK_ID
    for text in TEXTS:
        assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
