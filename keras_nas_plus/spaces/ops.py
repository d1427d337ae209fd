"""Operations shared by the search spaces, for 2-D images and 1-D signals.

Every operation is built by a function `(inputs, filters, name, rank)` that
returns a tensor; `rank` is 2 for images `(H, W, C)` and 1 for signals
`(steps, features)`. Layer names are derived from `name`, so the same decision
in two architectures yields layers of the same names (which weight inheritance
relies on).
"""

import keras

#: BatchNormalization momentum used by all spaces. Keras' default (0.99)
#: leaves the moving statistics unconverged after the few hundred steps of a
#: short NAS trial and validation accuracy collapses; NAS papers use
#: PyTorch's default, which is Keras momentum 0.9.
BN_MOMENTUM = 0.9

#: Operations of the macro search space.
MACRO_OPERATIONS = (
    "conv3x3",
    "conv5x5",
    "sepconv3x3",
    "sepconv5x5",
    "maxpool3x3",
    "avgpool3x3",
    "identity",
)

_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}
_SEPCONV = {1: keras.layers.SeparableConv1D, 2: keras.layers.SeparableConv2D}
_MAXPOOL = {1: keras.layers.MaxPooling1D, 2: keras.layers.MaxPooling2D}
_AVGPOOL = {1: keras.layers.AveragePooling1D, 2: keras.layers.AveragePooling2D}
_GLOBAL_AVG = {1: keras.layers.GlobalAveragePooling1D, 2: keras.layers.GlobalAveragePooling2D}


def channels(tensor):
    """Number of channels (last axis) of a tensor."""
    return int(tensor.shape[-1])


def conv_bn_relu(inputs, filters, name, rank=2, kernel_size=3, strides=1, separable=False, dilation_rate=1):
    """Conv (or separable conv) -> BatchNorm -> ReLU; layers `name_conv|_bn|_relu`."""
    layer = (_SEPCONV if separable else _CONV)[rank]
    x = layer(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        dilation_rate=dilation_rate,
        use_bias=False,
        name=f"{name}_{'sepconv' if separable else 'conv'}",
    )(inputs)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def pool(inputs, kind, name, rank=2, pool_size=3, strides=1):
    """Max or average pooling with 'same' padding; layer `name_pool`."""
    layer = (_MAXPOOL if kind == "max" else _AVGPOOL)[rank]
    return layer(pool_size, strides=strides, padding="same", name=f"{name}_pool")(inputs)


def project(inputs, filters, name, rank=2, strides=1):
    """1x1 conv + BN that matches channels (and resolution, with `strides`)."""
    x = _CONV[rank](filters, 1, strides=strides, padding="same", use_bias=False, name=f"{name}_proj")(inputs)
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_proj_bn")(x)


def apply_macro_operation(inputs, op, filters, name, rank=2):
    """Applies one macro-space operation.

    Args:
        inputs: tensor `(batch, H, W, C)` (rank 2) or `(batch, steps, C)`.
        op: one of `MACRO_OPERATIONS`.
        filters: int, output channels of convolutions; pooling and identity
            keep the input's channels.
        name: str, prefix of the layer names.
        rank: 2 for images, 1 for signals.

    Returns:
        tensor with the same spatial size as `inputs`.

    Raises:
        ValueError: if `op` is unknown.
    """
    if op in ("conv3x3", "conv5x5"):
        return conv_bn_relu(inputs, filters, name, rank, kernel_size=int(op[-1]))
    if op in ("sepconv3x3", "sepconv5x5"):
        return conv_bn_relu(inputs, filters, name, rank, kernel_size=int(op[-1]), separable=True)
    if op == "maxpool3x3":
        return pool(inputs, "max", name, rank)
    if op == "avgpool3x3":
        return pool(inputs, "avg", name, rank)
    if op == "identity":
        return inputs
    raise ValueError(f"Unknown operation {op!r}; expected one of {MACRO_OPERATIONS}.")


def downsample(inputs, name, rank=2):
    """Halves the spatial resolution with a 2x2 (or 2) max pooling."""
    return _MAXPOOL[rank](2, strides=2, padding="same", name=f"{name}_down")(inputs)


def global_pool(inputs, name="global_pool", rank=2):
    """Global average pooling over the spatial axes."""
    return _GLOBAL_AVG[rank](name=name)(inputs)
