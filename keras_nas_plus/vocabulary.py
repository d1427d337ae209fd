"""The small shared vocabulary of keras_nas_plus, at the bottom of the layers.

File names of a run and of a trial's records, the hyperparameter key of a
child's parent, the message of a rejected trial, the error of a bad
configuration and the direction (max/min) of a metric from its name. Every
other module may import this one; it imports none of the package.
"""

import keras_tuner

#: Per-trial record written by `NASTuner` in the trial's directory.
TRIAL_INFO_FILE = "nas_trial.json"
#: Per-trial message a worker writes for the chief (why a trial ended).
TRIAL_MESSAGE_FILE = "nas_message.txt"
#: Files of a run directory written by `run_search`.
RESULTS_FILE = "results.json"
CONFIG_FILE = "config.json"
MODEL_FILE = "best_model.keras"

#: Hyperparameter-values key holding the id of the trial a child was derived
#: from (a string). Bookkeeping only: excluded from the duplicate hash.
PARENT_KEY = "nas/parent_trial_id"

#: Start of the message of a trial whose architecture violated a hard
#: constraint (`max_params`, `max_flops`, `max_latency_ms`) and was rejected
#: before training. Such a trial ends FAILED but is no crash: it never counts
#: toward `max_consecutive_failed_trials` and never enters a population.
REJECTED_MESSAGE = "keras_nas_plus: rejected before training, constraint violated"

#: Objectives that are costs of a model (always minimised).
COST_OBJECTIVES = ("params", "flops", "latency_ms")

_MAX_HINTS = ("acc", "auc", "precision", "recall", "f1", "iou", "r2", "top_k", "categorical_accuracy")


class ConfigError(ValueError):
    """A configuration problem; the message names the offending key."""


def is_rejected(trial: keras_tuner.engine.trial.Trial) -> bool:
    """Whether a trial was rejected by a hard constraint (not a crash)."""
    return (trial.status == keras_tuner.engine.trial.TrialStatus.FAILED
            and REJECTED_MESSAGE in (trial.message or ""))


def objective_direction(name, default: str | None = "min") -> str | None:
    """Direction of a metric from its name: "max" for accuracy-like names, "min" for losses.

    The one place keras_nas_plus infers a direction (the YAML objectives, the
    learning-curve monitor, the fidelity ranking and the report use it).

    Args:
        name: str, a metric name as logged by Keras (e.g. "val_accuracy",
            "val_loss", "params"), or a `keras_tuner.Objective` (its
            `direction` is returned as it is).
        default: str or None, the direction of a name with no hint
            (default "min").

    Returns:
        str ("max" or "min") or `default`.
    """
    direction = getattr(name, "direction", None)
    if direction is not None:
        return direction
    text = str(getattr(name, "name", name)).lower()
    if text.startswith("val_"):
        text = text[4:]
    if text in COST_OBJECTIVES or "loss" in text or "error" in text:
        return "min"
    return "max" if any(h in text for h in _MAX_HINTS) else default
