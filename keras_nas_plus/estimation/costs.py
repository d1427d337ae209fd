"""Model cost metrics: parameter count, analytic FLOPs, measured latency.

`NASTuner` computes all three for every trial (see `model_costs`); they are
recorded in the trial's `nas_trial.json` and reported as trial metrics named
`"params"`, `"flops"` and `"latency_ms"`, so they can be objectives or hard
constraints.

FLOP conventions (inference, batch size 1, one forward pass):

* One multiply-add (MAC) counts as **2 FLOPs**; a bias add as 1 FLOP per
  output element. So `Dense(units)` on `n` inputs costs
  `2 * n * units + units` FLOPs, and `Conv2D` costs
  `2 * kh * kw * (c_in / groups) * c_out * h_out * w_out`, plus
  `h_out * w_out * c_out` with a bias.
* Depthwise convolutions: `2 * kh * kw * c_in * multiplier * h_out * w_out`
  (+ bias); separable convolutions: depthwise part + pointwise 1x1 part
  (+ bias); transposed convolutions: `2 * kh * kw * c_in * c_out * h_in *
  w_in` (+ bias).
* Pooling: one FLOP per window element per output element (max pooling
  compares, average pooling adds); global pooling: one per input element.
* BatchNormalization (folded at inference): 2 FLOPs per element (scale and
  shift); LayerNormalization / GroupNormalization: 5 per element;
  Rescaling: 2 per element (scale and offset).
* Merges (`Add`, `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum`):
  `(number of inputs - 1)` FLOPs per output element.
* Recurrent layers (`SimpleRNN`, `GRU`, `LSTM`): the gates' multiply-adds,
  `2 * gates * units * (input_dim + units)` per time step, plus biases.
* Activations (also those inside layers), dropout, reshaping, concatenation,
  padding, cropping, embedding look-ups and zero-cost layers count 0.
  Unknown layers count 0 and are listed by `flops_breakdown`.

Layers called several times (shared) count once per call; nested models are
counted layer by layer.
"""

import math
import statistics
import time

import keras
import numpy as np

#: Names of the cost metrics reported by `NASTuner` for every trial.
COST_METRICS = ("params", "flops", "latency_ms")

_MERGE_LAYERS = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
_ZERO_LAYERS = (
    "InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianDropout", "GaussianNoise", "AlphaDropout", "Flatten", "Reshape", "Permute",
    "RepeatVector", "Concatenate", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Activation",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "Embedding", "Identity", "Masking", "Lambda", "UpSampling1D", "UpSampling2D", "UpSampling3D",
)


def _prod(values):
    total = 1
    for v in values:
        total *= int(v)
    return total


def _shape(tensor):
    return tuple(1 if d is None else int(d) for d in tensor.shape)


def _elements(shape):
    """Elements of one example (the batch axis excluded)."""
    return _prod(shape[1:])


def _channels_first(layer):
    return getattr(layer, "data_format", "channels_last") == "channels_first"


def _spatial(shape, layer):
    """(spatial dims, channels) of a conv/pool tensor shape."""
    if _channels_first(layer):
        return shape[2:], shape[1]
    return shape[1:-1], shape[-1]


