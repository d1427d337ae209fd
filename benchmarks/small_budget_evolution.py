"""Regularized evolution at GPU-showcase budgets (about 20 trials) on NAS-Bench-201.

The GPU showcase (benchmarks/gpu_showcase/) completes about 20 trials per arm. This script asks,
on the shipped NAS-Bench-201 CIFAR-10 table, which population / tournament sizes of
`RegularizedEvolutionOracle` beat KT RandomSearch at such small budgets, and by how much.
Each strategy runs the same fixed seed list; printed per budget: mean and standard error of
the test accuracy (200 epochs, %) of the best-by-objective cell, and the difference to random.

Usage (about 1 minute per 100 seeds and strategy on a 2-core CPU):

    python benchmarks/small_budget_evolution.py --seeds 300 --queries 10,20,30 \
        --sizes 4:2,6:3,8:4,10:8 [--objective noisy] [--first-seed 1] [--workers 4]

With --workers W, W trials are in flight at once and each is proposed knowing only the trials
that ended before it (`harness.run_search`), as in the showcase's `search.workers: 4`.
"""

import argparse

import numpy as np

from keras_nas_plus.benchmarks import harness
from keras_nas_plus.benchmarks import load_table
from keras_nas_plus.oracles import RegularizedEvolutionOracle


def evolution_factory(population_size, sample_size, equivalence):
    def factory(hyperparameters, objective, max_trials, seed):
        return RegularizedEvolutionOracle(
            objective=objective, max_trials=max_trials, hyperparameters=hyperparameters, seed=seed,
            population_size=population_size, sample_size=sample_size, equivalence=equivalence)
    return factory


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--queries", default="10,20,30")
    parser.add_argument("--sizes", default="4:2,6:3,8:4,10:8",
                        help="population:tournament pairs, comma-separated")
    parser.add_argument("--objective", default="noisy", help="noisy, mean or 12ep")
    parser.add_argument("--workers", type=int, default=1,
                        help="trials in flight at once (the showcase runs 4: search.workers)")
    args = parser.parse_args(argv)
    table = load_table("nb201-cifar10", objective=args.objective)
    queries = [int(q) for q in args.queries.split(",")]
    strategies = ["random"]
    for pair in args.sizes.split(","):
        p, s = (int(v) for v in pair.split(":"))
        strategies.append((f"evolution {p}/{s}", evolution_factory(p, s, table.equivalence), None))
    result = harness.run_benchmark(table, strategies, queries=queries, seeds=args.seeds,
                                   first_seed=args.first_seed, workers=args.workers)
    by = {(e["strategy"], e["queries"]): e for e in result["results"]}
    workers = f", {args.workers} workers" if args.workers > 1 else ""
    print(f"NAS-Bench-201 CIFAR-10, objective {args.objective}{workers}, seeds {args.first_seed}.."
          f"{args.first_seed + args.seeds - 1}: mean test accuracy (%) of the best-by-objective cell "
          "(s.e.), and minus random")
    print(f"{'strategy':<18}" + "".join(f"{q:>26}" for q in queries))
    labels = [s if isinstance(s, str) else s[0] for s in strategies]
    for label in labels:
        cells = []
        for q in queries:
            e = by[(label, q)]
            se = e["std_report"] / np.sqrt(e["seeds"])
            diff = e["mean_report"] - by[("random", q)]["mean_report"]
            cells.append(f"{e['mean_report']:.3f} ({se:.3f}) {diff:+.3f}")
        print(f"{label:<18}" + "".join(f"{c:>26}" for c in cells))


if __name__ == "__main__":
    main()
