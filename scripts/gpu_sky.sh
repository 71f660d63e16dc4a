#!/usr/bin/env bash
# Issue 9 on the GPU machine: simulate, train and evaluate in one timed run (scripts/gpu_sky.py says what).
# Results go under $OUT; turn them into docs/results/ and the model card here with
#   python3 scripts/sky_results.py OUT_DIR --install-model
# Tiny CPU rehearsal of the same steps: SKY_SMOKE=1 OUT=/tmp/o bash scripts/gpu_sky.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the results folder}"
mkdir -p "$OUT"
{ nvidia-smi -L || true; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } > "$OUT/machine.txt" 2>&1
exec python3 scripts/gpu_sky.py
