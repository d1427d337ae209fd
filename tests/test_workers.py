"""`search.workers`: several trials at once through Keras Tuner's chief/worker
mode on one machine (keras_nas_plus/_workers.py, keras_nas_plus/engine/chief.py).

The fast tests drive `ChiefMonitor` directly with a real tuner and oracle, a
fake clock and fake worker processes (`poll()` only), check the config key,
the chief's environment, `quiet_condition_prints`, and `serve` over a real
loopback gRPC connection with an in-process client as the worker. The slow
test runs `keras-nas-plus search` with two worker processes (about 1 min in
all on the loaded 2-core development CPU).
"""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import types
import warnings

import keras
import keras_tuner as kt
import pytest
import yaml

from keras_nas_plus import RandomSearch
from keras_nas_plus import RegularizedEvolution
from keras_nas_plus import _workers
from keras_nas_plus import cli
from keras_nas_plus import run
from keras_nas_plus.config import ConfigError
from keras_nas_plus.config import validate_config
from keras_nas_plus.engine import chief
from keras_nas_plus.engine import tuner as tuner_module
from test_config_cli import tiny_config

core = pytest.mark.core

MAX_TRIALS = 10  # trial ids are then "00", "01", ...
OPS = ["conv3x3", "maxpool3x3"]


# ----------------------------------------------------------------- helpers
def build(hp):
    """A tiny conditional space (like the macro space's op -> filters)."""
    op = hp.Choice("op", OPS)
    units = 2
    with hp.conditional_scope("op", ["conv3x3"]):
        if op == "conv3x3":
            units = hp.Int("units", 2, 32, step=2)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def make_tuner(tmp_path, strategy="evolution", **kwargs):
    if strategy == "evolution":
        cls, extra = RegularizedEvolution, dict(population_size=3, sample_size=2)
    else:
        cls, extra = RandomSearch, {}
    tuner = cls(build, objective="val_accuracy", max_trials=MAX_TRIALS, seed=0, directory=str(tmp_path),
                project_name=f"p_{strategy}", latency_runs=0, **extra, **kwargs)
    tuner.oracle.verbose = 0  # no Keras Tuner display: only the chief's own lines print
    return tuner


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class FakeProcess:
    """What `ChiefMonitor` uses of a `subprocess.Popen`: `poll()`."""

    def __init__(self, returncode=None):
        self.returncode = returncode
        self.polls = 0

    def poll(self):
        self.polls += 1
        return self.returncode


def complete(oracle, trial, score=0.5):
    """What a worker reports when its trial completes."""
    oracle.update_trial(trial.trial_id, {"val_accuracy": score})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def user_warnings(records):
    return [str(w.message) for w in records if issubclass(w.category, UserWarning)]


# ------------------------------------------------------------------ config
@core
@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True, None])
def test_config_rejects_bad_workers(value):
    with pytest.raises(ConfigError, match=r"search\.workers"):
        validate_config({"search": {"workers": value}})


@core
def test_config_workers_default_and_valid_values():
    assert validate_config({})["search"]["workers"] == 1
    assert validate_config({"search": {"workers": 1}})["search"]["workers"] == 1
    assert validate_config({"search": {"workers": 4}})["search"]["workers"] == 4


# ------------------------------------------------------ time budget (chief)
@core
@pytest.mark.parametrize("strategy", ["evolution", "random"])
def test_budget_stops_new_trials_once_left_is_below_median_duration(tmp_path, capsys, strategy):
    clock = FakeClock()
    tuner = make_tuner(tmp_path, strategy, time_budget=100)
    oracle = tuner.oracle
    monitor = chief.ChiefMonitor(tuner, {"worker0": FakeProcess()}, clock=clock)
    assert monitor.deadline == 1100.0
    # duration, then (time left, median_high of the durations so far) after it:
    # 20 -> (80, 20); 40 -> (40, 40: not below); 10 -> (30, 20); 12 -> (18, 20: stop).
    # The last duration (12) is below what is left, the maximum (40) was above
    # it two trials earlier: only the median stops here.
    durations = [20, 40, 10, 12]
    for i, seconds in enumerate(durations):
        trial = oracle.create_trial("worker0")
        assert trial.status == "RUNNING", i
        assert monitor.poll() is False
        clock.advance(seconds)
        complete(oracle, trial)
        assert monitor.poll() is False
        if i < len(durations) - 1:
            assert not tuner.budget_exhausted, i
            assert oracle.max_trials == MAX_TRIALS, i
    assert monitor.trial_seconds == durations
    assert clock.now == 1082.0
    assert tuner.budget_exhausted is True
    assert len(oracle.trials) == 4
    assert oracle.max_trials == 4
    for tuner_id in ("worker0", "worker1"):
        assert oracle.create_trial(tuner_id).status == "STOPPED"
    assert len(oracle.trials) == 4
    assert oracle.tuner_ids == set()
    assert capsys.readouterr().out == ""  # progress is off


