"""Reliability of our oracles: resume after a kill at any point, trial leases
for distributed workers, failure policy, determinism (fast, no training).

Kills are simulated by raising a `BaseException` at the N-th state write
(every write point is tried) or inside a trial; SIGKILL tests of real
processes are in tests/test_kill_resume.py (slow).
"""

import json
import math
import os

import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus.oracles import PARENT_KEY
from keras_nas_plus.oracles import RegularizedEvolutionOracle
from keras_nas_plus import _io
from keras_nas_plus.oracles import base

pytestmark = pytest.mark.core

MAX_TRIALS = 12


def toy_space():
    hp = kt.HyperParameters()
    for i in range(6):
        hp.Choice(f"d{i}", [0, 1, 2, 3])
    hp.Float("lr", 1e-3, 1e-1, sampling="log")
    return hp


def toy_score(values):
    return float(sum(values[f"d{i}"] == i % 4 for i in range(6))) + values["lr"]


def evolution(seed=0, **kwargs):
    kwargs.setdefault("max_trials", MAX_TRIALS)
    return RegularizedEvolutionOracle(
        objective=kt.Objective("score", "max"), population_size=4, sample_size=2, seed=seed,
        hyperparameters=toy_space(), **kwargs)


#: Each of our oracles, built from a seed.
ORACLES = {"evolution": evolution}

try:  # the RL controller joins once it is on main
    from keras_nas_plus.oracles.rl import RLControllerOracle
except ImportError:  # pragma: no cover
    RLControllerOracle = None
if RLControllerOracle is not None:
    def rl(seed=0, **kwargs):
        kwargs.setdefault("max_trials", MAX_TRIALS)
        return RLControllerOracle(objective=kt.Objective("score", "max"), batch_size=2, seed=seed,
                                  hyperparameters=toy_space(), **kwargs)

    ORACLES["rl"] = rl


class Killed(BaseException):
    """Stands for SIGKILL: nothing after the raise point runs."""


def drive(oracle, score_fn=toy_score, tuner_id="tuner0", before_each=None):
    """Runs trials sequentially as Keras Tuner's search loop does."""
    while True:
        if before_each is not None:
            before_each()
        trial = oracle.create_trial(tuner_id)
        if trial.status != "RUNNING":
            return
        score = score_fn(trial.hyperparameters.values)
        oracle.update_trial(trial.trial_id, {"score": score})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)


def fresh(factory, directory):
    oracle = factory()
    oracle.verbose = 0
    oracle._set_project_dir(str(directory), "p")
    return oracle


def reference(factory, directory):
    oracle = fresh(factory, directory)
    drive(oracle)
    return oracle


def trial_files(directory):
    """trial_id -> state of each readable trial.json on disk."""
    found = {}
    project = os.path.join(str(directory), "p")
    for name in os.listdir(project):
        fname = os.path.join(project, name, "trial.json")
        if name.startswith("trial_") and os.path.exists(fname):
            state = json.load(open(fname))
            found[state["trial_id"]] = state
    return found


def check_consistent(oracle, expected, same_proposals=True):
    """The resumed search ended like the uninterrupted one, with no loss.

    `same_proposals=False`: only the bookkeeping is checked, not that the
    proposals equal the uninterrupted run's.
    """
    assert sorted(oracle.trials) == sorted(expected.trials)
    assert len(oracle.trials) == MAX_TRIALS
    assert sorted(oracle.end_order) == sorted(oracle.trials)  # each ended exactly once
    assert len(set(oracle.start_order)) == len(oracle.start_order) == MAX_TRIALS
    assert oracle.ongoing_trials == {} and oracle._retry_queue == []
    for trial_id, trial in oracle.trials.items():
        assert trial.status == "COMPLETED"
        if same_proposals:
            assert trial.hyperparameters.values == expected.trials[trial_id].hyperparameters.values
            assert trial.score == pytest.approx(expected.trials[trial_id].score)
    if hasattr(oracle, "population") and same_proposals:
        assert [t.trial_id for t in oracle.population()] == [t.trial_id for t in expected.population()]
    # the saved state reloads to the same bookkeeping
    json.dumps(oracle.get_state())


def _writers():
    """Every loaded keras_nas_plus.strategies module that writes state files."""
    import sys

    return [m for name, m in sorted(sys.modules.items())
            if name.startswith("keras_nas_plus.strategies") and hasattr(m, "atomic_write_text")]


def patch_writes(monkeypatch, fn):
    for module in _writers():
        monkeypatch.setattr(module, "atomic_write_text", fn)


