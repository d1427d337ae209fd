"""`NASTuner`: the `keras_tuner.Tuner` subclass all keras_nas_plus tuners share."""

import json
import math
import os
import time

import keras
import keras_tuner
from keras_tuner.src import backend as kt_backend
from keras_tuner.src import utils as kt_utils
from keras_tuner.src.engine import tuner_utils

from keras_nas_plus import callbacks as lce
from keras_nas_plus._io import atomic_write_text

#: Name of the per-trial record written next to Keras Tuner's trial.json.
TRIAL_INFO_FILE = "nas_trial.json"


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


def _raise_on_nan_loss(results):
    """A NaN/inf training loss fails the trial (accuracy may still look finite)."""
    if not isinstance(results, keras.callbacks.History):
        return
    for epoch, loss in enumerate(results.history.get("loss", [])):
        if loss is None or not math.isfinite(float(loss)):
            raise keras_tuner.errors.FailedTrialError(
                f"training loss became {loss} at epoch {epoch + 1}; the trial is recorded as failed"
            )


class NASTuner(keras_tuner.Tuner):
    """A `keras_tuner.Tuner` that records what NAS users need per trial.

    Besides Keras Tuner's own files, every trial directory gets a
    `nas_trial.json` with the parameter count, the number of epochs actually
    trained, the input shape and number of training examples, and the
    per-epoch learning curves (`history`). A NaN or infinite training loss
    stops the trial at once (`keras.callbacks.TerminateOnNaN`) and the trial
    is recorded as FAILED with that reason; the search goes on.

    Args:
        oracle: a `keras_tuner.Oracle`.
        hypermodel: a `keras_tuner.HyperModel` or a `build(hp)` function.
        progress: bool, default False. Print one line per finished trial
            (which trial, its score, seconds taken, best score so far).
        time_budget: float or None, default None. Wall-clock budget of one
            `search` call in seconds: no trial starts after it (running
            trials finish). `budget_exhausted` tells whether it was hit.
        learning_curve: None (default, off), True, or a dict of
            `keras_nas_plus.callbacks.LearningCurveExtrapolation` arguments
            (all but `target`): stop trials whose extrapolated learning curve
            is unlikely to beat the oracle's best score so far.
        **kwargs: arguments of `keras_tuner.Tuner` (`max_model_size`,
            `directory`, `project_name`, `overwrite`, `executions_per_trial`,
            `optimizer`, `loss`, `metrics`, ...).
    """

    def __init__(self, oracle, hypermodel=None, progress=False, time_budget=None, learning_curve=None, **kwargs):
        if time_budget is not None and (isinstance(time_budget, bool) or not isinstance(time_budget, (int, float))
                                        or time_budget <= 0):
            raise ValueError(f"`time_budget` must be a positive number of seconds or None, got {time_budget!r}.")
        # --- learning-curve extrapolation (issue 5) ---
        self.learning_curve = lce.learning_curve_kwargs(learning_curve)
        # --- end learning-curve extrapolation ---
        super().__init__(oracle, hypermodel, **kwargs)
        self.progress = progress
        self.time_budget = time_budget
        self.budget_exhausted = False
        self._deadline = None
        self._trial_started = {}

    def search(self, *fit_args, **fit_kwargs):
        """Runs the search; with `time_budget`, no trial starts after it.

        Trials already running finish; the oracle then stops as if
        `max_trials` were reached, so a caller can still run a final phase.
        """
        self.budget_exhausted = False
        self._deadline = None if self.time_budget is None else time.time() + self.time_budget
        max_trials = self.oracle.max_trials
        try:
            return super().search(*fit_args, **fit_kwargs)
        finally:
            self.oracle.max_trials = max_trials
            self._deadline = None

    def pre_create_trial(self):
        super().pre_create_trial()
        if self._deadline is not None and time.time() >= self._deadline:
            if not self.budget_exhausted and self.progress:
                print(f"Time budget of {self.time_budget:g} s reached: no new trials.", flush=True)
            self.budget_exhausted = True
            self.oracle.max_trials = len(self.oracle.trials)

    # ----------------------------------------------------------- per trial
    def before_fit(self, trial, model, fit_kwargs):
        """Hook run after the model is built and before it is trained.

        Estimation strategies (weight inheritance, fidelity, learning-curve
        extrapolation) extend it. Returns the (possibly changed) `fit`
        keyword arguments.
        """
        return fit_kwargs

    def extra_trial_info(self, trial, model, results):
        """Hook: more JSON-safe entries for the trial's `nas_trial.json`."""
        return {}

    def _build_and_fit_model(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        model = self._try_build(hp)
        kwargs = dict(kwargs)
        callbacks = list(kwargs.get("callbacks", []))
        if not any(isinstance(c, keras.callbacks.TerminateOnNaN) for c in callbacks):
            callbacks.append(keras.callbacks.TerminateOnNaN())
        # --- learning-curve extrapolation (issue 5) ---
        if self.learning_curve is not None:
            callbacks = lce.attach_to_trial(self, trial, callbacks, self.learning_curve)
        # --- end learning-curve extrapolation ---
        kwargs["callbacks"] = callbacks
        kwargs = self.before_fit(trial, model, kwargs)
        results = self.hypermodel.fit(hp, model, *args, **kwargs)
        # --- learning-curve extrapolation (issue 5) ---
        self._lce_record = lce.after_fit(kwargs.get("callbacks", []), results)
        # --- end learning-curve extrapolation ---
        if kt_backend.config.multi_backend():
            kt_utils.save_json(
                self._get_build_config_fname(trial.trial_id),
                model.get_build_config(),
            )
        self._record_trial_info(trial, model, results, args, kwargs)
        _raise_on_nan_loss(results)
        tuner_utils.validate_trial_results(
            results, self.oracle.objective, "HyperModel.fit()"
        )
        return results

    def _record_trial_info(self, trial, model, results, args, kwargs):
        history = {}
        if isinstance(results, keras.callbacks.History):
            history = {
                k: [_finite_or_none(v) for v in values]
                for k, values in results.history.items()
            }
        epochs_trained = max((len(v) for v in history.values()), default=0)
        input_shape = None
        try:
            input_shape = [None if d is None else int(d) for d in model.inputs[0].shape]
        except (AttributeError, IndexError, TypeError):
            pass
        info = self.get_trial_info(trial.trial_id)
        info.update(
            trial_id=trial.trial_id,
            num_params=int(model.count_params()),
            epochs_trained=int(info.get("epochs_trained", 0)) + epochs_trained,
            input_shape=input_shape,
            num_train_examples=_count_examples(args, kwargs),
            history=history,
        )
        info.update(self.extra_trial_info(trial, model, results))
        # --- learning-curve extrapolation (issue 5) ---
        if getattr(self, "_lce_record", None):
            info["learning_curve"] = self._lce_record
            self._lce_record = None
        # --- end learning-curve extrapolation ---
        atomic_write_text(self._trial_info_fname(trial.trial_id), json.dumps(info))

    def _trial_info_fname(self, trial_id):
        return os.path.join(self.get_trial_dir(trial_id), TRIAL_INFO_FILE)

    def get_trial_info(self, trial_id):
        """The `nas_trial.json` record of a trial (`{}` if none yet)."""
        fname = self._trial_info_fname(trial_id)
        if not os.path.exists(fname):
            return {}
        try:
            with open(fname) as f:
                return json.load(f)
        except ValueError:
            return {}

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        # Keras Tuner imports tensorboard for every trial on the TensorFlow
        # backend, but TensorFlow >= 2.20 no longer installs it: only do so
        # when a TensorBoard callback is actually used.
        if any(c.__class__.__name__ == "TensorBoard" for c in callbacks):
            super()._configure_tensorboard_dir(callbacks, trial, execution)

    # --- learning-curve extrapolation (issue 5) ---
    def learning_curve_summary(self):
        """Trials stopped by learning-curve extrapolation and epochs saved (dict)."""
        return lce.summarize(self)

    def results_summary(self, num_trials=10):
        super().results_summary(num_trials)
        if self.learning_curve is not None:
            s = self.learning_curve_summary()
            print(f"Learning-curve extrapolation: stopped {s['stopped']} of {s['trials']} trials early; "
                  f"{s['epochs_saved']} epochs saved ({s['epochs_trained']} trained)")
    # --- end learning-curve extrapolation ---

    def on_trial_begin(self, trial):
        # A retried trial starts its record afresh.
        fname = self._trial_info_fname(trial.trial_id)
        if os.path.exists(fname):
            os.remove(fname)
        self._trial_started[trial.trial_id] = time.time()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.progress:
            print(self._progress_line(trial), flush=True)

    def _progress_line(self, trial):
        trial = self.oracle.get_trial(trial.trial_id)
        seconds = time.time() - self._trial_started.pop(trial.trial_id, time.time())
        done = len(self.oracle.end_order)
        total = self.oracle.max_trials or "?"
        score = "failed" if trial.score is None or not math.isfinite(float(trial.score)) else f"{trial.score:.4f}"
        best = self.oracle.get_best_trials(1)
        best_text = "-"
        if best and best[0].score is not None and math.isfinite(float(best[0].score)):
            best_text = f"{best[0].score:.4f} (trial {best[0].trial_id})"
        name = getattr(self.oracle.objective, "name", "score")
        return (f"[{done}/{total}] trial {trial.trial_id} {trial.status.lower()} in {seconds:.0f} s: "
                f"{name}={score}; best so far {best_text}")

