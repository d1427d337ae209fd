"""Pre-activation residual (Wide ResNet) search space as a Keras Tuner HyperModel."""

import keras
import keras_tuner

from keras_nas_plus.spaces import _recipe
from keras_nas_plus.spaces import _training

_KINDS = ("auto", "image")
#: Depths `6 n + 4` of the Wide ResNets named by `references` (n = blocks per stage, 3 stages).
REFERENCE_DEPTHS = (10, 16, 22, 28, 40)


def _positive_ints(name, value):
    values = _recipe.as_tuple(name, value, int)
    if any(v < 1 for v in values):
        raise ValueError(f"`{name}` values must be integers >= 1, got {value!r}.")
    if len(set(values)) != len(values):
        raise ValueError(f"`{name}` has a repeated value: {value!r}.")
    return values


def _declare(hp, name, values, **kwargs):
    """A `Choice` for several values, else a `Fixed` one: the name is always declared."""
    if len(values) == 1:
        return hp.Fixed(name, values[0])
    return hp.Choice(name, list(values), **kwargs)


class ResidualSearchSpace(keras_tuner.HyperModel):
    """Pre-activation residual networks (Wide ResNets) as a search space.

    The network is: optional rescaling and augmentation (training only) ->
    stem (3x3 convolution, `stem_filters`) -> stages of pre-activation
    basic blocks -> BatchNormalization, ReLU -> global average pooling ->
    dense softmax classifier (float32 under mixed precision). Stage `i` has
    `stage_{i}/blocks` blocks of `base_widths[i] * stage_{i}/width`
    filters; its first block has stride 1 for stage 0 and 2 after. A block
    is BN-ReLU-conv-BN-ReLU-(dropout)-conv added to its input, or to a 1x1
    strided projection of the pre-activated input when the shape changes.
    Convolutions have no bias. With 3 stages, `n` blocks each and widening
    factor `k` everywhere, this is WRN-(6n+4)-k; `references()` lists those
    inside the configured choices.

    The default training recipe is the usual Wide ResNet one: SGD with
    Nesterov momentum 0.9, peak rate 0.1 after a 2-epoch linear warm-up
    then a per-epoch cosine decay to 0 over each fit, L2 5e-4 on every
    kernel, 4-pixel random translation, horizontal flip and random erasing.
    Each recipe argument takes one value or a list (searched, under its own
    name).

    Hyperparameters (names): per stage `i`, `stage_{i}/blocks` and
    `stage_{i}/width` (always declared: a `Fixed` one for a single value),
    `stage_{i}/kernel_size` (several `kernel_size` values); `block_dropout`,
    `learning_rate`, `optimizer`, `lr_schedule`, `schedule_unit`,
    `warmup_epochs`, `weight_decay`, `label_smoothing`, `ema_momentum` and
    `augmentation` when given several values. Layers are named
    `stage{i}_block{j}_conv1`, ... so that architectures share names.

    Args:
        input_shape: tuple of ints, one image's shape `(H, W)` or `(H, W, C)`.
        num_classes: int >= 2, number of classes (labels `0..num_classes-1`).
        input_kind: `"auto"` (default) or `"image"`; images only.
        blocks: int or sequence of ints >= 1, default `(1, 2, 3, 4)`. Choices
            of blocks per stage (WRN-16: 2, WRN-28: 4).
        width: int or sequence of ints >= 1, default `(1, 2, 4, 6, 8)`.
            Choices of a stage's widening factor `k`.
        base_widths: sequence of ints >= 1, default `(16, 32, 64)`. Filters
            of each stage at `k = 1`; its length is the number of stages.
        stem_filters: int >= 1, default 16. Filters of the stem convolution.
        kernel_size: int or sequence of odd ints >= 1, default 3. Choices of
            a stage's convolution kernel size.
        block_dropout: float or sequence in [0, 1), default 0. Dropout
            between a block's convolutions (Zagoruyko & Komodakis, Section 2.4).
        bn_momentum: float in [0, 1), default 0.9. Momentum of the
            BatchNormalization moving statistics (0.9 as in the authors'
            Torch code, i.e. PyTorch's 0.1; Keras' own default 0.99 leaves
            the statistics far from converged after the few hundred steps
            of a short trial, and the validation accuracy near chance).
        learning_rate: float or list > 0, default 0.1. Peak learning rate.
        optimizer: str or list among `adam`, `adamw`, `sgd`, `sgd_nesterov`
            (default; SGD with Nesterov momentum 0.9, like `sgd`).
        lr_schedule: `"cosine"` (default) or `"constant"`, or a list.
        schedule_unit: `"epoch"` (default) or `"step"`, or a list: the rate
            changes once per epoch, or every step.
        warmup_epochs: float >= 0 or a list, default 2. Linear warm-up of the
            rate at the start of each fit (at most half of the fit).
        weight_decay: float >= 0, list or None, default 5e-4. L2 penalty
            coefficient on the convolution and dense kernels (the decoupled
            decay instead with `adamw`).
        label_smoothing: float in [0, 1) or a list, default 0.
        ema_momentum: None (default), float in [0, 1) or a list (0 = off).
            Exponential moving average of the weights (Keras' `use_ema`),
            swapped in at the end of each fit.
        augmentation: str or list among `none`, `translate`,
            `translate_flip`, `translate_erase`, `translate_flip_erase`
            (default; random erasing with probability 0.5).
        max_shift: int >= 0, default 4. Largest random translation, pixels.
        rescale: float or None, default None. Factor applied to the raw input
            (e.g. `1/255` for uint8 images).
        compile_kwargs: dict or None. Overrides of `model.compile` arguments.
        name: str, the HyperModel's name.
        tunable: bool, default True.

    Raises:
        ValueError: for an invalid argument; the message names it.

    References:
        Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016 (the
        network, Table 1, and its training recipe, Section 3); He, Zhang, Ren
        & Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016
        (pre-activation blocks); Zhong et al., "Random Erasing Data
        Augmentation", AAAI 2020.
    """

    def __init__(
        self,
        input_shape,
        num_classes,
        input_kind="auto",
        blocks=(1, 2, 3, 4),
        width=(1, 2, 4, 6, 8),
        base_widths=(16, 32, 64),
        stem_filters=16,
        kernel_size=3,
        block_dropout=0.0,
        bn_momentum=0.9,
        learning_rate=0.1,
        optimizer="sgd_nesterov",
        lr_schedule="cosine",
        schedule_unit="epoch",
        warmup_epochs=2.0,
        weight_decay=5e-4,
        label_smoothing=0.0,
        ema_momentum=None,
        augmentation="translate_flip_erase",
        max_shift=4,
        rescale=None,
        compile_kwargs=None,
        name="residual_search_space",
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        shape = _recipe.as_tuple("input_shape", input_shape, int)
        if len(shape) not in (2, 3) or any(d < 1 for d in shape):
            raise ValueError(f"`input_shape` must be (H, W) or (H, W, C) with positive sizes, got {input_shape!r}.")
        if input_kind not in _KINDS:
            raise ValueError(f"`input_kind` must be one of {_KINDS} (images only), got {input_kind!r}.")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an integer >= 2, got {num_classes!r}.")
        self.blocks = _positive_ints("blocks", blocks)
        self.width = _positive_ints("width", width)
        if not isinstance(base_widths, (list, tuple)):
            raise ValueError(f"`base_widths` must be a sequence of integers >= 1, got {base_widths!r}.")
        self.base_widths = _recipe.as_tuple("base_widths", base_widths, int)
        if any(w < 1 for w in self.base_widths):
            raise ValueError(f"`base_widths` must be integers >= 1, got {base_widths!r}.")
        if isinstance(stem_filters, bool) or not isinstance(stem_filters, int) or stem_filters < 1:
            raise ValueError(f"`stem_filters` must be an integer >= 1, got {stem_filters!r}.")
        self.kernel_size = _positive_ints("kernel_size", kernel_size)
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"`kernel_size` values must be odd, got {kernel_size!r}.")
        self.block_dropout = _recipe.floats("block_dropout", block_dropout, 0.0, 1.0)
        if (isinstance(bn_momentum, bool) or not isinstance(bn_momentum, (int, float))
                or not 0.0 <= bn_momentum < 1.0):
            raise ValueError(f"`bn_momentum` must be a number in [0, 1), got {bn_momentum!r}.")
        self.bn_momentum = float(bn_momentum)
        self.recipe = _recipe.TrainingRecipe(learning_rate, optimizer, lr_schedule, schedule_unit=schedule_unit,
                                             warmup_epochs=warmup_epochs, weight_decay=weight_decay,
                                             label_smoothing=label_smoothing, ema_momentum=ema_momentum)
        self.augmentation = _recipe.as_tuple("augmentation", augmentation, str)
        for v in self.augmentation:
            if v not in _recipe.AUGMENTATIONS:
                raise ValueError(f"`augmentation` must be one of {_recipe.AUGMENTATIONS}, got {v!r}.")
        if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"`max_shift` must be an integer >= 0 (pixels), got {max_shift!r}.")
        if rescale is not None and (isinstance(rescale, bool) or not isinstance(rescale, (int, float))):
            raise ValueError(f"`rescale` must be a number or None, got {rescale!r}.")
        if compile_kwargs is not None and not isinstance(compile_kwargs, dict):
            raise ValueError(f"`compile_kwargs` must be a dict or None, got {compile_kwargs!r}.")
        self.input_shape = shape
        self.num_classes = num_classes
        self.input_kind = "image"
        self.stem_filters = stem_filters
        self.max_shift = max_shift
        self.rescale = rescale
        self.compile_kwargs = dict(compile_kwargs or {})

    @property
    def num_stages(self):
        """Number of stages (`len(base_widths)`)."""
        return len(self.base_widths)

    # ------------------------------------------------------------- build
    def _architecture(self, hp):
        """Declares the architecture hyperparameters; returns per-stage (blocks, filters, kernel) and dropout."""
        stages = []
        for i, base in enumerate(self.base_widths):
            blocks = int(_declare(hp, f"stage_{i}/blocks", self.blocks, ordered=True))
            width = int(_declare(hp, f"stage_{i}/width", self.width, ordered=True))
            kernel = int(_recipe.choice(hp, f"stage_{i}/kernel_size", self.kernel_size, ordered=True))
            stages.append((blocks, base * width, kernel))
        dropout = float(_recipe.choice(hp, "block_dropout", self.block_dropout, ordered=True))
        return stages, dropout

    def build(self, hp):
        """Builds and compiles the network for the values in `hp`."""
        inputs = keras.Input(shape=self.input_shape, name="input")
        x = inputs
        if len(self.input_shape) == 2:
            x = keras.layers.Reshape(self.input_shape + (1,), name="add_channel")(x)
        if self.rescale is not None:
            x = keras.layers.Rescaling(self.rescale, name="rescale")(x)
        augment = _recipe.augmentation_layer(_recipe.choice(hp, "augmentation", self.augmentation), self.max_shift)
        if augment is not None:
            x = augment(x)
        stages, dropout = self._architecture(hp)
        recipe = self.recipe.choose(hp)
        l2 = self.recipe.kernel_l2(recipe)
        regularizer = (lambda: keras.regularizers.L2(l2)) if l2 else (lambda: None)  # noqa: E731

        def conv(tensor, filters, kernel, strides, name):
            return keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                                       kernel_regularizer=regularizer(), name=name)(tensor)

        x = conv(x, self.stem_filters, 3, 1, "stem_conv")
        for i, (blocks, filters, kernel) in enumerate(stages):
            for j in range(blocks):
                name = f"stage{i}_block{j}"
                strides = 2 if (i > 0 and j == 0) else 1
                pre = keras.layers.BatchNormalization(momentum=self.bn_momentum, name=f"{name}_bn1")(x)
                pre = keras.layers.ReLU(name=f"{name}_relu1")(pre)
                if strides == 1 and x.shape[-1] == filters:
                    shortcut = x
                else:
                    shortcut = conv(pre, filters, 1, strides, f"{name}_shortcut")
                y = conv(pre, filters, kernel, strides, f"{name}_conv1")
                y = keras.layers.BatchNormalization(momentum=self.bn_momentum, name=f"{name}_bn2")(y)
                y = keras.layers.ReLU(name=f"{name}_relu2")(y)
                if dropout:
                    y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
                y = conv(y, filters, kernel, 1, f"{name}_conv2")
                x = keras.layers.Add(name=f"{name}_add")([shortcut, y])
        x = keras.layers.BatchNormalization(momentum=self.bn_momentum, name="final_bn")(x)
        x = keras.layers.ReLU(name="final_relu")(x)
        x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
        outputs = keras.layers.Dense(self.num_classes, activation="softmax", kernel_regularizer=regularizer(),
                                     dtype="float32", name="classifier")(x)  # float32 softmax under mixed precision
        model = keras.Model(inputs, outputs, name="residual_net")
        self.recipe.compile_model(model, recipe, self.compile_kwargs)
        return model

    def fit(self, hp, model, *args, **kwargs):
        """Trains `model` with this space's learning-rate schedule (planned per fit)."""
        return _training.fit_with_schedule(model, self.recipe.schedule(hp), *args, **kwargs)

    # -------------------------------------------------------- describe
    def _stages(self, values):
        blocks = [int(values.get(f"stage_{i}/blocks", self.blocks[0])) for i in range(self.num_stages)]
        widths = [int(values.get(f"stage_{i}/width", self.width[0])) for i in range(self.num_stages)]
        kernels = [int(values.get(f"stage_{i}/kernel_size", self.kernel_size[0])) for i in range(self.num_stages)]
        return blocks, widths, kernels

    def describe(self, values):
        """One-line summary for hyperparameter `values` (dict), e.g. `WRN-16-4` or `ResNet-14 blocks 1-2-2 ...`."""
        blocks, widths, kernels = self._stages(values)
        depth = 2 * sum(blocks) + 4
        if len(set(blocks)) == 1 and len(set(widths)) == 1 and self.num_stages == 3:
            text = f"WRN-{depth}-{widths[0]}"
        else:
            filters = "-".join(str(b * w) for b, w in zip(self.base_widths, widths))
            text = f"ResNet-{depth} blocks {'-'.join(map(str, blocks))} filters {filters}"
        if any(k != 3 for k in kernels):
            text += f" kernels {'-'.join(map(str, kernels))}"
        dropout = float(values.get("block_dropout", self.block_dropout[0]))
        if dropout:
            text += f" dropout {dropout:g}"
        return text

    def references(self):
        """Named Wide ResNets inside the configured choices, as hyperparameter values.

        `WRN-d-k` (Zagoruyko & Komodakis 2016, Table 1 notation: depth
        `d = 6 n + 4` with `n` blocks in each of 3 stages, widening factor
        `k`) for `d` in `REFERENCE_DEPTHS` and `k` in `width`, where `n` is
        among `blocks`. The values hold every architecture hyperparameter
        of `build` (`stage_{i}/blocks`, `stage_{i}/width`, and
        `stage_{i}/kernel_size` = 3 / `block_dropout` = 0 (else its
        smallest choice) when those are searched), so that
        `hp.values.update(values)` builds that network. Empty when the
        space does not have 3 stages or 3x3 kernels are not a choice.
        The names (here and in `describe`) count widths from the space's
        `base_widths` and `stem_filters`: they are the paper's networks
        only with the defaults (16, 32, 64) and 16; with `base_widths=(8,
        16, 32)`, `WRN-10-1` has filters 8-16-32.

        Returns:
            dict[str, dict[str, object]]: name (e.g. `"WRN-16-4"`) -> values,
            ordered by depth, then width.
        """
        if self.num_stages != 3 or 3 not in self.kernel_size:
            return {}
        found = {}
        for depth in REFERENCE_DEPTHS:
            n = (depth - 4) // 6
            if n not in self.blocks:
                continue
            for k in sorted(self.width):
                values = {}
                for i in range(self.num_stages):
                    values[f"stage_{i}/blocks"] = n
                    values[f"stage_{i}/width"] = k
                    if len(self.kernel_size) > 1:
                        values[f"stage_{i}/kernel_size"] = 3
                if len(self.block_dropout) > 1:
                    values["block_dropout"] = 0.0 if 0.0 in self.block_dropout else min(self.block_dropout)
                found[f"WRN-{depth}-{k}"] = values
        return found

    def count_params(self, values):
        """Number of weights (trainable and BatchNormalization statistics) of `values`' network, without building it.

        Args:
            values: dict of hyperparameter values (missing ones: first choice).

        Returns:
            int, as `model.count_params()` of the built model.
        """
        blocks, widths, kernels = self._stages(values)
        channels = self.input_shape[2] if len(self.input_shape) == 3 else 1
        total = 9 * channels * self.stem_filters
        channels = self.stem_filters
        for i, (n, k, kernel) in enumerate(zip(blocks, widths, kernels)):
            filters = self.base_widths[i] * k
            for j in range(n):
                strides = 2 if (i > 0 and j == 0) else 1
                total += 4 * channels + kernel * kernel * channels * filters + 4 * filters
                total += kernel * kernel * filters * filters
                if strides != 1 or channels != filters:
                    total += channels * filters
                channels = filters
        return total + 4 * channels + channels * self.num_classes + self.num_classes

    # ----------------------------------------------------- serialisation
    def get_config(self):
        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "input_kind": self.input_kind,
            "blocks": list(self.blocks),
            "width": list(self.width),
            "base_widths": list(self.base_widths),
            "stem_filters": self.stem_filters,
            "kernel_size": list(self.kernel_size),
            "block_dropout": list(self.block_dropout),
            "bn_momentum": self.bn_momentum,
            **self.recipe.get_config(),
            "augmentation": list(self.augmentation),
            "max_shift": self.max_shift,
            "rescale": self.rescale,
            "compile_kwargs": self.compile_kwargs,
            "name": self.name,
            "tunable": self.tunable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

