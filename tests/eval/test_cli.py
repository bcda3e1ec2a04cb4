"""``freedave eval`` end to end, offline: the bundled task against ``freedave bench``, static vs
FreeDave samples, two gloo processes vs one, the local GSM8K-style task, chat templates, errors."""

import contextlib
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import freedave  # noqa: E402
from freedave.cli.main import main  # noqa: E402
from freedave.decoding import Static  # noqa: E402
from freedave.tasks.reference import ReferenceTask, check  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "benchmarks" / "tasks"
TASK = "freedave_reference"
COMMON = ["eval", "--model", "reference", "--include-path", str(TASKS), "--max-new-tokens", "32", "--draft-depth", "8"]


def run_eval(argv, out_path):
    """``freedave eval ARGV --log-samples --output-path OUT`` in this process: (rc, stdout, stderr, json)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main([*COMMON, *argv, "--log-samples", "--output-path", str(out_path)])
    out = json.loads(Path(out_path).read_text()) if rc == 0 else None
    return rc, stdout.getvalue(), stderr.getvalue(), out


def by_doc(run, task=TASK):
    return {s["doc_id"]: s for s in run["samples"][task]}


@pytest.fixture(scope="module")
def twenty(tmp_path_factory):
    path = tmp_path_factory.mktemp("eval") / "twenty.json"
    rc, stdout, stderr, out = run_eval(["--tasks", TASK, "--limit", "20", "--strategies", "static,freedave"], path)
    assert rc == 0, stderr
    return {"stdout": stdout, "stderr": stderr, "runs": {r["strategy"]: r for r in out["runs"]}}


def test_bundled_task_data_is_what_make_data_writes():
    spec = importlib.util.spec_from_file_location("make_data", TASKS / TASK / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines = (TASKS / TASK / "data.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == module.rows()


def bench_rows(block_size=None):
    from freedave.bench.runner import BenchConfig, run_bench

    cfg = BenchConfig(limit=20, strategies=("freedave",), draft_depths=(8,), max_new_tokens=32, block_size=block_size,
                      warmup=False)
    rows = {r.strategy: r for r in run_bench(cfg, quiet=True).rows}
    assert set(rows) == {"static", "freedave"}
    return rows


def assert_equals_bench(runs, rows):
    for name, run in runs.items():
        assert run["results"][TASK]["sample_len"] == 20
        assert run["results"][TASK]["exact_match,none"] == rows[name].accuracy
        assert run["speed"]["nfe"] == rows[name].nfe  # the same forwards, problem by problem
        assert run["speed"]["requests"] == 20


def test_accuracy_and_nfe_equal_freedave_bench(twenty):
    assert_equals_bench(twenty["runs"], bench_rows())


def test_accuracy_below_one_equals_freedave_bench(tmp_path):
    # blocks of 8 (the model was trained on 16) get about half the problems wrong: a real score
    argv = ["--tasks", TASK, "--limit", "20", "--strategies", "static,freedave", "--block-size", "8"]
    rc, _, stderr, out = run_eval(argv, tmp_path / "b8.json")
    assert rc == 0, stderr
    runs = {r["strategy"]: r for r in out["runs"]}
    assert 0 < runs["static"]["results"][TASK]["exact_match,none"] < 1
    assert_equals_bench(runs, bench_rows(block_size=8))
    assert [s["resps"] for s in by_doc(runs["static"]).values()] == [s["resps"] for s in by_doc(runs["freedave"]).values()]


def test_samples_are_the_decoders_texts_scored_by_the_task_checker(twenty):
    problems = ReferenceTask().problems(20)
    loaded = freedave.load("reference")
    texts = [r.text for r in freedave.generate(loaded, [p.prompt for p in problems], Static(), max_new_tokens=32)]
    samples = by_doc(twenty["runs"]["static"])
    assert sorted(samples) == list(range(20))
    for i, (p, text) in enumerate(zip(problems, texts, strict=True)):
        s = samples[i]
        assert s["arguments"][0][0] == p.prompt
        assert s["filtered_resps"] == [text.split("\n")[0]]  # the task's until is "\n"
        assert s["exact_match"] == float(check(p, text.split("\n")[0]))


def test_static_and_freedave_give_identical_samples_in_fewer_forwards(twenty):
    static, fast = twenty["runs"]["static"], twenty["runs"]["freedave"]
    assert {i: s["resps"] for i, s in by_doc(static).items()} == {i: s["resps"] for i, s in by_doc(fast).items()}
    assert static["results"] == fast["results"]
    assert static["speed"]["tokens"] == fast["speed"]["tokens"]
    assert fast["speed"]["nfe"] < static["speed"]["nfe"]
    assert fast["speed"]["tokens_per_nfe"] > 2 * static["speed"]["tokens_per_nfe"]


def test_draft_branches_flag_reaches_the_model_and_equals_static(tmp_path):
    from freedave.cli.eval import model_args
    from freedave.cli.main import build_parser
    from freedave.decoding import FreeDave
    from freedave.eval import FreeDaveLM

    args = build_parser().parse_args([*COMMON, "--tasks", TASK, "--draft-branches", "2"])
    assert FreeDaveLM.check_args(model_args(args, "freedave")).strategy == FreeDave(8, True, 2)
    rc, _, stderr, out = run_eval(["--tasks", TASK, "--limit", "4", "--strategies", "static,freedave",
                                   "--draft-branches", "2"], tmp_path / "tree.json")
    assert rc == 0, stderr
    static, tree = ({i: s["resps"] for i, s in by_doc(r).items()} for r in out["runs"])
    assert static == tree and len(tree) == 4
    assert out["runs"][1]["speed"]["nfe"] < out["runs"][0]["speed"]["nfe"]


def test_prints_the_harness_table_freedave_columns_and_a_progress_bar(twenty):
    out = twenty["stdout"]
    assert out.count("|exact_match|") == 2  # the harness's table, once per strategy
    for column in ("NFE", "tokens/NFE", "tokens/s"):
        assert column in out
    nfe = str(twenty["runs"]["freedave"]["speed"]["nfe"])
    assert any(nfe in line and "freedave" in line for line in out.splitlines())
    assert "freedave generate_until" in twenty["stderr"] and "20/20" in twenty["stderr"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_equal_one(tmp_path):
    # sampled decoding (the task's do_sample=false wins over --temperature, so through --gen-kwargs),
    # and 5 documents so the evaluator pads the second process's share
    argv = ["--tasks", TASK, "--limit", "5", "--strategies", "freedave", "--seed", "3",
            "--gen-kwargs", "do_sample=True,temperature=1.5"]
    rc, _, stderr, one = run_eval(argv, tmp_path / "one.json")
    assert rc == 0, stderr
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MASTER_ADDR="127.0.0.1", OMP_NUM_THREADS="1",
               HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    for _ in range(2):  # a second try on a fresh port: another process may take the first
        launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                    "--master_addr", "127.0.0.1", "--master_port", str(free_port())]
        proc = subprocess.run(
            [*launcher, "-m", "freedave.cli.main", *COMMON, *argv, "--log-samples", "--output-path", str(tmp_path / "two.json")],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240,
        )
        if proc.returncode == 0 or "EADDRINUSE" not in proc.stderr and "address already in use" not in proc.stderr:
            break
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads((tmp_path / "two.json").read_text())
    (a,), (b,) = one["runs"], two["runs"]
    assert (a["processes"], b["processes"]) == (1, 2)
    assert a["results"] == b["results"]
    assert sorted(s["doc_id"] for s in b["samples"][TASK]) == list(range(5))  # both shares, no padding
    # lm-eval appends the padding copy's answer to the instance it copied (resps [[x, x]]): one each
    padded = [i for i, s in by_doc(b).items() if len(s["resps"][0]) == 2]
    assert len(padded) == 1 and by_doc(b)[padded[0]]["resps"][0] == by_doc(b)[padded[0]]["resps"][0][:1] * 2

    def view(run):
        keep = ("doc", "arguments", "filtered_resps", "exact_match")
        return {i: {**{k: s[k] for k in keep}, "resps": [r[:1] for r in s["resps"]]} for i, s in by_doc(run).items()}

    assert view(a) == view(b)
    assert {k: a["speed"][k] for k in ("requests", "nfe", "tokens")} == {k: b["speed"][k] for k in ("requests", "nfe", "tokens")}
    assert b["speed"]["requests"] == 5  # the padding copy is not decoded again
    # the draws were sampled (a greedy run gives other texts), so keyed seeds are what made them equal
    rc, _, stderr, greedy = run_eval(["--tasks", TASK, "--limit", "5", "--strategies", "freedave"], tmp_path / "g.json")
    assert rc == 0, stderr
    assert [s["resps"] for s in by_doc(greedy["runs"][0]).values()] != [s["resps"] for s in by_doc(a).values()]


def test_local_gsm8k_style_task_runs_offline(tmp_path):
    argv = ["--tasks", "gsm8k_local", "--limit", "3", "--strategies", "static,freedave", "--gen-kwargs", "max_gen_toks=16"]
    rc, _, stderr, out = run_eval(argv, tmp_path / "g.json")
    assert rc == 0, stderr
    static, fast = out["runs"]
    for run in (static, fast):
        results = run["results"]["gsm8k_local"]
        assert results["sample_len"] == 3
        assert {"exact_match,strict-match", "exact_match,flexible-extract"} <= set(results)
        assert run["speed"]["tokens"] <= 3 * 16  # --gen-kwargs reached the requests
    samples = by_doc(static, "gsm8k_local")
    assert samples[0]["arguments"][0][0].startswith("Question: Ana has 3 boxes") and samples[0]["arguments"][0][0].endswith("\nAnswer:")
    assert [s["resps"] for s in samples.values()] == [s["resps"] for s in by_doc(fast, "gsm8k_local").values()]


def test_local_gsm8k_style_task_scores_the_number_after_hashes():
    from lm_eval.tasks import TaskManager

    task = TaskManager(include_path=str(TASKS), include_defaults=False).load(["gsm8k_local"])["tasks"]["gsm8k_local"]
    doc = next(iter(task.test_docs()))
    assert doc["answer"].endswith("#### 7")
    assert task.process_results(doc, ["7"]) == {"exact_match": 1.0}
    assert task.process_results(doc, ["8"]) == {"exact_match": 0.0}


def test_metrics_column_names_filters():
    from freedave.cli.eval import metrics_text

    row = {"alias": "g", "sample_len": 3, "exact_match,strict-match": 0.5, "exact_match_stderr,strict-match": 0.1,
           "exact_match,none": 1.0}
    assert metrics_text(row) == "n=3 exact_match[strict-match]=0.5 exact_match=1"


CHAT = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}"


def test_chat_template_formats_the_prompts():
    import lm_eval
    from lm_eval.tasks import TaskManager

    from freedave.errors import OptionError
    from freedave.eval import FreeDaveLM

    loaded = freedave.load("reference")
    manager = TaskManager(include_path=str(TASKS), include_defaults=False)
    plain = FreeDaveLM(model=loaded, strategy="freedave", max_new_tokens=32)
    with pytest.raises(OptionError, match="has no chat template; drop --apply-chat-template"):
        lm_eval.simple_evaluate(model=plain, tasks=[TASK], limit=1, task_manager=manager, apply_chat_template=True)
    loaded.tokenizer.chat_template = CHAT
    lm = FreeDaveLM(model=loaded, strategy="freedave", max_new_tokens=32)
    results = lm_eval.simple_evaluate(model=lm, tasks=[TASK], limit=2, task_manager=manager, apply_chat_template=True,
                                      log_samples=True)
    problems = ReferenceTask().problems(2)
    contexts = [s["arguments"][0][0] for s in sorted(results["samples"][TASK], key=lambda s: s["doc_id"])]
    assert contexts == [f"[user] {p.prompt}\n[assistant] " for p in problems]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model-args", "foo=1"], "unknown model_args foo"),
        (["--model-args", "strategy=beam"], "unknown strategy 'beam'"),
        (["--strategy", "beam"], "unknown strategy 'beam'"),
        (["--strategies", "static,beam"], "unknown strategy 'beam'"),
        (["--draft-depth", "0"], "draft_depth must be >= 1"),
        (["--model-args", "draft_depth=0"], "draft_depth must be >= 1"),
        (["--draft-branches", "-1"], "draft_branches must be an integer >= 0 (got -1)"),
        (["--model-args", "draft_branches=x"], "draft_branches must be an integer >= 0 (got 'x')"),
        (["--model-args", "batch_size=0"], "batch_size must be an integer >= 1"),
        (["--include-path", "/no/such/dir"], "--include-path /no/such/dir: no such folder"),
    ],
)
def test_bad_model_args_are_one_line_errors(argv, message, capsys):
    assert main([*COMMON, "--tasks", TASK, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("freedave: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
