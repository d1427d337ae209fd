"""Functional-graph helpers for network morphism (private).

Everything here works on Keras 3 functional (or built Sequential) models
through public layer configs and the symbolic graph, so it is
backend-agnostic.
"""

import keras
import numpy as np

CONV_CLASSES = ("Conv1D", "Conv2D", "Conv3D")
DEPTHWISE_CLASSES = ("DepthwiseConv1D", "DepthwiseConv2D")
SEPARABLE_CLASSES = ("SeparableConv1D", "SeparableConv2D")
#: Layers whose output width (units/filters) can be changed.
PRODUCER_CLASSES = ("Dense",) + CONV_CLASSES + SEPARABLE_CLASSES
KERNEL_CLASSES = CONV_CLASSES + DEPTHWISE_CLASSES + SEPARABLE_CLASSES
MERGE_CLASSES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")

_PASS_THROUGH = {
    "ReLU", "LeakyReLU", "ELU", "Dropout", "SpatialDropout1D",
    "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "MaxPooling1D", "MaxPooling2D",
    "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "GlobalMaxPooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalAveragePooling3D", "ZeroPadding1D", "ZeroPadding2D",
    "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "Identity",
    "ActivityRegularization",
}
# Element-wise activations applied channel by channel (softmax is not).
_CHANNELWISE_ACTIVATIONS = {
    "relu", "relu6", "linear", "elu", "selu", "tanh", "sigmoid",
    "hard_sigmoid", "softplus", "softsign", "swish", "silu", "gelu",
    "leaky_relu", "exponential", "mish", "hard_swish", "hard_silu",
}
_ZERO_PRESERVING_ACTIVATIONS = {
    "relu", "relu6", "linear", "elu", "selu", "tanh", "softsign", "swish",
    "silu", "gelu", "leaky_relu", "mish", "hard_swish", "hard_silu", None,
}
_NONNEGATIVE_ACTIVATIONS = {"relu", "relu6", "sigmoid", "hard_sigmoid",
                            "softplus", "exponential", "softmax"}


def class_name(layer):
    return layer.__class__.__name__


def activation_name(layer):
    """Name of a layer's activation function, or None."""
    cfg = layer.get_config()
    act = cfg.get("activation")
    if act is None and class_name(layer) == "ReLU":
        return "relu"
    if isinstance(act, dict):
        act = act.get("config", {}).get("name", act.get("class_name"))
    if callable(act):
        act = getattr(act, "__name__", None)
    return act


def is_pass_through(layer):
    """Whether the layer keeps channels aligned and acts on each separately."""
    name = class_name(layer)
    if name in _PASS_THROUGH:
        return True
    if name == "Activation":
        return activation_name(layer) in _CHANNELWISE_ACTIVATIONS
    return False


def is_zero_preserving(layer):
    """Whether a parameter-free channel-wise layer maps 0 to 0."""
    if class_name(layer) == "Activation":
        return activation_name(layer) in _ZERO_PRESERVING_ACTIVATIONS
    return is_pass_through(layer)


def layer_map(model):
    return {layer.name: layer for layer in model.layers}


def get_layer(model, name, argument="layer_name"):
    """The layer called `name`, or a ValueError naming it."""
    if not isinstance(name, str):
        raise ValueError(
            f"`{argument}` must be a layer name (str). Received: {name!r}")
    for layer in model.layers:
        if layer.name == name:
            return layer
    raise ValueError(
        f"`{argument}`={name!r}: no layer with this name in model "
        f"{model.name!r}.")


def _node(layer):
    nodes = getattr(layer, "_inbound_nodes", [])
    return nodes[0] if nodes else None


def input_layer_names(layer):
    """Names of the layers producing the inputs of `layer` (first node)."""
    node = _node(layer)
    if node is None:
        return []
    return [t._keras_history.operation.name for t in node.input_tensors]


def input_shapes(layer):
    node = _node(layer)
    if node is None:
        return []
    return [tuple(t.shape) for t in node.input_tensors]


