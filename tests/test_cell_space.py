import keras
import keras_tuner
import numpy as np
import pytest

from keras_nas_plus.spaces.cell import CellSearchSpace, build_cell, decision_names


def _tiny_space(**kw):
    args = dict(input_shape=(8, 8, 3), filters=4, num_cells=1, num_blocks=2, num_reductions=1)
    args.update(kw)
    return CellSearchSpace(**args)


def _data(n=8):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 8, 8, 3)).astype("uint8"), rng.integers(0, 10, n)


@pytest.mark.core
def test_default_build_trains_one_step():
    hp = keras_tuner.HyperParameters()
    model = _tiny_space().build(hp)
    expected = set(decision_names("normal", 2) + decision_names("reduction", 2))
    assert set(hp.values) == expected
    assert hp.values["normal_b1_in0"] == 2 and hp.values["normal_b0_op0"] == "sep_conv_3x3"
    x, y = _data()
    logs = model.fit(x, y, batch_size=4, epochs=1, steps_per_epoch=1, verbose=0).history
    assert np.isfinite(logs["loss"][0])
    assert model.output_shape == (None, 10)
    names = {layer.name for layer in model.layers}
    assert "cell0_normal_b0_in0_sep_conv_3x3_sepconv" in names
    assert "cell1_reduction_b0_in0_sep_conv_3x3_sepconv" in names
    assert all(l.momentum == 0.9 for l in model.layers if isinstance(l, keras.layers.BatchNormalization))


@pytest.mark.core
def test_random_cells_build_with_stable_names():
    space = _tiny_space()
    hp = keras_tuner.HyperParameters()
    space.build_network(hp)
    x, _ = _data(2)
    for seed in range(3):
        values = {}
        for p in hp.space:
            values[p.name] = p.random_sample(seed * 100 + len(values))
        hp2 = keras_tuner.HyperParameters()
        hp2.values = dict(values)
        model = space.build_network(hp2)
        assert model.predict(x, verbose=0).shape == (2, 10)
        names = {layer.name for layer in model.layers}
        op = values["normal_b0_op0"]
        assert any(n.startswith(f"cell0_normal_b0_in0_{op}") for n in names) or op == "identity"
        # shape at the output: 8x8 -> one reduction -> 4x4, 8 channels
        assert model.get_layer("head_relu").output.shape[1:] == (4, 4, 8)


@pytest.mark.core
def test_build_cell_inside_user_model():
    hp = keras_tuner.HyperParameters()
    inputs = keras.Input((8, 8, 6))
    x = build_cell(hp, inputs, 6, "normal", num_blocks=3, hp_prefix="mine_")
    y = build_cell(hp, [inputs, x], 12, "reduction", num_blocks=2)
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(y))
    model = keras.Model(inputs, out)
    assert x.shape[1:] == (8, 8, 6) and y.shape[1:] == (4, 4, 12)
    assert "mine_normal_b2_op1" in hp.values and "reduction_b1_in1" in hp.values
    assert model.predict(np.zeros((1, 8, 8, 6)), verbose=0).shape == (1, 2)


@pytest.mark.core
def test_config_and_validation():
    space = _tiny_space(operations=["sep_conv_3x3", "identity"])
    assert CellSearchSpace.from_config(space.get_config()).get_config() == space.get_config()
    with pytest.raises(ValueError, match="operations"):
        _tiny_space(operations=["conv_7x7"])
    with pytest.raises(ValueError, match="num_blocks"):
        _tiny_space(num_blocks=0)
    with pytest.raises(ValueError, match="cell_type"):
        build_cell(keras_tuner.HyperParameters(), keras.Input((4, 4, 2)), 2, cell_type="odd")
