"""YAML configuration of a whole search: schema, defaults, `--set` overrides.

A configuration has five sections::

    data:        where the examples come from and how they are split
    space:       the search space (`type: macro | cell | nb201 | residual` + its
                 arguments)
    strategy:    the search strategy (`type: evolution | rl | random | bayesian
                 | grid | hyperband` + its arguments)
    search:      budget and bookkeeping (max_trials, epochs, batch_size, ...)
    estimation:  performance-estimation settings

`load_config(path, overrides)` returns a validated dict with every default
filled in; any problem raises `ConfigError` whose message names the key.
The arguments of `space` and `strategy` are those of the search-space class
and of the oracle (checked against their signatures, then by their own
validation).
"""

import copy
import inspect
import math
import os
from typing import Any

import yaml

from keras_nas_plus import spaces
from keras_nas_plus.strategies import registry as tuners
from keras_nas_plus.strategies.oracle_tuner import oracle_parameters
from keras_nas_plus.estimation.inheritance import WeightInheritance
from keras_nas_plus.estimation.learning_curves import LearningCurveEstimator
from keras_nas_plus.estimation.learning_curves import learning_curve_kwargs
from keras_nas_plus.estimation import fidelity
from keras_nas_plus.estimation.final_phase import INIT_CHOICES
from keras_nas_plus.estimation.final_phase import TTA_CHOICES
from keras_nas_plus.estimation.final_phase import FinalTraining
from keras_nas_plus.vocabulary import COST_OBJECTIVES as _COST_OBJECTIVES  # noqa: F401 (old name)
from keras_nas_plus.vocabulary import ConfigError
from keras_nas_plus.vocabulary import objective_direction


_ANY = object()

#: Defaults of the fixed sections. `None` means "no value" (optional).
DEFAULTS = {
    "data": {
        "dataset": "fashion_mnist_sample",
        "validation_split": 0.15,
        "input_kind": "auto",
        "rescale": "auto",
        "max_train_examples": None,
    },
    "space": {"type": "macro"},
    "strategy": {"type": "evolution"},
    "search": {
        "max_trials": 10,
        "epochs": 3,
        "batch_size": 64,
        "objective": "val_accuracy",
        "directory": "runs/search",
        "project_name": "trials",
        "seed": 0,
        "final_epochs": 0,
        "final_training": None,
        "precision": "float32",
        "max_retries_per_trial": 0,
        "max_consecutive_failed_trials": 5,
        "max_model_size": None,
        "time_budget": None,
        "verbose": 1,
        "objectives": None,
        "constraints": None,
        "latency_runs": 10,
        "workers": 1,
        "compilation_cache": None,
    },
    "estimation": {},
}

