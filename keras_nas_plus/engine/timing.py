"""Where a trial's time goes: model building, compilation, training, validation.

`TrialTiming` is a Keras callback that times one `fit` (wall-clock seconds,
`time.perf_counter`); `NASTuner` adds it to every trial and writes
`timing_record(...)` into the trial's `nas_trial.json` under `"timing"`.
`summarize(records, wall_seconds)` totals the records of a search for
`results.json` (`trial_timing`).

Compilation time (`compile_seconds`) is measured or estimated:

* JAX backend (`compile_method: "jax.monitoring"`): measured. JAX reports the
  duration of every tracing, lowering to MLIR and XLA backend compilation
  (`jax.monitoring` duration events `/jax/core/compile/*`); the union of those
  time intervals within the `fit` (nested traces counted once) is the
  compilation time. Cache hits of the persistent compilation cache cost
  little here, which is the point of `search.compilation_cache`.
* Other backends (`compile_method: "first_epoch_excess"`): estimated as how
  much longer the first epoch's training and validation took than the median
  of the later epochs (the first epoch traces and compiles the step
  functions), floored at 0; with a single epoch it cannot be estimated
  (`compile_seconds: null`, `compile_method: "unknown (one epoch)"`).

`compile_seconds` covers the compilation inside training and inside the
validation passes; `validation_seconds` is the time of the validation passes
minus their compilation, and `train_seconds` the rest of the `fit` (training
steps, callbacks, checkpoints), so build + compile + train + validation never
exceeds the trial's wall time.
"""

import statistics
import threading
import time

import keras

#: JAX's duration events that make up compilation (tracing, lowering, XLA).
JAX_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)

_lock = threading.Lock()
_intervals = []  # (start, end) perf_counter seconds of compile events; trimmed per fit
_listening = False
_MAX_INTERVALS = 100000


