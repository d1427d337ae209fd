"""Per-trial memory cleanup (keras_nas_plus.engine.memory) and the resident
memory growth over 50 small trials (<= 200 MB; slow: runs
benchmarks/memory_growth.py in a fresh process, a few minutes on a loaded
2-core CPU)."""

import gc
import os
import re

import keras
import numpy as np
import pytest

from _processes import ROOT
from _processes import finish
from _processes import start
from _processes import tail
from keras_nas_plus import RegularizedEvolution
from keras_nas_plus.engine import memory

TF = keras.backend.backend() == "tensorflow"


def _fit_once(units):
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((8, 4), "float32"), np.zeros((8, 2), "float32"), epochs=1, batch_size=8, verbose=0)


def _train_graphs():
    gc.collect()
    return sum(type(o).__name__ == "FuncGraph" and o.name == "one_step_on_data" for o in gc.get_objects())


def _custom_gradients():
    return len(memory._custom_gradient_names())


@pytest.mark.core
def test_trial_memory_removes_the_registrations_a_fit_added():
    before, graphs_before = _custom_gradients(), _train_graphs()
    tracker = memory.TrialMemory()
    tracker.begin()
    _fit_once(3)
    if TF:  # the leak: every traced train step registers a custom gradient
        assert _custom_gradients() > before
    tracker.end()
    assert _custom_gradients() == before
    assert (tracker.released > 0) == TF
    # The trial's training graphs are freed once its registrations are gone
    # (graphs of fits made earlier in this process outside a trial may stay).
    keras.backend.clear_session()
    assert _train_graphs() <= graphs_before


@pytest.mark.core
def test_trial_memory_keeps_registrations_made_before_the_trial():
    _fit_once(5)  # registered outside any trial: not ours to drop
    before = _custom_gradients()
    tracker = memory.TrialMemory()
    tracker.end()  # end() without begin(): only collects and trims
    assert _custom_gradients() == before and tracker.released == 0
    tracker.begin()
    tracker.end()
    assert _custom_gradients() == before and tracker.released == 0


@pytest.mark.core
def test_trim_heap_never_raises():
    assert memory.trim_heap() in (True, False)


def _build(hp):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 2, 8)),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.core
@pytest.mark.parametrize("free", [True, False])
def test_tuner_frees_trial_memory_unless_told_not_to(tmp_path, free):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.integers(0, 2, size=16)
    tuner = RegularizedEvolution(_build, objective="val_accuracy", max_trials=3, population_size=2, sample_size=1,
                                 seed=0, directory=str(tmp_path), project_name="p", free_trial_memory=free)
    before = _custom_gradients()
    tuner.search(x, y, validation_data=(x, y), epochs=1, batch_size=8, verbose=0)
    assert len(tuner.oracle.end_order) == 3
    if free or not TF:
        assert _custom_gradients() == before
    else:
        assert _custom_gradients() >= before + 3  # one train step traced per trial at least
    if free and TF:
        assert tuner._trial_memory.released >= 3
    else:
        assert tuner._trial_memory.released == 0


@pytest.mark.slow
def test_rss_growth_over_50_trials_is_bounded(tmp_path):
    log = str(tmp_path / "log.txt")
    proc = start([os.path.join(ROOT, "benchmarks", "memory_growth.py"), "--trials", "50", "--limit-mb", "200",
                  "--directory", str(tmp_path / "run")], log)
    finish(proc, timeout=3000, log_path=log)  # exit status 1 if the growth exceeds the limit
    growth = float(re.search(r"growth after warm-up: ([-\d.]+) MB over 49 trials", tail(log)).group(1))
    assert growth <= 200.0
