"""`keras-nas-plus report RUN_DIR`: a summary table and plots of a finished search.

Reads `results.json` (written by `run_search`) and the per-trial
`nas_trial.json` records, prints a table of the best trials and saves PNG
plots with matplotlib (the `plots` extra):

* `best_so_far.png`: best objective value so far against trial number;
* `score_vs_params.png`: objective against parameter count, Pareto front
  (best score for at most that many parameters) highlighted;
* `learning_curves.png`: the objective's per-epoch curve of every trial,
  the best trial highlighted, trials stopped early marked with a cross;
* `best_architecture.png`: the layer graph of the best architecture, with
  filter counts, strides and output shapes; merges coloured.
"""

import json
import math
import os

from keras_nas_plus.app.run import RESULTS_FILE
from keras_nas_plus.app.run import build_best_model
from keras_nas_plus.vocabulary import objective_direction


class ReportError(ValueError):
    """The directory does not hold a finished keras_nas_plus run."""


def load_run(run_dir):
    """Loads `results.json` and the trial records of a run directory.

    Returns:
        `(results, trials)`: the results dict and a list of per-trial dicts
        (the results' `trials` entries, each with its `history` curves and
        early-stopping fields when its `nas_trial.json` exists).

    Raises:
        ReportError: if `run_dir` has no readable `results.json`.
    """
    path = os.path.join(run_dir, RESULTS_FILE)
    if not os.path.isfile(path):
        raise ReportError(f"{run_dir}: no {RESULTS_FILE} here; is it a finished keras-nas-plus search directory?")
    try:
        with open(path) as f:
            results = json.load(f)
    except ValueError as e:
        raise ReportError(f"{path}: unreadable ({e})") from e
    project = None
    config_path = os.path.join(run_dir, "config.json")
    if os.path.isfile(config_path):
        with open(config_path) as f:
            project = json.load(f).get("search", {}).get("project_name")
    trials = []
    for record in results.get("trials", []):
        record = dict(record)
        info_path = os.path.join(run_dir, project or "trials", f"trial_{record['trial_id']}", "nas_trial.json")
        if os.path.isfile(info_path):
            try:
                with open(info_path) as f:
                    info = json.load(f)
            except ValueError:
                info = {}
            for key, value in info.items():
                record.setdefault(key, value)
        trials.append(record)
    return results, trials


def _maximise(objective):
    return objective_direction(objective, default="max") == "max"


def summary_table(results, trials, top=10):
    """The report's text: best trials, counts and the final result."""
    objective = results.get("objective", "score")
    maximise = _maximise(objective)
    done = [t for t in trials if t.get("score") is not None]
    done.sort(key=lambda t: t["score"], reverse=maximise)
    failed = len(trials) - len(done)
    stopped = sum(1 for t in trials if t.get("stopped_early"))
    epochs = sum(t.get("epochs_trained") or 0 for t in trials)
    lines = [
        f"{len(trials)} trials: {len(done)} completed, {failed} failed, {stopped} stopped early; "
        f"{epochs} training epochs in all",
        "",
        f"{'rank':>4} {'trial':>5} {objective:>12} {'params':>10} {'epochs':>6} {'compile_s':>9} {'train_s':>8}"
        "  architecture",
    ]
    for rank, t in enumerate(done[:top], 1):
        params = "-" if t.get("num_params") is None else f"{t['num_params']:,}"
        mark = " (stopped early)" if t.get("stopped_early") else ""
        if t.get("initial_architecture"):
            mark += f" (initial: {t['initial_architecture']})"
        timing = t.get("timing") or {}
        seconds = [("-" if timing.get(k) is None else f"{timing[k]:.1f}") for k in ("compile_seconds", "train_seconds")]
        lines.append(f"{rank:>4} {t['trial_id']:>5} {t['score']:>12.4f} {params:>10} "
                     f"{t.get('epochs_trained') or '-':>6} {seconds[0]:>9} {seconds[1]:>8}  "
                     f"{t.get('architecture', '')}{mark}")
    timing = results.get("trial_timing")
    if timing:
        lines.append("")
        lines.append("time (s): " + ", ".join(f"{k[:-8]} {timing[k]:.0f}" for k in (
            "build_seconds", "costs_seconds", "compile_seconds", "train_seconds", "validation_seconds",
            "idle_seconds")) + f" of {timing['wall_seconds']:.0f} wall")
    lines.append("")
    best = results.get("best_architecture", "")
    lines.append(f"best trial {results.get('best_trial_id')}: {best}")
    final = results.get("final_phase") or {}
    if final.get("epochs_trained"):
        width = final.get("width_multiplier", 1)
        n = final["epochs_trained"]
        lines.append(f"final model: {n} epoch{'s' if n != 1 else ''}"
                     + (f", {width:g} times as wide as searched" if width != 1 else "")
                     + (f", {final['params']:,} params" if final.get("params") else ""))
    if results.get("test_accuracy") is not None:
        lines.append(f"test accuracy of the final model: {results['test_accuracy']:.4f}")
    return "\n".join(lines)


