"""Macro (chain-structured and complex) search space as a Keras Tuner HyperModel."""

import keras
import keras_tuner

from keras_nas_plus.spaces import ops
from keras_nas_plus.spaces import _recipe
from keras_nas_plus.spaces import _training

_CONV_OPS = ("conv3x3", "conv5x5", "sepconv3x3", "sepconv5x5")
_KINDS = ("auto", "image", "sequence")
OPTIMIZERS = _recipe.OPTIMIZERS
AUGMENTATIONS = _recipe.AUGMENTATIONS
_as_tuple = _recipe.as_tuple
_choice = _recipe.choice


class MacroSearchSpace(keras_tuner.HyperModel):
    """Chain-structured (optionally with skip connections) CNN search space.

    The network is: optional rescaling -> stem (3x3 conv, BN, ReLU) -> a chain
    of `num_layers` layers -> global average pooling -> dropout -> softmax
    classifier. Each layer chooses one operation among `operations` (conv
    3x3/5x5, depthwise-separable conv 3x3/5x5, max/avg pooling 3x3,
    identity; convolutions are followed by BatchNormalization and ReLU) and,
    for convolutions, its number of filters. The resolution halves (2x2 max
    pooling) before the layers in `downsample_at`; a layer's filter choice is
    multiplied by 2 after each downsampling, as in hand-designed CNNs.

    With `skip_connections=True` (the "complex" macro space) each layer may
    also take inputs from any earlier layer (a Boolean decision per pair),
    merged with the chain input by `add` or `concat` (a searched choice);
    inputs of another resolution or width are matched by a strided 1x1
    convolution with BatchNormalization.

    Works for images (`input_shape` `(H, W)` or `(H, W, C)`, 2-D operations)
    and for 1-D signals (`(steps,)` or `(steps, features)`, the Conv1D
    counterparts). Preprocessing (reshape, `rescale`) is inside the model, so
    the saved model takes the raw data.

    Hyperparameters (names): `num_layers`; per layer `i`: `layer_{i}/op`,
    `layer_{i}/filters` (only for convolutions), `layer_{i}/skip_from_{j}`
    (complex space); `merge` (complex space); `dropout` and `learning_rate`
    when given several values. Layers are named `layer_{i}_conv`,
    `layer_{i}_bn`, ... so that architectures share layer names.

    Args:
        input_shape: tuple of ints, one example's shape, without batch.
        num_classes: int >= 2, number of classes (labels `0..num_classes-1`).
        input_kind: `"auto"` (default), `"image"` or `"sequence"`. Auto means
            image for 3-D shapes and sequence for 1-D and 2-D shapes; pass
            `"image"` for grayscale `(H, W)` images.
        min_layers: int >= 1, default 3. Fewest chain layers.
        max_layers: int >= min_layers, default 8. Most chain layers.
        operations: sequence of str, default all of `ops.MACRO_OPERATIONS`.
        filters: int or sequence of ints, default `(16, 32, 64)`. Filter
            choices of a layer before any downsampling.
        skip_connections: bool, default False. The complex space.
        merge: str or sequence of `"add"`/`"concat"`, default both.
        downsample_at: sequence of layer indices, or None (default): before
            the layers at 1/3 and 2/3 of the chosen depth.
        stem_filters: int, default 32. Filters of the stem convolution.
        dropout: float or sequence of floats in [0, 1), default `(0.0, 0.25)`.
        learning_rate: float or sequence of floats, default 1e-3 (Adam).
        rescale: float or None, default None. Factor applied to the raw input
            (e.g. `1/255` for uint8 images).
        lr_schedule: `"cosine"` (default) or `"constant"`. With cosine, the
            learning rate decays to 0 over each `fit` (a trial's epochs, or
            the final training), which makes short trials' scores steadier.
            A list makes it a searched training hyperparameter.
        optimizer: str or list of `"adam"`, `"adamw"` (decoupled weight
            decay, 1e-4 unless `weight_decay` says otherwise), `"sgd"` or
            `"sgd_nesterov"` (both SGD with Nesterov momentum 0.9), default
            `"adam"`. A list is searched alongside the architecture.
        augmentation: str or list of `"none"`, `"translate"` (random shifts of
            up to 10 % of the side, zero fill), `"translate_flip"` (plus
            horizontal flips), `"translate_erase"` / `"translate_flip_erase"`
            (plus random erasing with probability 0.5, see `RandomShift`); images only, active during training only. Default `"none"`; a list is
            searched.
        schedule_unit: `"step"` (default) or `"epoch"`: the learning rate
            changes every step, or once per epoch. A list is searched.
        warmup_epochs: float >= 0, default 0. Epochs of linear learning-rate
            warm-up at the start of each fit, at most half of it (Goyal et
            al. 2017, Section 2.2). A list is searched.
        weight_decay: None (default), or float >= 0 or a list: an L2 penalty
            `weight_decay * sum(w ** 2)` on every convolution and dense
            kernel for `adam` and `sgd`, the decoupled weight decay of
            `adamw` (see `_recipe.TrainingRecipe`). None: only `adamw`
            decays (1e-4).
        label_smoothing: float in [0, 1) or a list, default 0. Label
            smoothing of the cross-entropy (Szegedy et al., CVPR 2016,
            Section 7), with `SparseLabelSmoothingCrossentropy`.
        ema_momentum: None (default) or float in [0, 1) or a list. Keep an
            exponential moving average of the weights (Polyak averaging),
            swapped in at the end of each fit (Keras' `use_ema`).
        compile_kwargs: dict or None. Overrides of `model.compile` arguments
            (`optimizer`, `loss`, `metrics`); the default is Adam, sparse
            categorical cross-entropy and accuracy.

    Raises:
        ValueError: for an invalid argument; the message names it.

    Reference:
        Elsken, Metzen & Hutter, "Neural Architecture Search: A Survey", JMLR
        2019, Section 3 (chain-structured and multi-branch spaces); Pham et
        al., "Efficient Neural Architecture Search via Parameter Sharing"
        (ENAS), ICML 2018, macro search space.
    """

    def __init__(
        self,
        input_shape,
        num_classes,
        input_kind="auto",
        min_layers=3,
        max_layers=8,
        operations=ops.MACRO_OPERATIONS,
        filters=(16, 32, 64),
        skip_connections=False,
        merge=("add", "concat"),
        downsample_at=None,
        stem_filters=32,
        dropout=(0.0, 0.25),
        learning_rate=1e-3,
        rescale=None,
        lr_schedule="cosine",
        optimizer="adam",
        augmentation="none",
        schedule_unit="step",
        warmup_epochs=0.0,
        weight_decay=None,
        label_smoothing=0.0,
        ema_momentum=None,
        compile_kwargs=None,
        name="macro_search_space",
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        shape = _as_tuple("input_shape", input_shape, int)
        if any(d < 1 for d in shape) or len(shape) > 3:
            raise ValueError(f"`input_shape` must have 1 to 3 positive dimensions, got {input_shape!r}.")
        if input_kind not in _KINDS:
            raise ValueError(f"`input_kind` must be one of {_KINDS}, got {input_kind!r}.")
        if input_kind == "auto":
            input_kind = "image" if len(shape) == 3 else "sequence"
        if input_kind == "image" and len(shape) < 2:
            raise ValueError(f"`input_shape` {input_shape!r} is too short for images; expected (H, W) or (H, W, C).")
        if input_kind == "sequence" and len(shape) > 2:
            raise ValueError(f"`input_shape` {input_shape!r} is too long for sequences; expected (steps,) or (steps, features).")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an integer >= 2, got {num_classes!r}.")
        if not isinstance(min_layers, int) or min_layers < 1:
            raise ValueError(f"`min_layers` must be an integer >= 1, got {min_layers!r}.")
        if not isinstance(max_layers, int) or max_layers < min_layers:
            raise ValueError(f"`max_layers` must be an integer >= min_layers ({min_layers}), got {max_layers!r}.")
        operations = _as_tuple("operations", operations, str)
        for op in operations:
            if op not in ops.MACRO_OPERATIONS:
                raise ValueError(f"`operations` has an unknown operation {op!r}; expected some of {ops.MACRO_OPERATIONS}.")
        filters = _as_tuple("filters", filters, int)
        if any(f < 1 for f in filters):
            raise ValueError(f"`filters` must be positive, got {filters!r}.")
        merge = _as_tuple("merge", merge, str)
        for m in merge:
            if m not in ("add", "concat"):
                raise ValueError(f"`merge` must be 'add' and/or 'concat', got {m!r}.")
        if downsample_at is not None:
            downsample_at = tuple(int(i) for i in downsample_at)
            if any(i < 0 or i >= max_layers for i in downsample_at):
                raise ValueError(f"`downsample_at` indices must be in [0, {max_layers}), got {downsample_at!r}.")
        dropout = _as_tuple("dropout", dropout, (int, float))
        if any(not 0.0 <= d < 1.0 for d in dropout):
            raise ValueError(f"`dropout` values must be in [0, 1), got {dropout!r}.")
        recipe = _recipe.TrainingRecipe(learning_rate, optimizer, lr_schedule, schedule_unit=schedule_unit,
                                        warmup_epochs=warmup_epochs, weight_decay=weight_decay,
                                        label_smoothing=label_smoothing, ema_momentum=ema_momentum)
        if rescale is not None and (isinstance(rescale, bool) or not isinstance(rescale, (int, float))):
            raise ValueError(f"`rescale` must be a number or None, got {rescale!r}.")
        augmentation = _as_tuple("augmentation", augmentation, str)
        for v in augmentation:
            if v not in AUGMENTATIONS:
                raise ValueError(f"`augmentation` must be one of {AUGMENTATIONS}, got {v!r}.")
            if v != "none" and input_kind != "image":
                raise ValueError(f"`augmentation` {v!r} needs image inputs (input_kind='image').")
        if compile_kwargs is not None and not isinstance(compile_kwargs, dict):
            raise ValueError(f"`compile_kwargs` must be a dict or None, got {compile_kwargs!r}.")

        self.input_shape = shape
        self.num_classes = num_classes
        self.input_kind = input_kind
        self.min_layers = min_layers
        self.max_layers = max_layers
        self.operations = operations
        self.filters = filters
        self.skip_connections = bool(skip_connections)
        self.merge = merge
        self.downsample_at = downsample_at
        self.stem_filters = int(stem_filters)
        self.dropout = dropout
        self.recipe = recipe
        self.learning_rate = recipe.learning_rate
        self.rescale = rescale
        self.lr_schedule = recipe.lr_schedule
        self.optimizer = recipe.optimizer
        self.augmentation = augmentation
        self.compile_kwargs = dict(compile_kwargs or {})
        self.rank = 2 if input_kind == "image" else 1

    # ------------------------------------------------------------- build
    def _downsample_positions(self, num_layers):
        if self.downsample_at is not None:
            return {i for i in self.downsample_at if i < num_layers}
        return {i for i in (round(num_layers / 3), round(2 * num_layers / 3)) if 0 < i < num_layers}

    def _inputs(self, hp):
        inputs = keras.Input(shape=self.input_shape, name="input")
        x = inputs
        want = 3 if self.rank == 2 else 2
        if len(self.input_shape) < want:
            x = keras.layers.Reshape(self.input_shape + (1,), name="add_channel")(x)
        if self.rescale is not None:
            x = keras.layers.Rescaling(self.rescale, name="rescale")(x)
        augmentation = _choice(hp, "augmentation", self.augmentation)
        layer = _recipe.augmentation_layer(augmentation, max(1, round(0.1 * min(self.input_shape[:2]))))
        if layer is not None:
            x = layer(x)
        return inputs, x

    def _choose_layer(self, hp, i, stage):
        op = _choice(hp, f"layer_{i}/op", self.operations)
        filters = None
        if op in _CONV_OPS:
            with hp.conditional_scope(f"layer_{i}/op", [o for o in self.operations if o in _CONV_OPS]):
                filters = _choice(hp, f"layer_{i}/filters", self.filters)
            filters = int(filters) * 2**stage
        return op, filters

    def build(self, hp):
        """Builds and compiles the model for the values in `hp`."""
        inputs, x = self._inputs(hp)
        x = self.build_body(hp, x)
        x = ops.global_pool(x, "global_pool", self.rank)
        dropout = _choice(hp, "dropout", self.dropout)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        outputs_ = keras.layers.Dense(self.num_classes, activation="softmax", name="classifier",
                                       dtype="float32")(x)  # float32 softmax under mixed precision
        model = keras.Model(inputs, outputs_, name="macro_net")
        recipe = self.recipe.choose(hp)
        _recipe.add_kernel_l2(model, self.recipe.kernel_l2(recipe))
        self.recipe.compile_model(model, recipe, self.compile_kwargs)
        return model

    def build_body(self, hp, x, prefix=""):
        """Builds the stem and the searched chain of layers on a tensor.

        Declares the architecture hyperparameters (`num_layers`,
        `layer_{i}/...`, `merge`) on `hp`, but neither `dropout` nor
        `learning_rate`: those belong to the classifier built by `build`.

        Args:
            hp: `keras_tuner.HyperParameters`.
            x: tensor `(batch, H, W, C)` for images or `(batch, steps,
                features)` for sequences, channels last.
            prefix: str, default "". Prepended to every layer name (for
                several bodies in one model).

        Returns:
            The output tensor of the last chain layer (spatial, not pooled).
        """
        x = ops.conv_bn_relu(x, self.stem_filters, f"{prefix}stem", self.rank)
        if self.min_layers == self.max_layers:
            num_layers = self.min_layers
        else:
            num_layers = hp.Int("num_layers", self.min_layers, self.max_layers)
        merge = "add"
        if self.skip_connections:
            merge = _choice(hp, "merge", self.merge)
        down = self._downsample_positions(num_layers)
        outputs = []  # (tensor, number of downsamplings before it)
        stage = 0
        for i in range(self.max_layers):
            if i < self.min_layers:
                if i >= num_layers:
                    break
                x, stage = self._build_layer(hp, i, x, stage, down, outputs, merge, prefix)
                continue
            with hp.conditional_scope("num_layers", list(range(i + 1, self.max_layers + 1))):
                if i < num_layers:
                    x, stage = self._build_layer(hp, i, x, stage, down, outputs, merge, prefix)
        return x

    def _build_layer(self, hp, i, x, stage, down, outputs, merge, prefix=""):
        if i in down:
            x = ops.downsample(x, f"{prefix}layer_{i}", self.rank)
            stage += 1
        if self.skip_connections and outputs:
            sources = []
            for j, (source, source_stage) in enumerate(outputs[:-1]):
                if hp.Boolean(f"layer_{i}/skip_from_{j}", default=False):
                    sources.append((j, source, source_stage))
            if sources:
                x = self._merge(x, stage, sources, merge, i, prefix)
        op, filters = self._choose_layer(hp, i, stage)
        x = ops.apply_macro_operation(x, op, filters, f"{prefix}layer_{i}", self.rank)
        outputs.append((x, stage))
        return x, stage

    def _merge(self, x, stage, sources, merge, i, prefix=""):
        tensors = [x]
        for j, source, source_stage in sources:
            strides = 2 ** (stage - source_stage)
            width = ops.channels(x) if merge == "add" else ops.channels(source)
            if strides > 1 or ops.channels(source) != width:
                source = ops.project(source, width, f"{prefix}layer_{i}_skip_{j}", self.rank, strides=strides)
            tensors.append(source)
        layer = keras.layers.Add if merge == "add" else keras.layers.Concatenate
        return layer(name=f"{prefix}layer_{i}_merge")(tensors)

    def fit(self, hp, model, *args, **kwargs):
        """Trains `model` with this space's learning-rate schedule."""
        return _training.fit_with_schedule(model, self.recipe.schedule(hp), *args, **kwargs)

    # -------------------------------------------------------- describe
    def describe(self, values):
        """One-line architecture summary for hyperparameter `values` (dict).

        Convolutions show their actual number of filters (the choice times 2
        per downsampling before the layer); `/2` marks a downsampling.
        """
        num_layers = values.get("num_layers", self.min_layers)
        down = self._downsample_positions(num_layers)
        parts = []
        stage = 0
        for i in range(num_layers):
            op = values.get(f"layer_{i}/op", self.operations[0])
            if i in down:
                stage += 1
                op = "/2 " + op
            if op.split()[-1] in _CONV_OPS:
                op += f"-{int(values.get(f'layer_{i}/filters', self.filters[0])) * 2**stage}"
            skips = [j for j in range(i) if values.get(f"layer_{i}/skip_from_{j}")]
            if skips:
                op += "+skip" + ",".join(str(j) for j in skips)
            parts.append(op)
        text = " > ".join(parts)
        if self.skip_connections:
            text += f" [{values.get('merge', self.merge[0])}]"
        return text

    # ----------------------------------------------------- serialisation
    def get_config(self):
        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "input_kind": self.input_kind,
            "min_layers": self.min_layers,
            "max_layers": self.max_layers,
            "operations": list(self.operations),
            "filters": list(self.filters),
            "skip_connections": self.skip_connections,
            "merge": list(self.merge),
            "downsample_at": None if self.downsample_at is None else list(self.downsample_at),
            "stem_filters": self.stem_filters,
            "dropout": list(self.dropout),
            "rescale": self.rescale,
            **self.recipe.get_config(),
            "augmentation": list(self.augmentation),
            "compile_kwargs": self.compile_kwargs,
            "name": self.name,
            "tunable": self.tunable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
