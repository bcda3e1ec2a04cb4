"""Batch decoding on Ray Data. ``ray`` is an optional extra (``pip install freedave[ray]``);
this is the only module that imports it.

``Decoder`` is a callable class for ``Dataset.map_batches``: each actor loads the model once and
decodes the batches it is given. Compose your own pipeline with it::

    import ray
    from freedave.batch import JobSettings
    from freedave.decoding import FreeDave
    from freedave.ray import Decoder

    ds = ray.data.read_json("prompts.jsonl")  # columns: id, prompt, and optionally seed, max_new_tokens
    out = ds.map_batches(
        Decoder,
        fn_constructor_kwargs={"settings": JobSettings(strategy=FreeDave(), max_new_tokens=32)},
        batch_size=8, concurrency=2, num_cpus=1,
    )
    out.write_json("results/")  # columns: id, text, token_ids, nfe, tokens_per_nfe, seconds, seed, max_new_tokens

``freedave batch --ray`` runs the same job as the one-process path (same validation, same resume,
same output file): the driver validates the input and skips finished ids; Ray Data reads the
pending rows with ``read_json``, the actors decode them, ``write_json`` writes their results, and
the driver appends those to the output file (flushed and fsync'd).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import ray

from freedave.batch import Engine, JobSettings, Row, decode_rows, parse_row
from freedave.errors import DecodeError

log = logging.getLogger(__name__)


def _py(value: Any) -> Any:
    """A column value as plain Python: numpy scalars and arrays unwrapped, NaN (missing) as None."""
    if isinstance(value, np.ndarray):
        return [_py(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_py(v) for v in value]
    if isinstance(value, dict):
        return {k: _py(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return int(value)
    return value


class Decoder:
    """``map_batches`` callable: loads the model once per actor, decodes each batch.

    Input columns: ``id`` and ``prompt`` (or ``messages``), optionally ``seed`` and
    ``max_new_tokens`` (missing: the settings' defaults; the seed defaults to
    ``freedave.batch.row_seed(settings.seed, id)``). Output: a pandas frame with the columns of
    ``freedave.batch.OUTPUT_FIELDS``. (``freedave batch --ray`` passes one JSON column ``row`` and
    gets one column ``line`` of output JSON lines back, so ids of any JSON type round-trip.)
    """

    def __init__(self, settings: JobSettings | None = None) -> None:
        self.settings = settings or JobSettings()
        self.loaded = self.settings.load()

    def __call__(self, batch: dict[str, Any]) -> Any:
        if "row" in batch:
            rows = [Row(**{"prompt": None, "messages": None, **json.loads(x)}) for x in batch["row"]]
            results = decode_rows(self.loaded, self.settings, rows)
            return {"line": np.array([json.dumps(r, ensure_ascii=False) for r in results], dtype=object)}
        import pandas as pd

        n = len(next(iter(batch.values())))
        objs = [{k: _py(v[i]) for k, v in batch.items()} for i in range(n)]
        rows = [parse_row(o, f"row {o.get('id')!r}", self.settings) for o in objs]
        return pd.DataFrame(decode_rows(self.loaded, self.settings, rows))


@contextmanager
def cluster(address: str | None = None) -> Iterator[None]:
    """Connect to Ray at ``address`` (``None``: start a local cluster); reuse one already running.

    A local cluster's workers get this process's PYTHONPATH, so they import the same freedave.
    """
    if ray.is_initialized():
        yield
        return
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None and os.environ.get("PYTHONPATH"):
        kw["runtime_env"] = {"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}}
    ray.init(address=address, **kw)
    try:
        yield
    finally:
        ray.shutdown()


def ray_engine(settings: JobSettings, work_dir: str | Path, num_workers: int = 1,
               cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0) -> Engine:
    """An engine for ``freedave.batch.run_job``: ``read_json`` → ``map_batches(Decoder)`` on an
    ``ActorPoolStrategy`` of ``num_workers`` actors → ``write_json``, all in ``work_dir``.

    The pending rows are written as input shards of ``batch_size`` rows (so Ray Data has one
    block per batch to spread over the actors), each row one JSON string column ``row`` (ids of
    any JSON type survive; seeds and lengths already resolved). When the Ray job is done, the
    result lines are handed back one part file at a time for ``run_job`` to append and fsync,
    and ``work_dir`` is removed. An interrupted Ray run loses only its own rows: the rerun
    starts ``work_dir`` afresh and redoes them.
    """
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise DecodeError(f"--num-workers must be >= 1 (got {num_workers!r})")
    if not cpus_per_worker > 0 or gpus_per_worker < 0:
        raise DecodeError("--cpus-per-worker must be > 0 and --gpus-per-worker >= 0")
    work = Path(work_dir)

    def run(rows: list[Row], batch_size: int) -> Iterator[list[dict[str, Any]]]:
        shutil.rmtree(work, ignore_errors=True)
        (work / "input").mkdir(parents=True)
        ordered = sorted(rows, key=lambda r: r.max_new_tokens)  # a batch rarely mixes lengths
        for n, start in enumerate(range(0, len(ordered), batch_size)):
            lines = (json.dumps({"row": json.dumps(r.to_json(), ensure_ascii=False)}) + "\n"
                     for r in ordered[start : start + batch_size])
            (work / "input" / f"part-{n:06d}.jsonl").write_text("".join(lines), encoding="utf-8")
        ray.data.DataContext.get_current().enable_progress_bars = False
        # Reading and writing hold no CPU: with one actor per core they could never be scheduled.
        io = {"num_cpus": 0}
        ds = ray.data.read_json(str(work / "input"), ray_remote_args=io)
        ds = ds.map_batches(
            Decoder, fn_constructor_kwargs={"settings": settings}, batch_size=batch_size,
            batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=num_workers),
            num_cpus=cpus_per_worker, num_gpus=gpus_per_worker,
        )
        ds.write_json(str(work / "output"), ray_remote_args=io)
        for part in sorted((work / "output").iterdir()):
            with part.open(encoding="utf-8") as fh:
                yield [json.loads(json.loads(line)["line"]) for line in fh if line.strip()]
        shutil.rmtree(work, ignore_errors=True)

    return run
