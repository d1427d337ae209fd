"""RegularizedEvolution as a drop-in for keras_tuner.RandomSearch on user code."""

import json
import os

import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus import RegularizedEvolution
from keras_nas_plus.engine.tuner import TRIAL_INFO_FILE
from keras_nas_plus.oracles import PARENT_KEY

pytestmark = pytest.mark.core


def user_build(hp):
    """A user's own model-building function with conditional scopes."""
    inputs = keras.Input((8, 8))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Rescaling(1 / 255)(x)
    kind = hp.Choice("kind", ["dense", "wide"])
    with hp.conditional_scope("kind", ["dense"]):
        if kind == "dense":
            x = keras.layers.Dense(hp.Int("units", 4, 12, step=4), activation="relu")(x)
    with hp.conditional_scope("kind", ["wide"]):
        if kind == "wide":
            x = keras.layers.Dense(24, activation=hp.Choice("activation", ["relu", "tanh"]))(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-1, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def search(tuner, data):
    (x, y), (xv, yv), _ = data
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=20, verbose=0)


def test_drop_in_replacement_for_random_search(tiny_images, tmp_path):
    tuner = RegularizedEvolution(user_build, objective="val_accuracy", max_trials=5, population_size=2,
                                 sample_size=1, seed=1, directory=str(tmp_path), project_name="p")
    search(tuner, tiny_images)
    trials = tuner.oracle.trials
    assert len(trials) == 5
    assert all(t.status == "COMPLETED" for t in trials.values())
    children = [t for t in trials.values() if PARENT_KEY in t.hyperparameters.values]
    assert len(children) == 3
    for t in trials.values():
        values = t.hyperparameters.values
        assert ("units" in values) == (values["kind"] == "dense")
        assert ("activation" in values) == (values["kind"] == "wide")
        info = json.load(open(os.path.join(tmp_path, "p", f"trial_{t.trial_id}", TRIAL_INFO_FILE)))
        assert info["epochs_trained"] == 1
        assert info["num_params"] > 0
        assert info["input_shape"] == [None, 8, 8]
        assert info["num_train_examples"] == 40
        assert len(info["history"]["val_accuracy"]) == 1
    best = tuner.get_best_models(1)[0]
    assert best.predict(tiny_images[2][0], verbose=0).shape == (16, 3)
    assert tuner.get_best_hyperparameters(1)[0].values["kind"] in ("dense", "wide")


def test_resume_with_overwrite_false_keeps_finished_trials(tiny_images, tmp_path):
    kwargs = dict(objective="val_accuracy", population_size=2, sample_size=1, seed=3,
                  directory=str(tmp_path), project_name="p")
    first = RegularizedEvolution(user_build, max_trials=3, **kwargs)
    search(first, tiny_images)
    scores = {t.trial_id: t.score for t in first.oracle.trials.values()}
    resumed = RegularizedEvolution(user_build, max_trials=5, overwrite=False, **kwargs)
    assert {t.trial_id: t.score for t in resumed.oracle.trials.values()} == scores
    search(resumed, tiny_images)
    assert len(resumed.oracle.trials) == 5
    for trial_id, score in scores.items():  # finished trials were not re-run
        assert resumed.oracle.trials[trial_id].score == score
    # resuming a finished search runs nothing more
    again = RegularizedEvolution(user_build, max_trials=5, overwrite=False, **kwargs)
    search(again, tiny_images)
    assert len(again.oracle.trials) == 5


def test_nan_trial_is_failed_and_search_goes_on(tiny_images, tmp_path):
    def build(hp):
        model = user_build(hp)
        if hp.values.get("kind") == "wide":  # the wide branch diverges
            outputs = keras.layers.Lambda(lambda t: t * float("nan"))(model.outputs[0])
            model = keras.Model(model.inputs, outputs)
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = RegularizedEvolution(build, objective="val_accuracy", max_trials=6, population_size=2,
                                 sample_size=1, seed=0, directory=str(tmp_path), project_name="p",
                                 max_consecutive_failed_trials=6)
    search(tuner, tiny_images)
    statuses = {t.status for t in tuner.oracle.trials.values()}
    assert len(tuner.oracle.trials) == 6
    wide = [t for t in tuner.oracle.trials.values() if t.hyperparameters.values["kind"] == "wide"]
    assert wide
    for t in wide:
        assert t.status == "FAILED"
        assert "training loss became nan" in t.message
        assert t.trial_id not in {m.trial_id for m in tuner.oracle.population()}
    assert "COMPLETED" in statuses


def test_time_budget_ends_search_cleanly(tiny_images, tmp_path):
    import time

    def slow_build(hp):  # the first trial outlasts the budget on any machine (torch's tiny trials took 0.07 s)
        time.sleep(0.6)
        return user_build(hp)

    tuner = RegularizedEvolution(slow_build, objective="val_accuracy", max_trials=10, population_size=2,
                                 sample_size=1, seed=0, directory=str(tmp_path), project_name="p",
                                 time_budget=0.5)
    search(tuner, tiny_images)
    assert tuner.budget_exhausted
    assert len(tuner.oracle.trials) == 1
    assert tuner.oracle.max_trials == 10  # restored: a resumed search may continue
    with pytest.raises(ValueError, match="time_budget"):
        RegularizedEvolution(user_build, objective="val_accuracy", time_budget=-1, directory=str(tmp_path))


