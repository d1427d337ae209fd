"""Run a whole search from a configuration, and rebuild its result.

`run_search(config)` is what `keras-nas-plus search CONFIG.yaml` runs: load
and split the data, build the search space and the tuner, search (resuming an
existing run directory), print a summary, train the best architecture for the
final phase if asked, evaluate it on the test split, save it as a `.keras`
file and write `results.json`. `build_best_model(results_json)` rebuilds the
best architecture, untrained, from that file.
"""

import contextlib
import inspect
import json
import math
import os
import shutil
import time

import numpy as np

from keras_nas_plus import datasets
from keras_nas_plus.estimation import final_phase as final_options
from keras_nas_plus.estimation.final_phase import FINAL_ATTEMPTS  # noqa: F401 (re-exported)
from keras_nas_plus.estimation.final_phase import _final_fit  # noqa: F401 (re-exported)
from keras_nas_plus._io import atomic_write_text
from keras_nas_plus._io import directory_problem
from keras_nas_plus._io import read_json
from keras_nas_plus.app import config as config_module
from keras_nas_plus.app import workers as _workers
from keras_nas_plus.engine import compilation_cache
from keras_nas_plus.engine import timing as timing_module
from keras_nas_plus.estimation import fidelity as fidelity_module
from keras_nas_plus.estimation import learning_curves as callbacks_module
from keras_nas_plus.strategies import base as oracle_base
from keras_nas_plus.strategies.warm_start import INITIAL_KEY
from keras_nas_plus.vocabulary import CONFIG_FILE
from keras_nas_plus.vocabulary import MODEL_FILE
from keras_nas_plus.vocabulary import RESULTS_FILE

#: Search time (seconds) of every `run_search` call on a directory, summed (issue 22).
SEARCH_TIME_FILE = "search_time.json"
# Sections that must not change when a run directory is resumed.
_FROZEN_SECTIONS = ("data", "space", "strategy")


class RunError(ValueError):
    """A run cannot start (e.g. the directory holds another search)."""


def load_data(data_config, seed):
    """Loads, checks and splits the data of a `data` config section.

    Returns:
        dict with `x_train, y_train, x_val, y_val, x_test, y_test`,
        `input_shape`, `num_classes`, `input_kind` and `rescale`.
    """
    (x_train, y_train), (x_test, y_test) = datasets.load_dataset(data_config["dataset"])
    y_train = np.asarray(y_train).reshape(-1).astype("int64")
    y_test = np.asarray(y_test).reshape(-1).astype("int64")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))
    x_train, y_train = x_train[order], y_train[order]
    num_val = max(1, int(round(len(x_train) * data_config["validation_split"])))
    if num_val >= len(x_train):
        raise datasets.DataError(f"{data_config['dataset']}: too few training examples ({len(x_train)}) to split")
    x_val, y_val = x_train[-num_val:], y_train[-num_val:]
    x_train, y_train = x_train[:-num_val], y_train[:-num_val]
    if data_config["max_train_examples"]:
        x_train, y_train = x_train[: data_config["max_train_examples"]], y_train[: data_config["max_train_examples"]]
    num_classes = int(max(y_train.max(), y_val.max(), y_test.max())) + 1
    if num_classes < 2:
        raise datasets.DataError(f"{data_config['dataset']}: labels hold a single class")
    kind = data_config["input_kind"]
    if kind == "auto":
        image = x_train.ndim == 4 or (x_train.ndim == 3 and x_train.dtype == np.uint8)
        kind = "image" if image else "sequence"
    rescale = data_config["rescale"]
    if rescale == "auto":
        rescale = 1.0 / 255.0 if x_train.dtype == np.uint8 else None
    return {
        "x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val,
        "x_test": x_test, "y_test": y_test,
        "input_shape": tuple(int(d) for d in x_train.shape[1:]),
        "num_classes": num_classes, "input_kind": kind, "rescale": rescale,
    }


