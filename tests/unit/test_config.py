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
        (lambda: DecodeConfig(block_layout="diagonal"), "unknown block_layout 'diagonal'"),
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


@pytest.mark.parametrize("prompt_len", range(1, 10))
@pytest.mark.parametrize("block, max_new", [(4, 1), (4, 8), (4, 10), (6, 5), (1, 3)])
def test_response_length_per_layout(prompt_len, block, max_new):
    cfg = DecodeConfig(max_new_tokens=max_new, block_size=block)
    assert cfg.response_length(prompt_len, "prompt") == cfg.gen_length
    aligned = cfg.response_length(prompt_len, "aligned")
    # SDAR/TraDo: the sequence padded to whole blocks from position 0
    assert prompt_len + aligned == -(-(prompt_len + max_new) // block) * block
    assert max_new <= aligned < max_new + block


def test_block_layout_resolution():
    from freedave.errors import OptionError
    from freedave.options import resolve_block_layout

    assert resolve_block_layout(None, "block", None) == "prompt"
    assert resolve_block_layout(None, "block", "aligned") == "aligned"
    assert resolve_block_layout("prompt", "block", "aligned") == "prompt"
    assert resolve_block_layout(None, "full", "prompt") == "prompt"
    with pytest.raises(OptionError, match="'aligned' is for block-causal models"):
        resolve_block_layout("aligned", "shifted", None)
