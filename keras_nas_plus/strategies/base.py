"""Shared base of the keras_nas_plus oracles.

`NASOracle` adds, on top of `keras_tuner.Oracle`:

* deterministic proposals: every proposal draws from a random generator
  seeded by `(seed, number of trials created, attempt)`, so the same seed gives
  the same sequence of proposals, also after a resume;
* bookkeeping values (names starting with `"nas/"`, such as the parent trial
  id) that travel with a trial's hyperparameters but never enter the
  duplicate hash;
* a `populate_space` that never raises (an exception there would leave Keras
  Tuner's oracle lock held): errors are reported and the search stops;
* atomic (write-then-rename) state and trial files, and a clear message with a
  fallback to the trial files when `oracle.json` is truncated;
* a resume that reconciles `oracle.json` with the trial files, so that a
  process killed at any point (mid-trial or while saving) loses no ended
  trial and retries the one in flight;
* trial leases for Keras Tuner's distributed mode (`trial_lease_seconds`): a
  trial whose worker sent nothing for that long is re-queued;
* a consecutive-failure limit that only counts trials that were not derived
  from a parent, so that failing mutations never abort a search.

See docs/long_searches.md.
"""

import json
import math
import time
import traceback
import warnings

import keras_tuner
import numpy as np

from keras_tuner.src.engine import metrics_tracking as _metrics_tracking

from keras_nas_plus.engine import pareto as _pareto
from keras_nas_plus.engine.trials import check_consecutive_failures  # noqa: F401 (re-exported)
from keras_nas_plus.engine.trials import objectives_of
from keras_nas_plus.engine.trials import trial_objective_values
from keras_nas_plus.strategies import _hp
from keras_nas_plus.strategies._resume import ResumableState
from keras_nas_plus.strategies._resume import UnreadableTrialFileError  # noqa: F401 (re-exported)
from keras_nas_plus._io import json_safe as _json_safe
from keras_nas_plus.vocabulary import PARENT_KEY
from keras_nas_plus.vocabulary import REJECTED_MESSAGE  # noqa: F401 (re-exported)
from keras_nas_plus.vocabulary import TRIAL_INFO_FILE  # noqa: F401 (re-exported)
from keras_nas_plus.vocabulary import is_rejected

_RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING
_STOPPED = keras_tuner.engine.trial.TrialStatus.STOPPED
_COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED
_FAILED = keras_tuner.engine.trial.TrialStatus.FAILED
_IDLE = keras_tuner.engine.trial.TrialStatus.IDLE
_ENDED = (_COMPLETED, _FAILED)


def _check_int(name, value, minimum, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"`{name}` must be an integer, got {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"`{name}` must be {bound}, got {value!r}.")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(repr(c) for c in choices)}, got {value!r}.")


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be a bool, got {value!r}.")


def _restore_options(oracle, state, defaults):
    """Sets each option of `defaults` from the saved `state["options"]` (states without it: the default)."""
    saved = state.get("options") or {}
    for name, default in defaults.items():
        if name in saved:
            value = saved[name]
            setattr(oracle, name, tuple(value) if isinstance(default, tuple) and value is not None else value)


#: Multi-objective options of every `NASOracle` (constructor arguments, saved in the state) and their defaults.
MULTI_OBJECTIVE_OPTIONS = {"pareto_archive": True, "crowding_scale": "rank", "pareto_secondary": "crowding"}


def _check_probability(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1], got {value!r}.")


