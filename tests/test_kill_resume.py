"""SIGKILL a real search at random points and restart it (slow: starts
TensorFlow several times; about 2-4 min in all on a loaded 2-core CPU).

The fast, exhaustive fault-injection tests are in tests/test_reliability.py.
"""

import json
import os
import random
import sys
import time

import numpy as np
import pytest
import yaml

from _processes import check_project
from _processes import finish
from _processes import kill
from _processes import start
from _processes import trial_states
from _processes import wait_for
from test_config_cli import tiny_config

pytestmark = pytest.mark.slow

MAX_TRIALS = 6


def kill_twice_then_finish(args, project_dir, log, rng):
    """Kills the search mid-trial twice (random delays), then lets it finish.

    Returns the trial files of COMPLETED trials seen after each kill.
    """
    completed_before = {}
    for when in (1, 3):  # while trial `when` is in flight, after a random delay
        proc = start(args, log)
        wait_for(lambda: os.path.isdir(os.path.join(project_dir, f"trial_{when}")), proc,
                 what=f"trial {when} to start", log_path=log)
        time.sleep(rng.uniform(0.0, 1.5))
        kill(proc)
        for trial_id, state in trial_states(project_dir).items():
            if state["status"] == "COMPLETED":
                completed_before.setdefault(trial_id, state)
    finish(start(args, log), log_path=log)
    return completed_before


def check_nothing_lost(project_dir, completed_before):
    state, trials = check_project(project_dir, MAX_TRIALS)
    assert completed_before, "no trial had completed before the kills"
    for trial_id, before in completed_before.items():  # kept, not re-run
        assert trials[trial_id]["score"] == before["score"]
        assert trials[trial_id]["hyperparameters"]["values"] == before["hyperparameters"]["values"]
        assert state["run_times"][trial_id] == 1
    # the population is the most recently completed trials, each once
    population = [t for t in state["end_order"] if trials[t]["status"] == "COMPLETED"][-2:]
    assert len(set(population)) == 2
    return state, trials


def test_cli_search_killed_twice_resumes_to_max_trials(tmp_path):
    rng = random.Random(int(time.time()))
    config = tiny_config(tmp_path, max_trials=MAX_TRIALS, verbose=0)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    log = str(tmp_path / "log.txt")
    args = ["-m", "keras_nas_plus.cli", "search", str(path)]
    completed_before = kill_twice_then_finish(args, str(tmp_path / "run" / "trials"), log, rng)
    state, trials = check_nothing_lost(str(tmp_path / "run" / "trials"), completed_before)
    results = json.load(open(tmp_path / "run" / "results.json"))
    assert results["num_trials"] == MAX_TRIALS
    assert {t["trial_id"] for t in results["trials"]} == set(trials)
    assert all(t["status"] == "COMPLETED" for t in results["trials"])


SCRIPT = """
import sys
import keras
import numpy as np
from keras_nas_plus import RegularizedEvolution

def build(hp):
    inputs = keras.Input((8, 8))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(hp.Int("units", 4, 64, step=4), activation=hp.Choice("act", ["relu", "tanh"]))(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-1, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=60)
x = rng.random((60, 8, 8)).astype("float32") + y[:, None, None]
tuner = RegularizedEvolution(build, objective="val_accuracy", max_trials=int(sys.argv[2]), population_size=2,
                             sample_size=1, seed=0, directory=sys.argv[1], project_name="p", overwrite=False)
tuner.search(x[:40], y[:40], validation_data=(x[40:], y[40:]), epochs=2, batch_size=8, verbose=0)
print("trials:", len(tuner.oracle.trials))
"""


def test_python_script_killed_twice_resumes_with_overwrite_false(tmp_path):
    rng = random.Random(int(time.time()) + 1)
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    log = str(tmp_path / "log.txt")
    args = [str(script), str(tmp_path), str(MAX_TRIALS)]
    project_dir = str(tmp_path / "p")
    completed_before = kill_twice_then_finish(args, project_dir, log, rng)
    check_nothing_lost(project_dir, completed_before)
    assert f"trials: {MAX_TRIALS}" in open(log).read()
