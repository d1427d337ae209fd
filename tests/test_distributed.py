"""Keras Tuner's chief/worker mode with our oracle on the chief, on loopback
(slow: four TensorFlow processes; 14 min on the shared, heavily loaded
2-core development CPU, where importing TensorFlow alone took ~3 min).

A chief and two workers complete a search. Worker 1 is SIGKILLed mid-trial
and never comes back: its trial is re-queued after `trial_lease_seconds` and
run by worker 0. Worker 0 is SIGKILLed in the middle of that very trial and
restarted with the same KERASTUNER_TUNER_ID: it gets the trial back. The
chief then exits; every trial ended exactly once.
"""

import os
import re
import socket

import pytest

from _processes import check_project
from _processes import finish
from _processes import kill
from _processes import start
from _processes import tail
from _processes import wait_for

pytestmark = pytest.mark.slow

MAX_TRIALS = 8
LEASE_SECONDS = 30

SCRIPT = """
import os
import sys
import time
import keras
import numpy as np
from keras_nas_plus import RegularizedEvolution

class Logged(RegularizedEvolution):
    def on_trial_begin(self, trial):
        print("BEGIN", self.tuner_id, trial.trial_id, flush=True)
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        print("END", self.tuner_id, trial.trial_id, flush=True)

def build(hp):
    inputs = keras.Input((8, 8))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(hp.Int("units", 4, 64, step=4), activation=hp.Choice("act", ["relu", "tanh"]))(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

class SlowFit(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(float(os.environ.get("EPOCH_SECONDS", "0")))

rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=60)
x = rng.random((60, 8, 8)).astype("float32") + y[:, None, None]
tuner = Logged(build, objective="val_accuracy", max_trials=int(sys.argv[2]), population_size=3, sample_size=2,
               seed=0, directory=sys.argv[1], project_name="p", trial_lease_seconds=float(sys.argv[3]),
               heartbeat_seconds=1.0)
tuner.search(x[:40], y[:40], validation_data=(x[40:], y[40:]), epochs=2, batch_size=8, verbose=0,
             callbacks=[SlowFit()])
print("DONE", tuner.tuner_id, flush=True)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def events(log_path):
    text = open(log_path).read() if os.path.exists(log_path) else ""
    return re.findall(r"^(BEGIN|END) (\S+) (\S+)$", text, flags=re.M)


def test_chief_and_two_workers_survive_killed_workers(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    port = str(free_port())
    args = [str(script), str(tmp_path), str(MAX_TRIALS), str(LEASE_SECONDS)]
    common = dict(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port, EPOCH_SECONDS="1")
    logs = {name: str(tmp_path / f"{name}.log") for name in ("chief", "worker0", "worker1")}
    chief = start(args, logs["chief"], KERASTUNER_TUNER_ID="chief", **common)
    workers = {name: start(args, logs[name], KERASTUNER_TUNER_ID=name, **common) for name in ("worker0", "worker1")}
    try:
        # worker1 is killed mid-trial and never comes back
        wait_for(lambda: len([e for e in events(logs["worker1"]) if e[0] == "BEGIN"]) >= 2, workers["worker1"], timeout=900,
                 what="worker1's second trial", log_path=logs["worker1"])
        killed_trial = [e for e in events(logs["worker1"]) if e[0] == "BEGIN"][-1][2]
        kill(workers["worker1"])
        # after the lease, worker0 gets that trial; it is killed in the middle
        wait_for(lambda: ("BEGIN", "worker0", killed_trial) in events(logs["worker0"]), workers["worker0"],
                 timeout=900, what=f"worker0 to take trial {killed_trial} over", log_path=logs["worker0"])
        kill(workers["worker0"])
        with open(logs["worker0"], "a") as f:
            f.write("KILLED\n")
        workers["worker0"] = start(args, logs["worker0"], KERASTUNER_TUNER_ID="worker0", **common)
        finish(workers["worker0"], timeout=900, log_path=logs["worker0"])
        finish(chief, timeout=120, log_path=logs["chief"])
    finally:
        for proc in [chief] + list(workers.values()):
            if proc.poll() is None:
                kill(proc)
    worker0 = open(logs["worker0"]).read()
    after_restart = worker0.split("KILLED\n", 1)[1]
    assert "re-queued" in tail(logs["chief"], 20000)
    # the restarted worker0 got its trial back first
    assert re.findall(r"^BEGIN worker0 (\S+)$", after_restart, flags=re.M)[0] == killed_trial, worker0
    ended = [e[2] for name in ("worker0", "worker1") for e in events(logs[name]) if e[0] == "END"]
    state, trials = check_project(str(tmp_path / "p"), MAX_TRIALS)
    assert sorted(ended) == sorted(trials)  # every trial ended once, none twice
    assert "DONE worker0" in worker0
