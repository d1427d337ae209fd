"""NASNet / DARTS-style cell search space (normal and reduction cells of blocks).

Reference:
    Zoph, Vasudevan, Shlens & Le, "Learning Transferable Architectures for
    Scalable Image Recognition", CVPR 2018, Section 3 (NASNet search space);
    Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR
    2019, Section 2.1 (operation set).
"""

import keras
import keras_tuner

from keras_nas_plus.spaces._common import classifier_head
from keras_nas_plus.spaces._common import compile_network
from keras_nas_plus.spaces._common import space_config

OPERATIONS = (
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "max_pool_3x3",
    "avg_pool_3x3",
    "identity",
)
"""Default candidate operations of a block input."""

ALL_OPERATIONS = OPERATIONS + ("none",)
"""Every known operation; ``none`` (no second term) is only offered for a block's second input."""

CELL_TYPES = ("normal", "reduction")


def _check_operations(operations):
    ops = tuple(operations)
    if not ops:
        raise ValueError("`operations` must not be empty.")
    for op in ops:
        if op not in OPERATIONS:
            raise ValueError(f"Unknown operation {op!r} in `operations`; expected a subset of {list(OPERATIONS)}.")
    if len(set(ops)) != len(ops):
        raise ValueError(f"`operations` has duplicates: {list(ops)}.")
    return ops


def decision_names(cell_type, num_blocks, prefix=""):
    """Lists the hyperparameter names of one cell's decisions.

    Args:
        cell_type: str, "normal" or "reduction".
        num_blocks: int >= 1.
        prefix: str prepended to every name (default "").

    Returns:
        list of str, per block b: ``f"{prefix}{cell_type}_b{b}_in0"``,
        ``..._op0``, ``..._in1``, ``..._op1``.
    """
    return [
        f"{prefix}{cell_type}_b{b}_{kind}{k}"
        for b in range(num_blocks)
        for k in range(2)
        for kind in ("in", "op")
    ]


def _relu_conv_bn(x, filters, kernel, strides, name, momentum):
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)


def apply_operation(x, op, filters, strides, name, bn_momentum=0.9):
    """Applies one candidate operation.

    Args:
        x: 4D channels-last tensor with `filters` channels.
        op: str in `OPERATIONS`.
        filters: int, output channels.
        strides: int, 1 or 2 (2 halves height and width).
        name: str, prefix of the created layers' names.
        bn_momentum: float, BatchNormalization momentum (default 0.9).

    Returns:
        4D tensor with `filters` channels.

    Raises:
        ValueError: on an unknown operation.
    """
    if op in ("sep_conv_3x3", "sep_conv_5x5"):
        k = int(op[-1])
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
        x = keras.layers.SeparableConv2D(
            filters, k, strides=strides, padding="same", use_bias=False, name=f"{name}_sepconv"
        )(x)
        return keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    if op in ("dil_conv_3x3", "dil_conv_5x5"):
        k = int(op[-1])
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
        x = keras.layers.SeparableConv2D(
            filters, k, dilation_rate=2, padding="same", use_bias=False, name=f"{name}_dilconv"
        )(x)
        if strides > 1:  # a strided convolution = the convolution, then subsampling
            x = keras.layers.MaxPooling2D(1, strides=strides, padding="same", name=f"{name}_subsample")(x)
        return keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    if op == "max_pool_3x3":
        return keras.layers.MaxPooling2D(3, strides=strides, padding="same", name=f"{name}_maxpool")(x)
    if op == "avg_pool_3x3":
        return keras.layers.AveragePooling2D(3, strides=strides, padding="same", name=f"{name}_avgpool")(x)
    if op == "identity":
        if strides == 1:
            return x
        return _relu_conv_bn(x, filters, 1, strides, f"{name}_reduce", bn_momentum)
    raise ValueError(f"Unknown operation {op!r}; expected one of {list(OPERATIONS)}.")


