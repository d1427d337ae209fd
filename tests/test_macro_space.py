import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus.oracles import _hp
from keras_nas_plus.spaces import MacroSearchSpace

pytestmark = pytest.mark.core


def full_space(space):
    """The search space with every conditional branch registered."""
    tuner = kt.RandomSearch(space, objective="val_accuracy", max_trials=1, directory=None, overwrite=True)
    return tuner.oracle.hyperparameters


def build(space, values):
    hp = kt.HyperParameters()
    hp.values = dict(values)
    return space.build(hp)


@pytest.mark.parametrize(
    "shape, kind, rank",
    [((28, 28), "image", 2), ((12, 10, 3), "auto", 2), ((16,), "auto", 1), ((20, 4), "sequence", 1)],
)
def test_builds_valid_models_for_several_input_shapes(shape, kind, rank, tmp_path):
    space = MacroSearchSpace(shape, num_classes=5, input_kind=kind, min_layers=2, max_layers=4,
                             filters=(4, 8), stem_filters=4, skip_connections=True)
    assert space.rank == rank
    hps = kt.HyperParameters()
    model = space.build(hps)
    x = np.random.default_rng(0).uniform(size=(6,) + shape).astype("float32")
    y = np.arange(6) % 5
    assert model.predict(x, verbose=0).shape == (6, 5)
    rng = np.random.default_rng(1)
    # random architectures from the whole space build and train one step
    space_hps = full_space(space)
    for _ in range(2):
        values = _hp.random_values(space_hps.space, rng)
        model = build(space, values)
        history = model.fit(x, y, epochs=1, batch_size=6, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        out = model.predict(x, verbose=0)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-4)


def test_chain_operations_and_layer_names():
    space = MacroSearchSpace((16, 16, 1), 3, min_layers=3, max_layers=3, filters=(8,), stem_filters=4,
                             downsample_at=(1,))
    values = {"layer_0/op": "conv5x5", "layer_0/filters": 8, "layer_1/op": "maxpool3x3",
              "layer_2/op": "sepconv3x3", "layer_2/filters": 8, "dropout": 0.0}
    model = build(space, values)
    names = {layer.name for layer in model.layers}
    assert {"stem_conv", "layer_0_conv", "layer_0_bn", "layer_1_pool", "layer_1_down",
            "layer_2_sepconv", "classifier"} <= names
    assert model.get_layer("layer_0_conv").kernel.shape == (5, 5, 4, 8)
    # filters double after the downsampling before layer 1
    assert model.get_layer("layer_2_sepconv").filters == 16
    assert model.get_layer("layer_2_sepconv").output.shape[1:3] == (8, 8)
    bn = model.get_layer("layer_0_bn")
    assert bn.momentum == pytest.approx(0.9)
    assert space.describe(values) == "conv5x5-8 > /2 maxpool3x3 > sepconv3x3-16"


def test_skip_connections_add_and_concat():
    space = MacroSearchSpace((8, 8, 2), 2, min_layers=3, max_layers=3, filters=(4,), stem_filters=4,
                             skip_connections=True, downsample_at=(2,))
    common = {"layer_0/op": "conv3x3", "layer_0/filters": 4, "layer_1/op": "identity",
              "layer_2/op": "conv3x3", "layer_2/filters": 4, "layer_2/skip_from_0": True, "dropout": 0.0}
    add_model = build(space, dict(common, merge="add"))
    assert "layer_2_merge" in {l.name for l in add_model.layers}
    assert isinstance(add_model.get_layer("layer_2_merge"), keras.layers.Add)
    # the skip from full resolution is projected with stride 2
    assert add_model.get_layer("layer_2_skip_0_proj").strides == (2, 2)
    cat_model = build(space, dict(common, merge="concat"))
    assert isinstance(cat_model.get_layer("layer_2_merge"), keras.layers.Concatenate)


def test_conditional_depth_registers_deeper_layers():
    space = MacroSearchSpace((8, 8, 1), 2, min_layers=1, max_layers=3, filters=(4, 8), stem_filters=4)
    hps = full_space(space)
    names = {hp.name for hp in hps.space}
    assert {"num_layers", "layer_0/op", "layer_1/op", "layer_2/op", "layer_2/filters"} <= names
    rng = np.random.default_rng(0)
    for _ in range(20):
        values = _hp.random_values(hps.space, rng)
        for i in range(3):
            assert (f"layer_{i}/op" in values) == (i < values["num_layers"])


