"""`NASTuner`: the `keras_tuner.Tuner` subclass all keras_nas_plus tuners share."""

import functools
import json
import math
import os
import statistics
import threading
import time
import warnings

import keras
import keras_tuner
from keras_tuner.src import backend as kt_backend
from keras_tuner.src import utils as kt_utils
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import tuner as tuner_module
from keras_tuner.src.engine import tuner_utils

from keras_nas_plus._io import atomic_write_text
from keras_nas_plus._io import json_safe
from keras_nas_plus.engine import chief
from keras_nas_plus.engine import timing as timing_module
from keras_nas_plus.engine import trials as _trials
from keras_nas_plus.engine.memory import TrialMemory
from keras_nas_plus.engine.records import TrialRecords
from keras_nas_plus.engine.trial_support import CONSTRAINTS
from keras_nas_plus.engine.trial_support import ConstraintViolation
from keras_nas_plus.engine.trial_support import _adapt_keras_tuner_oracle
from keras_nas_plus.engine.trial_support import _check_constraint
from keras_nas_plus.engine.trial_support import _CostLogger
from keras_nas_plus.engine.trial_support import _EpochTunerCallback
from keras_nas_plus.engine.trial_support import _finite_or_none
from keras_nas_plus.engine.trial_support import StopOnNonFiniteLoss
from keras_nas_plus.engine.trial_support import TRACEBACK_FILE
from keras_nas_plus.engine.trial_support import _mark_resumable
from keras_nas_plus.engine.trial_support import _one_line
from keras_nas_plus.engine.trial_support import _raise_on_nan_objective
from keras_nas_plus.engine.trial_support import _raise_on_nan_loss  # noqa: F401 (re-exported)
from keras_nas_plus.engine.trial_support import _stop_new_trials
from keras_nas_plus.engine.trial_support import _uses_batch_hooks
from keras_nas_plus.estimation import costs as costs_module
from keras_nas_plus.estimation import inheritance as _wi
from keras_nas_plus.estimation import learning_curves as lce
from keras_nas_plus.estimation.base import check_estimators
from keras_nas_plus.spaces import _training
from keras_nas_plus.vocabulary import REJECTED_MESSAGE
from keras_nas_plus.vocabulary import TRIAL_INFO_FILE  # noqa: F401 (re-exported)
from keras_nas_plus.vocabulary import TRIAL_MESSAGE_FILE
from keras_nas_plus.vocabulary import is_rejected


def _estimated_build(estimator, build, hp, hypermodel=None):
    """One link of the estimators' `build_model` chain."""
    if hypermodel is not None:
        return build(hp, hypermodel)
    return estimator.build_model(hp, build)


