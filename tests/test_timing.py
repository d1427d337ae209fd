"""Per-trial timing: build, compile, train, validation seconds (issue 23)."""

import time

import keras
import numpy as np
import pytest

from keras_nas_plus.engine import timing
from keras_nas_plus.tuners import RandomSearch

pytestmark = pytest.mark.core


def _model(hp=None):
    units = 4 if hp is None else hp.Choice("units", [2, 4])
    inputs = keras.Input((4,))
    x = keras.layers.Dense(units, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


def test_fit_timing_is_consistent_with_the_wall_clock():
    x, y = _data()
    timer = timing.TrialTiming()
    start = time.perf_counter()
    _model().fit(x, y, validation_data=(x, y), epochs=3, batch_size=16, verbose=0, callbacks=[timer])
    wall = time.perf_counter() - start
    record = timer.record()
    assert len(record["epoch_seconds"]) == 3 and all(e > 0 for e in record["epoch_seconds"])
    assert 0 < record["fit_seconds"] <= wall
    assert record["validation_seconds"] > 0 and record["train_seconds"] >= 0
    assert record["compile_seconds"] is not None and record["compile_seconds"] >= 0
    parts = record["compile_seconds"] + record["train_seconds"] + record["validation_seconds"]
    assert parts <= record["fit_seconds"] + 1e-3
    # Validation is part of the epochs.
    assert record["validation_seconds"] <= sum(record["epoch_seconds"]) + 1e-3
    if keras.backend.backend() == "jax":
        assert record["compile_method"] == "jax.monitoring"
        assert record["compile_seconds"] > 0  # a fresh model traces and compiles its step functions
    else:
        assert record["compile_method"] == "first_epoch_excess"


def test_single_epoch_without_jax_has_no_compile_estimate():
    x, y = _data()
    timer = timing.TrialTiming()
    _model().fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[timer])
    record = timer.record()
    if keras.backend.backend() == "jax":
        assert record["compile_seconds"] > 0
    else:
        assert record["compile_seconds"] is None and record["compile_method"] == "unknown (one epoch)"
    assert record["validation_seconds"] == 0 and record["train_seconds"] > 0


def test_compile_intervals_are_merged(monkeypatch):
    monkeypatch.setattr(timing, "_intervals", [(1.0, 3.0), (2.0, 2.5), (2.5, 4.0), (10.0, 11.0), (20.0, 30.0)])
    assert timing.compile_seconds_between(0.0, 12.0) == pytest.approx(3.0 + 1.0)
    assert timing.compile_seconds_between(25.0, 26.0) == pytest.approx(1.0)
    assert timing.compile_seconds_between(4.0, 10.0) == 0.0


def test_summary_totals_and_idle():
    records = [
        {"build_seconds": 1.0, "costs_seconds": 0.5, "compile_seconds": 2.0, "train_seconds": 10.0,
         "validation_seconds": 1.0},
        {"build_seconds": 0.5, "costs_seconds": 0.5, "compile_seconds": None, "train_seconds": 5.0,
         "validation_seconds": 0.5},
        None,
    ]
    s = timing.summarize(records, wall_seconds=30.0)
    assert s == {"build_seconds": 1.5, "costs_seconds": 1.0, "compile_seconds": 2.0, "train_seconds": 15.0,
                 "validation_seconds": 1.5, "wall_seconds": 30.0, "trials_timed": 2, "idle_seconds": 9.0}
    assert timing.summarize(records, wall_seconds=30.0, workers=2)["idle_seconds"] == 39.0


def test_tuner_writes_timing_per_trial(tmp_path):
    x, y = _data()
    tuner = RandomSearch(_model, objective="val_accuracy", max_trials=2, seed=0, directory=str(tmp_path),
                         project_name="t", latency_runs=2)
    start = time.time()
    tuner.search(x, y, validation_data=(x, y), epochs=2, batch_size=16, verbose=0)
    wall = time.time() - start
    keys = ("build_seconds", "costs_seconds", "compile_seconds", "train_seconds", "validation_seconds")
    for trial_id in tuner.oracle.trials:
        t = tuner.get_trial_info(trial_id)["timing"]
        assert all(t[k] >= 0 for k in keys) and t["build_seconds"] > 0 and t["train_seconds"] > 0
        assert sum(t[k] for k in keys) <= t["trial_seconds"] <= wall
        assert t["fit_seconds"] >= t["compile_seconds"] + t["train_seconds"] + t["validation_seconds"] - 1e-3
        assert len(t["epoch_seconds"]) == 2


def test_results_json_has_trial_timing(tmp_path):
    from test_config_cli import tiny_config

    from keras_nas_plus.config import validate_config
    from keras_nas_plus.report import summary_table
    from keras_nas_plus.run import run_search

    results = run_search(validate_config(tiny_config(tmp_path, max_trials=2, epochs=2)))
    s = results["trial_timing"]
    assert s["trials_timed"] == 2 and s["wall_seconds"] == results["search_seconds"]
    parts = sum(s[k] for k in ("build_seconds", "costs_seconds", "compile_seconds", "train_seconds",
                               "validation_seconds"))
    assert 0 < parts <= s["wall_seconds"]
    assert s["idle_seconds"] == pytest.approx(s["wall_seconds"] - parts, abs=0.05)
    assert s["train_seconds"] == pytest.approx(sum(r["timing"]["train_seconds"] for r in results["trials"]), abs=0.02)
    text = summary_table(results, results["trials"])
    assert "compile_s" in text and "time (s): build" in text
