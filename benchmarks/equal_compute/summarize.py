"""Summarises equal-compute runs (issue 23) as a Markdown table and a picture.

Usage:
    python benchmarks/equal_compute/summarize.py OUT_DIR [OUT_DIR ...] [--plot PNG]

Each OUT_DIR is what one call of `run_device.sh` wrote into `$OUT`: `times.tsv` (run name,
seconds from the command's start to its end, exit status), one `NAME.log` per run, and, for
searches, `runs.tgz` (the run directories) or the unpacked `NAME/results.json`. The card's name
comes from `gpu_name.txt`. Rows:

* the anchor (`anchor_BUDGET_DEPTH_WIDTH`): the `RESULT` line of `wrn_baseline.py`;
* a search (`search_seedN`, `random_seedN`): `results.json`, labelled by its configuration
  (`configuration`: the strategy, plus the final ensemble's size, batch size, learning rate,
  unspent-search-time option and test-time augmentation where they differ from the committed
  config's; each configuration has its own leads); its seconds are split into the
  trials' compile and train seconds (summed over the workers that ran at once, see
  `keras_nas_plus/engine/timing.py`), the final phase, and the rest of the command's wall time
  (start-up, data, test, and the search's idle GPU time).

After the table, each configuration's lead over its own session's anchor, in points, with the mean,
the lowest, and whether issue 23's bar is met.
"""

import argparse
import json
import os
import re
import tarfile


def _read_times(out_dir):
    times = {}
    path = os.path.join(out_dir, "times.tsv")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3:
                    times[parts[0]] = (float(parts[1]), int(parts[2]))
    return times


def _results(out_dir, name, file="results.json"):
    path = os.path.join(out_dir, name, file)
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    archive = os.path.join(out_dir, "runs.tgz")
    if os.path.exists(archive):
        with tarfile.open(archive) as tar:
            try:
                member = tar.extractfile(f"{name}/{file}")
            except KeyError:
                return None
            return json.load(member) if member is not None else None
    return None


def configuration(results, config=None):
    """The label of a search arm's configuration: its strategy, plus what its final phase changed.

    `results` is a run's `results.json`, `config` its `config.json` (or None). Appended, in order:
    "ensemble of K" (`final_training.ensemble` trained K > 1 networks), "final batch B" (a final
    batch size other than the trials'), "lr X" (a `final_training.space` learning rate),
    "unspent search time" (`final_training.add_unspent_search_time`), "min epochs N"
    (`final_training.min_epochs`) and "TTA T" (a `final_training.test_time_augmentation` other
    than the committed `flip`). For example
    "evolution + final batch 256, lr 0.2 + unspent search time".
    """
    final = results.get("final_phase") or {}
    parts = [results["strategy"]["type"]]
    members = (final.get("ensemble") or {}).get("trials") or []
    if len(members) > 1:
        parts.append(f"ensemble of {len(members)}")
    trial_batch = ((config or {}).get("search") or {}).get("batch_size", 128)
    recipe = []
    if final.get("batch_size") not in (None, trial_batch):
        recipe.append(f"final batch {final['batch_size']}")
    rate = (final.get("space_overrides") or {}).get("learning_rate")
    if rate is not None:
        recipe.append(f"lr {rate:g}")
    if recipe:
        parts.append(", ".join(recipe))
    if final.get("added_search_seconds") is not None:
        parts.append("unspent search time")
    if final.get("min_epochs"):
        parts.append(f"min epochs {final['min_epochs']['min_epochs']}")
    tta = (results.get("test_time_augmentation") or {}).get("type", "flip")
    if tta != "flip":
        parts.append(f"TTA {tta}")
    return " + ".join(parts)


def anchor_row(out_dir, name, wall, card):
    with open(os.path.join(out_dir, f"{name}.log")) as f:
        text = f.read()
    match = re.search(r"RESULT (\S+) params=(\d+) epochs=(\d+) train_s=(\d+) total_s=(\d+) test_acc=([\d.]+)", text)
    if not match:
        return {"arm": name, "card": card, "wall": wall, "note": "no RESULT line"}
    net, params, epochs, train_s, _, acc = match.groups()
    return {"arm": f"anchor {net} (hand-written)", "card": card, "wall": wall, "compile": None,
            "train": float(train_s), "final": None, "trials": None, "architecture": net,
            "params": int(params), "epochs": int(epochs), "acc_plain": None, "acc": float(acc)}


