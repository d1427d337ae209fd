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

import glob
import json
import math
import os
import time
import traceback
import warnings

import keras_tuner
import numpy as np

from keras_tuner.src.engine import metrics_tracking as _metrics_tracking
from keras_tuner.src.engine import stateful as _stateful

from keras_nas_plus._io import atomic_write_text
from keras_nas_plus.oracles import _hp
from keras_nas_plus.oracles import _pareto

#: Hyperparameter-values key holding the id of the trial a child was derived
#: from (a string). Bookkeeping only: excluded from the duplicate hash.
PARENT_KEY = "nas/parent_trial_id"

_RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING
_STOPPED = keras_tuner.engine.trial.TrialStatus.STOPPED
_COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED
_FAILED = keras_tuner.engine.trial.TrialStatus.FAILED
_IDLE = keras_tuner.engine.trial.TrialStatus.IDLE
_ENDED = (_COMPLETED, _FAILED)

#: Start of the message of a trial whose architecture violated a hard
#: constraint (`max_params`, `max_flops`, `max_latency_ms`) and was rejected
#: before training. Such a trial ends FAILED but is no crash: it never counts
#: toward `max_consecutive_failed_trials` and never enters a population.
REJECTED_MESSAGE = "keras_nas_plus: rejected before training, constraint violated"

#: Per-trial record written by `NASTuner` next to Keras Tuner's trial.json.
TRIAL_INFO_FILE = "nas_trial.json"


class UnreadableTrialFileError(ValueError):
    """A `trial.json` is unreadable and cannot be rebuilt (the message names the file)."""


def _metrics_direction(objective, name):
    for obj in objectives_of(objective):
        if obj.name == name:
            return obj.direction
    return "min" if "loss" in name else "max"


def is_rejected(trial):
    """Whether a trial was rejected by a hard constraint (not a crash)."""
    return trial.status == _FAILED and REJECTED_MESSAGE in (trial.message or "")


def check_consecutive_failures(oracle):
    """Keras Tuner's consecutive-failure check, skipping rejected trials.

    Raises:
        RuntimeError: when `oracle.max_consecutive_failed_trials` trials in a
            row (rejections skipped) failed.
    """
    consecutive = 0
    for trial_id in oracle.end_order:
        trial = oracle.trials[trial_id]
        if is_rejected(trial):
            continue
        consecutive = consecutive + 1 if trial.status == _FAILED else 0
        if consecutive == oracle.max_consecutive_failed_trials:
            raise RuntimeError(
                "Number of consecutive failures exceeded the limit "
                f"of {oracle.max_consecutive_failed_trials}.\n" + (trial.message or "")
            )


def objectives_of(objective):
    """The list of single `keras_tuner.Objective`s behind an objective."""
    return list(getattr(objective, "objectives", None) or [objective])


def trial_objective_values(trial, objectives):
    """Per-objective values of a trial at its best step, or `None`.

    Keras Tuner scores a multi-objective trial by the sum of its objectives
    (negated when maximised); this returns the individual values instead,
    read at the trial's `best_step` (the epoch that gave the best sum) when
    that step was recorded, else each metric's best value.

    Args:
        trial: `keras_tuner.engine.trial.Trial`.
        objectives: list of `keras_tuner.Objective`.

    Returns:
        list of float (one per objective), or `None` when a value is missing
        or not finite.
    """
    values = []
    for obj in objectives:
        if not trial.metrics.exists(obj.name):
            return None
        value = None
        step = trial.best_step
        if step is not None:
            for observation in trial.metrics.get_history(obj.name):
                if observation.step == step:
                    value = observation.mean()
        if value is None:
            value = trial.metrics.get_best_value(obj.name)
        if value is None or not math.isfinite(float(value)):
            return None
        values.append(float(value))
    return values


_PLAIN_TYPES = (str, int, float, bool, type(None))


def _json_safe(obj):
    """Recursively converts numpy scalars/arrays and tuples to JSON types."""
    if type(obj) in _PLAIN_TYPES:  # fast path: most of a state is plain
        return obj
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    return _hp.to_python(obj)


