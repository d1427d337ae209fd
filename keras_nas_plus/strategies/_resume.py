"""Saving and resuming a `NASOracle`: atomic state files, reconciling them with the trial files (private).

A process killed at any point (mid-trial or while saving) loses no ended
trial and retries the one in flight; see docs/long_searches.md.
"""

import glob
import json
import os
import warnings

import keras_tuner
from keras_tuner.src.engine import metrics_tracking as _metrics_tracking
from keras_tuner.src.engine import stateful as _stateful

from keras_nas_plus._io import atomic_write_text
from keras_nas_plus._io import json_safe as _json_safe
from keras_nas_plus.engine.trials import objectives_of
from keras_nas_plus.vocabulary import REJECTED_MESSAGE
from keras_nas_plus.vocabulary import TRIAL_INFO_FILE
from keras_nas_plus.vocabulary import objective_direction

_RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING
_COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED
_FAILED = keras_tuner.engine.trial.TrialStatus.FAILED
_ENDED = (_COMPLETED, _FAILED)


class UnreadableTrialFileError(ValueError):
    """A `trial.json` is unreadable and cannot be rebuilt (the message names the file)."""


class ResumableState:
    """`NASOracle`'s state files and resume (a mixin placed before `keras_tuner.Oracle`)."""

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
        objectives = objectives_of(self.objective) if self.objective is not None else []
        directions = {o.name: o.direction for o in objectives}
        if info.get("rejected"):
            trial.status = _FAILED
            trial.message = REJECTED_MESSAGE + ": " + "; ".join(info.get("constraint_violations") or [])
            how = "recorded as rejected"
        elif directions and all(any(v is not None for v in history.get(n) or []) for n in directions):
            for name, curve in history.items():
                for step, value in enumerate(curve):
                    if value is None:
                        continue
                    if not trial.metrics.exists(name):
                        direction = directions.get(name) or objective_direction(name, default="max")
                        trial.metrics.register(name, direction=direction)
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
