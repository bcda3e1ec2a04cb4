"""Task scoring on known right and wrong answers; real task pipelines end to end on a tiny model."""

from __future__ import annotations

import json
import os
import time

import pytest

from freedave.cli import main
from freedave.decoding.common import DecodeError
from freedave.tasks import get_task
from freedave.tasks.gsm8k import gold_answer
from freedave.tasks.humaneval import HumanEvalTask, program_for, run_program


@pytest.fixture(scope="module")
def humaneval():
    return HumanEvalTask(timeout_s=3.0)


def test_humaneval_reads_the_bundled_file(humaneval):
    problems = humaneval.problems()
    assert len(problems) == 164 and problems[0].id == "HumanEval/0"
    assert problems[0].meta["entry_point"] == "has_close_elements"


def test_humaneval_canonical_solution_passes(humaneval):
    p = humaneval.problems(1)[0]
    assert humaneval.score(p, p.answer)


def test_humaneval_wrong_completion_fails(humaneval):
    p = humaneval.problems(1)[0]
    assert not humaneval.score(p, "    return False\n")


def test_humaneval_fenced_chat_answer_is_extracted(humaneval):
    p = humaneval.problems(1)[0]
    fenced = f"Here you go:\n```python\n{p.prompt}{p.answer}```\nDone."
    assert humaneval.score(p, fenced)


def test_humaneval_infinite_loop_is_killed_at_the_limit(humaneval):
    p = humaneval.problems(1)[0]
    t0 = time.perf_counter()
    assert not humaneval.score(p, "    while True:\n        pass\n")
    assert time.perf_counter() - t0 < 3.0 + 5.0


def test_run_program_reports_timeout_and_blocks_network():
    passed, why = run_program("import time\ntime.sleep(60)\n", timeout_s=0.5)
    assert not passed and "timed out" in why
    passed, why = run_program("import socket\nsocket.create_connection(('127.0.0.1', 9))\n", timeout_s=5)
    assert not passed and "network access is disabled" in why


def test_humaneval_runs_code_in_a_child_process(humaneval, tmp_path):
    p = humaneval.problems(1)[0]
    marker = tmp_path / "pid"
    completion = f"    import os\n    open({str(marker)!r}, 'w').write(str(os.getpid()))\n    return False\n"
    assert not humaneval.score(p, completion)
    assert int(marker.read_text()) != os.getpid()
    assert "check(has_close_elements)" in program_for(p, "    pass\n")


def test_gsm8k_answers_that_differ_only_in_form(gsm8k_data):
    task = get_task("gsm8k", str(gsm8k_data))
    seven, thousand = task.problems()
    assert gold_answer("250 * 4 = 1000\n#### 1,000") == "1000"
    assert task.score(seven, "3 + 4 = 7. The answer is \\boxed{7}")
    assert task.score(seven, "so 7.0 apples\n#### 7.0")
    assert task.score(thousand, "4 boxes: 1,000 pens")
    assert task.score(thousand, "#### 1000")
    assert not task.score(thousand, "\\boxed{999}")
    assert not task.score(seven, "I do not know")


def test_math500_answers_that_differ_only_in_form(math500_data):
    task = get_task("math500", str(math500_data))
    half, root = task.problems()
    assert task.score(half, "The answer is \\boxed{0.5}")
    assert task.score(half, "\\boxed{\\dfrac12}")
    assert task.score(root, "So $\\boxed{\\sqrt{18}}$")
    assert not task.score(root, "\\boxed{3}")
    assert not task.score(half, "")


def test_malformed_math_data_is_one_line_error(tmp_path):
    bad = tmp_path / "g.jsonl"
    bad.write_text(json.dumps({"question": "q", "answer": "no marker"}) + "\n")
    with pytest.raises(DecodeError, match="without '#### N'"):
        get_task("gsm8k", str(bad))
    with pytest.raises(DecodeError, match="has no 'problem' field"):
        get_task("math500", str(bad))
    bad.write_text("")
    with pytest.raises(DecodeError, match="no records"):
        get_task("math500", str(bad))


@pytest.mark.parametrize("task", ["humaneval", "gsm8k", "math500"])
def test_real_task_pipeline_end_to_end(task, bench_ckpt, gsm8k_data, math500_data, tmp_path):
    data = {"gsm8k": gsm8k_data, "math500": math500_data}.get(task)
    argv = ["bench", "--model", str(bench_ckpt), "--task", task, "--limit", "2", "--max-new-tokens", "8",
            "--strategies", "static,threshold,freedave", "--draft-depths", "2", "--thresholds", "0.9",
            "--out", str(tmp_path), "--quiet"]
    if data:
        argv += ["--data", str(data)]
    assert main(argv) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["meta"]["task"] == task and result["meta"]["n_problems"] == 2
    assert all(r["exact_match_vs_static"] == 1.0 for r in result["rows"] if r["strategy"] == "freedave")
    assert (tmp_path / "report.md").is_file()
