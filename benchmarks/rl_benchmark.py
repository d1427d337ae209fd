"""RL controller search on NAS-Bench-201 CIFAR-10 (tabular, no training).

Runs `RLControllerOracle` and Keras Tuner's `RandomSearchOracle` through the
tabular harness (`keras_nas_plus.benchmarks`) on the same seeds, with the
harness's noisy objective (one seed's 200-epoch validation accuracy per
architecture, fixed within a run), and prints, per strategy, the mean and
standard deviation over seeds of `test_acc_200ep` (%) of the best-by-objective
cell after `--queries` queries, plus the controller's update cost
(milliseconds of wall time per batch update).

    nice -n 10 python benchmarks/rl_benchmark.py --seeds 300 --queries 150 --procs 2

Two drivers make the same queries to the same oracles:

* `--driver harness`: `keras_nas_plus.benchmarks.run_search`, i.e. Keras
  Tuner's `create_trial` / `update_trial` / `end_trial` with trial and oracle
  files written for every query (what a real search does);
* `--driver direct` (default): the oracle's `populate_space` and the same
  bookkeeping Keras Tuner does (trial ids, tried-values hashes, end order,
  reward crediting), without `Trial` objects or files: several times faster.

`--check-harness K` first runs seeds 1..K with both drivers and asserts that
they pick the same cell in every run (per-seed identical results).
Seeds are split across `--procs` processes; results do not depend on it.
"""

import argparse
import json
import os
import time
from multiprocessing import Pool

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

_TABLE = {}


def _table():
    if "t" not in _TABLE:
        from keras_nas_plus.benchmarks import load_table

        _TABLE["t"] = load_table("nb201-cifar10", objective="noisy")
    return _TABLE["t"]


def run_direct(table, oracle, seed, queries):
    """One search without Keras Tuner `Trial` objects or files (see module docstring).

    Returns:
        dict like `keras_nas_plus.benchmarks.run_search`: "best_report" (float
        array, one entry per query).
    """
    from types import SimpleNamespace

    objective = table.objective_for_run(seed)
    width = len(str(queries))
    best_value, best_report, trace = -np.inf, np.nan, []
    for i in range(queries):
        trial_id = f"{i:0{width}d}"
        response = oracle.populate_space(trial_id)
        if response["status"] != "RUNNING":
            break
        values = response["values"]
        hashed = oracle._compute_values_hash(values)
        oracle._tried_so_far.add(hashed)
        oracle._id_to_hash[trial_id] = hashed
        row = table.lookup(values)
        value = float(objective[row])
        oracle.trials[trial_id] = SimpleNamespace(trial_id=trial_id, status="COMPLETED", score=value)
        oracle.start_order.append(trial_id)
        oracle.end_order.append(trial_id)
        if hasattr(oracle, "_credit"):
            oracle._credit(trial_id)
        if table.sign * value > best_value:
            best_value, best_report = table.sign * value, float(table.report[row])
        trace.append(best_report)
    return {"best_report": np.asarray(trace)}


def _one(job):
    strategy, seed, queries, kwargs, driver = job
    import keras_tuner

    from keras_nas_plus.benchmarks import run_search
    from keras_nas_plus.oracles import RLControllerOracle

    table = _table()
    objective = keras_tuner.Objective(table.objective_name, direction=table.direction)
    common = dict(objective=objective, max_trials=queries, hyperparameters=table.hyperparameters(), seed=seed)
    update_seconds = []
    if strategy == "rl":
        oracle = RLControllerOracle(**common, **kwargs)
        update = oracle.update_controller

        def timed_update():
            start = time.perf_counter()
            loss = update()
            update_seconds.append(time.perf_counter() - start)
            return loss

        oracle.update_controller = timed_update
    else:
        oracle = keras_tuner.oracles.RandomSearchOracle(**common)
    start = time.perf_counter()
    trace = (run_search if driver == "harness" else run_direct)(table, oracle, seed, queries)
    wall = time.perf_counter() - start
    report = trace["best_report"]
    return strategy, seed, float(report[-1]) if len(report) else float("nan"), update_seconds, wall, driver


