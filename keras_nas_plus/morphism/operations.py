"""Function-preserving network morphism operations on Keras 3 models.

Every operation returns a NEW functional model whose outputs equal the
input model's outputs (up to float rounding, in inference mode) and leaves
the input model untouched. Layers keep their names.
"""

import numbers

import keras
import numpy as np

from keras_nas_plus.morphism import _graph as g
from keras_nas_plus.morphism._maps import ChannelMap
from keras_nas_plus.morphism._transfer import Transfer


def _width(layer):
    cfg = layer.get_config()
    return cfg["units"] if g.class_name(layer) == "Dense" else cfg["filters"]


def widen(model, layer_name, new_width, noise=0.0, seed=None):
    """Widen a layer to `new_width` units/filters (Net2WiderNet).

    New units replicate randomly chosen existing units; the layers consuming
    the widened tensor (after any BatchNormalization, activation, pooling,
    Dropout, Flatten, Concatenate or depthwise kernel on the way) get their
    incoming weights divided by the replication count, so the function is
    preserved. BatchNormalization statistics and depthwise kernels are
    replicated with the channels.

    Args:
        model: `keras.Model`, functional or built Sequential.
        layer_name: str, or list of str. The Dense, Conv1D/2D/3D or
            SeparableConv1D/2D layer(s) to widen. Layers whose outputs meet
            at an Add (or another element-wise merge) must be widened
            together (same replication of units) by passing all of them.
        new_width: int, new number of units/filters; must exceed the
            current width.
        noise: float, default 0.0. Standard deviation, as a fraction of the
            consumer kernel's standard deviation, of noise added to the
            split incoming weights to break the symmetry between replicas.
            The noise sums to zero over each group of replicas, so the
            function is still preserved.
        seed: int or None, default None. Seed for choosing replicated units
            and the noise.

    Returns:
        A new `keras.Model` with the widened layer(s).

    Raises:
        ValueError: if a layer does not exist, is not widenable, the widths
            differ, `new_width` is not larger, or a layer on the widened path
            cannot be re-mapped (e.g. Reshape, LayerNormalization, softmax,
            an Add with other inputs not widened, the model output); the
            message names the layer.

    Reference:
        Chen, Goodfellow & Shlens, "Net2Net: Accelerating Learning via
        Knowledge Transfer", ICLR 2016, section 2.3 (Net2WiderNet).
    """
    g.check_model(model)
    names = [layer_name] if isinstance(layer_name, str) else list(layer_name)
    if not names:
        raise ValueError("`layer_name` must name at least one layer.")
    if not isinstance(new_width, numbers.Integral) or isinstance(
            new_width, bool) or new_width < 1:
        raise ValueError(
            f"`new_width` must be a positive int. Received: {new_width!r}")
    if not isinstance(noise, numbers.Real) or noise < 0:
        raise ValueError(f"`noise` must be a float >= 0. Received: {noise!r}")
    widths = {}
    for name in names:
        layer = g.get_layer(model, name)
        if g.class_name(layer) not in g.PRODUCER_CLASSES:
            raise ValueError(
                f"widen: layer {name!r} ({g.class_name(layer)}) cannot be "
                "widened; supported: " + ", ".join(g.PRODUCER_CLASSES) +
                " (a depthwise layer's width follows its input).")
        widths[name] = _width(layer)
    old = widths[names[0]]
    if any(w != old for w in widths.values()):
        raise ValueError(
            f"widen: layers {names} have different widths {widths}; layers "
            "widened together must have the same width.")
    if new_width <= old:
        raise ValueError(
            f"widen: `new_width`={new_width} must be larger than the current "
            f"width {old} of layer {names[0]!r}.")
    _check_merges(model, names)
    rng = np.random.default_rng(seed)
    idx = np.concatenate([np.arange(old),
                          rng.integers(0, old, new_width - old)])
    key = "units" if g.class_name(g.get_layer(model, names[0])) == "Dense" \
        else "filters"
    child = g.rebuild(model, {n: {key: int(new_width)} for n in names})
    out_maps = {n: ChannelMap(idx, old) for n in names}
    Transfer(model, child, out_maps=out_maps, strict=True, noise=noise,
             rng=rng, op="widen").run()
    return child