def pareto_front(points, maximise=True):
    """Indices of the points `(params, score)` not dominated by another.

    A point dominates another if it has no more parameters and a better or
    equal score, one of them strictly.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1] if maximise else points[i][1]))
    front, best = [], None
    for i in order:
        score = points[i][1]
        if best is None or (score > best if maximise else score < best):
            front.append(i)
            best = score
    return front


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ReportError("plots need matplotlib: pip install 'keras-nas-plus[plots]'") from e
    return plt


def plot_best_so_far(results, trials, path):
    plt = _plt()
    maximise = _maximise(results.get("objective", ""))
    xs, ys, best = [], [], None
    for t in sorted(trials, key=lambda t: t["trial_id"]):
        if t.get("score") is not None and (best is None or (t["score"] > best if maximise else t["score"] < best)):
            best = t["score"]
        if best is not None:
            xs.append(int(t["trial_id"]))
            ys.append(best)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.step(xs, ys, where="post", color="tab:blue")
    ax.scatter([int(t["trial_id"]) for t in trials if t.get("score") is not None],
               [t["score"] for t in trials if t.get("score") is not None], s=12, color="tab:gray", alpha=0.6)
    ax.set_xlabel("trial")
    ax.set_ylabel(results.get("objective", "score"))
    ax.set_title("Best so far")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_score_vs_params(results, trials, path):
    plt = _plt()
    maximise = _maximise(results.get("objective", ""))
    pts = [(t["num_params"], t["score"]) for t in trials if t.get("score") is not None and t.get("num_params")]
    fig, ax = plt.subplots(figsize=(6, 4))
    if pts:
        ax.scatter([p for p, _ in pts], [s for _, s in pts], s=14, color="tab:gray", label="trials")
        front = sorted((pts[i] for i in pareto_front(pts, maximise)))
        ax.plot([p for p, _ in front], [s for _, s in front], "o-", color="tab:red", label="Pareto front")
        ax.set_xscale("log")
        ax.legend()
    ax.set_xlabel("parameters")
    ax.set_ylabel(results.get("objective", "score"))
    ax.set_title("Score against size")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_learning_curves(results, trials, path):
    """Per-epoch objective of every trial: the best trial highlighted, integer epochs.

    Returns:
        the (closed) matplotlib figure.
    """
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    objective = results.get("objective", "val_accuracy")
    best_id = results.get("best_trial_id")
    fig, ax = plt.subplots(figsize=(6, 4))
    any_stopped, others_labelled = False, False  # each legend entry once
    for t in trials:
        curve = (t.get("history") or {}).get(objective)
        if not curve:
            continue
        epochs = list(range(1, len(curve) + 1))
        values = [math.nan if v is None else v for v in curve]
        stopped = bool(t.get("stopped_early"))
        if str(t.get("trial_id")) == str(best_id):
            ax.plot(epochs, values, "o-", color="tab:red", linewidth=2, markersize=3, zorder=3,
                    label=f"best (trial {best_id})")
        else:
            ax.plot(epochs, values, ".-", color="tab:gray", alpha=0.5, linewidth=1, markersize=3,
                    label=None if others_labelled else "other trials")
            others_labelled = True
        if stopped:
            ax.plot(epochs[-1], values[-1], "x", color="tab:orange", zorder=4,
                    label=None if any_stopped else "stopped early")
        any_stopped = any_stopped or stopped
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(objective)
    ax.set_title("Learning curves" + (" (x: stopped early)" if any_stopped else ""))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return fig


def layer_graph(model):
    """`(names, edges)` of a functional model's layer graph, inputs first."""
    names = [layer.name for layer in model.layers]
    edges = []
    for layer in model.layers:
        for node in getattr(layer, "_inbound_nodes", []):
            for tensor in node.input_tensors:
                history = getattr(tensor, "_keras_history", None)
                if history is not None:
                    edges.append((history[0].name, layer.name))
    return names, sorted(set(edges), key=lambda e: (names.index(e[0]), names.index(e[1])))


