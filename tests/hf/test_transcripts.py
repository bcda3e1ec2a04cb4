"""Transcripts of the families' official decoding rules, written out as plain loops over the
library model (``model(x).logits``, as the official code calls it), against freedave's static and
FreeDave decoding of the same checkpoint: the same decisions, in the same order.

- LLaDA ``generate()`` (ML-GSAI/LLaDA ``generate.py``) with ``steps=gen_length``,
  ``temperature=0``, ``cfg_scale=0``, ``remasking='low_confidence'``: full attention over prompt +
  ``gen_length`` masks; blocks of ``block_length`` from the prompt's end; each step unmasks one
  position (``num_transfer_tokens`` is 1 when a block gets ``block_length`` steps): the masked
  position of the current block whose argmax token has the highest full-vocabulary float64
  softmax probability.
- Dream ``diffusion_generate`` with ``alg='maskgit_plus'``, ``temperature=0``, one token per
  step: logits of position i come from hidden state i - 1; every masked position of the canvas
  competes (freedave: ``block_size = max_new_tokens``); confidence = the largest full-vocabulary
  probability.

Ties between positions go to the lower position (``torch.topk`` leaves them unspecified). The
tiny models are *peaky* (large weights) and their mask token is probable but never on top: its
head row is a convex mix of two tokens' rows, so its logit never exceeds the larger of theirs
(asserted at every step, as LLaDA's and Dream's argmax runs over the whole vocabulary). Where the
mask token holds real probability, the renormalised rule p / (1 - p_mask) orders positions
differently; a test shows it changes decisions, so the old rule would be caught.
"""

from __future__ import annotations

import pytest
import torch
from hf_tiny import EOS, MASK, library_model, save_llada, save_qwen_family

from freedave.cli import main
from freedave.decoding import DecodeConfig, FreeDave, Sampling, decode_freedave, decode_static
from freedave.errors import OptionError
from freedave.models.loading import load

STD, MIX = 0.4, 0.95  # init std of the peaky models; weight of token A in the mask token's head row
BLOCK = 4
LLADA_CASES = [(p, g) for p in (3, 4, 5, 6) for g in (8, 12)]  # prompt length (all values mod 4), gen length
DREAM_CASES = [(p, g) for p in (3, 6) for g in (6, 9)]


def peaky(arch: str, seed: int) -> torch.nn.Module:
    """Large weights; the mask token's head row = MIX * row(A) + (1 - MIX) * row(B), A being the
    most frequent argmax: near A's logit where A is on top (p_mask large), never above max(A, B)."""
    model = library_model(arch, seed, std=STD)
    x = torch.randint(4, 128, (4, 16), generator=torch.Generator().manual_seed(seed))
    x[:, 6:] = MASK
    top = forward(model, x.flatten(), shift=False).argmax(-1)
    a = int(top.mode().values)
    b = 4 if a != 4 else 5
    with torch.no_grad():
        head = model.lm_head.weight
        head[MASK] = MIX * head[a] + (1 - MIX) * head[b]
    return model


def forward(model: torch.nn.Module, x: torch.Tensor, shift: bool) -> torch.Tensor:  # [L, V] float64
    """``model(x).logits`` with full (bidirectional) attention; shifted: position i from hidden i - 1."""
    n = x.shape[0]
    with torch.no_grad():
        out = model(input_ids=x[None], attention_mask=torch.ones(1, 1, n, n, dtype=torch.bool)).logits[0].double()
    return torch.cat([out[:1], out[:-1]]) if shift else out


def confidence(logits: torch.Tensor, tok: torch.Tensor, rule: str) -> torch.Tensor:
    if rule == "renormalized":
        logits = logits.clone()
        logits[:, MASK] = float("-inf")
    return torch.softmax(logits, dim=-1).gather(1, tok[:, None])[:, 0]


def unmask_one(x: torch.Tensor, logits: torch.Tensor, allowed: torch.Tensor, rule: str, stats: dict) -> tuple[int, int]:
    """One step: argmax tokens over the whole vocabulary, confidence, the best allowed position."""
    masked = (x == MASK) & allowed
    x0 = logits.argmax(-1)
    assert not bool((x0[masked] == MASK).any()), "the mask token won an argmax"
    conf = torch.where(masked, confidence(logits, x0, rule), torch.tensor(float("-inf"), dtype=torch.float64))
    i = int(conf.argmax())  # first maximum: the lower position on ties
    stats["p_mask"] = max(stats.get("p_mask", 0.0), float(torch.softmax(logits[masked], -1)[:, MASK].max()))
    x[i] = x0[i]
    return i, int(x0[i])