def _check_merges(model, names):
    """Raise if a widened tensor meets an un-widened one at a merge."""
    reached = set(names)
    for layer in model.layers:
        srcs = g.input_layer_names(layer)
        hit = [s for s in srcs if s in reached]
        if not hit or layer.name in reached:
            continue
        cls = g.class_name(layer)
        if cls in g.MERGE_CLASSES:
            missing = [s for s in srcs if s not in reached]
            if missing:
                raise ValueError(
                    f"widen: layer {layer.name!r} ({cls}) adds the widened "
                    f"output of {hit} to {missing}, which would not be "
                    f"widened; widen them together, e.g. widen(model, "
                    f"{sorted(set(names))} + [the layers producing "
                    f"{missing}], new_width).")
            reached.add(layer.name)
        elif cls in ("BatchNormalization", "Flatten", "Concatenate") or (
                cls in g.DEPTHWISE_CLASSES) or g.is_pass_through(layer):
            reached.add(layer.name)


def _as_tuple(value, n, argument):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value),) * n
    if isinstance(value, (list, tuple)) and len(value) == n and all(
            isinstance(v, numbers.Integral) for v in value):
        return tuple(int(v) for v in value)
    raise ValueError(
        f"`{argument}` must be an int or a tuple of {n} ints. "
        f"Received: {value!r}")


def _same_pad_before(n, k, s, d):
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2