def count_writes(factory, directory, monkeypatch):
    """Write calls of an uninterrupted run, and where each trial's start."""
    calls, starts = [], []
    real = _io.atomic_write_text

    def counting(path, text):
        calls.append(path)
        real(path, text)

    patch_writes(monkeypatch, counting)
    drive(fresh(factory, directory), before_each=lambda: starts.append(len(calls)))
    patch_writes(monkeypatch, real)
    return len(calls), starts


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_kill_at_each_kind_of_state_write_then_resume(tmp_path, monkeypatch, name):
    """Every write (trial file / oracle.json, in create, update and end) of
    the first trial, the first child and the last trial."""
    kill_and_resume(tmp_path, monkeypatch, ORACLES[name], trials=(0, 4, MAX_TRIALS - 1))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ORACLES))
def test_kill_at_every_state_write_then_resume(tmp_path, monkeypatch, name):
    """All ~6 x 12 write points (about 90 s on a loaded 2-core CPU)."""
    kill_and_resume(tmp_path, monkeypatch, ORACLES[name], trials=range(MAX_TRIALS))


def kill_and_resume(tmp_path, monkeypatch, factory, trials):
    expected = reference(factory, tmp_path / "ref")
    total, starts = count_writes(factory, tmp_path / "count", monkeypatch)
    assert len(starts) == MAX_TRIALS + 1 and total >= 3 * MAX_TRIALS
    real = _io.atomic_write_text
    keep = []  # keep killed oracles alive: Keras Tuner's locks are keyed by object
    bounds = starts[1:] + [total]
    points = [k + 1 for j in trials for k in range(starts[j], bounds[j])]
    for kill_at in points:
        directory = tmp_path / f"k{kill_at}"
        calls = []

        def dying(path, text, calls=calls, kill_at=kill_at):
            calls.append(path)
            if len(calls) == kill_at:
                raise Killed(path)
            real(path, text)

        patch_writes(monkeypatch, dying)
        killed = fresh(factory, directory)
        keep.append(killed)
        with pytest.raises(Killed):
            drive(killed)
        patch_writes(monkeypatch, real)
        before = {k: v for k, v in trial_files(directory).items() if v["status"] == "COMPLETED"}

        resumed = fresh(factory, directory)
        fallback = not os.path.exists(os.path.join(str(directory), "p", "oracle.json"))
        with _maybe_warns(directory):
            resumed.reload()
        drive(resumed)
        # Rebuilt from the trial files alone, the RL controller restarts
        # from its initial policy (its weights live in oracle.json only).
        check_consistent(resumed, expected, same_proposals=not (fallback and factory is ORACLES.get("rl")))
        for trial_id, state in before.items():  # no completed trial lost or re-run
            assert resumed.trials[trial_id].score == state["score"]
            assert resumed._run_times[trial_id] == 1


class _maybe_warns:
    """Expects the 'missing or unreadable' warning iff oracle.json is absent."""

    def __init__(self, directory):
        self.expect = not os.path.exists(os.path.join(str(directory), "p", "oracle.json"))

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self.records = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        found = any("missing or unreadable" in str(w.message) for w in self.records)
        assert found == self.expect
        return False


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_kill_mid_trial_retries_the_trial_in_flight(tmp_path, name):
    factory = ORACLES[name]
    expected = reference(factory, tmp_path / "ref")
    for kill_in in (0, 3, 4, MAX_TRIALS - 1):
        directory = tmp_path / f"t{kill_in}"
        done = []

        def score(values, done=done, kill_in=kill_in):
            if len(done) == kill_in:
                raise Killed()
            done.append(values)
            return toy_score(values)

        with pytest.raises(Killed):
            drive(fresh(factory, directory), score_fn=score)
        in_flight = trial_files(directory)[f"{kill_in:02d}"]
        assert in_flight["status"] == "RUNNING"
        resumed = fresh(factory, directory)
        resumed.reload()
        assert resumed._retry_queue == [f"{kill_in:02d}"]
        drive(resumed)
        check_consistent(resumed, expected)
        # the retried trial kept its id and values
        assert resumed.trials[f"{kill_in:02d}"].hyperparameters.values == in_flight["hyperparameters"]["values"]


