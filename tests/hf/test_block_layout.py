"""The ``aligned`` block layout is the official SDAR/TraDo decoding rule.

The transcript below is that rule written out as a plain loop (JetAstra/SDAR ``generate.py``,
``block_diffusion_generate`` with ``remasking_strategy="low_confidence_static"`` and
``denoising_steps == block_length``, greedy): the whole sequence is cut into blocks from position 0
and padded to whole blocks, the attention mask is block-causal from position 0 (the prompt too),
the first decoded block is the one holding the prompt's end (its prompt tokens stay fixed, only its
masks are decided), and each step unmasks the most confident masked position of the current block.
It runs the library model's own forward over the whole sequence with that mask and no cache.

Confidence: the transcript computes both rules, the mask token excluded and renormalised, and the
mask token kept in a full-vocabulary softmax, and asserts that they pick the same tokens on this
model (its mask probability is negligible). So the test holds whichever rule ``Scorer`` uses.
"""

from __future__ import annotations

import pytest
import torch
from hf_tiny import EOS, MASK, save_qwen_family
from safetensors.torch import load_file, save_file

from freedave.check import check_denoiser
from freedave.decoding import DecodeConfig, FreeDave, decode_freedave, decode_static
from freedave.errors import OptionError
from freedave.models.loading import load

MAX_NEW = 10
PROMPT_LENS = range(1, 9)  # every remainder mod 4 twice; with block 6 every remainder but one


@pytest.fixture(scope="module")
def peaky(tmp_path_factory):
    """A tiny SDAR-style checkpoint with large weights: confident, varied predictions. The mask
    token's output row is zero (logit 0 against peaked others), so it is never the argmax and its
    probability is negligible, as in a trained model."""
    path, model = save_qwen_family(tmp_path_factory.mktemp("peaky") / "sdar", "sdar", seed=0, std=0.8)
    with torch.no_grad():
        model.lm_head.weight[MASK] = 0.0
    state = load_file(str(path / "model.safetensors"))
    state["lm_head.weight"][MASK] = 0.0
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    return path, model


def prompts() -> list[list[int]]:
    return [[4 + (7 * i + 3 * j) % 120 for j in range(p)] for i, p in enumerate(PROMPT_LENS)]


