"""The chief of Keras Tuner's chief/worker mode, as `NASTuner` runs it.

Keras Tuner's chief (`keras_tuner.src.distribute.oracle_chief.start_server`)
serves the oracle over gRPC and otherwise only sleeps. `serve` uses the same
`OracleServicer` and adds what a search with a wall-clock budget and local
worker processes needs, between requests (every `poll_seconds`):

* the tuner's `time_budget` (seconds) is kept on the chief: once less time
  is left than the median duration of the trials finished so far, the oracle
  starts no new trial (the workers are answered STOPPED and exit);
* one progress line per finished trial (which trial, how long, best so far);
* when a worker process started by `keras_nas_plus.app.workers` exits while it
  holds a trial (killed, out of memory), that trial is recorded as FAILED and
  the other workers go on; when every worker has exited, the search ends;
* the chief returns as soon as the last trial has ended (Keras Tuner's own
  loop checks every 20 s).
"""

import contextlib
import os
import sys
import threading
import time
import warnings

import keras_tuner

from keras_nas_plus.vocabulary import TRIAL_MESSAGE_FILE


@keras_tuner.synchronized
def _forget_tuner(oracle, tuner_id):
    oracle.tuner_ids.discard(tuner_id)


def _fail_trial_of(oracle, tuner_id, message):
    """Ends the trial `tuner_id` holds as FAILED and forgets that tuner; returns the trial or None.

    `end_trial` is called outside any lock: our oracles may raise from it
    (too many consecutive failures), and Keras Tuner's lock would stay held.
    """
    trial = oracle.ongoing_trials.get(tuner_id)
    try:
        if trial is not None:
            trial.status = "FAILED"
            trial.message = message
            oracle.end_trial(trial)
    finally:
        _forget_tuner(oracle, tuner_id)
    return trial


_quiet = threading.local()


