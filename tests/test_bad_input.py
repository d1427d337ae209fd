"""Bad input: each bad YAML config, CLI argument, data file or API argument
gives ONE clear error naming the offending key/value (exit status 2 on the
command line) and leaves nothing in the run directory."""

import os

import numpy as np
import pytest
import yaml

from keras_nas_plus import RegularizedEvolution
from keras_nas_plus import build_best_model
from keras_nas_plus import cli
from keras_nas_plus.oracles import RegularizedEvolutionOracle
from test_config_cli import tiny_config
from test_config_cli import tiny_npz


def run_cli(args, capsys):
    try:
        code = cli.main(args)
    except SystemExit as e:  # argparse errors
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_clear_error(code, err, message, run_dir):
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("usage:")]
    assert len(lines) == 1, err
    assert message in lines[0], err
    assert not os.path.exists(run_dir), os.listdir(run_dir)


def set_path(config, dotted, value):
    node = config
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value


DELETE = object()

# (dotted key, bad value, text the one error line must contain)
BAD_CONFIG_VALUES = [
    ("serch", {"max_trials": 3}, "serch: unknown section"),
    ("search", 3, "search: expected a mapping"),
    ("search.max_trial", 3, "search.max_trial: unknown key"),
    ("search.max_trials", "many", "search.max_trials: expected an integer >= 1, got 'many'"),
    ("search.max_trials", 0, "search.max_trials: expected an integer >= 1, got 0"),
    ("search.max_trials", True, "search.max_trials"),
    ("search.max_trials", None, "search.max_trials"),
    ("search.epochs", 1.5, "search.epochs: expected an integer >= 1, got 1.5"),
    ("search.batch_size", -8, "search.batch_size"),
    ("search.objective", "", "search.objective"),
    ("search.directory", 7, "search.directory: expected a non-empty string, got 7"),
    ("search.project_name", "", "search.project_name"),
    ("search.seed", -1, "search.seed: expected an integer >= 0, got -1"),
    ("search.final_epochs", -1, "search.final_epochs"),
    ("search.precision", "float16", "search.precision: expected one of float32, mixed_bfloat16, mixed_float16"),
    ("search.final_training", 5, "search.final_training: expected a mapping"),
    ("search.final_training", {"epoch": 5}, "search.final_training.epoch: unknown key"),
    ("search.final_training", {"time_budget": -1}, "search.final_training.time_budget"),
    ("search.final_training", {"width_multiplier": 0}, "search.final_training.width_multiplier"),
    ("search.final_training", {"width_multiplier": "wide"}, "search.final_training.width_multiplier"),
    ("search.final_training", {"space": {"augmentaton": "none"}}, "search.final_training.space.augmentaton: unknown key"),
    ("search.max_retries_per_trial", 0.5, "search.max_retries_per_trial"),
    ("search.max_consecutive_failed_trials", 0, "search.max_consecutive_failed_trials"),
    ("search.max_model_size", 0, "search.max_model_size"),
    ("search.verbose", 3, "search.verbose: expected 0, 1 or 2, got 3"),
    ("search.latency_runs", -1, "search.latency_runs: expected an integer >= 0"),
    ("search.latency_runs", 2.5, "search.latency_runs: expected an integer >= 0"),
    ("data.validation_split", 1.5, "data.validation_split: expected a fraction in (0, 1), got 1.5"),
    ("data.validation_split", 0, "data.validation_split"),
    ("data.input_kind", "video", "data.input_kind: expected one of auto, image, sequence, got 'video'"),
    ("data.rescale", -1, "data.rescale"),
    ("data.max_train_examples", 5, "data.max_train_examples: expected null or an integer >= 10, got 5"),
    ("data.dataset", "", "data.dataset"),
    ("data.dataset", "cifar5", "unknown dataset 'cifar5'"),
    ("data.dataset", "/nonexistent/data.npz", "data file not found: /nonexistent/data.npz"),
    ("data.color", "rgb", "data.color: unknown key"),
    ("space.type", "transformer", "space.type: expected one of macro, cell, nb201, residual, got 'transformer'"),
    ("space.widht", 3, "space.widht: unknown key; allowed: type,"),
    ("space.filters", [0], "filters"),
    ("space.max_layers", 0, "max_layers"),
    ("strategy.type", "annealing", "strategy.type: expected one of"),
    ("strategy.population", 3, "strategy.population: unknown key"),
    ("strategy.population_size", 1, "population_size"),
    ("strategy.sample_size", 9, "sample_size"),
    ("strategy.crossover_probability", 2.0, "crossover_probability"),
    ("strategy.trial_lease_seconds", -5, "trial_lease_seconds"),
    ("estimation.magic", True, "estimation.magic: unknown key"),
]