@core
def test_budget_keeps_running_trials_and_counts_them_when_they_end(tmp_path):
    clock = FakeClock()
    tuner = make_tuner(tmp_path, time_budget=60)
    oracle = tuner.oracle
    monitor = chief.ChiefMonitor(tuner, {"worker0": FakeProcess(), "worker1": FakeProcess()}, clock=clock)
    first = oracle.create_trial("worker0")
    monitor.poll()
    clock.advance(10)
    second = oracle.create_trial("worker1")
    monitor.poll()
    clock.advance(40)  # first took 50 s: 10 s left < 50 s
    complete(oracle, first)
    monitor.poll()
    assert tuner.budget_exhausted and oracle.max_trials == 2
    assert oracle.create_trial("worker0").status == "STOPPED"
    assert oracle.ongoing_trials["worker1"].trial_id == second.trial_id  # still runs
    clock.advance(30)
    complete(oracle, second, 0.75)
    monitor.poll()
    assert monitor.trial_seconds == [50.0, 70.0]
    assert [oracle.trials[t].status for t in oracle.end_order] == ["COMPLETED", "COMPLETED"]


@core
def test_no_budget_never_stops(tmp_path):
    clock = FakeClock()
    tuner = make_tuner(tmp_path)
    monitor = chief.ChiefMonitor(tuner, None, clock=clock)
    assert monitor.deadline is None
    trial = tuner.oracle.create_trial("worker0")
    clock.advance(10 ** 6)
    complete(tuner.oracle, trial)
    assert monitor.poll() is False  # no local processes: never "all exited"
    assert not tuner.budget_exhausted and tuner.oracle.max_trials == MAX_TRIALS
    assert tuner.oracle.create_trial("worker0").status == "RUNNING"


@core
def test_budget_spent_before_any_trial_starts_exactly_one(tmp_path):
    # Keras Tuner reads max_trials=0 as "no limit": the chief lets one trial run, then stops.
    clock = FakeClock()
    tuner = make_tuner(tmp_path, time_budget=5)
    monitor = chief.ChiefMonitor(tuner, {"worker0": FakeProcess()}, clock=clock)
    clock.advance(6)  # the workers were still importing their framework
    monitor.poll()
    assert tuner.budget_exhausted
    statuses = []
    for _ in range(MAX_TRIALS + 2):
        trial = tuner.oracle.create_trial("worker0")
        statuses.append(trial.status)
        if trial.status != "RUNNING":
            break
        complete(tuner.oracle, trial)
        monitor.poll()
    assert statuses == ["RUNNING", "STOPPED"], statuses
    assert tuner.oracle.max_trials == 1


