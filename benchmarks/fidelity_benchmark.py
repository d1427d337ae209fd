"""Lower-fidelity estimates: cost and rank correlation per knob; NB201 top-k recovery. Prints numbers.

Run from a checkout (CPU, nice 10; the wall time depends on the load):
    nice -n 10 python benchmarks/fidelity_benchmark.py macro --num-architectures 30 --json-dir bench_out
    nice -n 10 python benchmarks/fidelity_benchmark.py nb201 --seeds 300
    python benchmarks/fidelity_benchmark.py merge a.log b.log          # logs of --arch-range runs
    python benchmarks/fidelity_benchmark.py compare b.log --reference a.log  # best half; two runs' full scores

macro: on the Fashion-MNIST sample shipped with the package (10k train, 15% held
out for validation -> 8,500 training examples), a random sample of architectures
of a small macro space (2-4 layers, filters 8/16, stem 8) is trained at full
fidelity (3 epochs, all 8,500 examples, 28x28) and at one setting per knob; per
setting: cost saved (full / low training seconds) and Spearman rho / Kendall tau.

nb201: regularized evolution and random search on NAS-Bench-201 CIFAR-10 searched
on the 12-epoch column (`12ep` objective, 150 queries); the chosen cell's
200-epoch test accuracy versus the "final phase": look up the 200-epoch
validation accuracy of the top-k cells by 12-epoch score and keep the best.
"""

import argparse
import json
import os
import re
import time

import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout


def macro(args):
    from keras_nas_plus import fidelity, run

    data = run.load_data({"dataset": "fashion_mnist_sample", "validation_split": 0.15, "input_kind": "auto",
                          "rescale": "auto", "max_train_examples": None}, seed=0)
    space = run.build_space({"type": "macro", "min_layers": 2, "max_layers": 4, "filters": [8, 16],
                             "stem_filters": 8, "dropout": [0.0], "downsample_at": [1, 2]}, data)
    F = fidelity.Fidelity
    settings = {
        "data_fraction=0.25": F(data_fraction=0.25),
        "data_fraction=0.1": F(data_fraction=0.1),
        "resolution=14": F(resolution=14),
        "width_multiplier=0.5": F(width_multiplier=0.5),
        "num_cells=1": F(num_cells=1),
        "epochs=1": F(epochs=1),
        "data_fraction=0.25+resolution=14": F(data_fraction=0.25, resolution=14),
    }
    if args.settings:
        settings = {k: v for k, v in settings.items() if k in args.settings.split(",")}
    if args.val_examples:
        data["x_val"], data["y_val"] = data["x_val"][: args.val_examples], data["y_val"][: args.val_examples]

    def save(report):
        if args.json_dir:
            os.makedirs(args.json_dir, exist_ok=True)
            with open(os.path.join(args.json_dir, "fidelity_macro.json"), "w") as f:
                json.dump(report, f, indent=1, default=str)

    t0 = time.time()
    report = fidelity.fidelity_report(space, data, settings, args.num_architectures, epochs=3, batch_size=128,
                                      seed=0, progress=lambda line: print(line, flush=True), partial=save,
                                      only=args.arch_range)
    print(f"== macro space, Fashion-MNIST sample ({len(data['x_train'])} train / {len(data['x_val'])} val), "
          f"{time.time() - t0:.0f} s wall")
    print(fidelity.format_report(report), flush=True)


def _search_rows(table, oracle, queries):
    """Runs `oracle` on `table` for `queries` queries; returns the rows queried, in order."""
    import shutil
    import tempfile

    from keras_tuner.engine import trial as trial_module

    oracle.verbose = 0
    if hasattr(oracle, "max_consecutive_failed_trials"):
        oracle.max_consecutive_failed_trials = queries + 1
    scratch = tempfile.mkdtemp(prefix="knp-fid-")
    oracle._set_project_dir(scratch, "oracle")
    rows = []
    try:
        for _ in range(queries):
            trial = oracle.create_trial("fidelity-benchmark")
            if trial.status != trial_module.TrialStatus.RUNNING:
                break
            row = table.lookup(trial.hyperparameters.values)
            if row is None:
                trial.status = trial_module.TrialStatus.FAILED
            else:
                oracle.update_trial(trial.trial_id, {table.objective_name: float(table.objective[row])})
                trial.status = trial_module.TrialStatus.COMPLETED
                rows.append(int(row))
            oracle.end_trial(trial)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return list(dict.fromkeys(rows))


def nb201(args):
    import keras_tuner

    from keras_nas_plus.benchmarks import harness, load_table

    low = load_table("nb201-cifar10", "12ep")        # test_acc_12ep_1seed: the low fidelity searched on
    full = load_table("nb201-cifar10", "noisy")      # one seed's 200-epoch valid accuracy: a full re-training
    objective = keras_tuner.Objective(low.objective_name, direction="max")
    for strategy in args.strategies.split(","):
        chosen = {k: [] for k in ["low"] + [f"top{k}" for k in args.top_k] + ["full"]}
        for seed in range(1, args.seeds + 1):
            oracle = harness.make_oracle(strategy, low.hyperparameters(), objective, args.queries, seed)
            rows = _search_rows(low, oracle, args.queries)
            full_value = full.objective_for_run(seed)
            by_low = sorted(rows, key=lambda r: -low.objective[r])
            chosen["low"].append(low.report[by_low[0]])
            for k in args.top_k:
                best = max(by_low[:k], key=lambda r: full_value[r])
                chosen[f"top{k}"].append(low.report[best])
            # reference: the same queried cells judged at full fidelity (all re-trained)
            chosen["full"].append(low.report[max(rows, key=lambda r: full_value[r])])
        print(f"== nb201 {strategy}: searched on the 12-epoch column, {args.queries} queries, {args.seeds} seeds; "
              f"mean (std) test_acc_200ep (%) of the chosen cell (table optimum {low.report.max():.2f})")
        for name, values in chosen.items():
            label = {"low": "low fidelity alone (12 epochs)",
                     "full": "all queried re-trained (reference)"}.get(name, f"+ re-train top-{name[3:]} (200 epochs)")
            print(f"  {label:<38} {np.mean(values):.2f} ({np.std(values):.2f})", flush=True)


