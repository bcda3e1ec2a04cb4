"""Ray Data: `freedave batch --ray` and `freedave.ray.Decoder` in a user's own pipeline write what
the one-process job writes, row for row. One local cluster (2 CPUs) for the whole module; two
decoding actors of half a CPU each."""

import json

import pytest

from conftest import SETTINGS, job_rows, read_results, write_jsonl
from freedave.batch import run_job
from freedave.cli import main

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def test_ray_engine_two_actors_equals_single_process(tmp_path, solo):
    from freedave.ray import ray_engine

    write_jsonl(tmp_path / "in.jsonl", job_rows())
    out = tmp_path / "out.jsonl"
    engine = ray_engine(SETTINGS, tmp_path / "work", num_workers=2, cpus_per_worker=0.5)
    summary = run_job(SETTINGS, tmp_path / "in.jsonl", out, 3, engine=engine)
    assert summary.decoded == 8
    assert read_results(out) == solo
    assert not (tmp_path / "work").exists()  # the Ray staging folder is cleaned up


def test_cli_ray_resumes_a_partial_output(tmp_path, solo, capsys):
    """`freedave batch --ray` on an output that already holds some rows decodes only the rest."""
    write_jsonl(tmp_path / "in.jsonl", job_rows())
    out = tmp_path / "out.jsonl"
    done = [dict(r, seconds=0.0) for r in solo[:3]]
    write_jsonl(out, done)
    code = main(["batch", "--input", str(tmp_path / "in.jsonl"), "--output", str(out), "--batch-size", "2",
                 "--ray", "--num-workers", "2", "--cpus-per-worker", "0.5", "--no-progress",
                 "--strategy", "freedave", "--draft-depth", "4", "--max-new-tokens", "32",
                 "--temperature", "0.8", "--top-p", "0.95", "--seed", "11"])
    assert code == 0
    summary = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["summary"]
    assert (summary["skipped"], summary["decoded"]) == (3, 5)
    assert read_results(out) == solo
    assert len(out.read_text().splitlines()) == 8
    assert not (tmp_path / "out.jsonl.ray").exists()


def test_decoder_in_a_users_own_pipeline(tmp_path, solo):
    """read_json -> map_batches(Decoder) -> write_json, written by hand as a user would."""
    from freedave.ray import Decoder

    rows = []
    for i, r in enumerate(solo):  # string ids (one Arrow type); the default length left out on some
        row = {"id": f"r{i}", "prompt": job_rows()[[x["id"] for x in job_rows()].index(r["id"])]["prompt"],
               "seed": r["seed"]}
        if r["max_new_tokens"] != SETTINGS.max_new_tokens:
            row["max_new_tokens"] = r["max_new_tokens"]
        rows.append(row)
    write_jsonl(tmp_path / "in.jsonl", rows)
    ds = ray.data.read_json(str(tmp_path / "in.jsonl")).repartition(4)
    ds = ds.map_batches(Decoder, fn_constructor_kwargs={"settings": SETTINGS}, batch_size=2,
                        compute=ray.data.ActorPoolStrategy(size=2), num_cpus=0.5)
    ds.write_json(str(tmp_path / "results"))
    got = {}
    for part in (tmp_path / "results").iterdir():
        for line in part.read_text().splitlines():
            obj = json.loads(line)
            got[obj["id"]] = obj
    assert sorted(got) == sorted(r["id"] for r in rows)
    for i, want in enumerate(solo):
        have = got[f"r{i}"]
        assert have["token_ids"] == want["token_ids"] and have["text"] == want["text"]
        assert (have["seed"], have["max_new_tokens"], have["nfe"]) == (want["seed"], want["max_new_tokens"], want["nfe"])
