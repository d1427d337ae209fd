#!/usr/bin/env bash
# Equal-compute comparison on one GPU (issue 23): the hand-written Wide ResNet anchor and
# keras-nas-plus searches, one after the other on the same card, each timed from its command's
# start (Python start-up, data loading, search, final training and test evaluation included).
# Written for the project's device machine (Keras on JAX, no TensorFlow, no internet):
#   .whl/      the pure-Python wheels (keras, keras-tuner, kt-legacy, namex, optree, dm-tree,
#              grpcio, protobuf), installed with --no-deps;
#   .devdata/  fashion_mnist.npz (full Fashion-MNIST, uint8) and wrn_baseline.py (../shared/anchors/).
# Environment:
#   RUNS   space-separated list of what to run, in order: "anchor" (WRN-16-8, 500 s budget, the
#          anchor README's reference), "anchor:BUDGET:DEPTH:WIDTH", "search:SEED" (the committed
#          config, strategy as configured), "random:SEED" (Keras Tuner's RandomSearch, same config).
#   CFG    the config (default benchmarks/equal_compute/fashion_mnist_wrn.yaml).
#   SETS   extra --set overrides for the searches (no spaces inside one).
#   CACHE  the config's `search.compilation_cache` folder (default runs/jax_cache). It is emptied
#          before each search, so that every arm compiles from cold as a user's first run does
#          (a warm machine keeps runs/ between calls); WARM_CACHE=1 keeps it.
# Writes into $OUT: one log per run (NAME.log), times.tsv (name, seconds from start to end, exit
# status), gpu_util.csv (nvidia-smi every 2 s) and runs.tgz (the run directories, no model files).
set -u
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
CFG=${CFG:-benchmarks/equal_compute/fashion_mnist_wrn.yaml}
RUNS=${RUNS:-anchor search:0}
EXTRA=(); for s in ${SETS:-}; do EXTRA+=(--set "$s"); done
nvidia-smi --query-gpu=name --format=csv,noheader | head -1 > "$OUT/gpu_name.txt"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 2 > "$OUT/gpu_util.csv" &
SMI=$!
DIRS=()
for run in $RUNS; do
  IFS=: read -r kind a b c <<< "$run"
  start=$(date +%s%N)
  case "$kind" in
    anchor)
      name="anchor_${a:-500}_${b:-16}_${c:-8}"
      XLA_PYTHON_CLIENT_MEM_FRACTION=0.9 python3 .devdata/wrn_baseline.py .devdata/fashion_mnist.npz \
        "${a:-500}" "${b:-16}" "${c:-8}" > "$OUT/$name.log" 2>&1 ;;
    search|random)
      name="${kind}_seed${a:-0}"
      strat=(); [ "$kind" = random ] && strat=(--set 'strategy={type: random}')
      [ "${WARM_CACHE:-0}" = 1 ] || rm -rf "${CACHE:-runs/jax_cache}"
      python3 -m keras_nas_plus.cli search "$CFG" --overwrite "${strat[@]}" --set "search.seed=${a:-0}" \
        --set "search.directory=runs/$name" "${EXTRA[@]}" > "$OUT/$name.log" 2>&1
      DIRS+=("$name") ;;
    *) echo "unknown run $run" >&2; continue ;;
  esac
  rc=$?
  ds=$(( ($(date +%s%N) - start) / 100000000 ))  # tenths of a second
  printf '%s\t%d.%d\t%s\n' "$name" $((ds / 10)) $((ds % 10)) "$rc" >> "$OUT/times.tsv"
  tail -3 "$OUT/$name.log"
done
kill $SMI
[ ${#DIRS[@]} -gt 0 ] && (cd runs && tar czf "$OUT/runs.tgz" --exclude='*.keras' --exclude='*.weights.h5' --exclude='*.h5' "${DIRS[@]}")
cat "$OUT/times.tsv"
