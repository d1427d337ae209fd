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

from keras_nas_plus._io import atomic_write_text
from keras_nas_plus._io import json_safe as _json_safe

_RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING
_ENDED = (keras_tuner.engine.trial.TrialStatus.COMPLETED, keras_tuner.engine.trial.TrialStatus.FAILED)


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
        super().reload()
        self._reconcile_with_trial_files()

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
            try:
                trial = keras_tuner.engine.trial.Trial.load(fname)
            except (ValueError, KeyError, UnicodeDecodeError):
                warnings.warn(f"Skipping the unreadable trial file {fname}.")
                continue
            self.trials[trial.trial_id] = trial
        for trial_id in sorted(self.trials):
            self.update_space(self.trials[trial_id].hyperparameters)
        # `end_order` is rebuilt in trial-id order: the true order is lost
        # with `oracle.json`.
        self._reconcile_with_trial_files(from_state=False)