def test_preprocessing_inside_model_uint8():
    space = MacroSearchSpace((8, 8), 2, input_kind="image", rescale=1 / 255, min_layers=1, max_layers=1,
                             filters=(4,), stem_filters=4)
    model = space.build(kt.HyperParameters())
    assert model.get_layer("rescale").scale == pytest.approx(1 / 255)
    x = np.full((2, 8, 8), 255, dtype="uint8")
    assert model.predict(x, verbose=0).shape == (2, 2)


def test_config_round_trip_and_compile_override():
    space = MacroSearchSpace((8, 8, 1), 4, filters=[8, 16], skip_connections=True, learning_rate=[1e-3, 1e-2],
                             compile_kwargs={"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]})
    clone = MacroSearchSpace.from_config(space.get_config())
    assert clone.get_config() == space.get_config()
    hps = full_space(space)
    assert "learning_rate" in {hp.name for hp in hps.space}


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_classes": 1}, "num_classes"),
        ({"operations": ["conv7x7"]}, "operations"),
        ({"filters": [0]}, "filters"),
        ({"min_layers": 0}, "min_layers"),
        ({"max_layers": 1, "min_layers": 2}, "max_layers"),
        ({"merge": ["mul"]}, "merge"),
        ({"dropout": [1.5]}, "dropout"),
        ({"input_kind": "video"}, "input_kind"),
        ({"input_shape": (8,), "input_kind": "image"}, "input_shape"),
        ({"downsample_at": [99]}, "downsample_at"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    args = {"input_shape": (8, 8, 1), "num_classes": 3}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        MacroSearchSpace(**args)


def test_training_hyperparameters_are_searched_with_the_architecture():
    space = MacroSearchSpace((8, 8), 2, input_kind="image", min_layers=1, max_layers=1, filters=(4,),
                             stem_filters=4, optimizer=["adam", "sgd"], lr_schedule=["cosine", "constant"],
                             augmentation=["none", "translate_flip"], learning_rate=[1e-3, 1e-2])
    names = {hp.name for hp in full_space(space).space}
    assert {"optimizer", "lr_schedule", "augmentation", "learning_rate"} <= names
    model = build(space, {"layer_0/op": "conv3x3", "optimizer": "sgd", "augmentation": "translate_flip",
                          "learning_rate": 1e-2, "lr_schedule": "constant", "dropout": 0.0})
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.get_layer("augment").flip and model.get_layer("augment").max_shift == 1
    x = np.zeros((4, 8, 8), "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))  # inactive at inference
    with pytest.raises(ValueError, match="augmentation"):
        MacroSearchSpace((16,), 2, augmentation="translate")


def test_cosine_schedule_decays_within_fit_and_restores_rate():
    space = MacroSearchSpace((8, 8, 1), 2, min_layers=1, max_layers=1, filters=(4,), stem_filters=4,
                             learning_rate=0.01)
    hp = kt.HyperParameters()
    model = space.build(hp)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    x, y = np.zeros((8, 8, 8, 1), "float32"), np.zeros(8, "int32")
    space.fit(hp, model, x, y, epochs=2, batch_size=2, verbose=0, callbacks=[Spy()])
    np.testing.assert_allclose(seen, [0.005 * (1 + np.cos(np.pi * i / 8)) for i in range(8)], rtol=1e-5)
    assert all(a >= b for a, b in zip(seen, seen[1:]))
    assert seen[-1] < 0.001
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)


def test_random_shift_moves_pixels_within_bounds_and_flips():
    from keras_nas_plus.spaces._training import RandomShift

    x = np.zeros((64, 6, 6, 1), "float32")
    x[:, 2, 3, 0] = 1.0
    layer = RandomShift(max_shift=1, flip=True, seed=0)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert out.shape == x.shape
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), 1.0)  # the pixel moved, none lost
    rows, cols = np.nonzero(out[..., 0].reshape(64, 6, 6).sum(axis=0))
    assert set(rows) <= {1, 2, 3} and set(cols) <= {1, 2, 3, 4}  # shift <= 1, or flipped (col 2)
    assert len({(r, c) for r, c in zip(*np.nonzero(out[..., 0].max(axis=0)))}) > 3
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    clone = RandomShift.from_config(layer.get_config())
    assert clone.max_shift == 1 and clone.flip


def test_random_erasing_zeroes_one_rectangle_per_erased_example():
    from keras_nas_plus.spaces._training import RandomShift

    x = np.ones((256, 10, 10, 1), "float32")
    layer = RandomShift(max_shift=0, erase=0.5, seed=3)
    out = keras.ops.convert_to_numpy(layer(x, training=True))[..., 0]
    erased = (out == 0).sum(axis=(1, 2))
    # about half the examples lose 2 % to 40 % of their area (rounded to whole pixels)
    assert 0.35 < np.mean(erased > 0) < 0.65
    assert erased.max() <= 40 + 2 * 10
    for image in out[erased > 0][:20]:  # the erased pixels form one rectangle
        rows, cols = np.nonzero(image == 0)
        assert (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) == len(rows)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    assert RandomShift.from_config(layer.get_config()).erase == 0.5
    with pytest.raises(ValueError, match="erase"):
        RandomShift(erase=1.5)


def test_time_budget_stops_fit_and_cosine_follows_the_budget():
    from keras_nas_plus.spaces._training import CosineSchedule
    from keras_nas_plus.spaces._training import TimeBudget

    space = MacroSearchSpace((8, 8, 1), 3, min_layers=1, max_layers=1, filters=4, learning_rate=0.01)
    hp = kt.HyperParameters()
    model = space.build(hp)
    assert isinstance(model.optimizer._learning_rate, CosineSchedule)
    budget = TimeBudget(2.0)
    now = [0.0]
    budget.clock = lambda: now[0]  # a fake clock: every batch takes 0.125 s, an epoch 0.5 s
    seen = []

    train_functions = []

    class Tick(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

        def on_train_batch_end(self, batch, logs=None):
            now[0] += 0.125

        def on_epoch_end(self, epoch, logs=None):
            train_functions.append(self.model.train_function)

    x, y = np.zeros((8, 8, 8, 1), "float32"), np.zeros(8, "int32")
    history = space.fit(hp, model, x, y, epochs=200, batch_size=2, verbose=0, callbacks=[Tick(), budget])
    # after 2 epochs (1 s) the plan becomes 4 epochs: 16 steps, the last 2 epochs on the new decay
    assert len(history.epoch) == 4 and len(seen) == 16
    assert seen[0] == pytest.approx(0.01) and seen[7] > 0.0099  # 800-step decay at first
    expected = [0.005 * (1 + np.cos(np.pi * i / 16)) for i in range(8, 16)]
    np.testing.assert_allclose(seen[8:], expected, rtol=1e-4)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)
    # The revision did not make a new train function (no second compilation), and the plan's
    # variable left the optimizer when training ended.
    assert len(train_functions) == 4 and all(f is train_functions[0] for f in train_functions)
    assert not [v for v in model.optimizer.variables if "cosine_total_steps" in v.path]
    with pytest.raises(ValueError, match="seconds"):
        TimeBudget(0)


def test_time_budget_plan_is_revised_from_later_epochs():
    from keras_nas_plus.spaces._training import TimeBudget

    space = MacroSearchSpace((8, 8, 1), 3, min_layers=1, max_layers=1, filters=4, learning_rate=0.01)
    hp = kt.HyperParameters()
    model = space.build(hp)
    budget = TimeBudget(5.8)
    now = [0.0]
    budget.clock = lambda: now[0]
    seen = []

    class Tick(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            now[0] += 0.25 if self.epoch == 1 else 0.125  # the second epoch takes 1 s, the others 0.5 s

    x, y = np.zeros((8, 8, 8, 1), "float32"), np.zeros(8, "int32")
    history = space.fit(hp, model, x, y, epochs=200, batch_size=2, verbose=0, callbacks=[Tick(), budget])
    # Plans at the epoch ends: epoch 2 (t = 1.5 s, median 1 s): 2 + int(4.3 / 1) = 6 epochs; epoch 3
    # (t = 2 s, median 0.75 s): 3 + 5 = 8; epoch 4 (t = 2.5 s, median 0.5 s): 4 + 6 = 10, and 10 from
    # then on. The 10 epochs end at 5.5 s, inside the budget, with the rate at 0.
    assert len(history.epoch) == 10 and len(seen) == 40
    assert now[0] == pytest.approx(5.5)
    expected = [0.005 * (1 + np.cos(np.pi * i / 40)) for i in range(16, 40)]
    np.testing.assert_allclose(seen[16:], expected, rtol=1e-4)
    assert seen[-1] < 0.0001
