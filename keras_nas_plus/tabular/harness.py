"""Drives any Keras Tuner oracle over a tabular benchmark, without training."""

import heapq
import inspect
import os
import shutil
import tempfile
import time

import numpy as np

from keras_nas_plus.strategies.registry import ORACLES
from keras_nas_plus.strategies.registry import oracle_defaults

STRATEGIES = tuple(name for name in ORACLES if name != "hyperband")
"""Strategy names understood by `make_oracle` (those of the strategy registry that need no epochs)."""

_TUNER_ID = "tabular-benchmark"


EVOLUTION_DEFAULTS = oracle_defaults("evolution", ("population_size", "sample_size"))
"""Regularized-evolution settings tuned on NAS-Bench-201 (docs/benchmarks.md): the oracle's defaults, 10/8."""


def make_oracle(name, hyperparameters, objective, max_trials, seed, equivalence=None, **kwargs):
    """Creates an oracle by strategy name.

    Args:
        name: str, one of `STRATEGIES`: "evolution"
            (`keras_nas_plus.oracles.RegularizedEvolutionOracle`), "rl"
            (`keras_nas_plus.oracles.RLControllerOracle`), "random"
            (`keras_tuner.oracles.RandomSearchOracle`), "bayesian"
            (`keras_tuner.oracles.BayesianOptimizationOracle`), "grid"
            (`keras_tuner.oracles.GridSearchOracle`).
        hyperparameters: `keras_tuner.HyperParameters`, the search space.
        objective: `keras_tuner.Objective`.
        max_trials: int, the query budget.
        seed: int >= 1, the oracle's seed.
        equivalence: optional callable mapping values to canonical values,
            passed to oracles that accept an `equivalence` argument.
        **kwargs: extra constructor arguments for the oracle ("evolution"
            defaults to `EVOLUTION_DEFAULTS`: population 10, tournament 8).

    Returns:
        `keras_tuner.Oracle`.

    Raises:
        ValueError: on an unknown name.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; expected one of {list(STRATEGIES)}.")
    cls = ORACLES[name]
    common = dict(objective=objective, max_trials=max_trials, hyperparameters=hyperparameters, seed=seed)
    if equivalence is not None and "equivalence" in inspect.signature(cls).parameters:
        kwargs.setdefault("equivalence", equivalence)
    return cls(**common, **kwargs)


def parse_strategy(spec, default_seeds):
    """Parses ``"NAME[:SEEDS]"``.

    Args:
        spec: str, e.g. "evolution" or "bayesian:10".
        default_seeds: int, seeds when none are given.

    Returns:
        tuple (name, seeds).

    Raises:
        ValueError: on an unknown name or a bad seed count.
    """
    name, _, seeds = str(spec).partition(":")
    name = name.strip()
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r} in --strategy {spec!r}; expected one of {list(STRATEGIES)}.")
    if seeds:
        try:
            n = int(seeds)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"Seed count in --strategy {spec!r} must be a positive int.")
        return name, n
    return name, int(default_seeds)


def _scratch_root():
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        return shm
    return None


def _check_workers(workers):
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"`workers` must be an int >= 1, got {workers!r}.")


def run_search(table, oracle, seed, max_queries, time_budget=None, workers=1):
    """Runs one search of `oracle` over `table`.

    Each query: ``oracle.create_trial``; the proposed architecture is looked
    up in the table; its objective is reported with ``update_trial`` and the
    trial ended COMPLETED, or, if the architecture is not in the table, the
    trial is ended FAILED (it still counts as a query, at no cost). Nothing
    is trained. The oracle's project directory is a scratch directory
    (in memory where /dev/shm exists), removed afterwards.

    With ``workers > 1`` the search is simulated as Keras Tuner's distributed
    mode runs it: `workers` trials are in flight at once, one per tuner id
    (``worker0``, ``worker1``, ...), and a worker asks the oracle for its next
    trial as soon as its last one ended. A trial lasts the table's cost of its
    architecture (simulated seconds) or, without a cost column, one time
    unit, so trials then end in the order they were created. An oracle thus
    proposes each trial knowing only the trials that ended before it, as on
    a GPU shared by several workers (e.g. an evolution's first population is
    still filling while later trials start).

    Args:
        table: `TabularBenchmark`.
        oracle: a fresh `keras_tuner.Oracle` over ``table.hyperparameters()``
            with objective ``table.objective_name``.
        seed: int, the run's seed (draws the noisy objective, if any).
        max_queries: int >= 1, the query budget (an upper bound with a time budget).
        time_budget: optional float, simulated seconds; the run stops before
            the first query whose cost would exceed it (with several workers:
            before the first trial that would end after it).
        workers: int >= 1, trials in flight at once (default 1: one after
            the other).

    Returns:
        dict with float arrays, one entry per query made (in the order the
        queries ended): "best_report" (report of the best-by-objective
        architecture so far, NaN before the first success), "best_objective",
        "elapsed" (simulated seconds since the start, wall clock of the
        simulated workers; zeros without a cost column and one worker), and
        "oracle_seconds" (float, wall time spent in the oracle) and "failed"
        (int, queries not in the table).

    Raises:
        ValueError: if `workers` is not an int >= 1.
    """
    from keras_tuner.engine import trial as trial_module

    _check_workers(workers)
    objective = table.objective_for_run(seed)
    sign = table.sign
    cost = table.cost
    if time_budget is not None and cost is None:
        raise ValueError(f"{table.source}: a time budget needs a cost column.")
    if hasattr(oracle, "max_consecutive_failed_trials"):
        oracle.max_consecutive_failed_trials = max_queries + 1
    oracle.verbose = 0
    scratch = tempfile.mkdtemp(prefix="knp-bench-", dir=_scratch_root())
    oracle._set_project_dir(scratch, "oracle")
    best_report, best_obj, elapsed = [], [], []
    state = {"best_val": -np.inf, "best_rep": np.nan, "failed": 0, "oracle_seconds": 0.0}
    name = table.objective_name

    def timed(fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        state["oracle_seconds"] += time.perf_counter() - t0
        return out

    def finish(trial, row, clock):
        """Reports `trial` to the oracle and records one query ending at `clock`."""
        if row is None:
            state["failed"] += 1
            trial.status = trial_module.TrialStatus.FAILED
            trial.message = "Architecture not in the benchmark table."
            timed(oracle.end_trial, trial)
        else:
            value = float(objective[row])
            timed(oracle.update_trial, trial.trial_id, {name: value})
            trial.status = trial_module.TrialStatus.COMPLETED
            timed(oracle.end_trial, trial)
            if sign * value > state["best_val"]:
                state["best_val"], state["best_rep"] = sign * value, float(table.report[row])
        best_report.append(state["best_rep"])
        best_obj.append(sign * state["best_val"] if np.isfinite(state["best_val"]) else np.nan)
        elapsed.append(clock)

    def duration(row):
        if row is None:
            return 0.0
        return float(cost[row]) if cost is not None else (1.0 if workers > 1 else 0.0)

    in_flight = []  # heap of (end time, creation order, worker, trial, row)
    waiting = []  # workers told to wait (IDLE: e.g. a grid search waiting on running trials)
    created = 0

    def start(worker, now):
        nonlocal created
        trial = timed(oracle.create_trial, _TUNER_ID if workers == 1 else f"worker{worker}")
        if trial.status == trial_module.TrialStatus.IDLE:
            waiting.append(worker)
        elif trial.status == trial_module.TrialStatus.RUNNING:
            row = table.lookup(trial.hyperparameters.values)
            heapq.heappush(in_flight, (now + duration(row), created, worker, trial, row))
            created += 1

    try:
        for w in range(min(workers, max_queries)):
            start(w, 0.0)
        while in_flight and len(best_report) < max_queries:
            end, _, worker, trial, row = heapq.heappop(in_flight)
            if time_budget is not None and end > time_budget:
                break
            finish(trial, row, end)
            retry, waiting[:] = [worker] + waiting, []
            for w in retry:
                if created < max_queries:
                    start(w, end)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "best_report": np.asarray(best_report),
        "best_objective": np.asarray(best_obj),
        "elapsed": np.asarray(elapsed),
        "oracle_seconds": state["oracle_seconds"],
        "failed": state["failed"],
    }


def _at_budget(trace, queries=None, seconds=None):
    rep = trace["best_report"]
    if seconds is not None:
        k = int(np.searchsorted(trace["elapsed"], seconds, side="right"))
    else:
        k = min(int(queries), len(rep))
    return float(rep[k - 1]) if k >= 1 else float("nan")


def run_benchmark(
    table,
    strategies,
    queries=(150,),
    seeds=300,
    time_budget=None,
    max_queries=10000,
    first_seed=1,
    oracle_kwargs=None,
    progress=None,
    workers=1,
):
    """Benchmarks search strategies on a table over many seeds.

    For each strategy, runs seeds ``first_seed, first_seed + 1, ...`` (the
    same fixed list for every strategy) and reports, per budget, the mean and
    standard deviation of the report metric of the best-by-objective
    architecture found, and the mean regret to the table's optimum.

    Args:
        table: `TabularBenchmark`.
        strategies: list of strategy specs: a name in `STRATEGIES`, a
            ``"NAME:SEEDS"`` string, or a tuple ``(label, factory, seeds)``
            where ``factory(hyperparameters, objective, max_trials, seed)``
            returns any `keras_tuner.Oracle` (seeds None: `seeds`).
        queries: int or list of ints, query budgets (default (150,)); one run of
            the largest budget gives all of them. Ignored with `time_budget`.
        seeds: int >= 1, default seed count (default 300).
        time_budget: optional float or list of floats, simulated-seconds
            budgets replacing `queries` (needs a cost column).
        max_queries: int, cap on queries per run with a time budget (default 10000).
        first_seed: int >= 1, first seed of the list (default 1).
        oracle_kwargs: optional dict strategy name -> extra oracle arguments.
        progress: optional callable(str) for progress lines.
        workers: int >= 1, trials in flight at once in each simulated search
            (default 1; see `run_search`).

    Returns:
        dict: {"results": [{"strategy", "queries" (or "time_budget" and mean
        "queries"), "seeds", "mean_report", "std_report", "mean_regret",
        "oracle_seconds_per_run", "failed_queries_per_run"}, ...],
        "optimum": float, "table": str, "objective": str, "report": str,
        "curves": {strategy: list of mean best-so-far report per query},
        "workers": int}.

    Raises:
        ValueError: on invalid budgets, seeds or strategies.
    """
    import keras_tuner

    if time_budget is not None:
        budgets = sorted(float(b) for b in np.atleast_1d(time_budget))
        if not budgets or budgets[0] <= 0:
            raise ValueError(f"`time_budget` must be positive seconds, got {time_budget!r}.")
        run_queries = int(max_queries)
    else:
        budgets = sorted(int(q) for q in np.atleast_1d(queries))
        if not budgets or budgets[0] < 1:
            raise ValueError(f"`queries` must be positive ints, got {queries!r}.")
        run_queries = budgets[-1]
    if int(seeds) < 1:
        raise ValueError(f"`seeds` must be >= 1, got {seeds!r}.")
    _check_workers(workers)
    if int(first_seed) < 1:
        raise ValueError(f"`first_seed` must be >= 1 (Keras Tuner treats 0 as unseeded), got {first_seed!r}.")
    oracle_kwargs = oracle_kwargs or {}
    specs = []
    for spec in strategies:
        if isinstance(spec, tuple):
            label, factory, n = spec
            specs.append((label, factory, int(n or seeds)))
        else:
            name, n = parse_strategy(spec, seeds)
            specs.append((str(spec).partition(":")[0], name, n))
    if not specs:
        raise ValueError("`strategies` must name at least one strategy.")
    objective = keras_tuner.Objective(table.objective_name, direction=table.direction)
    optimum = table.optimum
    results, curves = [], {}
    for label, factory, n_seeds in specs:
        traces = []
        for seed in range(int(first_seed), int(first_seed) + n_seeds):
            hp = table.hyperparameters()
            if callable(factory):
                oracle = factory(hp, objective, run_queries, seed)
            else:
                oracle = make_oracle(
                    factory, hp, objective, run_queries, seed,
                    equivalence=getattr(table, "equivalence", None),
                    **oracle_kwargs.get(factory, {}),
                )
            traces.append(run_search(table, oracle, seed, run_queries,
                                     time_budget=budgets[-1] if time_budget is not None else None,
                                     workers=workers))
        oracle_s = float(np.mean([t["oracle_seconds"] for t in traces]))
        fails = float(np.mean([t["failed"] for t in traces]))
        for b in budgets:
            if time_budget is not None:
                reps = np.array([_at_budget(t, seconds=b) for t in traces])
                used = float(np.mean([np.searchsorted(t["elapsed"], b, side="right") for t in traces]))
                entry = {"strategy": label, "time_budget": b, "queries": used}
            else:
                reps = np.array([_at_budget(t, queries=b) for t in traces])
                entry = {"strategy": label, "queries": b}
            ok = reps[~np.isnan(reps)]
            entry.update(
                seeds=n_seeds,
                mean_report=float(np.mean(ok)) if len(ok) else float("nan"),
                std_report=float(np.std(ok)) if len(ok) else float("nan"),
                mean_regret=float(np.mean(table.sign * (optimum - ok))) if len(ok) else float("nan"),
                runs_without_result=int(np.sum(np.isnan(reps))),
                oracle_seconds_per_run=oracle_s,
                failed_queries_per_run=fails,
            )
            results.append(entry)
            if progress:
                progress(_format_entry(entry))
        length = max(len(t["best_report"]) for t in traces)
        padded = np.full((len(traces), length), np.nan)
        for k, t in enumerate(traces):
            padded[k, : len(t["best_report"])] = t["best_report"]
            if len(t["best_report"]):
                padded[k, len(t["best_report"]) :] = t["best_report"][-1]
        with np.errstate(all="ignore"):
            curve = np.nanmean(padded, axis=0) if length else np.array([])
        curves[label] = [None if np.isnan(v) else float(v) for v in curve]
    return {
        "results": results,
        "optimum": optimum,
        "table": table.source,
        "objective": table.objective_name,
        "report": table.report_name,
        "curves": curves,
        "workers": int(workers),
    }


def _format_entry(e):
    budget = f"time_budget={e['time_budget']:g}s queries~{e['queries']:.1f}" if "time_budget" in e else f"queries={e['queries']}"
    return (
        f"{e['strategy']:<10} {budget} seeds={e['seeds']} "
        f"mean_report={e['mean_report']:.4f} std={e['std_report']:.4f} "
        f"regret={e['mean_regret']:.4f} oracle_s/run={e['oracle_seconds_per_run']:.3f}"
    )


def format_results(result):
    """Formats `run_benchmark` output as text lines (str)."""
    workers = result.get("workers", 1)
    lines = [f"table={result['table']} objective={result['objective']} report={result['report']} optimum={result['optimum']:.4f}"
             + (f" workers={workers}" if workers > 1 else "")]
    lines += [_format_entry(e) for e in result["results"]]
    return "\n".join(lines)


def plot_curves(result, path, title=None):
    """Plots mean best-so-far report metric vs. queries, one line per strategy.

    Needs matplotlib (the optional ``plots`` extra), imported lazily.

    Args:
        result: dict from `run_benchmark`.
        path: str, image file to write (format from the extension, e.g. .png).
        title: optional str.

    Returns:
        str, `path`.

    Raises:
        ImportError: if matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("Plotting needs matplotlib: pip install 'keras-nas-plus[plots]'.") from e
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, curve in result["curves"].items():
        y = np.array([np.nan if v is None else v for v in curve])
        ax.plot(np.arange(1, len(y) + 1), y, label=label)
    ax.axhline(result["optimum"], color="k", lw=0.8, ls="--", label="optimum")
    ax.set_xlabel("queries")
    ax.set_ylabel(f"mean best-so-far {result['report']}")
    finite = [v for c in result["curves"].values() for v in c if v is not None]
    if finite:
        lo = np.percentile(finite, 5)
        ax.set_ylim(lo, result["optimum"] + 0.1 * max(result["optimum"] - lo, 1e-9))
    ax.set_title(title or f"{os.path.basename(result['table'])}: {result['objective']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