def output_shape(layer):
    node = _node(layer)
    out = node.output_tensors
    return tuple(out[0].shape)


def is_input_layer(layer):
    return class_name(layer) == "InputLayer"


def consumers(model):
    """Mapping layer name -> names of layers consuming its output."""
    out = {layer.name: [] for layer in model.layers}
    for layer in model.layers:
        for src in input_layer_names(layer):
            if src in out:
                out[src].append(layer.name)
    return out


def ancestors(model, name):
    """Names of all layers upstream of layer `name`."""
    layers = layer_map(model)
    seen, stack = set(), [name]
    while stack:
        for src in input_layer_names(layers[stack.pop()]):
            if src not in seen:
                seen.add(src)
                stack.append(src)
    return seen


def output_layer_names(model):
    return [t._keras_history.operation.name for t in model.outputs]


def check_model(model):
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"`model` must be a keras.Model. Received: {type(model)!r}")
    if isinstance(model, keras.Sequential):
        if not model.built:
            raise ValueError(
                "`model`: the Sequential model must be built (give it an "
                "Input) before it can be morphed.")
        return
    if not hasattr(model, "_run_through_graph") or not model.layers:
        raise ValueError(
            f"`model` {model.name!r} must be a functional or Sequential "
            "Keras model; subclassed models have no graph to rewrite.")
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            raise ValueError(
                f"layer {layer.name!r}: nested models are not supported by "
                "network morphism; flatten the model first.")


def rebuild(model, config_edits=None, call_hook=None):
    """A copy of `model` with fresh layers, edited configs and a call hook.

    Args:
        model: functional or built Sequential model.
        config_edits: dict layer name -> dict of config entries to replace.
        call_hook: None or callable(layer, outputs) -> outputs, called after
            each (cloned) layer so new layers can be inserted after it.

    Returns:
        A new functional model (weights freshly initialised).
    """
    config_edits = config_edits or {}
    restore = []

    def clone_function(layer):
        cfg = layer.get_config()
        cfg.update(config_edits.get(layer.name, {}))
        # Every weight is overwritten by the transfer, so skip random
        # initialisation (slow under JAX: one compilation per shape), then
        # restore the initialisers so the config stays the user's.
        originals = {}
        for key, value in list(cfg.items()):
            if key.endswith("_initializer") and value is not None:
                originals[key] = value
                cfg[key] = "zeros"
        new = layer.__class__.from_config(cfg)
        if all(hasattr(new, key) for key in originals):
            restore.append((new, originals))
        else:
            new = layer.__class__.from_config(
                dict(cfg, **originals))
        return new

    def call_function(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        if call_hook is not None:
            out = call_hook(layer, out)
        return out

    try:
        return _restore(_clone(model, clone_function, call_function),
                        restore)
    except BaseException:
        _restore(None, restore)
        raise


def _restore(model, restore):
    for layer, originals in restore:
        for key, value in originals.items():
            setattr(layer, key, keras.initializers.get(value))
    return model


def _clone(model, clone_function, call_function):
    if isinstance(model, keras.Sequential):
        src = model.inputs[0]
        inp = keras.Input(batch_shape=src.shape, dtype=src.dtype,
                          name=src._keras_history.operation.name)
        x = inp
        for layer in model.layers:
            x = call_function(clone_function(layer), x)
        return keras.Model(inp, x, name=model.name)
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype,
                              name=t._keras_history.operation.name),
        model.input)
    return keras.models.clone_model(
        model, input_tensors=inputs, clone_function=clone_function,
        call_function=call_function)


def weights_of(layer):
    """dict variable name -> numpy array of a layer's weights."""
    return {v.name: np.array(keras.ops.convert_to_numpy(v.value))
            for v in layer.weights}


def set_weights_of(layer, values):
    for v in layer.weights:
        if v.name in values:
            v.assign(np.asarray(values[v.name], dtype=v.dtype))
