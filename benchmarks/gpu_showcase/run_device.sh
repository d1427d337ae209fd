#!/usr/bin/env bash
# Runs the GPU showcase on the device machine (H200, no TensorFlow, Keras on JAX):
# regularized evolution and Keras Tuner's RandomSearch with the same wall-clock search budget
# and the same final training recipe; both side by side on the GPU by default, or one arm per
# call with ARMS (how run 3 was made: ARMS=evolution, then ARMS=random). Writes into $OUT:
# evolution.log, random.log, gpu_util.csv and showcase.tgz (both run directories without model
# files, and the `report` output of each; showcase_<arm>.tgz when ARMS names one arm).
set -u
# MEM_FRACTION 0.19: with search.workers: 4, five processes (the chief and four workers) share the GPU.
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false XLA_PYTHON_CLIENT_MEM_FRACTION=0.19 PYTHONUNBUFFERED=1
# XLA's default convolution autotuning is most of a trial's compilation (about 40 s per trial),
# but do not turn it off: with XLA_FLAGS=--xla_gpu_autotune_level=0 the first trial took 167 s
# instead of 48 s at 100 % GPU utilisation (slow convolution algorithms).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 2 > "$OUT/gpu_util.csv" &
SMI=$!
CFG=${CFG:-benchmarks/gpu_showcase/fashion_mnist_gpu.yaml}
# ARMS="evolution" or ARMS="random" runs one arm alone (e.g. one arm per 10-minute device call);
# SETS="search.latency_runs=0 search.time_budget=300" adds --set overrides (no spaces inside one).
ARMS=${ARMS:-evolution random}
SETS=${SETS:-}
EXTRA=(); for s in $SETS; do EXTRA+=(--set "$s"); done
PIDS=()
for arm in $ARMS; do
  if [ "$arm" = evolution ]; then
    python3 -m keras_nas_plus.cli search $CFG --overwrite "${EXTRA[@]}" > "$OUT/evolution.log" 2>&1 &
  else
    python3 -m keras_nas_plus.cli search $CFG --overwrite --set 'strategy={type: random}' \
      --set search.directory=runs/gpu_random "${EXTRA[@]}" > "$OUT/random.log" 2>&1 &
  fi
  PIDS+=($!)
done
wait "${PIDS[@]}"
kill $SMI
mkdir -p runs/reports
for arm in $ARMS; do
  python3 -m keras_nas_plus.cli report runs/gpu_$arm --output runs/reports/$arm > runs/reports/$arm.txt 2>&1
done
DIRS=(); for arm in $ARMS; do DIRS+=("gpu_$arm"); done
TGZ=showcase.tgz; [ "$ARMS" = "evolution random" ] || TGZ="showcase_${ARMS// /_}.tgz"
(cd runs && tar czf "$OUT/$TGZ" --exclude='*.keras' --exclude='*.weights.h5' --exclude='*.h5' "${DIRS[@]}" reports)
for arm in $ARMS; do tail -4 "$OUT/$arm.log"; done