def _conv_flops(layer, in_shape, out_shape):
    name = type(layer).__name__
    kernel = tuple(int(k) for k in layer.kernel_size)
    k = _prod(kernel)
    in_spatial, c_in = _spatial(in_shape, layer)
    out_spatial, c_out = _spatial(out_shape, layer)
    out_positions = _prod(out_spatial)
    bias = out_positions * c_out if getattr(layer, "use_bias", False) else 0
    if name.startswith("DepthwiseConv"):
        return 2 * k * c_out * out_positions + bias
    if name.startswith("SeparableConv"):
        multiplier = int(getattr(layer, "depth_multiplier", 1))
        depthwise = 2 * k * c_in * multiplier * out_positions
        pointwise = 2 * c_in * multiplier * c_out * out_positions
        return depthwise + pointwise + bias
    if "Transpose" in name:
        return 2 * k * c_in * c_out * _prod(in_spatial) + bias
    groups = int(getattr(layer, "groups", 1) or 1)
    return 2 * k * (c_in // groups) * c_out * out_positions + bias


def _recurrent_flops(layer, in_shape):
    cell = getattr(layer, "cell", layer)
    units = int(cell.units)
    gates = {"LSTM": 4, "GRU": 3}.get(type(layer).__name__, 1)
    steps, input_dim = in_shape[1], in_shape[-1]
    per_step = 2 * gates * units * (input_dim + units)
    if getattr(cell, "use_bias", True):
        per_step += gates * units * (2 if type(layer).__name__ == "GRU" else 1)
    return steps * per_step


def layer_flops(layer, in_shapes, out_shape):
    """FLOPs of one call of a Keras layer (conventions in the module doc).

    Args:
        layer: `keras.layers.Layer`.
        in_shapes: list of input shapes (tuples, batch axis first).
        out_shape: output shape (tuple, batch axis first).

    Returns:
        int FLOPs for one example, or `None` for an unknown layer type.
    """
    name = type(layer).__name__
    in_shape = in_shapes[0] if in_shapes else out_shape
    if name == "Dense":
        n_in = in_shape[-1]
        units = out_shape[-1]
        positions = _prod(out_shape[1:-1])
        bias = units if layer.use_bias else 0
        return positions * (2 * n_in * units + bias)
    if "Conv" in name and hasattr(layer, "kernel_size"):
        return _conv_flops(layer, in_shape, out_shape)
    if name.startswith("Global") and "Pooling" in name:
        return _elements(in_shape)
    if "Pooling" in name:
        return _prod(getattr(layer, "pool_size", (1,))) * _elements(out_shape)
    if name == "BatchNormalization" or name == "Rescaling":
        return 2 * _elements(out_shape)
    if name in ("LayerNormalization", "GroupNormalization", "UnitNormalization"):
        return 5 * _elements(out_shape)
    if name in _MERGE_LAYERS:
        return max(len(in_shapes) - 1, 0) * _elements(out_shape)
    if name in ("SimpleRNN", "GRU", "LSTM"):
        return _recurrent_flops(layer, in_shape)
    if name in _ZERO_LAYERS:
        return 0
    if not layer.weights:  # parameter-free custom layers (e.g. zero operations)
        return 0
    return None


def _layer_calls(layer):
    """(input shapes, output shape) of each call of `layer` in its graph."""
    calls = []
    for node in getattr(layer, "_inbound_nodes", []):
        inputs = [_shape(t) for t in node.input_tensors]
        outputs = [_shape(t) for t in node.output_tensors]
        if outputs:
            calls.append((inputs, outputs[0]))
    return calls


def _sequential_calls(model):
    shape = tuple(1 if d is None else int(d) for d in model.inputs[0].shape)
    calls = []
    for layer in model.layers:
        out = layer.compute_output_shape(shape)
        out = tuple(1 if d is None else int(d) for d in out)
        calls.append((layer, [shape], out))
        shape = out
    return calls


def flops_breakdown(model):
    """FLOPs per layer call of a built model.

    Args:
        model: a built `keras.Model` (functional, Sequential with a known
            input shape, or nested models).

    Returns:
        tuple `(rows, unknown)`: `rows` is a list of `(layer name, layer
        type, FLOPs)`; `unknown` the names of layers whose type has no FLOP
        rule (counted as 0).

    Raises:
        ValueError: if the model is not built (no known input shape).
    """
    try:
        has_inputs = bool(model.inputs)
    except (AttributeError, ValueError):
        has_inputs = False
    if not has_inputs:
        raise ValueError(
            f"`model` must be built with a known input shape to count FLOPs; got {model.name!r}."
        )
    rows, unknown = [], []
    calls = []
    for layer in model.layers:
        layer_calls = _layer_calls(layer)
        if not layer_calls and isinstance(model, keras.Sequential):
            calls = _sequential_calls(model)
            break
        calls.extend((layer, i, o) for i, o in layer_calls)
    for layer, in_shapes, out_shape in calls:
        if isinstance(layer, keras.Model):
            sub_rows, sub_unknown = flops_breakdown(layer)
            rows.extend(sub_rows)
            unknown.extend(sub_unknown)
            continue
        flops = layer_flops(layer, in_shapes, out_shape)
        if flops is None:
            unknown.append(layer.name)
            flops = 0
        rows.append((layer.name, type(layer).__name__, int(flops)))
    return rows, unknown


def count_flops(model):
    """Analytic FLOPs of one forward pass of one example.

    Conventions (module docstring): a multiply-add counts 2 FLOPs, bias adds
    1; activations count 0.

    Args:
        model: a built `keras.Model`.

    Returns:
        int, FLOPs per example (batch size 1).

    Raises:
        ValueError: if the model is not built.
    """
    rows, _ = flops_breakdown(model)
    return int(sum(f for _, _, f in rows))


def count_params(model):
    """Exact number of weights (trainable and not), an int."""
    return int(model.count_params())


def _example_inputs(model, batch_size):
    tensors = []
    for t in model.inputs:
        shape = [batch_size] + [1 if d is None else int(d) for d in t.shape[1:]]
        dtype = getattr(t, "dtype", "float32") or "float32"
        tensors.append(np.zeros(shape, dtype=keras.backend.standardize_dtype(dtype)))
    return tensors[0] if len(tensors) == 1 else tensors


def measure_latency(model, runs=10, warmup=2, batch_size=1):
    """Median inference time of `model` on the current device, in ms.

    The input is zeros of the model's input shape. The first `warmup` calls
    (graph tracing / compilation) are not timed. Each timed call is
    `model.predict_on_batch`, which returns NumPy arrays, so the time
    includes the device-to-host copy and nothing is still running.

    Args:
        model: a built `keras.Model`.
        runs: int >= 1, default 10. Timed calls.
        warmup: int >= 0, default 2. Untimed calls first.
        batch_size: int >= 1, default 1. Examples per call.

    Returns:
        float, the median of the timed calls, in milliseconds.

    Raises:
        ValueError: if `runs`, `warmup` or `batch_size` is out of range.
    """
    for name, value, minimum in (("runs", runs, 1), ("warmup", warmup, 0), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    x = _example_inputs(model, batch_size)
    for _ in range(warmup):
        model.predict_on_batch(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))


def model_costs(model, latency_runs=10):
    """All cost metrics of a model, as a dict of floats.

    Args:
        model: a built `keras.Model`.
        latency_runs: int >= 0, default 10. Timed calls for the latency; 0
            skips the measurement (`latency_ms` is then absent).

    Returns:
        dict with `"params"` (count), `"flops"` (per example, see
        `count_flops`) and, unless skipped, `"latency_ms"` (median ms at batch
        size 1). FLOPs are NaN when the model cannot be analysed.
    """
    costs = {"params": float(count_params(model))}
    try:
        costs["flops"] = float(count_flops(model))
    except (ValueError, AttributeError, TypeError):
        costs["flops"] = math.nan
    if latency_runs:
        costs["latency_ms"] = measure_latency(model, runs=latency_runs)
    return costs
