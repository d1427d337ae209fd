"""Issue 22: what a new user hit from a fresh clone. One regression test per item."""

import json
import os
import re
import threading
import warnings

import keras
import keras_tuner as kt
import numpy as np
import pytest
import yaml

from keras_nas_plus import cli
from keras_nas_plus import report
from keras_nas_plus.callbacks import LearningCurveExtrapolation
from keras_nas_plus.engine.tuner import TRACEBACK_FILE
from keras_nas_plus.oracles import RegularizedEvolutionOracle
from keras_nas_plus.oracles import base
from keras_nas_plus.oracles.rl import RLControllerOracle
from keras_nas_plus.tuners import RandomSearch
from test_config_cli import tiny_config

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def run_cli(args, capsys):
    try:
        code = cli.main(args)
    except SystemExit as e:  # argparse errors
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err):
    lines = [line for line in err.strip().splitlines() if not line.startswith("usage:")]
    assert len(lines) == 1, err
    return lines[0]


def write_config(tmp_path, config, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def search_cli(tmp_path, capsys, *extra, **search):
    config = tiny_config(tmp_path, **search)
    return run_cli(["search", write_config(tmp_path, config), *extra], capsys), config


# ---------------------------------------------------------------- 1. trial.json
@pytest.mark.slow
def test_corrupt_trial_json_is_rebuilt_and_resume_goes_on(tmp_path, capsys):
    (code, _, err), config = search_cli(tmp_path, capsys, max_trials=2)
    assert code == 0, err
    project = os.path.join(config["search"]["directory"], "trials")
    first = json.load(open(os.path.join(project, "trial_0", "trial.json")))
    open(os.path.join(project, "trial_0", "trial.json"), "w").write('{"trial_id": "0", "hyperp')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (code, _, err), _ = search_cli(tmp_path, capsys, max_trials=3)
    assert code == 0, err
    assert any("trial_0" in str(w.message) and "rebuilt as completed" in str(w.message) for w in caught)
    results = json.load(open(os.path.join(config["search"]["directory"], "results.json")))
    assert results["num_trials"] == 3
    rebuilt = json.load(open(os.path.join(project, "trial_0", "trial.json")))
    assert rebuilt["status"] == "COMPLETED"
    assert rebuilt["hyperparameters"]["values"] == first["hyperparameters"]["values"]
    assert rebuilt["score"] == pytest.approx(first["score"])


def _evolution(directory):
    oracle = RegularizedEvolutionOracle(objective=kt.Objective("score", "max"), max_trials=4,
                                        population_size=2, sample_size=1, seed=0, hyperparameters=_toy_space())
    oracle.verbose = 0
    oracle._set_project_dir(str(directory), "p")
    return oracle


@pytest.mark.core
def test_corrupt_trial_json_without_values_names_the_file(tmp_path):
    oracle = _evolution(tmp_path)
    for _ in range(2):
        trial = oracle.create_trial("t")
        oracle.update_trial(trial.trial_id, {"score": 1.0})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    bad = os.path.join(str(tmp_path), "p", "trial_1", "trial.json")
    open(bad, "w").write("{")
    with pytest.raises(base.UnreadableTrialFileError, match=re.escape(bad)):
        _evolution(tmp_path).reload()
    # with its values in nas_trial.json (written by NASTuner) the trial is run again
    values = json.load(open(os.path.join(str(tmp_path), "p", "trial_0", "trial.json")))["hyperparameters"]["values"]
    json.dump({"trial_id": "1", "hyperparameters": values},
              open(os.path.join(str(tmp_path), "p", "trial_1", "nas_trial.json"), "w"))
    resumed = _evolution(tmp_path)
    with pytest.warns(UserWarning, match="trial 1 queued to run again"):
        resumed.reload()
    assert resumed.end_order == ["0"] and resumed._retry_queue == ["1"]
    assert resumed.create_trial("t").trial_id == "1"


def test_corrupt_trial_json_cli_error_names_the_file_not_strategy(tmp_path, capsys):
    (code, _, err), config = search_cli(tmp_path, capsys, max_trials=1)
    assert code == 0, err
    trial_dir = os.path.join(config["search"]["directory"], "trials", "trial_0")
    open(os.path.join(trial_dir, "trial.json"), "w").write("{\"x")
    os.remove(os.path.join(trial_dir, "nas_trial.json"))
    (code, _, err), _ = search_cli(tmp_path, capsys, max_trials=2)
    assert code == 2, err
    line = one_error_line(err)
    assert "trial_0" in line and "trial.json" in line and "strategy" not in line


def _toy_space():
    hp = kt.HyperParameters()
    hp.Choice("a", [0, 1, 2, 3])
    hp.Choice("b", [0, 1, 2, 3])
    return hp


# ------------------------------------------------- 2, 8. metrics never logged
@pytest.mark.parametrize("override, key", [
    ("search.objective=val_acc", "search.objective"),
    ("estimation.learning_curve={monitor: val_acc, min_epochs: 1}", "estimation.learning_curve.monitor"),
])
def test_metric_never_logged_is_one_error_after_one_epoch(tmp_path, capsys, override, key):
    (code, out, err), config = search_cli(tmp_path, capsys, "--set", override, epochs=3)
    assert code == 2, err
    line = one_error_line(err)
    assert line.startswith(f"error: {key}: 'val_acc'"), line
    assert "val_accuracy" in line and "val_loss" in line
    assert not os.path.exists(config["search"]["directory"])


@pytest.mark.core
def test_lce_monitor_never_logged_warns_once_and_never_stops():
    cb = LearningCurveExtrapolation(monitor="val_acc", target=0.99, min_epochs=2)

    class Model:
        stop_training = False

    model = Model()
    cb.set_model(model)
    cb.set_params({"epochs": 10, "verbose": 0, "steps": 1})
    cb.on_train_begin()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(10):
            cb.on_epoch_end(epoch, {"loss": 1.0, "accuracy": 0.1 + 0.01 * epoch})
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "'val_acc'" in messages[0] and "accuracy, loss" in messages[0]
    assert not model.stop_training and not cb.stopped and cb.predicted_final is None


# ----------------------------------------------------- 3-6. bad config / CLI
@pytest.mark.core
@pytest.mark.parametrize("where", ["proc", "under_file"])
def test_directory_that_cannot_be_created(tmp_path, capsys, where):
    if where == "proc":
        directory = "/proc/keras_nas_plus_x/run"
    else:
        (tmp_path / "afile").write_text("x")
        directory = str(tmp_path / "afile" / "run")
    (code, out, err), _ = search_cli(tmp_path, capsys, directory=directory)
    assert code == 2, err
    line = one_error_line(err)
    assert "search.directory" in line and directory in line
    assert not os.path.exists(directory)


@pytest.mark.core
def test_config_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"search:\n  max_trials: 3\n\xff\xfe\x00garbage")
    code, out, err = run_cli(["search", str(path)], capsys)
    assert code == 2
    assert "not UTF-8" in one_error_line(err) and str(path) in err