def test_truncated_oracle_json_falls_back_to_trial_files(tmp_path):
    expected = reference(evolution, tmp_path / "ref")
    killed = fresh(evolution, tmp_path / "run")
    done = []

    def score(values):
        if len(done) == 7:
            raise Killed()
        done.append(1)
        return toy_score(values)

    with pytest.raises(Killed):
        drive(killed, score_fn=score)
    fname = os.path.join(str(tmp_path / "run"), "p", "oracle.json")
    text = open(fname).read()
    open(fname, "w").write(text[: len(text) // 2])  # an older, non-atomic crash
    resumed = fresh(evolution, tmp_path / "run")
    with pytest.warns(UserWarning, match=r"oracle\.json is missing or unreadable .*Rebuilding the oracle from the trial files"):
        resumed.reload()
    assert sorted(resumed.end_order) == [f"{i:02d}" for i in range(7)]
    assert resumed._retry_queue == ["07"]
    drive(resumed)
    check_consistent(resumed, expected)


def test_unreadable_trial_file_is_skipped_with_a_warning(tmp_path):
    killed = fresh(evolution, tmp_path)
    drive(killed)
    project = os.path.join(str(tmp_path), "p")
    open(os.path.join(project, "oracle.json"), "w").write("{")
    open(os.path.join(project, "trial_03", "trial.json"), "w").write("{\"trial_id\": ")
    resumed = fresh(evolution, tmp_path)
    with pytest.warns(UserWarning, match="trial_03"):
        resumed.reload()
    assert "03" not in resumed.trials and len(resumed.trials) == MAX_TRIALS - 1


# ------------------------------------------------------------- leases
def leased(max_trials=4, lease=10.0):
    oracle = evolution(max_trials=max_trials, trial_lease_seconds=lease)
    now = [0.0]
    oracle.clock = lambda: now[0]
    return oracle, now


def end(oracle, trial, score=1.0):
    oracle.update_trial(trial.trial_id, {"score": score})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def test_restarted_worker_with_same_id_gets_its_trial_back(tmp_path):
    oracle = fresh(evolution, tmp_path)
    first = oracle.create_trial("worker0")
    other = oracle.create_trial("worker1")
    assert oracle.create_trial("worker0").trial_id == first.trial_id  # Keras Tuner's behaviour
    assert first.trial_id != other.trial_id
    assert len(oracle.trials) == 2


def test_lease_requeues_a_silent_workers_trial(tmp_path):
    oracle, now = leased()
    oracle.verbose = 0
    oracle._set_project_dir(str(tmp_path), "p")
    dead = oracle.create_trial("A")                  # trial 0, A then dies
    t1 = oracle.create_trial("B")                    # trial 1
    now[0] = 6.0
    end(oracle, t1)
    t2 = oracle.create_trial("B")                    # lease of A not over yet
    assert t2.trial_id == "2"
    now[0] = 9.0
    oracle.get_trial(t2.trial_id)                    # B's heartbeat
    now[0] = 12.0
    end(oracle, t2)
    with pytest.warns(UserWarning, match="tuner 'A' sent nothing for 12 s"):
        retried = oracle.create_trial("B")
    assert retried.trial_id == dead.trial_id == "0"
    assert "A" not in oracle.tuner_ids and "A" not in oracle.ongoing_trials
    end(oracle, retried, score=2.0)
    t3 = oracle.create_trial("B")
    end(oracle, t3)
    assert oracle.create_trial("B").status == "STOPPED"
    # A comes back late with its result: ignored, nothing duplicated
    with pytest.warns(UserWarning, match="already ended"):
        end(oracle, dead, score=5.0)
    assert oracle.trials["0"].score == 2.0
    assert sorted(oracle.end_order) == ["0", "1", "2", "3"] and len(oracle.end_order) == 4
    assert oracle.ongoing_trials == {}
    state = json.loads(open(os.path.join(str(tmp_path), "p", "oracle.json")).read())
    assert state["ongoing_trials"] == {}


def test_worker_waits_idle_while_another_trial_may_be_requeued(tmp_path):
    oracle, now = leased(max_trials=2)
    oracle.verbose = 0
    oracle._set_project_dir(str(tmp_path), "p")
    dead = oracle.create_trial("A")
    t1 = oracle.create_trial("B")
    end(oracle, t1)
    assert oracle.create_trial("B").status == "IDLE"   # not STOPPED: A may die
    assert len(oracle.trials) == 2
    now[0] = 20.0
    with pytest.warns(UserWarning, match="re-queued"):
        retried = oracle.create_trial("B")
    assert retried.trial_id == dead.trial_id
    end(oracle, retried)
    assert oracle.create_trial("B").status == "STOPPED"


def test_without_lease_trials_are_never_taken_back(tmp_path):
    oracle = fresh(lambda: evolution(max_trials=2), tmp_path)
    oracle.clock = lambda: 1e9
    oracle.create_trial("A")
    end(oracle, oracle.create_trial("B"))
    assert oracle.create_trial("B").status == "STOPPED"
    assert "A" in oracle.ongoing_trials


@pytest.mark.parametrize("value", [0, -1.0, "10", float("nan"), True])
def test_bad_trial_lease_seconds(value):
    with pytest.raises(ValueError, match="trial_lease_seconds"):
        evolution(trial_lease_seconds=value)


def test_values_crossing_grpc_are_plain_scalars(tmp_path):
    oracle = fresh(evolution, tmp_path)
    drive(oracle)
    children = 0
    for trial in oracle.trials.values():
        values = trial.hyperparameters.values
        for key, value in values.items():
            assert type(value) in (int, float, str, bool), (key, type(value))
        children += PARENT_KEY in values
        copy = kt.engine.trial.Trial.from_proto(trial.to_proto())  # what gRPC carries
        assert copy.hyperparameters.values == values
        assert copy.score == pytest.approx(trial.score)
    assert children == MAX_TRIALS - 4


# ----------------------------------------------------- failure policy
def test_failing_children_of_mutations_never_abort_the_search(tmp_path):
    oracle = fresh(lambda: evolution(max_trials=20, max_consecutive_failed_trials=2), tmp_path)
    while True:
        trial = oracle.create_trial("t")
        if trial.status != "RUNNING":
            break
        if PARENT_KEY in trial.hyperparameters.values:  # every mutation fails
            trial.status = "FAILED"
            trial.message = "ValueError: this architecture does not build"
        else:
            oracle.update_trial(trial.trial_id, {"score": toy_score(trial.hyperparameters.values)})
            trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert len(oracle.trials) == 20
    failed = [t for t in oracle.trials.values() if t.status == "FAILED"]
    assert len(failed) == 16
    # a known-failing architecture is never proposed again
    hashes = [oracle._compute_values_hash(t.hyperparameters.values) for t in oracle.trials.values()]
    assert len(set(hashes)) == 20


def test_consecutive_failing_random_trials_stop_the_search_cleanly(tmp_path):
    oracle = fresh(lambda: evolution(max_consecutive_failed_trials=3), tmp_path)
    for i in range(3):
        trial = oracle.create_trial("t")
        trial.status = "FAILED"
        trial.message = f"ImportError: broken setup {i}"
        if i < 2:
            oracle.end_trial(trial)
    with pytest.raises(RuntimeError, match=r"3 consecutive failed trials .*trial 02, failed with:\nImportError: broken setup 2"):
        oracle.end_trial(trial)
    # the state was saved first: a resume sees three ended trials and none running
    state = json.load(open(os.path.join(str(tmp_path), "p", "oracle.json")))
    assert state["end_order"] == ["00", "01", "02"] and state["ongoing_trials"] == {}
    # the lock was released: the oracle still answers
    assert oracle.create_trial("t").status == "RUNNING"


def test_max_consecutive_failed_trials_none_never_stops(tmp_path):
    oracle = fresh(lambda: evolution(max_trials=6, max_consecutive_failed_trials=None), tmp_path)
    while True:
        trial = oracle.create_trial("t")
        if trial.status != "RUNNING":
            break
        trial.status = "FAILED"
        oracle.end_trial(trial)
    assert len(oracle.trials) == 6


def test_nan_first_trial_does_not_freeze_best_so_far(tmp_path):
    oracle = fresh(evolution, tmp_path)
    scores = iter([float("nan"), 1.0, 3.0, float("nan"), 2.0] + [0.5] * 20)
    drive(oracle, score_fn=lambda values: next(scores))
    assert oracle.trials["00"].status == "FAILED" and oracle.trials["03"].status == "FAILED"
    best = oracle.get_best_trials(2)
    assert [t.trial_id for t in best] == ["02", "04"]
    assert all(math.isfinite(t.score) for t in oracle.population())


# --------------------------------------------------------- determinism
@pytest.mark.parametrize("name", sorted(ORACLES))
def test_same_seed_same_sequence_of_proposals(tmp_path, name):
    def sequence(seed, directory):
        oracle = fresh(lambda: ORACLES[name](seed=seed), directory)
        drive(oracle)
        return [oracle.trials[t].hyperparameters.values for t in oracle.start_order]

    a = sequence(11, tmp_path / "a")
    assert a == sequence(11, tmp_path / "b")
    assert a != sequence(12, tmp_path / "c")
    assert len(a) == MAX_TRIALS and all(type(v["lr"]) is float for v in a)
