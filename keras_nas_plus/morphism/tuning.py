"""Weight inheritance inside a search: children start from their parent.

Used by `keras_nas_plus.engine.tuner.NASTuner` when it is created with
`weight_inheritance=True`. Kept here so the tuner only calls one function.
"""

import gc
import json
import numbers
import os
import warnings

from keras_nas_plus.morphism.inherit import inherit_weights
from keras_nas_plus.oracles.base import PARENT_KEY


def check_settings(weight_inheritance, inherited_epochs):
    """Validate the tuner arguments; returns them normalised.

    Raises:
        ValueError: naming the bad argument.
    """
    if not isinstance(weight_inheritance, bool):
        raise ValueError("`weight_inheritance` must be a bool. Received: "
                         f"{weight_inheritance!r}")
    if inherited_epochs is not None and (
            not isinstance(inherited_epochs, numbers.Integral)
            or isinstance(inherited_epochs, bool) or inherited_epochs < 1):
        raise ValueError("`inherited_epochs` must be None or an int >= 1. "
                         f"Received: {inherited_epochs!r}")
    return weight_inheritance, inherited_epochs


def default_inherited_epochs(epochs):
    """E/3 epochs (at least 1) for an inherited child of an E-epoch search."""
    return max(1, int(epochs) // 3)


def inherit_from_parent(tuner, trial, model, fit_kwargs,
                        inherited_epochs=None):
    """Load the parent's best checkpoint into `model` via `inherit_weights`.

    The parent is the trial whose id is in the child's hyperparameter values
    under `PARENT_KEY`. Its model is rebuilt from its hyperparameters
    (`tuner.hypermodel.build`), its best-epoch checkpoint (written by Keras
    Tuner in the parent's trial directory, which is shared in distributed
    mode) is loaded, the weights are inherited and the parent model is
    deleted. An inherited child trains at most `inherited_epochs` epochs
    (default: E/3 of the search's E epochs).

    Args:
        tuner: the `NASTuner`.
        trial: the child's `keras_tuner.engine.trial.Trial`.
        model: the child's freshly built model (modified in place).
        fit_kwargs: dict, keyword arguments of `model.fit`.
        inherited_epochs: int or None, epochs for an inherited child.

    Returns:
        `(fit_kwargs, info)`: the possibly changed `fit` arguments and a
        JSON-safe dict for the trial record (`inherited_from`, the report,
        `inheritance_error` when the parent could not be used).
    """
    parent_id = trial.hyperparameters.values.get(PARENT_KEY)
    if not parent_id:
        return fit_kwargs, {}
    info = {"inherited_from": str(parent_id)}
    fname = tuner._get_checkpoint_fname(parent_id)
    if not os.path.exists(fname):
        # Never skip silently (cf. keras-team/keras-tuner#372).
        msg = f"no checkpoint {fname!r} for parent trial {parent_id}"
        warnings.warn(f"weight inheritance: {msg}; training from scratch.")
        info.update(inherited_from=None, inheritance_error=msg)
        return fit_kwargs, info
    parent = None
    try:
        parent_trial = tuner.oracle.get_trial(parent_id)
        parent_hp = parent_trial.hyperparameters.copy()
        parent = tuner.hypermodel.build(parent_hp)
        build_cfg = tuner._get_build_config_fname(parent_id)
        if not parent.built and os.path.exists(build_cfg):
            with open(build_cfg) as f:
                parent.build_from_config(json.load(f))
        with warnings.catch_warnings():
            # The checkpoint also holds optimizer variables; only the
            # model's weights matter here.
            warnings.simplefilter("ignore")
            parent.load_weights(fname)
        report = inherit_weights(parent, model)
    except Exception as e:  # a bad parent must not kill the child
        msg = f"{type(e).__name__}: {e}"
        warnings.warn(f"weight inheritance from trial {parent_id} failed "
                      f"({msg}); training from scratch.")
        info.update(inherited_from=None, inheritance_error=msg)
        return fit_kwargs, info
    finally:
        del parent
        gc.collect()
    info["inheritance"] = report.as_dict()
    if report.num_reused:
        fit_kwargs = dict(fit_kwargs)
        epochs = int(fit_kwargs.get("epochs", 1))
        cap = inherited_epochs or default_inherited_epochs(epochs)
        fit_kwargs["epochs"] = min(epochs, cap)
        info["inherited_epochs"] = fit_kwargs["epochs"]
    return fit_kwargs, info
