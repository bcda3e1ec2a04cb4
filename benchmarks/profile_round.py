"""Where a FreeDave round's time goes: the forward against everything the decoder does around it.

Decodes the first ``--limit`` problems of the bundled task with one strategy (after one untimed
warm-up decode), ``--repeats`` times, and splits the wall time of the fastest repeat (the one a
shared machine disturbed least) by *exclusive* time of the decoder's parts: the model's
forward (``Denoiser.logits``), scoring (``Scorer.batch``: softmax and the greedy table), drafting,
verification bookkeeping, acceptance, commit, hooks and the rest of the loop. Each part is wrapped
in a timer; a part's time excludes the parts it calls. ``--cprofile`` prints the top functions too.

    .venv/bin/python benchmarks/profile_round.py --strategy freedave --draft-depth 4 --limit 20 --threads 1
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import time
from collections import defaultdict

import torch

import freedave
from freedave.decoding import AutoDepth, DecodeConfig, common, decode, loop, steps
from freedave.decoding import freedave as fd
from freedave.decoding.config import FreeDave, Static
from freedave.tasks import get_task

TOTAL: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
_STACK: list[list[float]] = []  # per open part: [start, time spent in inner parts]


def timed(name: str, fn):  # noqa: ANN001, ANN201
    @functools.wraps(fn)
    def wrapper(*a, **k):  # noqa: ANN002, ANN003, ANN202
        _STACK.append([time.perf_counter(), 0.0])
        try:
            return fn(*a, **k)
        finally:
            t0, inner = _STACK.pop()
            dt = time.perf_counter() - t0
            TOTAL[name] += dt - inner
            CALLS[name] += 1
            if _STACK:
                _STACK[-1][1] += dt
    return wrapper


def instrument(den) -> None:  # noqa: ANN001
    """Wrap the parts (module globals are looked up at call time, so rebinding them is enough)."""
    den.logits = timed("forward (Denoiser.logits)", den.logits)
    steps.Scorer.batch = classmethod(timed("scoring (Scorer.batch)", steps.Scorer.batch.__func__))
    for name in ("draft", "verify", "accept", "forward", "_covers", "_lookahead"):
        if hasattr(fd, name):
            setattr(fd, name, timed(f"freedave.{name}", getattr(fd, name)))
    for mod in (fd, loop):
        for name in ("commit", "advance", "call_model"):
            if hasattr(mod, name):
                setattr(mod, name, timed(f"common.{name}", getattr(common, name)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--strategy", default="freedave", choices=("static", "freedave"))
    ap.add_argument("--draft-depth", default="4")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cprofile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    m = freedave.load("reference")
    task = get_task("reference", None, args.limit)
    prompts = [m.encode(p.prompt) for p in task.problems(args.limit)]
    cfg = DecodeConfig(max_new_tokens=int(getattr(task, "max_new_tokens", 64)), block_size=m.block_size or 16)
    depth = args.draft_depth if args.draft_depth == "auto" else int(args.draft_depth)
    strategy = Static() if args.strategy == "static" else FreeDave(depth)
    kw = {"policy": AutoDepth()} if depth == "auto" else {}  # one learner for the run, as the bench keeps
    with torch.no_grad():
        decode(m.denoiser, prompts[:1], cfg, strategy, **kw)  # warm-up, untimed
        if not args.cprofile:
            instrument(m.denoiser)
        prof = cProfile.Profile() if args.cprofile else None
        best: tuple[float, dict, dict, list] | None = None
        for _ in range(1 if prof else args.repeats):
            TOTAL.clear()
            CALLS.clear()
            t0 = time.perf_counter()
            if prof is not None:
                prof.enable()
            res = [r for p in prompts for r in decode(m.denoiser, [p], cfg, strategy, **kw)]
            if prof is not None:
                prof.disable()
            wall = time.perf_counter() - t0
            if best is None or wall < best[0]:
                best = (wall, dict(TOTAL), dict(CALLS), res)
        wall, total, calls, res = best
    nfe = sum(r.nfe for r in res)
    tokens = sum(len(r.token_ids) for r in res)
    print(f"{strategy.name} d={getattr(strategy, 'draft_depth', '-')}: {len(res)} problems, {nfe} NFE, "
          f"{tokens} tokens, {wall:.3f} s, {1000 * wall / nfe:.3f} ms/NFE, threads={torch.get_num_threads()}")
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    rest = wall - sum(total.values())
    print("| part | ms total | share | calls | µs/NFE |\n|---|---|---|---|---|")
    for name, t in sorted({**total, "rest of the loop": rest}.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {1000 * t:.1f} | {100 * t / wall:.1f}% | {calls.get(name, '')} | {1e6 * t / nfe:.0f} |")


if __name__ == "__main__":
    main()
