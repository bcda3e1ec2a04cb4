#!/usr/bin/env bash
# The committed benchmark: the bundled reference model on its held-out task, every decoder side by side.
# Writes benchmarks/results/{results.json,report.md,*.png} and refreshes the headline table in README.md,
# then benchmarks/results/no_cross_blocks/ (FreeDave with --no-cross-blocks beside static),
# benchmarks/results/trees/ (chains against draft trees, --draft-branches) and
# benchmarks/results/compile/ (every strategy with --compile; compile_ab.py compares eager and compiled in one process).
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
  --draft-depths 1,2,4,8,16,auto --thresholds 0.5,0.7,0.9,0.95 \
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

# Draft trees: FreeDave chains and trees (runner-up rows per round) side by side
"$FREEDAVE" bench \
  --model reference --task reference "${EXTRA[@]}" \
  --strategies static,freedave \
  --draft-depths 4,8,16 --draft-branches 0,1,2,4 \
  --temperature 0 --seed 0 --device cpu --dtype float32 --batch-size 1 \
  --out benchmarks/results/trees

# Every strategy with the forward torch.compile'd (compiled at load, never inside a timing)
"$FREEDAVE" bench \
  --model reference --task reference "${EXTRA[@]}" \
  --strategies static,threshold,freedave --compile \
  --draft-depths 4,8,auto --thresholds 0.9 \
  --temperature 0 --seed 0 --device cpu --dtype float32 --batch-size 1 \
  --out benchmarks/results/compile

# Eager against compiled in one process, interleaved (tokens/s of each and whether the tokens agree)
"${PYTHON:-.venv/bin/python}" benchmarks/compile_ab.py --limit "${LIMIT:-100}" --threads "${THREADS:-1}" \
  --out benchmarks/results/compile/compile_ab.json