_ENTRY = re.compile(r"(\S+) (None|[-0-9.]+) \(([-0-9.]+|None) s train, ([-0-9.]+) s wall\)")


def _read_logs(paths):
    """{architecture number: {setting: (score, train s, wall s)}} from the `arch i/N: ...` lines of logs."""
    per_arch = {}
    for path in paths:
        for line in open(path):
            m = re.match(r"arch (\d+)/\d+: (.*)", line)
            if m:
                per_arch[int(m.group(1))] = {e[0]: (None if e[1] == "None" else float(e[1]),
                                                     float(e[2]) if e[2] != "None" else 0.0, float(e[3]))
                                             for e in _ENTRY.findall(m.group(2))}
    return per_arch


def merge(args):
    """Recomputes the report from the `arch i/N: ...` lines of one or more logs."""
    from keras_nas_plus.fidelity import format_report, rank_correlation

    per_arch = _read_logs(args.logs)
    archs = [per_arch[i] for i in sorted(per_arch)]
    names = [n for n in archs[0] if n != "full"]
    full = [a["full"] for a in archs]
    total = lambda recs, j: sum(r[j] for r in recs)  # noqa: E731
    report = {"epochs": 3, "architectures": sorted(per_arch),
              "full": {"train_seconds": total(full, 1), "seconds": total(full, 2)}, "settings": {}}
    for name in names:
        recs = [a[name] for a in archs]
        rho, tau = rank_correlation([r[0] for r in recs], [r[0] for r in full])
        report["settings"][name] = {"spearman": rho, "kendall": tau, "train_seconds": total(recs, 1),
                                    "seconds": total(recs, 2), "cost_ratio": total(full, 1) / total(recs, 1),
                                    "wall_cost_ratio": total(full, 2) / total(recs, 2)}
    print(format_report(report))


def compare(args):
    """Rank correlations from logs: per setting against the log's own full-fidelity scores, among the
    better half only (by full score), and, with --reference, against another run's full-fidelity scores
    (e.g. to check that re-run full-fidelity scores agree with a logged run)."""
    from keras_nas_plus.fidelity import rank_correlation

    per_arch = _read_logs(args.logs)
    ids = sorted(per_arch)
    full = np.array([per_arch[i]["full"][0] for i in ids])
    ref = None
    if args.reference:
        other = _read_logs([args.reference])
        missing = [i for i in ids if i not in other]
        if missing:
            raise SystemExit(f"architectures {missing} are not in {args.reference}")
        ref = np.array([other[i]["full"][0] for i in ids])
        diff = [(i, float(a), float(b)) for i, a, b in zip(ids, ref, full) if a != b]
        rho, tau = rank_correlation(list(full), list(ref))
        print(f"full fidelity, {len(ids)} architectures, this run vs reference: max |score difference| "
              f"{np.abs(full - ref).max():.4f}, {len(diff)} differ (arch, reference, this run): {diff}; "
              f"Spearman {rho:.4f}, Kendall {tau:.4f}")
    top = np.argsort(-full)[: len(ids) // 2]
    for name in [k for k in per_arch[ids[0]] if k != "full"]:
        low = np.array([per_arch[i][name][0] for i in ids])
        rho, tau = rank_correlation(list(low), list(full))
        trho, ttau = rank_correlation(list(low[top]), list(full[top]))
        line = (f"{name:<36} rho {rho:.3f} tau {tau:.3f}; best {len(top)} by full score: "
                f"rho {trho:.3f} tau {ttau:.3f}")
        if ref is not None:
            rrho, rtau = rank_correlation(list(low), list(ref))
            line += f"; vs reference full: rho {rrho:.3f} tau {rtau:.3f}"
        print(line)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="what", required=True)
    m = sub.add_parser("macro")
    m.add_argument("--num-architectures", type=int, default=30)
    m.add_argument("--settings", help="comma-separated subset of the setting names")
    m.add_argument("--val-examples", type=int, default=1000, help="validation examples used (default 1000)")
    m.add_argument("--json-dir")
    m.add_argument("--arch-range", type=lambda t: tuple(int(v) for v in t.split(":")),
                   help="START:STOP, train only these architectures of the sample (split a run over processes; "
                        "combine the logs with the `merge` subcommand)")
    g = sub.add_parser("merge", help="combine the printed logs of `macro` runs over disjoint --arch-range")
    g.add_argument("logs", nargs="+")
    c = sub.add_parser("compare", help="rank correlations from `macro` logs (best half; against a reference run)")
    c.add_argument("logs", nargs="+")
    c.add_argument("--reference", help="log of another run whose full-fidelity scores to compare with")
    n = sub.add_parser("nb201")
    n.add_argument("--seeds", type=int, default=300)
    n.add_argument("--queries", type=int, default=150)
    n.add_argument("--strategies", default="evolution,random")
    n.add_argument("--top-k", type=lambda s: [int(v) for v in s.split(",")], default=[3, 10])
    args = p.parse_args()
    {"macro": macro, "nb201": nb201, "merge": merge, "compare": compare}[args.what](args)


if __name__ == "__main__":
    main()