# ---------------------------------------------------------- dead workers
@core
def test_worker_dying_mid_trial_fails_that_trial_and_others_go_on(tmp_path):
    clock = FakeClock()
    tuner = make_tuner(tmp_path)
    oracle = tuner.oracle
    processes = {"worker0": FakeProcess(), "worker1": FakeProcess()}
    logs = {k: str(tmp_path / "workers" / f"{k}.log") for k in processes}
    monitor = chief.ChiefMonitor(tuner, processes, logs, clock=clock)
    held0 = oracle.create_trial("worker0")
    held1 = oracle.create_trial("worker1")
    assert (held0.trial_id, held1.trial_id) == ("00", "01")
    assert monitor.poll() is False
    assert oracle.tuner_ids == {"worker0", "worker1"}

    processes["worker0"].returncode = 137  # SIGKILLed (out of memory)
    clock.advance(3)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        assert monitor.poll() is False  # worker1 still runs
    message = f"worker 'worker0' exited with code 137 during this trial (its log: {logs['worker0']})"
    assert user_warnings(records) == [f"Trial 00 failed: {message}."]
    failed = oracle.trials["00"]
    assert failed.status == "FAILED"
    assert failed.message == message
    assert failed.score is None
    assert oracle.end_order == ["00"]
    assert oracle.tuner_ids == {"worker1"}
    assert list(oracle.ongoing_trials) == ["worker1"]
    assert oracle.trials["01"].status == "RUNNING"
    assert monitor.exited == {"worker0": 137}
    assert monitor.trial_seconds == [3.0]
    # the failure is on disk too (a restarted chief sees it)
    saved = json.load(open(tmp_path / "p_evolution" / "trial_00" / "trial.json"))
    assert saved["status"] == "FAILED" and "code 137" in saved["message"]

    # the search goes on: worker1 finishes its trial and gets another one
    complete(oracle, held1, 0.5)
    nxt = oracle.create_trial("worker1")
    assert nxt.status == "RUNNING" and nxt.trial_id == "02"
    assert monitor.poll() is False
    complete(oracle, nxt, 0.25)
    processes["worker1"].returncode = 0  # exits normally, holding nothing
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        assert monitor.poll() is True  # every local worker has exited
        assert monitor.poll() is True
    assert user_warnings(records) == []
    assert monitor.exited == {"worker0": 137, "worker1": 0}
    assert [oracle.trials[t].status for t in oracle.end_order] == ["FAILED", "COMPLETED", "COMPLETED"]
    assert oracle.get_best_trials(1)[0].trial_id == "01"
    assert oracle.ongoing_trials == {} and oracle.tuner_ids == set()
    polls = {k: p.polls for k, p in processes.items()}
    monitor.poll()
    assert {k: p.polls for k, p in processes.items()} == polls  # an exited worker is not polled again


@core
def test_worker_exiting_without_a_trial_only_warns(tmp_path):
    tuner = make_tuner(tmp_path)
    oracle = tuner.oracle
    processes = {"worker0": FakeProcess(), "worker1": FakeProcess()}
    monitor = chief.ChiefMonitor(tuner, processes, clock=FakeClock())
    trial = oracle.create_trial("worker0")
    processes["worker1"].returncode = 1  # crashed while starting: never asked for a trial
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        assert monitor.poll() is False
    assert user_warnings(records) == ["Worker 'worker1' exited with code 1."]
    assert oracle.end_order == []
    assert oracle.ongoing_trials == {"worker0": trial} and trial.status == "RUNNING"
    processes["worker0"].returncode = -9
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert monitor.poll() is True
    assert oracle.trials[trial.trial_id].status == "FAILED"
    assert "worker 'worker0' exited with code -9 during this trial" == oracle.trials[trial.trial_id].message