def _check_int(name, value, minimum, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"`{name}` must be an integer, got {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"`{name}` must be {bound}, got {value!r}.")


def _check_probability(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1], got {value!r}.")


class NASOracle(keras_tuner.Oracle):
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
    ):
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
    #: With several objectives, parents are drawn from the population plus
    #: the non-dominated completed trials of the whole search (an elitist
    #: archive, as in NSGA-II's elitism), so front members outlive ageing.
    pareto_archive = True
    #: Scale of the crowding distance: "rank" (default) or "value" (NSGA-II).
    #: See `keras_nas_plus.oracles._pareto.rank_and_crowding`.
    crowding_scale = "rank"
    #: Second key of the multi-objective order, after the non-dominated
    #: rank: "crowding" (NSGA-II's crowding distance, default) or
    #: "hypervolume" (each point's exclusive hypervolume contribution within
    #: its front, SMS-EMOA; two objectives only, extremes first).
    pareto_secondary = "crowding"

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

    def get_state(self):
        state = super().get_state()
        if self.mnas_scalarization:
            state["mnas_scalarization"] = self.mnas_scalarization
        return _json_safe(state)

    def set_state(self, state):
        super().set_state(state)
        self.mnas_scalarization = state.get("mnas_scalarization")

    def save(self):
        atomic_write_text(self._get_oracle_fname(), json.dumps(self.get_state()))

    def _save_trial(self, trial):
        fname = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        atomic_write_text(fname, json.dumps(_json_safe(trial.get_state())))

    # ------------------------------------------------------------- resume
    def reload(self):
        fname = self._get_oracle_fname()
        try:
            with open(fname) as f:
                json.load(f)
        except (ValueError, UnicodeDecodeError, FileNotFoundError) as e:
            warnings.warn(
                f"The oracle state file {fname} is missing or unreadable ({e}); it was "
                "probably truncated or lost in a crash. Rebuilding the oracle from the "
                "trial files."
            )
            self._reload_from_trials()
            return
        # Keras Tuner's `Oracle.reload`, with unreadable trial files rebuilt (issue 22).
        rerun = []
        for trial_file in sorted(glob.glob(os.path.join(glob.escape(self._project_dir), "trial_*", "trial.json"))):
            trial = self._load_trial_file(trial_file, rerun)
            if trial is not None:
                self.trials[trial.trial_id] = trial
            else:
                raise UnreadableTrialFileError(
                    f"{trial_file} is unreadable (not valid JSON) and cannot be rebuilt: its "
                    f"{TRIAL_INFO_FILE} holds no hyperparameter values; restore the file or start over"
                )
        try:
            _stateful.Stateful.reload(self, fname)
        except KeyError as e:
            raise RuntimeError(
                f"Error reloading the oracle from {fname}: missing {e}; pass overwrite=True "
                "or choose another project_name to start over"
            ) from e
        for _, trial in self.ongoing_trials.items():
            self._retry_queue.append(trial.trial_id)
        self.ongoing_trials = {}
        for trial_id in rerun:  # ended before, but only its values survived: run it again
            if trial_id in self.end_order:
                self.end_order.remove(trial_id)
        self._reconcile_with_trial_files()

    def _load_trial_file(self, fname, rerun):
        """Loads one `trial.json`; an unreadable one is rebuilt from `nas_trial.json`.

        A rebuilt trial is COMPLETED with the per-epoch metrics of its
        `nas_trial.json` history when its objective has a finite value there,
        FAILED when it was rejected by a constraint, and otherwise queued to
        run again (its id is appended to `rerun`). The rebuilt file is saved.

        Returns:
            the `Trial`, or None when neither file gives its hyperparameter values.
        """
        try:
            return keras_tuner.engine.trial.Trial.load(fname)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            error = " ".join(str(e).split())
        info_file = os.path.join(os.path.dirname(fname), TRIAL_INFO_FILE)
        try:
            with open(info_file) as f:
                info = json.load(f)
            values = dict(info["hyperparameters"])
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None
        trial_id = str(info.get("trial_id") or os.path.basename(os.path.dirname(fname))[len("trial_"):])
        hp = self.hyperparameters.copy()
        hp.values = values
        trial = keras_tuner.engine.trial.Trial(hp, trial_id=trial_id, status=_RUNNING)
        history = dict(info.get("history") or {})
        epochs = max((len(v) for v in history.values()), default=0)
        for name, value in (info.get("costs") or {}).items():
            history.setdefault(name, [value] * epochs)
        names = [o.name for o in objectives_of(self.objective)] if self.objective is not None else []
        if info.get("rejected"):
            trial.status = _FAILED
            trial.message = REJECTED_MESSAGE + ": " + "; ".join(info.get("constraint_violations") or [])
            how = "recorded as rejected"
        elif names and all(any(v is not None for v in history.get(n) or []) for n in names):
            for name, curve in history.items():
                for step, value in enumerate(curve):
                    if value is None:
                        continue
                    if not trial.metrics.exists(name):
                        trial.metrics.register(name, direction=_metrics_direction(self.objective, name))
                    trial.metrics.update(name, float(value), step=step)
            trial.status = _COMPLETED
            self.score_trial(trial)
            how = "rebuilt as completed from " + TRIAL_INFO_FILE
        else:
            rerun.append(trial_id)
            how = "queued to run again"
        warnings.warn(f"The trial file {fname} is unreadable ({error}); trial {trial_id} {how}.")
        self._save_trial(trial)
        return trial

    def _reconcile_with_trial_files(self, from_state=True):
        """Makes the reloaded bookkeeping agree with the trial files.

        A process killed between writing a trial file and `oracle.json` (both
        atomic) leaves them one step apart; the trial files are newer:

        * a trial whose file says it ended (COMPLETED/FAILED) but that is not
          in `end_order` has ended: it is recorded as ended, not re-run;
        * a trial that `oracle.json` never recorded (killed while being
          created) is forgotten and proposed again (same id, same values);
          without `oracle.json` (`from_state=False`) every trial that never
          ended is queued for a retry;
        * Keras Tuner saves the oracle before it removes an ended trial from
          `ongoing_trials`, so ended trials are taken out of the retry queue.

        A retried trial starts with empty metrics.
        """
        ended = set(self.end_order)
        started = set(self.start_order)
        queued = set(self._retry_queue)
        recovered = []
        for trial_id in sorted(self.trials):
            trial = self.trials[trial_id]
            if trial_id not in started and from_state and trial.status not in _ENDED:
                # Killed while being created, before `oracle.json` recorded
                # it: it never started. Forget it; the oracle proposes the
                # same values again under the same id (seeded proposals),
                # with its own bookkeeping (e.g. a policy's sample) intact.
                del self.trials[trial_id]
                continue
            if trial_id not in started:
                self.start_order.append(trial_id)
                started.add(trial_id)
            values_hash = self._compute_values_hash(trial.hyperparameters.values)
            self._tried_so_far.add(values_hash)
            self._id_to_hash[trial_id] = values_hash
            if trial_id in ended:
                continue
            if trial.status in _ENDED:
                self.end_order.append(trial_id)
                ended.add(trial_id)
                self._run_times[trial_id] = max(1, self._run_times[trial_id])
                recovered.append(trial)
            elif trial_id not in queued:
                self._retry_queue.append(trial_id)
                queued.add(trial_id)
            if trial.status == _RUNNING:
                trial.metrics = _metrics_tracking.MetricsTracker()
        self._retry_queue = [t for t in self._retry_queue if t not in ended]
        # Retry in trial-id order (Keras Tuner pops from the end).
        self._retry_queue.sort(reverse=True)
        for trial in recovered:
            self.on_trial_recovered(trial)

    def on_trial_recovered(self, trial):
        """Hook: `trial` ended before a kill, but `oracle.json` missed it.

        Called during a resume, once per such trial, after it was recorded
        as ended. Oracles that learn from ended trials outside the trial
        files (e.g. a policy updated from rewards) catch up here.
        """

    def _reload_from_trials(self):
        """Rebuilds the oracle's bookkeeping from `trial_*/trial.json` files."""
        trial_files = sorted(glob.glob(os.path.join(self._project_dir, "trial_*", "trial.json")))
        for fname in trial_files:
            trial = self._load_trial_file(fname, [])
            if trial is None:
                warnings.warn(f"Skipping the unreadable trial file {fname}.")
                continue
            self.trials[trial.trial_id] = trial
        for trial_id in sorted(self.trials):
            self.update_space(self.trials[trial_id].hyperparameters)
        # `end_order` is rebuilt in trial-id order: the true order is lost
        # with `oracle.json`.
        self._reconcile_with_trial_files(from_state=False)

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
