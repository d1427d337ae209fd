import math

import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus import ResidualSearchSpace
from keras_nas_plus import config as config_module
from keras_nas_plus.spaces import MacroSearchSpace
from keras_nas_plus.spaces._recipe import SparseLabelSmoothingCrossentropy
from keras_nas_plus.spaces._training import CosineSchedule
from keras_nas_plus.spaces._training import fit_with_schedule

pytestmark = pytest.mark.core


def build(space, values=None):
    hp = kt.HyperParameters()
    hp.values.update(values or {})
    return space.build(hp), hp


def full_space(space):
    tuner = kt.RandomSearch(space, objective="val_accuracy", max_trials=1, directory=None, overwrite=True)
    return tuner.oracle.hyperparameters


def textbook_wrn_params(depth, k, channels=1, classes=10):
    """Weights of WRN-depth-k (Zagoruyko & Komodakis 2016, pre-activation blocks), counted by hand.

    BatchNormalization has 4 weights per channel (scale, offset, moving mean
    and variance), convolutions no bias, the classifier a bias.
    """
    n = (depth - 4) // 6
    total, c_in = 3 * 3 * channels * 16, 16
    for stage, base in enumerate((16, 32, 64)):
        c = base * k
        for block in range(n):
            projection = c_in != c or (stage > 0 and block == 0)
            total += 4 * c_in + 9 * c_in * c + 4 * c + 9 * c * c + (c_in * c if projection else 0)
            c_in = c
    return total + 4 * c_in + c_in * classes + classes


def tiny_space(**kwargs):
    args = dict(blocks=1, width=1, base_widths=(4, 4, 8), stem_filters=4, rescale=1 / 255)
    args.update(kwargs)
    return ResidualSearchSpace((8, 8), 3, **args)


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(0)
    y = (np.arange(24) % 3).astype("int32")
    x = rng.integers(0, 60, size=(24, 8, 8)).astype("uint8")
    for c in range(3):
        x[y == c, 2 * c: 2 * c + 2, :] = 250
    return x, y


def test_wrn_16_4_and_16_8_have_the_textbook_parameter_counts():
    space = ResidualSearchSpace((28, 28, 1), 10)
    assert textbook_wrn_params(16, 4) == 2_752_218  # the anchor's WRN-16-4 on 28x28x1, 10 classes
    references = space.references()
    for name, depth, k, expected in (("WRN-16-4", 16, 4, 2_752_218), ("WRN-16-8", 16, 8, 10_968_282)):
        model, hp = build(space, references[name])
        assert model.count_params() == expected == textbook_wrn_params(depth, k)
        assert space.count_params(hp.values) == expected
        assert space.describe(hp.values) == name
    # layer structure of a pre-activation block with a projection
    assert model.get_layer("stage1_block0_shortcut").strides == (2, 2)
    assert model.get_layer("stage1_block0_conv1").kernel.shape == (3, 3, 128, 256)
    assert model.get_layer("stage0_block1_conv2").use_bias is False
    assert model.get_layer("classifier").dtype_policy.compute_dtype == "float32"
    with pytest.raises(ValueError):
        model.get_layer("stage0_block1_shortcut")  # same shape: identity shortcut


def test_references_are_valid_points_of_the_space():
    space = ResidualSearchSpace((28, 28, 1), 10)
    names = list(space.references())
    assert {"WRN-10-4", "WRN-16-4", "WRN-16-8", "WRN-22-8", "WRN-28-4"} <= set(names)
    assert not [n for n in names if n.startswith("WRN-40")]  # 6 blocks per stage is not a choice
    assert len(names) == 4 * 5

    small = ResidualSearchSpace((12, 12, 1), 3, blocks=(1, 2), width=(1, 2), base_widths=(4, 4, 8),
                                stem_filters=4, kernel_size=(3, 5), block_dropout=(0.3, 0.0))
    references = small.references()
    assert list(references) == ["WRN-10-1", "WRN-10-2", "WRN-16-1", "WRN-16-2"]
    hps = full_space(small)
    declared = {hp.name: hp for hp in hps.space}
    for name, values in references.items():
        assert set(values) == {f"stage_{i}/{key}" for i in range(3) for key in ("blocks", "width", "kernel_size")} | {
            "block_dropout"}
        for key, value in values.items():
            assert value in declared[key].values
        model, hp = build(small, values)
        assert small.describe(hp.values) == name
        assert model.count_params() == small.count_params(values)
    assert references["WRN-16-2"]["block_dropout"] == 0.0
    assert ResidualSearchSpace((8, 8, 1), 3, kernel_size=5).references() == {}