def build_space(space_config, data=None, input_shape=None, num_classes=None, input_kind="auto", rescale=None):
    """Instantiates the search space of a `space` config section.

    The data-dependent arguments (`input_shape`, `num_classes`,
    `input_kind`, `rescale`) come from `data` (see `load_data`) or are given.

    Raises:
        ConfigError: if the space rejects an argument (message names it).
    """
    cls = config_module.space_class(space_config["type"])
    kwargs = {k: v for k, v in space_config.items() if k != "type"}
    if data is not None:
        input_shape, num_classes = data["input_shape"], data["num_classes"]
        input_kind, rescale = data["input_kind"], data["rescale"]
    accepted = inspect.signature(cls.__init__).parameters
    for key, value in (("input_shape", input_shape), ("num_classes", num_classes),
                       ("input_kind", input_kind), ("rescale", rescale)):
        if key in accepted and key not in kwargs:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise config_module.ConfigError(f"space: {e}") from e


def build_tuner(config, space, overwrite=False):
    """Instantiates the tuner of the `strategy` and `search` sections."""
    search = config["search"]
    strategy = dict(config["strategy"])
    cls = config_module.strategy_class(strategy.pop("type"))
    objective = search["objective"]
    if search.get("objectives"):
        import keras_tuner

        objective = [keras_tuner.Objective(n, d) for n, d in config_module.parse_objectives(search["objectives"])]
    kwargs = dict(
        hypermodel=space,
        objective=objective,
        seed=search["seed"],
        max_retries_per_trial=search["max_retries_per_trial"],
        max_consecutive_failed_trials=search["max_consecutive_failed_trials"],
        directory=search["directory"],
        project_name=search["project_name"],
        overwrite=overwrite,
        max_model_size=search["max_model_size"],
        time_budget=search["time_budget"],
        latency_runs=search["latency_runs"],
    )
    if search["precision"] != "float32":
        kwargs["dtype_policy"] = search["precision"]
    # Performance estimation: one list of estimators from the `estimation` section.
    kwargs["estimators"] = config_module.estimators_from_config(config.get("estimation", {}), search["seed"])
    params = config_module.constructor_arguments(cls)
    if "max_epochs" in params:  # Hyperband
        kwargs["max_epochs"] = search["epochs"]
    if "max_trials" in params:
        kwargs["max_trials"] = search["max_trials"]
    kwargs.update({k: v for k, v in (search.get("constraints") or {}).items() if v is not None})
    kwargs.update(strategy)
    try:
        return cls(**kwargs)
    except oracle_base.UnreadableTrialFileError as e:  # a damaged run directory, not a strategy problem
        raise RunError(f"search.directory {search['directory']!r}: {e}") from e
    except ValueError as e:
        raise config_module.ConfigError(f"strategy: {e}") from e


def config_module_fidelity(config):
    """The `Fidelity` of `estimation.fidelity`, or None (issue 7)."""
    if not (config.get("estimation") or {}).get("fidelity"):
        return None

    return fidelity_module.from_estimation(config["estimation"])


def _check_resume(config, directory, overwrite):
    """Refuses to resume a directory made by a different search."""
    path = os.path.join(directory, CONFIG_FILE)
    if overwrite or not os.path.exists(path):
        return
    try:
        with open(path) as f:
            previous = json.load(f)
    except ValueError:
        return
    for section in _FROZEN_SECTIONS:
        if previous.get(section) != json.loads(json.dumps(config[section])):
            raise RunError(
                f"search.directory {directory!r} holds a search with a different `{section}` "
                "section; pass --overwrite to start over or choose another directory"
            )


def _describe(space, values):
    if hasattr(space, "describe"):
        try:
            return space.describe(values)
        except Exception:  # a description must never break a report
            pass
    return ", ".join(f"{k}={v}" for k, v in values.items() if not str(k).startswith("nas/"))


def _score(trial):
    score = trial.score
    return None if score is None or not math.isfinite(float(score)) else float(score)


def collect_trials(tuner, space):
    """One JSON-safe record per trial, in trial-id order."""
    records = []
    for trial_id in sorted(tuner.oracle.trials):
        trial = tuner.oracle.trials[trial_id]
        info = tuner.get_trial_info(trial_id) if hasattr(tuner, "get_trial_info") else {}
        values = dict(trial.hyperparameters.values)
        records.append({
            "trial_id": trial_id,
            "status": trial.status,
            "hyperparameters": values,
            "architecture": _describe(space, values),
            "score": _score(trial),
            "epochs_trained": info.get("epochs_trained"),
            "num_params": info.get("num_params"),
            "input_shape": info.get("input_shape"),
            "num_train_examples": info.get("num_train_examples"),
            "message": (trial.message or "").strip().splitlines()[-1:] or None,
            "stopped_early": bool((info.get("learning_curve") or {}).get("stopped", False)),
            "costs": info.get("costs"),
            "rejected": bool(info.get("rejected", False)),
            "initial_architecture": values.get(INITIAL_KEY),  # warm start (issue 23)
            "timing": info.get("timing"),  # per-trial timing (issue 23)
        })
    return records


