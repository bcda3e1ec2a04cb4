"""HumanEval, GSM8K and MATH500 end to end through ``freedave bench`` on a tiny SDAR-style Qwen3
checkpoint (character tokenizer with a chat template, 2048 positions): load, chat-rendered prompt,
decode, the task's own checker, report.

Two models: a random one (plumbing and static == FreeDave tokens), and one whose weights make every
masked position predict the digit ``7``, so each completion is known in advance ("7" repeated) (and
no position holding "[" predict it, so a different ``--mask-token-id`` visibly reaches the model). Each
data file then holds one problem that this completion answers and one it does not: the rows must
score exactly 1/2, which only happens if the bench scored the decoded text with the task's checker.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from freedave.cli import main
from freedave.tasks import get_task
from helpers import CHARS, SPECIALS, save_tokenizer

MASK = SPECIALS.index("<mask>")
SEVEN = len(SPECIALS) + CHARS.index("7")
BRACKET = len(SPECIALS) + CHARS.index("[")  # in no prompt: usable as a stand-in mask id
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
            def state(token: int) -> torch.Tensor:
                h = model.model.norm(model.model.embed_tokens.weight[token])
                return h / h.norm()

            # "7" scores high where the input is the mask, and low where it is "[" (another mask id)
            w = state(MASK) - state(BRACKET)
            model.lm_head.weight[SEVEN] = 4.0 * w / w.norm()
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

    # the prompt layout: exactly NEW response positions (aligned would round prompt + response up to
    # whole blocks from position 0, so more "7"s would follow the answer)
    result = bench(setup["forced"], task, data, tmp_path, "--block-layout", "prompt")
    meta, rows = result["meta"], result["rows"]
    assert meta["config"]["block_layout"] == "prompt"
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
    assert result["meta"]["config"]["block_layout"] == "aligned"  # an SDAR checkpoint's own layout
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


# ---------------------------------------------------------------------------------------------
# A user's own checkpoint: bench takes generate's model flags instead of an edited config


def variant(src: Path, dst: Path, drop_mask: bool = False, **config) -> Path:
    """A copy of checkpoint ``src`` with config keys changed (None deletes) and maybe no mask token."""
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text()) | config
    if drop_mask:
        cfg["mask_token_id"] = None
        tcfg = json.loads((dst / "tokenizer_config.json").read_text())
        tcfg.pop("mask_token", None)
        (dst / "tokenizer_config.json").write_text(json.dumps(tcfg))
        tok = json.loads((dst / "tokenizer.json").read_text())
        tok["added_tokens"] = [t for t in tok["added_tokens"] if t["content"] != "<mask>"]
        (dst / "tokenizer.json").write_text(json.dumps(tok))
    (dst / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if v is not None}))
    return dst


def bench_error(capsys, *argv: str) -> str:
    """The one-line error of ``freedave bench ARGV`` (bad flags exit in argparse, bad input in main)."""
    capsys.readouterr()
    try:
        rc = main(["bench", *argv, "--quiet"])
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("freedave: error: ") and len(err.splitlines()) == 1, err
    return err


def test_family_flag(setup, tmp_path, capsys):
    plain = variant(setup["random"], tmp_path / "plain", model_type="qwen3", architectures=["Qwen3ForCausalLM"],
                    block_size=None)
    data = str(setup["data"]["gsm8k"])
    assert "--family" in bench_error(capsys, "--model", str(plain), "--task", "gsm8k", "--data", data)
    result = bench(plain, "gsm8k", setup["data"]["gsm8k"], tmp_path / "out", "--family", "block", "--block-size", "4")
    assert result["meta"]["model_family"] == "block" and "--family block" in result["meta"]["command"]
    assert all(r["exact_match_vs_static"] == 1.0 for r in result["rows"])
    # the flag also overrides what the config says
    full = bench(setup["random"], "gsm8k", setup["data"]["gsm8k"], tmp_path / "full", "--family", "full")
    assert full["meta"]["model_family"] == "full" and full["meta"]["config"]["family"] == "full"
    assert "diagonal" in bench_error(capsys, "--model", str(plain), "--family", "diagonal")


def test_mask_token_id_flag(setup, tmp_path, capsys):
    nomask = variant(setup["forced"], tmp_path / "nomask", drop_mask=True)
    data = setup["data"]["gsm8k"]
    assert "--mask-token-id" in bench_error(capsys, "--model", str(nomask), "--task", "gsm8k", "--data", str(data))
    right = bench(nomask, "gsm8k", data, tmp_path / "right", "--mask-token-id", str(MASK), "--block-layout", "prompt")
    assert all(r["accuracy"] == 0.5 for r in right["rows"]) and f"--mask-token-id {MASK}" in right["meta"]["command"]
    # another mask id ("[", in no prompt) reaches the model: masked positions no longer predict "7"
    other = bench(nomask, "gsm8k", data, tmp_path / "other", "--mask-token-id", str(BRACKET))
    assert all(r["accuracy"] == 0.0 and r["exact_match_vs_static"] == 1.0 for r in other["rows"])


def test_chat_flag(setup, tmp_path, capsys):
    jsonl = write_jsonl(tmp_path / "plain.jsonl", [{"prompt": "Tom has 3 apples.", "answer": "7"}])
    off = bench(setup["random"], "jsonl", jsonl, tmp_path / "off")
    on = bench(setup["random"], "jsonl", jsonl, tmp_path / "on", "--chat")
    assert off["meta"]["chat_template"] is False and on["meta"]["chat_template"] is True  # jsonl: plain by default
    no = bench(setup["random"], "gsm8k", setup["data"]["gsm8k"], tmp_path / "no", "--no-chat")
    assert no["meta"]["chat_template"] is False and "--no-chat" in no["meta"]["command"]
    assert all(r["exact_match_vs_static"] == 1.0 for r in on["rows"] + no["rows"])
    bare = tmp_path / "bare"
    shutil.copytree(setup["random"], bare)
    tcfg = json.loads((bare / "tokenizer_config.json").read_text())
    del tcfg["chat_template"]
    (bare / "tokenizer_config.json").write_text(json.dumps(tcfg))
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    assert "no chat template" in bench_error(capsys, "--model", str(bare), "--task", "jsonl", "--data", str(jsonl), "--chat")


def test_dtype_and_remote_code_flags_come_from_the_shared_group(setup, tmp_path, capsys):
    assert "dtype" in bench_error(capsys, "--model", str(setup["random"]), "--dtype", "float8")
    exotic = variant(setup["random"], tmp_path / "exotic", model_type="exotic_dlm", architectures=["ExoticModel"])
    err = bench_error(capsys, "--model", str(exotic), "--task", "gsm8k", "--data", str(setup["data"]["gsm8k"]))
    assert "--trust-remote-code" in err
