#!/usr/bin/env bash
# Every benchmark in one call on the lent GPU machine, beside stock ComfyUI's own anchors (same call, so every
# comparison is a ratio on one machine), written into BENCHMARKS.md with the command, the GPU and the date.
#
#   bash bench/gpu.sh --prepare   # here: copy the anchors, a face tile and the wheels the GPU image lacks to .gpu-carry/
#   bash bench/gpu.sh --smoke     # here, on the CPU: tiny sizes through every step, with only the packages the GPU
#                                 # image has (bench/gpu_image/) importable; writes nothing into BENCHMARKS.md
#   bash bench/gpu.sh             # there: device run with carry [".gpu-carry", ".cache/comfyui-0.3.75"] (~6 min)
#
# Each step has its own time limit and log, and a failing step does not stop the others. What comes back, in $OUT
# (or out/gpu): BENCHMARKS.md updated, summary.txt (each step's exit status and seconds) and raw.tgz (every
# log, the anchors' JSON and profiles). Keep raw.tgz under bench/results/ with the BENCHMARKS.md it produced.
set -uo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu-carry
WHEELS="onnx2torch==1.5.15 spandrel==0.4.2 torchsde==0.2.6 trampoline==0.1.2 av==18.1.0"  # what the GPU image lacks
export COMFYUI_PATH="${COMFYUI_PATH:-$PWD/.cache/comfyui-0.3.75}"
MODE="${1:-gpu}"

prepare() {
  set -e
  mkdir -p "$CARRY/anchors" "$CARRY/wheels"
  cp ../shared/bench/stock_qwen_dit_anchor.py ../shared/bench/stock_qwen_te_vae_anchor.py "$CARRY/anchors/"
  .venv/bin/python bench/face_bench.py --save-tile "$CARRY/face_tile.npz"
  rm -f "$CARRY"/wheels/*.whl
  # shellcheck disable=SC2086
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d "$CARRY/wheels" $WHEELS
  [ -d "$COMFYUI_PATH/comfy" ] || { echo "no ComfyUI at $COMFYUI_PATH: run bash tests/run.sh once"; exit 1; }
  local mib=$(( ($(du -sb "$CARRY" "$COMFYUI_PATH" | awk '{s+=$1} END {print s}') + $(git ls-files -z | xargs -0 cat | wc -c)) >> 20 ))
  echo "the call carries about $mib MiB (the limit is 64)"
  [ "$mib" -lt 64 ]
}

if [ "$MODE" = "--prepare" ]; then prepare; exit; fi
[ -f "$CARRY/face_tile.npz" ] || { echo "run: bash bench/gpu.sh --prepare (here, before the device call)"; exit 2; }

RESULTS="${OUT:-out/gpu}"
LOGS="$(mktemp -d)"
mkdir -p "$RESULTS"
: > "$RESULTS/summary.txt"
if [ "$MODE" = "--smoke" ]; then
  PY="$PWD/.venv/bin/python"
  export PYTHONPATH="$PWD/bench/gpu_image" LIKENESS_GPU_WHEELS="$PWD/$CARRY/wheels"
  export LIKENESS_BENCHMARKS="$LOGS/BENCHMARKS.md" BENCH_CPU=1 BENCH_SMALL=1 BENCH_PROFILE=0 BENCH_LAYERS=2 BENCH_CONFIGS=bf16
  cp BENCHMARKS.md "$LIKENESS_BENCHMARKS"
  FACE_ARGS="--quick" QWEN_ARGS="--small --refs 1,2 --steps 1" LIMIT=600
else
  PY=python3
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    "$CARRY"/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 BENCH_PROFILE=0 BENCH_CONFIGS=bf16,fp8_manual_cast
  FACE_ARGS="" QWEN_ARGS="" LIMIT=0
fi

step() {  # step NAME SECONDS COMMAND...: run it with a time limit (the smoke run's LIMIT replaces it), log it
  local name=$1 limit=$2 start=$SECONDS status
  shift 2
  [ "$LIMIT" -gt 0 ] && limit=$LIMIT
  echo "== $name (limit ${limit}s): $*"
  timeout "$limit" "$@" > "$LOGS/$name.log" 2>&1
  status=$?
  tail -n 4 "$LOGS/$name.log"
  echo "$name: exit $status, $((SECONDS - start)) s" | tee -a "$RESULTS/summary.txt"
}

step machine 30 bash -c "nvidia-smi || echo 'no GPU'; $PY -c 'import torch; print(torch.__version__, torch.cuda.is_available())'"
mkdir -p "$LOGS/dit" "$LOGS/te_vae"
step stock-dit 100 env OUT="$LOGS/dit" "$PY" "$CARRY/anchors/stock_qwen_dit_anchor.py"
step stock-dit-table 20 "$PY" bench/anchors.py dit "$LOGS/dit"
step stock-te-vae 70 env OUT="$LOGS/te_vae" "$PY" "$CARRY/anchors/stock_qwen_te_vae_anchor.py"
step stock-te-vae-table 20 "$PY" bench/anchors.py te_vae "$LOGS/te_vae"
# shellcheck disable=SC2086
step face 90 "$PY" bench/face_bench.py --tile "$CARRY/face_tile.npz" $FACE_ARGS
# shellcheck disable=SC2086
step qwen 150 "$PY" bench/qwen_bench.py $QWEN_ARGS

cp "${LIKENESS_BENCHMARKS:-BENCHMARKS.md}" "$RESULTS/BENCHMARKS.md"
tar czf "$RESULTS/raw.tgz" -C "$LOGS" .
echo "results in $RESULTS:"; cat "$RESULTS/summary.txt"
! grep -qv "exit 0," "$RESULTS/summary.txt"
