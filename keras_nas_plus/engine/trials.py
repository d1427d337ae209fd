"""Trial-level helpers shared by the tuner and the oracles: failures and objective values."""

import math

import keras_tuner

from keras_nas_plus.vocabulary import is_rejected

_FAILED = keras_tuner.engine.trial.TrialStatus.FAILED


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
