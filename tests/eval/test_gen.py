"""Request settings, stop strings and seeds (no model)."""

import pytest

from freedave.errors import OptionError
from freedave.eval.gen import GenSettings, cut_at_stops, request_seed, settings_for

DEFAULTS = GenSettings(max_new_tokens=64, block_size=16, temperature=0.0, top_k=0, top_p=1.0, min_new_tokens=0)


def test_cut_at_earliest_stop():
    assert cut_at_stops("abc\ndef</s>g", ["</s>", "\n"]) == "abc"
    assert cut_at_stops("abcdef", ["x"]) == "abcdef"
    assert cut_at_stops("abcdef", []) == "abcdef"
    assert cut_at_stops("abcdef", ["cd", "b"]) == "a"


def test_settings_from_gen_kwargs():
    s, until = settings_for({"until": "Q:", "max_gen_toks": 7, "block_size": 8}, DEFAULTS)
    assert until == ["Q:"] and s.max_new_tokens == 7 and s.block_size == 8 and s.temperature == 0
    s, _ = settings_for({"gen_length": 12, "temperature": 0.7, "do_sample": False}, DEFAULTS)
    assert s.max_new_tokens == 12 and s.temperature == 0  # do_sample=False wins
    s, _ = settings_for({"do_sample": True}, DEFAULTS)
    assert s.temperature == 1.0
    s, _ = settings_for({"do_sample": True, "temperature": 0.5, "min_new_tokens": 3}, DEFAULTS)
    assert s.temperature == 0.5 and s.min_new_tokens == 3
    assert settings_for({}, DEFAULTS) == (DEFAULTS, [])


@pytest.mark.parametrize(
    "gen, message",
    [
        ({"num_beams": 4}, "unsupported gen_kwargs num_beams"),
        ({"max_gen_toks": 1.5}, "max_gen_toks must be an integer"),
        ({"until": [""]}, "until must be non-empty strings"),
        ({"min_new_tokens": -1}, "min_new_tokens must be >= 0"),
    ],
)
def test_bad_gen_kwargs(gen, message):
    with pytest.raises(OptionError, match=message):
        settings_for(gen, DEFAULTS)


def test_request_seed_is_a_pure_function_of_its_key():
    assert request_seed(0, "t", 3, 0, 0) == request_seed(0, "t", 3, 0, 0)
    seeds = {request_seed(s, "t", d, i, k) for s in (0, 1) for d in range(20) for i in range(2) for k in range(2)}
    assert len(seeds) == 160 and all(0 <= s < 2**63 for s in seeds)
