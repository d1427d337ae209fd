"""Weight inheritance inside a search: children start from their parent.

Used by `keras_nas_plus.engine.tuner.NASTuner` when it is created with
`weight_inheritance=True`. Kept here so the tuner only calls one function.
"""

import gc
import json
import numbers
import os
import warnings

from keras_nas_plus.estimation.base import Estimator
from keras_nas_plus.morphism.inherit import inherit_weights
from keras_nas_plus.spaces._training import CosineSchedule
from keras_nas_plus.vocabulary import PARENT_KEY


#: Default `inherited_lr_factor`: an inherited child fine-tunes at this
#: fraction of the learning rate its model was compiled with. 1 (unchanged):
#: with `prefer_morphisms`, 0.3 was measured 0.15 points worse than 1 on two
#: seeds (docs/morphism.md, part (c)).
DEFAULT_INHERITED_LR_FACTOR = 1.0


def check_settings(weight_inheritance, inherited_epochs,
                   inherited_lr_factor=DEFAULT_INHERITED_LR_FACTOR):
    """Validate the tuner arguments; returns them normalised.

    Returns:
        `(weight_inheritance, inherited_epochs, inherited_lr_factor)`, the
        last as a float.

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
    if (not isinstance(inherited_lr_factor, numbers.Real)
            or isinstance(inherited_lr_factor, bool)
            or not 0 < inherited_lr_factor <= 1):
        raise ValueError("`inherited_lr_factor` must be a number in (0, 1]. "
                         f"Received: {inherited_lr_factor!r}")
    return weight_inheritance, inherited_epochs, float(inherited_lr_factor)


def default_inherited_epochs(epochs):
    """E/3 epochs (at least 1) for an inherited child of an E-epoch search."""
    return max(1, int(epochs) // 3)


class MorphismPreference:
    """`child_preference` for an evolution oracle: is a child a morphism?

    `pref(parent_values, child_values)` builds both architectures with the
    tuner's hypermodel (fresh weights, no training), calls `inherit_weights`
    and returns `report.function_preserving`: True when the child can start
    from exactly its parent's function (widened layers, added identity
    layers or zero-initialised skips, enlarged kernels). Under weight
    inheritance such children keep what the parent learned, while a child
    with a replaced or removed operation loses part of it and cannot recover
    within E/3 epochs (measured in docs/morphism.md (c)). Generating
    children by network morphisms is what LEMONADE (Elsken, Metzen & Hutter,
    ICLR 2019) and Auto-Keras (Jin, Song & Hu, KDD 2019) do. Answers are cached; a child
    whose build or inheritance fails counts as not preferred.

    Args:
        tuner: the `NASTuner` (its `hypermodel` and `oracle.hyperparameters`
            are used).
    """

    def __init__(self, tuner):
        self.tuner = tuner
        self._cache = {}
        self._parent = (None, None)

    def _build(self, values):
        hp = self.tuner.oracle.hyperparameters.copy()
        hp.values.update({k: v for k, v in values.items() if k != PARENT_KEY})
        return self.tuner.hypermodel.build(hp)

    def __call__(self, parent_values, child_values):
        def key(values):
            return json.dumps({k: v for k, v in values.items()
                               if k != PARENT_KEY}, sort_keys=True,
                              default=str)

        pkey, ckey = key(parent_values), key(child_values)
        if (pkey, ckey) in self._cache:
            return self._cache[(pkey, ckey)]
        try:
            if self._parent[0] != pkey:
                self._parent = (None, None)
                gc.collect()
                self._parent = (pkey, self._build(parent_values))
            child = self._build(child_values)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ok = bool(inherit_weights(self._parent[1], child)
                          .function_preserving)
            del child
        except Exception:  # a child that cannot be built is not preferred
            ok = False
        self._cache[(pkey, ckey)] = ok
        return ok


def scale_learning_rate(model, factor):
    """Multiply the compiled optimizer's learning rate by `factor`, in place.

    Used for inherited children (`inherited_lr_factor`): fine-tuning from
    inherited weights at a fraction of the initial rate instead of a warm
    restart at the full rate (Loshchilov & Hutter, SGDR, ICLR 2017). On the
    search of docs/morphism.md (c) the full rate was as good or better, so
    the tuner's default factor is 1.

    Args:
        model: a compiled `keras.Model` (its `optimizer` has a float
            learning rate or our spaces' `CosineSchedule`).
        factor: float in (0, 1]; 1 leaves the rate unchanged.

    Returns:
        `(old_rate, new_rate)` as floats, or `None` when nothing was changed
        (factor 1, no optimizer, or another `LearningRateSchedule`, whose
        rate is not settable: a warning is issued then).
    """
    if factor == 1:
        return None
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        warnings.warn("weight inheritance: the child model is not compiled; "
                      "`inherited_lr_factor` is not applied.")
        return None
    from keras import ops
    from keras.optimizers.schedules import LearningRateSchedule

    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, CosineSchedule):  # our spaces' schedule: scale its starting rate
        old = schedule.initial_learning_rate
        schedule.initial_learning_rate = old * factor
        return old, old * factor
    if isinstance(getattr(optimizer, "_learning_rate", None),
                  LearningRateSchedule) or callable(
                      getattr(optimizer, "_learning_rate", None)):
        warnings.warn("weight inheritance: the child's optimizer uses a "
                      "learning-rate schedule object; `inherited_lr_factor` "
                      "is not applied.")
        return None
    old = float(ops.convert_to_numpy(optimizer.learning_rate))
    optimizer.learning_rate = old * factor
    return old, old * factor


def inherit_from_parent(tuner, trial, model, fit_kwargs,
                        inherited_epochs=None,
                        inherited_lr_factor=DEFAULT_INHERITED_LR_FACTOR):
    """Load the parent's best checkpoint into `model` via `inherit_weights`.

    The parent is the trial whose id is in the child's hyperparameter values
    under `PARENT_KEY`. Its model is rebuilt from its hyperparameters
    (`tuner.hypermodel.build`), its best-epoch checkpoint (written by Keras
    Tuner in the parent's trial directory, which is shared in distributed
    mode) is loaded, the weights are inherited and the parent model is
    deleted. An inherited child trains at most `inherited_epochs` epochs
    (default: E/3 of the search's E epochs) at `inherited_lr_factor` times
    its compiled learning rate (a learning-rate schedule callback such as
    the spaces' cosine decay then starts from the reduced rate).

    Args:
        tuner: the `NASTuner`.
        trial: the child's `keras_tuner.engine.trial.Trial`.
        model: the child's freshly built model (modified in place).
        fit_kwargs: dict, keyword arguments of `model.fit`.
        inherited_epochs: int or None, epochs for an inherited child.
        inherited_lr_factor: float in (0, 1], learning-rate multiplier for
            an inherited child (1: unchanged).

    Returns:
        `(fit_kwargs, info)`: the possibly changed `fit` arguments and a
        JSON-safe dict for the trial record (`inherited_from`, the report,
        `inherited_epochs`, `inherited_learning_rate` when the rate was
        scaled, `inheritance_error` when the parent could not be used).
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
        rates = scale_learning_rate(model, inherited_lr_factor)
        if rates is not None:
            info["inherited_learning_rate"] = rates[1]
    return fit_kwargs, info


class WeightInheritance(Estimator):
    """Children start from their parent's trained weights and train fewer epochs.

    The `Estimator` form of the tuner's `weight_inheritance=True`: a trial
    whose hyperparameters name a parent (`PARENT_KEY`, set by the evolution
    oracle) starts from the parent's best checkpoint through
    `keras_nas_plus.morphism.inherit_weights` (`inherit_from_parent`).
    Source: Chen, Goodfellow & Shlens, "Net2Net", ICLR 2016; Elsken,
    Metzen & Hutter, "Efficient Multi-objective Neural Architecture Search
    via Lamarckian Evolution" (LEMONADE), ICLR 2019.

    Args:
        inherited_epochs: int >= 1 or None, default None (E/3 of the search's
            `epochs`, at least 1). Epochs of an inherited child.
        inherited_lr_factor: float in (0, 1], default 1.0. Learning-rate
            multiplier of an inherited child.
        prefer_morphisms: bool, default True. With an oracle that has a
            `child_preference` hook, prefer children that are
            function-preserving for `inherit_weights` (`MorphismPreference`).

    Raises:
        ValueError: naming the bad argument.
    """

    name = "weight_inheritance"

    def __init__(self, inherited_epochs: "int | None" = None,
                 inherited_lr_factor: float = DEFAULT_INHERITED_LR_FACTOR, prefer_morphisms: bool = True):
        _, self.inherited_epochs, self.inherited_lr_factor = check_settings(
            True, inherited_epochs, inherited_lr_factor)
        if not isinstance(prefer_morphisms, bool):
            raise ValueError(f"`prefer_morphisms` must be a bool, got {prefer_morphisms!r}.")
        self.prefer_morphisms = prefer_morphisms
        self._info = {}

    def attach(self, tuner):
        super().attach(tuner)
        tuner.weight_inheritance = True
        tuner.inherited_epochs = self.inherited_epochs
        tuner.inherited_lr_factor = self.inherited_lr_factor
        tuner.prefer_morphisms = self.prefer_morphisms
        if self.prefer_morphisms and getattr(tuner.oracle, "child_preference", False) is None:
            tuner.oracle.child_preference = MorphismPreference(tuner)  # issue 6

    def before_fit(self, trial, model, fit_args, fit_kwargs):
        if model is None:  # built later (AutoKeras): nothing to inherit into
            return fit_args, fit_kwargs
        fit_kwargs, self._info[trial.trial_id] = inherit_from_parent(
            self.tuner, trial, model, fit_kwargs, self.inherited_epochs, self.inherited_lr_factor)
        return fit_args, fit_kwargs

    def record(self, trial, model, results):
        return self._info.pop(trial.trial_id, {})

    def __repr__(self):
        return (f"WeightInheritance(inherited_epochs={self.inherited_epochs!r}, "
                f"inherited_lr_factor={self.inherited_lr_factor!r}, prefer_morphisms={self.prefer_morphisms!r})")