@core
def test_consecutive_failure_abort_in_grpc_thread_does_not_hang_the_chief(tmp_path):
    tuner = make_tuner(tmp_path, "random", max_consecutive_failed_trials=1)
    oracle = tuner.oracle
    processes = {"worker0": FakeProcess(), "worker1": FakeProcess()}
    monitor = chief.ChiefMonitor(tuner, processes, clock=FakeClock())
    trial = oracle.create_trial("worker0")
    oracle.create_trial("worker1")
    monitor.poll()
    raised = []

    def end_trial_from_grpc_thread():  # what OracleServicer.EndTrial does
        trial.status, trial.message = "FAILED", "out of memory"
        try:
            oracle.end_trial(trial)
        except RuntimeError as e:
            raised.append(str(e))

    worker_side = threading.Thread(target=end_trial_from_grpc_thread)
    worker_side.start()
    worker_side.join(10)
    assert raised and "consecutive" in raised[0]
    processes["worker0"].returncode = 1  # the worker died of the RPC error
    returned = []

    def poll():
        try:
            returned.append(monitor.poll())
        except RuntimeError as e:  # the chief ends the search with the oracle's reason
            returned.append(str(e))

    poller = threading.Thread(target=poll, daemon=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        poller.start()
        poller.join(3)
    assert returned == [raised[0]], "ChiefMonitor.poll() blocked on the oracle lock"
    assert oracle.abort_reason == raised[0]
    # The lock was released: the oracle still answers another thread.
    assert oracle.create_trial("worker1").trial_id == "01"


# ------------------------------------------------------------ progress lines
@core
def test_progress_lines_name_trial_duration_and_best(tmp_path, capsys, monkeypatch):
    clock = FakeClock()
    # `NASTuner._progress_line` reads `time.time()` of engine/tuner.py: the same fake clock.
    monkeypatch.setattr(tuner_module, "time", types.SimpleNamespace(time=clock, sleep=time.sleep))
    tuner = make_tuner(tmp_path, progress=True, time_budget=100)
    oracle = tuner.oracle
    processes = {"worker0": FakeProcess(), "worker1": FakeProcess()}
    monitor = chief.ChiefMonitor(tuner, processes, clock=clock)
    first = oracle.create_trial("worker0")
    monitor.poll()
    clock.advance(5)
    second = oracle.create_trial("worker1")
    monitor.poll()
    assert capsys.readouterr().out == ""  # nothing before a trial ends

    clock.advance(25)
    complete(oracle, first, 0.25)
    monitor.poll()
    assert capsys.readouterr().out == (
        "[1/10] trial 00 completed in 30 s: val_accuracy=0.2500; best so far 0.2500 (trial 00)\n")

    clock.advance(12)
    second.status, second.message = "FAILED", "boom"
    oracle.end_trial(second)
    monitor.poll()
    assert capsys.readouterr().out == (
        "[2/10] trial 01 failed in 37 s: val_accuracy=failed; best so far 0.2500 (trial 00)\n")
    assert monitor.trial_seconds == [30.0, 37.0]

    third = oracle.create_trial("worker1")
    monitor.poll()
    clock.advance(20)  # 62 s used, 38 left >= median_high(30, 37, 20) = 30: goes on
    complete(oracle, third, 0.5)
    monitor.poll()
    assert capsys.readouterr().out == (
        "[3/10] trial 02 completed in 20 s: val_accuracy=0.5000; best so far 0.5000 (trial 02)\n")
    assert not tuner.budget_exhausted

    clock.advance(5)  # 33 s left >= 30
    monitor.poll()
    assert not tuner.budget_exhausted and capsys.readouterr().out == ""
    clock.advance(5)  # 28 s left < 30
    monitor.poll()
    assert capsys.readouterr().out == (
        "Time budget of 100 s nearly spent (28 s left, a trial takes about 30 s): no new trials.\n")
    assert tuner.budget_exhausted and oracle.max_trials == 3
    monitor.poll()
    assert capsys.readouterr().out == ""  # said once
    clock.advance(100)
    monitor.poll()
    assert capsys.readouterr().out == ""


@core
def test_progress_line_when_the_budget_is_over(tmp_path, capsys):
    clock = FakeClock()
    tuner = make_tuner(tmp_path, progress=True, time_budget=50)
    monitor = chief.ChiefMonitor(tuner, {"worker0": FakeProcess()}, clock=clock)
    trial = tuner.oracle.create_trial("worker0")
    monitor.poll()
    clock.advance(50)
    monitor.poll()
    assert capsys.readouterr().out == "Time budget of 50 s reached: no new trials.\n"
    assert tuner.oracle.max_trials == 1
    complete(tuner.oracle, trial)


@core
def test_progress_duration_uses_the_monitors_clock(tmp_path, capsys):
    clock = FakeClock()
    tuner = make_tuner(tmp_path, progress=True)
    monitor = chief.ChiefMonitor(tuner, {"worker0": FakeProcess()}, clock=clock)
    trial = tuner.oracle.create_trial("worker0")
    monitor.poll()
    clock.advance(30)
    complete(tuner.oracle, trial)
    monitor.poll()
    assert "trial 00 completed in 30 s" in capsys.readouterr().out


@core
def test_progress_counter_of_trials_ending_in_one_poll(tmp_path, capsys, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(tuner_module, "time", types.SimpleNamespace(time=clock, sleep=time.sleep))
    tuner = make_tuner(tmp_path, progress=True)
    monitor = chief.ChiefMonitor(tuner, {"worker0": FakeProcess(), "worker1": FakeProcess()}, clock=clock)
    first = tuner.oracle.create_trial("worker0")
    second = tuner.oracle.create_trial("worker1")
    monitor.poll()
    clock.advance(10)
    complete(tuner.oracle, first)
    complete(tuner.oracle, second)
    monitor.poll()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" trial ")[0] for line in lines] == ["[1/10]", "[2/10]"], lines


