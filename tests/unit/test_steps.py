import pytest
import torch

from freedave.decoding.config import Sampling
from freedave.decoding.steps import (
    Layout,
    Scorer,
    accept_prefix,
    filtered_probs,
    static_step,
    threshold_step,
)

MASK = 3
LAYOUT = Layout(prompt_len=2, block_size=4, mask_id=MASK, eos_id=2)


def scorer_from_probs(probs: list[list[float]], start: int = 2) -> Scorer:
    logits = torch.tensor(probs, dtype=torch.float64).log().float()
    return Scorer(logits, start, Sampling(), 0, MASK)


def canvas(*resp: int) -> torch.Tensor:
    return torch.tensor([9, 9, *resp])


def test_static_step_takes_most_confident_of_active_block():
    y = canvas(MASK, MASK, MASK, MASK, MASK, MASK, MASK, MASK)
    # position 6 (second block) is the most confident overall but not in the active block
    probs = [[0.1, 0.1, 0.1, 0.0, 0.7]] * 8
    probs[1] = [0.0, 0.9, 0.1, 0.0, 0.0]
    probs[4] = [0.0, 0.0, 0.0, 0.0, 1.0]
    out = static_step(y, LAYOUT, scorer_from_probs(probs), step=0)
    assert out.tolist() == canvas(MASK, 1, MASK, MASK, MASK, MASK, MASK, MASK).tolist()


def test_ties_break_toward_lower_position():
    y = canvas(MASK, MASK, MASK, MASK)
    probs = [[0.5, 0.5, 0.0, 0.0, 0.0]] * 4  # every position equally confident, tokens tied too
    out = static_step(y, LAYOUT, scorer_from_probs(probs), step=0)
    assert out.tolist() == canvas(0, MASK, MASK, MASK).tolist()  # lowest position, lowest token id


def test_near_tie_resolved_by_float64_confidence():
    y = canvas(MASK, MASK, MASK, MASK)
    lo = torch.zeros(4, 6)
    lo[:, 4] = 5.0
    lo[2, 4] = 5.0 + 4e-7  # top confidence of position 2 beats the others by ~1e-7
    out = static_step(y, LAYOUT, Scorer(lo, 2, Sampling(), 0, MASK), step=0)
    assert int((out != y).nonzero()[0, 0]) == 2 + 2


def test_mask_token_is_never_chosen():
    y = canvas(MASK, MASK, MASK, MASK)
    probs = [[0.01, 0.01, 0.01, 0.96, 0.01]] * 4
    out = static_step(y, LAYOUT, scorer_from_probs(probs), step=0)
    assert MASK not in out[2:][out[2:] != MASK].tolist()
    assert int((out != MASK).sum()) == 3  # prompt + one token


def test_threshold_step_takes_all_confident_and_at_least_one():
    y = canvas(MASK, MASK, MASK, MASK)
    probs = [[0.95, 0.05, 0, 0, 0], [0.5, 0.5, 0, 0, 0], [0.0, 0.92, 0.08, 0, 0], [0.2, 0.3, 0.5, 0, 0]]
    out = threshold_step(y, LAYOUT, scorer_from_probs(probs), 0, tau=0.9)
    assert out.tolist() == canvas(0, MASK, 1, MASK).tolist()
    low = threshold_step(y, LAYOUT, scorer_from_probs([[0.4, 0.3, 0.3, 0, 0]] * 4), 0, tau=0.9)
    assert int((low[2:] != MASK).sum()) == 1


def test_step_returns_none_beyond_window():
    y = canvas(0, 0, 0, 0, MASK, MASK, MASK, MASK)
    sc = scorer_from_probs([[0.9, 0.1, 0, 0, 0]] * 4)  # window covers only the first block
    assert static_step(y, LAYOUT, sc, 0) is None


def test_accept_prefix():
    d = [torch.tensor([i]) for i in range(5)]
    assert accept_prefix(d, [torch.tensor([1]), torch.tensor([2]), torch.tensor([9])]) == 3
    assert accept_prefix(d, [torch.tensor([7])]) == 1
    assert accept_prefix(d[:1], []) == 1
    assert accept_prefix(d, [torch.tensor([1]), torch.tensor([2]), torch.tensor([3]), torch.tensor([4])]) == 5


def test_top_k_and_top_p_filters():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]], dtype=torch.float64)
    p = filtered_probs(logits, Sampling(temperature=1.0, top_k=2))
    assert (p[0, 2:] == 0).all() and (p[0, :2] > 0).all()
    full = torch.softmax(logits, -1)[0]
    top_p = float(full[0] + full[1] / 2)  # needs the first two tokens
    p = filtered_probs(logits, Sampling(temperature=1.0, top_p=top_p))
    assert (p[0, :2] > 0).all() and (p[0, 2:] == 0).all()


