"""`freedave batch`: each row decodes as it would alone, whatever the batching and order; a
killed job resumes with every id exactly once; a torn last line is redone; bad input is one line."""

import copy
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import freedave
from conftest import SETTINGS, job_rows, read_results, write_jsonl
from freedave.batch import local_engine, run_job
from freedave.cli import main

SRC = str(Path(__file__).resolve().parents[2] / "src")
CLI_FLAGS = ["--strategy", "freedave", "--draft-depth", "4", "--max-new-tokens", "32",
             "--temperature", "0.8", "--top-p", "0.95", "--seed", "11", "--no-progress"]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch_size=st.integers(1, 9), order=st.permutations(range(8)))
def test_any_batch_size_and_order_equals_each_row_alone(tmp_path_factory, loaded, solo, batch_size, order):
    tmp = tmp_path_factory.mktemp("prop")
    rows = job_rows()
    write_jsonl(tmp / "in.jsonl", [rows[i] for i in order])
    summary = run_job(SETTINGS, tmp / "in.jsonl", tmp / "out.jsonl", batch_size, engine=local_engine(SETTINGS, loaded))
    assert summary.decoded == 8 and summary.skipped == 0
    assert read_results(tmp / "out.jsonl") == solo


def cli(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "freedave.cli.main", *argv], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SRC, **(env or {})}, timeout=120)


def test_cli_row_equals_generate_with_its_seed(tmp_path, solo):
    rows = job_rows()
    write_jsonl(tmp_path / "in.jsonl", rows)
    done = cli("batch", "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out.jsonl"),
               "--batch-size", "3", "--summary", str(tmp_path / "s.json"), *CLI_FLAGS)
    assert done.returncode == 0, done.stderr
    assert read_results(tmp_path / "out.jsonl") == solo
    summary = json.loads((tmp_path / "s.json").read_text())["summary"]
    assert summary["decoded"] == 8 and summary["tokens"] == sum(len(r["token_ids"]) for r in solo)
    assert json.loads(done.stderr.strip().splitlines()[-1])["summary"] == summary
    # the CLI's own `generate` on one row alone, with the seed the job gave it
    row = next(r for r in solo if r["id"] == "row-4")
    gen = cli("generate", "--prompt", rows[4]["prompt"], "--json", *CLI_FLAGS[:-3], "--seed", str(row["seed"]))
    assert gen.returncode == 0, gen.stderr
    assert json.loads(gen.stdout)["token_ids"] == row["token_ids"]


def test_sigkill_mid_job_then_rerun_writes_each_id_once(tmp_path, loaded):
    """A real `freedave batch` process, SIGKILLed once its first batch is on disk, then rerun."""
    rows = job_rows(24)
    write_jsonl(tmp_path / "in.jsonl", rows)
    run_job(SETTINGS, tmp_path / "in.jsonl", tmp_path / "whole.jsonl", 2, engine=local_engine(SETTINGS, loaded))
    out = tmp_path / "out.jsonl"
    argv = ["batch", "--input", str(tmp_path / "in.jsonl"), "--output", str(out), "--batch-size", "2", *CLI_FLAGS]
    proc = subprocess.Popen([sys.executable, "-m", "freedave.cli.main", *argv], env={**os.environ, "PYTHONPATH": SRC},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while not (out.exists() and out.stat().st_size) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL  # killed, not finished
    landed = out.read_bytes().count(b"\n")
    assert 2 <= landed < 24
    rerun = cli(*argv)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stderr.strip().splitlines()[-1])["summary"]["skipped"] == landed
    ids = [json.dumps(json.loads(x)["id"]) for x in out.read_text().splitlines()]
    assert len(ids) == 24 and len(set(ids)) == 24
    assert read_results(out) == read_results(tmp_path / "whole.jsonl")


