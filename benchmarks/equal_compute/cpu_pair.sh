#!/usr/bin/env bash
# Equal-compute rule on the CPU (issue 23): the main example (`keras-nas-plus search
# examples/fashion_mnist.yaml`, as `make example` runs it) and then the hand-written Wide ResNet
# anchor (../shared/anchors/wrn_baseline.py) at small depth/width, on the same Fashion-MNIST
# sample that ships with the package (10k train / 2k test), with the example's wall-clock seconds
# as the anchor's budget. One after the other on the same machine, nothing else running.
# Environment:
#   ANCHOR   the anchor script (default ../shared/anchors/wrn_baseline.py)
#   SIZES    space-separated DEPTH:WIDTH list for the anchor (default "10:1")
#   OUT      where logs and times.tsv go (default runs/cpu_pair)
#   EXAMPLE  the example's config (default examples/fashion_mnist.yaml)
#   ANCHOR_BACKEND  Keras backend of the anchor (default tensorflow, the example's backend; its
#            README runs it on jax, which was slower on our 2-core CPU)
#   SETS     extra --set overrides for the example (no spaces inside one), e.g. "search.seed=1"
# Needs the project installed (`pip install -e ".[all]"`).
set -u
ANCHOR=${ANCHOR:-../shared/anchors/wrn_baseline.py}
SIZES=${SIZES:-10:1}
OUT=${OUT:-runs/cpu_pair}; mkdir -p "$OUT"
PY=${PYTHON:-python3}
EXTRA=(); for s in ${SETS:-}; do EXTRA+=(--set "$s"); done
SAMPLE=$($PY -c "import keras_nas_plus.datasets as d, os; print(os.path.join(os.path.dirname(d.__file__), 'fashion_mnist_small.npz'))")
# The machine, for the record: the same "2-core CPU" ran WRN-10-1 epochs 2-3x faster on some days.
{ date -u; nproc; lscpu 2>/dev/null | grep -i "model name"; } > "$OUT/machine.txt"
start=$(date +%s)
$PY -m keras_nas_plus.cli search ${EXAMPLE:-examples/fashion_mnist.yaml} --overwrite \
  --set "search.directory=$OUT/example" "${EXTRA[@]}" > "$OUT/example.log" 2>&1
rc=$?; secs=$(( $(date +%s) - start ))
printf 'example\t%d\t%s\n' "$secs" "$rc" >> "$OUT/times.tsv"
grep -i "test accuracy" "$OUT/example.log" | tail -1
for size in $SIZES; do
  IFS=: read -r depth width <<< "$size"
  name="anchor_${depth}_${width}"; s=$(date +%s)
  KERAS_BACKEND=${ANCHOR_BACKEND:-tensorflow} $PY "$ANCHOR" "$SAMPLE" "$secs" "$depth" "$width" > "$OUT/$name.log" 2>&1
  rc=$?; printf '%s\t%d\t%s\n' "$name" $(( $(date +%s) - s )) "$rc" >> "$OUT/times.tsv"
  grep RESULT "$OUT/$name.log"
done
cat "$OUT/times.tsv"