def llada_generate(model, prompt: list[int], gen_length: int, block_length: int, rule: str, stats: dict) -> list:
    """LLaDA ``generate`` (steps=gen_length, greedy, low_confidence): the decisions, in order."""
    p = len(prompt)
    x = torch.tensor(prompt + [MASK] * gen_length)
    pos = torch.arange(x.shape[0])
    decisions = []
    for b in range(gen_length // block_length):
        in_block = pos < p + (b + 1) * block_length  # later blocks' positions get confidence -inf
        for _ in range(block_length):  # gen_length // num_blocks steps per block, one token each
            i, t = unmask_one(x, forward(model, x, shift=False), in_block, rule, stats)
            decisions.append((i - p, t))
    return decisions


def dream_generate(model, prompt: list[int], max_new_tokens: int, rule: str, stats: dict) -> list:
    """Dream ``diffusion_generate`` (maskgit_plus, greedy, one token per step): the decisions."""
    p = len(prompt)
    x = torch.tensor(prompt + [MASK] * max_new_tokens)
    everywhere = torch.ones(x.shape[0], dtype=torch.bool)
    return [(i - p, t) for i, t in (unmask_one(x, forward(model, x, shift=True), everywhere, rule, stats)
                                    for _ in range(max_new_tokens))]


def prompt_of(n: int, seed: int = 7) -> list[int]:
    return torch.randint(4, 128, (n,), generator=torch.Generator().manual_seed(seed + n)).tolist()


def until_eos(decisions: list, gen_length: int) -> list[int]:
    tokens = [MASK] * gen_length
    for i, t in decisions:
        tokens[i] = t
    return tokens[: tokens.index(EOS)] if EOS in tokens else tokens


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("transcripts")
    llada, dream = peaky("llama", 2), peaky("qwen2", 2)
    save_llada(root / "llada", model=llada)
    save_qwen_family(root / "dream", "dream", model=dream)
    return {"llada": (llada, load(root / "llada")), "dream": (dream, load(root / "dream"))}


def transcript(models, kind: str, n: int, g: int, rule: str, stats: dict | None = None) -> list:
    model = models[kind][0]
    stats = {} if stats is None else stats
    if kind == "llada":
        return llada_generate(model, prompt_of(n), g, BLOCK, rule, stats)
    return dream_generate(model, prompt_of(n), g, rule, stats)


def freedave_config(kind: str, g: int, rule: str) -> DecodeConfig:
    return DecodeConfig(max_new_tokens=g, block_size=BLOCK if kind == "llada" else g, sampling=Sampling(confidence=rule))


CASES = [("llada", n, g) for n, g in LLADA_CASES] + [("dream", n, g) for n, g in DREAM_CASES]


@pytest.mark.parametrize("rule", ["full", "renormalized"])
@pytest.mark.parametrize("kind,n,g", CASES)
def test_static_and_freedave_follow_the_transcript(models, kind, n, g, rule):
    want = transcript(models, kind, n, g, rule)
    assert len({t for _, t in want}) > 2, "a degenerate model: one repeated id"
    den, cfg = models[kind][1].denoiser, freedave_config(kind, g, rule)
    (static,) = decode_static(den, [prompt_of(n)], cfg, trace=True)
    # freedave stops after the block that holds EOS: its decisions are a prefix of the transcript's
    assert list(static.decisions) == want[: len(static.decisions)]
    assert static.token_ids == until_eos(want, g)
    for d in (2, 5):
        (fast,) = decode_freedave(den, [prompt_of(n)], cfg, FreeDave(d))
        assert fast.token_ids == static.token_ids


def test_the_rules_differ_on_these_models(models):
    """p_mask is large somewhere, and the renormalised rule changes decisions: the old rule fails."""
    stats: dict = {}
    differ = [c for c in CASES if transcript(models, *c, "full", stats) != transcript(models, *c, "renormalized")]
    assert stats["p_mask"] > 0.2
    kinds = {kind for kind, _, _ in differ}
    assert kinds == {"llada", "dream"}, differ


def test_confidence_rule_is_checked(capsys):
    with pytest.raises(OptionError, match="unknown confidence 'softmax'; choose one of full, renormalized"):
        Sampling(confidence="softmax")
    capsys.readouterr()
    assert main(["generate", "--prompt", "t9", "--confidence", "softmax"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown confidence 'softmax'" in err
