import pytest

from freedave.decoding import (
    DecodeConfig,
    FreeDave,
    FreeDaveThreshold,
    Sampling,
    Threshold,
    make_strategy,
)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: FreeDave(0), "draft_depth must be >= 1"),
        (lambda: FreeDave(-3), "draft_depth must be >= 1"),
        (lambda: FreeDaveThreshold(2, 1.5), "threshold must be in (0, 1]"),
        (lambda: Threshold(0.0), "threshold must be in (0, 1]"),
        (lambda: Sampling(temperature=-1), "temperature must be >= 0"),
        (lambda: Sampling(top_p=0), "top_p must be in (0, 1]"),
        (lambda: Sampling(top_p=1.2), "top_p must be in (0, 1]"),
        (lambda: DecodeConfig(block_size=0), "block_size must be >= 1"),
        (lambda: DecodeConfig(max_new_tokens=0), "max_new_tokens must be >= 1"),
        (lambda: make_strategy("beam"), "unknown strategy 'beam'"),
    ],
)
def test_invalid_config_is_one_line(build, message):
    with pytest.raises(ValueError) as e:
        build()
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_gen_length_rounds_up_to_blocks():
    assert DecodeConfig(max_new_tokens=10, block_size=4).gen_length == 12
    assert DecodeConfig(max_new_tokens=8, block_size=4).gen_length == 8
