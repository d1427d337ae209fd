"""Lower-fidelity performance estimates: judge architectures cheaply, re-train the best.

A `Fidelity` says how much cheaper than "full fidelity" each trial of a
search is trained: on a stratified fraction of the training examples, on
images resized to a lower resolution, with fewer filters (a width
multiplier), with fewer cells/layers, and for fewer epochs. The search
(any of our oracles, untouched) ranks architectures by their low-fidelity
scores; the `top_k` best are then re-trained at full fidelity (all data,
full resolution, the space as configured, `search.epochs` epochs) in a final
phase, and the best of those is the result. Optionally, a successive-halving
schedule first promotes the better half of the trials to twice the data
fraction, rung after rung, until the whole training set is used.

Design: the tuner keeps the full-fidelity search space as its hypermodel (so
the oracle sees exactly the same hyperparameters, and every trial's values
also build the full-fidelity network); `with_fidelity(TunerClass)` adds a
`fidelity=` argument that builds each trial's model from a reduced copy of
the space and trains it on reduced data. Resolution is lowered in the data
(resized once, before the search), so the final model, built from the full
space, takes full-resolution raw input.

Reference:
    Elsken, Metzen & Hutter, "Neural Architecture Search: A Survey", JMLR
    2019, Section 5 (lower fidelity estimates); Zela et al., "Towards
    Automated Deep Learning: Efficient Joint Neural Architecture and
    Hyperparameter Search", ICML AutoML workshop 2018 (correlation of low-
    and full-fidelity rankings); Jamieson & Talwalkar, "Non-stochastic Best
    Arm Identification and Hyperparameter Optimization", AISTATS 2016
    (successive halving); Li et al., "Hyperband: A Novel Bandit-Based
    Approach to Hyperparameter Optimization", JMLR 2018, Section 3.
"""

import copy
import math
import re
import sys
import time

import numpy as np

SCHEDULES = (None, "successive_halving")
#: Keys of the `estimation.fidelity` config section (= `Fidelity` arguments).
FIDELITY_KEYS = ("data_fraction", "resolution", "width_multiplier", "num_cells", "epochs", "top_k", "schedule")

_MACRO_FILTERS = re.compile(r"layer_\d+/filters")


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


class Fidelity:
    """How cheaply the trials of a search are trained.

    Args:
        data_fraction: float in (0, 1], default 1.0. Fraction of the training
            examples each trial trains on (a stratified subset, the same for
            every trial). Validation data is never reduced.
        resolution: int >= 4 or None (default, full). Side length in pixels
            of the images each trial sees (the data is resized, bilinear with
            antialiasing; image inputs only).
        width_multiplier: float in (0, 1], default 1.0. Multiplies every
            filter count of the space (at least 1 filter is kept).
        num_cells: int >= 1 or None (default, as configured). Cells per stack
            for the cell and NAS-Bench-201 spaces; for the macro space, the
            network is truncated to its first `num_cells` chain layers.
        epochs: int >= 1 or None (default: the epochs given to `search`).
            Epochs per low-fidelity trial.
        top_k: int >= 1, default 3. Number of best low-fidelity trials
            re-trained at full fidelity in the final phase.
        schedule: None (default) or `"successive_halving"`: before the final
            phase, promote the better half of the trials to twice the data
            fraction, rung after rung, until the full training set
            (needs `data_fraction < 1`).

    Raises:
        ValueError: naming the argument and the bad value.
    """

    def __init__(self, data_fraction=1.0, resolution=None, width_multiplier=1.0, num_cells=None,
                 epochs=None, top_k=3, schedule=None):
        if not _is_number(data_fraction) or not 0 < data_fraction <= 1:
            raise ValueError(f"`data_fraction` must be a fraction in (0, 1], got {data_fraction!r}.")
        if resolution is not None and (not _is_int(resolution) or resolution < 4):
            raise ValueError(f"`resolution` must be None or an integer >= 4 (pixels), got {resolution!r}.")
        if not _is_number(width_multiplier) or not 0 < width_multiplier <= 1:
            raise ValueError(f"`width_multiplier` must be a number in (0, 1], got {width_multiplier!r}.")
        if num_cells is not None and (not _is_int(num_cells) or num_cells < 1):
            raise ValueError(f"`num_cells` must be None or an integer >= 1, got {num_cells!r}.")
        if epochs is not None and (not _is_int(epochs) or epochs < 1):
            raise ValueError(f"`epochs` must be None or an integer >= 1, got {epochs!r}.")
        if not _is_int(top_k) or top_k < 1:
            raise ValueError(f"`top_k` must be an integer >= 1, got {top_k!r}.")
        if schedule not in SCHEDULES:
            raise ValueError(f"`schedule` must be None or 'successive_halving', got {schedule!r}.")
        if schedule == "successive_halving" and data_fraction >= 1:
            raise ValueError("`schedule` 'successive_halving' promotes from a data subset to the full data; "
                             f"it needs `data_fraction` < 1, got {data_fraction!r}.")
        self.data_fraction = float(data_fraction)
        self.resolution = None if resolution is None else int(resolution)
        self.width_multiplier = float(width_multiplier)
        self.num_cells = None if num_cells is None else int(num_cells)
        self.epochs = None if epochs is None else int(epochs)
        self.top_k = int(top_k)
        self.schedule = schedule

    @property
    def changes_model(self):
        """bool, whether the knobs change the network that is built."""
        return self.width_multiplier < 1 or self.num_cells is not None

    def replace(self, **changes):
        """A copy with some arguments changed."""
        config = self.get_config()
        config.update(changes)
        return Fidelity.from_config(config)

    def describe(self):
        """Short text of the knobs that differ from full fidelity."""
        parts = []
        if self.data_fraction < 1:
            parts.append(f"data_fraction={self.data_fraction:g}")
        if self.resolution is not None:
            parts.append(f"resolution={self.resolution}")
        if self.width_multiplier < 1:
            parts.append(f"width_multiplier={self.width_multiplier:g}")
        if self.num_cells is not None:
            parts.append(f"num_cells={self.num_cells}")
        if self.epochs is not None:
            parts.append(f"epochs={self.epochs}")
        return ", ".join(parts) or "full fidelity"

    def get_config(self):
        return {k: getattr(self, k) for k in FIDELITY_KEYS}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"Fidelity({self.describe()}, top_k={self.top_k}, schedule={self.schedule!r})"