def build_cell(
    hp,
    inputs,
    filters,
    cell_type="normal",
    num_blocks=5,
    operations=OPERATIONS,
    name=None,
    hp_prefix="",
    bn_momentum=0.9,
):
    """Builds one searchable cell (declaring its hyperparameters on `hp`).

    The cell has two inputs (the outputs of the two previous cells; pass one
    tensor to use it twice), each first projected to `filters` channels by
    ReLU-Conv1x1-BN (stride 2 if its spatial size is twice the other's). Each
    of the `num_blocks` blocks picks two inputs among the cell's two inputs
    and earlier blocks (``{cell_type}_b{b}_in0/in1``: 0 and 1 the cell inputs,
    2 + k block k) and an operation for each (``..._op0``: one of
    `operations`; ``..._op1``: one of `operations` or ``none``) and adds the
    results. In a reduction cell, operations on the cell inputs use stride 2.
    The cell output concatenates the blocks no other block uses, followed by a
    Conv1x1-BN back to `filters` channels. Layers are named after the
    decisions, ``f"{name}_b{b}_in{k}_{op}_..."``, so that equal decisions give
    equal layer names.

    Args:
        hp: `keras_tuner.HyperParameters`.
        inputs: a 4D channels-last tensor, or a list/tuple of two (previous-previous
            cell output, previous cell output).
        filters: int >= 1, channels inside and out of the cell.
        cell_type: "normal" (keeps height/width) or "reduction" (halves them). Default "normal".
        num_blocks: int >= 1, blocks B (default 5).
        operations: sequence of str, a subset of `OPERATIONS` (default all).
        name: str, layer-name prefix (default `hp_prefix + cell_type`).
        hp_prefix: str prepended to hyperparameter names (default ""), for
            several independent cells in one model.
        bn_momentum: float, BatchNormalization momentum (default 0.9).

    Returns:
        4D tensor with `filters` channels.

    Raises:
        ValueError: on an invalid argument.

    Reference:
        Zoph et al., CVPR 2018, Section 3; Liu et al., ICLR 2019, Section 2.1.
    """
    if cell_type not in CELL_TYPES:
        raise ValueError(f"`cell_type` must be one of {list(CELL_TYPES)}, got {cell_type!r}.")
    if not isinstance(num_blocks, int) or num_blocks < 1:
        raise ValueError(f"`num_blocks` must be a positive int, got {num_blocks!r}.")
    if not isinstance(filters, int) or filters < 1:
        raise ValueError(f"`filters` must be a positive int, got {filters!r}.")
    operations = _check_operations(operations)
    name = name or f"{hp_prefix}{cell_type}"
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs, inputs]
    if len(inputs) != 2:
        raise ValueError(f"`inputs` must be one tensor or two, got {len(inputs)}.")
    h0, h1 = inputs
    size0, size1 = h0.shape[1], h1.shape[1]
    stride0 = 2 if (size0 is not None and size1 is not None and size0 == 2 * size1) else 1
    if h0 is h1:
        states = [_relu_conv_bn(h1, filters, 1, 1, f"{name}_pre", bn_momentum)] * 2
    else:
        states = [
            _relu_conv_bn(h0, filters, 1, stride0, f"{name}_pre0", bn_momentum),
            _relu_conv_bn(h1, filters, 1, 1, f"{name}_pre1", bn_momentum),
        ]
    reduction = cell_type == "reduction"
    used = set()
    for b in range(num_blocks):
        base = f"{hp_prefix}{cell_type}_b{b}"
        terms = []
        for k in range(2):
            src = hp.Choice(f"{base}_in{k}", list(range(b + 2)), default=1 - k if b == 0 else b + 1 - k)
            op_choices = list(operations) + (["none"] if k == 1 else [])
            op = hp.Choice(f"{base}_op{k}", op_choices, default=op_choices[0])
            if op == "none":
                continue
            used.add(src)
            strides = 2 if (reduction and src < 2) else 1
            terms.append(
                apply_operation(states[src], op, filters, strides, f"{name}_b{b}_in{k}_{op}", bn_momentum)
            )
        if len(terms) == 1:
            out = terms[0]
            if any(out is s for s in states):  # a lone identity: give the block its own tensor
                out = keras.layers.Identity(name=f"{name}_b{b}_out")(out)
        else:
            out = keras.layers.Add(name=f"{name}_b{b}_add")(terms)
        states.append(out)
    unused = [states[2 + b] for b in range(num_blocks) if 2 + b not in used]
    x = unused[0] if len(unused) == 1 else keras.layers.Concatenate(name=f"{name}_concat")(unused)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_out_conv")(x)
    return keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_out_bn")(x)


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class CellSearchSpace(keras_tuner.HyperModel):
    """NASNet / DARTS-style cell search space: one normal and one reduction cell.

    The network: Rescaling (uint8 -> [0, 1]), a 3x3 stem convolution with
    `filters` channels + BatchNormalization, then ``num_reductions + 1``
    stacks of `num_cells` normal cells, a reduction cell (doubling the
    channels, halving height and width) between consecutive stacks, then
    ReLU, global average pooling and a softmax classifier. All normal cells
    share one searched architecture, all reduction cells another (see
    `build_cell` for the cell and its hyperparameter names
    ``normal_b{b}_in0``, ``normal_b{b}_op0``, ..., ``reduction_b{b}_op1``).

    Args:
        input_shape: tuple (height, width, channels), default (32, 32, 3).
        num_classes: int >= 2, default 10.
        filters: int >= 1, channels of the first stack, default 16.
        num_cells: int >= 1, normal cells N per stack, default 2.
        num_blocks: int >= 1, blocks B per cell, default 5.
        num_reductions: int >= 0, reduction cells, default 2.
        operations: sequence of str, subset of `OPERATIONS` (default all).
        rescale: float or None, factor of the input Rescaling layer, default
            1/255 (uint8 images); None leaves inputs untouched.
        bn_momentum: float in (0, 1), BatchNormalization momentum, default 0.9
            (Keras' 0.99 makes validation accuracy unreliable in short trials).
        learning_rate: float > 0, Adam learning rate, default 1e-3.
        optimizer, loss, metrics: optional compile overrides (Keras
            identifiers); defaults Adam, sparse categorical crossentropy,
            ``["accuracy"]``.
        name: str, HyperModel name. tunable: bool.

    Raises:
        ValueError: on an invalid argument.

    Reference:
        Zoph et al., "Learning Transferable Architectures for Scalable Image
        Recognition", CVPR 2018, Section 3; Liu et al., "DARTS", ICLR 2019.
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        num_classes=10,
        filters=16,
        num_cells=2,
        num_blocks=5,
        num_reductions=2,
        operations=OPERATIONS,
        rescale=1.0 / 255.0,
        bn_momentum=0.9,
        learning_rate=1e-3,
        optimizer=None,
        loss=None,
        metrics=None,
        name="cell_search_space",
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        input_shape = tuple(int(d) for d in input_shape)
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise ValueError(f"`input_shape` must be (height, width, channels), got {input_shape!r}.")
        for arg, val, low in (
            ("num_classes", num_classes, 2),
            ("filters", filters, 1),
            ("num_cells", num_cells, 1),
            ("num_blocks", num_blocks, 1),
            ("num_reductions", num_reductions, 0),
        ):
            if not isinstance(val, int) or val < low:
                raise ValueError(f"`{arg}` must be an int >= {low}, got {val!r}.")
        if not 0.0 < bn_momentum < 1.0:
            raise ValueError(f"`bn_momentum` must be in (0, 1), got {bn_momentum!r}.")
        if not learning_rate > 0:
            raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.filters = filters
        self.num_cells = num_cells
        self.num_blocks = num_blocks
        self.num_reductions = num_reductions
        self.operations = list(_check_operations(operations))
        self.rescale = rescale
        self.bn_momentum = bn_momentum
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics

    def build_body(self, hp, x, prefix=""):
        """Builds the stem and the stacks of cells on a tensor.

        Declares the cells' hyperparameters on `hp` (see `build_cell`).

        Args:
            hp: `keras_tuner.HyperParameters`.
            x: 4D channels-last tensor `(batch, H, W, C)`.
            prefix: str, default "". Prepended to every layer name (for
                several bodies in one model).

        Returns:
            The last cell's output, a 4D tensor (before the final ReLU and
            pooling).
        """
        m = self.bn_momentum
        x = keras.layers.Conv2D(self.filters, 3, padding="same", use_bias=False, name=f"{prefix}stem_conv")(x)
        x = keras.layers.BatchNormalization(momentum=m, name=f"{prefix}stem_bn")(x)
        prev_prev, prev = x, x
        filters, idx = self.filters, 0
        for stack in range(self.num_reductions + 1):
            for _ in range(self.num_cells):
                out = build_cell(
                    hp, [prev_prev, prev], filters, "normal", self.num_blocks, self.operations,
                    name=f"{prefix}cell{idx}_normal", bn_momentum=m,
                )
                prev_prev, prev, idx = prev, out, idx + 1
            if stack < self.num_reductions:
                filters *= 2
                out = build_cell(
                    hp, [prev_prev, prev], filters, "reduction", self.num_blocks, self.operations,
                    name=f"{prefix}cell{idx}_reduction", bn_momentum=m,
                )
                prev_prev, prev, idx = prev, out, idx + 1
        return prev

    def build_network(self, hp):
        """Builds the uncompiled network chosen by `hp` (declaring its hyperparameters).

        Args:
            hp: `keras_tuner.HyperParameters`.

        Returns:
            `keras.Model`.
        """
        inputs = keras.Input(self.input_shape, name="image")
        x = inputs
        if self.rescale is not None:
            x = keras.layers.Rescaling(self.rescale, name="rescale")(x)
        return classifier_head(inputs, self.build_body(hp, x), self.num_classes, self.name)

    def build(self, hp):
        """Builds and compiles the network chosen by `hp`.

        Args:
            hp: `keras_tuner.HyperParameters`.

        Returns:
            compiled `keras.Model`.
        """
        model = self.build_network(hp)
        return compile_network(self, model)

    def get_config(self):
        """Returns the constructor arguments as a JSON-serialisable dict."""
        return space_config(self, filters=self.filters, num_cells=self.num_cells, num_blocks=self.num_blocks,
                            num_reductions=self.num_reductions, operations=list(self.operations))

    @classmethod
    def from_config(cls, config):
        """Creates the space from `get_config()` output."""
        return cls(**config)
