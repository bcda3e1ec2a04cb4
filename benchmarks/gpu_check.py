"""One-GPU readiness check on a size-realistic block-diffusion model with random weights.

Nothing is downloaded: a Qwen3 model of Qwen3-0.6B's shape (28 layers, hidden 1024, 16/8 heads,
head dim 128, vocabulary 151936, tied embeddings) is built here with random weights and saved as an
SDAR-style checkpoint folder (``model_type="sdar"``, a ``block_size``, a mask id) with a character
tokenizer. On it, in one process:

1. the cost curve: ms per forward against draft rows (``benchmarks/cost_curve.py``);
2. ``freedave bench``: static, threshold and FreeDave (chains, and draft trees with 2 runner-up rows)
   on a few prompts (tokens/s, tokens/NFE, exact match against static);
3. ``--compile``: a bench of static and FreeDave d=8 on the compiled forward and ``freedave check
   --compile`` (reported in ``gpu_check.md``, never failed: a compiled GPU kernel may break batch
   invariance, and the check says so);
4. ``freedave check`` in float32 and bfloat16, without and then with ``--deterministic`` (the
   deterministic runs last: that mode sets process-wide torch flags).

Writes ``check.json``, ``cost_curve.json``, ``bench.json`` (+ ``bench/`` report), ``bench_compile.json``, ``gpu_check.json``
(all of it, with timings) and ``gpu_check.md`` into ``--out``. Exit status 0 when the
``--deterministic`` checks passed and the bench ran: without that flag a GPU's kernels may
legitimately break batch invariance, which is reported, not failed.
Random weights say nothing about accuracy; they are for speed, batch invariance and plumbing.

    bash benchmarks/gpu_check.sh                      # cuda, 0.6B, benchmarks/results/gpu/
    bash benchmarks/gpu_check.sh --tiny --device cpu --out /tmp/gpu_check
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import freedave
from freedave.bench import system
from freedave.cli import main as cli

log = logging.getLogger("freedave.gpu_check")

SPECIALS = ["<pad>", "<bos>", "<eos>", "<mask>"]
CHARS = string.ascii_letters + string.digits + " +-*/=,.:;()[]?!'\"\n"
SIZES: dict[str, dict[str, Any]] = {
    # the published shape of Qwen3-0.6B (facts from its config); the weights here are random
    "0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128, vocab_size=151936, max_position_embeddings=4096,
                 rope_theta=1_000_000.0, tie_word_embeddings=True),
    "tiny": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=8, vocab_size=128, max_position_embeddings=512,
                 rope_theta=10_000.0, tie_word_embeddings=True),
}
PROMPTS = [
    "Write a short note about the weather in spring.",
    "List three uses of a paper clip.",
    "Explain why the sky looks blue, in one paragraph.",
    "What is 17 times 23? Show the steps.",
    "Give a recipe for pancakes.",
    "Describe a quiet street at night.",
    "Summarise the rules of chess in a few lines.",
    "Translate 'good morning' into French and German.",
]


def save_tokenizer(path: Path, vocab_size: int) -> None:
    """One token per character, padded with unused tokens up to the model's vocabulary size."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    names = SPECIALS + list(CHARS)
    names += [f"<unused{i}>" for i in range(vocab_size - len(names))]
    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(names)}, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>",
                                   eos_token="<eos>", mask_token="<mask>")
    fast.save_pretrained(str(path))