# ------------------------------------------------------------------ config
def validate_section(value, prefix="estimation.fidelity"):
    """Validates the `estimation.fidelity` config mapping.

    Args:
        value: dict with some of `FIDELITY_KEYS`.
        prefix: str, the key path used in error messages.

    Returns:
        `Fidelity`, or None for a null section.

    Raises:
        ConfigError: naming the offending key (`estimation.fidelity.KEY`).
    """
    from keras_nas_plus.config import ConfigError

    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{prefix}: expected a mapping with keys {', '.join(FIDELITY_KEYS)}, got {value!r}")
    for key in value:
        if key not in FIDELITY_KEYS:
            raise ConfigError(f"{prefix}.{key}: unknown key; allowed: {', '.join(FIDELITY_KEYS)}")
    for key in FIDELITY_KEYS:  # check one key at a time so the error names it
        if key in value:
            try:
                Fidelity(**{key: value[key]})
            except ValueError as e:
                if key == "schedule" and value[key] == "successive_halving":
                    continue  # checked with data_fraction below
                raise ConfigError(f"{prefix}.{key}: {e}") from e
    try:
        return Fidelity(**value)
    except ValueError as e:
        raise ConfigError(f"{prefix}.schedule: {e}") from e


def from_estimation(estimation):
    """The `Fidelity` of a validated `estimation` section, or None."""
    if not estimation or estimation.get("fidelity") is None:
        return None
    return validate_section(estimation["fidelity"])


# -------------------------------------------------------------------- data
def stratified_subset(y, fraction, seed=0):
    """Indices of a stratified random subset of the examples.

    Args:
        y: 1D array of integer labels.
        fraction: float in (0, 1], fraction of the examples to keep (at
            least one per class).
        seed: int, seed of the draw (default 0).

    Returns:
        sorted 1D int array of indices into `y`.
    """
    y = np.asarray(y).reshape(-1)
    if fraction >= 1:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        n = max(1, int(round(len(idx) * fraction)))
        keep.append(rng.choice(idx, size=n, replace=False))
    return np.sort(np.concatenate(keep))