def test_fixed_choices_are_still_declared():
    _, hp = build(tiny_space())
    assert hp.values == {f"stage_{i}/{k}": 1 for i in range(3) for k in ("blocks", "width")}


@pytest.mark.parametrize("kwargs, name", [
    ({"blocks": 0}, "blocks"),
    ({"blocks": (2, 2)}, "blocks"),
    ({"width": "wide"}, "width"),
    ({"base_widths": 16}, "base_widths"),
    ({"stem_filters": 0}, "stem_filters"),
    ({"kernel_size": 4}, "kernel_size"),
    ({"block_dropout": 1.0}, "block_dropout"),
    ({"bn_momentum": 1.0}, "bn_momentum"),
    ({"optimizer": "lamb"}, "optimizer"),
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"lr_schedule": "step"}, "lr_schedule"),
    ({"schedule_unit": "batch"}, "schedule_unit"),
    ({"warmup_epochs": -1}, "warmup_epochs"),
    ({"weight_decay": [5e-4, -1.0]}, "weight_decay"),
    ({"label_smoothing": 1.0}, "label_smoothing"),
    ({"ema_momentum": 1.5}, "ema_momentum"),
    ({"augmentation": "mixup"}, "augmentation"),
    ({"max_shift": -1}, "max_shift"),
    ({"input_kind": "sequence"}, "input_kind"),
    ({"input_shape": (16,)}, "input_shape"),
    ({"num_classes": 1}, "num_classes"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    args = dict(input_shape=(8, 8, 1), num_classes=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        ResidualSearchSpace(**args)


def test_config_round_trip_and_yaml_section():
    space = tiny_space(optimizer=["sgd_nesterov", "adamw"], ema_momentum=[None, 0.99], warmup_epochs=[0, 1])
    again = ResidualSearchSpace.from_config(space.get_config())
    assert again.get_config() == space.get_config()
    assert again.recipe.ema_momentum == (0.0, 0.99)
    config = config_module.validate_config({"space": {"type": "residual", "blocks": [1, 2], "width": 2}})
    assert config["space"] == {"type": "residual", "blocks": [1, 2], "width": 2}
    with pytest.raises(config_module.ConfigError, match=r"space\.widht: unknown key"):
        config_module.validate_config({"space": {"type": "residual", "widht": 2}})
    assert config_module.space_class("residual") is ResidualSearchSpace


@pytest.mark.parametrize("recipe", [
    {"optimizer": "sgd_nesterov", "label_smoothing": 0.1, "ema_momentum": 0.9},
    {"optimizer": "adamw", "learning_rate": 1e-3, "weight_decay": 0.01, "schedule_unit": "step",
     "warmup_epochs": 0.5},
    {"optimizer": "adam", "learning_rate": 1e-3, "lr_schedule": "constant", "warmup_epochs": 1,
     "augmentation": "none", "block_dropout": 0.2},
])
def test_recipe_options_compile_and_train(recipe, tiny_data):
    space = tiny_space(**recipe)
    model, hp = build(space)
    x, y = tiny_data
    history = space.fit(hp, model, x, y, epochs=2, batch_size=8, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    assert model.predict(x[:4], verbose=0).sum(axis=1) == pytest.approx(np.ones(4), rel=1e-4)


def test_searched_recipe_hyperparameters_are_declared():
    space = tiny_space(optimizer=["sgd_nesterov", "adam"], weight_decay=[0.0, 5e-4], warmup_epochs=[0, 2],
                       label_smoothing=[0.0, 0.1], ema_momentum=[None, 0.99], schedule_unit=["epoch", "step"],
                       kernel_size=[3, 5])
    names = {hp.name for hp in full_space(space).space}
    assert {"optimizer", "weight_decay", "warmup_epochs", "label_smoothing", "ema_momentum", "schedule_unit",
            "stage_0/kernel_size"} <= names
    model, _ = build(space, {"ema_momentum": 0.0, "label_smoothing": 0.1, "stage_1/kernel_size": 5})
    assert model.optimizer.use_ema is False
    assert isinstance(model.loss, SparseLabelSmoothingCrossentropy)
    assert model.get_layer("stage1_block0_conv1").kernel.shape[:2] == (5, 5)


def test_label_smoothing_loss_matches_a_hand_computation():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], "float32")
    labels = np.array([0, 1])
    s = 0.1
    expected = []
    for p, label in zip(probabilities, labels):
        target = np.full(3, s / 3)
        target[label] += 1 - s
        expected.append(-(target * np.log(p)).sum())
    loss = SparseLabelSmoothingCrossentropy(s)
    assert float(loss(labels, probabilities)) == pytest.approx(np.mean(expected), rel=1e-5)
    assert float(loss(labels[:, None], probabilities)) == pytest.approx(np.mean(expected), rel=1e-5)
    assert float(SparseLabelSmoothingCrossentropy(0.0)(labels, probabilities)) == pytest.approx(
        -np.log(0.7 * 0.3) / 2, rel=1e-5)
    again = SparseLabelSmoothingCrossentropy.from_config(loss.get_config())
    assert again.label_smoothing == s
    with pytest.raises(ValueError, match="label_smoothing"):
        SparseLabelSmoothingCrossentropy(1.2)


def test_ema_option_sets_the_optimizer_flags():
    model, _ = build(tiny_space(ema_momentum=0.995))
    assert model.optimizer.use_ema is True
    assert model.optimizer.ema_momentum == pytest.approx(0.995)
    model, _ = build(tiny_space())
    assert model.optimizer.use_ema is False
    model, _ = build(MacroSearchSpace((8, 8, 1), 3, min_layers=1, max_layers=1, filters=4, ema_momentum=0.9))
    assert model.optimizer.use_ema is True


def test_default_recipe_is_the_wide_resnet_one():
    model, _ = build(tiny_space())
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.nesterov
    assert optimizer.momentum == pytest.approx(0.9)
    schedule = optimizer._learning_rate
    assert isinstance(schedule, CosineSchedule)
    assert (schedule.initial_learning_rate, schedule.warmup_epochs, schedule.unit) == (0.1, 2.0, "epoch")
    augment = model.get_layer("augment")
    assert (augment.max_shift, augment.flip, augment.erase) == (4, True, 0.5)
    kernels = [v for v in model.trainable_weights if "kernel" in v.path]
    assert len(kernels) == 1 + 3 * 2 + 2 + 1  # stem, 2 per block, 2 projections, classifier
    assert float(sum(model.losses)) == pytest.approx(
        5e-4 * sum(float((keras.ops.convert_to_numpy(v) ** 2).sum()) for v in kernels), rel=1e-5)
    assert model.loss == "sparse_categorical_crossentropy"


def _schedule(**kwargs):
    schedule = CosineSchedule(0.1, **kwargs)
    return lambda step: float(keras.ops.convert_to_numpy(schedule(step)))


def test_warmup_schedule_values():
    # per epoch: 10 epochs of 5 steps, 2 warm-up epochs (the Wide ResNet recipe), starting at step 100
    rate = _schedule(start_step=100, total_steps=50, warmup_epochs=2, unit="epoch", warmup_steps=10,
                     steps_per_epoch=5)
    for epoch in range(10):
        expected = 0.1 * (epoch + 1) / 2 if epoch < 2 else 0.05 * (1 + math.cos(math.pi * (epoch - 2) / 8))
        for step in (100 + 5 * epoch, 104 + 5 * epoch):
            assert rate(step) == pytest.approx(expected, rel=1e-5), (epoch, step)
    # per step: 4 warm-up steps of 20
    rate = _schedule(total_steps=20, warmup_steps=4, steps_per_epoch=5)
    assert [rate(s) for s in range(5)] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1], rel=1e-5)
    assert rate(12) == pytest.approx(0.05 * (1 + math.cos(math.pi * 8 / 16)), rel=1e-5)
    # warm-up, then constant
    rate = _schedule(total_steps=20, warmup_steps=4, decay=False)
    assert [rate(s) for s in (0, 3, 10, 19)] == pytest.approx([0.025, 0.1, 0.1, 0.1], rel=1e-5)
    # no warm-up: the plain cosine decay, unchanged
    rate = _schedule(total_steps=20)
    assert [rate(0), rate(10), rate(20)] == pytest.approx([0.1, 0.05, 0.0], abs=1e-6)


