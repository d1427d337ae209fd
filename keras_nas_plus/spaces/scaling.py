"""Width and depth scaling of a search space: fewer/more filters, fewer cells, lower resolution.

Used by the lower-fidelity estimates (`keras_nas_plus.estimation.fidelity`:
each trial built from a narrower, shallower copy of the space) and by the
final training (`widened`: the searched network trained wider, as in DARTS,
Liu et al. 2019, Section 3.2). `fidelity` arguments are any object with the
attributes `resolution`, `width_multiplier`, `num_cells` and `changes_model`
(a `keras_nas_plus.estimation.fidelity.Fidelity`).
"""

import copy
import math
import re

import keras_tuner
import numpy as np

_MACRO_FILTERS = re.compile(r"layer_\d+/filters")


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _space_kind(space):
    name = type(space).__name__
    for kind in ("MacroSearchSpace", "CellSearchSpace", "NASBench201Space"):
        if any(c.__name__ == kind for c in type(space).__mro__):
            return kind
    return name


def reduced_space(space, fidelity):
    """A copy of a search space with the fidelity's resolution, width and cells.

    Args:
        space: a keras_nas_plus search space (or any HyperModel with
            `get_config`/`from_config` and `input_shape`/`filters` entries).
        fidelity: `Fidelity`.

    Returns:
        a new search space (the same instance if nothing changes).

    Raises:
        ValueError: if a knob does not apply to this space (message names it).
    """
    if fidelity.resolution is None and not fidelity.changes_model:
        return space
    if not hasattr(space, "get_config"):
        raise ValueError("`resolution`, `width_multiplier` and `num_cells` need a search space with get_config; "
                         f"got {type(space).__name__}.")
    config = copy.deepcopy(space.get_config())
    if fidelity.resolution is not None:
        shape = list(config.get("input_shape") or [])
        if len(shape) < 2 or config.get("input_kind", "image") != "image":
            raise ValueError(f"`resolution` applies to image inputs; this space's input_shape is {shape}.")
        config["input_shape"] = [fidelity.resolution, fidelity.resolution] + shape[2:]
    kind = _space_kind(space)
    if kind == "MacroSearchSpace":
        if fidelity.num_cells is not None and config["min_layers"] == config["max_layers"]:
            config["min_layers"] = config["max_layers"] = min(config["max_layers"], fidelity.num_cells)
    elif kind in ("CellSearchSpace", "NASBench201Space"):
        if fidelity.num_cells is not None:
            config["num_cells"] = fidelity.num_cells
    elif fidelity.changes_model:
        raise ValueError(f"`width_multiplier`/`num_cells` support the macro, cell and NAS-Bench-201 spaces; "
                         f"got {type(space).__name__}.")
    return _scaled_space_config(type(space), kind, config, fidelity.width_multiplier)


def _scaled(count, multiplier):
    return max(1, int(round(count * multiplier)))


def _scaled_space_config(space_class, kind, config, multiplier):
    """`space_class` built from `config` with its fixed filter counts multiplied."""
    if multiplier != 1:
        if kind == "MacroSearchSpace":
            config["stem_filters"] = _scaled(config["stem_filters"], multiplier)
            if len(config["filters"]) == 1:  # a fixed value: no hyperparameter to scale
                config["filters"] = [_scaled(config["filters"][0], multiplier)]
        else:
            config["filters"] = _scaled(config["filters"], multiplier)
    return space_class.from_config(config)


WIDTH_SPACES = ("MacroSearchSpace", "CellSearchSpace", "NASBench201Space")


def widened(space, hp, multiplier):
    """A search space and values that build `hp`'s network `multiplier` times as wide.

    Every filter count (macro: the stem and each layer; cell and
    NAS-Bench-201: the base `filters`, which the cells double at each
    reduction) is multiplied and rounded, at least 1. Widening the searched
    network for the final training is the usual NAS evaluation protocol
    (DARTS, Liu et al. 2019, Section 3.2: cells searched with 16 initial
    channels, evaluated with 36).

    Args:
        space: a macro, cell or NAS-Bench-201 search space.
        hp: `keras_tuner.HyperParameters` with the architecture's values.
        multiplier: float > 0 (1.0 changes nothing; 2.0 doubles every width).

    Returns:
        `(space, hp)`: build the wider network with `space.build(hp)`. Train
        it with the original space's `fit` and `hp` (the recipe is unchanged).

    Raises:
        ValueError: if `multiplier` is not a positive number, or is not 1
            for a space of another kind.
    """
    if not _is_number(multiplier) or multiplier <= 0:
        raise ValueError(f"`width_multiplier` must be a positive number, got {multiplier!r}.")
    if multiplier == 1:  # any HyperModel
        return space, hp
    kind = _space_kind(space)
    if kind not in WIDTH_SPACES:
        raise ValueError(f"`width_multiplier` supports the macro, cell and NAS-Bench-201 spaces; "
                         f"got {type(space).__name__}.")
    config = copy.deepcopy(space.get_config())
    wide_hp = _scaled_hyperparameters(hp, multiplier) if kind == "MacroSearchSpace" else hp
    return _scaled_space_config(type(space), kind, config, multiplier), wide_hp


def _scaled_hyperparameters(hp, multiplier=1.0, num_cells=None):
    """A copy of `hp` whose macro `layer_i/filters` values are multiplied and `num_layers` capped."""
    class _Scaled(keras_tuner.HyperParameters):
        def Choice(self, name, values, **kwargs):  # noqa: N802 (Keras Tuner's name)
            value = super().Choice(name, values, **kwargs)
            if value is not None and multiplier != 1 and _MACRO_FILTERS.fullmatch(self._full(name)):
                value = _scaled(value, multiplier)
            return value

        def Int(self, name, *args, **kwargs):  # noqa: N802
            value = super().Int(name, *args, **kwargs)
            if value is not None and num_cells is not None and self._full(name) == "num_layers":
                value = min(value, num_cells)
            return value

        def _full(self, name):
            return self._get_name(name) if hasattr(self, "_get_name") else name

    return _Scaled.from_config(hp.get_config())


def build_model(space, hp, fidelity, reduced=None):
    """Builds the network of `hp` at the given fidelity.

    Args:
        space: the full-fidelity search space.
        hp: `keras_tuner.HyperParameters` with the trial's values.
        fidelity: `Fidelity`.
        reduced: optional, the result of `reduced_space(space, fidelity)`.

    Returns:
        a compiled `keras.Model`.
    """
    reduced = reduced_space(space, fidelity) if reduced is None else reduced
    return reduced.build(fidelity_hyperparameters(space, hp, fidelity))


def fidelity_hyperparameters(space, hp: keras_tuner.HyperParameters, fidelity) -> keras_tuner.HyperParameters:
    """`hp`, or for a macro space whose model the fidelity changes, its scaled copy.

    Args:
        space: the full-fidelity search space.
        hp: `keras_tuner.HyperParameters` with the trial's values.
        fidelity: `Fidelity` (or any object with `changes_model`,
            `width_multiplier` and `num_cells`).

    Returns:
        `keras_tuner.HyperParameters` that build the reduced network with
        `reduced_space(space, fidelity)`.
    """
    if _space_kind(space) == "MacroSearchSpace" and fidelity.changes_model:
        return _scaled_hyperparameters(hp, fidelity.width_multiplier, fidelity.num_cells)
    return hp
