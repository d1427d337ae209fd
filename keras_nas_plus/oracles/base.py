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
  fallback to the trial files when `oracle.json` is truncated.
"""

import json
import math
import os
import traceback
import warnings

import keras_tuner
import numpy as np

from keras_nas_plus._io import atomic_write_text
from keras_nas_plus.oracles import _hp

#: Hyperparameter-values key holding the id of the trial a child was derived
#: from (a string). Bookkeeping only: excluded from the duplicate hash.
PARENT_KEY = "nas/parent_trial_id"

_RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING
_STOPPED = keras_tuner.engine.trial.TrialStatus.STOPPED
_COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED


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
    `keras_tuner.Oracle`; see `RegularizedEvolutionOracle` for their meaning.
    """

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
    ):
        if max_trials is not None:
            _check_int("max_trials", max_trials, 1)
        if seed is not None:
            _check_int("seed", seed, 0)
        _check_int("max_retries_per_trial", max_retries_per_trial, 0)
        _check_int("max_consecutive_failed_trials", max_consecutive_failed_trials, 1)
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
        """Completed trials with a finite score, in the order they ended."""
        result = []
        for trial_id in self.end_order:
            trial = self.trials.get(trial_id)
            if trial is None or trial.status != _COMPLETED:
                continue
            score = trial.score
            if score is None or not math.isfinite(float(score)):
                continue
            result.append(trial)
        return result

    def higher_is_better(self):
        """`True` when the (single) objective is maximised."""
        direction = getattr(self.objective, "direction", "min")
        return direction == "max"

    def utility(self, trial):
        """The trial's score oriented so that larger is better."""
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
        return _json_safe(super().get_state())

    def save(self):
        if getattr(self, "_defer_save", False):
            return
        atomic_write_text(self._get_oracle_fname(), json.dumps(self.get_state()))

    def _save_trial(self, trial):
        fname = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        atomic_write_text(fname, json.dumps(_json_safe(trial.get_state())))

    def reload(self):
        fname = self._get_oracle_fname()
        try:
            with open(fname) as f:
                json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            warnings.warn(
                f"The oracle state file {fname} is unreadable ({e}); it was "
                "probably truncated by a crash. Rebuilding the oracle from the "
                "trial files."
            )
            self._reload_from_trials()
            return
        super().reload()
        # Keras Tuner saves the oracle before it removes an ended trial from
        # `ongoing_trials`, so a resumed search would re-run the trial that
        # ended last. Only trials that never ended are retried.
        ended = set(self.end_order)
        self._retry_queue = [t for t in self._retry_queue if t not in ended]

    def end_trial(self, trial):
        # Keras Tuner saves the oracle inside `end_trial` before it removes
        # the trial from `ongoing_trials`; skip that save and write the state
        # once, afterwards (one full state write per ended trial, not two).
        self._defer_save = True
        try:
            super().end_trial(trial)
        finally:
            self._defer_save = False
        self.save()  # now without the ended trial in `ongoing_trials`

    def _reload_from_trials(self):
        """Rebuilds the oracle's bookkeeping from `trial_*/trial.json` files."""
        import glob

        trial_files = sorted(glob.glob(os.path.join(self._project_dir, "trial_*", "trial.json")))
        for fname in trial_files:
            try:
                trial = keras_tuner.engine.trial.Trial.load(fname)
            except (ValueError, KeyError, UnicodeDecodeError):
                continue
            self.trials[trial.trial_id] = trial
        for trial_id in sorted(self.trials):
            trial = self.trials[trial_id]
            self.update_space(trial.hyperparameters)
            self.start_order.append(trial_id)
            self._tried_so_far.add(self._compute_values_hash(trial.hyperparameters.values))
            self._id_to_hash[trial_id] = self._compute_values_hash(trial.hyperparameters.values)
            if trial.status in (_COMPLETED, keras_tuner.engine.trial.TrialStatus.FAILED):
                self.end_order.append(trial_id)
                self._run_times[trial_id] = 1
            else:
                self._retry_queue.append(trial_id)

