"""Summarises a GPU showcase run (both arms) as a Markdown table.

Usage: python benchmarks/gpu_showcase/summarize.py RUN_ROOT [GPU_UTIL_CSV ...]
RUN_ROOT holds gpu_evolution/ and gpu_random/ (unpacked from the showcase .tgz files), or
results_evolution.json and results_random.json (as the committed results/run6/seed0/); each
GPU_UTIL_CSV is an `nvidia-smi` log of one device call (one per arm when the arms ran apart,
in the order evolution, random). With one log per arm, the utilisation is also given per phase:
the search is taken to start at the first sample with GPU memory in use and to last the arm's
`search_seconds`; the final phase is the `final_phase.seconds` after it (2 s samples, so
approximate to a few seconds).
"""

import csv
import json
import os
import sys


def arm_row(root, arm):
    path = os.path.join(root, f"gpu_{arm}", "results.json")
    if not os.path.exists(path):  # a committed results folder, e.g. results/run6/seed0
        path = os.path.join(root, f"results_{arm}.json")
    with open(path) as f:
        r = json.load(f)
    final = r["final_phase"]
    search_s = r["search_seconds"]
    done = [t for t in r["trials"] if t["status"] == "COMPLETED"]
    return {
        "arm": arm,
        "trials": len(done),
        "search_s": search_s,
        "trials_per_gpu_hour": 3600.0 * len(done) / search_s if search_s else 0.0,
        "best_val": r["best_val_score"],
        "final_epochs": final.get("epochs_trained", final.get("epochs")),
        "final_s": final["seconds"],
        "total_min": (search_s + final["seconds"]) / 60.0,
        "test_accuracy": r["test_accuracy"],
        "params": next((t["num_params"] for t in r["trials"] if t["trial_id"] == r["best_trial_id"]), None),
        "final_params": final.get("params"),
        "width": final.get("width_multiplier", 1),
        "architecture": r["best_architecture"],
    }


def gpu_samples(path):
    """(utilisation %, memory MiB) per `nvidia-smi` sample."""
    samples = []
    with open(path) as f:
        for row in csv.reader(f):
            if len(row) >= 3 and row[1].strip().endswith("%"):
                samples.append((float(row[1].strip().rstrip(" %")), float(row[2].strip().split()[0])))
    return samples


def _mean(values):
    return sum(values) / len(values) if values else float("nan")


def gpu_utilisation(path):
    util = [u for u, _ in gpu_samples(path)]
    return _mean(util), len(util)


def phase_utilisation(path, search_s, final_s, interval=2.0):
    """Mean utilisation (%) over the search and over the final phase of one arm's call."""
    samples = gpu_samples(path)
    start = next((i for i, (_, mem) in enumerate(samples) if mem > 0), 0)
    end_search = start + int(round(search_s / interval))
    end_final = end_search + int(round(final_s / interval))
    return (_mean([u for u, _ in samples[start:end_search]]),
            _mean([u for u, _ in samples[end_search:end_final]]))


def main():
    root = sys.argv[1]
    rows = [arm_row(root, arm) for arm in ("evolution", "random")]
    print("| arm | trials | search s | trials per GPU-hour | best val acc (search) | params (searched) "
          "| final width | final params | final epochs | final s | search + final (min) | test accuracy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        final_params = "-" if r["final_params"] is None else f"{r['final_params']:,}"
        print(f"| {r['arm']} | {r['trials']} | {r['search_s']:.0f} | {r['trials_per_gpu_hour']:.0f} | "
              f"{r['best_val']:.4f} | {r['params']:,} | {r['width']:g}x | {final_params} | {r['final_epochs']} | "
              f"{r['final_s']:.0f} | {r['total_min']:.1f} | **{100 * r['test_accuracy']:.2f} %** |")
    for r in rows:
        print(f"\n{r['arm']} best architecture: `{r['architecture']}`")
    logs = sys.argv[2:]
    for i, path in enumerate(logs):
        mean, n = gpu_utilisation(path)
        line = f"\nMean GPU utilisation, {path} (nvidia-smi every 2 s, {n} samples): {mean:.0f} %"
        if len(logs) == len(rows):
            search, final = phase_utilisation(path, rows[i]["search_s"], rows[i]["final_s"])
            line += f"; search {search:.0f} %, final phase {final:.0f} % ({rows[i]['arm']})"
        print(line)


if __name__ == "__main__":
    main()