def test_messages_rows_with_their_own_seed_and_length(tmp_path, loaded):
    """A messages row decodes as the templated prompt would alone, with the row's seed and length."""
    chat = dataclasses.replace(loaded, tokenizer=copy.deepcopy(loaded.tokenizer))
    chat.tokenizer.chat_template = "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
    from freedave.tasks.reference import ReferenceTask

    prompts = [p.prompt for p in ReferenceTask().problems(4)]
    rows = [{"id": i, "messages": [{"role": "user", "content": p}], "seed": 7 * i, "max_new_tokens": 16 + 8 * i}
            for i, p in enumerate(prompts)]
    write_jsonl(tmp_path / "in.jsonl", rows)
    run_job(SETTINGS, tmp_path / "in.jsonl", tmp_path / "out.jsonl", 4, engine=local_engine(SETTINGS, chat))
    got = read_results(tmp_path / "out.jsonl")
    for row, res in zip(rows, got, strict=True):
        (alone,) = freedave.generate(loaded, [f"[user]{row['messages'][0]['content']}"], SETTINGS.strategy,
                                     max_new_tokens=row["max_new_tokens"], temperature=SETTINGS.temperature,
                                     top_p=SETTINGS.top_p, seed=row["seed"])
        assert (res["seed"], res["max_new_tokens"]) == (row["seed"], row["max_new_tokens"])
        assert res["token_ids"] == alone.token_ids and res["text"] == alone.text
        assert len(res["token_ids"]) <= -(-row["max_new_tokens"] // 16) * 16  # whole blocks of 16


@pytest.mark.parametrize("cut", ["mid-json", "before-newline", "mid-json-with-newline"])
def test_torn_last_line_is_redone(tmp_path, loaded, solo, cut):
    write_jsonl(tmp_path / "in.jsonl", job_rows())
    out = tmp_path / "out.jsonl"
    engine = local_engine(SETTINGS, loaded)
    run_job(SETTINGS, tmp_path / "in.jsonl", out, 3, engine=engine)
    data = out.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    torn = {"mid-json": data[: last + 20], "before-newline": data[:-1],
            "mid-json-with-newline": data[: last + 20] + b"\n"}[cut]
    out.write_bytes(torn)
    summary = run_job(SETTINGS, tmp_path / "in.jsonl", out, 3, engine=engine)
    assert summary.skipped == 7 and summary.decoded == 1
    assert read_results(out) == solo
    assert out.read_bytes().count(b"\n") == 8


def test_draft_branches_flag_decodes_like_static(tmp_path, loaded, capsys):
    """``--draft-branches 2`` (greedy): every row's tokens are static decoding's, in fewer forwards
    than the chain; the job's strategy carries the branches (what Ray workers get pickled)."""
    from freedave.cli.batch import settings_from_args
    from freedave.cli.main import build_parser
    from freedave.decoding import FreeDave, Static

    rows = job_rows(4)
    write_jsonl(tmp_path / "in.jsonl", rows)
    greedy = dataclasses.replace(SETTINGS, temperature=0.0, top_p=1.0)

    def job(name: str, strategy) -> list[dict]:  # noqa: ANN001
        settings = dataclasses.replace(greedy, strategy=strategy)
        run_job(settings, tmp_path / "in.jsonl", tmp_path / f"{name}.jsonl", 4, engine=local_engine(settings, loaded))
        return read_results(tmp_path / f"{name}.jsonl")

    static, chain = job("static", Static()), job("chain", FreeDave(8))
    argv = ["batch", "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "tree.jsonl"), "--no-progress",
            "--strategy", "freedave", "--draft-depth", "8", "--draft-branches", "2", "--max-new-tokens", "32", "--seed", "11"]
    assert settings_from_args(build_parser().parse_args(argv)).strategy == FreeDave(8, True, 2)
    assert main(argv) == 0
    tree = read_results(tmp_path / "tree.jsonl")
    assert [r["token_ids"] for r in tree] == [r["token_ids"] for r in static] == [r["token_ids"] for r in chain]
    assert sum(r["nfe"] for r in tree) < sum(r["nfe"] for r in chain)
    capsys.readouterr()
    assert "draft_branches must be an integer >= 0 (got -1)" in one_line_error(
        capsys, *argv[:4], str(tmp_path / "bad.jsonl"), *argv[5:], "--draft-branches", "-1")
    assert not (tmp_path / "bad.jsonl").exists()


def one_line_error(capsys, *argv: str) -> str:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("freedave: error: ") and "Traceback" not in err
    return err


@pytest.mark.parametrize(("rows", "message"), [
    ([{"id": "a", "prompt": "add 1+2"}, {"id": "b", "prompt": "x"}, {"id": "a", "prompt": "y"}],
     "in.jsonl:3: duplicate id 'a' (first on line 1)"),
    ([{"id": "a", "prompt": "add 1+2"}, {"prompt": "copy ab"}], "in.jsonl:2: missing id"),
    ([{"id": True, "prompt": "add 1+2"}], "id must be a string or an integer"),
    ([{"id": "a"}], "give exactly one of prompt or messages"),
    ([{"id": "a", "prompt": "p", "seed": -1}], "seed must be an integer >= 0"),
    ([{"id": "a", "prompt": "p", "max_new_tokens": "9"}], "max_new_tokens must be an integer >= 1"),
    ([{"id": "a", "messages": [{"role": "user"}]}], "messages must be a non-empty list"),
])
def test_bad_input_is_one_line_before_any_work(capsys, tmp_path, rows, message):
    write_jsonl(tmp_path / "in.jsonl", rows)
    err = one_line_error(capsys, "batch", "--input", str(tmp_path / "in.jsonl"),
                         "--output", str(tmp_path / "out.jsonl"), "--no-progress")
    assert message in err
    assert not (tmp_path / "out.jsonl").exists()


def test_foreign_output_and_messages_without_template_are_refused(capsys, tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "prompt": "add 1+2"}])
    write_jsonl(tmp_path / "out.jsonl", [{"id": "zz", "text": ""}])
    base = ["batch", "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out.jsonl"), "--no-progress"]
    assert "id 'zz' is not in the input" in one_line_error(capsys, *base)
    (tmp_path / "out.jsonl").write_text("not json\n{}\n")
    assert "out.jsonl:1: not a result line" in one_line_error(capsys, *base)
    (tmp_path / "out.jsonl").unlink()
    write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "messages": [{"role": "user", "content": "hi"}]}])
    assert "messages need a model with a chat template" in one_line_error(capsys, *base)
    assert "batch size must be >= 1" in one_line_error(capsys, *base, "--batch-size", "0")
