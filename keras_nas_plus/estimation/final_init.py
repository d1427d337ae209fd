"""Where the final model's starting weights come from (`search.final_training.init`).

`init: best_trial` starts the final training from the weights Keras Tuner
saved for the best trial (its best epoch's checkpoint) instead of a fresh
initialisation, when the final model has exactly the trial's weights;
otherwise the final phase falls back to `scratch` with a printed note.
`final_training.space` overrides that leave every weight's shape as it was
(the recipe: learning rate, weight decay, label smoothing, augmentation, ...)
keep the trial's weights; overrides that change the network do not.
"""

import os
import warnings


def best_trial_checkpoint(tuner, trial_id):
    """Path of the weights Keras Tuner saved for a trial, or None when missing."""
    getter = getattr(tuner, "_get_checkpoint_fname", None)
    if getter is None:
        return None
    path = getter(trial_id)
    return path if os.path.exists(path) else None


def same_weights(search_space, final_space, hp):
    """Whether `final_space` builds `hp`'s network with the weights `search_space` gives it.

    Builds both networks (no training) and compares the shapes of their
    weights in order. A `final_training.space` override of the recipe
    (learning rate, optimizer, weight decay, augmentation) passes; one that
    changes the blocks, widths or kernels does not.

    Args:
        search_space: the tuner's `keras_tuner.HyperModel`.
        final_space: the final phase's `HyperModel` (the overridden space).
        hp: `keras_tuner.HyperParameters` of the trial.

    Returns:
        bool.
    """
    # `weights`: trainable and not (kernels, biases, BatchNorm statistics), in order.
    shapes = [[tuple(w.shape) for w in space.build(hp.copy()).weights] for space in (search_space, final_space)]
    return shapes[0] == shapes[1]


def init_weights_path(tuner, trial_id, final_training, final_space=None, log=print):
    """Where the final model's starting weights come from (`init`), or None for scratch.

    `best_trial` needs the final model to have the trial's weights: it falls
    back to scratch (with a printed note) when `width_multiplier` is not 1,
    when `final_space` (a `final_training.space` override, None for none)
    changes the shapes of the network's weights (`same_weights`), when the
    trials were trained at a reduced model fidelity, or when the checkpoint
    is missing.

    Args:
        tuner: the tuner that ran the search (its `hypermodel`, `oracle`,
            `fidelity` and checkpoints).
        trial_id: str, the trial whose weights to start from.
        final_training: dict, the `search.final_training` options (`init`,
            `width_multiplier`).
        final_space: `HyperModel` or None, the final phase's space when
            `final_training.space` overrides the search space.
        log: callable taking one str, for the fallback's note.

    Returns:
        (path or None, str reason of a fallback or None).
    """
    if final_training.get("init", "scratch") != "best_trial":
        return None, None
    reason = None
    fidelity = getattr(tuner, "fidelity", None)
    if final_training.get("width_multiplier", 1) != 1:
        reason = "width_multiplier changes the shapes"
    elif fidelity is not None and fidelity.changes_model:
        reason = "the trials were trained at a reduced model fidelity"
    elif final_space is not None:
        hp = tuner.oracle.get_trial(trial_id).hyperparameters
        if not same_weights(tuner.hypermodel, final_space, hp):
            reason = "final_training.space changes the network's weights"
    path = None if reason else best_trial_checkpoint(tuner, trial_id)
    if reason is None and path is None:
        reason = f"trial {trial_id} has no saved checkpoint"
    if reason:
        log(f"Final phase: init best_trial not possible ({reason}); training from scratch")
        return None, reason
    return path, None


def load_initial_weights(model, path, log=print):
    """Loads `path` into `model`; False (and a printed note) when the shapes differ."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fresh optimizer has no slots yet
            model.load_weights(path)
    except (ValueError, KeyError) as e:
        log(f"Final phase: the best trial's weights do not fit the final model ({e}); training from scratch")
        return False
    return True


__all__ = ["best_trial_checkpoint", "init_weights_path", "load_initial_weights", "same_weights"]