SECTIONS = tuple(DEFAULTS)
SPACE_TYPES = ("macro", "cell", "nb201", "residual")
STRATEGY_TYPES = ("evolution", "rl", "random", "bayesian", "grid", "hyperband")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _yaml_repr(value):
    """`value` as it would be written in the YAML file (null, true, false; otherwise Python's repr)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _check(key, ok, value, expected):
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, got {_yaml_repr(value)}")


def _validate_data(data):
    _check("data.dataset", isinstance(data["dataset"], str) and data["dataset"], data["dataset"],
           "a dataset name or .npz path")
    vs = data["validation_split"]
    _check("data.validation_split", _is_number(vs) and 0 < vs < 1, vs, "a fraction in (0, 1)")
    _check("data.input_kind", data["input_kind"] in ("auto", "image", "sequence"), data["input_kind"],
           "one of auto, image, sequence")
    rs = data["rescale"]
    _check("data.rescale", rs is None or rs == "auto" or (_is_number(rs) and rs > 0), rs,
           "'auto', null or a positive number")
    mt = data["max_train_examples"]
    _check("data.max_train_examples", mt is None or (_is_int(mt) and mt >= 10), mt, "null or an integer >= 10")


def _validate_search(search):
    for key in ("max_trials", "epochs", "batch_size"):
        v = search[key]
        _check(f"search.{key}", _is_int(v) and v >= 1, v, "an integer >= 1")
    _check("search.objective", isinstance(search["objective"], str) and search["objective"],
           search["objective"], "a metric name such as val_accuracy")
    for key in ("directory", "project_name"):
        _check(f"search.{key}", isinstance(search[key], str) and search[key], search[key], "a non-empty string")
    _check("search.seed", _is_int(search["seed"]) and search["seed"] >= 0, search["seed"], "an integer >= 0")
    for key in ("final_epochs", "max_retries_per_trial"):
        v = search[key]
        _check(f"search.{key}", _is_int(v) and v >= 0, v, "an integer >= 0")
    v = search["max_consecutive_failed_trials"]
    _check("search.max_consecutive_failed_trials", _is_int(v) and v >= 1, v, "an integer >= 1")
    v = search["max_model_size"]
    _check("search.max_model_size", v is None or (_is_int(v) and v >= 1), v, "null or an integer >= 1")
    v = search["time_budget"]
    _check("search.time_budget", v is None or (_is_number(v) and v > 0), v, "null or a positive number of seconds")
    _check("search.verbose", search["verbose"] in (0, 1, 2), search["verbose"], "0, 1 or 2")
    v = search["workers"]
    _check("search.workers", _is_int(v) and v >= 1, v, "an integer >= 1 (trials run at once, one process each)")
    _validate_final_training(search["final_training"])
    if (search["final_training"] or {}).get("add_unspent_search_time"):
        for key, value in (("search.time_budget", search["time_budget"]),
                           ("search.final_training.time_budget", search["final_training"].get("time_budget"))):
            if value is None:
                raise ConfigError(f"search.final_training.add_unspent_search_time: true needs {key} "
                                  "(seconds) to be set")
    v = search["compilation_cache"]
    _check("search.compilation_cache", v is None or (isinstance(v, str) and v), v,
           "null or a directory path (JAX's persistent compilation cache)")
    _check("search.precision", search["precision"] in PRECISIONS, search["precision"],
           f"one of {', '.join(PRECISIONS)}")
    if search["objectives"] is not None:
        parse_objectives(search["objectives"])
    _validate_constraints(search["constraints"])
    v = search["latency_runs"]
    _check("search.latency_runs", _is_int(v) and v >= 0, v, "an integer >= 0 (0 skips the latency measurement)")
    if v == 0 and (search["constraints"] or {}).get("max_latency_ms") is not None:
        raise ConfigError("search.latency_runs: 0 skips the latency measurement, but "
                          "search.constraints.max_latency_ms needs it")
    if v == 0 and search["objectives"] and any(n == "latency_ms" for n, _ in parse_objectives(search["objectives"])):
        raise ConfigError("search.latency_runs: 0 skips the latency measurement, but "
                          "search.objectives uses latency_ms")


#: Values of `search.precision` (Keras dtype policies; mixed = float32 variables, 16-bit compute).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

#: Keys of `search.final_training` (the recipe of the final phase).
FINAL_TRAINING_KEYS = ("epochs", "batch_size", "time_budget", "width_multiplier", "space", "init",
                       "test_time_augmentation", "ensemble", "add_unspent_search_time", "min_epochs")


def _known_keys(section, mapping, allowed):
    """Checks that `mapping` is null or a mapping with keys among `allowed`; yields `(key, value)`."""
    if mapping is None:
        return
    _check(section, isinstance(mapping, dict), mapping, f"a mapping with keys among {', '.join(allowed)}")
    for key, value in mapping.items():
        if key not in allowed:
            raise ConfigError(f"{section}.{key}: unknown key; allowed: {', '.join(allowed)}")
        yield key, value


def _validate_final_training(final):
    for key, value in _known_keys("search.final_training", final, FINAL_TRAINING_KEYS):
        name = f"search.final_training.{key}"
        if key in ("epochs", "batch_size"):
            _check(name, _is_int(value) and value >= 1, value, "an integer >= 1")
        elif key == "time_budget":
            _check(name, value is None or (_is_number(value) and value > 0), value,
                   "null or a positive number of seconds")
        elif key == "width_multiplier":
            _check(name, _is_number(value) and value > 0, value,
                   "a positive number (2 doubles every filter count of the final model)")
        elif key == "space":
            _check(name, isinstance(value, dict), value,
                   "a mapping of search-space arguments, e.g. {augmentation: translate_flip}")
        elif key == "init":  # issue 23
            _check(name, value in INIT_CHOICES, value, "scratch or best_trial")
        elif key == "test_time_augmentation":  # issue 23
            _check(name, value in TTA_CHOICES, value,
                   "none, flip (image and mirror) or flip_shift (18 views: both, shifted by up to 2 px)")
        elif key == "ensemble":  # issue 23
            _check(name, _is_int(value) and value >= 1, value, "an integer >= 1 (networks averaged in the final model)")
        elif key == "min_epochs":  # issue 23
            _check(name, _is_int(value) and value >= 0, value,
                   "an integer >= 0 (N: the best trial expected to train N epochs in time_budget; 0: the best)")
            if value and final.get("time_budget") is None:
                raise ConfigError(f"{name}: {value} needs search.final_training.time_budget (seconds)")
        elif key == "add_unspent_search_time":  # issue 23
            _check(name, isinstance(value, bool), value,
                   "true or false (true: the seconds of search.time_budget the search left unused go to the final phase)")


#: Keys of `search.constraints` (hard constraints, see `NASTuner`).
CONSTRAINT_KEYS = ("max_params", "max_flops", "max_latency_ms")
#: Metrics computed by the tuner for every trial; minimised by default.


def _validate_constraints(constraints):
    for key, value in _known_keys("search.constraints", constraints, CONSTRAINT_KEYS):
        _check(f"search.constraints.{key}", value is None or (_is_number(value) and value > 0), value, "null or a positive number")


def parse_objectives(objectives):
    """Parses `search.objectives` into a list of `(name, direction)` pairs.

    Each item is `"name:direction"`, `"name"` (direction inferred: min for
    the cost metrics params/flops/latency_ms and for losses, max for
    accuracies) or a mapping `{name: ..., direction: min|max}`.

    Raises:
        ConfigError: naming the offending item.
    """
    _check("search.objectives", isinstance(objectives, list) and objectives, objectives,
           "a non-empty list such as [val_accuracy:max, params:min]")
    parsed = []
    for i, item in enumerate(objectives):
        key = f"search.objectives[{i}]"
        if isinstance(item, dict):
            unknown = set(item) - {"name", "direction"}
            if unknown:
                raise ConfigError(f"{key}.{sorted(unknown)[0]}: unknown key; allowed: name, direction")
            name, direction = item.get("name"), item.get("direction")
        elif isinstance(item, str):
            name, _, direction = item.partition(":")
            direction = direction.strip() or None
        else:
            raise ConfigError(f"{key}: expected 'name:direction' or a mapping, got {item!r}")
        _check(f"{key}.name", isinstance(name, str) and name.strip(), name, "a metric name")
        name = name.strip()
        if direction is None:
            direction = objective_direction(name, default=None)
        _check(f"{key}.direction", direction in ("min", "max"), direction, "min or max")
        parsed.append((name, direction))
    names = [n for n, _ in parsed]
    if len(set(names)) != len(names):
        raise ConfigError(f"search.objectives: a metric is listed twice ({names})")
    return parsed


def space_class(space_type):
    """The HyperModel class of a `space.type`."""
    classes = {
        "macro": "MacroSearchSpace",
        "cell": "CellSearchSpace",
        "nb201": "NASBench201Space",
        "residual": "ResidualSearchSpace",
    }
    cls = getattr(spaces, classes[space_type], None)
    if cls is None:
        raise ConfigError(f"space.type: {space_type!r} is not available in this version")
    return cls


def strategy_class(strategy_type):
    """The tuner class of a `strategy.type`."""
    cls = tuners.STRATEGIES.get(strategy_type)
    if cls is None:
        raise ConfigError(f"strategy.type: {strategy_type!r} is not available in this version")
    return cls


# Arguments that the runner fills in from the data and the search section.
_SPACE_RESERVED = ("input_shape", "num_classes", "input_kind", "rescale", "name", "tunable", "compile_kwargs")
_STRATEGY_RESERVED = (
    "hypermodel", "objective", "max_trials", "seed", "hyperparameters", "tune_new_entries",
    "allow_new_entries", "max_retries_per_trial", "max_consecutive_failed_trials", "kwargs",
    "max_epochs",
)


def constructor_arguments(cls: type) -> list:
    """Names of the keyword arguments of `cls` (a strategy's tuner: with its oracle's)."""
    params = inspect.signature(cls.__init__).parameters
    names = [p for p in params if p != "self" and params[p].kind not in (
        inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)]
    if getattr(cls, "oracle_class", None) is not None:
        names += [n for n in oracle_parameters(cls.oracle_class) if n not in names]
    return names


def _check_kwargs(section, cls, kwargs, reserved):
    allowed = sorted(p for p in constructor_arguments(cls) if p not in reserved)
    for key in kwargs:
        if key not in allowed:
            raise ConfigError(f"{section}.{key}: unknown key; allowed: type, {', '.join(allowed)}")


def _validate_space(space):
    t = space.get("type")
    _check("space.type", t in SPACE_TYPES, t, f"one of {', '.join(SPACE_TYPES)}")
    kwargs = {k: v for k, v in space.items() if k != "type"}
    _check_kwargs("space", space_class(t), kwargs, _SPACE_RESERVED)


#: Strategy types that accept `strategy.initial_architectures` (warm start).
WARM_START_STRATEGIES = ("evolution", "rl", "random")


def _validate_initial_architectures(value):
    ok = value == "references" or (isinstance(value, list) and value and all(
        isinstance(e, str) or (isinstance(e, dict) and all(isinstance(k, str) for k in e)) for e in value))
    _check("strategy.initial_architectures", ok, value,
           "'references' or a non-empty list of reference names and mappings of hyperparameter values")


def _validate_strategy(strategy):
    t = strategy.get("type")
    _check("strategy.type", t in STRATEGY_TYPES, t, f"one of {', '.join(STRATEGY_TYPES)}")
    kwargs = {k: v for k, v in strategy.items() if k != "type"}
    if "initial_architectures" in kwargs:  # warm start (issue 23)
        if t not in WARM_START_STRATEGIES:
            raise ConfigError(f"strategy.initial_architectures: strategy type {t!r} cannot warm start; "
                              f"use one of {', '.join(WARM_START_STRATEGIES)}")
        _validate_initial_architectures(kwargs["initial_architectures"])
    _check_kwargs("strategy", strategy_class(t), kwargs, _STRATEGY_RESERVED)


def _validate_learning_curve(value):
    try:
        learning_curve_kwargs(value)
    except ValueError as e:
        raise ConfigError(f"estimation.learning_curve: {e}") from e


def _validate_weight_inheritance(value):
    _check("estimation.weight_inheritance", isinstance(value, bool), value, "true or false")


def _validate_inherited_epochs(value):
    _check("estimation.inherited_epochs", value is None or (_is_int(value) and value >= 1), value,
           "null or an integer >= 1")


def _validate_inherited_lr_factor(value):
    _check("estimation.inherited_lr_factor",
           isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1,
           value, "a number in (0, 1]")


def _validate_prefer_morphisms(value):
    _check("estimation.prefer_morphisms", isinstance(value, bool), value, "true or false")


#: Validators of the `estimation` section, by key.
ESTIMATION_KEYS = {
    "learning_curve": _validate_learning_curve,
    "weight_inheritance": _validate_weight_inheritance,
    "inherited_epochs": _validate_inherited_epochs,
    "inherited_lr_factor": _validate_inherited_lr_factor,
    "prefer_morphisms": _validate_prefer_morphisms,
}


# --- fidelity (issue 7): estimation.fidelity -------------------------------
def _validate_fidelity(value):
    fidelity.validate_section(value)


ESTIMATION_KEYS["fidelity"] = _validate_fidelity
# --- end fidelity ------------------------------------------------------------


def estimators_from_config(estimation: dict, seed: int = 0) -> list:
    """The `Estimator`s of a validated `estimation` section, in the order a trial meets them.

    Lower fidelity (`fidelity`), then learning-curve extrapolation
    (`learning_curve`), then weight inheritance (`weight_inheritance` with
    `inherited_epochs`, `inherited_lr_factor`, `prefer_morphisms`).

    Args:
        estimation: dict, the `estimation` section (validated).
        seed: int, default 0. Seed of the fidelity's data subset.

    Returns:
        list of `keras_nas_plus.estimation.Estimator`.
    """
    estimators = []
    if estimation.get("fidelity"):
        estimators.append(fidelity.LowerFidelity(fidelity.from_estimation(estimation), seed))
    if estimation.get("learning_curve"):
        estimators.append(LearningCurveEstimator(estimation["learning_curve"]))
    if estimation.get("weight_inheritance"):
        options = {k: estimation[k] for k in ("inherited_epochs", "inherited_lr_factor", "prefer_morphisms")
                   if estimation.get(k) is not None}
        estimators.append(WeightInheritance(**options))
    return estimators


def final_training_from_config(search: dict, data: dict, space: Any = None) -> FinalTraining:
    """The `FinalTraining` estimator of a validated `search` section (`final_epochs`, `final_training`).

    Args:
        search: dict, the `search` section (validated).
        data: dict of the loaded data splits (`keras_nas_plus.app.run.load_data`).
        space: HyperModel or None, default None: the search space with
            `final_training.space`'s overrides (None: the tuner's space).

    Returns:
        `keras_nas_plus.estimation.FinalTraining`.
    """
    options = dict(search.get("final_training") or {})
    return FinalTraining(
        data, epochs=options.get("epochs", search["final_epochs"]),
        batch_size=options.get("batch_size", search["batch_size"]), time_budget=options.get("time_budget"),
        width_multiplier=options.get("width_multiplier", 1), space=space, space_overrides=options.get("space"),
        init=options.get("init", "scratch"), test_time_augmentation=options.get("test_time_augmentation", "none"),
        ensemble=options.get("ensemble", 1), min_epochs=options.get("min_epochs", 0), seed=search["seed"], precision=search["precision"], multi_objective=bool(search.get("objectives")),
        search_epochs=search["epochs"], search_batch_size=search["batch_size"], objective=search["objective"],
        verbose=search["verbose"])


def _validate_estimation(estimation):
    for key, value in estimation.items():
        if key not in ESTIMATION_KEYS:
            allowed = ", ".join(sorted(ESTIMATION_KEYS)) or "(none in this version)"
            raise ConfigError(f"estimation.{key}: unknown key; allowed: {allowed}")
        ESTIMATION_KEYS[key](value)


def _yaml_problem(error):
    """A one-line description of a YAML error with its line and column."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(problem).split())