def enlarge_kernel(model, layer_name, new_kernel_size):
    """Enlarge a convolution kernel by zero-padding it.

    Args:
        model: `keras.Model`, functional or built Sequential.
        layer_name: str, a Conv1D/2D/3D, DepthwiseConv1D/2D or
            SeparableConv1D/2D layer with padding "same" (or "causal").
        new_kernel_size: int or tuple of ints, the new kernel size (in
            taps) per spatial dimension; each must be >= the current size
            and, unless padding is "causal", differ from it by an even
            number so the kernel stays centred.

    Returns:
        A new `keras.Model` whose layer has the larger kernel.

    Raises:
        ValueError: unknown or unsupported layer, "valid" padding, a smaller
            or odd-difference size, or strides for which "same" padding
            would shift the window; the message names the layer.

    Reference:
        Wei, Wang, Rui & Chen, "Network Morphism", ICML 2016, section 3.4
        (kernel size morphing).
    """
    g.check_model(model)
    layer = g.get_layer(model, layer_name)
    cls = g.class_name(layer)
    if cls not in g.KERNEL_CLASSES:
        raise ValueError(
            f"enlarge_kernel: layer {layer_name!r} ({cls}) has no "
            "convolution kernel; supported: " + ", ".join(g.KERNEL_CLASSES))
    cfg = layer.get_config()
    old = tuple(cfg["kernel_size"])
    n = len(old)
    new = _as_tuple(new_kernel_size, n, "new_kernel_size")
    padding = cfg.get("padding")
    edits = {"kernel_size": new}
    if padding == "valid" and all(k == 1 for k in old) and all(
            s == 1 for s in _as_tuple(cfg.get("strides", 1), n, "strides")):
        # A 1x1 "valid" convolution equals a "same" one.
        padding = edits["padding"] = "same"
    if padding not in ("same", "causal"):
        raise ValueError(
            f"enlarge_kernel: layer {layer_name!r} uses padding={padding!r};"
            " only 'same' or 'causal' keep the output shape when the kernel "
            "grows.")
    if any(b < a for a, b in zip(old, new)):
        raise ValueError(
            f"enlarge_kernel: `new_kernel_size`={new} is smaller than the "
            f"kernel size {old} of layer {layer_name!r}.")
    if padding == "same":
        if any((b - a) % 2 for a, b in zip(old, new)):
            raise ValueError(
                f"enlarge_kernel: `new_kernel_size`={new} differs from "
                f"{old} by an odd number for layer {layer_name!r}; the "
                "zero-padded kernel would not stay centred.")
        strides = _as_tuple(cfg.get("strides", 1), n, "strides")
        dil = _as_tuple(cfg.get("dilation_rate", 1), n, "dilation_rate")
        spatial = g.input_shapes(layer)[0][1:-1]
        for dim, (a, b, s, d) in enumerate(zip(old, new, strides, dil)):
            if s == 1:
                continue
            size = spatial[dim] if dim < len(spatial) else None
            if size is None or (_same_pad_before(size, b, s, d)
                                - _same_pad_before(size, a, s, d)
                                != d * (b - a) // 2):
                raise ValueError(
                    f"enlarge_kernel: layer {layer_name!r} has strides {s} "
                    f"on an input of size {size}; 'same' padding would "
                    "shift the window, so the kernel cannot be enlarged "
                    "without changing the function.")
    child = g.rebuild(model, {layer_name: edits})
    Transfer(model, child, strict=True, op="enlarge_kernel").run()
    return child


_NONNEG_CLASSES = g._PASS_THROUGH - {"LeakyReLU", "ELU", "GaussianNoise"}


def _nonnegative(model, name, _seen=None):
    """Whether layer `name`'s output is provably >= 0."""
    layers = g.layer_map(model)
    layer = layers[name]
    cls = g.class_name(layer)
    act = g.activation_name(layer)
    if cls == "ReLU":
        cfg = layer.get_config()
        return not cfg.get("negative_slope") and not cfg.get("threshold")
    if act in g._NONNEGATIVE_ACTIVATIONS:
        return True
    if act not in (None, "linear"):
        return False
    srcs = g.input_layer_names(layer)
    if not srcs:
        return False
    if cls in _NONNEG_CLASSES or cls in ("Flatten", "Concatenate", "Add",
                                         "Maximum", "Average", "Multiply"):
        return all(_nonnegative(model, s) for s in srcs)
    if cls == "Activation":  # linear activation layer
        return all(_nonnegative(model, s) for s in srcs)
    return False


def _default_initializer(layer):
    """New layers are built with zeros (overwritten anyway, and fast under
    JAX); their config then shows Keras' default initialiser again."""
    layer.kernel_initializer = keras.initializers.get("glorot_uniform")


def _unique(model, name):
    if any(layer.name == name for layer in model.layers):
        raise ValueError(
            f"a layer named {name!r} already exists in model {model.name!r}; "
            "pass another `name`.")
    return name


def deepen(model, after_layer_name, kernel_size=3, batch_norm=True,
           activation="auto", name=None):
    """Insert an identity-initialised layer after a layer (Net2DeeperNet).

    Inserts Dense (for a rank-2 output), Conv1D (rank 3) or Conv2D (rank 4)
    with as many units/filters as the tensor has channels, "same" padding
    and an identity kernel, optionally followed by an identity
    BatchNormalization (gamma = sqrt(moving_variance + epsilon),
    beta = moving_mean) and a ReLU. All consumers of the layer's output read
    the new stack.

    Args:
        model: `keras.Model`, functional or built Sequential.
        after_layer_name: str, the layer after which to insert.
        kernel_size: int, default 3. Odd kernel size (taps) for an inserted
            convolution (ignored for Dense).
        batch_norm: bool, default True. Add a BatchNormalization after the
            new layer.
        activation: "auto" (default), "relu" or None. "auto" adds a ReLU
            only when the input is provably non-negative (e.g. it follows a
            ReLU), which keeps the function; "relu" requires it.
        name: str or None. Prefix of the new layers' names; default
            "<after_layer_name>_deeper".

    Returns:
        A new `keras.Model` with the inserted layers.

    Raises:
        ValueError: unknown layer, unsupported output rank or unknown
            channel count, an even kernel size, or a ReLU that would change
            the function; the message names the layer.

    Reference:
        Chen, Goodfellow & Shlens, "Net2Net", ICLR 2016, section 2.4
        (Net2DeeperNet).
    """
    g.check_model(model)
    layer = g.get_layer(model, after_layer_name, "after_layer_name")
    shape = g.output_shape(layer)
    rank = len(shape)
    if rank not in (2, 3, 4) or shape[-1] is None:
        raise ValueError(
            f"deepen: layer {after_layer_name!r} outputs shape {shape}; "
            "only rank 2 (Dense), 3 (Conv1D) or 4 (Conv2D) tensors with a "
            "known channel count are supported.")
    if not isinstance(kernel_size, numbers.Integral) or kernel_size < 1 \
            or kernel_size % 2 == 0:
        raise ValueError(
            f"`kernel_size` must be an odd positive int. "
            f"Received: {kernel_size!r}")
    if activation not in ("auto", "relu", None, "linear"):
        raise ValueError(
            "`activation` must be 'auto', 'relu' or None (other activations "
            f"are not idempotent). Received: {activation!r}")
    nonneg = _nonnegative(model, after_layer_name)
    if activation == "auto":
        activation = "relu" if nonneg else None
    elif activation == "relu" and not nonneg:
        raise ValueError(
            f"deepen: the output of layer {after_layer_name!r} can be "
            "negative, so an inserted ReLU would change the function; use "
            "activation=None or 'auto'.")
    if activation == "linear":
        activation = None
    base = name or f"{after_layer_name}_deeper"
    channels = int(shape[-1])
    if rank == 2:
        main = keras.layers.Dense(channels, kernel_initializer="zeros",
                                  name=_unique(model, base + "_dense"))
    else:
        conv = keras.layers.Conv1D if rank == 3 else keras.layers.Conv2D
        main = conv(channels, kernel_size, padding="same",
                    kernel_initializer="zeros",
                    name=_unique(model, base + "_conv"))
    stack = [main]
    if batch_norm:
        stack.append(keras.layers.BatchNormalization(
            name=_unique(model, base + "_bn")))
    if activation == "relu":
        stack.append(keras.layers.ReLU(name=_unique(model, base + "_relu")))

    def hook(lyr, out):
        if lyr.name != after_layer_name:
            return out
        for new_layer in stack:
            out = new_layer(out)
        return out

    child = g.rebuild(model, call_hook=hook)
    Transfer(model, child, strict=True, op="deepen").run()
    _default_initializer(main)
    return child


def add_skip(model, from_layer_name, to_layer_name, name=None):
    """Add a skip connection that starts as zero (network morphism).

    The output of `to_layer_name` becomes `to + P(from)`, where P is a
    zero-initialised projection: a Dense (rank-2 tensors), a 1x1
    convolution with strides equal to the spatial size ratio (same rank),
    or global average pooling followed by a Dense (feature map to vector).
    All former consumers of `to_layer_name` read the sum.

    Args:
        model: `keras.Model`, functional or built Sequential.
        from_layer_name: str, layer whose output starts the skip; must be
            upstream of `to_layer_name`.
        to_layer_name: str, layer whose output receives the skip.
        name: str or None. Prefix of the new layers' names; default
            "skip_<from>_<to>".

    Returns:
        A new `keras.Model` with the skip connection.

    Raises:
        ValueError: unknown layers, `from` not upstream of `to`, or shapes
            that no projection can connect; the message names the layers.

    Reference:
        Wei, Wang, Rui & Chen, "Network Morphism", ICML 2016; Jin, Song &
        Hu, "Auto-Keras", KDD 2019, section 3 (skip-connection morphism).
    """
    g.check_model(model)
    src = g.get_layer(model, from_layer_name, "from_layer_name")
    dst = g.get_layer(model, to_layer_name, "to_layer_name")
    if from_layer_name not in g.ancestors(model, to_layer_name):
        raise ValueError(
            f"add_skip: layer {from_layer_name!r} is not upstream of layer "
            f"{to_layer_name!r}; a skip connection must go forward.")
    fs, ts = g.output_shape(src), g.output_shape(dst)
    base = name or f"skip_{from_layer_name}_{to_layer_name}"
    if ts[-1] is None or len(ts) not in (2, 3, 4) or \
            len(fs) not in (2, 3, 4):
        raise ValueError(
            f"add_skip: cannot connect {from_layer_name!r} {fs} to "
            f"{to_layer_name!r} {ts}: only rank 2, 3 and 4 tensors with "
            "known channels are supported.")
    pre = []
    if len(fs) == len(ts) == 2:
        proj = keras.layers.Dense(ts[-1], kernel_initializer="zeros",
                                  name=_unique(model, base + "_proj"))
    elif len(fs) == len(ts):
        strides = []
        for a, b in zip(fs[1:-1], ts[1:-1]):
            if a is None or b is None or b == 0 or a % b:
                raise ValueError(
                    f"add_skip: the spatial shape {fs[1:-1]} of layer "
                    f"{from_layer_name!r} is not an integer multiple of "
                    f"{ts[1:-1]} of layer {to_layer_name!r}.")
            strides.append(a // b)
        conv = keras.layers.Conv1D if len(ts) == 3 else keras.layers.Conv2D
        proj = conv(ts[-1], 1, strides=tuple(strides), padding="same",
                    kernel_initializer="zeros",
                    name=_unique(model, base + "_proj"))
    elif len(ts) == 2:
        pool = keras.layers.GlobalAveragePooling1D if len(fs) == 3 else \
            keras.layers.GlobalAveragePooling2D
        pre.append(pool(name=_unique(model, base + "_pool")))
        proj = keras.layers.Dense(ts[-1], kernel_initializer="zeros",
                                  name=_unique(model, base + "_proj"))
    else:
        raise ValueError(
            f"add_skip: cannot connect {from_layer_name!r} {fs} to "
            f"{to_layer_name!r} {ts} (rank grows).")
    add = keras.layers.Add(name=_unique(model, base + "_add"))
    saved = {}

    def hook(lyr, out):
        if lyr.name == from_layer_name:
            saved["x"] = out
        if lyr.name == to_layer_name:
            x = saved["x"]
            for p in pre:
                x = p(x)
            out = add([out, proj(x)])
        return out

    child = g.rebuild(model, call_hook=hook)
    Transfer(model, child, strict=True, op="add_skip").run()
    _default_initializer(proj)
    return child
