"""Two-objective tabular benchmarks: a quality metric against a cost metric.

Used by `keras-nas-plus benchmark` when `--objective-column` is given twice
(e.g. `valid_acc_200ep:max` and `params_mb:min`). Every strategy searches with
both objectives (`keras_tuner.Objective` list), nothing is trained, and each
run is scored by

* budget regret: for cost budgets at the 10th, 25th, 50th, 75th and 100th
  percentile of the table's cost, the best quality in the table within the
  budget minus the best quality found within it, averaged over budgets;
* hypervolume ratio: hypervolume of the found architectures' front over that
  of the table's front, reference point (85th percentile of quality, worst
  cost) — with the worst quality as reference even random search scores
  about 0.99, which says nothing.
"""

import os
import shutil
import tempfile
import time

import numpy as np

from keras_nas_plus.engine import pareto as _pareto
from keras_nas_plus.tabular.harness import make_oracle

BUDGET_PERCENTILES = (10, 25, 50, 75, 100)


def parse_objective_columns(specs):
    """`["name:max", "cost:min"]` -> `[("name", "max"), ("cost", "min")]`.

    Raises:
        ValueError: unless exactly two columns with directions max/min are given.
    """
    parsed = []
    for spec in specs:
        name, _, direction = str(spec).partition(":")
        direction = direction.strip() or "max"
        if not name.strip() or direction not in ("max", "min"):
            raise ValueError(f"--objective-column {spec!r}: expected NAME or NAME:max / NAME:min")
        parsed.append((name.strip(), direction))
    if len(parsed) != 2:
        raise ValueError(f"multi-objective benchmarks take exactly 2 --objective-column values, got {len(parsed)}")
    return parsed


def _oriented(values, direction):
    """Values turned into 'larger is better'."""
    return values if direction == "max" else -values


MO_EVOLUTION_DEFAULTS = {"population_size": 20, "sample_size": 5, "archive_parent_probability": 0.5}
"""Two-objective regularized-evolution settings, tuned on NAS-Bench-201 seeds
1001..1100 (docs/multiobjective.md); they replace the harness's
single-objective `EVOLUTION_DEFAULTS` here."""

MO_EVOLUTION_ATTRIBUTES = {"parent_rule": "tchebycheff", "tchebycheff_scale": "value"}
"""Oracle attributes set on the two-objective evolution oracle together with
`cheap_objective` (the cost read before querying, see `run_pareto_benchmark`):
the non-archive parent by MOEA/D's Tchebycheff decomposition, children by
LEMONADE's inverse-density rule. Chosen on NAS-Bench-201 seeds 1001..1100 and
2001..2200 (docs/multiobjective.md). Without a cheap cost the oracle keeps
the NSGA-II tournament (the Tchebycheff parent alone lowered the
hypervolume ratio below 0.90 there)."""


def _make_oracle(name, hyperparameters, objectives, seed, max_trials, equivalence=None, cheap_cost=None):
    import keras_tuner

    objective = [keras_tuner.Objective(n, d) for n, d in objectives]
    extra = dict(MO_EVOLUTION_DEFAULTS) if name == "evolution" else {}
    oracle = make_oracle(name, hyperparameters, objective, max_trials, seed, equivalence=equivalence, **extra)
    if name == "evolution" and cheap_cost is not None:
        for key, value in MO_EVOLUTION_ATTRIBUTES.items():
            setattr(oracle, key, value)
        oracle.cheap_objective = cheap_cost
    return oracle


def table_cost(table, cost_column):
    """`values -> cost` read from the table (NaN for values not in it).

    The benchmark's stand-in for a cost known before training (a model's
    parameter count, FLOPs or measured latency need no training), used as
    the evolution oracle's `cheap_objective` (LEMONADE's child choice).
    """
    cost_column = np.asarray(cost_column, dtype=float)

    def cost(values):
        row = table.lookup(values)
        return float(cost_column[row]) if row is not None else float("nan")

    return cost