def parse_override(text):
    """Parses `section.key=value` (value in YAML syntax) into `(path, value)`.

    Raises:
        ConfigError: if there is no `=` or the key is empty.
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. search.max_trials=3")
    key, raw = text.split("=", 1)
    path = key.strip().split(".")
    if not all(path):
        raise ConfigError(f"--set {text!r}: empty key component")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({_yaml_problem(e)})") from e
    return path, value


def apply_override(config, path, value):
    """Sets `config[path[0]][path[1]]... = value`, creating missing mappings."""
    node = config
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {'.'.join(path[: i + 1])} is not a mapping")
        node = child
    node[path[-1]] = value


def validate_config(raw):
    """Fills defaults into `raw` (a dict) and validates it.

    Returns:
        dict, the complete configuration.

    Raises:
        ConfigError: naming the first offending key.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping of sections, got {type(raw).__name__}")
    for section in raw:
        if section not in SECTIONS:
            raise ConfigError(f"{section}: unknown section; allowed: {', '.join(SECTIONS)}")
    config = copy.deepcopy(DEFAULTS)
    for section, values in raw.items():
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{section}: expected a mapping, got {values!r}")
        if section in ("data", "search"):
            for key in values:
                if key not in DEFAULTS[section]:
                    allowed = ", ".join(DEFAULTS[section])
                    raise ConfigError(f"{section}.{key}: unknown key; allowed: {allowed}")
        if section in ("space", "strategy") and "type" in values and values["type"] != DEFAULTS[section]["type"]:
            config[section] = {}
        config[section].update(values)
    _validate_data(config["data"])
    _validate_search(config["search"])
    _validate_space(config["space"])
    final = config["search"]["final_training"]
    if final and final.get("space"):
        overrides = dict(final["space"])
        if "type" in overrides:
            raise ConfigError("search.final_training.space.type: the space type cannot change in the final phase")
        _check_kwargs("search.final_training.space", space_class(config["space"]["type"]), overrides,
                      _SPACE_RESERVED)
    _validate_strategy(config["strategy"])
    _validate_estimation(config["estimation"])
    return config


def load_config(path, overrides=()):
    """Reads a YAML file, applies `--set` overrides, fills defaults, validates.

    Args:
        path: str, path of the YAML file.
        overrides: iterable of `"section.key=value"` strings.

    Returns:
        dict, the complete configuration.

    Raises:
        ConfigError: missing, empty, non-UTF-8 or unparsable file, or a bad
            key/value (named).
    """
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); is it a YAML configuration?") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(e)})") from e
    if raw is None:  # an empty file (or only comments) would silently run the whole default search
        raise ConfigError(f"{path}: the file is empty; give at least one section, e.g. "
                          "`search: {max_trials: 3}` (see examples/)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    for text in overrides:
        apply_override(raw, *parse_override(text))
    return validate_config(raw)
