"""One picture of a GPU showcase run: both arms' test accuracy per pair, and their search.

Usage: python benchmarks/gpu_showcase/plot_pairs.py OUT_PNG PAIR_DIR [PAIR_DIR ...]
Each PAIR_DIR holds results_evolution.json and results_random.json (the run directories'
results.json of one pair of arms, e.g. benchmarks/gpu_showcase/results/run6/seed0).

Left: test accuracy (%) of each arm's final model, one pair per column, with the issue's target
(95.0 %) and the two hand-written references it quotes for the H200 (a 4-conv CNN, 93.2 %; a
small ResNet, 94.0 %). Re-trainings of a pair's architectures, in folders next to it named
PAIR_DIR_final_seed<N> holding results_final_only_<arm>_seed<N>.json (e.g. run6/seed0_final_seed1),
are drawn as hollow markers. Right: best validation accuracy so far against the trial number,
per arm and pair.
"""

import glob
import json
import os
import sys

TARGET = 95.0
BASELINES = {"hand-written 4-conv CNN (93.2 %)": 93.2, "hand-written ResNet (94.0 %)": 94.0}
ARMS = {"evolution": ("regularized evolution", "tab:blue"), "random": ("KT RandomSearch", "tab:orange")}


def load(pair_dir, arm):
    with open(os.path.join(pair_dir, f"results_{arm}.json")) as f:
        return json.load(f)


def best_so_far(results):
    best, out = float("-inf"), []
    for t in sorted(results["trials"], key=lambda t: t["trial_id"]):
        if t["status"] == "COMPLETED" and t["score"] is not None:
            best = max(best, t["score"])
        out.append(best if best > float("-inf") else float("nan"))
    return out


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_png, pair_dirs = argv[0], argv[1:]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    retrained = []
    for k, pair_dir in enumerate(pair_dirs):
        label = os.path.basename(os.path.normpath(pair_dir))
        for j, arm in enumerate(ARMS):
            name, color = ARMS[arm]
            r = load(pair_dir, arm)
            acc = 100 * r["test_accuracy"]
            x = k + (j - 0.5) * 0.3
            left.plot([x], [acc], marker="o" if arm == "evolution" else "s", markersize=9, color=color,
                      linestyle="none", label=name if k == 0 else None)
            left.annotate(f"{acc:.2f}", (x, acc), textcoords="offset points", xytext=(0, 8), ha="center",
                          fontsize=9)
            pattern = f"{os.path.normpath(pair_dir)}_final_seed*/results_final_only_{arm}_seed*.json"
            for n, path in enumerate(sorted(glob.glob(pattern))):
                with open(path) as f:
                    again = 100 * json.load(f)["test_accuracy"]
                dx = 0.1 if arm == "random" else -0.1  # beside the filled marker, outwards
                left.plot([x + dx], [again], marker="o" if arm == "evolution" else "s", markersize=9,
                          markerfacecolor="none", color=color, linestyle="none",
                          label="same architecture, trained again (another seed)" if not retrained else None)
                retrained.append(path)
                left.annotate(f"{again:.2f}", (x + dx, again), textcoords="offset points",
                              xytext=(8 if dx > 0 else -8, -3), ha="left" if dx > 0 else "right", fontsize=8,
                              color="dimgrey")
            curve = best_so_far(r)
            right.step(range(len(curve)), curve, where="post", color=color,
                       linestyle="-" if k == 0 else "--", label=f"{name}, {label}")
    left.axhline(TARGET, color="black", linewidth=1, label="target (95.0 %)")
    for text, value in BASELINES.items():
        left.axhline(value, color="grey", linestyle=":" if value < 94 else "--", linewidth=1, label=text)
    left.set_xlim(-0.6, len(pair_dirs) - 0.4)
    left.set_xticks(range(len(pair_dirs)))
    left.set_xticklabels([os.path.basename(os.path.normpath(d)) for d in pair_dirs])
    left.set_ylim(93.0, 95.6)
    left.set_ylabel("test accuracy of the final model (%)")
    left.set_title("Fashion-MNIST test set, same budget per arm")
    left.legend(loc="center right", fontsize=8)
    right.set_xlabel("trial")
    right.set_ylabel("best validation accuracy so far (5 epochs)")
    right.set_title("Search (4 trials at once, 240 s)")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    print(f"saved {out_png}")


if __name__ == "__main__":
    main(sys.argv[1:])