def update_cost(cell="lstm", hidden_units=32, batch_size=5, decisions=6, values=5, repeats=200):
    """Wall and CPU milliseconds of one controller update (REINFORCE gradient + Adam step).

    Returns:
        dict with "wall_ms" and "cpu_ms" (mean and p95 over `repeats` updates).
    """
    from keras_nas_plus.oracles import _controller

    rng = np.random.default_rng(0)
    params = _controller.init_params(cell, hidden_units, hidden_units, rng)
    for i in range(decisions):
        _controller.add_head(params, f"d{i}", values, rng)
    m, v, wall, cpu = {}, {}, [], []
    for step in range(1, repeats + 1):
        paths = [[(f"d{i}", int(rng.integers(values))) for i in range(decisions)] for _ in range(batch_size)]
        advantages = list(rng.normal(size=batch_size))
        w0, c0 = time.perf_counter(), time.thread_time()
        _, grads = _controller.loss_and_grads(params, cell, paths, advantages, 0.0)
        _controller.adam_update(params, grads, m, v, step, 0.05)
        wall.append(1000.0 * (time.perf_counter() - w0))
        cpu.append(1000.0 * (time.thread_time() - c0))
    return {
        "wall_ms": {"mean": float(np.mean(wall)), "p95": float(np.percentile(wall, 95))},
        "cpu_ms": {"mean": float(np.mean(cpu)), "p95": float(np.percentile(cpu, 95))},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=300, help="Seeds per strategy, 1..N (default 300).")
    parser.add_argument("--queries", type=int, default=150, help="Queries per run (default 150).")
    parser.add_argument("--procs", type=int, default=2, help="Worker processes (default 2).")
    parser.add_argument("--rl-kwargs", default="{}", help="JSON dict of RLControllerOracle arguments (default: its defaults).")
    parser.add_argument("--strategies", default="rl,random", help="Comma-separated, from rl and random.")
    parser.add_argument("--driver", choices=("direct", "harness"), default="direct", help="See above (default direct).")
    parser.add_argument("--check-harness", type=int, default=0, metavar="K",
                        help="First check on seeds 1..K that both drivers give identical results (default 0: no check).")
    parser.add_argument("--json", dest="json_path", help="Also write the results as JSON here.")
    args = parser.parse_args(argv)
    kwargs = json.loads(args.rl_kwargs)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    out = {"queries": args.queries, "seeds": args.seeds, "rl_kwargs": kwargs, "driver": args.driver, "strategies": {}}
    if args.check_harness:
        check = [(s, seed, args.queries, kwargs, d) for s in strategies
                 for seed in range(1, args.check_harness + 1) for d in ("direct", "harness")]
        with Pool(args.procs) as pool:
            got = {}
            for strategy, seed, report, _, _, driver in pool.imap_unordered(_one, check):
                got[(strategy, seed, driver)] = report
        same = all(got[(s, k, "direct")] == got[(s, k, "harness")] for s in strategies
                   for k in range(1, args.check_harness + 1))
        print(f"drivers agree on seeds 1..{args.check_harness} ({', '.join(strategies)}): {same}", flush=True)
        out["drivers_agree_on_seeds"] = args.check_harness if same else False
        if not same:
            raise SystemExit(f"direct and harness drivers differ: {got}")
    jobs = [(s, seed, args.queries, kwargs, args.driver) for s in strategies for seed in range(1, args.seeds + 1)]
    results = {s: [] for s in strategies}
    updates, walls = [], {s: [] for s in strategies}
    start = time.time()
    with Pool(args.procs) as pool:
        for strategy, seed, report, update_seconds, wall, _ in pool.imap_unordered(_one, jobs, chunksize=4):
            results[strategy].append(report)
            updates.extend(update_seconds)
            walls[strategy].append(wall)
            done = sum(len(v) for v in results.values())
            if done % 50 == 0:
                partial = ", ".join(f"{k}={np.mean(v):.3f} (n={len(v)})" for k, v in results.items() if v)
                print(f"[{done}/{len(jobs)} runs, {time.time() - start:.0f} s] {partial}", flush=True)
    load = os.getloadavg()
    print(f"NB201 CIFAR-10, noisy objective, {args.queries} queries, {args.seeds} seeds "
          f"(test_acc_200ep %, best-by-objective cell; optimum 94.373)")
    for s in strategies:
        a = np.asarray(results[s])
        entry = {"mean": float(np.mean(a)), "std": float(np.std(a)), "sem": float(np.std(a) / np.sqrt(len(a))),
                 "wall_seconds_per_run": float(np.mean(walls[s]))}
        out["strategies"][s] = entry
        print(f"{s:<7} mean={entry['mean']:.3f} std={entry['std']:.3f} sem={entry['sem']:.3f} "
              f"wall_s/run={entry['wall_seconds_per_run']:.2f}")
    if updates:
        ms = 1000.0 * np.asarray(updates)
        out["update_ms"] = {"mean": float(ms.mean()), "p95": float(np.percentile(ms, 95)), "max": float(ms.max()),
                            "count": int(len(ms))}
        print(f"controller update inside the runs (wall): mean={ms.mean():.2f} ms p95={np.percentile(ms, 95):.2f} ms "
              f"max={ms.max():.2f} ms over {len(ms)} updates")
    for cell in ("lstm", "gru"):
        cost = update_cost(cell)
        out[f"update_cost_{cell}"] = cost
        print(f"update cost ({cell}, 32 units, batch 5 x 6 decisions, 200 updates, isolated): "
              f"wall mean={cost['wall_ms']['mean']:.2f} ms p95={cost['wall_ms']['p95']:.2f} ms; "
              f"CPU mean={cost['cpu_ms']['mean']:.2f} ms p95={cost['cpu_ms']['p95']:.2f} ms")
    print(f"total wall {time.time() - start:.0f} s, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} "
          f"on {os.cpu_count()} CPUs")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