# ------------------------------------------------------- condition prints
def _conditional_trial():
    hp = kt.HyperParameters()
    hp.Choice("op", OPS)
    with hp.conditional_scope("op", ["conv3x3"]):
        hp.Int("units", 2, 32, step=2)
    return kt.engine.trial.Trial(hp, trial_id="7", status="RUNNING")


@core
def test_quiet_condition_prints_drops_only_the_conversion_print(capsys):
    pytest.importorskip("google.protobuf")
    trial = _conditional_trial()
    trial.to_proto()
    if capsys.readouterr().out != "conv3x3\n":
        pytest.skip("this Keras Tuner does not print in conditions.Parent.to_proto")
    stdout = sys.stdout
    with chief.quiet_condition_prints():
        assert sys.stdout is not stdout
        proto = trial.to_proto()
        print("chief line", flush=True)
        sys.stdout.write("written\n")
    assert sys.stdout is stdout
    assert capsys.readouterr().out == "chief line\nwritten\n"
    assert proto.trial_id == "7"
    again = kt.engine.trial.Trial.from_proto(proto)
    assert again.hyperparameters.values == trial.hyperparameters.values
    # outside the context Keras Tuner's print is back (nothing stays silenced)
    trial.to_proto()
    assert capsys.readouterr().out == "conv3x3\n"
    # and it nests / re-enters cleanly
    with chief.quiet_condition_prints():
        with chief.quiet_condition_prints():
            trial.to_proto()
        trial.to_proto()
        print("after nested")
    assert sys.stdout is stdout
    assert capsys.readouterr().out == "after nested\n"


@core
def test_quiet_condition_prints_keeps_other_threads_output(capsys, monkeypatch):
    """While a (gRPC) thread is inside `Parent.to_proto`, the main thread still prints."""
    pytest.importorskip("google.protobuf")
    from keras_tuner.src import protos
    from keras_tuner.src.engine import conditions

    inside, go = threading.Event(), threading.Event()
    get_proto = protos.get_proto

    def blocking_get_proto():  # Parent.to_proto calls it after its print
        if threading.current_thread().name == "converter" and not inside.is_set():
            inside.set()
            assert go.wait(10)
        return get_proto()

    monkeypatch.setattr(protos, "get_proto", blocking_get_proto)
    results = []

    def convert():
        results.append(conditions.Parent("op", ["conv3x3"]).to_proto())
        print("converter after", flush=True)

    with chief.quiet_condition_prints():
        converter = threading.Thread(target=convert, name="converter")
        converter.start()
        assert inside.wait(10)  # the converter is silenced right now
        print("chief progress line", flush=True)
        go.set()
        converter.join(10)
    assert not converter.is_alive()
    assert results[0].parent.name == "op"
    assert capsys.readouterr().out == "chief progress line\nconverter after\n"


# ------------------------------------------------- environment and processes
@core
def test_chief_environment_sets_and_restores(monkeypatch):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "10.0.0.1")
    monkeypatch.delenv("KERASTUNER_TUNER_ID", raising=False)
    monkeypatch.delenv("KERASTUNER_ORACLE_PORT", raising=False)
    with pytest.raises(KeyError):
        with _workers.chief_environment(12345):
            assert os.environ["KERASTUNER_TUNER_ID"] == "chief"
            assert os.environ["KERASTUNER_ORACLE_IP"] == "127.0.0.1"
            assert os.environ["KERASTUNER_ORACLE_PORT"] == "12345"
            from keras_tuner.src.distribute import utils as dist_utils

            assert dist_utils.is_chief_oracle()
            raise KeyError("boom")
    assert os.environ["KERASTUNER_ORACLE_IP"] == "10.0.0.1"
    assert "KERASTUNER_TUNER_ID" not in os.environ
    assert "KERASTUNER_ORACLE_PORT" not in os.environ