def search_row(out_dir, name, wall, card):
    r = _results(out_dir, name)
    if r is None:
        return {"arm": name, "card": card, "wall": wall, "note": "no results.json"}
    timing = r.get("trial_timing") or {}
    tta = r.get("test_time_augmentation") or {}
    final = r.get("final_phase") or {}
    done = [t for t in r["trials"] if t["status"] == "COMPLETED"]
    members = (final.get("ensemble") or {}).get("trials") or []
    config = configuration(r, _results(out_dir, name, "config.json"))
    architecture = r.get("best_architecture")
    if len(members) > 1:
        names = {t["trial_id"]: t.get("architecture") for t in r["trials"]}
        architecture = " + ".join(str(names.get(m, m)) for m in members)
    return {"arm": f"{config} ({name})", "config": config, "card": card, "wall": wall,
            "search": r.get("search_seconds"), "compile": timing.get("compile_seconds"),
            "train": timing.get("train_seconds"), "final": final.get("seconds"), "trials": len(done),
            "architecture": architecture, "params": final.get("params"),
            "epochs": final.get("epochs_trained"), "init": final.get("init"),
            "acc_plain": tta.get("test_accuracy_without_tta"), "acc": r.get("test_accuracy")}


def rows_of(out_dir):
    card = "?"
    if os.path.exists(os.path.join(out_dir, "gpu_name.txt")):
        with open(os.path.join(out_dir, "gpu_name.txt")) as f:
            card = f.read().strip() or "?"
    rows = []
    for name, (wall, status) in _read_times(out_dir).items():
        row = anchor_row(out_dir, name, wall, card) if name.startswith("anchor") else search_row(out_dir, name, wall, card)
        if status:
            row["note"] = f"exit {status}"
        row["session"] = os.path.basename(os.path.normpath(out_dir))
        rows.append(row)
    return rows


def _fmt(value, spec):
    return "" if value is None else format(value, spec)