def test_time_budget_starts_no_trial_that_would_not_end_within_it(tmp_path):
    # With 100 s left, a search whose finished trials took a median of 150 s starts no more;
    # with a median of 50 s it goes on.
    import time

    tuner = RegularizedEvolution(user_build, objective="val_accuracy", max_trials=10, population_size=2,
                                 sample_size=1, seed=0, directory=str(tmp_path), project_name="p",
                                 time_budget=1000)
    tuner._deadline = time.time() + 100
    tuner._trial_seconds = [40.0, 50.0, 60.0]
    tuner.pre_create_trial()
    assert not tuner.budget_exhausted and tuner.oracle.max_trials == 10
    tuner._trial_seconds = [120.0, 150.0, 20.0]
    tuner.pre_create_trial()
    # No trial exists yet: max_trials 1, not 0 (Keras Tuner reads 0 as "no limit").
    assert tuner.budget_exhausted and tuner.oracle.max_trials == 1
    assert tuner.oracle.create_trial("tuner0").status == "RUNNING"
    tuner.pre_create_trial()
    assert tuner.oracle.max_trials == 1 and tuner.oracle.create_trial("tuner1").status == "STOPPED"


def test_tuner_batch_hooks_are_skipped_unless_a_subclass_uses_them(tiny_images, tmp_path):
    # Keras Tuner's TunerCallback reads `self.model` after every batch (a full state sync on JAX);
    # NASTuner drops the per-batch calls unless a subclass overrides on_batch_begin/on_batch_end.
    from keras_nas_plus.engine import tuner as tuner_module

    seen = {"epochs": 0, "batches": 0}

    class EpochCounting(RegularizedEvolution):
        def on_epoch_end(self, trial, model, epoch, logs=None):
            seen["epochs"] += 1
            super().on_epoch_end(trial, model, epoch, logs=logs)

    class BatchCounting(EpochCounting):
        def on_batch_end(self, trial, model, batch, logs=None):
            seen["batches"] += 1

    kwargs = dict(objective="val_accuracy", max_trials=1, population_size=2, sample_size=1, seed=1)
    assert not tuner_module._uses_batch_hooks(
        EpochCounting(user_build, directory=str(tmp_path), project_name="a", **kwargs))
    search(EpochCounting(user_build, directory=str(tmp_path), project_name="a", **kwargs), tiny_images)
    assert seen == {"epochs": 1, "batches": 0}
    search(BatchCounting(user_build, directory=str(tmp_path), project_name="b", **kwargs), tiny_images)
    assert seen == {"epochs": 2, "batches": 2}  # 40 examples, batch size 20


def test_yaml_latency_runs_reaches_the_tuner(tmp_path):
    from keras_nas_plus import config as config_module
    from keras_nas_plus import run

    raw = {"search": {"directory": str(tmp_path / "run"), "latency_runs": 0}}
    config = config_module.validate_config(raw)
    space = run.build_space(config["space"], input_shape=(8, 8), num_classes=3, input_kind="image")
    assert run.build_tuner(config, space, overwrite=True).latency_runs == 0
    raw["search"]["constraints"] = {"max_latency_ms": 5}
    with pytest.raises(config_module.ConfigError, match="search.latency_runs: 0 skips"):
        config_module.validate_config(raw)
    del raw["search"]["constraints"]
    raw["search"]["objectives"] = ["val_accuracy:max", "latency_ms:min"]
    with pytest.raises(config_module.ConfigError, match="search.latency_runs: 0 skips"):
        config_module.validate_config(raw)
    assert config_module.validate_config({"search": {"directory": "x"}})["search"]["latency_runs"] == 10


def test_keras_tuner_oracle_state_drops_an_ended_trial(tmp_path):
    # Keras Tuner saves its oracle's state before dropping the ended trial from
    # `ongoing_trials`; a chief serving workers saved nothing after, so a resumed
    # search re-ran that trial. NASTuner saves the state again after `end_trial`.
    from keras_nas_plus.engine.tuner import NASTuner

    def make(overwrite):
        oracle = kt.oracles.RandomSearchOracle(kt.Objective("val_accuracy", "max"), max_trials=3, seed=1)
        return NASTuner(oracle=oracle, hypermodel=user_build, directory=str(tmp_path), project_name="p",
                        overwrite=overwrite)

    tuner = make(True)
    trial = tuner.oracle.create_trial("worker0")  # as the chief does for a worker
    tuner.oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
    trial.status = "COMPLETED"
    tuner.oracle.end_trial(trial)
    with open(os.path.join(tmp_path, "p", "oracle.json")) as f:
        assert json.load(f)["ongoing_trials"] == {}
    resumed = make(False)
    assert resumed.oracle._retry_queue == []
    assert resumed.oracle.create_trial("worker0").trial_id != trial.trial_id
