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


class NASTuner(keras_tuner.Tuner):
    """A `keras_tuner.Tuner` that records what NAS users need per trial.

    Besides Keras Tuner's own files, every trial directory gets a
    `nas_trial.json` with the parameter count, the number of epochs actually
    trained, the input shape and number of training examples, and the
    per-epoch learning curves (`history`). A NaN loss stops the trial at once
    (`keras.callbacks.TerminateOnNaN`); its NaN score makes Keras Tuner record
    it as failed, and the search goes on.

    Args:
        oracle: a `keras_tuner.Oracle`.
        hypermodel: a `keras_tuner.HyperModel` or a `build(hp)` function.
        progress: bool, default False. Print one line per finished trial
            (which trial, its score, seconds taken, best score so far).
        weight_inheritance: bool, default False. A child trial whose
            hyperparameters name a parent trial (`PARENT_KEY`, set by the
            evolution oracle) starts from the parent's best checkpoint
            through `keras_nas_plus.morphism.inherit_weights` and trains at
            most `inherited_epochs` epochs.
        inherited_epochs: int or None, default None (E/3 of the `epochs`
            given to `search`, at least 1). Epochs of an inherited child.
        **kwargs: arguments of `keras_tuner.Tuner` (`max_model_size`,
            `directory`, `project_name`, `overwrite`, `executions_per_trial`,
            `optimizer`, `loss`, `metrics`, ...).
    """

    def __init__(self, oracle, hypermodel=None, progress=False, weight_inheritance=False,
                 inherited_epochs=None, **kwargs):
        # --- weight inheritance (network morphism, issue 6) ---
        from keras_nas_plus.morphism import tuning as _wi

        self.weight_inheritance, self.inherited_epochs = _wi.check_settings(
            weight_inheritance, inherited_epochs)
        self._inheritance_info = {}
        # --- end weight inheritance ---
        super().__init__(oracle, hypermodel, **kwargs)
        self.progress = progress
        self._trial_started = {}

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
        kwargs["callbacks"] = callbacks
        if self.weight_inheritance:  # weight inheritance (issue 6)
            from keras_nas_plus.morphism import tuning as _wi

            kwargs, self._inheritance_info[trial.trial_id] = _wi.inherit_from_parent(
                self, trial, model, kwargs, self.inherited_epochs)
        kwargs = self.before_fit(trial, model, kwargs)
        results = self.hypermodel.fit(hp, model, *args, **kwargs)
        if kt_backend.config.multi_backend():
            kt_utils.save_json(
                self._get_build_config_fname(trial.trial_id),
                model.get_build_config(),
            )
        self._record_trial_info(trial, model, results, args, kwargs)
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
        info.update(self._inheritance_info.pop(trial.trial_id, {}))  # issue 6
        info.update(self.extra_trial_info(trial, model, results))
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