@core
def test_free_port_is_bindable():
    import socket

    port = _workers.free_port()
    assert 0 < port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


@core
def test_stop_workers_terminates_running_ones_only():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        done.wait(30)
        _workers.stop_workers({"worker0": sleeper, "worker1": done}, timeout=30)
        assert sleeper.returncode == -signal.SIGTERM
        assert done.returncode == 0
        _workers.stop_workers({})  # nothing to do
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()


@core
def test_run_search_refuses_workers_under_an_outer_chief_worker_setup(tmp_path, monkeypatch, capsys):
    config = validate_config(tiny_config(tmp_path, workers=2))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    monkeypatch.delenv("KERASTUNER_ORACLE_IP", raising=False)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a process or port was set up before the check")

    monkeypatch.setattr(_workers, "start_workers", must_not_run)
    monkeypatch.setattr(_workers, "free_port", must_not_run)
    with pytest.raises(run.RunError, match="KERASTUNER_TUNER_ID") as info:
        run.run_search(config)
    assert "search.workers" in str(info.value)
    assert not (tmp_path / "run").exists()
    assert os.environ["KERASTUNER_TUNER_ID"] == "tuner0"
    assert "KERASTUNER_ORACLE_IP" not in os.environ
    # the command line says it in one line, exit code 1
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config(tmp_path, workers=2)))
    code = cli.main(["search", str(path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "KERASTUNER_TUNER_ID" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


# ------------------------------------------------ serve over real gRPC
@core
def test_serve_with_an_in_process_worker_over_grpc(tmp_path, capsys):
    pytest.importorskip("grpc")
    import grpc
    from keras_tuner.src.distribute import oracle_client

    tuner = make_tuner(tmp_path, progress=True)
    tuner.oracle.max_trials = 3
    processes = {"worker0": FakeProcess(), "worker1": FakeProcess()}
    port = _workers.free_port()
    served, errors = [], []

    def chief_thread():
        try:
            served.append(chief.serve(tuner, processes, poll_seconds=0.02))
        except BaseException as e:  # reported below
            errors.append(e)

    with _workers.chief_environment(port), pytest.warns(UserWarning, match="Trial 0 failed: worker 'worker1'"):
        thread = threading.Thread(target=chief_thread, name="chief", daemon=True)  # never blocks pytest's exit
        thread.start()
        grpc.channel_ready_future(grpc.insecure_channel(f"127.0.0.1:{port}")).result(timeout=30)
        client = oracle_client.OracleClient(tuner.oracle)
        # worker1 takes a trial and dies with it
        lost = client.create_trial("worker1")
        assert lost.status == "RUNNING"
        processes["worker1"].returncode = 137
        deadline = time.time() + 30
        while tuner.oracle.trials[lost.trial_id].status != "FAILED" and time.time() < deadline:
            time.sleep(0.02)
        # worker0 runs the rest through the chief
        ran = []
        while True:
            trial = client.create_trial("worker0")
            if trial.status != "RUNNING":
                break
            ran.append(trial.trial_id)
            client.update_trial(trial.trial_id, {"val_accuracy": 0.5 + len(ran) / 10})
            trial.status = "COMPLETED"
            client.end_trial(trial)
        thread.join(30)
    assert not thread.is_alive() and not errors, errors
    assert trial.status == "STOPPED"
    assert ran == ["1", "2"]
    oracle = tuner.oracle
    assert oracle.trials[lost.trial_id].status == "FAILED"
    assert "worker 'worker1' exited with code 137" in oracle.trials[lost.trial_id].message
    assert [oracle.trials[t].status for t in oracle.end_order] == ["FAILED", "COMPLETED", "COMPLETED"]
    assert oracle.get_best_trials(1)[0].trial_id == "2"
    assert served[0].exited == {"worker1": 137}
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [re.match(r"\[\d/3\] trial (\d) (\w+) in", line).groups() for line in lines] == [
        ("0", "failed"), ("1", "completed"), ("2", "completed")], out
    assert "conv3x3" not in out  # the chief's conversions print nothing


@core
@pytest.mark.parametrize("strategy", ["evolution", "random"])
def test_serve_gets_worker_messages_and_ends_the_search_on_consecutive_failures(tmp_path, strategy):
    # Keras Tuner's gRPC messages carry no trial.message: the worker leaves it next to the trial.
    # Rejected trials (a hard constraint) then do not count as failures on the chief either.
    pytest.importorskip("grpc")
    import grpc
    from keras_tuner.src.distribute import oracle_client

    from keras_nas_plus.engine.tuner import TRIAL_MESSAGE_FILE
    from keras_nas_plus.oracles.base import REJECTED_MESSAGE

    tuner = make_tuner(tmp_path, strategy, max_consecutive_failed_trials=1)
    port = _workers.free_port()
    errors = []

    def chief_thread():
        try:
            chief.serve(tuner, {"worker0": FakeProcess()}, poll_seconds=0.02)
        except BaseException as e:
            errors.append(e)

    def end_failed(client, message):
        trial = client.create_trial("worker0")
        os.makedirs(tuner.get_trial_dir(trial.trial_id), exist_ok=True)
        with open(os.path.join(tuner.get_trial_dir(trial.trial_id), TRIAL_MESSAGE_FILE), "w") as f:
            f.write(message)
        trial.status = "FAILED"
        client.end_trial(trial)
        return trial.trial_id

    with _workers.chief_environment(port):
        thread = threading.Thread(target=chief_thread, name="chief", daemon=True)
        thread.start()
        grpc.channel_ready_future(grpc.insecure_channel(f"127.0.0.1:{port}")).result(timeout=30)
        client = oracle_client.OracleClient(tuner.oracle)
        rejected = [end_failed(client, f"{REJECTED_MESSAGE}: num_params=9 > max_params=1") for _ in range(2)]
        crashed = end_failed(client, "Traceback ...\nResourceExhaustedError: out of memory")
        thread.join(30)
    assert not thread.is_alive()
    oracle = tuner.oracle
    assert [oracle.trials[t].message.startswith(REJECTED_MESSAGE) for t in rejected] == [True, True]
    assert oracle.trials[crashed].message.endswith("out of memory")
    # Two rejections in a row did not stop it; the first crash did (max_consecutive_failed_trials=1),
    # and the chief's main thread raised it.
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError), errors
    assert "out of memory" in str(errors[0]) and oracle.abort_reason == str(errors[0])


# ------------------------------------------------------ the real thing
def _write_config(tmp_path, name, **search):
    directory = tmp_path / name
    config = {
        "data": {"dataset": "fashion_mnist_sample", "validation_split": 0.15, "max_train_examples": 600},
        "space": {"type": "macro", "min_layers": 2, "max_layers": 3, "filters": [8, 16], "stem_filters": 8},
        "strategy": {"type": "evolution", "population_size": 3, "sample_size": 2},
        "search": {"max_trials": 6, "epochs": 1, "batch_size": 64, "directory": str(directory), "workers": 2,
                   "final_epochs": 1, "latency_runs": 0, "seed": 0},
    }
    config["search"].update(search)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, directory


def _cli_search(tmp_path, name, **search):
    from _processes import finish
    from _processes import start

    path, directory = _write_config(tmp_path, name, **search)
    log = str(tmp_path / f"{name}.log")
    finish(start(["-m", "keras_nas_plus.cli", "search", str(path), "--overwrite"], log), timeout=600,
           log_path=log)  # exit code 0
    results = json.load(open(directory / "results.json"))
    return results, open(log).read(), directory


def _worker_trials(directory):
    trials = {}
    for k in (0, 1):
        path = directory / "workers" / f"worker{k}.log"
        assert path.exists(), path
        trials[k] = re.findall(r"trial (\d+) completed in", path.read_text())
    return trials


def _stray_condition_prints(text):
    ops = "conv3x3|conv5x5|sepconv3x3|sepconv5x5|maxpool3x3|avgpool3x3|identity"
    return re.findall(rf"^(?:{ops}|\d+)$", text, flags=re.M)


@pytest.mark.slow
def test_cli_search_with_two_workers(tmp_path):
    from _processes import check_project

    results, out, directory = _cli_search(tmp_path, "six")
    assert "Starting 2 worker processes" in out
    assert results["num_trials"] == 6
    ids = [t["trial_id"] for t in results["trials"]]
    assert sorted(ids) == [str(i) for i in range(6)]
    assert all(t["status"] == "COMPLETED" and t["score"] is not None for t in results["trials"])
    assert results["time_budget_reached"] is False
    assert results["best_trial_id"] in ids
    assert results["final_phase"]["epochs_trained"] == 1
    assert (directory / "best_model.keras").exists()
    check_project(str(directory / "trials"), 6)  # each trial ended exactly once, nothing left running
    # both workers ran trials, each trial ran in exactly one worker
    trials = _worker_trials(directory)
    assert trials[0] and trials[1], trials
    assert not set(trials[0]) & set(trials[1])
    assert sorted(trials[0] + trials[1], key=int) == ids
    # the chief printed one progress line per trial and no stray condition values
    assert sorted(re.findall(r"trial (\d+) completed in", out), key=int) == ids
    assert _stray_condition_prints(out) == []
    for k in (0, 1):
        assert _stray_condition_prints((directory / "workers" / f"worker{k}.log").read_text()) == []

    # with a wall-clock budget the chief stops the search long before max_trials
    budget = 30
    results, out, directory = _cli_search(tmp_path, "budget", max_trials=200, time_budget=budget)
    assert results["time_budget_reached"] is True
    assert 1 <= results["num_trials"] < 200
    assert all(t["status"] == "COMPLETED" for t in results["trials"])  # running trials were finished
    assert f"Time budget of {budget} s" in out
    assert results["search_seconds"] < budget + 60
    worker_ids = sum(_worker_trials(directory).values(), [])
    assert sorted(worker_ids, key=int) == sorted(t["trial_id"] for t in results["trials"])


@pytest.mark.slow
def test_cli_search_with_workers_resumes_after_the_chief_is_killed(tmp_path):
    if not os.path.isdir("/proc"):
        pytest.skip("finds the worker processes through /proc")
    from _processes import check_project
    from _processes import finish
    from _processes import kill
    from _processes import start
    from _processes import wait_for

    path, directory = _write_config(tmp_path, "killed", max_trials=8, epochs=3)
    log = str(tmp_path / "killed.log")
    chief_process = start(["-m", "keras_nas_plus.cli", "search", str(path)], log)
    wait_for(lambda: len(re.findall(r"trial \d+ completed in", open(log).read())) >= 2, chief_process,
             timeout=600, what="two finished trials", log_path=log)
    worker_logs = [directory / "workers" / f"worker{k}.log" for k in (0, 1)]
    kill(chief_process)  # SIGKILL: no cleanup; its workers notice the chief is gone and exit
    finished_before = sorted(re.findall(r"trial (\d+) completed in", open(log).read()), key=int)

    def workers_gone():  # no process left whose command line runs a worker on this directory
        for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                text = open(cmdline, "rb").read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "run_worker" in text and str(directory) in text:
                return False
        return True

    wait_for(workers_gone, timeout=30, what="the orphaned workers to exit", log_path=str(worker_logs[0]))
    finish(start(["-m", "keras_nas_plus.cli", "search", str(path)], log), timeout=600, log_path=log)
    results = json.load(open(directory / "results.json"))
    assert results["num_trials"] == 8
    assert all(t["status"] == "COMPLETED" for t in results["trials"])
    check_project(str(directory / "trials"), 8)  # each trial ended exactly once
    resumed_out = open(log).read().split("Starting 2 worker processes")[-1]
    resumed = re.findall(r"trial (\d+) completed in", resumed_out)
    assert not set(finished_before) & set(resumed)  # finished trials were kept, not re-run
    assert sorted(finished_before + resumed, key=int) == [str(i) for i in range(8)]
