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

import math

import numpy as np

from keras_nas_plus.estimation.base import Estimator
from keras_nas_plus.spaces.scaling import build_model  # noqa: F401 (re-exported)
from keras_nas_plus.spaces.scaling import fidelity_hyperparameters
from keras_nas_plus.spaces.scaling import reduced_space
from keras_nas_plus.vocabulary import ConfigError

SCHEDULES = (None, "successive_halving")
#: Keys of the `estimation.fidelity` config section (= `Fidelity` arguments).
FIDELITY_KEYS = ("data_fraction", "resolution", "width_multiplier", "num_cells", "epochs", "top_k", "schedule")


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

# ------------------------------------------------------------------- tuner
class LowerFidelity(Estimator):
    """Trains every trial at a lower fidelity: less data, lower resolution, narrower, shallower, fewer epochs.

    The tuner keeps the full-fidelity space as its hypermodel (the oracle sees
    the same hyperparameters); each trial's model is built from a reduced copy
    of it (`reduced_space`) and trained on reduced data (`reduce_data`, done
    once per array). The top-k are re-trained at full fidelity afterwards
    (`keras_nas_plus.estimation.final.retrain_top_k`). Source: Elsken,
    Metzen & Hutter, "Neural Architecture Search: A Survey", JMLR 2019,
    Section 5.

    Args:
        fidelity: `Fidelity`, a dict of its arguments, or None (full fidelity).
        seed: int, default 0. Seed of the stratified data subset.

    Raises:
        ValueError: if `fidelity` is of another type or out of range.
    """

    name = "fidelity"

    def __init__(self, fidelity: "Fidelity | dict | None" = None, seed: int = 0):
        if fidelity is not None and not isinstance(fidelity, Fidelity):
            if isinstance(fidelity, dict):
                fidelity = Fidelity(**fidelity)
            else:
                raise ValueError(f"`fidelity` must be a Fidelity, a dict or None, got {fidelity!r}.")
        self.fidelity = fidelity or Fidelity()
        self.seed = int(seed)
        self._reduced_space = None
        self._reduced_data = {}

    def attach(self, tuner):
        super().attach(tuner)
        tuner.fidelity = self.fidelity  # read by the final phase
        tuner.fidelity_seed = self.seed

    def build_model(self, hp, build):
        space = self.tuner.hypermodel
        if self._reduced_space is None:
            self._reduced_space = reduced_space(space, self.fidelity)
        return build(fidelity_hyperparameters(space, hp, self.fidelity), self._reduced_space)

    def _reduce(self, x, y, fidelity):
        # Reduced once per array and setting; the cache holds the source arrays so ids stay valid.
        key = (id(x), id(y), fidelity.data_fraction, fidelity.resolution)
        if key not in self._reduced_data:
            if len(self._reduced_data) >= 4:
                self._reduced_data.pop(next(iter(self._reduced_data)))
            self._reduced_data[key] = (x, y, reduce_data(x, y, fidelity, self.seed))
        return self._reduced_data[key][2]

    def fit_args(self, args: tuple, kwargs: dict, fidelity: "Fidelity | None" = None) -> tuple:
        """Reduces the `fit` arguments (data, validation resolution, epochs).

        Args:
            args: tuple, positional `fit` arguments (`x`, `y`).
            kwargs: dict, keyword `fit` arguments.
            fidelity: `Fidelity` or None (this estimator's).

        Returns:
            `(args, kwargs)`, new containers.
        """
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

    def before_fit(self, trial, model, fit_args, fit_kwargs):
        return self.fit_args(fit_args, fit_kwargs)

    def __repr__(self):
        return f"LowerFidelity({self.fidelity!r}, seed={self.seed})"


class FidelityMixin:
    """Tuner mixin: a `fidelity=` argument that adds a `LowerFidelity` estimator (see `with_fidelity`)."""

    def __init__(self, *args, fidelity=None, fidelity_seed=0, estimators=None, **kwargs):
        estimator = LowerFidelity(fidelity, fidelity_seed)
        super().__init__(*args, estimators=[estimator] + list(estimators or []), **kwargs)

    def fidelity_fit_args(self, args, kwargs, fidelity=None):
        """Reduces the `fit` arguments (data, validation resolution, epochs); see `LowerFidelity.fit_args`."""
        estimator = next(e for e in self.estimators if isinstance(e, LowerFidelity))
        return estimator.fit_args(args, kwargs, fidelity)


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