def official_sdar(model, prompt: list[int], block: int, max_new: int, exclude_mask: bool) -> list[int]:
    """The official block-diffusion static rule, one forward per step, no cache."""
    p = len(prompt)
    n_blocks = -(-(p + max_new) // block)  # the sequence padded to whole blocks from position 0
    x = torch.tensor([prompt + [MASK] * (n_blocks * block - p)])
    blk = torch.arange(n_blocks * block) // block
    attn = (blk[None, :] <= blk[:, None])[None, None]  # block-causal from position 0
    for b in range(p // block, n_blocks):  # the block holding the prompt end is decoded first
        lo, hi = b * block, (b + 1) * block
        while (x[0, lo:hi] == MASK).any():
            with torch.no_grad():
                logits = model(input_ids=x, attention_mask=attn).logits[0].double()
            best = None
            for i in range(lo, hi):
                if x[0, i] != MASK:  # the prompt's tokens and decided tokens stay fixed
                    continue
                full = torch.softmax(logits[i], -1)
                assert int(full.argmax()) != MASK
                row = logits[i].clone()
                row[MASK] = float("-inf")
                probs = torch.softmax(row, -1) if exclude_mask else full
                tok = int(row.argmax())
                conf = float(probs[tok])
                if best is None or conf > best[0]:  # ties: the lower position
                    best = (conf, i, tok)
            x[0, best[1]] = best[2]
        if EOS in x[0, p:hi].tolist():  # stop after the block that holds EOS
            break
    out = x[0, p:].tolist()
    out = [t for t in out if t != MASK]
    return out[: out.index(EOS)] if EOS in out else out


@pytest.mark.parametrize("block", [4, 6])
def test_static_aligned_equals_official_sdar(peaky, block):
    path, model = peaky
    den = load(path).denoiser
    assert den.block_layout == "aligned"  # an SDAR checkpoint decodes aligned by default
    cfg = DecodeConfig(max_new_tokens=MAX_NEW, block_size=block)
    got = decode_static(den, prompts(), cfg)
    tokens = set()
    for prompt, r in zip(prompts(), got, strict=True):
        want = official_sdar(model, prompt, block, MAX_NEW, exclude_mask=True)
        assert official_sdar(model, prompt, block, MAX_NEW, exclude_mask=False) == want  # rule-agnostic here
        # the official code returns the canvas to its block boundary; freedave decodes exactly the
        # same positions and returns the first max_new_tokens of them
        assert r.token_ids == want[:MAX_NEW], f"prompt length {len(prompt)}"
        tokens.update(want)
    assert len(tokens) > 5  # a peaky model, not one repeated id


def test_aligned_differs_from_prompt_layout(peaky):
    """The two layouts really are different decodings (else the test above proves little)."""
    den = load(peaky[0]).denoiser
    aligned = decode_static(den, prompts(), DecodeConfig(max_new_tokens=MAX_NEW, block_size=4))
    prompt = decode_static(den, prompts(), DecodeConfig(max_new_tokens=MAX_NEW, block_size=4, block_layout="prompt"))
    assert [r.token_ids for r in aligned] != [r.token_ids for r in prompt]
    # the canvas ends on a block boundary from position 0: P + response positions = 4 * blocks
    past_cap = 0
    for p, r in zip(PROMPT_LENS, aligned, strict=True):
        if 2 not in r.token_ids:  # no EOS: every position was decoded
            assert (p + r.tokens_decoded) % 4 == 0 and r.tokens_decoded >= MAX_NEW
        assert len(r.token_ids) <= MAX_NEW  # the response stops at max_new_tokens
        past_cap += r.tokens_decoded > MAX_NEW
    assert past_cap  # some canvases ran past the request: the cap was needed


@pytest.mark.parametrize("block", [4, 6])
@pytest.mark.parametrize("depth,cross", [(1, True), (2, False), (3, True), (8, True), (8, False)])
def test_freedave_equals_static_aligned(peaky, block, depth, cross):
    den = load(peaky[0]).denoiser
    cfg = DecodeConfig(max_new_tokens=MAX_NEW, block_size=block)
    static = decode_static(den, prompts(), cfg, trace=True)
    fast = decode_freedave(den, prompts(), cfg, FreeDave(depth, cross_blocks=cross))
    for s, f in zip(static, fast, strict=True):
        assert f.token_ids == s.token_ids
        assert f.steps == s.steps and f.tokens_decoded == s.tokens_decoded
        assert f.nfe <= s.nfe
        assert all(pos >= 0 for pos, _ in s.decisions)  # decisions are response positions only


def test_check_passes_under_aligned(peaky):
    """Batch invariance and the exact prefix cache hold with windows that start inside the prompt."""
    den = load(peaky[0]).denoiser
    _, invariant, diff, cache_exact, cache_diff = check_denoiser(den, max_batch=6)
    assert invariant and diff == 0.0
    assert cache_exact and cache_diff == 0.0


def test_aligned_cache_matches_uncached_window(peaky):
    den = load(peaky[0]).denoiser
    x = torch.randint(4, 128, (3, 18), generator=torch.Generator().manual_seed(2))
    x[:, :8] = x[0, :8]  # rows share everything before the window
    x[:, 10:] = MASK
    x[1:, 11] = 9
    cache = den.new_cache()
    den.window_logits(x[:1], 6, 4, 4, 8, cache)  # the block holding the prompt end; caches 0:4
    assert cache.length == 4
    den.window_logits(x[:1], 6, 4, 8, 12, cache)  # caches 4:8 (prompt tail + first response tokens)
    assert cache.length == 8
    cached = den.window_logits(x, 6, 4, 8, 16, cache)
    plain = den.window_logits(x, 6, 4, 8, 16)
    assert torch.equal(cached, plain)


def test_aligned_refused_for_full_attention(ckpts):
    den = load(ckpts["llada"]).denoiser
    assert den.block_layout == "prompt"
    with pytest.raises(OptionError, match="block_layout 'aligned' is for block-causal models"):
        decode_static(den, [[5, 6]], DecodeConfig(max_new_tokens=4, block_size=4, block_layout="aligned"))
