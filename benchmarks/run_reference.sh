#!/usr/bin/env bash
# The committed benchmark: the bundled reference model on its held-out task, every decoder side by side.
# Writes benchmarks/results/{results.json,report.md,*.png} and refreshes the headline table in README.md.
# Usage: bash benchmarks/run_reference.sh            (LIMIT=N to run only the first N problems)
set -euo pipefail
cd "$(dirname "$0")/.."
FREEDAVE="${FREEDAVE:-.venv/bin/freedave}"
LIMIT_ARGS=()
if [[ -n "${LIMIT:-}" ]]; then LIMIT_ARGS=(--limit "$LIMIT"); fi

"$FREEDAVE" bench \
  --model reference --task reference "${LIMIT_ARGS[@]}" \
  --strategies static,threshold,freedave \
  --draft-depths 2,4,8,16 --thresholds 0.5,0.7,0.9,0.95 \
  --temperature 0 --seed 0 --device cpu --dtype float32 --batch-size 1 \
  --out benchmarks/results

"${PYTHON:-.venv/bin/python}" benchmarks/update_readme.py benchmarks/results/results.json README.md