def resize_images(x, resolution, batch=2048):
    """Resizes images to `resolution` x `resolution` pixels.

    Args:
        x: array `(N, H, W)` or `(N, H, W, C)`.
        resolution: int, side length in pixels.
        batch: int, images resized at once (default 2048).

    Returns:
        numpy array `(N, resolution, resolution[, C])` of the same dtype
        (integers are rounded and clipped to their range).
    """
    import keras

    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"`resolution` applies to images (N, H, W[, C]); got data of shape {x.shape}.")
    squeeze = x.ndim == 3
    out = []
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch].astype("float32")
        if squeeze:
            chunk = chunk[..., None]
        r = keras.ops.image.resize(chunk, (resolution, resolution), interpolation="bilinear", antialias=True)
        out.append(keras.ops.convert_to_numpy(r))
    out = np.concatenate(out) if out else np.zeros((0, resolution, resolution, 1), "float32")
    if squeeze:
        out = out[..., 0]
    if np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(x.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(x.dtype)


def reduce_data(x, y, fidelity, seed=0):
    """Applies `data_fraction` and `resolution` to training data.

    Returns:
        `(x, y)`, numpy arrays.
    """
    x, y = np.asarray(x), np.asarray(y)
    if fidelity.data_fraction < 1:
        idx = stratified_subset(y, fidelity.data_fraction, seed)
        x, y = x[idx], y[idx]
    if fidelity.resolution is not None:
        x = resize_images(x, fidelity.resolution)
    return x, y


# ------------------------------------------------------------------ spaces
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
    import keras_tuner

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
    if _space_kind(space) == "MacroSearchSpace" and fidelity.changes_model:
        hp = _scaled_hyperparameters(hp, fidelity.width_multiplier, fidelity.num_cells)
    return reduced.build(hp)


# ------------------------------------------------------------------- tuner
class FidelityMixin:
    """Tuner mixin: trains every trial at a lower fidelity (see `with_fidelity`)."""

    def __init__(self, *args, fidelity=None, fidelity_seed=0, **kwargs):
        if fidelity is not None and not isinstance(fidelity, Fidelity):
            if isinstance(fidelity, dict):
                fidelity = Fidelity(**fidelity)
            else:
                raise ValueError(f"`fidelity` must be a Fidelity, a dict or None, got {fidelity!r}.")
        self.fidelity = fidelity or Fidelity()
        self.fidelity_seed = int(fidelity_seed)
        self._reduced_space = None
        self._reduced_data = {}
        super().__init__(*args, **kwargs)

    def _build_hypermodel(self, hp):
        if self._reduced_space is None:
            self._reduced_space = reduced_space(self.hypermodel, self.fidelity)
        model = build_model(self.hypermodel, hp, self.fidelity, self._reduced_space)
        self._override_compile_args(model)
        return model

    def _reduce(self, x, y, fidelity):
        # Reduced once per array and setting; the cache holds the source arrays so ids stay valid.
        key = (id(x), id(y), fidelity.data_fraction, fidelity.resolution)
        if key not in self._reduced_data:
            if len(self._reduced_data) >= 4:
                self._reduced_data.pop(next(iter(self._reduced_data)))
            self._reduced_data[key] = (x, y, reduce_data(x, y, fidelity, self.fidelity_seed))
        return self._reduced_data[key][2]

    def fidelity_fit_args(self, args, kwargs, fidelity=None):
        """Reduces the `fit` arguments (data, validation resolution, epochs)."""
        fidelity = fidelity or self.fidelity
        args, kwargs = list(args), dict(kwargs)
        x = args[0] if args else kwargs.get("x")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        if x is not None and y is not None and (fidelity.data_fraction < 1 or fidelity.resolution is not None):
            x, y = self._reduce(x, y, fidelity)
            if args:
                args[0] = x
            else:
                kwargs["x"] = x
            if len(args) > 1:
                args[1] = y
            else:
                kwargs["y"] = y
        val = kwargs.get("validation_data")
        if fidelity.resolution is not None and isinstance(val, (tuple, list)) and len(val) >= 2:
            xv, yv = self._reduce(val[0], val[1], fidelity.replace(data_fraction=1.0))
            kwargs["validation_data"] = (xv, yv) + tuple(val[2:])
        if fidelity.epochs is not None:
            kwargs["epochs"] = fidelity.epochs
        return tuple(args), kwargs

    def run_trial(self, trial, *args, **kwargs):
        args, kwargs = self.fidelity_fit_args(args, kwargs)
        return super().run_trial(trial, *args, **kwargs)


_CLASSES = {}


def with_fidelity(tuner_class):
    """A subclass of a tuner class with a `fidelity=` argument.

    The oracle is untouched: it proposes and ranks trials as usual, on the
    low-fidelity scores. Every trial's model is built from
    `reduced_space(hypermodel, fidelity)` and trained on `reduce_data(...)`
    for `fidelity.epochs` epochs; the tuner's `hypermodel` stays the
    full-fidelity space (used by `retrain_top_k`).

    Args:
        tuner_class: a `keras_tuner.Tuner` subclass (e.g.
            `keras_nas_plus.RegularizedEvolution`).

    Returns:
        the subclass; its constructor takes `fidelity` (`Fidelity` or dict)
        and `fidelity_seed` (int, seed of the data subset, default 0) besides
        the tuner's own arguments.

    Example:
        >>> Tuner = with_fidelity(RegularizedEvolution)
        >>> tuner = Tuner(space, fidelity=Fidelity(data_fraction=0.25, top_k=3), ...)
        >>> tuner.search(x, y, validation_data=(xv, yv), epochs=10)
        >>> phase = retrain_top_k(tuner, x, y, (xv, yv), epochs=10)
    """
    if issubclass(tuner_class, FidelityMixin):
        return tuner_class
    if tuner_class not in _CLASSES:
        _CLASSES[tuner_class] = type(f"{tuner_class.__name__}WithFidelity", (FidelityMixin, tuner_class),
                                     {"__doc__": f"`{tuner_class.__name__}` trained at a lower fidelity."})
    return _CLASSES[tuner_class]


# ----------------------------------------------------- training + ranking
def _objective(objective):
    """(name, direction) of a Keras Tuner objective (or a metric name)."""
    name = getattr(objective, "name", objective) or "val_accuracy"
    direction = getattr(objective, "direction", None)
    if direction is None:
        direction = "min" if str(name).endswith("loss") else "max"
    return str(name), direction


def _best_of_history(history, name, direction):
    values = [v for v in history.get(name, []) if v is not None and math.isfinite(float(v))]
    if not values:
        return None
    return float(max(values) if direction == "max" else min(values))


def _step_timer():
    """A callback that times training steps, leaving out the first (graph tracing/compilation)."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps, self.seconds, self._t = 0, 0.0, None

        def on_train_batch_begin(self, batch, logs=None):
            self._t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps > 1:
                self.seconds += time.perf_counter() - self._t

        def train_seconds(self):
            # the first step is replaced by the mean of the others
            return self.seconds * self.steps / (self.steps - 1) if self.steps > 1 else None

    return StepTimer()


def train_architecture(space, values, fidelity, x, y, validation_data, epochs, batch_size=64,
                       objective="val_accuracy", seed=0, data_seed=0, verbose=0):
    """Trains one architecture at a fidelity and scores it.

    Args:
        space: the full-fidelity search space (a HyperModel).
        values: dict of hyperparameter values (or `HyperParameters`).
        fidelity: `Fidelity` (`Fidelity()` = full fidelity).
        x, y: full training data (numpy).
        validation_data: `(x_val, y_val)` at full resolution.
        epochs: int, epochs when `fidelity.epochs` is None.
        batch_size: int, default 64.
        objective: metric name or `keras_tuner.Objective` (default
            `"val_accuracy"`); the best epoch's value is the score.
        seed: int, weight-initialisation seed (default 0).
        data_seed: int, seed of the data subset (default 0).
        verbose: int, `fit` verbosity (default 0).

    Returns:
        dict: `score` (None if not finite), `seconds` (training wall-clock
        seconds of `fit`), `num_params`, `input_shape`, `num_train_examples`,
        `epochs`, and `model` (the trained `keras.Model`).
    """
    import keras
    import keras_tuner

    if isinstance(values, keras_tuner.HyperParameters):
        hp = values.copy()
    else:
        hp = keras_tuner.HyperParameters()
        hp.values = dict(values)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    xs, ys = reduce_data(x, y, fidelity, data_seed)
    xv, yv = validation_data[0], validation_data[1]
    if fidelity.resolution is not None:
        xv = resize_images(xv, fidelity.resolution)
    model = build_model(space, hp, fidelity)
    epochs = fidelity.epochs or epochs
    timer = _step_timer()
    start = time.time()
    history = space.fit(hp, model, xs, ys, validation_data=(xv, yv), epochs=epochs,
                        batch_size=batch_size, verbose=verbose, callbacks=[timer])
    seconds = time.time() - start
    train_seconds = timer.train_seconds()
    name, direction = _objective(objective)
    return {
        "score": _best_of_history(getattr(history, "history", {}) or {}, name, direction),
        "seconds": round(seconds, 3),
        "train_seconds": None if train_seconds is None else round(train_seconds, 3),
        "num_params": int(model.count_params()),
        "input_shape": [None if d is None else int(d) for d in model.inputs[0].shape],
        "num_train_examples": int(len(xs)),
        "epochs": int(epochs),
        "model": model,
    }


def _rank(records, direction):
    ok = [r for r in records if r.get("score") is not None]
    return sorted(ok, key=lambda r: r["score"], reverse=direction == "max")


def halving_rungs(data_fraction, num_trials, top_k, eta=2):
    """Data fractions and numbers of trials of the successive-halving rungs.

    Rung 0 is the search itself (`num_trials` trials at `data_fraction`);
    rung r trains the best `max(top_k, ceil(n_{r-1} / eta))` trials of rung
    r-1 on `min(1, data_fraction * eta**r)` of the training data, until the
    whole training set is used.

    Args:
        data_fraction: float in (0, 1), fraction of rung 0.
        num_trials: int, trials completed in rung 0.
        top_k: int, fewest trials kept per rung.
        eta: int >= 2, the reduction factor (default 2: halving).

    Returns:
        list of `(data_fraction, num_trials)` for rungs 1, 2, ...

    Reference:
        Jamieson & Talwalkar, AISTATS 2016, Algorithm 1 (successive
        halving); Li et al., Hyperband, JMLR 2018, Section 3.
    """
    rungs = []
    fraction, n = data_fraction, num_trials
    while fraction < 1:
        fraction = min(1.0, fraction * eta)
        n = min(n, max(top_k, int(math.ceil(n / eta))))
        rungs.append((fraction, n))
    return rungs


def _trial_record(tuner, trial):
    info = tuner.get_trial_info(trial.trial_id) if hasattr(tuner, "get_trial_info") else {}
    score = trial.score
    return {
        "trial_id": trial.trial_id,
        "hyperparameters": trial.hyperparameters,
        "score": None if score is None or not math.isfinite(float(score)) else float(score),
        "num_train_examples": info.get("num_train_examples"),
        "input_shape": info.get("input_shape"),
    }


def retrain_top_k(tuner, x, y, validation_data, epochs, batch_size=64, seed=0, log=None):
    """The final phase: re-train the best low-fidelity trials at full fidelity.

    With `fidelity.schedule == "successive_halving"`, the completed trials
    are first promoted rung by rung (`halving_rungs`): each rung re-trains
    the better part of the previous rung on twice the data fraction (other
    knobs as in the search), and the `top_k` best of the last rung go on.

    Args:
        tuner: a tuner made by `with_fidelity(...)` that has searched.
        x, y: the full training data (numpy).
        validation_data: `(x_val, y_val)`, full resolution.
        epochs: int, full-fidelity epochs (`search.epochs`).
        batch_size: int, default 64.
        seed: int, initialisation seed of the re-training (default 0).
        log: optional callable taking one line of text.

    Returns:
        dict: `trials` (one record per re-trained trial: `trial_id`,
        `architecture`-free values, `low_fidelity_score`, `score`,
        `seconds`, `num_params`, `input_shape`, `num_train_examples`,
        `epochs`), `best_trial_id`, `best_score`, `seconds` (total),
        `fidelity` (config), `successive_halving` (list of rungs, or None),
        and `model` (the best trained model, not JSON-safe).

    Raises:
        ValueError: if no trial completed.
    """
    fidelity = tuner.fidelity
    name, direction = _objective(tuner.oracle.objective)
    log = log or (lambda text: None)
    start = time.time()
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    candidates = _rank([_trial_record(tuner, t) for t in trials], direction)
    if not candidates:
        raise ValueError("no trial completed successfully; nothing to re-train at full fidelity")
    rungs_out = None
    if fidelity.schedule == "successive_halving":
        rungs_out = [{"rung": 0, "data_fraction": fidelity.data_fraction, "trial_ids": [c["trial_id"] for c in candidates],
                      "scores": [c["score"] for c in candidates], "seconds": None}]
        for r, (fraction, n) in enumerate(halving_rungs(fidelity.data_fraction, len(candidates), fidelity.top_k), 1):
            promoted = candidates[:n]
            rung_fidelity = fidelity.replace(data_fraction=fraction, schedule=None)
            rung_start = time.time()
            scored = []
            for c in promoted:
                res = train_architecture(tuner.hypermodel, c["hyperparameters"], rung_fidelity, x, y, validation_data,
                                         epochs, batch_size, tuner.oracle.objective, seed, tuner.fidelity_seed)
                res.pop("model")
                scored.append(dict(c, score=res["score"], num_train_examples=res["num_train_examples"]))
            candidates = _rank(scored, direction) or promoted
            rungs_out.append({"rung": r, "data_fraction": fraction, "trial_ids": [c["trial_id"] for c in scored],
                              "scores": [c["score"] for c in scored], "seconds": round(time.time() - rung_start, 2)})
            log(f"  successive halving rung {r}: {len(promoted)} trials on {fraction:.0%} of the data "
                f"-> best {candidates[0]['trial_id']} ({candidates[0]['score']:.4f})")
    records, best, best_model = [], None, None
    for c in candidates[:fidelity.top_k]:
        res = train_architecture(tuner.hypermodel, c["hyperparameters"], Fidelity(), x, y, validation_data,
                                 epochs, batch_size, tuner.oracle.objective, seed)
        model = res.pop("model")
        low = tuner.oracle.get_trial(c["trial_id"]).score
        record = {"trial_id": c["trial_id"], "low_fidelity_score": None if low is None else float(low), **res}
        records.append(record)
        better = best is None or (record["score"] is not None and (
            best["score"] is None or (record["score"] > best["score"] if direction == "max" else record["score"] < best["score"])))
        if better:
            best, best_model = record, model
    return {
        "fidelity": fidelity.get_config(),
        "top_k": fidelity.top_k,
        "top_k_epochs": int(epochs),
        "trials": records,
        "best_trial_id": best["trial_id"],
        "best_score": best["score"],
        "successive_halving": rungs_out,
        "seconds": round(time.time() - start, 2),
        "model": best_model,
    }


def format_final_phase(phase, objective="val_accuracy"):
    """Plain-text table of the full-fidelity re-training (best first)."""
    lines = [f"{'trial':>5} {'low-fid ' + objective:>22} {'full ' + objective:>18} {'params':>9} {'seconds':>8}"]
    for r in phase["trials"]:
        low = "-" if r["low_fidelity_score"] is None else f"{r['low_fidelity_score']:.4f}"
        full = "-" if r["score"] is None else f"{r['score']:.4f}"
        mark = "  <- best" if r["trial_id"] == phase["best_trial_id"] else ""
        lines.append(f"{r['trial_id']:>5} {low:>22} {full:>18} {r['num_params']:>9,} {r['seconds']:>8.1f}{mark}")
    return "\n".join(lines)


def run_final_phase(tuner, data, search, verbose=1):
    """`retrain_top_k` for `run_search`, printing its own summary.

    Args:
        tuner: the searched tuner (made by `with_fidelity`).
        data: dict from `keras_nas_plus.run.load_data`.
        search: the validated `search` config section.
        verbose: int, 0 silent.

    Returns:
        the dict of `retrain_top_k`.
    """
    def log(text):
        if verbose:
            print(text, flush=True)

    f = tuner.fidelity
    log(f"\nFinal phase (full fidelity): re-training the top {f.top_k} of the low-fidelity search "
        f"({f.describe()}) for {search['epochs']} epochs on all {len(data['x_train'])} training examples")
    phase = retrain_top_k(tuner, data["x_train"], data["y_train"], (data["x_val"], data["y_val"]),
                          search["epochs"], search["batch_size"], search["seed"], log)
    log(format_final_phase(phase, search["objective"]) + f"\n  ({phase['seconds']:.0f} s)")
    return phase


# ------------------------------------------------------------------ report
def sample_architectures(space, num, seed=0):
    """Distinct random hyperparameter values of a search space.

    Args:
        space: a HyperModel (search space).
        num: int, number of architectures.
        seed: int, default 0.

    Returns:
        list of dicts of values (fewer if the space is smaller).
    """
    import keras_tuner

    from keras_nas_plus.oracles import _hp

    import shutil
    import tempfile

    directory = tempfile.mkdtemp(prefix="kn_fidelity_")
    try:  # Keras Tuner registers every conditional hyperparameter of the space
        tuner = keras_tuner.RandomSearch(hypermodel=space, objective="val_accuracy", max_trials=1,
                                         directory=directory, project_name="sample", overwrite=True)
        hp_space = tuner.oracle.get_space().space
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    rng = np.random.default_rng(seed)
    seen, out = set(), []
    for _ in range(num * 50):
        values = _hp.random_values(hp_space, rng)
        key = tuple(sorted((k, str(v)) for k, v in values.items()))
        if key not in seen:
            seen.add(key)
            out.append(values)
        if len(out) == num:
            break
    return out


def default_settings(space, data):
    """One low-fidelity setting per knob (plus a combination), for a report."""
    settings = {"data_fraction=0.25": Fidelity(data_fraction=0.25),
                "epochs=1": Fidelity(epochs=1),
                "width_multiplier=0.5": Fidelity(width_multiplier=0.5)}
    shape = data["input_shape"]
    if data.get("input_kind") == "image" and len(shape) >= 2 and min(shape[:2]) >= 16:
        settings[f"resolution={shape[0] // 2}"] = Fidelity(resolution=shape[0] // 2)
    if _space_kind(space) == "MacroSearchSpace":
        settings[f"num_cells={max(1, space.min_layers - 1)}"] = Fidelity(num_cells=max(1, space.min_layers - 1))
    elif hasattr(space, "num_cells") and space.num_cells > 1:
        settings["num_cells=1"] = Fidelity(num_cells=1)
    combo = Fidelity(data_fraction=0.25, resolution=settings.get(f"resolution={shape[0] // 2}", Fidelity()).resolution)
    settings[combo.describe().replace(", ", "+")] = combo
    return settings


def rank_correlation(low, full):
    """Spearman's rho and Kendall's tau (scipy.stats) of paired scores.

    Returns:
        `(rho, tau)`, NaN when fewer than 3 finite pairs.
    """
    from scipy import stats

    pairs = [(a, b) for a, b in zip(low, full) if a is not None and b is not None]
    if len(pairs) < 3:
        return float("nan"), float("nan")
    a, b = zip(*pairs)
    return float(stats.spearmanr(a, b).statistic), float(stats.kendalltau(a, b).statistic)


def fidelity_report(space, data, settings, num_architectures=10, epochs=3, batch_size=64,
                    objective="val_accuracy", seed=0, progress=None, partial=None, only=None):
    """Rank correlation and cost saved of low-fidelity settings.

    Every architecture of a random sample is trained at full fidelity and at
    each setting; per setting: Spearman's rho and Kendall's tau between the
    low- and full-fidelity scores, and the cost saved, i.e. the ratio of
    total full-fidelity to total low-fidelity seconds, both for the
    training steps (`cost_ratio`, the first step, which traces the graph,
    counted as an average one) and for the whole `fit` wall clock,
    validation and graph tracing included (`wall_cost_ratio`).

    Args:
        space: the full-fidelity search space.
        data: dict from `keras_nas_plus.run.load_data`.
        settings: dict name -> `Fidelity`.
        num_architectures: int, default 10.
        epochs: int, full-fidelity epochs (and of settings without `epochs`).
        batch_size: int, default 64.
        objective: metric name, default "val_accuracy".
        seed: int, seed of the sample and of the initialisation (default 0).
        progress: optional callable taking one line of text.
        partial: optional callable taking the report so far (after each
            architecture), e.g. to save it.
        only: optional `(start, stop)`: train only architectures
            `start..stop-1` of the sample (to split a report over processes).

    Returns:
        dict: `settings` (name -> `spearman`, `kendall`, `train_seconds`,
        `seconds`, `cost_ratio`, `wall_cost_ratio`, `scores`, `fidelity`),
        `full` (`train_seconds`, `seconds`, `scores`), `architectures`
        (values), `epochs`.
    """
    progress = progress or (lambda text: None)
    archs = sample_architectures(space, num_architectures, seed)
    start, stop = only or (0, len(archs))
    val = (data["x_val"], data["y_val"])
    runs = {name: [] for name in ["full"] + list(settings)}
    report = None
    for i, values in enumerate(archs):
        if not start <= i < stop:
            continue
        line = []
        for name, f in [("full", Fidelity())] + list(settings.items()):
            r = train_architecture(space, values, f, data["x_train"], data["y_train"], val, epochs,
                                   batch_size, objective, seed + i, seed)
            r.pop("model")
            runs[name].append(r)
            line.append(f"{name} {r['score'] if r['score'] is None else round(r['score'], 4)} "
                        f"({r['train_seconds']} s train, {r['seconds']:.1f} s wall)")
        progress(f"arch {i + 1}/{len(archs)}: " + "; ".join(line))
        report = _summarise(runs, settings, archs[start: i + 1], epochs)
        if partial is not None:
            partial(report)
    return report


def _summarise(runs, settings, archs, epochs):
    def total(records, key):
        return float(np.sum([r[key] or 0.0 for r in records]))

    full = runs["full"]
    full_scores = [r["score"] for r in full]
    out = {}
    for name, f in settings.items():
        recs = runs[name]
        rho, tau = rank_correlation([r["score"] for r in recs], full_scores)
        train, wall = total(recs, "train_seconds"), total(recs, "seconds")
        out[name] = {"fidelity": f.get_config(), "spearman": rho, "kendall": tau,
                     "train_seconds": round(train, 2), "seconds": round(wall, 2),
                     "cost_ratio": total(full, "train_seconds") / train if train > 0 else float("nan"),
                     "wall_cost_ratio": total(full, "seconds") / wall if wall > 0 else float("nan"),
                     "scores": [r["score"] for r in recs],
                     "num_params": [r["num_params"] for r in recs],
                     "num_train_examples": recs[0]["num_train_examples"] if recs else None,
                     "input_shape": recs[0]["input_shape"] if recs else None}
    return {"epochs": epochs, "architectures": archs,
            "full": {"train_seconds": round(total(full, "train_seconds"), 2), "seconds": round(total(full, "seconds"), 2),
                     "scores": full_scores, "num_params": [r["num_params"] for r in full]},
            "settings": out}


def format_report(report):
    """Plain-text table of `fidelity_report`'s result."""
    full = report["full"]
    lines = [f"{len(report['architectures'])} architectures; full fidelity: {report['epochs']} epochs, "
             f"{full['train_seconds']:.0f} s of training steps ({full['seconds']:.0f} s wall)",
             f"{'setting':<36} {'train s':>8} {'cost saved':>10} {'wall s':>7} {'wall saved':>10} "
             f"{'spearman':>9} {'kendall':>8}"]
    for name, s in report["settings"].items():
        lines.append(f"{name:<36} {s['train_seconds']:>8.0f} {s['cost_ratio']:>9.1f}x {s['seconds']:>7.0f} "
                     f"{s['wall_cost_ratio']:>9.1f}x {s['spearman']:>9.3f} {s['kendall']:>8.3f}")
    return "\n".join(lines)


def add_parser(subparsers):
    """Adds the `fidelity-report` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "fidelity-report",
        help="rank correlation and cost saved of low-fidelity settings",
        description=("Trains a random sample of architectures of CONFIG.yaml's space at full fidelity "
                     "(search.epochs epochs, all training data) and at each low-fidelity setting, then "
                     "prints per setting the Spearman and Kendall rank correlation with the full-fidelity "
                     "scores and the cost saved (ratio of training seconds). The settings are each knob of "
                     "estimation.fidelity alone plus all of them together, or, without that section, one "
                     "default setting per knob."),
    )
    p.add_argument("config", help="path of the YAML configuration")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a configuration value (repeatable)")
    p.add_argument("--num-architectures", type=int, default=10, help="architectures sampled (default 10)")
    p.add_argument("--json", help="also write the report to this JSON file")
    return p


def settings_from_config(fidelity, space, data):
    """Report settings: each knob of `fidelity` alone, plus all together."""
    if fidelity is None:
        return default_settings(space, data)
    base = Fidelity()
    settings = {}
    for key in ("data_fraction", "resolution", "width_multiplier", "num_cells", "epochs"):
        value = getattr(fidelity, key)
        if value != getattr(base, key):
            settings[f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"] = base.replace(**{key: value})
    plain = fidelity.replace(schedule=None, top_k=1)
    if len(settings) > 1:
        settings[plain.describe().replace(", ", "+")] = plain
    return settings or default_settings(space, data)


def run(args):
    """Runs `keras-nas-plus fidelity-report`; returns the exit status."""
    import json

    from keras_nas_plus import config as config_module
    from keras_nas_plus import datasets
    from keras_nas_plus import run as run_module

    try:
        if args.num_architectures < 3:
            raise config_module.ConfigError(f"--num-architectures: expected an integer >= 3, got {args.num_architectures}")
        config = config_module.load_config(args.config, args.overrides)
        search = config["search"]
        data = run_module.load_data(config["data"], search["seed"])
        space = run_module.build_space(config["space"], data)
        settings = settings_from_config(from_estimation(config["estimation"]), space, data)
    except (config_module.ConfigError, datasets.DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    verbose = search["verbose"]
    report = fidelity_report(space, data, settings, args.num_architectures, search["epochs"], search["batch_size"],
                             search["objective"], search["seed"], progress=print if verbose else None)
    print(format_report(report), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
    return 0


__all__ = ["Fidelity", "FidelityMixin", "with_fidelity", "reduced_space", "build_model", "reduce_data",
           "stratified_subset", "resize_images", "train_architecture", "retrain_top_k", "halving_rungs",
           "fidelity_report", "rank_correlation", "sample_architectures", "validate_section",
           "add_parser", "run"]