@pytest.mark.core
@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_config_is_an_error(tmp_path, capsys, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    code, out, err = run_cli(["search", str(path), "--set", f"search.directory={tmp_path / 'run'}"], capsys)
    assert code == 2
    assert "empty" in one_error_line(err)
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.core
@pytest.mark.parametrize("args", [["--set", "search.max_trials", "3"]])
def test_set_without_equals_names_set(tmp_path, capsys, args):
    path = write_config(tmp_path, tiny_config(tmp_path))
    code, out, err = run_cli(["search", path, *args], capsys)
    assert code == 2
    line = one_error_line(err)
    assert line.startswith("error: --set 'search.max_trials'") and "KEY=VALUE" in line
    assert "unrecognized" not in line and not os.path.exists(tmp_path / "run")


# ------------------------------------------------------------ 7. benchmark
@pytest.mark.core
def test_benchmark_unknown_table_lists_the_shipped_ones(tmp_path, capsys):
    code, out, err = run_cli(["benchmark", "--table", "nb201-cifar100", "--queries", "5"], capsys)
    assert code == 2
    line = one_error_line(err)
    assert "'nb201-cifar100'" in line and "no shipped table" in line and "nb201-cifar10" in line.split("shipped tables:")[1]


# ------------------------------------------------------ 9, 10. trial messages
def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return x, y


def _build(hp):
    hp.Choice("units", [2, 3, 4])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class _NaNObjective(kt.HyperModel):
    def build(self, hp):
        return _build(hp)

    def fit(self, hp, model, *args, **kwargs):
        history = model.fit(*args, **kwargs)
        history.history["val_accuracy"] = [float("nan")] * len(history.history["loss"])
        return history


class _FailsOnce(kt.HyperModel):
    calls = 0

    def build(self, hp):
        return _build(hp)

    def fit(self, hp, model, *args, **kwargs):
        type(self).calls += 1
        if type(self).calls == 1:
            raise ValueError("a transient problem\nwith two lines")
        return model.fit(*args, **kwargs)


def _search(tuner):
    x, y = _data()
    tuner.search(x, y, validation_data=(x, y), epochs=1, batch_size=16, verbose=0)


@pytest.mark.core
def test_nan_objective_with_finite_loss_says_why(tmp_path):
    tuner = RandomSearch(_NaNObjective(), objective="val_accuracy", max_trials=1, seed=0,
                         directory=str(tmp_path), project_name="p", latency_runs=0)
    _search(tuner)
    trial = tuner.oracle.trials["0"]
    assert trial.status == "FAILED"
    assert trial.message.startswith("keras_tuner") or "FailedTrialError" in trial.message
    assert "objective val_accuracy was nan at every epoch while the training loss stayed finite" in trial.message


@pytest.mark.core
def test_nan_score_failed_by_keras_tuner_gets_a_message(tmp_path):
    oracle = _evolution(tmp_path)
    trial = oracle.create_trial("t")
    oracle.update_trial(trial.trial_id, {"score": float("nan")})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    assert oracle.trials["0"].status == "FAILED"
    assert oracle.trials["0"].message == "objective score is not finite (score nan)"


@pytest.mark.core
def test_retried_trial_that_completed_has_no_old_message_and_messages_are_one_line(tmp_path):
    _FailsOnce.calls = 0
    tuner = RandomSearch(_FailsOnce(), objective="val_accuracy", max_trials=1, seed=0, max_retries_per_trial=1,
                         directory=str(tmp_path), project_name="p", latency_runs=0)
    _search(tuner)
    trial = tuner.oracle.trials["0"]
    assert trial.status == "COMPLETED" and trial.message is None
    saved = json.load(open(os.path.join(str(tmp_path), "p", "trial_0", "trial.json")))
    assert saved["message"] is None
    traceback_text = open(os.path.join(str(tmp_path), "p", "trial_0", TRACEBACK_FILE)).read()
    assert traceback_text.startswith("Traceback") and "a transient problem" in traceback_text
    # a trial that fails for good: one line in its message, the traceback in its own file
    tuner = RandomSearch(_FailsOnce(), objective="val_accuracy", max_trials=1, seed=0,
                         directory=str(tmp_path), project_name="q", latency_runs=0)
    _FailsOnce.calls = 0
    _search(tuner)
    trial = tuner.oracle.trials["0"]
    assert trial.status == "FAILED"
    assert trial.message == "ValueError: a transient problem"
    assert "ValueError: a transient problem" in open(os.path.join(str(tmp_path), "q", "trial_0", TRACEBACK_FILE)).read()


# ------------------------------------------------ 11. finished run re-run
@pytest.mark.slow
def test_finished_search_rerun_reports_and_stops_and_time_accumulates(tmp_path, capsys):
    (code, _, err), config = search_cli(tmp_path, capsys, max_trials=2)
    assert code == 0, err
    directory = config["search"]["directory"]
    model_path = os.path.join(directory, "best_model.keras")
    first = json.load(open(os.path.join(directory, "results.json")))
    mtime = os.path.getmtime(model_path)
    (code, out, err), _ = search_cli(tmp_path, capsys, max_trials=2)
    assert code == 0, err
    assert "holds a finished search" in out and "--retrain-final" in out
    assert os.path.getmtime(model_path) == mtime
    assert json.load(open(os.path.join(directory, "results.json"))) == first
    (code, out, err), _ = search_cli(tmp_path, capsys, max_trials=3)
    assert code == 0, err
    second = json.load(open(os.path.join(directory, "results.json")))
    assert second["num_trials"] == 3
    assert second["search_seconds"] > first["search_seconds"]
    (code, out, err), _ = search_cli(tmp_path, capsys, "--retrain-final", max_trials=3)
    assert code == 0, err
    assert os.path.getmtime(model_path) > mtime


# --------------------------------------------------------------- 12. RL lock
@pytest.mark.core
def test_rl_oracle_releases_the_lock_after_the_failure_abort(tmp_path):
    oracle = RLControllerOracle(objective=kt.Objective("score", "max"), max_trials=5, seed=0, batch_size=2,
                                hyperparameters=_toy_space(), max_consecutive_failed_trials=1)
    oracle.verbose = 0
    oracle._set_project_dir(str(tmp_path), "p")
    trial = oracle.create_trial("chief")
    trial.status = "FAILED"
    trial.message = "ImportError: broken"
    with pytest.raises(RuntimeError, match="1 consecutive failed trials"):
        oracle.end_trial(trial)
    answered = []
    other = threading.Thread(target=lambda: answered.append(oracle.create_trial("worker1")), daemon=True)
    other.start()
    other.join(timeout=10)
    assert answered and answered[0].status == "RUNNING"


# ---------------------------------------------------------- 13. max_model_size
@pytest.mark.core
def test_max_model_size_is_a_constraint_like_max_params(tmp_path):
    tuner = RandomSearch(_build, objective="val_accuracy", max_trials=3, seed=0, max_model_size=1,
                         max_consecutive_failed_trials=2, directory=str(tmp_path), project_name="p",
                         latency_runs=0)
    _search(tuner)  # no RuntimeError: rejections never abort the search
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 3 and all(base.is_rejected(t) for t in trials)
    assert all("trainable params=10 > max_model_size=1" in t.message for t in trials)
    assert all("\n" not in t.message and "Traceback" not in t.message for t in trials)


# ------------------------------------------------------------- 14, 15. report
@pytest.mark.core
def test_learning_curves_plot_highlights_the_best_trial(tmp_path):
    results = {"objective": "val_accuracy", "best_trial_id": "1"}
    trials = [{"trial_id": str(i), "history": {"val_accuracy": [0.1 * i, 0.1 * i + 0.05, 0.1 * i + 0.07]}}
              for i in range(3)]
    fig = report.plot_learning_curves(results, trials, str(tmp_path / "lc.png"))
    ax = fig.axes[0]
    assert ax.get_title() == "Learning curves"  # none stopped early
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["other trials", "best (trial 1)"]
    best = [line for line in ax.get_lines() if line.get_label() == "best (trial 1)"][0]
    assert list(best.get_ydata()) == pytest.approx([0.1, 0.15, 0.17])
    assert ax.xaxis.get_major_locator()._integer
    trials[2]["stopped_early"] = True
    fig = report.plot_learning_curves(results, trials, str(tmp_path / "lc.png"))
    assert fig.axes[0].get_title() == "Learning curves (x: stopped early)"
    assert "stopped early" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


@pytest.mark.core
def test_architecture_plot_shows_widths_strides_merges_and_fits_the_graph(tmp_path):
    inputs = keras.Input((8, 8, 1))
    a = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="conv_a")(inputs)
    b = keras.layers.Conv2D(6, 1, strides=2, name="conv_b")(inputs)
    x = keras.layers.Add(name="merge")([a, b])
    outputs = keras.layers.Dense(3, name="head")(keras.layers.Flatten(name="flat")(x))
    model = keras.Model(inputs, outputs)
    fig = report.plot_architecture(model, str(tmp_path / "arch.png"))
    texts = {t.get_text().split("\n")[0]: t.get_text() for t in fig.axes[0].texts}
    assert "6 filters" in texts["conv_a"] and "k3x3" in texts["conv_a"] and "stride 2x2" in texts["conv_a"]
    assert "(4, 4, 6)" in texts["conv_a"] and "3 units" in texts["head"]
    assert "stride" not in texts["flat"]
    assert texts["merge"].startswith("merge\nAdd")
    assert fig.axes[0].get_title().endswith("(orange: merges)")
    width, height = fig.get_size_inches()
    assert width <= 5 and height <= 4.5  # 5 levels, at most 2 wide: no large white canvas


# ------------------------------------------------------------------ 16. docs
@pytest.mark.core
def test_readme_quick_try_shortens_the_final_training_and_timings_name_the_load():
    text = open(README).read()
    # The main example runs for a fixed time (issue 23): the quick try shortens both budgets.
    quick = [line for line in text.splitlines() if "keras-nas-plus search" in line and "search.time_budget=" in line]
    assert quick and any("search.final_training.time_budget=" in line for line in quick), quick
    assert "2-core" in text and "busier machine" in text and "nothing else running" in text
    assert "--retrain-final" in text