def test_fit_plans_the_warmup_per_epoch(tiny_data):
    space = tiny_space(augmentation="none")
    model, hp = build(space)
    seen = []

    class Rate(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch in (0, 2):
                seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    x, y = tiny_data
    space.fit(hp, model, x, y, epochs=6, batch_size=8, verbose=0, callbacks=[Rate()])
    expected = [0.05, 0.1] + [0.05 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    assert seen == pytest.approx([r for r in expected for _ in range(2)], rel=1e-5)
    # a fit shorter than twice the warm-up warms up for half of it
    seen.clear()
    space.fit(hp, model, x, y, epochs=2, batch_size=8, verbose=0, callbacks=[Rate()])
    assert seen == pytest.approx([0.1, 0.1, 0.1, 0.1], rel=1e-5)
    # outside a fit, the peak rate
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.1)


def test_macro_space_gets_the_shared_recipe(tiny_data, tmp_path):
    space = MacroSearchSpace((8, 8), 3, input_kind="image", min_layers=2, max_layers=2, filters=4, stem_filters=4,
                             rescale=1 / 255, optimizer="sgd_nesterov", learning_rate=0.05, weight_decay=1e-3,
                             warmup_epochs=1, label_smoothing=0.1, augmentation="translate_flip_erase")
    model, hp = build(space, {"layer_0/op": "sepconv3x3", "layer_1/op": "conv3x3", "dropout": 0.0})
    assert isinstance(model.optimizer, keras.optimizers.SGD) and model.optimizer.nesterov
    assert model.get_layer("layer_0_sepconv").depthwise_regularizer is not None
    assert len(model.losses) == 5  # stem, depthwise, pointwise, conv, classifier kernels
    x, y = tiny_data
    history = space.fit(hp, model, x, y, epochs=2, batch_size=8, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    path = str(tmp_path / "macro.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert len(loaded.losses) == 5
    assert isinstance(loaded.loss, SparseLabelSmoothingCrossentropy)
    # adamw: decoupled decay, no L2 term
    space = MacroSearchSpace((8, 8, 1), 3, min_layers=1, max_layers=1, filters=4, optimizer="adamw",
                             weight_decay=0.02)
    model, _ = build(space, {"layer_0/op": "conv3x3", "dropout": 0.0})
    assert model.optimizer.weight_decay == pytest.approx(0.02) and not model.losses
    model, _ = build(MacroSearchSpace((8, 8, 1), 3, min_layers=1, max_layers=1, filters=4, optimizer="adamw"),
                     {"layer_0/op": "conv3x3", "dropout": 0.0})
    assert model.optimizer.weight_decay == pytest.approx(1e-4) and not model.losses


def test_saved_model_round_trips(tiny_data, tmp_path):
    space = tiny_space(label_smoothing=0.1, ema_momentum=0.9, block_dropout=0.1)
    model, hp = build(space)
    x, y = tiny_data
    fit_with_schedule(model, "cosine", x, y, epochs=1, batch_size=8, verbose=0)
    path = str(tmp_path / "wrn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert loaded.count_params() == model.count_params()
    assert isinstance(loaded.loss, SparseLabelSmoothingCrossentropy) and loaded.loss.label_smoothing == 0.1
    assert loaded.optimizer.use_ema is True
    schedule = loaded.optimizer._learning_rate
    assert isinstance(schedule, CosineSchedule) and (schedule.warmup_epochs, schedule.unit) == (2.0, "epoch")
    assert loaded.get_layer("stem_conv").kernel_regularizer is not None
    # the loaded model trains on
    history = fit_with_schedule(loaded, "cosine", x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
