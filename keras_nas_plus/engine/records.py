"""`NASTuner`'s per-trial records (`nas_trial.json`) and Pareto front (a mixin)."""

import json
import os
import time

import keras

from keras_nas_plus._io import atomic_write_text
from keras_nas_plus.engine import pareto as _pareto
from keras_nas_plus.engine import timing as timing_module
from keras_nas_plus.engine import trials as _trials
from keras_nas_plus.engine.trial_support import _count_examples
from keras_nas_plus.engine.trial_support import _finite_or_none
from keras_nas_plus.vocabulary import TRIAL_INFO_FILE


class TrialRecords:
    """Writes and reads the `nas_trial.json` of each trial; the completed trials' Pareto front."""

    def _with_costs(self, results, costs):
        """Adds the cost metrics to what `HyperModel.fit` returned."""
        if isinstance(results, keras.callbacks.History):
            epochs = max((len(v) for v in results.history.values()), default=0)
            for name, value in costs.items():
                if name not in results.history or len(results.history[name]) != epochs:
                    results.history[name] = [value] * epochs
            return results
        if isinstance(results, dict):
            return {**costs, **results}
        if isinstance(results, (int, float)) and not isinstance(results, bool) or (
            hasattr(results, "dtype") and getattr(results, "ndim", 1) == 0
        ):
            return {**costs, self.oracle.objective.name: float(results)}
        return results

    def _record_trial_info(self, trial, model, results, args, kwargs):
        history = {}
        costs = self._trial_costs.get(trial.trial_id, {})
        if isinstance(results, keras.callbacks.History):
            history = {
                k: [_finite_or_none(v) for v in values]
                for k, values in results.history.items()
                if k not in costs
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
            costs={k: _finite_or_none(v) for k, v in costs.items()},
            history=history,
        )
        for estimator in self.estimators:
            info.update(estimator.record(trial, model, results))
        if getattr(self, "_timing", None) is not None:  # per-trial timing (issue 23)
            (timer, build_seconds, costs_seconds), self._timing = self._timing, None
            started = self._trial_started.get(trial.trial_id)
            info["timing"] = timing_module.timing_record(
                info.get("timing"), timer.record(), build_seconds, costs_seconds,
                0.0 if started is None else time.time() - started)
        initial = trial.hyperparameters.values.get("nas/initial_architecture")  # warm start (issue 23)
        if initial is not None:
            info["initial_architecture"] = initial
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

    def get_pareto_front(self):
        """The completed trials that no other completed trial dominates.

        Uses the oracle's objectives (each with its direction); with a single
        objective this is the best trial (and any tie). Rejected, failed and
        NaN trials are ignored.

        Returns:
            list of dicts, sorted by the first objective (best first), each
            with `"trial_id"`, `"trial"` (the `keras_tuner` Trial),
            `"hyperparameters"` (dict of values), `"objectives"` (dict name ->
            value at the trial's best step) and `"costs"` (dict of the cost
            metrics, see `keras_nas_plus.costs`).
        """
        objectives = _trials.objectives_of(self.oracle.objective)
        trials, rows = [], []
        for trial_id in sorted(self.oracle.trials):
            trial = self.oracle.trials[trial_id]
            if trial.status != "COMPLETED":
                continue
            values = _trials.trial_objective_values(trial, objectives)
            if values is None:
                continue
            trials.append(trial)
            rows.append(values)
        if not trials:
            return []
        points = _pareto.orient(rows, [o.direction for o in objectives])
        front = sorted(_pareto.pareto_front(points), key=lambda i: tuple(points[i]))
        result = []
        for i in front:
            trial = trials[i]
            info = self.get_trial_info(trial.trial_id)
            result.append({
                "trial_id": trial.trial_id,
                "trial": trial,
                "hyperparameters": dict(trial.hyperparameters.values),
                "objectives": {o.name: v for o, v in zip(objectives, rows[i])},
                "costs": info.get("costs") or {},
            })
        return result
