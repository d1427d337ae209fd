"""`keras-nas-plus fidelity-report`: how well low-fidelity scores rank architectures.

Trains a random sample of a space's architectures at full fidelity and at
each low-fidelity setting and reports the rank correlation (Spearman, Kendall)
and the cost saved. Reference: Zela et al., "Towards Automated Deep Learning:
Efficient Joint Neural Architecture and Hyperparameter Search", ICML AutoML
workshop 2018 (correlation of low- and full-fidelity rankings).
"""

import json
import shutil
import sys
import tempfile

import keras_tuner
import numpy as np

from keras_nas_plus import datasets
from keras_nas_plus.app import config as config_module
from keras_nas_plus.app import run as run_module
from keras_nas_plus.estimation.fidelity import Fidelity
from keras_nas_plus.estimation.fidelity import from_estimation
from keras_nas_plus.estimation.final import train_architecture
from keras_nas_plus.spaces.scaling import _space_kind
from keras_nas_plus.strategies import _hp


def sample_architectures(space, num, seed=0):
    """Distinct random hyperparameter values of a search space.

    Args:
        space: a HyperModel (search space).
        num: int, number of architectures.
        seed: int, default 0.

    Returns:
        list of dicts of values (fewer if the space is smaller).
    """
    directory = tempfile.mkdtemp(prefix="kn_fidelity_")
    try:  # Keras Tuner registers every conditional hyperparameter of the space
        tuner = keras_tuner.RandomSearch(hypermodel=space, objective="val_accuracy", max_trials=1,
                                         directory=directory, project_name="sample", overwrite=True)
        hp_space = tuner.oracle.get_space().space
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    rng = np.random.default_rng(seed)
    seen, out = set(), []
    for _ in range(num * 50):
        values = _hp.random_values(hp_space, rng)
        key = tuple(sorted((k, str(v)) for k, v in values.items()))
        if key not in seen:
            seen.add(key)
            out.append(values)
        if len(out) == num:
            break
    return out