def test_sampling_is_keyed_and_follows_distribution():
    logits = torch.log(torch.tensor([[0.1, 0.2, 0.0001, 0.7]])).repeat(4000, 1)
    sc = Scorer(logits, 0, Sampling(temperature=1.0, seed=5), 0, MASK)
    tok, conf = sc(torch.arange(4000), step=0)
    assert torch.equal(tok, sc(torch.arange(4000), step=0)[0])
    freq = torch.bincount(tok, minlength=4).double() / 4000
    # id 3 is the mask: removed, the rest renormalised
    assert abs(freq[0] - 1 / 3) < 0.03 and abs(freq[1] - 2 / 3) < 0.03 and freq[3] == 0
    assert not torch.equal(tok, sc(torch.arange(4000), step=1)[0])


def test_confidence_rules_full_and_renormalized():
    # position 0: p(tok 4) = 0.5 with p_mask = 0.4; position 1: p(tok 1) = 0.55, p_mask = 0
    probs = [[0.05, 0.0, 0.05, 0.4, 0.5], [0.2, 0.55, 0.25, 0.0, 0.0], [0.3, 0.2, 0.2, 0.0, 0.3], [0.3] * 3 + [0.0, 0.1]]
    logits = torch.tensor(probs, dtype=torch.float64).clamp_min(1e-300).log()
    y = canvas(MASK, MASK, MASK, MASK)
    for rule, want_conf, want_pos in (("full", [0.5, 0.55], 3), ("renormalized", [0.5 / 0.6, 0.55], 2)):
        sc = Scorer(logits, 2, Sampling(confidence=rule), 0, MASK)
        tok, conf = sc.decide([2, 3], step=0)
        assert tok == [4, 1]  # the mask token (0.4 at position 0) is never chosen
        assert conf == pytest.approx(want_conf, rel=1e-12)
        out = static_step(y, LAYOUT, sc, step=0)
        assert int((out != y).nonzero()[0, 0]) == want_pos  # the rules order the positions differently


@pytest.mark.parametrize("rule", ["full", "renormalized"])
@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_batch_scorers_bit_identical_to_single(rule, temperature):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 6, 11, generator=g) * 3
    logits[..., MASK] += 2.0  # a probable mask token
    sampling = Sampling(temperature=temperature, seed=4, confidence=rule)
    pos = torch.arange(2, 8)
    for r, sc in enumerate(Scorer.batch(logits, 2, sampling, 1, MASK)):
        one = Scorer(logits[r], 2, sampling, 1, MASK)
        (tb, cb), (to, co) = sc(pos, step=3), one(pos, step=3)
        assert torch.equal(tb, to) and torch.equal(cb, co)
        assert not bool((tb == MASK).any())


def test_aligned_layout_blocks_start_at_zero():
    """``aligned`` (SDAR/TraDo): the active block may start inside the prompt; only its masks are
    decisions, and the response of finished blocks starts at the prompt end."""
    layout = Layout(prompt_len=6, block_size=4, mask_id=MASK, eos_id=2, block_layout="aligned")
    y = torch.tensor([9, 9, 9, 9, 9, 9, MASK, MASK, MASK, MASK, MASK, MASK])
    assert layout.origin == 0 and layout.active_start(y) == 4
    assert layout.response(y) == [] and not layout.is_terminal(y)
    assert layout.window_end(y, lookahead=False) == 8 and layout.window_end(y, lookahead=True) == 12
    probs = [[0.0, 0.0, 0.0, 0.0, 1.0]] * 2 + [[0.1, 0.1, 0.1, 0.0, 0.7], [0.3, 0.2, 0.1, 0.0, 0.4]]
    scorer = scorer_from_probs(probs, start=4)  # the prompt positions 4, 5 are the most confident
    out = static_step(y, layout, scorer, step=0)
    assert out.tolist() == [9, 9, 9, 9, 9, 9, 4, MASK, MASK, MASK, MASK, MASK]
    out[7] = 5
    assert layout.active_start(out) == 8 and layout.response(out) == [4, 5]
    out[8] = 2  # EOS in the next block: terminal once that block is finished
    out[9:] = 7
    assert layout.is_terminal(out) and layout.response(out) == [4, 5]
    prompt = Layout(prompt_len=6, block_size=4, mask_id=MASK, eos_id=2)
    assert prompt.origin == 6 and prompt.active_start(y) == 6


def test_response_is_cut_at_max_new_tokens():
    """The canvas runs to a block boundary (under ``aligned`` up to B - 1 positions past the request);
    the response every path returns stops at ``max_new_tokens``, after the EOS cut."""
    y = torch.tensor([9, 9, 4, 5, 6, 7, 8, 9, 10, 11, MASK, MASK])
    capped = Layout(prompt_len=2, block_size=4, mask_id=MASK, eos_id=2, max_new_tokens=5)
    assert LAYOUT.response(y) == [4, 5, 6, 7, 8, 9, 10, 11] and capped.response(y) == [4, 5, 6, 7, 8]
    y[4] = 2  # EOS first: the cut at EOS is shorter
    assert capped.response(y) == [4, 5] == LAYOUT.response(y)
