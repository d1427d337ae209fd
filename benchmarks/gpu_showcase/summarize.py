"""Summarises a GPU showcase run (both arms) as a Markdown table.

Usage: python benchmarks/gpu_showcase/summarize.py RUN_ROOT [GPU_UTIL_CSV ...]
RUN_ROOT holds gpu_evolution/ and gpu_random/ (unpacked from the showcase .tgz files); each
GPU_UTIL_CSV is an `nvidia-smi` log of one device call (one per arm when the arms ran apart).
"""

import csv
import json
import os
import sys


def arm_row(root, arm):
    with open(os.path.join(root, f"gpu_{arm}", "results.json")) as f:
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
        "architecture": r["best_architecture"],
    }


def gpu_utilisation(path):
    values = []
    with open(path) as f:
        for row in csv.reader(f):
            if len(row) >= 2 and row[1].strip().endswith("%"):
                values.append(float(row[1].strip().rstrip(" %")))
    return sum(values) / len(values) if values else float("nan"), len(values)


def main():
    root = sys.argv[1]
    rows = [arm_row(root, arm) for arm in ("evolution", "random")]
    print("| arm | trials | search s | trials per GPU-hour | best val acc (search) | final epochs | final s "
          "| search + final (min) | params | test accuracy |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arm']} | {r['trials']} | {r['search_s']:.0f} | {r['trials_per_gpu_hour']:.0f} | "
              f"{r['best_val']:.4f} | {r['final_epochs']} | {r['final_s']:.0f} | {r['total_min']:.1f} | "
              f"{r['params']:,} | **{100 * r['test_accuracy']:.2f} %** |")
    for r in rows:
        print(f"\n{r['arm']} best architecture: `{r['architecture']}`")
    for path in sys.argv[2:]:
        mean, n = gpu_utilisation(path)
        print(f"\nMean GPU utilisation, {os.path.basename(path)} (nvidia-smi every 2 s, {n} samples): {mean:.0f} %")


if __name__ == "__main__":
    main()
