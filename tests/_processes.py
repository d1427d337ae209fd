"""Helpers of the slow tests that start, kill and restart real processes."""

import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env(**extra):
    result = dict(os.environ)
    result["PYTHONPATH"] = ROOT + os.pathsep + result.get("PYTHONPATH", "")
    result.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result.setdefault("PYTHONUNBUFFERED", "1")
    result.update(extra)
    return result


def start(args, log_path, cwd=ROOT, **extra_env):
    """Starts `python ARGS` niced, with output to `log_path`."""
    log = open(log_path, "ab")
    cmd = ["nice", "-n", "10", sys.executable] + list(args)
    return subprocess.Popen(cmd, cwd=cwd, env=env(**extra_env), stdout=log, stderr=subprocess.STDOUT)


def wait_for(predicate, proc=None, timeout=900.0, what="condition", log_path=None):
    """Polls `predicate()` every 0.1 s; fails if `proc` exits first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before {what}:\n" + tail(log_path))
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}:\n" + tail(log_path))


def kill(proc):
    """SIGKILL by PID (only processes this test started)."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def finish(proc, timeout=600, log_path=None):
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        raise AssertionError("process did not finish:\n" + tail(log_path))
    assert code == 0, tail(log_path)


def tail(log_path, n=3000):
    if not log_path or not os.path.exists(log_path):
        return ""
    return open(log_path, errors="replace").read()[-n:]


def trial_states(project_dir):
    """trial_id -> trial.json content, for every readable trial file."""
    states = {}
    if not os.path.isdir(project_dir):
        return states
    for name in sorted(os.listdir(project_dir)):
        fname = os.path.join(project_dir, name, "trial.json")
        if name.startswith("trial_") and os.path.exists(fname):
            try:
                state = json.load(open(fname))
            except ValueError:
                continue
            states[state["trial_id"]] = state
    return states


def check_project(project_dir, max_trials):
    """The oracle's saved state is consistent: each trial ended exactly once."""
    state = json.load(open(os.path.join(project_dir, "oracle.json")))
    trials = trial_states(project_dir)
    assert len(trials) == max_trials, sorted(trials)
    assert sorted(state["end_order"]) == sorted(trials), (state["end_order"], sorted(trials))
    assert len(set(state["start_order"])) == len(state["start_order"]) == max_trials
    assert state["ongoing_trials"] == {} and state["retry_queue"] == []
    assert all(t["status"] == "COMPLETED" for t in trials.values()), {k: t["status"] for k, t in trials.items()}
    return state, trials
