#!/usr/bin/env bash
# The committed benchmark: the bundled reference model on its held-out task, every decoder side by side.
# Writes benchmarks/results/{results.json,report.md,*.png} and refreshes the headline table in README.md,
# then benchmarks/results/no_cross_blocks/ (FreeDave with --no-cross-blocks beside static).
# Usage: bash benchmarks/run_reference.sh
#   LIMIT=N    only the first N held-out problems (default: all 400)
#   THREADS=N  torch CPU threads (default: torch's choice; use 1 on a machine others are using)
set -euo pipefail
cd "$(dirname "$0")/.."
FREEDAVE="${FREEDAVE:-.venv/bin/freedave}"
EXTRA=()
if [[ -n "${LIMIT:-}" ]]; then EXTRA+=(--limit "$LIMIT"); fi
if [[ -n "${THREADS:-}" ]]; then EXTRA+=(--threads "$THREADS"); fi

"$FREEDAVE" bench \
  --model reference --task reference "${EXTRA[@]}" \
  --strategies static,threshold,freedave \
  --draft-depths 2,4,8,16,auto --thresholds 0.5,0.7,0.9,0.95 \
  --temperature 0 --seed 0 --device cpu --dtype float32 --batch-size 1 \
  --out benchmarks/results

"${PYTHON:-.venv/bin/python}" benchmarks/update_readme.py benchmarks/results/results.json README.md

# The same FreeDave sweep with drafts stopping at block edges (forwards never widen to the next block)
"$FREEDAVE" bench \
  --model reference --task reference "${EXTRA[@]}" \
  --strategies static,freedave --no-cross-blocks \
  --draft-depths 2,4,8,16,auto \
  --temperature 0 --seed 0 --device cpu --dtype float32 --batch-size 1 \
  --out benchmarks/results/no_cross_blocks