@pytest.mark.parametrize("key, value, message", BAD_CONFIG_VALUES,
                         ids=[f"{k}={v!r}" for k, v, _ in BAD_CONFIG_VALUES])
def test_bad_config_value(tmp_path, capsys, key, value, message):
    config = tiny_config(tmp_path)
    set_path(config, key, value)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = run_cli(["search", str(path)], capsys)
    assert_one_clear_error(code, err, message, tmp_path / "run")


BAD_YAML_TEXT = [
    ("search: [1\n", "not valid YAML (line 2, column 1: expected ',' or ']'"),
    ("search:\n\tmax_trials: 3\n", "not valid YAML (line 2, column 1: found character '\\t'"),
    ("search: max_trials: 3\n", "not valid YAML (line 1, column 19: mapping values are not allowed here)"),
    ("- search\n- data\n", "expected a mapping of sections, got list"),
    ("just a string\n", "expected a mapping of sections, got str"),
]


@pytest.mark.parametrize("text, message", BAD_YAML_TEXT, ids=[str(i) for i in range(len(BAD_YAML_TEXT))])
def test_bad_yaml_file(tmp_path, capsys, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    code, _, err = run_cli(["search", str(path)], capsys)
    assert_one_clear_error(code, err, message, tmp_path / "run")


BAD_ARGUMENTS = [
    ([], "the following arguments are required: COMMAND"),
    (["serch", "c.yaml"], "invalid choice: 'serch'"),
    (["search"], "the following arguments are required: config"),
    (["search", "{config}", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["search", "{config}", "--set"], "argument --set: expected one argument"),
    (["search", "{config}", "--set", "search.max_trials"], "--set 'search.max_trials': expected KEY=VALUE"),
    (["search", "{config}", "--set", "search..max_trials=3"], "empty key component"),
    (["search", "{config}", "--set", "search.max_trials=[3"], "--set search.max_trials: value '[3' is not valid YAML"),
    (["search", "{config}", "--set", "search.max_trials.x=3"], "search.max_trials is not a mapping"),
    (["search", "{config}", "--set", "search.max_trials=-2"], "search.max_trials: expected an integer >= 1, got -2"),
    (["search", "{tmp}/missing.yaml"], "config file not found"),
    (["search", "{tmp}"], "config file not found"),
]


@pytest.mark.parametrize("args, message", BAD_ARGUMENTS, ids=[" ".join(a) or "none" for a, _ in BAD_ARGUMENTS])
def test_bad_cli_arguments(tmp_path, capsys, args, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config(tmp_path)))
    args = [a.format(config=path, tmp=tmp_path) for a in args]
    code, _, err = run_cli(args, capsys)
    assert_one_clear_error(code, err, message, tmp_path / "run")


def _arrays(n=80, classes=3):
    rng = np.random.default_rng(0)
    y = np.arange(n) % classes
    x = rng.integers(0, 255, size=(n, 8, 8)).astype("uint8")
    return {"x_train": x[:60], "y_train": y[:60], "x_test": x[60:], "y_test": y[60:]}


def _without(key):
    arrays = _arrays()
    arrays.pop(key)
    return arrays


def _with(**changes):
    arrays = _arrays()
    for key, fn in changes.items():
        arrays[key] = fn(arrays[key])
    return arrays


BAD_DATA = [
    ("missing key", _without("y_test"), "missing array(s) ['y_test']"),
    ("wrong keys", {"images": np.zeros((4, 8, 8)), "labels": np.zeros(4)}, "missing array(s) ['x_train', 'y_train'"),
    ("label count", _with(y_train=lambda y: y[:-1]), "x_train has 60 examples but y_train has 59 labels"),
    ("one-hot labels", _with(y_train=lambda y: np.eye(3)[y]), "y_train must be a 1-D array of integer labels, got shape (60, 3)"),
    ("1-D x", _with(x_train=lambda x: x[:, 0, 0]), "x_train must be a non-empty array of examples, got shape (60,)"),
    ("empty", _with(x_train=lambda x: x[:0], y_train=lambda y: y[:0]), "x_train must be a non-empty array of examples, got shape (0, 8, 8)"),
    ("string x", _with(x_test=lambda x: x.astype(str)), "x_test must be numeric, got dtype <U3"),
    ("fractional labels", _with(y_train=lambda y: y + 0.5), "y_train must hold integer class labels, got dtype float64"),
    ("negative label", _with(y_test=lambda y: y - 1), "y_test has a negative label -1"),
    ("1-based labels", _with(y_train=lambda y: y + 1, y_test=lambda y: y + 1), "y_train labels must be the contiguous class indices 0..3, but class(es) [0] never occur"),
    ("unseen test label", _with(y_test=lambda y: np.where(y == 2, 7, y)), "y_test has label 7 but y_train's classes are 0..2"),
    ("shape mismatch", _with(x_test=lambda x: x[:, :7]), "x_train examples have shape (8, 8) but x_test examples have shape (7, 8)"),
    ("NaN features", _with(x_train=lambda x: np.where(x > 250, np.nan, x / 255.0)), "x_train holds NaN or infinite values"),
    ("single class", _with(y_train=lambda y: 0 * y, y_test=lambda y: 0 * y), "labels hold a single class"),
    ("too few to split", {"x_train": np.zeros((1, 8, 8)), "y_train": np.array([0]), "x_test": np.zeros((1, 8, 8)), "y_test": np.array([0])}, "too few training examples (1) to split"),
]


@pytest.mark.parametrize("name, arrays, message", BAD_DATA, ids=[n for n, _, _ in BAD_DATA])
def test_bad_data_file(tmp_path, capsys, name, arrays, message):
    data = tmp_path / "bad.npz"
    np.savez(data, **arrays)
    config = tiny_config(tmp_path)
    config["data"]["dataset"] = str(data)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = run_cli(["search", str(path)], capsys)
    assert_one_clear_error(code, err, message, tmp_path / "run")


@pytest.mark.parametrize("content, message", [
    (b"this is not a zip file", "not a readable .npz file"),
    (None, "not a readable .npz file"),  # object arrays need pickle: refused
])
def test_unreadable_data_file(tmp_path, capsys, content, message):
    data = tmp_path / "bad.npz"
    if content is None:
        arrays = _arrays()
        arrays["y_train"] = np.array([{"label": 0}] * 60, dtype=object)
        np.savez(data, **arrays)
    else:
        data.write_bytes(content)
    config = tiny_config(tmp_path)
    config["data"]["dataset"] = str(data)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = run_cli(["search", str(path)], capsys)
    assert_one_clear_error(code, err, message, tmp_path / "run")


def test_directory_that_is_a_file(tmp_path, capsys):
    config = tiny_config(tmp_path)
    config["search"]["directory"] = str(tmp_path / "afile")
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = run_cli(["search", str(path)], capsys)
    assert code == 2 and "is a file, not a directory" in err and len(err.strip().splitlines()) == 1


def test_bad_value_with_overwrite_keeps_the_previous_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    (run_dir / "trials").mkdir(parents=True)
    (run_dir / "results.json").write_text("{}")
    config = tiny_config(tmp_path)
    config["strategy"]["population_size"] = 1
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = run_cli(["search", str(path), "--overwrite"], capsys)
    assert code == 2 and "population_size" in err
    assert (run_dir / "results.json").exists()


BAD_API = [
    (lambda: RegularizedEvolutionOracle(objective="score", max_trials="10"), "max_trials"),
    (lambda: RegularizedEvolutionOracle(objective="score", seed=-3), "seed"),
    (lambda: RegularizedEvolutionOracle(objective="score", max_retries_per_trial=-1), "max_retries_per_trial"),
    (lambda: RegularizedEvolutionOracle(objective="score", max_consecutive_failed_trials=0), "max_consecutive_failed_trials"),
    (lambda: RegularizedEvolutionOracle(objective="score", trial_lease_seconds=0), "trial_lease_seconds"),
    (lambda: RegularizedEvolution(lambda hp: None, objective="val_accuracy", heartbeat_seconds=0, directory="/nonexistent/x"),
     "heartbeat_seconds"),
]


@pytest.mark.parametrize("make, name", BAD_API, ids=[n for _, n in BAD_API])
def test_bad_api_arguments_name_the_argument(make, name):
    with pytest.raises(ValueError, match=f"`{name}` must"):
        make()


def test_build_best_model_on_a_foreign_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"best_trial_id": "0"}')
    with pytest.raises(ValueError, match="not a keras_nas_plus results file"):
        build_best_model(str(path))


def test_at_least_thirty_kinds():
    kinds = len(BAD_CONFIG_VALUES) + len(BAD_YAML_TEXT) + len(BAD_ARGUMENTS) + len(BAD_DATA) + 2 + 2 + len(BAD_API) + 1
    assert kinds >= 30
