"""Request-level batching: one asyncio task collects rows, one worker thread decodes them.

While a decode runs, new rows wait in ``pending``. When it ends, the oldest waiting row picks the
next batch: every waiting row with the same ``BatchKey`` (strategy, lengths, block size, sampling
but not the seed), up to ``max_batch``, in arrival order. Each row carries its own seed
(``decode(..., seeds=...)``), so a row decodes exactly as it would alone: batching changes
throughput, never tokens. Progress, the result or an error reach the request's asyncio queue
through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from freedave.decoding import DecodeConfig, DecodeHooks, Strategy, decode
from freedave.errors import one_line
from freedave.serve.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchKey:
    """What rows must share to be decoded together (the seed is per row)."""

    strategy: Strategy
    cfg: DecodeConfig  # its sampling carries seed 0; the row's seed goes in ``seeds``


@dataclass(eq=False)
class Row:
    """One prompt of one request. ``events`` gets ``(index, kind, payload)`` tuples:
    ``("progress", token_ids)``, ``("done", Result)`` or ``("error", message)``."""

    index: int  # choice index in its request
    ids: list[int]
    key: BatchKey
    seed: int
    events: asyncio.Queue
    loop: asyncio.AbstractEventLoop
    cancelled: bool = False  # set by the request (disconnect, stop string); read by the decode
    submitted: float = field(default_factory=time.perf_counter)

    def push(self, kind: str, payload: Any) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, (self.index, kind, payload))


class QueueFull(Exception):
    """More rows wait than ``max_queue`` allows."""


class Scheduler:
    def __init__(self, denoiser: Any, metrics: Metrics, max_batch: int, max_queue: int, wait_s: float,
                 device: str = "cpu") -> None:
        self.denoiser, self.metrics, self.device = denoiser, metrics, device
        self.max_batch, self.max_queue, self.wait_s = max_batch, max_queue, wait_s
        self.pending: list[Row] = []
        self.running: list[Row] = []
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="freedave-decode")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        for row in self.pending + self.running:
            row.cancelled = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    def submit(self, rows: list[Row]) -> None:
        """Queue a request's rows, all or none."""
        if len(self.pending) + len(rows) > self.max_queue:
            self.metrics.rejected.inc()
            raise QueueFull(f"the queue is full ({self.max_queue} rows waiting); retry later")
        self.pending.extend(rows)
        self.metrics.queue_depth.set(len(self.pending))
        self._wakeup.set()

    def _take(self) -> list[Row]:
        """The next batch: rows sharing the oldest waiting row's key, in arrival order."""
        self.pending = [r for r in self.pending if not r.cancelled]
        if not self.pending:
            return []
        key = self.pending[0].key
        batch = [r for r in self.pending if r.key == key][: self.max_batch]
        taken = set(map(id, batch))
        self.pending = [r for r in self.pending if id(r) not in taken]
        self.metrics.queue_depth.set(len(self.pending))
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            if self.wait_s > 0:
                await asyncio.sleep(self.wait_s)  # let requests that arrive together share a batch
            batch = self._take()
            if not batch:
                continue
            self.running = batch
            self.metrics.batch_size.observe(len(batch))
            self.metrics.running.set(len(batch))
            await loop.run_in_executor(self._executor, self._decode, batch)
            self.running = []
            self.metrics.running.set(0)

    def _decode(self, batch: list[Row]) -> None:
        """Worker thread: one decode call; an exception fails this batch only."""
        key = batch[0].key
        hooks = DecodeHooks(
            on_progress=lambda i, ids: batch[i].push("progress", ids),
            is_cancelled=lambda i: self._stops_early(batch[i]),
        )
        try:
            results = decode(self.denoiser, [r.ids for r in batch], key.cfg, key.strategy, device=self.device,
                             seeds=[r.seed for r in batch], hooks=hooks)
        except Exception as e:  # noqa: BLE001 - reported to the batch's requests; the server lives on
            log.exception("decode of a batch of %d failed", len(batch))
            self.metrics.decode_errors.inc()
            for row in batch:
                row.push("error", f"decoding failed: {one_line(e)}")
            return
        for row, result in zip(batch, results, strict=True):
            row.push("done", result)

    def _stops_early(self, row: Row) -> bool:
        """``is_cancelled`` for a row still decoding (counted: it stops early)."""
        if row.cancelled:
            self.metrics.cancelled.inc()
        return row.cancelled
