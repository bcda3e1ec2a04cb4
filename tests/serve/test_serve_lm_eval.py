"""lm-eval's ``local-completions`` backend against a real server scores the offline task as the
in-process ``freedave`` lm-eval model does, answer for answer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from serve_util import metric, running

from freedave.serve.settings import Settings

lm_eval = pytest.importorskip("lm_eval")
pytest.importorskip("tenacity", reason="lm-eval's API models need tenacity (in the dev extra)")
pytest.importorskip("lm_eval.models.openai_completions")  # registers local-completions
TASKS = Path(__file__).resolve().parents[2] / "benchmarks" / "tasks"
LIMIT = 12


def answers(results: dict) -> tuple[float, list[tuple[int, str]]]:
    samples = results["samples"]["freedave_reference"]
    return (results["results"]["freedave_reference"]["exact_match,none"],
            sorted((s["doc_id"], s["filtered_resps"][0]) for s in samples))


def test_local_completions_scores_like_the_freedave_model(loaded, monkeypatch) -> None:
    from lm_eval.tasks import TaskManager

    from freedave.eval import FreeDaveLM

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    manager = TaskManager(include_path=str(TASKS))
    common = {"tasks": ["freedave_reference"], "limit": LIMIT, "task_manager": manager, "log_samples": True}
    local = lm_eval.simple_evaluate(model=FreeDaveLM(model=loaded, batch_size=4), **common)
    with running(loaded, Settings(max_batch=4)) as url:
        served = lm_eval.simple_evaluate(
            model="local-completions",
            model_args={"base_url": f"{url}/v1/completions", "model": "reference", "tokenizer_backend": "remote",
                        "tokenized_requests": True, "batch_size": 4, "max_retries": 1},
            **common)
        assert metric(url, "freedave_batch_size_sum") == LIMIT  # every doc went through the server
        assert metric(url, "freedave_batch_size_count") < LIMIT  # lm-eval's token-id batches stayed batches
    score, texts = answers(served)
    assert len(texts) == LIMIT
    assert (score, texts) == answers(local)
    assert score > 0.5  # the bundled model solves most of its own task
    assert os.environ["HF_DATASETS_OFFLINE"] == "1"
