"""Training recipe shared by the search spaces: optimizer, schedule, weight decay, label smoothing, EMA."""

import math

import keras

from keras_nas_plus.spaces import _training

OPTIMIZERS = ("adam", "adamw", "sgd", "sgd_nesterov")
AUGMENTATIONS = ("none", "translate", "translate_flip", "translate_erase", "translate_flip_erase")
#: Decoupled weight decay of `adamw` when `weight_decay` is None (the macro space's historical value).
DEFAULT_ADAMW_DECAY = 1e-4
#: Momentum of the SGD optimizers (Nesterov).
SGD_MOMENTUM = 0.9


def as_tuple(name, value, allowed_types):
    """A scalar becomes a 1-tuple; checks that it is not empty and the element types.

    Raises:
        ValueError: naming `name`, for an empty sequence or a value of another type.
    """
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not values:
        raise ValueError(f"`{name}` must not be empty.")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, allowed_types):
            raise ValueError(f"`{name}` has an invalid value {v!r}.")
    return values


def choice(hp, name, values, **kwargs):
    """A Keras Tuner `Choice` when several values are given, else the fixed value (not declared)."""
    if len(values) == 1:
        return values[0]
    return hp.Choice(name, list(values), **kwargs)


def floats(name, value, low, high, high_open=True):
    """`value` (a number or a sequence) as a tuple of floats in `[low, high)` (`[low, high]`).

    Raises:
        ValueError: naming `name`, for a value of another type or out of range.
    """
    values = tuple(float(v) for v in as_tuple(name, value, (int, float)))
    for v in values:
        if not math.isfinite(v) or v < low or (v >= high if high_open else v > high):
            bracket = ")" if high_open else "]"
            raise ValueError(f"`{name}` values must be in [{low}, {high}{bracket}, got {value!r}.")
    return values


def _strings(name, value, allowed):
    values = as_tuple(name, value, str)
    for v in values:
        if v not in allowed:
            raise ValueError(f"`{name}` must be one of {allowed}, got {v!r}.")
    return values


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class SparseLabelSmoothingCrossentropy(keras.losses.Loss):
    """Cross-entropy for integer labels with label smoothing.

    The labels are one-hot encoded (`keras.ops.one_hot`, the number of
    classes is the last dimension of the predictions) and smoothed: the
    target of the true class is `1 - s + s / C`, of every other class
    `s / C`; the loss is the categorical cross-entropy against that target.
    Keras' own `SparseCategoricalCrossentropy` has no smoothing.

    Args:
        label_smoothing: float in [0, 1), default 0.1. The smoothing `s`.
        from_logits: bool, default False. Whether the predictions are logits
            (else probabilities, as our spaces' softmax outputs).
        reduction: str, default `"sum_over_batch_size"` (Keras' reductions).
        name: str, the loss name.
        dtype: optional dtype of the loss computation.

    Raises:
        ValueError: for `label_smoothing` outside [0, 1).

    Reference:
        Szegedy et al., "Rethinking the Inception Architecture for Computer
        Vision", CVPR 2016, Section 7 (label-smoothing regularization).
    """

    def __init__(self, label_smoothing=0.1, from_logits=False, reduction="sum_over_batch_size",
                 name="sparse_label_smoothing_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if (isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float))
                or not 0.0 <= label_smoothing < 1.0):
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {label_smoothing!r}.")
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        ops = keras.ops
        labels = ops.cast(y_true, "int32")
        if len(labels.shape) == len(y_pred.shape):  # (batch, 1) labels
            labels = ops.squeeze(labels, axis=-1)
        target = ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(target, y_pred, from_logits=self.from_logits,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, from_logits=self.from_logits)
        return config


