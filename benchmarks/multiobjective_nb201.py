"""Multi-objective search on NAS-Bench-201 CIFAR-10: accuracy vs. parameters.

Drives our `RegularizedEvolutionOracle` (MOEA/D Tchebycheff parent plus
Pareto local search from the archive, LEMONADE's child choice by params_mb,
NB201 cell equivalence; see docs/multiobjective.md; the same defaults as
`keras-nas-plus benchmark`) and Keras Tuner's `RandomSearchOracle` over the
table, with the objectives (valid_acc_200ep: max, params_mb: min), and prints
per strategy, averaged over seeds:

* mean_budget_regret: for parameter budgets at the 10/25/50/75/100th
  percentile of params_mb in the table, the best valid accuracy in the table
  within the budget minus the best found within it, averaged over budgets
  (percentage points);
* mean_hypervolume_ratio: hypervolume of the evaluated architectures' front
  divided by that of the table's front, reference point (85th percentile of
  valid accuracy, largest params_mb).

Nothing is trained. Usage (from the repository root):

    nice -n 10 python benchmarks/multiobjective_nb201.py --queries 150 --seeds 300 \
        --json mo_nb201.json
"""

import argparse
import csv
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHIPPED_CSV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "keras_nas_plus", "benchmarks", "data", "nb201_cifar10.csv.gz")
BUDGET_PERCENTILES = (10, 25, 50, 75, 100)
OBJECTIVES = (("valid_acc_200ep", "max"), ("params_mb", "min"))


