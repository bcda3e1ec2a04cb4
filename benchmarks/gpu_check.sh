#!/usr/bin/env bash
# GPU readiness check in under 5 minutes on one GPU: freedave check (float32 and bfloat16, with and
# without --deterministic), the cost curve, and a bench of static / threshold / FreeDave (+ draft trees), on a random
# Qwen3-0.6B-shaped SDAR-style checkpoint built locally (nothing downloaded).
# Writes gpu_check.json, gpu_check.md, check.json, cost_curve.json, bench.json and bench/ into OUT.
# Usage: bash benchmarks/gpu_check.sh [--tiny] [--device DEV] [--out DIR] [--size 0.6b|tiny] ...
#   DEVICE=cuda                  default device (a --device flag wins)
#   OUT=benchmarks/results/gpu   default output folder (an --out flag wins)
#   PYTHON=.venv/bin/python      the interpreter with freedave's dependencies
# Exit status 0 when every --deterministic check passed and the bench ran (gpu_check.md says which passed).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-.venv/bin/python}" benchmarks/gpu_check.py \
  --device "${DEVICE:-cuda}" --out "${OUT:-benchmarks/results/gpu}" "$@"
