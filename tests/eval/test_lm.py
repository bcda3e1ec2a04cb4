"""FreeDaveLM on the bundled reference model: generate_until, loglikelihood, bad model_args."""

import os

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lm_eval.api.instance import Instance  # noqa: E402

import freedave  # noqa: E402
from freedave.decoding import FreeDave, Static  # noqa: E402
from freedave.errors import DecodeError  # noqa: E402
from freedave.eval import FreeDaveLM  # noqa: E402
from freedave.tasks.reference import ReferenceTask  # noqa: E402

COPY = "copy abcdefghijklmnopqrstuvwxyz01"  # the reference model copies the 28 characters after "copy "


def gen_request(context, doc_id, **gen):
    return Instance("generate_until", {}, (context, gen), idx=0, metadata=("t", doc_id, 1))


def ll_request(context, continuation):
    return Instance("loglikelihood", {}, (context, continuation), idx=0, metadata=("t", 0, 1))


@pytest.fixture(scope="module")
def loaded():
    return freedave.load("reference")


def test_until_and_max_gen_toks_cut_known_strings(loaded):
    full = freedave.generate(loaded, [COPY], Static(), max_new_tokens=32)[0].text
    assert full == "abcdefghijklmnopqrstuvwxyz01"
    lm = FreeDaveLM(model=loaded, strategy="freedave", max_new_tokens=32)
    out = lm.generate_until([
        gen_request(COPY, 0, until=["mno", "xyz"]),
        gen_request(COPY, 1, until=["ef"], max_gen_toks=3),
        gen_request(COPY, 2, max_gen_toks=5),
        gen_request(COPY, 3, until="\n"),
    ])
    assert out == ["abcdefghijkl", "abc", "abcde", full]


def test_batch_size_and_grouping_change_no_output(loaded):
    prompts = [p.prompt for p in ReferenceTask().problems(6)]
    reqs = [gen_request(p, i, until=["z"] if i % 2 else ["\n"], do_sample=True, temperature=0.9) for i, p in enumerate(prompts)]
    one = FreeDaveLM(model=loaded, strategy="static", max_new_tokens=32, batch_size=1, seed=5).generate_until(reqs)
    many = FreeDaveLM(model=loaded, strategy="freedave", max_new_tokens=32, batch_size=4, seed=5).generate_until(reqs[::-1])
    assert many[::-1] == one
    # each request cut at its own stop strings only
    assert all("z" not in t for t in one[1::2])
    other_seed = FreeDaveLM(model=loaded, strategy="freedave", max_new_tokens=32, batch_size=4, seed=6).generate_until(reqs)
    assert other_seed != one  # the seed reaches the draws


def test_min_new_tokens_keeps_eos_out(loaded):
    # "add" answers are 26 characters then EOS: with min_new_tokens=30 the EOS cannot come first
    prompt = "add 482+396"
    lm = FreeDaveLM(model=loaded, strategy="static", max_new_tokens=32)
    plain, longer = lm.generate_until([gen_request(prompt, 0), gen_request(prompt, 1, min_new_tokens=30)])
    assert plain == "2+6+0=08 8+9+0=17 4+3+1=08"
    assert len(longer) >= 30
    fast = FreeDaveLM(model=loaded, strategy="freedave", max_new_tokens=32).generate_until([gen_request(prompt, 1, min_new_tokens=30)])
    assert fast == [longer]


def test_loglikelihood_prefers_the_right_answer_and_is_reproducible(loaded):
    lm = FreeDaveLM(model=loaded, strategy="static", mc_num=8, seed=1)
    right, wrong = "2+6+0=08 8+9+0=17 4+3+1=08", "2+6+0=08 8+9+0=18 4+3+1=09"
    reqs = [ll_request("add 482+396", right), ll_request("add 482+396", wrong)]
    (ll_right, greedy_right), (ll_wrong, greedy_wrong) = lm.loglikelihood(reqs)
    assert ll_right > ll_wrong + 1.0
    assert greedy_right and not greedy_wrong
    assert lm.loglikelihood(reqs[::-1]) == [(ll_wrong, greedy_wrong), (ll_right, greedy_right)]
    other = FreeDaveLM(model=loaded, strategy="static", mc_num=8, seed=2, batch_size=1).loglikelihood(reqs)
    assert other[0][0] != ll_right and other[0][0] > other[1][0]


def test_draft_branches_model_arg_builds_a_tree_with_static_output(loaded):
    prompts = [p.prompt for p in ReferenceTask().problems(4)]
    reqs = [gen_request(p, i, until=["\n"]) for i, p in enumerate(prompts)]
    static = FreeDaveLM(model=loaded, strategy="static", max_new_tokens=32)
    chain = FreeDaveLM(model=loaded, strategy="freedave", draft_depth="8", max_new_tokens=32)
    tree = FreeDaveLM(model=loaded, strategy="freedave", draft_depth="8", draft_branches="2", max_new_tokens=32)
    assert tree.strategy == FreeDave(8, True, 2) and chain.strategy.draft_branches == 0
    want = static.generate_until(reqs)
    assert tree.generate_until(reqs) == want == chain.generate_until(reqs)
    assert tree.stats["nfe"] < chain.stats["nfe"]  # the branches reached the decoder


def test_loglikelihood_rolling_is_refused(loaded):
    with pytest.raises(DecodeError, match="loglikelihood_rolling .* not supported"):
        FreeDaveLM(model=loaded).loglikelihood_rolling([])


@pytest.mark.parametrize(
    "args, message",
    [
        ("model=reference,foo=1", "unknown model_args foo"),
        ("model=reference,strategy=beam", "unknown strategy 'beam'"),
        ("model=reference,draft_depth=0", "draft_depth must be >= 1"),
        ("model=reference,draft_branches=-1", "draft_branches must be an integer >= 0"),
        ("model=reference,batch_size=0", "batch_size must be an integer >= 1"),
        ("model=reference,temperature=-1", "temperature must be >= 0"),
        ("model=reference,dtype=int8", "unknown dtype"),
        ("model=/no/such/model", "unknown model"),
    ],
)
def test_bad_model_args_are_one_line_errors(args, message):
    with pytest.raises(DecodeError, match=message) as e:
        FreeDaveLM.create_from_arg_string(args)
    assert "\n" not in str(e.value)


def test_registered_under_freedave():
    from lm_eval.api.registry import get_model

    assert get_model("freedave") is FreeDaveLM
    assert FreeDave(8).name == "freedave"