def load(csv_path):
    """The shipped NB201 table (decisions) with its valid_acc_200ep and params_mb columns."""
    import gzip

    from keras_nas_plus.benchmarks import table as table_module

    table = table_module.load_table("nb201-cifar10", objective="mean")
    opener = gzip.open if csv_path.endswith(".gz") else open
    with opener(csv_path, "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    acc = np.array([float(r["valid_acc_200ep"]) for r in rows])
    params = np.array([float(r["params_mb"]) for r in rows])
    if len(acc) != len(table) or not np.allclose(acc, table.objective, atol=1e-3):
        raise ValueError(f"{csv_path}: rows do not line up with the shipped table")
    return table, acc, params


def make_oracle(name, hp, seed, max_trials, evolution_kwargs):
    import keras_tuner

    from keras_nas_plus.oracles import RegularizedEvolutionOracle

    objective = [keras_tuner.Objective(n, d) for n, d in OBJECTIVES]
    if name == "evolution":
        return RegularizedEvolutionOracle(objective=objective, max_trials=max_trials, seed=seed,
                                          hyperparameters=hp, **evolution_kwargs)
    if name == "random":
        return keras_tuner.oracles.RandomSearchOracle(objective=objective, max_trials=max_trials, seed=seed,
                                                      hyperparameters=hp)
    raise ValueError(f"unknown strategy {name!r}")


def main(argv=None):
    from keras_nas_plus.benchmarks import multiobjective
    from keras_nas_plus.oracles import _pareto

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=150)
    p.add_argument("--seeds", type=int, default=300)
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--strategy", action="append", help="evolution and/or random (default both)")
    p.add_argument("--population-size", type=int, default=20)
    p.add_argument("--sample-size", type=int, default=5)
    p.add_argument("--crowding-scale", default="rank", choices=("rank", "value"))
    p.add_argument("--no-archive", action="store_true", help="NSGA-II tournament on the population only")
    p.add_argument("--archive-parent-probability", type=float, default=0.5,
                   help="chance of taking the least-explored Pareto-archive member as parent (0: tournament only)")
    p.add_argument("--secondary", default="crowding", choices=("crowding", "hypervolume"),
                   help="tie-break after the non-dominated rank: NSGA-II crowding or SMS-EMOA contribution")
    p.add_argument("--parent-archive", default="front", choices=("front", "levels"),
                   help="archive parents from the Pareto front, or from the best trial of each params level")
    p.add_argument("--full-neighbourhood", action="store_true",
                   help="keep an archive parent until its untried neighbourhood is exhausted (full PLS step)")
    p.add_argument("--skip-cheapest", action="store_true",
                   help="never take the cheapest archive member as archive parent")
    p.add_argument("--lemonade", action="store_true", default=True,
                   help="LEMONADE child choice: params_mb of each candidate child (known without training), "
                        "inverse-density sampling over the Pareto front (cheap_objective; the default)")
    p.add_argument("--no-lemonade", dest="lemonade", action="store_false", help="children drawn uniformly")
    p.add_argument("--parent-rule", default="tchebycheff", choices=("crowded", "tchebycheff"),
                   help="non-archive parent: NSGA-II crowded tournament, or MOEA/D Tchebycheff decomposition "
                        "(the default)")
    p.add_argument("--tchebycheff-scale", default="value", choices=("value", "rank"))
    p.add_argument("--population-rule", default="ageing", choices=("ageing", "nsga2"),
                   help="ageing population, or steady-state NSGA-II replacement of the worst")
    p.add_argument("--mutation-counts", type=lambda text: tuple(float(x) for x in text.split(",")),
                   help="probabilities of changing 1, 2, ... decisions per child, e.g. 0.9,0.1")
    p.add_argument("--archive-epsilon", type=float,
                   help="archive parents from an epsilon-box archive with this box size in valid accuracy (pp)")
    p.add_argument("--archive-tie-break", default="random", choices=("random", "ohvc"),
                   help="ties among least-explored archive members: random, or optimistic hypervolume contribution")
    p.add_argument("--no-equivalence", action="store_true",
                   help="do not skip NB201 cells equivalent to tried ones (the CLI skips them)")
    p.add_argument("--table-csv", default=SHIPPED_CSV, help="CSV with valid_acc_200ep and params_mb per row")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)

    table, acc, params = load(args.table_csv)
    budgets = np.percentile(params, BUDGET_PERCENTILES)
    reference = np.array([-np.percentile(acc, 85), params.max()])
    true_hv = _pareto.hypervolume(np.c_[-acc, params], reference)
    from keras_nas_plus.spaces import nb201

    evolution_kwargs = dict(population_size=args.population_size, sample_size=args.sample_size,
                            archive_parent_probability=args.archive_parent_probability)
    if not args.no_equivalence:
        evolution_kwargs["equivalence"] = nb201.canonical_values
    results = []
    for name in args.strategy or ["evolution", "random"]:
        regrets, ratios, start = [], [], time.time()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            oracle = make_oracle(name, table.hyperparameters(), seed, args.queries, evolution_kwargs)
            if name == "evolution":
                oracle.crowding_scale = args.crowding_scale
                oracle.pareto_archive = not args.no_archive
                oracle.pareto_secondary = args.secondary
                oracle.archive_parent_set = args.parent_archive
                if args.archive_epsilon is not None:
                    oracle.archive_parent_set = "epsilon"
                    oracle.archive_epsilon = (args.archive_epsilon, 0.0)
                oracle.archive_tie_break = args.archive_tie_break
                oracle.parent_rule = args.parent_rule
                oracle.tchebycheff_scale = args.tchebycheff_scale
                oracle.population_rule = args.population_rule
                oracle.mutation_count_probabilities = args.mutation_counts
                oracle.archive_full_neighbourhood = args.full_neighbourhood
                oracle.archive_skip_cheapest = args.skip_cheapest
                if args.lemonade:
                    oracle.cheap_objective = (
                        lambda values: params[row] if (row := table.lookup(values)) is not None else float("nan"))
            rows = multiobjective.run_one(table, {"valid_acc_200ep": acc, "params_mb": params}, OBJECTIVES,
                                          oracle, args.queries)
            regrets.append(_pareto.budget_regret(acc[rows], params[rows], acc, params, budgets))
            ratios.append(_pareto.hypervolume(np.c_[-acc[rows], params[rows]], reference) / true_hv)
            if len(regrets) % 25 == 0:
                print(f"  {name}: {len(regrets)} seeds, mean_budget_regret={np.mean(regrets):.4f} "
                      f"mean_hypervolume_ratio={np.mean(ratios):.4f}", flush=True)
        entry = {
            "strategy": name,
            "queries": args.queries,
            "seeds": args.seeds,
            "objectives": [f"{n}:{d}" for n, d in OBJECTIVES],
            "mean_budget_regret": float(np.mean(regrets)),
            "std_budget_regret": float(np.std(regrets)),
            "mean_hypervolume_ratio": float(np.mean(ratios)),
            "std_hypervolume_ratio": float(np.std(ratios)),
            "seconds": round(time.time() - start, 1),
        }
        if name == "evolution":
            entry.update({k: v for k, v in evolution_kwargs.items() if k != "equivalence"},
                         equivalence=not args.no_equivalence, crowding_scale=args.crowding_scale,
                         pareto_archive=not args.no_archive, secondary=args.secondary,
                         parent_archive=args.parent_archive, full_neighbourhood=args.full_neighbourhood,
                         skip_cheapest=args.skip_cheapest, lemonade=args.lemonade,
                         parent_rule=args.parent_rule, tchebycheff_scale=args.tchebycheff_scale,
                         population_rule=args.population_rule, mutation_counts=args.mutation_counts,
                         archive_epsilon=args.archive_epsilon, archive_tie_break=args.archive_tie_break)
        results.append(entry)
        print(json.dumps(entry), flush=True)
    out = {"budgets_params_mb": budgets.tolist(), "reference": [float(-reference[0]), float(reference[1])],
           "results": results}
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
