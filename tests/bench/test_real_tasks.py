"""HumanEval, GSM8K and MATH500 end to end through ``freedave bench`` on a tiny SDAR-style Qwen3
checkpoint (character tokenizer with a chat template, 2048 positions): load, chat-rendered prompt,
decode, the task's own checker, report.

Two models: a random one (plumbing and static == FreeDave tokens), and one whose weights make every
masked position predict the digit ``7``, so each completion is known in advance ("7" repeated). Each
data file then holds one problem that this completion answers and one it does not: the rows must
score exactly 1/2, which only happens if the bench scored the decoded text with the task's checker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from freedave.cli import main
from freedave.tasks import get_task
from helpers import CHARS, SPECIALS, save_tokenizer

MASK = SPECIALS.index("<mask>")
SEVEN = len(SPECIALS) + CHARS.index("7")
NEW = 8  # new tokens per problem (two blocks of 4): the forced completion is "77777777"
FORCED = "7" * NEW
CHAT = "{% for m in messages %}Q: {{ m['content'] }} {% endfor %}{% if add_generation_prompt %}A:{% endif %}"
ROW_FIELDS = {"strategy", "task", "n", "accuracy", "tokens_per_second", "tokens_per_nfe", "exact_match_vs_static",
              "optimal_tokens_per_nfe", "speedup_vs_static", "nfe", "valid_tokens", "seconds"}


def save_sdar(path: Path, forced: bool, seed: int = 0) -> Path:
    """A tiny Qwen3 saved the way SDAR checkpoints are (``model_type="sdar"``, ``block_size``)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(vocab_size=len(SPECIALS) + len(CHARS), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                         max_position_embeddings=2048, tie_word_embeddings=False,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(1.0 + 0.1 * torch.randn_like(p) if "norm" in name else 0.15 * torch.randn_like(p))
        if forced:  # no layer writes to the residual stream: a masked position's state is norm(embed[mask])
            for layer in model.model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            h = model.model.norm(model.model.embed_tokens.weight[MASK])
            model.lm_head.weight[SEVEN] = 4.0 * h / h.norm()
    model.save_pretrained(str(path))
    cfg = json.loads((path / "config.json").read_text())
    cfg |= {"model_type": "sdar", "architectures": ["SDARForCausalLM"], "block_size": 4, "mask_token_id": MASK}
    (path / "config.json").write_text(json.dumps(cfg, indent=2))
    save_tokenizer(path)
    tcfg_path = path / "tokenizer_config.json"
    tcfg_path.write_text(json.dumps(json.loads(tcfg_path.read_text()) | {"chat_template": CHAT}, indent=2))
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def task_data(root: Path) -> dict[str, Path]:
    """Per task: problem 0 is answered by ``FORCED``, problem 1 is not. Problem 0's prompt is over 300
    tokens, more than the bundled model's 256 positions (the reason these tasks need another model)."""
    big = int(FORCED)
    long = "Count the apples in every basket of the orchard, then add them all together. " * 4
    return {
        "gsm8k": write_jsonl(root / "gsm8k.jsonl", [
            {"question": long + "How many?", "answer": f"step\n#### {big:,}"},
            {"question": "Tom has 3 apples and buys 4 more. How many?", "answer": "3 + 4 = 7\n#### 7"},
        ]),
        "math500": write_jsonl(root / "math500.jsonl", [
            {"problem": long + "What is the total?", "answer": str(big), "subject": "Algebra", "unique_id": "t/1"},
            {"problem": "What is 1/2 as a fraction?", "answer": "\\frac{1}{2}", "subject": "Prealgebra", "unique_id": "t/2"},
        ]),
        "humaneval": write_jsonl(root / "humaneval.jsonl", [
            {"task_id": "T/0", "prompt": '"""' + long + '"""\ndef answer():\n    return ', "entry_point": "answer",
             "canonical_solution": FORCED, "test": f"def check(f):\n    assert f() == {big}\n"},
            {"task_id": "T/1", "prompt": "def seven():\n    return ", "entry_point": "seven",
             "canonical_solution": "7", "test": "def check(f):\n    assert f() == 7\n"},
        ]),
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    return {
        "random": save_sdar(root / "random", forced=False),
        "forced": save_sdar(root / "forced", forced=True),
        "data": task_data(root),
        "root": root,
    }


def bench(model: Path, task: str, data: Path, out: Path, *extra: str) -> dict:
    argv = ["bench", "--model", str(model), "--task", task, "--data", str(data), "--max-new-tokens", str(NEW),
            "--strategies", "static,threshold,freedave", "--draft-depths", "2,4", "--thresholds", "0.9",
            "--out", str(out), "--quiet", *extra]
    assert main(argv) == 0
    return json.loads((out / "results.json").read_text())


TASKS = ("humaneval", "gsm8k", "math500")


@pytest.mark.parametrize("task", TASKS)
def test_known_completion_is_scored_by_the_task_checker(task, setup, tmp_path):
    data = setup["data"][task]
    checker = get_task(task, str(data))
    right, wrong = checker.problems()
    assert checker.score(right, FORCED) and not checker.score(wrong, FORCED)  # the data does what it says
    written = {"humaneval": "{}", "gsm8k": "so #### {}", "math500": "so \\boxed{{{}}}"}[task]
    assert checker.score(wrong, written.format(wrong.answer)) and not checker.score(right, written.format("12345"))

    result = bench(setup["forced"], task, data, tmp_path)
    meta, rows = result["meta"], result["rows"]
    assert meta["task"] == task and meta["n_problems"] == 2 and meta["model_family"] == "block"
    assert meta["chat_template"] is True  # these tasks render prompts through the model's template
    assert meta["config"]["block_size"] == 4 and meta["config"]["max_new_tokens"] == NEW
    assert [r["strategy"] for r in rows] == ["static", "threshold", "freedave", "freedave"]
    for r in rows:
        assert set(r) >= ROW_FIELDS, ROW_FIELDS - set(r)
        assert r["n"] == 2 and r["valid_tokens"] == 2 * NEW  # "7" at every position, no EOS
        assert r["accuracy"] == 0.5, r
        assert r["exact_match_vs_static"] == 1.0
    report = (tmp_path / "report.md").read_text()
    assert task in report and "freedave" in report


@pytest.mark.parametrize("task", TASKS)
def test_random_model_pipeline_is_lossless(task, setup, tmp_path):
    result = bench(setup["random"], task, setup["data"][task], tmp_path)
    rows = result["rows"]
    assert result["meta"]["trace_matches_static"] == 1.0
    for r in rows:
        assert r["exact_match_vs_static"] == 1.0 and 0.0 <= r["accuracy"] <= 1.0
        if r["strategy"] == "freedave":  # FreeDave cannot beat the attainable optimal-path bound
            assert r["tokens_per_nfe"] <= r["optimal_tokens_per_nfe"] + 1e-9
    static = rows[0]
    assert all(r["nfe"] <= static["nfe"] for r in rows if r["strategy"] == "freedave")


def test_chat_prompt_is_rendered_longer_than_plain(setup):
    """The chat template really wraps the task prompt (what ``chat_template: true`` promises)."""
    import freedave

    m = freedave.load(str(setup["random"]))
    text = get_task("gsm8k", str(setup["data"]["gsm8k"])).problems()[1].prompt
    plain, chat = m.encode(text), m.encode(text, chat=True)
    assert m.decode(chat) == "Q: " + m.decode(plain) + " A:"