class NASOracle(ResumableState, keras_tuner.Oracle):
    """Base class of the keras_nas_plus oracles (not used directly).

    Subclasses implement `propose(trial_id, rng)` returning a dict of values
    (or `None` when the search space is exhausted). Arguments are those of
    `keras_tuner.Oracle`; see `RegularizedEvolutionOracle` for their meaning,
    plus the two below.

    Args:
        max_consecutive_failed_trials: int >= 1 or None, default 3. The
            search stops with a `RuntimeError` after this many consecutive
            failed trials *that were not derived from a parent* (random or
            policy proposals): such a run of failures means the model-building
            function, the data or the machine is broken. A failed child of a
            mutation (it has `PARENT_KEY`) neither counts nor resets the run,
            since failing architectures are an expected part of the search
            space. `None` never stops the search. See `counts_as_failure`.
        trial_lease_seconds: float > 0 or None, default None. For distributed
            searches: a running trial whose tuner sent nothing (no
            `create_trial`, `update_trial`, `get_trial`, which NASTuner
            workers call every `heartbeat_seconds`) for this many seconds is
            taken from that tuner and re-queued for the next tuner that asks.
            `None`: trials are never taken back (Keras Tuner's behaviour).
            Units: seconds of wall-clock time on the chief.
        pareto_archive: bool, default True. With several objectives, parents
            are drawn from the population plus the non-dominated completed
            trials of the whole search (an elitist archive, as in NSGA-II's
            elitism), so front members outlive ageing.
        crowding_scale: "rank" (default) or "value" (NSGA-II). Scale of the
            crowding distance (`keras_nas_plus.engine.pareto.rank_and_crowding`).
        pareto_secondary: "crowding" (default, NSGA-II's crowding distance)
            or "hypervolume" (each point's exclusive hypervolume contribution
            within its front, SMS-EMOA; two objectives only, extremes first).
            The second key of the multi-objective order, after the
            non-dominated rank.
    """

    #: Seconds; `time.time`, replaceable in tests.
    clock = staticmethod(time.time)

    #: How many proposals are tried before the space counts as exhausted.
    max_proposal_attempts = 50

    def __init__(
        self,
        objective=None,
        max_trials=10,
        seed=None,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        trial_lease_seconds=None,
        pareto_archive=True,
        crowding_scale="rank",
        pareto_secondary="crowding",
    ):
        _check_bool("pareto_archive", pareto_archive)
        _check_choice("crowding_scale", crowding_scale, ("rank", "value"))
        _check_choice("pareto_secondary", pareto_secondary, ("crowding", "hypervolume"))
        if max_trials is not None:
            _check_int("max_trials", max_trials, 1)
        if seed is not None:
            _check_int("seed", seed, 0)
        _check_int("max_retries_per_trial", max_retries_per_trial, 0)
        if max_consecutive_failed_trials is not None:
            _check_int("max_consecutive_failed_trials", max_consecutive_failed_trials, 1)
        if trial_lease_seconds is not None and (
            isinstance(trial_lease_seconds, bool)
            or not isinstance(trial_lease_seconds, (int, float))
            or not math.isfinite(trial_lease_seconds)
            or trial_lease_seconds <= 0
        ):
            raise ValueError(
                f"`trial_lease_seconds` must be None or a number of seconds > 0, got {trial_lease_seconds!r}."
            )
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        # Keras Tuner draws a random seed when none is given; keep it, it is
        # part of the state and makes a resumed search continue identically.
        # It also treats `seed=0` as "none" (`seed or random...`): keep 0.
        if seed is not None:
            self.seed = self._seed_state = int(seed)
        self.trial_lease_seconds = None if trial_lease_seconds is None else float(trial_lease_seconds)
        self.pareto_archive = bool(pareto_archive)
        self.crowding_scale = crowding_scale
        self.pareto_secondary = pareto_secondary
        # trial_id -> clock() of the last message about it (not saved: a
        # resumed chief gives every running trial a fresh lease).
        self._heartbeats = {}
        self._abort_message = None
        self.abort_reason = None  # why the search was aborted (too many consecutive failures)

    # ------------------------------------------------------------------ API
    def propose(self, trial_id, rng):
        """Returns the values of the next trial, or `None` when exhausted.

        Args:
            trial_id: str, id of the trial being created.
            rng: `numpy.random.Generator` dedicated to this proposal.
        """
        raise NotImplementedError("Subclasses implement `propose`.")

    # -------------------------------------------------------------- helpers
    def _rng(self, *salt):
        """A generator determined by the seed and the number of trials."""
        return np.random.default_rng([int(self.seed), len(self.trials), *salt])

    def _compute_values_hash(self, values):
        return super()._compute_values_hash(_hp.decision_values(values))

    def is_duplicate(self, values):
        """Whether `values` (bookkeeping ignored) was already tried."""
        return self._compute_values_hash(values) in self._tried_so_far

    def random_unique_values(self, rng):
        """Random values not tried before, or `None` after many collisions."""
        for _ in range(self.max_proposal_attempts):
            values = _hp.random_values(self.hyperparameters.space, rng)
            if not self.is_duplicate(values):
                return values
        return None

    def completed_trials(self):
        """Completed trials with a finite score, in the order they ended.

        With several objectives, every objective value must be finite too.
        """
        multi = self.is_multi_objective()
        result = []
        for trial_id in self.end_order:
            trial = self.trials.get(trial_id)
            if trial is None or trial.status != _COMPLETED:
                continue
            score = trial.score
            if score is None or not math.isfinite(float(score)):
                continue
            if multi and self.objective_values(trial) is None:
                continue
            result.append(trial)
        return result

    # ------------------------------------------------- multi-objective
    def selection_pool(self, population):
        """Candidates for multi-objective selection: `population` + archive."""
        if not self.pareto_archive:
            return list(population)
        completed = self.completed_trials()
        if not completed:
            return list(population)
        front = [completed[i] for i in _pareto.pareto_front(self.minimised_values(completed))]
        members = {t.trial_id for t in population}
        return list(population) + [t for t in front if t.trial_id not in members]

    def is_multi_objective(self):
        """`True` when the oracle has several objectives."""
        return bool(getattr(self.objective, "objectives", None))

    def objective_values(self, trial):
        """The trial's per-objective values (see `trial_objective_values`).

        Values of completed trials are cached (they no longer change).
        """
        cache = self.__dict__.setdefault("_objective_values_cache", {})
        if trial.status == _COMPLETED and trial.trial_id in cache:
            return cache[trial.trial_id]
        values = trial_objective_values(trial, objectives_of(self.objective))
        if trial.status == _COMPLETED:
            cache[trial.trial_id] = values
        return values

    def minimised_values(self, trials):
        """Objective values of `trials` as a `(n, m)` array to minimise."""
        objectives = objectives_of(self.objective)
        rows = [self.objective_values(t) for t in trials]
        return _pareto.orient(np.asarray(rows, dtype=float).reshape(len(rows), len(objectives)),
                              [o.direction for o in objectives])

    def pareto_order_keys(self, trials):
        """Keys `(rank, -secondary)` of `trials`; lower is better.

        Ranks and the secondary key (NSGA-II crowding distance, or with
        `pareto_secondary = "hypervolume"` and two objectives the SMS-EMOA
        hypervolume contribution) are computed among `trials` only.

        Returns:
            list of `(int, float)` tuples, one per trial.

        Reference:
            Deb et al., NSGA-II, IEEE TEVC 2002, Section III-B (crowded
            comparison operator); Beume et al., SMS-EMOA, EJOR 2007.
        """
        points = self.minimised_values(trials)
        if self.pareto_secondary == "hypervolume" and points.shape[1] == 2:
            ranks, second = _pareto.rank_and_contribution(points, scale=self.crowding_scale)
        elif self.pareto_secondary in ("crowding", "hypervolume"):
            ranks, second = _pareto.rank_and_crowding(points, scale=self.crowding_scale)
        else:
            raise ValueError(f"`pareto_secondary` must be 'crowding' or 'hypervolume', got {self.pareto_secondary!r}.")
        return [(int(r), -float(c)) for r, c in zip(ranks, second)]

    def score_trial(self, trial):
        if not self.is_multi_objective() or trial.metrics.exists(self.objective.name):
            super().score_trial(trial)
            return
        # The metrics were reported one by one (no summed "multi_objective"):
        # score with Keras Tuner's sum at the step where that sum is best.
        objectives = objectives_of(self.objective)
        best_step, best_sum = None, math.inf
        for observation in trial.metrics.get_history(objectives[0].name):
            total = 0.0
            for obj in objectives:
                found = [o.mean() for o in trial.metrics.get_history(obj.name) if o.step == observation.step]
                if not found:
                    total = math.nan
                    break
                total += found[0] if obj.direction == "min" else -found[0]
            if not math.isnan(total) and total < best_sum:
                best_step, best_sum = observation.step, total
        trial.score = best_sum if best_step is not None else math.nan
        trial.best_step = best_step

    def higher_is_better(self):
        """`True` when the (single) objective is maximised."""
        direction = getattr(self.objective, "direction", "min")
        return direction == "max"

    #: MnasNet scalarisation used by `utility` when set (see `set_mnas_reward`).
    mnas_scalarization = None

    def set_mnas_reward(self, accuracy="val_accuracy", cost="latency_ms", target=None, w=-0.07):
        """Makes `utility` MnasNet's reward `accuracy * (cost / target) ** w`.

        Oracles that learn from a scalar (the REINFORCE controller's reward
        is `utility(trial)`) then trade accuracy against cost instead of
        using Keras Tuner's sum of objectives.

        Args:
            accuracy: str, default "val_accuracy". Metric maximised.
            cost: str, default "latency_ms". Cost metric (any metric the
                trials report, e.g. "params", "flops", "latency_ms").
            target: float > 0. Target cost, in the metric's unit.
            w: float or pair `(alpha, beta)`, default -0.07. See
                `keras_nas_plus.oracles._pareto.mnas_reward`.

        Raises:
            ValueError: if `target` is not positive or `w` is malformed.

        Reference:
            Tan et al., "MnasNet: Platform-Aware Neural Architecture Search
            for Mobile", CVPR 2019, Equation 2.
        """
        _pareto.mnas_reward(1.0, 1.0, target, w)  # validates target and w
        for name, value in (("accuracy", accuracy), ("cost", cost)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"`{name}` must be a metric name, got {value!r}.")
        self.mnas_scalarization = {"accuracy": accuracy, "cost": cost, "target": float(target),
                                   "w": list(w) if isinstance(w, (list, tuple)) else float(w)}

    def utility(self, trial):
        """The trial's score oriented so that larger is better.

        With `set_mnas_reward`, MnasNet's reward instead (NaN when a metric
        is missing or the cost is not positive).
        """
        if self.mnas_scalarization:
            m = self.mnas_scalarization
            values = trial_objective_values(
                trial, [keras_tuner.Objective(m["accuracy"], "max"), keras_tuner.Objective(m["cost"], "min")]
            )
            if values is None or not values[1] > 0:
                return math.nan
            w = tuple(m["w"]) if isinstance(m["w"], list) else m["w"]
            return _pareto.mnas_reward(values[0], values[1], m["target"], w)
        score = float(trial.score)
        return score if self.higher_is_better() else -score

    # ------------------------------------------------------ Oracle contract
    def populate_space(self, trial_id):
        try:
            values = self.propose(trial_id, self._rng())
        except Exception:  # never raise while Keras Tuner holds its lock
            warnings.warn(
                "The oracle failed to propose a trial and stops the search:\n"
                + traceback.format_exc()
            )
            return {"status": _STOPPED, "values": None}
        if values is None:
            return {"status": _STOPPED, "values": None}
        return {"status": _RUNNING, "values": _json_safe(values)}

    def options(self) -> dict:
        """The oracle's options (constructor arguments saved in the state): name -> value."""
        return {name: getattr(self, name) for name in MULTI_OBJECTIVE_OPTIONS}

    def get_state(self):
        state = super().get_state()
        if self.mnas_scalarization:
            state["mnas_scalarization"] = self.mnas_scalarization
        state["options"] = {k: v for k, v in self.options().items() if not callable(v)}
        return _json_safe(state)

    def set_state(self, state):
        super().set_state(state)
        self.mnas_scalarization = state.get("mnas_scalarization")
        _restore_options(self, state, MULTI_OBJECTIVE_OPTIONS)

    # -------------------------------------------- trial lifecycle (locked)
    def _holder(self, trial_id):
        for tuner_id, trial in self.ongoing_trials.items():
            if trial.trial_id == trial_id:
                return tuner_id
        return None

    def _expire_leases(self):
        """Re-queues running trials whose tuner sent nothing for the lease."""
        if self.trial_lease_seconds is None:
            return
        now = self.clock()
        expired = False
        for tuner_id, trial in list(self.ongoing_trials.items()):
            last = self._heartbeats.setdefault(trial.trial_id, now)
            if now - last < self.trial_lease_seconds:
                continue
            warnings.warn(
                f"Trial {trial.trial_id}: tuner {tuner_id!r} sent nothing for "
                f"{now - last:.0f} s (trial_lease_seconds={self.trial_lease_seconds:g}); "
                "the trial is re-queued for another tuner."
            )
            del self.ongoing_trials[tuner_id]
            self.tuner_ids.discard(tuner_id)
            self._heartbeats.pop(trial.trial_id, None)
            trial.metrics = _metrics_tracking.MetricsTracker()
            if trial.trial_id not in self._retry_queue:
                self._retry_queue.append(trial.trial_id)
            expired = True
        if expired:
            self.save()

    def _others_may_be_requeued(self, tuner_id):
        return self.trial_lease_seconds is not None and any(
            t != tuner_id for t in self.ongoing_trials
        )

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if tuner_id in self.ongoing_trials:
            # A tuner restarted with the same id asks again: it is alive and
            # gets its trial back (Keras Tuner's behaviour), lease renewed.
            trial = self.ongoing_trials[tuner_id]
            self._heartbeats[trial.trial_id] = self.clock()
            return trial
        self._expire_leases()
        if (
            tuner_id not in self.ongoing_trials
            and not self._retry_queue
            and self.max_trials
            and len(self.trials) >= self.max_trials
            and self._others_may_be_requeued(tuner_id)
        ):
            # Another tuner's trial may still be taken back: do not let this
            # tuner exit yet (NASTuner waits a little before asking again).
            self.tuner_ids.add(tuner_id)
            return keras_tuner.engine.trial.Trial(self.hyperparameters.copy(), status=_IDLE)
        trial = super().create_trial(tuner_id)
        if trial.status == _RUNNING:
            self._heartbeats[trial.trial_id] = self.clock()
        return trial

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        if trial_id in self.end_order:
            # A tuner that lost its lease reports after another one did.
            warnings.warn(f"Trial {trial_id} already ended; the late metrics are ignored.")
            return self.trials[trial_id]
        self._heartbeats[trial_id] = self.clock()
        return super().update_trial(trial_id, metrics, step=step)

    def get_trial(self, trial_id):
        """Returns the trial; from a running trial's tuner, a heartbeat."""
        if trial_id in self._heartbeats:
            self._heartbeats[trial_id] = self.clock()
        return super().get_trial(trial_id)

    def counts_as_failure(self, trial):
        """Whether a failed trial counts toward `max_consecutive_failed_trials`.

        Trials derived from a parent (mutations, morphisms: they carry
        `PARENT_KEY`) do not count; subclasses may refine this.
        """
        if is_rejected(trial):  # a constraint violation is no crash
            return False
        return PARENT_KEY not in trial.hyperparameters.values

    def _check_consecutive_failures(self):
        # Called by Keras Tuner's `end_trial` while it holds the lock: note
        # the problem and raise once the state is saved (`end_trial`).
        if self.max_consecutive_failed_trials is None:
            return
        run, last = 0, None
        for trial_id in self.end_order:
            trial = self.trials[trial_id]
            if trial.status == _FAILED:
                if self.counts_as_failure(trial):
                    run, last = run + 1, trial
            else:
                run = 0
        if run >= self.max_consecutive_failed_trials:
            self._abort_message = (
                f"{run} consecutive failed trials (max_consecutive_failed_trials="
                f"{self.max_consecutive_failed_trials}; failed children of mutations are not "
                f"counted). The last one, trial {last.trial_id}, failed with:\n" + (last.message or "")
            )

    @keras_tuner.synchronized
    def _end_trial_locked(self, trial):
        if trial.trial_id in self.end_order:
            # A tuner that lost its lease finished after another one did.
            warnings.warn(f"Trial {trial.trial_id} already ended; the late result is ignored.")
            holder = self._holder(trial.trial_id)
            if holder is not None:
                del self.ongoing_trials[holder]
            return
        self._heartbeats.pop(trial.trial_id, None)
        completed = trial.status == _COMPLETED
        super().end_trial(trial)
        stored = self.trials[trial.trial_id]
        if completed and stored.status == _FAILED and not stored.message:  # Keras Tuner says nothing (issue 22)
            stored.message = f"objective {getattr(self.objective, 'name', 'score')} is not finite (score {stored.score})"
            self._save_trial(stored)
        self.save()  # now without the ended trial in `ongoing_trials`

    def end_trial(self, trial):
        self._abort_message = None
        self._end_trial_locked(trial)
        if self._abort_message:  # raised outside Keras Tuner's lock
            message, self._abort_message = self._abort_message, None
            self.abort_reason = message  # read by the chief of a distributed search
            raise RuntimeError(message)