def build_checkpoint(path: Path, size: str, block_size: int, device: str, seed: int = 0) -> int:
    """Save a random Qwen3 of ``size`` as an SDAR-style checkpoint (bfloat16); returns its parameter count."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    dims = SIZES[size]
    config = Qwen3Config(**dims, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(seed)
    with torch.device(device):  # initialise where it will run: seconds on a GPU for 0.6B
        model = Qwen3ForCausalLM(config)
    model = model.to(torch.bfloat16).eval()
    model.save_pretrained(str(path))
    cfg = json.loads((path / "config.json").read_text())
    cfg |= {"model_type": "sdar", "architectures": ["SDARForCausalLM"], "block_size": block_size,
            "mask_token_id": SPECIALS.index("<mask>")}
    (path / "config.json").write_text(json.dumps(cfg, indent=2))
    save_tokenizer(path, dims["vocab_size"])
    return sum(p.numel() for p in model.parameters())


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``freedave ARGV`` in this process (one import of torch for every step); (exit status, stdout)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            rc = cli(argv)
        except SystemExit as e:  # argparse and main report errors this way
            rc = int(e.code or 0)
    return rc, buf.getvalue()


def run_checks(ckpt: Path, device: str, max_batch: int) -> list[dict[str, Any]]:
    out = []
    for deterministic in (False, True):
        for dtype in ("float32", "bfloat16"):
            argv = ["check", "--model", str(ckpt), "--device", device, "--dtype", dtype, "--max-batch", str(max_batch),
                    "--json"] + (["--deterministic"] if deterministic else [])
            t0 = time.perf_counter()
            rc, text = run_cli(argv)
            lines = text.strip().splitlines()
            report = json.loads(lines[-1]) if lines else None
            out.append({"dtype": dtype, "deterministic": deterministic, "passed": rc == 0, "exit_status": rc,
                        "seconds": time.perf_counter() - t0, "command": "freedave " + " ".join(argv), "report": report})
            log.info("check %s deterministic=%s: %s", dtype, deterministic, "passed" if rc == 0 else "FAILED")
    return out


def run_bench(ckpt: Path, data: Path, out: Path, device: str, dtype: str, max_new_tokens: int) -> tuple[int, dict | None]:
    argv = ["bench", "--model", str(ckpt), "--task", "jsonl", "--data", str(data), "--device", device, "--dtype", dtype,
            "--strategies", "static,threshold,freedave", "--draft-depths", "2,4,8", "--draft-branches", "0,2",
            "--thresholds", "0.9", "--max-new-tokens", str(max_new_tokens), "--json", str(out / "bench.json"), "--out", str(out / "bench"),
            "--quiet"]
    rc, _ = run_cli(argv)
    path = out / "bench.json"
    return rc, json.loads(path.read_text()) if rc == 0 and path.is_file() else None


def run_compiled(ckpt: Path, data: Path, out: Path, device: str, dtype: str, max_new_tokens: int,
                 max_batch: int) -> dict[str, Any]:
    """``--compile``: a bench of static and FreeDave d=8 (``bench_compile.json``) and ``freedave check
    --compile`` (does the compiled forward stay batch-invariant here?). Reported, never failed: a
    compiled kernel may legitimately break batch invariance on a GPU."""
    argv = ["bench", "--model", str(ckpt), "--task", "jsonl", "--data", str(data), "--device", device, "--dtype", dtype,
            "--strategies", "freedave", "--draft-depths", "8", "--max-new-tokens", str(max_new_tokens), "--compile",
            "--json", str(out / "bench_compile.json"), "--quiet"]
    rc, _ = run_cli(argv)
    path = out / "bench_compile.json"
    bench = json.loads(path.read_text()) if rc == 0 and path.is_file() else None
    check_argv = ["check", "--model", str(ckpt), "--device", device, "--dtype", dtype, "--max-batch", str(max_batch),
                  "--compile", "--json"]
    crc, text = run_cli(check_argv)
    lines = text.strip().splitlines()
    report = json.loads(lines[-1]) if crc in (0, 1) and lines else None
    log.info("compiled bench exit %d, compiled check exit %d", rc, crc)
    return {"bench_exit_status": rc, "bench": bench, "check_exit_status": crc, "check_passed": crc == 0,
            "check_command": "freedave " + " ".join(check_argv), "check": report}


def compiled_markdown(c: dict[str, Any]) -> list[str]:
    lines = ["", "## --compile", ""]
    r = c["check"] or {}
    lines.append(f"freedave check --compile: {'passed' if c['check_passed'] else 'FAILED'} (batch-invariant "
                 f"{fmt(r.get('batch_invariant'))}, max abs diff {fmt(r.get('max_abs_diff'))}, compiled vs eager "
                 f"{fmt(r.get('compile_max_abs_diff_vs_eager'))}).")
    bench = c["bench"]
    if bench is None:
        return [*lines, "", f"compiled bench failed (exit status {c['bench_exit_status']})"]
    lines += ["", f"compiled at load in {fmt(bench['meta'].get('compile_seconds'), '.1f')} s", "",
              "| strategy | compile | tokens/s | tokens/NFE | exact match vs static |", "|---|---|---|---|---|"]
    for r in bench["rows"]:
        name = r["strategy"] + (f" d={r['draft_depth']}" if r["draft_depth"] is not None else "")
        lines.append(f"| {name} | {fmt(r.get('compile'))} | {fmt(r['tokens_per_second'], '.1f')} | "
                     f"{fmt(r['tokens_per_nfe'], '.2f')} | {fmt(r['exact_match_vs_static'], '.3f')} |")
    return lines


def fmt(v: Any, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def markdown(summary: dict[str, Any], curve_md: str) -> str:
    m = summary["meta"]
    lines = [
        "# GPU check",
        "",
        f"{m['size']} random-weight SDAR-style Qwen3 ({m['parameters']:,} parameters, block {m['block_size']}) "
        f"on {m['device']} ({m['gpu'] or m['cpu']}), {m['date']}, {m['seconds_total']:.0f} s in all.",
        f"Command: `{m['command']}`",
        "",
        f"**{'passed' if summary['passed'] else 'FAILED'}** (every --deterministic check passed and the bench ran); "
        f"all four checks passed: {'yes' if summary['all_checks_passed'] else 'no'}.",
        "",
        "## freedave check",
        "",
        "| dtype | --deterministic | passed | batch-invariant | max abs diff | cache exact | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in summary["checks"]:
        r = c["report"] or {}
        lines.append(f"| {c['dtype']} | {'yes' if c['deterministic'] else 'no'} | {'yes' if c['passed'] else 'NO'} | "
                     f"{fmt(r.get('batch_invariant'))} | {fmt(r.get('max_abs_diff'))} | {fmt(r.get('cache_exact'))} | "
                     f"{c['seconds']:.1f} |")
    lines += ["", "## Cost curve", "", curve_md, "## Bench", ""]
    bench = summary["bench"]
    if bench is None:
        lines.append("bench failed (see the log)")
    else:
        lines += [f"dtype {summary['meta']['bench_dtype']}, {bench['meta']['n_problems']} prompts, "
                  f"{bench['meta']['config']['max_new_tokens']} new tokens", "",
                  "| strategy | tokens/s | tokens/NFE | speed-up vs static | exact match vs static | s/forward |",
                  "|---|---|---|---|---|---|"]
        for r in bench["rows"]:
            name = r["strategy"] + (f" d={r['draft_depth']}" if r["draft_depth"] is not None else "")
            name += f" b={r['draft_branches']}" if r.get("draft_branches") else ""
            name += f" τ={r['threshold']:g}" if r["threshold"] is not None else ""
            lines.append(f"| {name} | {fmt(r['tokens_per_second'], '.1f')} | {fmt(r['tokens_per_nfe'], '.2f')} | "
                         f"{fmt(r['speedup_vs_static'], '.2f')} | {fmt(r['exact_match_vs_static'], '.3f')} | "
                         f"{fmt(r['seconds_per_forward'], '.4f')} |")
    if summary.get("compiled") is not None:
        lines += compiled_markdown(summary["compiled"])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda | cpu | mps")
    ap.add_argument("--size", choices=tuple(SIZES), default="0.6b", help="model shape (random weights)")
    ap.add_argument("--tiny", action="store_const", const="tiny", dest="size", help="= --size tiny (CPU, seconds)")
    ap.add_argument("--out", default="benchmarks/results/gpu", help="where the JSON and Markdown go")
    ap.add_argument("--block-size", type=int, default=4, help="SDAR's block size is 4")
    ap.add_argument("--prompts", type=int, default=None, help="bench prompts (default 8; 2 with --tiny)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default 64; 8 with --tiny")
    ap.add_argument("--max-batch", type=int, default=None, help="freedave check --max-batch (default 32; 4 with --tiny)")
    ap.add_argument("--bench-dtype", default=None, help="default bfloat16 on a GPU, float32 on CPU")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: 1 for --tiny on a CPU, where more only contend; else torch's)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    tiny = args.size == "tiny"
    threads = args.threads or (1 if tiny and args.device == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    n = args.prompts or (2 if tiny else 8)
    new = args.max_new_tokens or (8 if tiny else 64)
    max_batch = args.max_batch or (4 if tiny else 32)
    bench_dtype = args.bench_dtype or ("float32" if args.device == "cpu" else "bfloat16")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    timings: dict[str, float] = {}

    with tempfile.TemporaryDirectory(prefix="freedave-gpu-check-") as tmp:
        ckpt, data = Path(tmp) / "ckpt", Path(tmp) / "prompts.jsonl"
        t0 = time.perf_counter()
        params = build_checkpoint(ckpt, args.size, args.block_size, args.device)
        timings["build_s"] = time.perf_counter() - t0
        data.write_text("".join(json.dumps({"prompt": p, "answer": ""}) + "\n" for p in (PROMPTS * n)[:n]))
        log.info("built %s (%d parameters) in %.1f s", ckpt, params, timings["build_s"])

        sys.path.insert(0, str(Path(__file__).parent))
        import cost_curve

        t0 = time.perf_counter()
        m = freedave.load(str(ckpt), device=args.device, dtype=bench_dtype)
        with torch.no_grad():
            curve = cost_curve.measure(m, [1, 2, 4, 8] if tiny else [1, 2, 4, 8, 16, 32], 3 if tiny else 20, args.device)
        del m
        timings["cost_curve_s"] = time.perf_counter() - t0
        (out / "cost_curve.json").write_text(json.dumps(curve, indent=1) + "\n")

        t0 = time.perf_counter()
        bench_rc, bench = run_bench(ckpt, data, out, args.device, bench_dtype, new)
        timings["bench_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        compiled = run_compiled(ckpt, data, out, args.device, bench_dtype, new, max_batch)
        timings["compile_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        checks = run_checks(ckpt, args.device, max_batch)
        timings["check_s"] = time.perf_counter() - t0
        (out / "check.json").write_text(json.dumps(checks, indent=1) + "\n")

    timings["total_s"] = time.perf_counter() - t_all
    # the promise is made with --deterministic; without it a GPU may legitimately not be batch-invariant
    passed = all(c["passed"] for c in checks if c["deterministic"]) and bench_rc == 0
    summary = {
        "meta": {
            "command": "bash benchmarks/gpu_check.sh " + " ".join(argv if argv is not None else sys.argv[1:]),
            "size": args.size, "parameters": params, "block_size": args.block_size, "device": args.device,
            "bench_dtype": bench_dtype, "threads": torch.get_num_threads(), "prompts": n, "max_new_tokens": new, "max_batch": max_batch,
            "date": system.now(), "versions": system.versions(), **system.machine(args.device),
            "seconds_total": timings["total_s"], "timings": timings,
        },
        "passed": passed,
        "all_checks_passed": all(c["passed"] for c in checks),
        "checks": checks,
        "cost_curve": curve,
        "bench": bench,
        "bench_exit_status": bench_rc,
        "compiled": compiled,
    }
    (out / "gpu_check.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    (out / "gpu_check.md").write_text(markdown(summary, cost_curve.markdown(curve)))
    log.info("%s in %.0f s: %s", "passed" if passed else "FAILED", timings["total_s"], out / "gpu_check.md")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