def format_summary(records, objective):
    """A plain-text table of the trials (best first)."""
    done = [r for r in records if r["score"] is not None]
    failed = [r for r in records if r["score"] is None]
    reverse = not objective.startswith("val_loss") and not objective.endswith("loss")
    done.sort(key=lambda r: r["score"], reverse=reverse)
    lines = [f"{'trial':>5}  {'status':<9} {'params':>9} {'epochs':>6} {objective:>12}  architecture"]
    for r in done + failed:
        score = "-" if r["score"] is None else f"{r['score']:.4f}"
        params = "-" if r["num_params"] is None else f"{r['num_params']:,}"
        epochs = "-" if r["epochs_trained"] is None else str(r["epochs_trained"])
        lines.append(f"{r['trial_id']:>5}  {r['status']:<9} {params:>9} {epochs:>6} {score:>12}  {r['architecture']}")
    return "\n".join(lines)


def search_arguments(data, search):
    """`(args, kwargs)` of `tuner.search` for the loaded `data` and the `search` section."""
    return (data["x_train"], data["y_train"]), dict(
        validation_data=(data["x_val"], data["y_val"]), epochs=search["epochs"],
        batch_size=search["batch_size"], verbose=0 if search["verbose"] < 2 else 1)


def _log(verbose, text):
    if verbose:
        print(text, flush=True)


def unspent_search_seconds(time_budget, elapsed, searched):
    """Seconds of the search's time budget left unused, for `final_training.add_unspent_search_time`.

    The search starts no trial it cannot finish in its budget (`NASTuner.search`), so it often ends
    early; with the option on, the final phase gets those seconds and the whole run keeps to
    `search.time_budget + search.final_training.time_budget`.

    Args:
        time_budget: float, `search.time_budget` in seconds.
        elapsed: float, seconds since this call's search started (worker start-up included).
        searched: bool, whether this call finished any trial; False (a finished search resumed, or
            `--retrain-final`) adds nothing, since the budget was not this call's to spend.

    Returns:
        float >= 0, seconds: `time_budget - elapsed` rounded down to a tenth, 0 when the search
        overran its budget.
    """
    if not searched:
        return 0.0
    return max(0.0, math.floor(10 * (float(time_budget) - float(elapsed))) / 10)


def run_search(config, overwrite=False, retrain_final=False):
    """Runs the search described by a validated configuration.

    Args:
        config: dict from `keras_nas_plus.config.load_config`.
        overwrite: bool, start over even if `search.directory` holds a run
            (otherwise that run is resumed; finished trials are kept).
        retrain_final: bool, default False. When `search.directory` holds a
            finished search (its `results.json` and no trial left to run),
            train and evaluate the final model again; otherwise such a run
            only reports its results and stops.

    Returns:
        dict, the content written to `results.json`.

    Raises:
        ConfigError, DataError, RunError: before anything is written.
    """
    import keras

    search = config["search"]
    verbose = search["verbose"]
    directory = search["directory"]
    if search.get("compilation_cache"):  # before any model is built (issue 23)
        compilation_cache.enable(search["compilation_cache"])
    data = load_data(config["data"], search["seed"])
    space = build_space(config["space"], data)
    final_training = dict(search.get("final_training") or {})
    if final_training.get("test_time_augmentation", "none") != "none" and data["input_kind"] != "image":
        raise config_module.ConfigError(f"search.final_training.test_time_augmentation: "
                                        f"{final_training['test_time_augmentation']} needs image data, "
                                        f"got {data['input_kind']} data")
    final_space = space
    if final_training.get("space"):  # the final recipe's argument overrides, checked before any work
        try:
            final_space = build_space({**config["space"], **final_training["space"]}, data)
        except config_module.ConfigError as e:
            raise config_module.ConfigError(f"search.final_training.{e}") from e
    problem = directory_problem(directory)
    if problem:
        raise RunError(f"search.directory {directory!r} {problem}")
    _check_resume(config, directory, overwrite)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(search["precision"])
    try:
        return _run_search(config, overwrite, data, space, final_training, final_space, retrain_final)
    finally:
        keras.config.set_dtype_policy(policy)


