"""The ``keras-nas-plus benchmark`` subcommand.

Examples:
    keras-nas-plus benchmark --table nb201-cifar10 --objective noisy \
        --strategy evolution --strategy random --strategy bayesian:10 \
        --queries 150 --seeds 300 --json out.json --plot out.png
    keras-nas-plus benchmark --table results.csv --decision-columns a,b,c \
        --objective-column val_acc --report-column test_acc --cost-column seconds \
        --strategy random --time-budget 3600
"""

import argparse
import json
import os
import sys

from keras_nas_plus.tabular import table as table_module
from keras_nas_plus.tabular import harness
from keras_nas_plus.tabular import multiobjective
from keras_nas_plus.spaces import nb201


def _number_list(cast):
    def parse(text):
        try:
            values = [cast(v) for v in str(text).split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
        if not values or min(values) <= 0:
            raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
        return values

    return parse


def add_parser(subparsers):
    """Adds the ``benchmark`` subcommand to an argparse subparsers object.

    Args:
        subparsers: the object returned by ``ArgumentParser.add_subparsers()``.

    Returns:
        `argparse.ArgumentParser`, the new subparser (its default ``func`` is `run`).
    """
    p = subparsers.add_parser(
        "benchmark",
        help="Run search strategies on a tabular NAS benchmark (no training).",
        description=(
            "Drives Keras Tuner oracles over a table of architectures and reports, per strategy "
            "and budget, the mean/std of the report metric of the best-by-objective architecture "
            "and the regret to the table's optimum."
        ),
    )
    p.add_argument("--table", default="nb201-cifar10", help="'nb201-cifar10' (shipped) or a CSV path (.csv or .csv.gz).")
    p.add_argument(
        "--objective",
        default="noisy",
        help="For nb201-cifar10: noisy (one seed's valid acc per arch and run), mean, or 12ep. Default noisy.",
    )
    p.add_argument("--decision-columns", help="CSV: comma-separated decision columns.")
    p.add_argument(
        "--objective-column",
        action="append",
        help="The metric the oracle sees (CSV tables). Give it twice as NAME:max / NAME:min for a "
             "two-objective search (e.g. valid_acc_200ep:max and params_mb:min, also on nb201-cifar10); "
             "results then have mean_budget_regret and mean_hypervolume_ratio.",
    )
    p.add_argument("--report-column", help="CSV: the metric reported for the chosen architecture (default: objective column).")
    p.add_argument("--cost-column", help="CSV: simulated seconds per evaluation (for --time-budget).")
    p.add_argument("--direction", choices=("max", "min"), default="max", help="Objective/report direction (default max).")
    p.add_argument(
        "--strategy",
        action="append",
        help="NAME[:SEEDS], repeatable; NAME in evolution, rl, random, bayesian, grid. Default: evolution and random.",
    )
    p.add_argument("--queries", type=_number_list(int), default=[150], help="Query budget(s), comma-separated (default 150).")
    p.add_argument(
        "--time-budget", type=_number_list(float), help="Simulated-seconds budget(s), comma-separated; replaces --queries."
    )
    p.add_argument("--max-queries", type=int, default=10000, help="Cap on queries per run with --time-budget (default 10000).")
    p.add_argument("--seeds", type=int, default=300, help="Seeds per strategy (default 300).")
    p.add_argument("--first-seed", type=int, default=1, help="First seed of the fixed seed list (default 1).")
    p.add_argument(
        "--workers", type=int, default=1,
        help="Trials in flight at once in each simulated search, as with search.workers (default 1).")
    p.add_argument("--json", dest="json_path", help="Write results as JSON to this file.")
    p.add_argument("--plot", help="Write a plot of mean best-so-far report vs. queries (needs matplotlib).")
    p.add_argument("--quiet", action="store_true", help="No progress lines.")
    p.add_argument(
        "--no-cheap-cost", action="store_true",
        help="Two objectives: evolution does not read candidate children's cost (the second objective) "
             "from the table before querying them (LEMONADE's child choice; on by default).")
    p.set_defaults(func=run)
    return p


def _load(args):
    if args.table in table_module.NAMED_TABLES:
        return table_module.load_table(args.table, objective=args.objective)
    if not args.decision_columns or not args.objective_column:
        raise ValueError("A CSV --table needs --decision-columns and --objective-column.")
    return table_module.TabularBenchmark.from_csv(
        args.table,
        decision_columns=args.decision_columns,
        objective_column=args.objective_column[0],
        report_column=args.report_column,
        cost_column=args.cost_column,
        direction=args.direction,
    )


def run(args):
    """Runs the ``benchmark`` subcommand.

    Args:
        args: `argparse.Namespace` from the parser made by `add_parser`.

    Returns:
        int exit status: 0 on success, 2 on a bad table or argument.
    """
    if args.table not in table_module.NAMED_TABLES and not os.path.exists(args.table):
        print(f"keras-nas-plus benchmark: error: --table {args.table!r}: no shipped table of that name and "
              f"no such file; shipped tables: {', '.join(table_module.NAMED_TABLES)} "
              "(or give the path of a CSV file)", file=sys.stderr)
        return 2
    if args.objective_column and len(args.objective_column) > 1:
        return _run_multiobjective(args)
    if args.objective_column and ":" in args.objective_column[0]:
        name, _, direction = args.objective_column[0].partition(":")
        args.objective_column[0], args.direction = name, direction or args.direction
    try:
        table = _load(args)
        strategies = args.strategy or ["evolution", "random"]
        for spec in strategies:
            harness.parse_strategy(spec, args.seeds)
        result = harness.run_benchmark(
            table,
            strategies,
            queries=args.queries,
            seeds=args.seeds,
            time_budget=args.time_budget,
            max_queries=args.max_queries,
            first_seed=args.first_seed,
            workers=args.workers,
            progress=None if args.quiet else (lambda line: print(line, flush=True)),
        )
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"keras-nas-plus benchmark: error: {e}", file=sys.stderr)
        return 2
    print(harness.format_results(result))
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(result, f, indent=1)
    if args.plot:
        try:
            harness.plot_curves(result, args.plot)
        except ImportError as e:
            print(f"keras-nas-plus benchmark: {e}", file=sys.stderr)
            return 2
    return 0


def _run_multiobjective(args):
    try:
        objectives = multiobjective.parse_objective_columns(args.objective_column)
        names = [n for n, _ in objectives]
        equivalence = None
        if args.table in table_module.NAMED_TABLES:
            table = table_module.load_table(args.table, objective="mean")
            path = table_module.table_path(args.table)
            equivalence = nb201.canonical_values
        else:
            if not args.decision_columns:
                raise ValueError("A CSV --table needs --decision-columns.")
            table = table_module.TabularBenchmark.from_csv(
                args.table, decision_columns=args.decision_columns, objective_column=names[0])
            path = args.table
        columns = multiobjective.read_columns(path, names)
        strategies = [harness_name.split(":")[0] for harness_name in (args.strategy or ["evolution", "random"])]
        result = multiobjective.run_pareto_benchmark(
            table, columns, objectives, strategies, queries=args.queries[-1], seeds=args.seeds,
            first_seed=args.first_seed, equivalence=equivalence,
            cheap_cost=not getattr(args, "no_cheap_cost", False),
            progress=None if args.quiet else (lambda line: print(line, flush=True)))
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"keras-nas-plus benchmark: error: {e}", file=sys.stderr)
        return 2
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(result, f, indent=1)
    return 0


def main(argv=None):
    """Standalone entry point: ``python -m keras_nas_plus.benchmarks.cli benchmark ...``."""
    parser = argparse.ArgumentParser(prog="keras-nas-plus")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
