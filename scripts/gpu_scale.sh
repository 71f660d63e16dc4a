#!/usr/bin/env bash
# Issue 10's GPU figures in one scripted run (about 3 minutes at most): model-only stars/s and the
# fraction of bf16 peak for lite and paper BATMM (benchmarks/bench_inference.py), then end-to-end
# `bhb score` stars/s and peak memory at two sizes (benchmarks/bench_score.py). Every figure lands
# as JSON under $OUT (default: a new temporary folder), with the logs, versions and nvidia-smi.
#
#   OUT=/some/dir scripts/gpu_scale.sh            # on the GPU machine
#   OUT=/tmp/x scripts/gpu_scale.sh --smoke       # tiny CPU setting: checks the script, measures nothing
#
# Needs torch + torchvision (+ numpy); bench_score also needs astropy, scipy and safetensors and is
# recorded as skipped where they are absent. A machine without network but without astropy (the
# H200 image: Python 3.12, torch, torchvision, numpy, scipy, safetensors, pyarrow, no astropy) can
# be given wheels in build/gpu_wheels (or $GPU_WHEELS), installed here into a scratch folder:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
#     astropy pyerfa astropy-iers-data pyyaml packaging -d build/gpu_wheels      # ~14 MB
# Never edit a figure by hand: the JSON is the record.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
PY=${PYTHON:-python}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1

if [ $SMOKE = 1 ]; then
  INFER=(--sizes lite --quick --no-train --budget-s 20)
  SCORE=(--sizes 200 400 --base 100 --workers 1 --batch-size 64 --device cpu)
  T_INFER=120; T_SCORE=150
else
  INFER=(--no-cpu --no-train --budget-s 75)
  SCORE=(--sizes 4000 16000 --base 500 --batch-size 1024 --device cuda)
  T_INFER=95; T_SCORE=80
fi

WHEELS=${GPU_WHEELS:-build/gpu_wheels}
if ! "$PY" -c "import astropy" 2>/dev/null && [ -d "$WHEELS" ]; then
  DEPS=$(mktemp -d)
  "$PY" -m pip install -q --no-index --no-deps --target "$DEPS" "$WHEELS"/*.whl > "$OUT/deps.log" 2>&1 \
    && export PYTHONPATH="$PYTHONPATH:$DEPS" && echo "installed $(ls "$WHEELS" | wc -l) wheels from $WHEELS"
fi

{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true; } > "$OUT/gpu.txt"
"$PY" - > "$OUT/versions.json" 2>&1 <<'PY'
import importlib.util, json, os, platform
import torch, torchvision
print(json.dumps({"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
                  "cuda": torch.cuda.is_available(), "cpus": os.cpu_count(),
                  "have": {m: importlib.util.find_spec(m) is not None for m in ("astropy", "scipy", "safetensors", "pyarrow")}}))
PY

run() {  # name, time limit, command...: log + the last line (the benchmark's JSON) as NAME.json
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  if [ $rc = 0 ]; then tail -n 1 "$OUT/$name.log" > "$OUT/$name.json"
  else echo "{\"error\": \"exit $rc (124: time cap ${limit}s)\", \"seconds\": $((SECONDS - start))}" > "$OUT/$name.json"; fi
  echo "$name: exit $rc in $((SECONDS - start)) s"
}

run bench_inference "$T_INFER" "$PY" benchmarks/bench_inference.py "${INFER[@]}"
if "$PY" -c "import astropy, scipy, safetensors" 2>/dev/null; then
  run bench_score "$T_SCORE" "$PY" benchmarks/bench_score.py "${SCORE[@]}" --keep "$OUT/score-data"
  rm -rf "$OUT/score-data"  # data sets are made by the benchmark; only the figures come back
else
  echo '{"skipped": "bench_score needs astropy, scipy and safetensors; not installed here"}' > "$OUT/bench_score.json"
  echo "bench_score: skipped (astropy/scipy/safetensors missing)"
fi
echo "figures in $OUT"