def layer_label(layer):
    """A box label: the layer's name and class, widths and strides, and its output shape."""
    parts = [f"{layer.name}", layer.__class__.__name__]
    config = {}
    try:
        config = layer.get_config()
    except Exception:  # a label must never break a report
        pass
    detail = []
    for key, text in (("filters", "{} filters"), ("units", "{} units"), ("depth_multiplier", "x{} depth")):
        if config.get(key) is not None:
            detail.append(text.format(config[key]))
    if config.get("kernel_size") is not None:
        detail.append("k" + "x".join(str(k) for k in config["kernel_size"]))
    strides = config.get("strides")
    if strides is not None and any(int(s) != 1 for s in (strides if isinstance(strides, (list, tuple)) else [strides])):
        detail.append("stride " + "x".join(str(s) for s in (strides if isinstance(strides, (list, tuple)) else [strides])))
    if config.get("pool_size") is not None:
        detail.append("pool " + "x".join(str(p) for p in config["pool_size"]))
    if detail:
        parts.append(", ".join(detail))
    try:
        shape = layer.output.shape
        parts.append("(" + ", ".join("?" if d is None else str(d) for d in shape[1:]) + ")")
    except Exception:
        pass
    return "\n".join(parts)


def plot_architecture(model, path, title="Best architecture"):
    """Draws a model's layer graph: boxes by depth with widths, strides and output shapes, merges coloured.

    The figure is sized to the graph (its depth and widest level).

    Returns:
        the (closed) matplotlib figure.
    """
    plt = _plt()
    names, edges = layer_graph(model)
    depth = {n: 0 for n in names}
    for _ in names:  # longest-path depth; layers are in topological order
        for a, b in edges:
            depth[b] = max(depth[b], depth[a] + 1)
    columns = {}
    for n in names:
        columns.setdefault(depth[n], []).append(n)
    pos = {}
    for d, members in columns.items():
        for k, n in enumerate(members):
            pos[n] = (k - (len(members) - 1) / 2.0, -d)
    widest = max(len(m) for m in columns.values())
    fig, ax = plt.subplots(figsize=(max(3.0, 1.9 * widest + 0.6), max(2.0, 0.75 * (max(columns) + 1) + 0.6)))
    for a, b in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.annotate("", xy=(x1, y1 + 0.3), xytext=(x0, y0 - 0.3),
                    arrowprops={"arrowstyle": "->", "color": "0.4", "lw": 0.8})
    inputs = {b: sum(1 for _, c in edges if c == b) for b in names}
    for n in names:
        layer = model.get_layer(n)
        merge = inputs[n] > 1  # Add, Concatenate, ...: more than one inbound layer
        ax.text(*pos[n], layer_label(layer), ha="center", va="center", fontsize=6,
                bbox={"boxstyle": "round,pad=0.25", "fc": "#fde8d8" if merge else "#e8f0fe",
                      "ec": "#b5651d" if merge else "#4a6fa5", "lw": 0.6})
    xs = [p[0] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(-max(columns) - 0.5, 0.5)
    ax.axis("off")
    ax.set_title(title + " (orange: merges)" if any(v > 1 for v in inputs.values()) else title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return fig


def make_report(run_dir, output_dir=None, plots=True):
    """Prints the summary and writes the plots of a run directory.

    Args:
        run_dir: str, a `search.directory` of a finished search.
        output_dir: str or None, where the PNG files go (default: `run_dir`).
        plots: bool, default True. Also draw the PNG plots.

    Returns:
        dict with `summary` (text) and `plots` (list of paths).

    Raises:
        ReportError: not a finished run, or matplotlib missing for plots.
    """
    results, trials = load_run(run_dir)
    text = summary_table(results, trials)
    paths = []
    if plots:
        output_dir = output_dir or run_dir
        os.makedirs(output_dir, exist_ok=True)
        for name, fn in (("best_so_far.png", plot_best_so_far), ("score_vs_params.png", plot_score_vs_params),
                         ("learning_curves.png", plot_learning_curves)):
            path = os.path.join(output_dir, name)
            fn(results, trials, path)
            paths.append(path)
        try:
            model = build_best_model(os.path.join(run_dir, RESULTS_FILE))
        except Exception as e:  # the drawing is a bonus; never fail the report for it
            text += f"\n(best architecture not drawn: {e})"
        else:
            path = os.path.join(output_dir, "best_architecture.png")
            plot_architecture(model, path, title=f"Best architecture (trial {results.get('best_trial_id')})")
            paths.append(path)
    return {"summary": text, "plots": paths}


def add_parser(subparsers):
    p = subparsers.add_parser("report", help="summarise a finished search and plot it",
                              description="Print a summary of RUN_DIR and save PNG plots there.")
    p.add_argument("run_dir", help="the search.directory of a finished search")
    p.add_argument("--output", default=None, help="directory for the PNG files (default: RUN_DIR)")
    p.add_argument("--no-plots", action="store_true", help="only print the summary")
    return p


def run(args):
    try:
        report = make_report(args.run_dir, args.output, plots=not args.no_plots)
    except ReportError as e:
        import sys

        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report["summary"])
    for path in report["plots"]:
        print(f"saved {path}")
    return 0