def add_kernel_l2(model, coefficient):
    """Adds an L2 penalty `coefficient * sum(w ** 2)` on every convolution and dense kernel of `model`.

    The regularizer is set both on the kernel variables (so that the
    penalty enters the training loss at once) and on the layers' arguments
    (`kernel_regularizer`, `depthwise_regularizer`, `pointwise_regularizer`),
    so that a saved model keeps it. Biases, BatchNormalization parameters
    and embeddings are not penalised.

    Args:
        model: a built `keras.Model`.
        coefficient: float >= 0; 0 changes nothing.

    Returns:
        int, the number of kernels penalised.
    """
    if not coefficient:
        return 0
    count = 0
    for layer in model._flatten_layers(include_self=False):
        for weight, argument in (("kernel", "kernel_regularizer"), ("depthwise_kernel", "depthwise_regularizer"),
                                 ("pointwise_kernel", "pointwise_regularizer")):
            variable = getattr(layer, weight, None)
            if variable is None or not hasattr(layer, argument) or not isinstance(
                    layer, (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D,
                            keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
                            keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
                continue
            regularizer = keras.regularizers.L2(coefficient)
            setattr(layer, argument, regularizer)
            variable.regularizer = regularizer
            count += 1
    return count


class TrainingRecipe:
    """The training hyperparameters of a search space; each fixed or searched.

    Every argument takes one value (fixed) or a list (a Keras Tuner `Choice`
    of that name, searched alongside the architecture).

    Args:
        learning_rate: float or list of floats > 0. Peak learning rate.
        optimizer: str or list of `"adam"`, `"adamw"` (decoupled weight
            decay), `"sgd"` / `"sgd_nesterov"` (the same: SGD with Nesterov
            momentum 0.9).
        lr_schedule: `"cosine"` or `"constant"` (or a list).
        schedule_unit: `"step"` or `"epoch"` (or a list): whether the rate
            changes every step or once per epoch.
        warmup_epochs: float >= 0 (or a list), epochs of linear warm-up of
            the rate at the start of each fit (at most half of the fit).
        weight_decay: None, or float >= 0 (or a list). For `adam` and the SGD
            optimizers, an L2 penalty `weight_decay * sum(w ** 2)` on the
            convolution and dense kernels; for `adamw`, its decoupled weight
            decay (Loshchilov & Hutter, ICLR 2019). None: `adamw` decays by
            1e-4 and the others have no penalty.
        label_smoothing: float in [0, 1) (or a list). 0 means the plain
            sparse categorical cross-entropy.
        ema_momentum: None or float in [0, 1) (or a list). When set (> 0),
            the optimizer keeps an exponential moving average of the weights
            (Keras' `use_ema=True`), which replace the weights at the end of
            every `fit` (Polyak & Juditsky, SIAM J. Control Optim. 1992).

    Raises:
        ValueError: for an invalid value; the message names the argument.
    """

    def __init__(self, learning_rate, optimizer, lr_schedule, schedule_unit="step", warmup_epochs=0.0,
                 weight_decay=None, label_smoothing=0.0, ema_momentum=None):
        learning_rate = as_tuple("learning_rate", learning_rate, (int, float))
        if any(not math.isfinite(lr) or lr <= 0 for lr in learning_rate):
            raise ValueError(f"`learning_rate` values must be positive, got {learning_rate!r}.")
        self.learning_rate = learning_rate
        self.optimizer = _strings("optimizer", optimizer, OPTIMIZERS)
        self.lr_schedule = _strings("lr_schedule", lr_schedule, _training.SCHEDULES)
        self.schedule_unit = _strings("schedule_unit", schedule_unit, _training.SCHEDULE_UNITS)
        self.warmup_epochs = floats("warmup_epochs", warmup_epochs, 0.0, math.inf)
        self.weight_decay = None if weight_decay is None else floats("weight_decay", weight_decay, 0.0, 1.0)
        self.label_smoothing = floats("label_smoothing", label_smoothing, 0.0, 1.0)
        if ema_momentum is not None:
            ema_momentum = tuple(0.0 if v is None else v for v in (
                ema_momentum if isinstance(ema_momentum, (list, tuple)) else [ema_momentum]))
        self.ema_momentum = None if ema_momentum is None else floats("ema_momentum", ema_momentum, 0.0, 1.0)

    def choose(self, hp):
        """The recipe's values for `hp` (declaring the searched ones), as a dict."""
        values = {
            "learning_rate": float(choice(hp, "learning_rate", self.learning_rate, ordered=True)),
            "optimizer": choice(hp, "optimizer", self.optimizer),
            "lr_schedule": choice(hp, "lr_schedule", self.lr_schedule),
        }
        values["schedule_unit"] = choice(hp, "schedule_unit", self.schedule_unit)
        values["warmup_epochs"] = float(choice(hp, "warmup_epochs", self.warmup_epochs, ordered=True))
        values["weight_decay"] = (None if self.weight_decay is None
                                  else float(choice(hp, "weight_decay", self.weight_decay, ordered=True)))
        values["label_smoothing"] = float(choice(hp, "label_smoothing", self.label_smoothing, ordered=True))
        values["ema_momentum"] = (0.0 if self.ema_momentum is None
                                  else float(choice(hp, "ema_momentum", self.ema_momentum, ordered=True)))
        return values

    @staticmethod
    def kernel_l2(values):
        """The L2 coefficient on kernels for chosen `values` (0.0 for `adamw`, whose decay is decoupled)."""
        if values["optimizer"] == "adamw" or values["weight_decay"] is None:
            return 0.0
        return values["weight_decay"]

    @staticmethod
    def make_optimizer(values):
        """A new Keras optimizer for chosen `values` (see `choose`)."""
        rate = values["learning_rate"]
        decay = values["lr_schedule"] == "cosine"
        if decay or values["warmup_epochs"]:  # planned per fit by `_training.fit_with_schedule`
            rate = _training.CosineSchedule(rate, warmup_epochs=values["warmup_epochs"],
                                            unit=values["schedule_unit"], decay=decay)
        kwargs = {}
        if values["ema_momentum"]:
            kwargs.update(use_ema=True, ema_momentum=values["ema_momentum"])
        name = values["optimizer"]
        if name in ("sgd", "sgd_nesterov"):
            return keras.optimizers.SGD(learning_rate=rate, momentum=SGD_MOMENTUM, nesterov=True, **kwargs)
        if name == "adamw":
            weight_decay = DEFAULT_ADAMW_DECAY if values["weight_decay"] is None else values["weight_decay"]
            return keras.optimizers.AdamW(learning_rate=rate, weight_decay=weight_decay, **kwargs)
        return keras.optimizers.Adam(learning_rate=rate, **kwargs)

    @staticmethod
    def make_loss(values):
        """The loss for chosen `values`: sparse cross-entropy, with label smoothing when set."""
        if values["label_smoothing"]:
            return SparseLabelSmoothingCrossentropy(values["label_smoothing"])
        return "sparse_categorical_crossentropy"

    @classmethod
    def compile_model(cls, model, values, overrides=None):
        """Compiles `model` with the optimizer and loss of chosen `values` and accuracy.

        Args:
            model: `keras.Model` to compile in place.
            values: dict of recipe values, as returned by `choose`.
            overrides: dict or None; `model.compile` arguments that replace ours.
        """
        kwargs = {"optimizer": cls.make_optimizer(values), "loss": cls.make_loss(values), "metrics": ["accuracy"]}
        kwargs.update(overrides or {})
        model.compile(**kwargs)

    def schedule(self, hp):
        """The `lr_schedule` of `hp`'s values (for `fit`)."""
        return hp.values.get("lr_schedule", self.lr_schedule[0])

    def get_config(self):
        """The recipe's arguments as JSON-friendly lists."""
        return {
            "learning_rate": list(self.learning_rate),
            "optimizer": list(self.optimizer),
            "lr_schedule": list(self.lr_schedule),
            "schedule_unit": list(self.schedule_unit),
            "warmup_epochs": list(self.warmup_epochs),
            "weight_decay": None if self.weight_decay is None else list(self.weight_decay),
            "label_smoothing": list(self.label_smoothing),
            "ema_momentum": None if self.ema_momentum is None else list(self.ema_momentum),
        }


def augmentation_layer(augmentation, max_shift, name="augment"):
    """The `RandomShift` layer of an `augmentation` name, or None for `"none"`.

    Args:
        augmentation: one of `AUGMENTATIONS`.
        max_shift: int >= 1, largest random shift in pixels.
        name: str, the layer name.
    """
    if augmentation == "none":
        return None
    return _training.RandomShift(int(max_shift), flip="flip" in augmentation,
                                 erase=0.5 if "erase" in augmentation else 0.0, name=name)