class _QuietableStream:
    """`sys.stdout` that drops what the current thread writes while `_quiet.on` is set."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        if getattr(_quiet, "on", False):
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def quiet_condition_prints():
    """Silences Keras Tuner 1.4's `print` in `conditions.Parent.to_proto`.

    That debugging print writes a condition's first value (e.g. `conv3x3`)
    each time a trial of a conditional space is converted for gRPC, i.e. on
    every request of the chief/worker mode. Only the converting thread is
    silenced: the chief's own progress lines still print.
    """
    from keras_tuner.src.engine import conditions

    original = conditions.Parent.to_proto
    if not getattr(original, "_keras_nas_plus_quiet", False):
        def to_proto(self):
            _quiet.on = True
            try:
                return original(self)
            finally:
                _quiet.on = False

        to_proto._keras_nas_plus_quiet = True
        conditions.Parent.to_proto = to_proto
    stdout = sys.stdout
    sys.stdout = _QuietableStream(stdout)
    try:
        yield
    finally:
        sys.stdout = stdout


class ChiefMonitor:
    """What the chief checks between gRPC requests (see the module docstring).

    Args:
        tuner: the chief's `NASTuner` (its `oracle` is the real one;
            `time_budget`, seconds or None, and `progress`, bool, are read).
        processes: dict `{tuner_id: subprocess.Popen}` of the local workers,
            or None (workers started elsewhere: nothing to watch).
        logs: dict `{tuner_id: path}` of their log files, named in warnings.
        clock: the time source, seconds (`time.time`).
    """

    def __init__(self, tuner, processes=None, logs=None, clock=time.time):
        self.tuner = tuner
        self.oracle = tuner.oracle
        self.processes = dict(processes or {})
        self.logs = dict(logs or {})
        self.clock = clock
        now = clock()
        budget = getattr(tuner, "time_budget", None)
        self.deadline = None if budget is None else now + budget
        self.started = {}  # trial_id -> when the chief first saw it running
        self.trial_seconds = []  # durations of the trials that ended in this call
        self.seen_ended = len(getattr(self.oracle, "end_order", ()))
        self.exited = {}  # tuner_id -> exit code

    def poll(self):
        """One round of checks; returns True once every local worker has exited.

        Raises:
            RuntimeError: the oracle aborted the search (too many consecutive
                failed trials), with its reason.
        """
        reason = getattr(self.oracle, "abort_reason", None)
        if reason:
            raise RuntimeError(reason)
        now = self.clock()
        for trial in list(self.oracle.ongoing_trials.values()):
            self.started.setdefault(trial.trial_id, now)
        self._check_workers()  # may end a trial: before the ended trials are read
        end_order = list(getattr(self.oracle, "end_order", ()))
        for done, trial_id in enumerate(end_order[self.seen_ended:], start=self.seen_ended + 1):
            self._ended(trial_id, now, done)
        self.seen_ended = len(end_order)
        self._check_budget(now)
        return bool(self.processes) and len(self.exited) == len(self.processes)

    def _ended(self, trial_id, now, done):
        start = self.started.pop(trial_id, None)
        seconds = None if start is None else now - start
        if seconds is not None:
            self.trial_seconds.append(seconds)
        if getattr(self.tuner, "progress", False):
            print(self.tuner._progress_line(self.oracle.trials[trial_id], seconds=seconds or 0.0, done=done),
                  flush=True)

    def _check_workers(self):
        for tuner_id, process in self.processes.items():
            if tuner_id in self.exited:
                continue
            code = process.poll()
            if code is None:
                continue
            self.exited[tuner_id] = code
            log = f" (its log: {self.logs[tuner_id]})" if tuner_id in self.logs else ""
            message = f"worker {tuner_id!r} exited with code {code} during this trial{log}"
            trial = _fail_trial_of(self.oracle, tuner_id, message)
            if trial is not None:
                warnings.warn(f"Trial {trial.trial_id} failed: {message}.", stacklevel=2)
            elif code != 0:
                warnings.warn(f"Worker {tuner_id!r} exited with code {code}{log}.", stacklevel=2)

    def _check_budget(self, now):
        if self.deadline is not None and not self.tuner.budget_exhausted:
            self.tuner._apply_time_budget(self.deadline - now, self.trial_seconds)


def _read_message(tuner, trial_id):
    try:
        with open(os.path.join(tuner.get_trial_dir(trial_id), TRIAL_MESSAGE_FILE)) as f:
            return f.read() or None
    except OSError:
        return None


def serve(tuner, processes=None, logs=None, poll_seconds=0.5):
    """Serves `tuner.oracle` to the workers until the search has ended.

    Uses Keras Tuner's `OracleServicer` on `KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT`
    (environment variables, as in Keras Tuner's own chief).

    Args:
        tuner: the chief's `NASTuner`.
        processes, logs: the local workers (see `ChiefMonitor`), or None.
        poll_seconds: float, seconds between two rounds of checks.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief
    from keras_tuner.src.engine import trial as trial_module

    class Servicer(oracle_chief.OracleServicer):
        """Keras Tuner's servicer; `end_trial` also gets the worker's `trial.message`
        (written next to the trial, see `NASTuner.on_trial_end`), and an abort of the
        search (too many consecutive failures) is left for the chief's main thread."""

        def EndTrial(self, request, context):
            trial = trial_module.Trial.from_proto(request.trial)
            if not trial.message:
                trial.message = _read_message(tuner, trial.trial_id)
            try:
                self.oracle.end_trial(trial)
            except RuntimeError as e:
                if not getattr(self.oracle, "abort_reason", None):
                    self.oracle.abort_reason = str(e)
            return protos.get_service().EndTrialResponse()

    tuner.oracle.abort_reason = None
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    servicer = Servicer(tuner.oracle)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    server.add_insecure_port(address)
    monitor = ChiefMonitor(tuner, processes, logs)
    with quiet_condition_prints():
        server.start()
        try:
            while True:
                time.sleep(poll_seconds)
                all_exited = monitor.poll()
                if servicer.stop_triggered and oracle_chief.exit_chief(tuner.oracle):
                    break
                if all_exited:
                    break
        finally:
            server.stop(grace=2)
    return monitor