class NASTuner(TrialRecords, keras_tuner.Tuner):
    """A `keras_tuner.Tuner` that records what NAS users need per trial.

    Besides Keras Tuner's own files, every trial directory gets a
    `nas_trial.json` with the parameter count, the number of epochs actually
    trained, the input shape and number of training examples, and the
    per-epoch learning curves (`history`). A NaN or infinite training loss
    stops the trial within a few steps (`StopOnNonFiniteLoss`, a
    `keras.callbacks.TerminateOnNaN` that lets Keras keep dispatching steps
    ahead of the device) and the trial is recorded as FAILED with that
    reason; the search goes on.

    Cost metrics: after building each model and before training it, the
    tuner computes its parameter count (`"params"`), analytic FLOPs per
    example (`"flops"`, a multiply-add = 2 FLOPs, see `keras_nas_plus.costs`)
    and measured inference latency (`"latency_ms"`: batch 1, median of
    `latency_runs` calls, current device, milliseconds). They are written to
    `nas_trial.json` and reported as trial metrics, so they can be
    objectives, e.g. `objective=[keras_tuner.Objective("val_accuracy",
    "max"), keras_tuner.Objective("params", "min")]`.

    Hard constraints: an architecture exceeding `max_params`, `max_flops` or
    `max_latency_ms` is rejected before training. Its trial ends FAILED with a
    message starting with `keras_nas_plus.oracles.base.REJECTED_MESSAGE`
    (`is_rejected(trial)` tells); it takes no training time, is never selected
    as a parent, and never counts toward `max_consecutive_failed_trials`, but
    it does use one of the `max_trials` trial ids.

    Args:
        oracle: a `keras_tuner.Oracle`.
        hypermodel: a `keras_tuner.HyperModel` or a `build(hp)` function.
        progress: bool, default False. Print one line per finished trial
            (which trial, its score, seconds taken, best score so far).
        max_params: int or None, default None. Largest parameter count.
        max_flops: number or None, default None. Largest FLOPs per example.
        max_latency_ms: number or None, default None. Largest measured
            inference latency, milliseconds (batch 1).
        latency_runs: int >= 0, default 10. Timed calls per latency
            measurement; 0 skips it (then `max_latency_ms` must be None).
        time_budget: float or None, default None. Wall-clock budget of one
            `search` call in seconds: no trial starts after it, nor one that
            would not end within it at the median duration of the trials
            this call has finished (so a search overruns its budget only when
            a trial takes longer than that median). `budget_exhausted` tells
            whether it was hit.
        estimators: list of `keras_nas_plus.estimation.Estimator` or None,
            default None. Performance-estimation strategies, called in this
            order at each point a trial goes through (`estimation/base.py`):
            e.g. `[LowerFidelity(Fidelity(epochs=3)), LearningCurveEstimator()]`.
            `learning_curve` and `weight_inheritance` below add theirs after
            these.
        learning_curve: None (default, off), True, or a dict of
            `keras_nas_plus.callbacks.LearningCurveExtrapolation` arguments
            (all but `target`): stop trials whose extrapolated learning curve
            is unlikely to beat the oracle's best score so far.
        weight_inheritance: bool, default False. A child trial whose
            hyperparameters name a parent trial (`PARENT_KEY`, set by the
            evolution oracle) starts from the parent's best checkpoint
            through `keras_nas_plus.morphism.inherit_weights` and trains at
            most `inherited_epochs` epochs.
        inherited_epochs: int or None, default None (E/3 of the `epochs`
            given to `search`, at least 1). Epochs of an inherited child.
        inherited_lr_factor: float in (0, 1], default 1.0. An inherited
            child trains at this fraction of the learning rate its model was
            compiled with (1: unchanged); see docs/morphism.md.
        prefer_morphisms: bool, default True. With `weight_inheritance` and
            an oracle that has a `child_preference` hook (regularized
            evolution with untried neighbours), draw children among the
            parent's neighbours that are function-preserving for
            `inherit_weights` (`keras_nas_plus.morphism.tuning.
            MorphismPreference`; any neighbour when none is).
        heartbeat_seconds: float > 0, default 30. Distributed workers only:
            while a trial runs, tell the chief every this many seconds that
            the worker is alive (see `NASOracle`'s `trial_lease_seconds`).
        dtype_policy: str or None, default None (the global policy). A Keras
            dtype policy such as `"mixed_bfloat16"` set before each trial's
            model is built (Keras Tuner clears the session, and with it the
            global policy, before every build).
        free_trial_memory: bool, default True. When a trial ends, free what
            it leaves in the process (TensorFlow's per-trace custom-gradient
            registrations that keep every trained graph alive, then
            `gc.collect()` and glibc's `malloc_trim(0)`), so resident memory
            stays flat over long searches; see
            `keras_nas_plus.engine.memory` and docs/long_searches.md.
        **kwargs: arguments of `keras_tuner.Tuner` (`max_model_size`,
            `directory`, `project_name`, `overwrite`, `executions_per_trial`,
            `optimizer`, `loss`, `metrics`, ...).

    Raises:
        ValueError: if a constraint, `latency_runs` or `heartbeat_seconds`
            is out of range.

    Resuming (`overwrite=False`, the default) works after a kill at any
    point: the tuner and oracle files are written atomically, and a project
    directory that has trial files but no tuner file (killed during the first
    trial) is resumed too. See docs/long_searches.md.
    """

    #: Seconds a tuner waits before asking again when the oracle answers IDLE.
    idle_wait_seconds = 1.0
    #: Stop the search after a trial's first epoch if an objective (or the
    #: learning-curve monitor) is missing from the epoch logs
    #: (`keras_nas_plus.callbacks.MetricNotLoggedError`).
    check_logged_metrics = True

    def __init__(
        self,
        oracle,
        hypermodel=None,
        progress=False,
        time_budget=None,
        estimators=None,
        learning_curve=None,
        max_params=None,
        max_flops=None,
        max_latency_ms=None,
        latency_runs=10,
        weight_inheritance=False,
        inherited_epochs=None,
        inherited_lr_factor=1.0,
        prefer_morphisms=True,
        heartbeat_seconds=30.0,
        free_trial_memory=True,
        dtype_policy=None,
        **kwargs,
    ):
        self.constraints = {}
        for name, value in (("max_params", max_params), ("max_flops", max_flops),
                            ("max_latency_ms", max_latency_ms)):
            if _check_constraint(name, value) is not None:
                self.constraints[name] = value
        if isinstance(latency_runs, bool) or not isinstance(latency_runs, int) or latency_runs < 0:
            raise ValueError(f"`latency_runs` must be an integer >= 0, got {latency_runs!r}.")
        if latency_runs == 0 and max_latency_ms is not None:
            raise ValueError("`max_latency_ms` needs `latency_runs` >= 1, got latency_runs=0.")
        self.latency_runs = latency_runs
        if time_budget is not None and (isinstance(time_budget, bool) or not isinstance(time_budget, (int, float))
                                        or time_budget <= 0):
            raise ValueError(f"`time_budget` must be a positive number of seconds or None, got {time_budget!r}.")
        # Performance estimation: one list of estimators (estimation/base.py).
        self.estimators = check_estimators(estimators)
        self.learning_curve = lce.learning_curve_kwargs(learning_curve)
        if self.learning_curve is not None:
            self.estimators.append(lce.LearningCurveEstimator(self.learning_curve))
        (self.weight_inheritance, self.inherited_epochs,
         self.inherited_lr_factor) = _wi.check_settings(
            weight_inheritance, inherited_epochs, inherited_lr_factor)
        if not isinstance(prefer_morphisms, bool):
            raise ValueError(f"`prefer_morphisms` must be a bool, got {prefer_morphisms!r}.")
        self.prefer_morphisms = prefer_morphisms
        if self.weight_inheritance:
            self.estimators.append(_wi.WeightInheritance(inherited_epochs, inherited_lr_factor, prefer_morphisms))
        # --- reliability (issue 9) ---
        if isinstance(heartbeat_seconds, bool) or not isinstance(heartbeat_seconds, (int, float)) \
                or not heartbeat_seconds > 0:
            raise ValueError(f"`heartbeat_seconds` must be a number of seconds > 0, got {heartbeat_seconds!r}.")
        _mark_resumable(kwargs)
        # --- end reliability ---
        super().__init__(oracle, hypermodel, **kwargs)
        for estimator in self.estimators:
            estimator.attach(self)
        self.progress = progress
        self.time_budget = time_budget
        self.budget_exhausted = False
        self._deadline = None
        self.heartbeat_seconds = float(heartbeat_seconds)
        self._trial_started = {}
        self._trial_seconds = []  # durations of the trials finished in this `search` call
        self._heartbeat = None
        self._begun = 0
        self._begun_at_last_request = None
        self._trial_costs = {}
        # Local worker processes the chief watches ({tuner_id: Popen}, {tuner_id: log path});
        # set by `keras_nas_plus._workers` for `search.workers`.
        self.worker_processes = {}
        self.worker_logs = {}
        self.free_trial_memory = bool(free_trial_memory)
        self.dtype_policy = dtype_policy
        if dtype_policy is not None:
            keras.dtype_policies.get(dtype_policy)  # raises ValueError for an unknown policy
        self._trial_memory = TrialMemory()  # issue 9, "Memory"
        if not hasattr(self.oracle, "is_multi_objective"):
            _adapt_keras_tuner_oracle(self.oracle)

    # ------------------------------------------------------ state on disk
    def save(self):
        if not self._is_worker():
            self.oracle.save()
        atomic_write_text(self._get_tuner_fname(), json.dumps(self.get_state()))

    def reload(self):
        if not self._is_worker():
            self.oracle.reload()
        fname = self._get_tuner_fname()
        try:
            with open(fname) as f:
                state = json.load(f)
        except (OSError, ValueError) as e:
            warnings.warn(f"The tuner state file {fname} is unreadable ({e}); starting it afresh.")
            state = {}
        self.set_state(state)

    # ---------------------------------------------- distributed workers
    def _wait_if_idle(self):
        # The oracle answered IDLE last time (nothing ran since): wait a
        # little instead of asking in a busy loop.
        if self._begun_at_last_request == self._begun:
            time.sleep(self.idle_wait_seconds)
        self._begun_at_last_request = self._begun

    def _start_heartbeat(self, trial_id):
        if not self._is_worker():
            return
        stop = threading.Event()
        oracle = self.oracle

        def beat():
            while not stop.wait(self.heartbeat_seconds):
                try:
                    oracle.get_trial(trial_id)
                except Exception:  # the chief may be restarting
                    pass

        thread = threading.Thread(target=beat, name=f"nas-heartbeat-{trial_id}", daemon=True)
        thread.start()
        self._heartbeat = stop

    def _stop_heartbeat(self):
        if self._heartbeat is not None:
            self._heartbeat.set()
            self._heartbeat = None

    def search(self, *fit_args, **fit_kwargs):
        """Runs the search; with `time_budget`, no trial starts after it.

        Nor does one start when the time left is shorter than the median
        duration of the trials finished so far in this call. Trials already
        running finish; the oracle then stops as if `max_trials` were
        reached, so a caller can still run a final phase. On the chief of
        Keras Tuner's chief/worker mode (`KERASTUNER_TUNER_ID=chief`), this
        serves the oracle until the workers are done, and the chief keeps the
        time budget (`keras_nas_plus.engine.chief`).
        """
        self.budget_exhausted = False
        self._trial_seconds = []
        max_trials = self.oracle.max_trials
        if dist_utils.is_chief_oracle():
            # The chief serves the oracle and keeps the time budget (engine/chief.py).
            if "verbose" in fit_kwargs:
                self.oracle.verbose = fit_kwargs["verbose"]
            self.save()
            try:
                chief.serve(self, self.worker_processes, self.worker_logs)
            finally:
                self.oracle.max_trials = max_trials
            for estimator in self.estimators:
                estimator.after_search(self)
            return None
        self._deadline = None if self.time_budget is None else time.time() + self.time_budget
        try:
            result = super().search(*fit_args, **fit_kwargs)
        finally:
            self.oracle.max_trials = max_trials
            self._deadline = None
        for estimator in self.estimators:
            estimator.after_search(self)
        return result

    def pre_create_trial(self):
        self._wait_if_idle()  # reliability (issue 9)
        super().pre_create_trial()
        if self._deadline is not None:
            self._apply_time_budget(self._deadline - time.time(), self._trial_seconds)

    def _apply_time_budget(self, left, trial_seconds):
        """Starts no new trial once `left` (seconds) is below the median of `trial_seconds`.

        Used before each trial here and, on the chief of a distributed
        search, between requests (`engine/chief.py`). The oracle then stops
        as at `max_trials`; the message prints once per `search` call.
        """
        typical = statistics.median_high(trial_seconds) if trial_seconds else 0.0
        if left > 0 and left >= typical:
            return
        if not self.budget_exhausted and self.progress:
            why = "reached" if left <= 0 else f"nearly spent ({left:.0f} s left, a trial takes about {typical:.0f} s)"
            print(f"Time budget of {self.time_budget:g} s {why}: no new trials.", flush=True)
        self.budget_exhausted = True
        _stop_new_trials(self.oracle)

    # ----------------------------------------------------------- per trial
    def before_fit(self, trial, model, fit_kwargs):
        """Hook run after the model is built and before it is trained (after the estimators').

        Performance-estimation strategies plug in as `estimators`
        (`keras_nas_plus.estimation.Estimator.before_fit`); this hook is for
        a subclass. Returns the (possibly changed) `fit` keyword arguments.
        """
        return fit_kwargs

    def extra_trial_info(self, trial, model, results):
        """Hook: more JSON-safe entries for the trial's `nas_trial.json`."""
        return {}

    def model_costs(self, trial, model):
        """Cost metrics of the trial's model (computed once per trial)."""
        costs = self._trial_costs.get(trial.trial_id)
        if costs is None:
            costs = costs_module.model_costs(model, latency_runs=self.latency_runs)
            self._trial_costs[trial.trial_id] = costs
        return costs

    def violated_constraints(self, costs):
        """Text for each hard constraint that `costs` exceed (empty: none)."""
        violated = []
        for name, limit in self.constraints.items():
            value = costs.get(CONSTRAINTS[name])
            if value is not None and math.isfinite(value) and value > limit:
                violated.append(f"{CONSTRAINTS[name]}={value:g} > {name}={limit:g}")
        return violated

    def _reject(self, trial, model, costs, violated):
        info = {
            "trial_id": trial.trial_id,
            "hyperparameters": json_safe(dict(trial.hyperparameters.values)),
            "num_params": int(model.count_params()),
            "costs": {k: _finite_or_none(v) for k, v in costs.items()},
            "rejected": True,
            "constraint_violations": violated,
            "epochs_trained": 0,
        }
        atomic_write_text(self._trial_info_fname(trial.trial_id), json.dumps(info))
        raise ConstraintViolation(f"{REJECTED_MESSAGE}: {'; '.join(violated)}")

    def build_model(self, hp: keras_tuner.HyperParameters, hypermodel=None) -> keras.Model:
        """Builds and compiles the network of `hp`, as Keras Tuner does for a trial.

        Args:
            hp: `keras_tuner.HyperParameters`.
            hypermodel: the search space to build with, default the tuner's.

        Returns:
            a `keras.Model`, compiled with the tuner's compile arguments.
        """
        if hypermodel is None or hypermodel is self.hypermodel:
            return super()._build_hypermodel(hp)
        model = hypermodel.build(hp)
        self._override_compile_args(model)
        return model

    def _build_hypermodel(self, hp):
        # Keras Tuner's only place to build a trial's model (no public hook): the
        # estimators' `build_model` chain runs here.
        # Keras Tuner calls `clear_session()` before each build, which resets the global dtype policy.
        if self.dtype_policy is not None:
            keras.config.set_dtype_policy(self.dtype_policy)
        build = self.build_model
        for estimator in reversed(self.estimators):
            build = functools.partial(_estimated_build, estimator, build)
        return build(hp)

    def _try_build(self, hp):
        # `max_model_size` is checked as a hard constraint in `_build_and_fit_model` (issue 22):
        # Keras Tuner's own check fails the trial, and three in a row abort the search.
        limit, self.max_model_size = self.max_model_size, None
        try:
            return super()._try_build(hp)
        finally:
            self.max_model_size = limit

    def _try_run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        super()._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
        # One line in `trial.message`, the traceback in the trial's own file; none once completed.
        fname = os.path.join(self.get_trial_dir(trial.trial_id), TRACEBACK_FILE)
        if trial.status == "COMPLETED":
            trial.message = None
        elif trial.message and "\n" in trial.message.strip():
            atomic_write_text(fname, trial.message)
            trial.message = _one_line(trial.message)

    def _build_and_fit_model(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        started = time.perf_counter()
        model = self._try_build(hp)
        build_seconds = time.perf_counter() - started
        costs = self.model_costs(trial, model)
        self._timing = (timing_module.TrialTiming(), build_seconds, time.perf_counter() - started - build_seconds)
        violated = self.violated_constraints(costs)
        size = tuner_module.maybe_compute_model_size(model) if self.max_model_size else 0
        if self.max_model_size and size > self.max_model_size:
            violated.append(f"trainable params={size} > max_model_size={self.max_model_size}")
        if violated:
            self._reject(trial, model, costs, violated)
        kwargs = dict(kwargs)
        callbacks = list(kwargs.get("callbacks", []))
        if not _uses_batch_hooks(self):
            callbacks = [
                _EpochTunerCallback(c.tuner, c.trial) if type(c) is tuner_utils.TunerCallback else c
                for c in callbacks
            ]
        if not any(isinstance(c, keras.callbacks.TerminateOnNaN) for c in callbacks):
            callbacks.append(StopOnNonFiniteLoss())
        callbacks.append(self._timing[0])  # per-trial timing (issue 23)
        reported = {k: v for k, v in costs.items() if math.isfinite(v)}
        callbacks.insert(0, _CostLogger(reported))
        if self.check_logged_metrics:  # a misspelt objective stops the search after one epoch (issue 22)
            callbacks.insert(1, lce.CheckLoggedMetrics(self._needed_metrics()))
        kwargs["callbacks"] = callbacks
        for estimator in self.estimators:
            args, kwargs = estimator.before_fit(trial, model, tuple(args), dict(kwargs))
        kwargs = self.before_fit(trial, model, kwargs)
        args, kwargs = _training.whole_batches(args, kwargs)  # JAX: one compilation per step function
        results = self.hypermodel.fit(hp, model, *args, **kwargs)
        results = self._with_costs(results, reported)
        if kt_backend.config.multi_backend():
            kt_utils.save_json(
                self._get_build_config_fname(trial.trial_id),
                model.get_build_config(),
            )
        self._record_trial_info(trial, model, results, args, kwargs)
        _raise_on_nan_loss(results)
        _raise_on_nan_objective(results, [o.name for o in _trials.objectives_of(self.oracle.objective)])
        tuner_utils.validate_trial_results(
            results, self.oracle.objective, "HyperModel.fit()"
        )
        return results

    def _needed_metrics(self):
        """`{metric name: role}` the epoch logs must hold: objectives, the curve monitor."""
        objective = getattr(self.oracle, "objective", None)
        names = {} if objective is None else {o.name: "objective" for o in _trials.objectives_of(objective)}
        monitor = (self.learning_curve or {}).get("monitor")
        if monitor:
            names.setdefault(monitor, "monitor")
        return names

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
        for fname in (self._trial_info_fname(trial.trial_id),
                      os.path.join(self.get_trial_dir(trial.trial_id), TRIAL_MESSAGE_FILE)):
            if os.path.exists(fname):
                os.remove(fname)
        # Its values first: a lost trial.json is rebuilt from this record (issue 22).
        atomic_write_text(self._trial_info_fname(trial.trial_id), json.dumps(
            {"trial_id": trial.trial_id, "hyperparameters": json_safe(dict(trial.hyperparameters.values))}))
        self._trial_started[trial.trial_id] = time.time()
        self._begun += 1
        self._start_heartbeat(trial.trial_id)
        if self.free_trial_memory:
            self._trial_memory.begin()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        self._stop_heartbeat()
        started = self._trial_started.get(trial.trial_id)
        if started is not None:
            self._trial_seconds.append(time.time() - started)
        if trial.message and self._is_worker():
            # Keras Tuner's gRPC messages carry no `trial.message`: the chief reads it here.
            atomic_write_text(os.path.join(self.get_trial_dir(trial.trial_id), TRIAL_MESSAGE_FILE), trial.message)
        try:
            super().on_trial_end(trial)
            if self.progress:
                print(self._progress_line(trial), flush=True)
        finally:
            if self.free_trial_memory:
                self._trial_memory.end()

    def _progress_line(self, trial, seconds=None, done=None):
        trial = self.oracle.get_trial(trial.trial_id)
        started = self._trial_started.pop(trial.trial_id, None)
        if seconds is None:
            seconds = 0.0 if started is None else time.time() - started
        if done is None:
            done = len(getattr(self.oracle, "end_order", ())) or "?"
        total = self.oracle.max_trials or "?"
        counter = "" if done == "?" else f"[{done}/{total}] "  # a worker does not know `done`
        if is_rejected(trial):
            return (f"{counter}trial {trial.trial_id} rejected before training: "
                    + (trial.message or "").strip().splitlines()[-1].split(": ", 1)[-1])
        score = "failed" if trial.score is None or not math.isfinite(float(trial.score)) else f"{trial.score:.4f}"
        best = self.oracle.get_best_trials(1)
        best_text = "-"
        if best and best[0].score is not None and math.isfinite(float(best[0].score)):
            best_text = f"{best[0].score:.4f} (trial {best[0].trial_id})"
        name = getattr(self.oracle.objective, "name", "score")
        return (f"{counter}trial {trial.trial_id} {trial.status.lower()} in {seconds:.0f} s: "
                f"{name}={score}; best so far {best_text}")