def _on_jax_duration(event, duration, **kwargs):
    if event in JAX_COMPILE_EVENTS:
        end = time.perf_counter()
        with _lock:
            if len(_intervals) >= _MAX_INTERVALS:
                del _intervals[: _MAX_INTERVALS // 2]
            _intervals.append((end - float(duration), end))


def listen_to_jax_compilation():
    """Registers the JAX compile-event listener once; `False` if not on JAX."""
    global _listening
    if keras.backend.backend() != "jax":
        return False
    if not _listening:
        import jax  # lazily: only on the JAX backend

        jax.monitoring.register_event_duration_secs_listener(_on_jax_duration)
        _listening = True
    return True


def compile_seconds_between(start, end):
    """Seconds of JAX compilation within `[start, end]` (perf_counter), intervals merged."""
    with _lock:
        spans = sorted((max(s, start), min(e, end)) for s, e in _intervals if e > start and s < end)
    total, current_start, current_end = 0.0, None, None
    for s, e in spans:
        if current_end is None or s > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = s, e
        else:
            current_end = max(current_end, e)
    if current_end is not None:
        total += current_end - current_start
    return total


class TrialTiming(keras.callbacks.Callback):
    """Times one `fit`: per-epoch training and validation seconds, compilation.

    No per-batch hooks (they would make Keras call back after every step).
    Read `record()` after `fit`. See the module docstring for how
    `compile_seconds` is measured (JAX) or estimated (other backends).
    """

    def __init__(self):
        super().__init__()
        self.jax = listen_to_jax_compilation()
        self.fit_start = self.fit_end = None
        self.epoch_seconds = []
        self.validation_seconds = []
        self._epoch_start = self._test_start = None
        self._epoch_validation = 0.0
        self._test_windows = []

    def on_train_begin(self, logs=None):
        self.fit_start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_validation = 0.0

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        if self._test_start is not None:
            now = time.perf_counter()
            self._epoch_validation += now - self._test_start
            self._test_windows.append((self._test_start, now))
            self._test_start = None

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_start is None:
            return
        self.epoch_seconds.append(time.perf_counter() - self._epoch_start)
        self.validation_seconds.append(self._epoch_validation)
        self._epoch_start = None

    def on_train_end(self, logs=None):
        self.fit_end = time.perf_counter()

    def record(self):
        """The timing of the `fit` (dict of seconds, JSON-safe)."""
        end = self.fit_end if self.fit_end is not None else time.perf_counter()
        fit = 0.0 if self.fit_start is None else end - self.fit_start
        validation = float(sum(self.validation_seconds))
        train_epochs = [e - v for e, v in zip(self.epoch_seconds, self.validation_seconds)]
        # Compilation inside the training part and inside the validation passes.
        if self.jax:
            total = compile_seconds_between(self.fit_start, end) if self.fit_start is not None else 0.0
            in_validation = sum(compile_seconds_between(s, e) for s, e in self._test_windows)
            in_training, method = max(0.0, total - in_validation), "jax.monitoring"
        elif len(train_epochs) >= 2:
            in_training = max(0.0, train_epochs[0] - statistics.median(train_epochs[1:]))
            in_validation = max(0.0, self.validation_seconds[0] - statistics.median(self.validation_seconds[1:]))
            method = "first_epoch_excess"
        else:
            in_training = in_validation = 0.0
            method = "unknown (one epoch)"
        in_training = min(in_training, max(0.0, fit - validation))
        in_validation = min(in_validation, validation)
        compile_s = None if method.startswith("unknown") else in_training + in_validation
        validation -= in_validation
        train = max(0.0, fit - validation - (compile_s or 0.0))
        return {
            "fit_seconds": round(fit, 4),
            "compile_seconds": None if compile_s is None else round(compile_s, 4),
            "compile_method": method,
            "train_seconds": round(train, 4),
            "validation_seconds": round(validation, 4),
            "epoch_seconds": [round(e, 4) for e in self.epoch_seconds],
        }


#: Keys of a timing record that add up over several fits of one trial.
_SUMMED = ("build_seconds", "costs_seconds", "fit_seconds", "compile_seconds", "train_seconds",
           "validation_seconds")


def timing_record(previous, fit_record, build_seconds, costs_seconds, trial_seconds):
    """A trial's `nas_trial.json` `"timing"` entry, adding to `previous` (several executions).

    Args:
        previous: dict or None, the entry of an earlier execution of the trial.
        fit_record: dict, `TrialTiming.record()`.
        build_seconds: float, seconds to build (and compile, in Keras' sense) the model.
        costs_seconds: float, seconds to compute the cost metrics (FLOPs, latency).
        trial_seconds: float, wall seconds since the trial began (all its
            executions); build + costs + compile + train + validation <= it.

    Returns:
        dict of seconds.
    """
    record = dict(fit_record, build_seconds=round(build_seconds, 4), costs_seconds=round(costs_seconds, 4))
    if previous:
        for key in _SUMMED:
            if previous.get(key) is not None and record.get(key) is not None:
                record[key] = round(previous[key] + record[key], 4)
        record["epoch_seconds"] = list(previous.get("epoch_seconds", [])) + record["epoch_seconds"]
    record["trial_seconds"] = round(trial_seconds, 4)
    return record


def summarize(records, wall_seconds, workers=1):
    """Totals of the per-trial timing records of a search (for `results.json`).

    Args:
        records: iterable of `nas_trial.json` `"timing"` dicts (None skipped).
        wall_seconds: float, wall-clock seconds of the search.
        workers: int, trials run at once (the available time is
            `wall_seconds * workers`).

    Returns:
        dict: `build_seconds`, `costs_seconds`, `compile_seconds`,
        `train_seconds`, `validation_seconds` (totals), `wall_seconds`,
        `trials_timed`, and `idle_seconds` = wall * workers - the five totals
        (oracle, checkpoints, data handling, start-up).
    """
    totals = dict.fromkeys(("build_seconds", "costs_seconds", "compile_seconds", "train_seconds",
                            "validation_seconds"), 0.0)
    timed = 0
    for record in records:
        if not record:
            continue
        timed += 1
        for key in totals:
            totals[key] += float(record.get(key) or 0.0)
    summary = {k: round(v, 2) for k, v in totals.items()}
    summary.update(wall_seconds=round(float(wall_seconds), 2), trials_timed=timed,
                   idle_seconds=round(float(wall_seconds) * workers - sum(totals.values()), 2))
    return summary