def _metric_key(error, search):
    """The configuration key behind a `MetricNotLoggedError`."""
    if error.role == "monitor":
        return "estimation.learning_curve.monitor"
    return "search.objectives" if search.get("objectives") else "search.objective"


def _run_search(config, overwrite, data, space, final_training, final_space, retrain_final=False):
    import keras

    search = config["search"]
    verbose = search["verbose"]
    directory = search["directory"]
    keras.utils.set_random_seed(search["seed"])
    workers = search.get("workers", 1)
    chief_env, port = contextlib.nullcontext(), None
    if workers > 1:  # several trials at once: this process is the chief (keras_nas_plus/_workers.py)
        if os.environ.get("KERASTUNER_TUNER_ID"):
            raise RunError("search.workers starts its own worker processes; unset KERASTUNER_TUNER_ID "
                           "(Keras Tuner's chief/worker variables) or set search.workers: 1")
        try:
            _workers.check_grpc()
        except ImportError as e:
            raise RunError(str(e)) from e
        port = _workers.free_port()
        chief_env = _workers.chief_environment(port)
    existed = os.path.isdir(directory)
    with chief_env:
        try:
            tuner = build_tuner(config, space, overwrite=overwrite)
        except BaseException:
            if not existed:  # leave nothing half-written
                shutil.rmtree(directory, ignore_errors=True)
            raise
        if overwrite and os.path.isdir(directory):  # the tuner removed its trials; remove old results
            for name in os.listdir(directory):
                if name != search["project_name"]:
                    path = os.path.join(directory, name)
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        tuner.progress = verbose >= 1
        os.makedirs(directory, exist_ok=True)
        atomic_write_text(os.path.join(directory, CONFIG_FILE), json.dumps(config, indent=2))

        time_file = os.path.join(directory, SEARCH_TIME_FILE)
        previous_seconds = float(read_json(time_file, {}).get("seconds", 0.0))
        ended_before = len(tuner.oracle.end_order)
        start = time.time()
        processes = {}
        if workers > 1:
            _log(verbose, f"Starting {workers} worker processes (logs in {os.path.join(directory, _workers.WORKERS_DIR)})")
            processes, tuner.worker_logs = _workers.start_workers(directory, workers, port)
            tuner.worker_processes = processes
        try:
            args, kwargs = search_arguments(data, search)
            tuner.search(*args, **kwargs)
        except callbacks_module.MetricNotLoggedError as e:  # bad input, found after one epoch
            if not existed:
                shutil.rmtree(directory, ignore_errors=True)
            raise config_module.ConfigError(f"{_metric_key(e, search)}: {e}") from None
        finally:
            _workers.stop_workers(processes)
            if os.path.isdir(directory):  # search time accumulates over resumes
                atomic_write_text(time_file, json.dumps({"seconds": previous_seconds + time.time() - start}))
    search_seconds = previous_seconds + time.time() - start
    records = collect_trials(tuner, space)
    results_path = os.path.join(directory, RESULTS_FILE)
    previous = read_json(results_path, None)
    if (not retrain_final and isinstance(previous, dict) and len(tuner.oracle.end_order) == ended_before
            and previous.get("num_trials") == len(records)):
        _log(verbose, f"search.directory {directory!r} holds a finished search ({len(records)} trials); "
             "nothing to do. Its results: " + results_path
             + "\n(raise search.max_trials to search on, or pass --retrain-final to train the final model again)")
        return previous
    _log(verbose, "\nSearch summary (" + config["strategy"]["type"] + ", "
         + f"{len(records)} trial{'' if len(records) == 1 else 's'}, {search_seconds:.0f} s)\n"
         + format_summary(records, search["objective"]))

    lce_summary = None
    if getattr(tuner, "learning_curve", None) is not None:
        s = lce_summary = tuner.learning_curve_summary()
        _log(verbose, f"Learning-curve extrapolation: stopped {s['stopped']} of {s['trials']} trials early; "
             f"{s['epochs_saved']} epochs saved")
    pareto_front = tuner.get_pareto_front() if hasattr(tuner, "get_pareto_front") else []
    # The final phase is an estimator (estimation/final_phase.py): the top-k of a lower-fidelity search
    # at full fidelity, the final training, the test evaluation.
    final = config_module.final_training_from_config(search, data, None if final_space is space else final_space)
    added = None
    if final_training.get("add_unspent_search_time"):
        added = unspent_search_seconds(search["time_budget"], time.time() - start,
                                       len(tuner.oracle.end_order) > ended_before)
        final.time_budget = float(final.time_budget) + added
        if added:
            _log(verbose, f"The search left {added:.0f} s of its {search['time_budget']:g} s unused: "
                 f"the final phase gets them ({final.time_budget:.0f} s).")
        else:
            _log(verbose, f"The search used all of its {search['time_budget']:g} s (or ran no new trial): "
                 f"nothing added to the final phase's {final.time_budget:g} s.")
    try:
        final.after_search(tuner)
    except final_options.NoCompletedTrialError as e:
        raise RunError(str(e)) from None
    outcome = final.result
    best_trial, model, fidelity_phase = outcome["best_trial"], outcome["model"], outcome["fidelity_phase"]
    best_values = dict(best_trial.hyperparameters.values)
    test_accuracy = outcome["test_accuracy"]
    model_path = os.path.join(directory, MODEL_FILE)
    model.save(model_path)

    results = {
        "best_trial_id": best_trial.trial_id,
        "best_hyperparameters": best_values,
        "best_architecture": _describe(space, best_values),
        "best_val_score": _score(best_trial),
        "objective": search["objective"],
        "test_accuracy": test_accuracy,
        "test_metrics": outcome["test_metrics"],
        "test_time_augmentation": outcome["test_time_augmentation"],
        "num_trials": len(records),
        "model_path": os.path.abspath(model_path),
        "final_phase": dict(outcome["final_info"]),
        "search_seconds": round(search_seconds, 2),  # all runs on this directory
        "trial_timing": timing_module.summarize([r["timing"] for r in records], search_seconds, workers),
        "time_budget_reached": bool(getattr(tuner, "budget_exhausted", False)),
        "learning_curve": lce_summary,
        "space": {"type": config["space"]["type"], "config": space.get_config()},
        "strategy": config["strategy"],
        "trials": records,
        "pareto_front": [
            {"trial_id": p["trial_id"], "hyperparameters": p["hyperparameters"],
             "architecture": _describe(space, p["hyperparameters"]), "objectives": p["objectives"],
             "costs": p["costs"]}
            for p in pareto_front
        ],
    }
    if added is not None:
        results["final_phase"]["added_search_seconds"] = added
    if fidelity_phase is not None:  # fidelity (issue 7)
        results["best_low_fidelity_score"] = results["best_val_score"]
        results["best_val_score"] = fidelity_phase["best_score"]
        results["final_phase"].update({("top_k_seconds" if k == "seconds" else k): v
                                       for k, v in fidelity_phase.items() if k != "model"})
    atomic_write_text(os.path.join(directory, RESULTS_FILE), json.dumps(results, indent=2))
    tta = results.get("test_time_augmentation") or {}
    without = tta.get("test_accuracy_without_tta")
    with_tta = (f" ({tta['type']} test-time augmentation, {tta['views']} views; {without:.4f} without)"
                if "views" in tta and without is not None else "")
    _log(verbose, f"\nBest trial {best_trial.trial_id}: {results['best_architecture']}\n"
         f"  {search['objective']} = {results['best_val_score']:.4f}, "
         f"test accuracy = {results['test_accuracy']:.4f}{with_tta}\n"
         f"  model: {model_path}\n  results: {os.path.join(directory, RESULTS_FILE)}")
    return results


def build_best_model(results_path):
    """Rebuilds the best architecture of a finished search, untrained.

    Args:
        results_path: str, path of a `results.json` written by `run_search`
            (or of the run directory that holds it).

    Returns:
        a compiled, freshly initialised `keras.Model`.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not a keras_nas_plus results file.
    """
    import keras_tuner

    if os.path.isdir(results_path):
        results_path = os.path.join(results_path, RESULTS_FILE)
    with open(results_path) as f:
        results = json.load(f)
    try:
        space_type = results["space"]["type"]
        space_config = results["space"]["config"]
        values = results["best_hyperparameters"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{results_path}: not a keras_nas_plus results file (missing {e})") from e
    space = config_module.space_class(space_type).from_config(space_config)
    hp = keras_tuner.HyperParameters()
    hp.values = dict(values)
    return space.build(hp)
