"""Prometheus metrics for one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """Requests, tokens, NFE, queue depth, latencies and the batch sizes the scheduler used."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("freedave_requests", "HTTP requests answered", ["endpoint", "status"], registry=r)
        self.prompt_tokens = Counter("freedave_prompt_tokens", "prompt tokens decoded", registry=r)
        self.completion_tokens = Counter("freedave_completion_tokens", "completion tokens returned", registry=r)
        self.nfe = Counter("freedave_nfe", "model forwards, summed over rows", registry=r)
        self.tokens_per_nfe = Gauge("freedave_tokens_per_nfe", "completion tokens / NFE since start", registry=r)
        self.queue_depth = Gauge("freedave_queue_depth", "rows waiting for a decode", registry=r)
        self.running = Gauge("freedave_running_rows", "rows in the running decode", registry=r)
        self.cancelled = Counter("freedave_rows_cancelled", "rows stopped early (disconnect or stop string)",
                                 registry=r)
        self.decode_errors = Counter("freedave_decode_errors", "decodes that raised", registry=r)
        self.rejected = Counter("freedave_rejected", "requests refused because the queue was full", registry=r)
        self.latency = Histogram("freedave_request_latency_seconds", "submit to last token", buckets=LATENCY_BUCKETS,
                                 registry=r)
        self.first_block = Histogram("freedave_time_to_first_block_seconds", "submit to first text",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("freedave_batch_size", "rows per decode call", buckets=BATCH_BUCKETS, registry=r)

    def count_tokens(self, prompt: int, completion: int, nfe: int) -> None:
        self.prompt_tokens.inc(prompt)
        self.completion_tokens.inc(completion)
        self.nfe.inc(nfe)
        total_nfe = self.nfe._value.get()
        if total_nfe:
            self.tokens_per_nfe.set(self.completion_tokens._value.get() / total_nfe)

    def render(self) -> bytes:
        return generate_latest(self.registry)
