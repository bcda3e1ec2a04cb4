"""``freedave serve``: the OpenAI-compatible HTTP server (needs the ``serve`` extra)."""

from __future__ import annotations

import argparse
import os
import signal

from freedave.cli import args as common
from freedave.errors import DecodeError, OptionError
from freedave.options import parse_draft_depth, resolve_block_size


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("serve", help="OpenAI-compatible HTTP server with request batching")
    common.add_model_args(s)
    common.add_decode_args(s)
    common.add_strategy_args(s)
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' (default: $FREEDAVE_API_KEY)")
    s.add_argument("--served-model-name", default=None, help="the model id /v1/models reports (default: --model)")
    s.add_argument("--max-batch", type=int, default=16, help="rows decoded together")
    s.add_argument("--max-queue", type=int, default=256, help="rows waiting; beyond: 503 with Retry-After")
    s.add_argument("--max-tokens-limit", type=int, default=1024, help="largest max_tokens a request may ask")
    s.add_argument("--max-body-bytes", type=int, default=1 << 20)
    s.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; 1 on a CPU other programs share)")
    s.add_argument("--batch-wait-ms", type=float, default=2.0, help="wait this long for requests to share a batch")
    s.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace):  # noqa: ANN201 - freedave.serve.Settings
    from freedave.serve.settings import Settings

    for name in ("max_batch", "max_queue", "max_tokens_limit", "max_body_bytes"):
        if getattr(args, name) < 1:
            raise OptionError(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(args, name)})")
    if args.threads is not None and args.threads < 1:
        raise OptionError(f"--threads must be >= 1 (got {args.threads})")
    if not 0 < args.port < 65536:
        raise OptionError(f"--port must be in 1..65535 (got {args.port})")
    common.strategy_from_args(args)  # bad strategy options fail before the model loads
    common.decode_config(args, None)
    if args.block_size is not None:
        resolve_block_size(args.block_size, None)
    return Settings(
        model_name=args.served_model_name or str(args.model),
        api_key=args.api_key or os.environ.get("FREEDAVE_API_KEY") or None,
        max_batch=args.max_batch,
        max_queue=args.max_queue,
        max_tokens_limit=args.max_tokens_limit,
        max_body_bytes=args.max_body_bytes,
        batch_wait_s=max(args.batch_wait_ms, 0.0) / 1000,
        max_tokens=args.max_new_tokens,
        strategy=args.strategy,
        draft_depth=parse_draft_depth(args.draft_depth),
        draft_branches=args.draft_branches,
        threshold=args.threshold,
        cross_blocks=not args.no_cross_blocks,
        block_size=args.block_size,
        block_layout=args.block_layout,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        confidence=args.confidence,
        device=args.device,
    )


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from freedave.serve.app import create_app
    except ImportError as e:
        raise DecodeError(f"freedave serve needs the serve extra ({e.name} is missing): pip install 'freedave[serve]'") from None
    settings = settings_from_args(args)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    loaded = common.load_model(args)
    app = create_app(loaded, settings)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, restores the handlers it found and raises the
    # signal again; handlers that ignore it make that a clean exit 0 after the shutdown.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning")
    return 0
