"""Multi-view test-time augmentation (`test_time_augmentation: flip_shift`, issue 23)."""

import json

import keras
import numpy as np
import pytest

from keras_nas_plus.config import ConfigError
from keras_nas_plus.config import validate_config
from keras_nas_plus.estimation import tta as tta_module

pytestmark = pytest.mark.core


def _shifted(x, dy, dx):
    """Reference: row i, column j of the result is x[i - dy, j - dx], zero outside."""
    out = np.zeros_like(x)
    h, w = x.shape[1], x.shape[2]
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[:, i, j] = x[:, i - dy, j - dx]
    return out


def _reference_views(x, shift=2):
    views = []
    for image in (x, x[:, :, ::-1]):
        for dy in (-shift, 0, shift):
            for dx in (-shift, 0, shift):
                views.append(_shifted(image, dy, dx))
    return views


def _net(shape, classes=3):
    inputs = keras.Input(shape)
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Reshape(shape[:2] + (1,))(x) if len(shape) == 2 else x
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))


@pytest.mark.parametrize("shape", [(7, 6), (7, 6, 2)])
def test_image_views_are_the_shifted_image_and_mirror_with_zero_fill(shape):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 255, size=(3,) + shape).astype("uint8")
    layer = tta_module.ImageViews()
    assert layer.views == 18
    got = keras.ops.convert_to_numpy(layer(x))
    assert got.shape == (18 * 3,) + shape and got.dtype == np.uint8
    expected = _reference_views(x)
    for k, view in enumerate(expected):
        np.testing.assert_array_equal(got[3 * k: 3 * k + 3], view)
    np.testing.assert_array_equal(got[:3 * 1], _shifted(x, -2, -2))  # view-major, first offset (-2, -2)
    np.testing.assert_array_equal(got[3 * 4: 3 * 5], x)  # the unshifted image is view 4
    first = got[:3]  # moved up and left by 2: the last two rows and columns are uncovered, zero
    assert (first[:, -2:] == 0).all() and (first[:, :, -2:] == 0).all() and (first[:, :-2, :-2] > 0).all()
    assert tta_module.ImageViews(shift=0, flip=False).views == 1
    assert tta_module.ImageViews(shift=1, flip=False).views == 9
    assert tta_module.ImageViews(shift=0).views == 2
    assert layer.compute_output_shape((5,) + shape) == (90,) + shape


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="`shift` must be an integer >= 0"):
        tta_module.ImageViews(shift=-1)
    with pytest.raises(ValueError, match="`shift`"):
        tta_module.ImageViews(shift=1.5)
    with pytest.raises(ValueError, match="`flip` must be a bool"):
        tta_module.ImageViews(flip="yes")
    with pytest.raises(ValueError, match="`views` must be an integer >= 1, got 0"):
        tta_module.ViewMean(0)
    with pytest.raises(ValueError, match="needs image inputs"):
        flat = keras.Input((4,))
        tta_module.with_view_tta(keras.Model(flat, keras.layers.Dense(2, activation="softmax")(flat)))


def test_view_mean_averages_view_major_blocks():
    p = np.arange(12, dtype="float32").reshape(6, 2)  # 3 views of a batch of 2
    got = keras.ops.convert_to_numpy(tta_module.ViewMean(3)(p))
    np.testing.assert_allclose(got, [[4.0, 5.0], [6.0, 7.0]])
    logits = np.array([[0.0, 1.0], [2.0, 0.0]], "float32")  # 2 views of one image
    soft = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    got = keras.ops.convert_to_numpy(tta_module.ViewMean(2, from_logits=True)(logits))
    np.testing.assert_allclose(got, soft.mean(axis=0, keepdims=True), rtol=1e-5)


def test_wrapped_model_predicts_the_mean_over_18_views_and_reloads(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 255, size=(5, 8, 8)).astype("uint8")
    model = _net((8, 8))
    wrapped = tta_module.with_view_tta(model)
    expected = np.mean([model.predict(v, verbose=0) for v in _reference_views(x)], axis=0)
    got = wrapped.predict(x, verbose=0)
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(got, model.predict(x, verbose=0), atol=1e-4)  # the views matter
    path = str(tmp_path / "m.keras")
    wrapped.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), got, rtol=1e-5, atol=1e-6)
    assert reloaded.get_layer("test_time_views").views == 18


def test_config_accepts_flip_shift_and_names_a_bad_value():
    final = {"epochs": 1, "test_time_augmentation": "flip_shift"}
    assert validate_config({"search": {"final_training": final}})["search"]["final_training"] == final
    with pytest.raises(ConfigError, match=r"test_time_augmentation: expected none, flip .* or flip_shift .*got 'crop'"):
        validate_config({"search": {"final_training": {"test_time_augmentation": "crop"}}})


def test_run_search_with_flip_shift_saves_the_wrapped_model(tmp_path, capsys):
    from test_config_cli import tiny_config

    from keras_nas_plus.run import run_search

    config = tiny_config(tmp_path, max_trials=1, epochs=1,
                         final_training={"epochs": 1, "test_time_augmentation": "flip_shift"})
    results = run_search(validate_config(config))
    info = results["test_time_augmentation"]
    printed = capsys.readouterr().out
    assert (f"test accuracy = {results['test_accuracy']:.4f} (flip_shift test-time augmentation, 18 views; "
            f"{info['test_accuracy_without_tta']:.4f} without)") in printed
    assert info["type"] == "flip_shift" and info["views"] == 18
    assert info["test_accuracy"] == results["test_accuracy"]
    assert 0 <= info["test_accuracy_without_tta"] <= 1
    model = keras.saving.load_model(results["model_path"])
    data = np.load(config["data"]["dataset"])
    x, y = data["x_test"], data["y_test"]
    accuracy = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y))
    assert accuracy == pytest.approx(results["test_accuracy"], abs=1e-6)
    saved = json.load(open(tmp_path / "run" / "results.json"))
    assert saved["test_time_augmentation"]["views"] == 18
