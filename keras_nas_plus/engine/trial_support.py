"""What `NASTuner` needs around one trial: cost logging, constraints, NaN checks, Keras Tuner oracle adaptation."""

import glob
import math
import os

import keras
import keras_tuner
from keras_tuner.src.engine import tuner_utils

from keras_nas_plus._io import atomic_write_text
from keras_nas_plus.engine import trials as _trials


def _count_examples(args, kwargs):
    """Number of training examples in the `fit` arguments, or None."""
    x = args[0] if args else kwargs.get("x")
    if x is None:
        return None
    try:
        return int(len(x))
    except TypeError:
        return None


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


#: Hard-constraint arguments of `NASTuner` and the cost metric each bounds.
CONSTRAINTS = {"max_params": "params", "max_flops": "flops", "max_latency_ms": "latency_ms"}


class ConstraintViolation(keras_tuner.errors.FailedTrialError):
    """An architecture exceeds a hard constraint; it is rejected untrained."""


class _CostLogger(keras.callbacks.Callback):
    """Adds the model's cost metrics to the logs of every epoch."""

    def __init__(self, costs):
        super().__init__()
        self.costs = dict(costs)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            for name, value in self.costs.items():
                logs.setdefault(name, value)


class _EpochTunerCallback(tuner_utils.TunerCallback):
    """Keras Tuner's `TunerCallback` without its per-batch hooks.

    Keras Tuner's version reads `self.model` after every batch to call the
    tuner's (empty) `on_batch_begin` / `on_batch_end`. On the JAX backend each
    such read copies the whole training state back into the model's
    variables, so the device waits for the host on every step. `NASTuner`
    uses this class instead unless a subclass overrides those tuner hooks.

    The hooks are Keras' own defaults, not overrides that do nothing: Keras
    calls batch-end hooks in step with the device (converting each step's
    logs to Python floats) as soon as one callback overrides one.
    """

    on_batch_begin = keras.callbacks.Callback.on_batch_begin
    on_batch_end = keras.callbacks.Callback.on_batch_end


class StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """`keras.callbacks.TerminateOnNaN` that lets Keras queue steps ahead of the device.

    Stops training a few steps after a batch whose training loss is NaN or
    infinite; the tuner then records the trial as failed. Keras' own
    `TerminateOnNaN` checks the loss after every batch in step with the
    device: the host waits for each step before it dispatches the next. This
    one is `async_safe`, so Keras checks each step's loss on a worker thread
    while the next steps run, and it stops the `fit` without reading
    `self.model` (which, under JAX, would copy the training state back from a
    thread that does not own it).
    """

    async_safe = True

    def set_model(self, model):
        super().set_model(model)
        self._trained_model = model

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._trained_model.stop_training = True


def _uses_batch_hooks(tuner):
    cls = type(tuner)
    return (cls.on_batch_begin is not keras_tuner.Tuner.on_batch_begin
            or cls.on_batch_end is not keras_tuner.Tuner.on_batch_end)


def _check_constraint(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number or None, got {value!r}.")
    return value


def _raise_on_nan_loss(results):
    """A NaN/inf training loss fails the trial (accuracy may still look finite)."""
    if not isinstance(results, keras.callbacks.History):
        return
    for epoch, loss in enumerate(results.history.get("loss", [])):
        if loss is None or not math.isfinite(float(loss)):
            raise keras_tuner.errors.FailedTrialError(
                f"training loss became {loss} at epoch {epoch + 1}; the trial is recorded as failed"
            )


def _raise_on_nan_objective(results, names):
    """An objective that is never finite while the loss is fails the trial, saying why (issue 22)."""
    if not isinstance(results, keras.callbacks.History):
        return
    for name in names:
        values = results.history.get(name)
        if values and not any(v is not None and math.isfinite(float(v)) for v in values):
            raise keras_tuner.errors.FailedTrialError(
                f"objective {name} was {values[-1]} at every epoch while the training loss stayed finite; "
                "the trial is recorded as failed"
            )


#: File of a trial's directory holding the full traceback of its last failure (issue 22).
TRACEBACK_FILE = "nas_traceback.txt"


def _one_line(message):
    """The exception line of a traceback (`Type: first line of its text`)."""
    lines = str(message).rstrip().splitlines()
    last_frame = max((i for i, line in enumerate(lines) if line.startswith(" ")), default=-1)
    rest = [line.strip() for line in lines[last_frame + 1:] if line.strip()]
    return rest[0] if rest else str(message).strip()


def _mark_resumable(kwargs):
    """Lets Keras Tuner resume a project killed before its tuner file existed.

    Keras Tuner reloads only when `<tuner_id>.json` exists, which it first
    writes after the first trial ends; a process killed before would start
    over and overwrite ended trials. An empty tuner file fixes that.
    """
    if kwargs.get("overwrite"):
        return
    project_dir = os.path.join(str(kwargs.get("directory") or "."), kwargs.get("project_name") or "untitled_project")
    tuner_file = os.path.join(project_dir, os.environ.get("KERASTUNER_TUNER_ID", "tuner0") + ".json")
    if os.path.exists(tuner_file):
        return
    if os.path.exists(os.path.join(project_dir, "oracle.json")) or glob.glob(
        os.path.join(glob.escape(project_dir), "trial_*", "trial.json")
    ):
        atomic_write_text(tuner_file, "{}")


def _adapt_keras_tuner_oracle(oracle):
    """Keras Tuner's own oracles: the end of a trial as our oracles handle it.

    1. Our consecutive-failure check, raised outside their lock. Rejected
       trials do not count as failures (as in our oracles). Keras Tuner
       raises the abort inside its synchronized `end_trial`, whose lock is
       then never released: harmless in one thread, but a chief serving
       workers from a gRPC thread would hang. The check here only records
       the abort; `end_trial` raises it after the lock is released and leaves
       it in `oracle.abort_reason` (read by the chief, `engine/chief.py`).
    2. The oracle's state is saved once more after `end_trial`: Keras Tuner
       saves it before it drops the ended trial from `ongoing_trials`, and a
       search resumed from that file runs the trial again. A single process
       saves again anyway (`BaseTuner.on_trial_end`), a chief serving
       workers did not (seen in the GPU showcase's run 6: a resumed KT
       RandomSearch re-ran its last, completed trial).
    """
    check = _trials.check_consecutive_failures
    pending = []

    def deferred_check():
        try:
            check(oracle)
        except RuntimeError as e:
            pending.append(str(e))

    locked_end_trial = oracle.end_trial

    def end_trial(trial):
        del pending[:]
        locked_end_trial(trial)
        if isinstance(oracle, keras_tuner.Oracle):  # not a worker's `OracleClient`: the chief saves
            _save_state(oracle)
        if pending:
            oracle.abort_reason = pending.pop()
            raise RuntimeError(oracle.abort_reason)

    oracle._check_consecutive_failures = deferred_check
    oracle.end_trial = end_trial


@keras_tuner.synchronized
def _save_state(oracle):
    oracle.save()


@keras_tuner.synchronized
def _stop_new_trials(oracle):
    """No trial starts after this (the oracle answers STOPPED as at `max_trials`).

    Keras Tuner reads `max_trials=0` as "no limit": a budget spent before any
    trial started still lets one trial run.
    """
    oracle.max_trials = max(len(oracle.trials), 1)
