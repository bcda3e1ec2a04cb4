"""Batch decoding jobs: JSONL prompts in, one JSON line per prompt out, resumable after a crash.

Input: one JSON object per line with ``id`` (a string or an integer, unique) and either ``prompt``
(text) or ``messages`` (a chat, ``[{"role", "content"}, ...]``), optionally ``seed`` and
``max_new_tokens``. Output: one line per prompt, ``{"id", "text", "token_ids", "nfe",
"tokens_per_nfe", "seconds", "seed", "max_new_tokens"}``; ``seconds`` is the only field that
varies between runs.

Why the output does not depend on batching: every row is decoded with its own seed
(``decode(..., seeds=...)``), so its draws are keyed by that seed alone, exactly as
``freedave generate --seed <seed>`` decodes it alone. A row without a ``seed`` gets
``row_seed(job_seed, id)``, a hash of the job seed and the id (not of its line or batch).

Why a crash loses nothing: results are appended one batch at a time, flushed and fsync'd. A rerun
reads the output first, skips the ids it holds and truncates a torn last line (a write the crash
cut short), so every id ends up in the file exactly once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freedave.decoding import DecodeConfig, Sampling, Static, Strategy, decode
from freedave.errors import DecodeError
from freedave.options import DEFAULT_CONFIDENCE, DEFAULT_MAX_NEW_TOKENS, resolve_block_size

log = logging.getLogger(__name__)

OUTPUT_FIELDS = ("id", "text", "token_ids", "nfe", "tokens_per_nfe", "seconds", "seed", "max_new_tokens")


@dataclass(frozen=True)
class JobSettings:
    """Everything a worker needs to load the model and decode rows (picklable, for Ray)."""

    model: str = "reference"
    strategy: Strategy = field(default_factory=Static)
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS  # rows without their own
    block_size: int | None = None  # None: the model's own
    block_layout: str | None = None  # None: the model's own (options.BLOCK_LAYOUTS)
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0  # the job seed: rows without their own get row_seed(seed, id)
    confidence: str = DEFAULT_CONFIDENCE  # "full" | "renormalized"
    chat: bool = False  # apply the chat template to plain ``prompt`` rows too
    device: str = "cpu"
    dtype: str = "float32"
    family: str | None = None
    mask_token_id: int | None = None
    trust_remote_code: bool = False

    def config(self, max_new_tokens: int, model_block: int | None) -> DecodeConfig:
        """The decode config of a group of rows (validated: bad values raise one-line errors)."""
        return DecodeConfig(
            max_new_tokens=max_new_tokens,
            block_size=resolve_block_size(self.block_size, model_block),
            sampling=Sampling(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, seed=0,
                              confidence=self.confidence),
            block_layout=self.block_layout,
        )

    def load(self) -> Any:
        from freedave.models.loading import load

        return load(self.model, family=self.family, device=self.device, dtype=self.dtype,
                    mask_token_id=self.mask_token_id, trust_remote_code=self.trust_remote_code)


@dataclass(frozen=True)
class Row:
    """One validated input row, its seed and length resolved."""

    id: str | int
    prompt: str | None
    messages: list[dict[str, str]] | None
    seed: int
    max_new_tokens: int

    def to_json(self) -> dict[str, Any]:
        body = {"prompt": self.prompt} if self.messages is None else {"messages": self.messages}
        return {"id": self.id, **body, "seed": self.seed, "max_new_tokens": self.max_new_tokens}


def row_seed(job_seed: int, row_id: str | int) -> int:
    """A row's default seed: the first 8 bytes of sha256(f"{job_seed}:{json.dumps(id)}"), as a
    big-endian integer shifted right by one (so it is in [0, 2**63)). Stable across runs,
    machines and batchings; ``1`` and ``"1"`` get different seeds."""
    digest = hashlib.sha256(f"{job_seed}:{json.dumps(row_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def id_key(row_id: str | int) -> str:
    """The identity of an id (``1`` and ``"1"`` are different ids)."""
    return json.dumps(row_id)


def _int_field(obj: dict[str, Any], name: str, where: str, minimum: int) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DecodeError(f"{where}: {name} must be an integer >= {minimum} (got {value!r})")
    return value


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    ok = isinstance(value, list) and value and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in value
    )
    if not ok:
        raise DecodeError(f"{where}: messages must be a non-empty list of {{\"role\", \"content\"}} strings")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def parse_row(obj: Any, where: str, settings: JobSettings) -> Row:
    """Validate one input object; ``where`` names it in errors (``prompts.jsonl:3``)."""
    if not isinstance(obj, dict):
        raise DecodeError(f"{where}: expected a JSON object")
    if "id" not in obj:
        raise DecodeError(f"{where}: missing id")
    row_id = obj["id"]
    if isinstance(row_id, bool) or not isinstance(row_id, str | int):
        raise DecodeError(f"{where}: id must be a string or an integer (got {row_id!r})")
    has_prompt, has_messages = obj.get("prompt") is not None, obj.get("messages") is not None
    if has_prompt == has_messages:
        raise DecodeError(f"{where}: give exactly one of prompt or messages")
    prompt = obj["prompt"] if has_prompt else None
    if has_prompt and (not isinstance(prompt, str) or not prompt):
        raise DecodeError(f"{where}: prompt must be a non-empty string")
    messages = _messages(obj["messages"], where) if has_messages else None
    seed = _int_field(obj, "seed", where, 0)
    max_new = _int_field(obj, "max_new_tokens", where, 1)
    return Row(
        id=row_id,
        prompt=prompt,
        messages=messages,
        seed=row_seed(settings.seed, row_id) if seed is None else seed,
        max_new_tokens=settings.max_new_tokens if max_new is None else max_new,
    )


def read_rows(path: str | Path, settings: JobSettings) -> list[Row]:
    """Read and validate the whole input before any work; duplicate ids are an error."""
    path = Path(path)
    if not path.is_file():
        raise DecodeError(f"--input {path}: no such file")
    rows: list[Row] = []
    first_line: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DecodeError(f"{where}: not JSON ({e.msg})") from None
            row = parse_row(obj, where, settings)
            key = id_key(row.id)
            if key in first_line:
                raise DecodeError(f"{where}: duplicate id {row.id!r} (first on line {first_line[key]})")
            first_line[key] = n
            rows.append(row)
    if not rows:
        raise DecodeError(f"--input {path}: no rows")
    return rows


def resume(output: str | Path, input_keys: set[str]) -> set[str]:
    """The ids already in ``output``; a torn last line (no newline, or not JSON) is truncated.

    Any other bad line, a repeated id or an id not in the input means the file is not this job's
    output: that is an error, not something to repair silently.
    """
    path = Path(output)
    if not path.exists():
        return set()
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    done: set[str] = set()
    good = 0  # bytes of the file made of complete, valid lines
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
            key = id_key(obj["id"])
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            if n == len(lines) and not tail:  # the last line: torn mid-JSON but its newline landed
                break
            raise DecodeError(f"--output {path}:{n}: not a result line; is this the right output file?") from None
        if key not in input_keys:
            raise DecodeError(f"--output {path}:{n}: id {obj['id']!r} is not in the input; wrong --output?")
        if key in done:
            raise DecodeError(f"--output {path}:{n}: id {obj['id']!r} appears twice")
        done.add(key)
        good += len(line) + 1
    if good != len(data):
        log.warning("%s: truncating a torn last line (%d bytes); its rows are redone", path, len(data) - good)
        with path.open("r+b") as fh:
            fh.truncate(good)
            os.fsync(fh.fileno())
    return done


def encode_row(loaded: Any, row: Row, chat: bool) -> list[int]:
    """Token ids of a row's prompt; ``messages`` need a tokenizer with a chat template."""
    if row.messages is None:
        return loaded.encode(row.prompt, chat=chat)
    tok = loaded.tokenizer
    if tok is None or not getattr(tok, "chat_template", None):
        raise DecodeError(f"row {row.id!r}: messages need a model with a chat template; use prompt")
    ids = tok.apply_chat_template(row.messages, add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def group_batches(rows: Iterable[Row], batch_size: int) -> Iterator[list[Row]]:
    """Batches of at most ``batch_size`` rows sharing one max_new_tokens, in input order per group."""
    groups: dict[int, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.max_new_tokens, []).append(row)
    for group in groups.values():
        for i in range(0, len(group), batch_size):
            yield group[i : i + batch_size]


def decode_rows(loaded: Any, settings: JobSettings, rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Decode rows (any mix of lengths) and return their output objects, in the order given.

    One ``decode`` call per max_new_tokens; each row's draws are keyed by its own seed.
    """
    out: dict[str, dict[str, Any]] = {}
    for group in group_batches(rows, max(len(rows), 1)):
        cfg = settings.config(group[0].max_new_tokens, loaded.block_size)
        ids = [encode_row(loaded, r, settings.chat) for r in group]
        results = decode(loaded.denoiser, ids, cfg, settings.strategy, device=settings.device,
                         seeds=[r.seed for r in group])
        for row, res in zip(group, results, strict=True):
            out[id_key(row.id)] = {
                "id": row.id,
                "text": loaded.decode(res.token_ids),
                "token_ids": res.token_ids,
                "nfe": res.nfe,
                "tokens_per_nfe": len(res.token_ids) / max(res.nfe, 1),
                "seconds": res.seconds,
                "seed": row.seed,
                "max_new_tokens": row.max_new_tokens,
            }
    return [out[id_key(r.id)] for r in rows]


# An engine turns pending rows and a batch size into batches of result objects.
Engine = Callable[[list[Row], int], Iterator[list[dict[str, Any]]]]


def local_engine(settings: JobSettings, loaded: Any = None) -> Engine:
    """The one-process engine: load the model once (unless given), decode batch after batch."""

    def run(rows: list[Row], batch_size: int) -> Iterator[list[dict[str, Any]]]:
        model = loaded if loaded is not None else settings.load()
        for r in {r.max_new_tokens for r in rows}:  # bad lengths fail before the first batch
            settings.config(r, model.block_size)
        for batch in group_batches(rows, batch_size):
            yield decode_rows(model, settings, batch)

    return run


@dataclass
class Summary:
    """What a job did. ``decoded`` excludes rows a previous run already wrote (``skipped``)."""

    rows: int
    skipped: int
    decoded: int = 0
    tokens: int = 0
    nfe: int = 0
    seconds: float = 0.0

    def add(self, results: Sequence[dict[str, Any]]) -> None:
        self.decoded += len(results)
        self.tokens += sum(len(r["token_ids"]) for r in results)
        self.nfe += sum(r["nfe"] for r in results)

    def to_json(self) -> dict[str, Any]:
        s = max(self.seconds, 1e-9)
        return {
            "rows": self.rows, "skipped": self.skipped, "decoded": self.decoded, "tokens": self.tokens,
            "nfe": self.nfe, "seconds": round(self.seconds, 4), "rows_per_s": round(self.decoded / s, 3),
            "tokens_per_s": round(self.tokens / s, 3), "tokens_per_nfe": round(self.tokens / max(self.nfe, 1), 4),
        }


def append_lines(fh: Any, results: Sequence[dict[str, Any]]) -> None:
    """One write per batch, then flush and fsync: the batch is on disk before the next starts."""
    fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results).encode("utf-8"))
    fh.flush()
    os.fsync(fh.fileno())


def run_job(
    settings: JobSettings,
    input_path: str | Path,
    output_path: str | Path,
    batch_size: int = 8,
    engine: Engine | None = None,
    on_batch: Callable[[Summary], None] | None = None,
    on_start: Callable[[Summary], None] | None = None,
) -> Summary:
    """Decode every row of ``input_path`` not yet in ``output_path``, appending results per batch.

    ``engine(rows, batch_size)`` yields lists of result objects (default: this process;
    ``freedave.ray`` passes a Ray Data one). ``on_start``/``on_batch`` report progress.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DecodeError(f"batch size must be >= 1 (got {batch_size!r})")
    rows = read_rows(input_path, settings)
    done = resume(output_path, {id_key(r.id) for r in rows})
    pending = [r for r in rows if id_key(r.id) not in done]
    summary = Summary(rows=len(rows), skipped=len(rows) - len(pending))
    if on_start:
        on_start(summary)
    if not pending:
        return summary
    started = time.perf_counter()
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, "ab") as fh:
        for results in (engine or local_engine(settings))(pending, batch_size):
            append_lines(fh, results)
            summary.add(results)
            summary.seconds = time.perf_counter() - started
            if on_batch:
                on_batch(summary)
    summary.seconds = time.perf_counter() - started
    return summary
