import keras
import pytest

from keras_nas_plus import costs

pytestmark = pytest.mark.core


def conv_dense_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="valid", name="conv")(inputs)  # -> 6x6x4
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)  # -> 3x3x4
    x = keras.layers.Flatten(name="flat")(x)  # 36
    outputs = keras.layers.Dense(5, name="dense")(x)
    return keras.Model(inputs, outputs)


def test_parameter_count_exact():
    model = conv_dense_model()
    # conv 3*3*3*4 + 4 = 112; bn 4*4 = 16; dense 36*5 + 5 = 185.
    assert costs.count_params(model) == 112 + 16 + 185 == 313
    seq = keras.Sequential([keras.Input((10,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    assert costs.count_params(seq) == 44 + 10


def test_flops_of_conv_and_dense_by_hand():
    model = conv_dense_model()
    rows = {name: f for name, _, f in costs.flops_breakdown(model)[0]}
    # Conv2D: 2 FLOPs per multiply-add * (3*3*3) per output * 6*6*4 outputs,
    # plus one bias add per output.
    assert rows["conv"] == 2 * 27 * 144 + 144 == 7920
    assert rows["bn"] == 2 * 144
    assert rows["relu"] == 0
    assert rows["pool"] == 4 * 36  # 2x2 window per output element
    assert rows["dense"] == 2 * 36 * 5 + 5
    assert costs.count_flops(model) == 7920 + 288 + 144 + 365


def test_flops_sequential_depthwise_separable_merge():
    seq = keras.Sequential([keras.Input((10,)), keras.layers.Dense(4), keras.layers.Dense(2, use_bias=False)])
    assert costs.count_flops(seq) == (2 * 40 + 4) + 2 * 8

    inputs = keras.Input((6, 6, 2))
    a = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(inputs)
    b = keras.layers.SeparableConv2D(2, 3, padding="same", name="sep")(inputs)
    c = keras.layers.Add(name="add")([a, b])
    d = keras.layers.GlobalAveragePooling2D(name="gap")(c)
    e = keras.layers.Conv1D(3, 2, name="c1")(keras.layers.Reshape((2, 1))(d))
    model = keras.Model(inputs, e)
    rows = {name: f for name, _, f in costs.flops_breakdown(model)[0]}
    assert rows["dw"] == 2 * 9 * 2 * 36
    # depthwise 2*9*2*36 + pointwise 2*2*2*36 + bias 2*36
    assert rows["sep"] == 1296 + 288 + 72
    assert rows["add"] == 72
    assert rows["gap"] == 72
    assert rows["c1"] == 2 * 2 * 1 * 3 * 1 + 3


def test_shared_layer_counts_each_call():
    dense = keras.layers.Dense(3, name="shared")
    a, b = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([a, b], keras.layers.Add()([dense(a), dense(b)]))
    assert costs.count_flops(model) == 2 * (2 * 12 + 3) + 3


def test_measure_latency_and_model_costs():
    model = conv_dense_model()
    ms = costs.measure_latency(model, runs=3, warmup=1)
    assert 0.0 < ms < 10000.0
    values = costs.model_costs(model, latency_runs=2)
    assert values["params"] == 313 and values["flops"] == 8717 and values["latency_ms"] > 0
    assert "latency_ms" not in costs.model_costs(model, latency_runs=0)
    with pytest.raises(ValueError, match="runs"):
        costs.measure_latency(model, runs=0)
    with pytest.raises(ValueError, match="batch_size"):
        costs.measure_latency(model, batch_size=0)
