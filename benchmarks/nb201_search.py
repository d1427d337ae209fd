"""Search quality on NAS-Bench-201 CIFAR-10 (tabular, no training): prints numbers.

Run from a checkout:
    nice -n 10 python benchmarks/nb201_search.py [--seeds 300] [--bayesian-seeds 10] \
        [--objectives noisy,mean,12ep] [--json-dir DIR]

For each objective (noisy: one seed's 200-epoch valid accuracy per cell and run;
mean: seed-mean valid accuracy; 12ep: the 12-epoch column with 12/200 of the
cost), runs regularized evolution and Keras Tuner's RandomSearch with `--seeds`
seeds and BayesianOptimization with `--bayesian-seeds` (it spends about 1 s per
trial), 150 queries, and for 12ep also a 12,000 simulated-second budget.
Reports the mean test_acc_200ep (%) of the best-by-objective cell.
"""

import argparse
import json
import os
import time

from keras_nas_plus.benchmarks import format_results, load_table, run_benchmark


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=300)
    p.add_argument("--bayesian-seeds", type=int, default=10, help="0 skips BayesianOptimization.")
    p.add_argument("--objectives", default="noisy,mean,12ep")
    p.add_argument("--json-dir")
    args = p.parse_args()
    strategies = ["evolution", "random"] + ([f"bayesian:{args.bayesian_seeds}"] if args.bayesian_seeds else [])
    for objective in args.objectives.split(","):
        table = load_table("nb201-cifar10", objective)
        runs = [("queries", dict(queries=[50, 100, 150]))]
        if objective == "12ep":
            runs.append(("time", dict(time_budget=[12000.0])))
        for kind, budget in runs:
            t0 = time.time()
            result = run_benchmark(table, strategies, seeds=args.seeds, progress=print, **budget)
            print(f"== objective={objective} ({kind} budget), {time.time() - t0:.0f} s wall")
            print(format_results(result), flush=True)
            if args.json_dir:
                os.makedirs(args.json_dir, exist_ok=True)
                with open(os.path.join(args.json_dir, f"nb201_{objective}_{kind}.json"), "w") as f:
                    json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
