"""Search quality on NAS-Bench-201 CIFAR-10 (tabular, no training): prints numbers.

Run from a checkout:
    nice -n 10 python benchmarks/nb201_search.py [--seeds 300] [--bayesian-seeds 10] \
        [--objectives noisy,mean,12ep] [--jobs 2] [--json-dir DIR]

For each objective (noisy: one seed's 200-epoch valid accuracy per cell and run;
mean: seed-mean valid accuracy; 12ep: the 12-epoch column with 12/200 of the
cost), runs regularized evolution (harness defaults: population 10, tournament
8, untried-neighbour mutation, NB201 cell equivalence) and Keras Tuner's
RandomSearch with `--seeds` seeds (the fixed list 1..N) and
BayesianOptimization with `--bayesian-seeds` seeds (1..M; it spends about 1 s
per trial), 150 queries, and for 12ep also a 12,000 simulated-second budget.
Reports the mean test_acc_200ep (%) of the best-by-objective cell.

`--jobs N` splits each strategy's seed list into N chunks run in parallel
processes; every seed's run is deterministic, so the merged numbers are the
same as with one process (oracle seconds are per run, measured in each worker).
"""

import argparse
import json
import multiprocessing
import os
import time

import numpy as np

from keras_nas_plus.benchmarks import format_results, load_table, run_benchmark


def _chunk(args):
    objective, strategy, first, n, budget = args
    table = load_table("nb201-cifar10", objective)
    return run_benchmark(table, [strategy], seeds=n, first_seed=first, **budget)


def _merge(parts):
    """Merges `run_benchmark` results of disjoint seed chunks (same strategy)."""
    base = dict(parts[0])
    merged = []
    for k, entry in enumerate(parts[0]["results"]):
        entries = [p["results"][k] for p in parts]
        n = np.array([e["seeds"] - e["runs_without_result"] for e in entries], float)
        m = np.array([e["mean_report"] for e in entries])
        s = np.array([e["std_report"] for e in entries])
        mean = float(np.sum(n * m) / n.sum())
        std = float(np.sqrt(np.sum(n * (s**2 + m**2)) / n.sum() - mean**2))
        w = np.array([e["seeds"] for e in entries], float)
        out = dict(entry)
        out.update(
            seeds=int(w.sum()),
            mean_report=mean,
            std_report=std,
            mean_regret=float(np.sum(n * np.array([e["mean_regret"] for e in entries])) / n.sum()),
            runs_without_result=int(sum(e["runs_without_result"] for e in entries)),
            queries=float(np.sum(w * np.array([e["queries"] for e in entries])) / w.sum())
            if "time_budget" in entry else entry["queries"],
        )
        for key in ("oracle_seconds_per_run", "failed_queries_per_run"):
            out[key] = float(np.sum(w * np.array([e[key] for e in entries])) / w.sum())
        merged.append(out)
    base["results"] = merged
    curves = {}
    for label in parts[0]["curves"]:
        length = max(len(p["curves"][label]) for p in parts)
        rows = []
        for p in parts:
            c = [np.nan if v is None else v for v in p["curves"][label]]
            c = c + [c[-1]] * (length - len(c)) if c else [np.nan] * length
            rows.append(c)
        w = np.array([p["results"][0]["seeds"] for p in parts], float)
        curve = np.nansum(np.array(rows) * w[:, None], axis=0) / w.sum()
        curves[label] = [float(v) for v in curve]
    base["curves"] = curves
    return base


def run(objective, strategies, budget, jobs, pool):
    results = []
    for name, seeds in strategies:
        sizes = [seeds // jobs + (1 if k < seeds % jobs else 0) for k in range(jobs)]
        tasks, first = [], 1
        for size in sizes:
            if size:
                tasks.append((objective, name, first, size, budget))
            first += size
        parts = pool.map(_chunk, tasks) if pool else [_chunk(t) for t in tasks]
        merged = _merge(parts)
        for e in merged["results"]:
            e["strategy"] = name
        results.append(merged)
    out = dict(results[0])
    out["results"] = [e for r in results for e in r["results"]]
    out["curves"] = {name: r["curves"][name] for (name, _), r in zip(strategies, results)}
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=300)
    p.add_argument("--bayesian-seeds", type=int, default=10, help="0 skips BayesianOptimization.")
    p.add_argument("--objectives", default="noisy,mean,12ep")
    p.add_argument("--budgets", default="queries,time", help="queries and/or time (12ep only).")
    p.add_argument("--jobs", type=int, default=1, help="parallel processes (seed chunks).")
    p.add_argument("--json-dir")
    args = p.parse_args()
    strategies = [("evolution", args.seeds), ("random", args.seeds)]
    if args.bayesian_seeds:
        strategies.append(("bayesian", args.bayesian_seeds))
    pool = multiprocessing.Pool(args.jobs) if args.jobs > 1 else None
    for objective in args.objectives.split(","):
        runs = []
        if "queries" in args.budgets:
            runs.append(("queries", dict(queries=[50, 100, 150])))
        if objective == "12ep" and "time" in args.budgets:
            runs.append(("time", dict(time_budget=[12000.0])))
        for kind, budget in runs:
            t0 = time.time()
            result = run(objective, strategies, budget, args.jobs, pool)
            print(f"== objective={objective} ({kind} budget), {time.time() - t0:.0f} s wall")
            print(format_results(result), flush=True)
            if args.json_dir:
                os.makedirs(args.json_dir, exist_ok=True)
                with open(os.path.join(args.json_dir, f"nb201_{objective}_{kind}.json"), "w") as f:
                    json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