def table(rows):
    lines = ["| arm | card | s from start | search s (trial compile / train, summed over workers) | final s "
             "| trials | final model | params | final epochs | test acc. (no TTA) | test acc. |",
             "| --- | --- | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        search = ""
        if r.get("search") is not None:
            search = f"{r['search']:.0f} ({_fmt(r.get('compile'), '.0f')} / {_fmt(r.get('train'), '.0f')})"
        acc = _fmt(None if r.get("acc") is None else 100 * r["acc"], ".2f")
        plain = _fmt(None if r.get("acc_plain") is None else 100 * r["acc_plain"], ".2f")
        lines.append(f"| {r['arm']} | {r['card']} | {r['wall']:.0f} | {search} | {_fmt(r.get('final'), '.0f')} "
                     f"| {_fmt(r.get('trials'), 'd')} | {r.get('architecture', '')} | {_fmt(r.get('params'), ',')} "
                     f"| {_fmt(r.get('epochs'), 'd')} | {plain} | **{acc}** {r.get('note', '')} |")
    return "\n".join(lines)


def leads(rows):
    """Each search arm's test accuracy minus its own session's anchor, in points, per configuration.

    A configuration is `row["config"]` (see `configuration`, e.g. "evolution + ensemble of 2"). Returns `{config: {"runs": [(session, arm, lead, lead_without_tta)], "mean": m,
    "mean_without_tta": m0, "min": lo, "met": bool}}`; `met` is issue 23's bar: at least three
    runs, a mean lead of at least 0.3 points and no run below its anchor.
    """
    anchors = {}
    for r in rows:
        if r["arm"].startswith("anchor") and r.get("acc") is not None:
            anchors.setdefault(r.get("session", ""), r["acc"])
    out = {}
    for r in rows:
        anchor = anchors.get(r.get("session", ""))
        if r["arm"].startswith("anchor") or r.get("acc") is None or anchor is None:
            continue
        plain = r.get("acc_plain")
        lead = round(100 * (r["acc"] - anchor), 2)
        lead_plain = None if plain is None else round(100 * (plain - anchor), 2)
        out.setdefault(r.get("config", r["arm"].split()[0]), {"runs": []})["runs"].append((r.get("session", ""), r["arm"], lead, lead_plain))
    for entry in out.values():
        values = [run[2] for run in entry["runs"]]
        plain = [run[3] for run in entry["runs"] if run[3] is not None]
        entry["mean"] = round(sum(values) / len(values), 2)
        entry["mean_without_tta"] = round(sum(plain) / len(plain), 2) if len(plain) == len(values) else None
        entry["min"] = min(values)
        entry["met"] = len(values) >= 3 and entry["mean"] >= 0.3 and entry["min"] >= 0
    return out


def leads_table(summary):
    lines = ["| configuration | runs | lead over the session's anchor, points | mean | mean without TTA | lowest "
             "| issue 23 bar (3+ runs, mean >= +0.3, none below) |",
             "| --- | ---: | --- | ---: | ---: | ---: | --- |"]
    for strategy, e in summary.items():
        each = ", ".join(f"{lead:+.2f} ({session})" for session, _, lead, _ in e["runs"])
        plain = "" if e["mean_without_tta"] is None else f"{e['mean_without_tta']:+.2f}"
        lines.append(f"| {strategy} | {len(e['runs'])} | {each} | {e['mean']:+.2f} | {plain} | {e['min']:+.2f} "
                     f"| {'met' if e['met'] else 'not met'} |")
    return "\n".join(lines)


def plot(rows, path):
    """One panel per session (`OUT_DIR`), each with its own anchor's level and the issue's target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("acc") is not None]
    sessions = list(dict.fromkeys(r.get("session", "") for r in rows))
    fig, axes = plt.subplots(1, len(sessions), figsize=(4.2 * len(sessions), 3.4), sharey=True, squeeze=False)
    colours = {"anchor": "tab:gray", "evolution": "tab:blue", "random": "tab:orange", "rl": "tab:green",
               "evolution + ensemble of 2": "tab:purple",
               "evolution + final batch 256, lr 0.2 + unspent search time": "tab:cyan",
               "evolution + TTA flip_shift": "tab:olive"}
    values = [100 * r["acc"] for r in rows] + [100 * r["acc_plain"] for r in rows if r.get("acc_plain")]
    for ax, session in zip(axes[0], sessions):
        mine = [r for r in rows if r.get("session", "") == session]
        for r in mine:
            kind = r.get("config", r["arm"].split()[0])
            ax.scatter(r["wall"], 100 * r["acc"], s=60, color=colours.get(kind, "tab:brown"), label=r["arm"], zorder=3)
            if r.get("acc_plain") is not None:
                ax.scatter(r["wall"], 100 * r["acc_plain"], s=40, facecolors="none",
                           edgecolors=colours.get(kind, "tab:brown"), zorder=3)
        anchors = [100 * r["acc"] for r in mine if r["arm"].startswith("anchor")]
        if anchors:
            ax.axhline(max(anchors), color="tab:gray", lw=0.8, ls="--")
            ax.axhline(max(anchors) + 0.3, color="tab:red", lw=0.8, ls=":", label="anchor + 0.3 (issue 23 target)")
            values.append(max(anchors) + 0.3)
        ax.axvline(600, color="black", lw=0.8, ls=":")
        ax.set_xlim(0, 640)
        ax.set_title(session, fontsize=9)
        ax.set_xlabel("GPU s from the command's start")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes[0][0].set_ylim(min(values) - 0.25, max(values) + 0.1)
    axes[0][0].set_ylabel("test accuracy, % (hollow: without TTA)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dirs", nargs="+")
    parser.add_argument("--plot", default=None, help="write a PNG of accuracy against seconds")
    args = parser.parse_args(argv)
    rows = [row for out_dir in args.out_dirs for row in rows_of(out_dir)]
    print(table(rows))
    print()
    print(leads_table(leads(rows)))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
