#!/usr/bin/env bash
# Runs the GPU showcase on the device machine (H200, no TensorFlow, Keras on JAX):
# regularized evolution and Keras Tuner's RandomSearch with the same wall-clock search budget
# and the same final training recipe; both side by side on the GPU by default, or one arm per
# call with ARMS (how run 3 was made: ARMS=evolution, then ARMS=random). Writes into $OUT:
# evolution.log, random.log, gpu_util.csv and showcase.tgz (both run directories without model
# files; showcase_<arm>.tgz when ARMS names one arm). Runs 3-5 also made the `report` output here.
# GPUS="0 1" (a machine with two GPUs) gives each arm a GPU of its own: the arms run at the same
# time, each as it would alone on one H200, and each arm's `nvidia-smi` log is gpu_util_<arm>.csv.
set -u
# MEM_FRACTION 0.19: with search.workers: 4, five processes (the chief and four workers) share the GPU.
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false XLA_PYTHON_CLIENT_MEM_FRACTION=0.19 PYTHONUNBUFFERED=1
# XLA's default convolution autotuning is most of a trial's compilation (about 40 s per trial),
# but do not turn it off: with XLA_FLAGS=--xla_gpu_autotune_level=0 the first trial took 167 s
# instead of 48 s at 100 % GPU utilisation (slow convolution algorithms).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
CFG=${CFG:-benchmarks/gpu_showcase/fashion_mnist_gpu.yaml}
# ARMS="evolution" or ARMS="random" runs one arm alone (e.g. one arm per 10-minute device call);
# SETS="search.latency_runs=0 search.time_budget=300" adds --set overrides (no spaces inside one).
ARMS=${ARMS:-evolution random}
SETS=${SETS:-}
GPUS=(${GPUS:-})
EXTRA=(); for s in $SETS; do EXTRA+=(--set "$s"); done
SMI=()
if [ ${#GPUS[@]} -eq 0 ]; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 2 > "$OUT/gpu_util.csv" &
  SMI+=($!)
fi
PIDS=()
i=0
for arm in $ARMS; do
  if [ ${#GPUS[@]} -gt 0 ]; then
    export CUDA_VISIBLE_DEVICES=${GPUS[$i]}
    nvidia-smi -i "${GPUS[$i]}" --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 2 \
      > "$OUT/gpu_util_$arm.csv" &
    SMI+=($!)
  fi
  i=$((i + 1))
  if [ "$arm" = evolution ]; then
    python3 -m keras_nas_plus.cli search $CFG --overwrite "${EXTRA[@]}" > "$OUT/evolution.log" 2>&1 &
  else
    python3 -m keras_nas_plus.cli search $CFG --overwrite --set 'strategy={type: random}' \
      --set search.directory=runs/gpu_random "${EXTRA[@]}" > "$OUT/random.log" 2>&1 &
  fi
  PIDS+=($!)
done
wait "${PIDS[@]}"
kill "${SMI[@]}"
DIRS=(); for arm in $ARMS; do DIRS+=("gpu_$arm"); done
TGZ=showcase.tgz; [ "$ARMS" = "evolution random" ] || TGZ="showcase_${ARMS// /_}.tgz"
# The reports are made back on the CPU machine (`keras-nas-plus report` on the unpacked run
# directories): here they took 15-30 s more, and a call may not outlast 10 minutes.
(cd runs && tar czf "$OUT/$TGZ" --exclude='*.keras' --exclude='*.weights.h5' --exclude='*.h5' "${DIRS[@]}")
for arm in $ARMS; do tail -4 "$OUT/$arm.log"; done