def read_columns(path, names):
    """Reads numeric columns of a CSV (or .csv.gz) in row order.

    Raises:
        ValueError: naming a missing column or a non-numeric value.
    """
    import csv
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        reader = csv.DictReader(f)
        missing = [n for n in names if n not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no column {missing[0]!r}; columns are {reader.fieldnames}")
        values = {n: [] for n in names}
        for line, row in enumerate(reader, start=2):
            for n in names:
                try:
                    values[n].append(float(row[n]))
                except (TypeError, ValueError):
                    raise ValueError(f"{path}, line {line}: column {n!r} is not numeric: {row[n]!r}") from None
    return {n: np.asarray(v) for n, v in values.items()}


def run_one(table, columns, objectives, oracle, queries):
    """One search over `table` with both objectives; returns row indices found."""
    oracle.verbose = 0
    oracle.max_consecutive_failed_trials = queries + 1
    scratch = tempfile.mkdtemp(prefix="knp-mo-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    oracle._set_project_dir(scratch, "oracle")
    # Search quality only: the oracle's state and trial files are not needed.
    oracle.save = lambda: None
    oracle._save_trial = lambda trial: None
    found = []
    try:
        for _ in range(queries):
            trial = oracle.create_trial("bench")
            if trial.status != "RUNNING":
                break
            row = table.lookup(trial.hyperparameters.values)
            if row is None:
                trial.status = "FAILED"
                oracle.end_trial(trial)
                continue
            metrics = {name: float(columns[name][row]) for name, _ in objectives}
            # Keras Tuner's own oracles score several objectives by their sum.
            metrics["multi_objective"] = sum(
                -metrics[n] if d == "max" else metrics[n] for n, d in objectives
            )
            oracle.update_trial(trial.trial_id, metrics)
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
            found.append(row)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return np.array(found, dtype=int)


def run_pareto_benchmark(table, columns, objectives, strategies, queries=150, seeds=300, first_seed=1,
                         progress=None, equivalence=None, cheap_cost=True):
    """Runs strategies on a two-objective table and scores their fronts.

    Args:
        table: `TabularBenchmark` (decisions and lookup).
        columns: dict column name -> array `(num_rows,)` of that metric.
        objectives: `[(quality, "max"|"min"), (cost, "max"|"min")]`.
        strategies: list of strategy names (`evolution`, `random`, `rl`, ...).
        queries: int, queries per run.
        seeds: int, runs per strategy (seeds `first_seed..first_seed+seeds-1`).
        progress: callable(str) or None.
        equivalence: optional callable for oracles that skip equivalent
            architectures (NAS-Bench-201: `nb201.canonical_values`).
        cheap_cost: bool, default True. The cost (second objective) counts
            as known before training: evolution reads a candidate child's
            cost from the table (`table_cost`) to choose among children
            (`cheap_objective`, LEMONADE); such reads are not queries.

    Returns:
        dict with `results` (per strategy: `mean_budget_regret`,
        `mean_hypervolume_ratio`, their std, `seconds`), `budgets` and `reference`.
    """
    (qname, qdir), (cname, cdir) = objectives
    quality = _oriented(np.asarray(columns[qname], dtype=float), qdir)
    cost = -_oriented(np.asarray(columns[cname], dtype=float), cdir)  # smaller is better
    budgets = np.percentile(cost, BUDGET_PERCENTILES)
    reference = np.array([-np.percentile(quality, 85), cost.max()])
    true_hv = _pareto.hypervolume(np.c_[-quality, cost], reference)
    results = []
    for name in strategies:
        regrets, ratios, start = [], [], time.time()
        for seed in range(first_seed, first_seed + seeds):
            oracle = _make_oracle(name, table.hyperparameters(), objectives, seed, queries, equivalence,
                                  cheap_cost=table_cost(table, columns[cname]) if cheap_cost else None)
            rows = run_one(table, columns, objectives, oracle, queries)
            regrets.append(_pareto.budget_regret(quality[rows], cost[rows], quality, cost, budgets))
            ratios.append(_pareto.hypervolume(np.c_[-quality[rows], cost[rows]], reference) / true_hv)
        entry = {
            "strategy": name, "queries": queries, "seeds": seeds,
            "objectives": [f"{n}:{d}" for n, d in objectives],
            "mean_budget_regret": float(np.mean(regrets)), "std_budget_regret": float(np.std(regrets)),
            "mean_hypervolume_ratio": float(np.mean(ratios)), "std_hypervolume_ratio": float(np.std(ratios)),
            "seconds": round(time.time() - start, 1),
        }
        results.append(entry)
        if progress:
            progress(f"{name:<10} queries={queries} seeds={seeds} "
                     f"mean_budget_regret={entry['mean_budget_regret']:.4f} "
                     f"mean_hypervolume_ratio={entry['mean_hypervolume_ratio']:.4f}")
    return {"budgets": budgets.tolist(), "reference": [float(-reference[0]), float(reference[1])],
            "results": results}