def default_settings(space, data):
    """One low-fidelity setting per knob (plus a combination), for a report."""
    settings = {"data_fraction=0.25": Fidelity(data_fraction=0.25),
                "epochs=1": Fidelity(epochs=1),
                "width_multiplier=0.5": Fidelity(width_multiplier=0.5)}
    shape = data["input_shape"]
    if data.get("input_kind") == "image" and len(shape) >= 2 and min(shape[:2]) >= 16:
        settings[f"resolution={shape[0] // 2}"] = Fidelity(resolution=shape[0] // 2)
    if _space_kind(space) == "MacroSearchSpace":
        settings[f"num_cells={max(1, space.min_layers - 1)}"] = Fidelity(num_cells=max(1, space.min_layers - 1))
    elif hasattr(space, "num_cells") and space.num_cells > 1:
        settings["num_cells=1"] = Fidelity(num_cells=1)
    combo = Fidelity(data_fraction=0.25, resolution=settings.get(f"resolution={shape[0] // 2}", Fidelity()).resolution)
    settings[combo.describe().replace(", ", "+")] = combo
    return settings


def rank_correlation(low, full):
    """Spearman's rho and Kendall's tau (scipy.stats) of paired scores.

    Returns:
        `(rho, tau)`, NaN when fewer than 3 finite pairs.
    """
    from scipy import stats

    pairs = [(a, b) for a, b in zip(low, full) if a is not None and b is not None]
    if len(pairs) < 3:
        return float("nan"), float("nan")
    a, b = zip(*pairs)
    return float(stats.spearmanr(a, b).statistic), float(stats.kendalltau(a, b).statistic)


def fidelity_report(space, data, settings, num_architectures=10, epochs=3, batch_size=64,
                    objective="val_accuracy", seed=0, progress=None, partial=None, only=None):
    """Rank correlation and cost saved of low-fidelity settings.

    Every architecture of a random sample is trained at full fidelity and at
    each setting; per setting: Spearman's rho and Kendall's tau between the
    low- and full-fidelity scores, and the cost saved, i.e. the ratio of
    total full-fidelity to total low-fidelity seconds, both for the
    training steps (`cost_ratio`, the first step, which traces the graph,
    counted as an average one) and for the whole `fit` wall clock,
    validation and graph tracing included (`wall_cost_ratio`).

    Args:
        space: the full-fidelity search space.
        data: dict from `keras_nas_plus.run.load_data`.
        settings: dict name -> `Fidelity`.
        num_architectures: int, default 10.
        epochs: int, full-fidelity epochs (and of settings without `epochs`).
        batch_size: int, default 64.
        objective: metric name, default "val_accuracy".
        seed: int, seed of the sample and of the initialisation (default 0).
        progress: optional callable taking one line of text.
        partial: optional callable taking the report so far (after each
            architecture), e.g. to save it.
        only: optional `(start, stop)`: train only architectures
            `start..stop-1` of the sample (to split a report over processes).

    Returns:
        dict: `settings` (name -> `spearman`, `kendall`, `train_seconds`,
        `seconds`, `cost_ratio`, `wall_cost_ratio`, `scores`, `fidelity`),
        `full` (`train_seconds`, `seconds`, `scores`), `architectures`
        (values), `epochs`.
    """
    progress = progress or (lambda text: None)
    archs = sample_architectures(space, num_architectures, seed)
    start, stop = only or (0, len(archs))
    val = (data["x_val"], data["y_val"])
    runs = {name: [] for name in ["full"] + list(settings)}
    report = None
    for i, values in enumerate(archs):
        if not start <= i < stop:
            continue
        line = []
        for name, f in [("full", Fidelity())] + list(settings.items()):
            r = train_architecture(space, values, f, data["x_train"], data["y_train"], val, epochs,
                                   batch_size, objective, seed + i, seed)
            r.pop("model")
            runs[name].append(r)
            line.append(f"{name} {r['score'] if r['score'] is None else round(r['score'], 4)} "
                        f"({r['train_seconds']} s train, {r['seconds']:.1f} s wall)")
        progress(f"arch {i + 1}/{len(archs)}: " + "; ".join(line))
        report = _summarise(runs, settings, archs[start: i + 1], epochs)
        if partial is not None:
            partial(report)
    return report


def _summarise(runs, settings, archs, epochs):
    def total(records, key):
        return float(np.sum([r[key] or 0.0 for r in records]))

    full = runs["full"]
    full_scores = [r["score"] for r in full]
    out = {}
    for name, f in settings.items():
        recs = runs[name]
        rho, tau = rank_correlation([r["score"] for r in recs], full_scores)
        train, wall = total(recs, "train_seconds"), total(recs, "seconds")
        out[name] = {"fidelity": f.get_config(), "spearman": rho, "kendall": tau,
                     "train_seconds": round(train, 2), "seconds": round(wall, 2),
                     "cost_ratio": total(full, "train_seconds") / train if train > 0 else float("nan"),
                     "wall_cost_ratio": total(full, "seconds") / wall if wall > 0 else float("nan"),
                     "scores": [r["score"] for r in recs],
                     "num_params": [r["num_params"] for r in recs],
                     "num_train_examples": recs[0]["num_train_examples"] if recs else None,
                     "input_shape": recs[0]["input_shape"] if recs else None}
    return {"epochs": epochs, "architectures": archs,
            "full": {"train_seconds": round(total(full, "train_seconds"), 2), "seconds": round(total(full, "seconds"), 2),
                     "scores": full_scores, "num_params": [r["num_params"] for r in full]},
            "settings": out}


def format_report(report):
    """Plain-text table of `fidelity_report`'s result."""
    full = report["full"]
    lines = [f"{len(report['architectures'])} architectures; full fidelity: {report['epochs']} epochs, "
             f"{full['train_seconds']:.0f} s of training steps ({full['seconds']:.0f} s wall)",
             f"{'setting':<36} {'train s':>8} {'cost saved':>10} {'wall s':>7} {'wall saved':>10} "
             f"{'spearman':>9} {'kendall':>8}"]
    for name, s in report["settings"].items():
        lines.append(f"{name:<36} {s['train_seconds']:>8.0f} {s['cost_ratio']:>9.1f}x {s['seconds']:>7.0f} "
                     f"{s['wall_cost_ratio']:>9.1f}x {s['spearman']:>9.3f} {s['kendall']:>8.3f}")
    return "\n".join(lines)


def add_parser(subparsers):
    """Adds the `fidelity-report` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "fidelity-report",
        help="rank correlation and cost saved of low-fidelity settings",
        description=("Trains a random sample of architectures of CONFIG.yaml's space at full fidelity "
                     "(search.epochs epochs, all training data) and at each low-fidelity setting, then "
                     "prints per setting the Spearman and Kendall rank correlation with the full-fidelity "
                     "scores and the cost saved (ratio of training seconds). The settings are each knob of "
                     "estimation.fidelity alone plus all of them together, or, without that section, one "
                     "default setting per knob."),
    )
    p.add_argument("config", help="path of the YAML configuration")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a configuration value (repeatable)")
    p.add_argument("--num-architectures", type=int, default=10, help="architectures sampled (default 10)")
    p.add_argument("--json", help="also write the report to this JSON file")
    return p


def settings_from_config(fidelity, space, data):
    """Report settings: each knob of `fidelity` alone, plus all together."""
    if fidelity is None:
        return default_settings(space, data)
    base = Fidelity()
    settings = {}
    for key in ("data_fraction", "resolution", "width_multiplier", "num_cells", "epochs"):
        value = getattr(fidelity, key)
        if value != getattr(base, key):
            settings[f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"] = base.replace(**{key: value})
    plain = fidelity.replace(schedule=None, top_k=1)
    if len(settings) > 1:
        settings[plain.describe().replace(", ", "+")] = plain
    return settings or default_settings(space, data)


def run(args):
    """Runs `keras-nas-plus fidelity-report`; returns the exit status."""
    try:
        if args.num_architectures < 3:
            raise config_module.ConfigError(f"--num-architectures: expected an integer >= 3, got {args.num_architectures}")
        config = config_module.load_config(args.config, args.overrides)
        search = config["search"]
        data = run_module.load_data(config["data"], search["seed"])
        space = run_module.build_space(config["space"], data)
        settings = settings_from_config(from_estimation(config["estimation"]), space, data)
    except (config_module.ConfigError, datasets.DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    verbose = search["verbose"]
    report = fidelity_report(space, data, settings, args.num_architectures, search["epochs"], search["batch_size"],
                             search["objective"], search["seed"], progress=print if verbose else None)
    print(format_report(report), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
    return 0


__all__ = ["fidelity_report", "rank_correlation", "sample_architectures", "settings_from_config",
           "add_parser", "run"]
