"""Final-phase options: init from the best trial, flip test-time augmentation (issue 23)."""

import json

import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus import final_phase
from keras_nas_plus.config import ConfigError
from keras_nas_plus.config import validate_config
from keras_nas_plus.tuners import RandomSearch

pytestmark = pytest.mark.core


def _images(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = rng.normal(size=(n, 6, 6, 1)).astype("float32")
    for c in range(3):
        x[y == c, :, c * 2: c * 2 + 2] += 2.0  # an asymmetric (left/right) class band
    return x, y.astype("int64")


def _build(hp):
    filters = hp.Choice("filters", [2, 4])
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(filters, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _with_filters(hp, filters):
    hp = hp.copy()
    hp.values["filters"] = filters
    return hp


def _recompiled(model, optimizer):
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_flip_tta_output_is_the_mean_of_the_two_softmaxes_and_reloads(tmp_path):
    x, _ = _images(8)
    model = _build(kt.HyperParameters())
    tta = final_phase.with_flip_tta(model)
    expected = (model.predict(x, verbose=0) + model.predict(x[:, :, ::-1, :], verbose=0)) / 2
    got = tta.predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, model.predict(x, verbose=0))  # the flip matters
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    path = str(tmp_path / "m.keras")
    tta.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), got, rtol=1e-5, atol=1e-6)
    # From logits: softmax first.
    layer = final_phase.MeanProbabilities(from_logits=True)
    a, b = np.array([[0.0, 1.0]], "float32"), np.array([[2.0, 0.0]], "float32")
    soft = lambda v: np.exp(v) / np.exp(v).sum()  # noqa: E731
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer([a, b])), (soft(a) + soft(b)) / 2, rtol=1e-5)
    with pytest.raises(ValueError, match="needs image inputs"):
        flat = keras.Input((4,))
        final_phase.with_flip_tta(keras.Model(flat, keras.layers.Dense(2, activation="softmax")(flat)))


def test_best_trial_weights_give_the_best_trials_val_accuracy(tmp_path):
    x, y = _images(64)
    xv, yv = _images(30, seed=1)
    tuner = RandomSearch(_build, objective="val_accuracy", max_trials=2, seed=0, directory=str(tmp_path),
                         project_name="p", latency_runs=0)
    tuner.search(x, y, validation_data=(xv, yv), epochs=3, batch_size=16, verbose=0)
    best = tuner.oracle.get_best_trials(1)[0]
    path, reason = final_phase.init_weights_path(tuner, best.trial_id, {"init": "best_trial"})
    assert reason is None and path.endswith(".weights.h5")
    model = _build(best.hyperparameters.copy())
    fresh = model.evaluate(xv, yv, batch_size=16, verbose=0, return_dict=True)["accuracy"]
    assert final_phase.load_initial_weights(model, path)
    start = model.evaluate(xv, yv, batch_size=16, verbose=0, return_dict=True)["accuracy"]
    assert start == pytest.approx(best.score, abs=1e-6)
    assert start != pytest.approx(fresh) or best.score == pytest.approx(fresh)
    # Fallbacks to scratch, with the reason.
    notes = []
    other_filters = 2 if best.hyperparameters.values["filters"] == 4 else 4
    narrower = kt.HyperModel()
    narrower.build = lambda hp: _build(_with_filters(hp, other_filters))
    for settings, final_space, why in (({"init": "best_trial", "width_multiplier": 2}, None, "width_multiplier"),
                                       ({"init": "best_trial"}, narrower, "changes the network's weights"),
                                       ({"init": "scratch"}, None, None)):
        p, r = final_phase.init_weights_path(tuner, best.trial_id, settings, final_space, log=notes.append)
        assert p is None and (r is None if why is None else why in r)
    assert len(notes) == 2 and "training from scratch" in notes[0]
    # An override of the recipe only (here the optimizer) keeps the trial's weights.
    recipe_only = kt.HyperModel()
    recipe_only.build = lambda hp: _recompiled(_build(hp), "sgd")
    p, r = final_phase.init_weights_path(tuner, best.trial_id, {"init": "best_trial"}, recipe_only)
    assert p == path and r is None
    # Weights of another shape: not loaded, and said so.
    other = best.hyperparameters.copy()
    other.values["filters"] = 2 if other.values["filters"] == 4 else 4
    assert not final_phase.load_initial_weights(_build(other), path, log=notes.append)
    assert "do not fit" in notes[-1]


def test_config_keys_are_validated():
    final = {"epochs": 1, "init": "best_trial", "test_time_augmentation": "flip"}
    assert validate_config({"search": {"final_training": final}})["search"]["final_training"] == final
    with pytest.raises(ConfigError, match="search.final_training.init: expected scratch or best_trial"):
        validate_config({"search": {"final_training": {"init": "warm"}}})
    with pytest.raises(ConfigError, match="search.final_training.test_time_augmentation: expected none, flip"):
        validate_config({"search": {"final_training": {"test_time_augmentation": "crop"}}})


def test_run_search_with_best_trial_init_and_flip_tta(tmp_path):
    from test_config_cli import tiny_config

    from keras_nas_plus.run import run_search

    config = tiny_config(tmp_path, max_trials=2, epochs=2,
                         final_training={"epochs": 1, "init": "best_trial", "test_time_augmentation": "flip"})
    results = run_search(validate_config(config))
    assert results["final_phase"]["init"] == "best_trial" and "init_fallback" not in results["final_phase"]
    tta = results["test_time_augmentation"]
    assert tta["type"] == "flip" and tta["test_accuracy"] == results["test_accuracy"]
    assert 0 <= tta["test_accuracy_without_tta"] <= 1
    model = keras.saving.load_model(results["model_path"])
    assert any(isinstance(layer, final_phase.HorizontalFlip) for layer in model.layers)
    data = np.load(config["data"]["dataset"])
    x, y = data["x_test"], data["y_test"]
    accuracy = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y))
    assert accuracy == pytest.approx(results["test_accuracy"], abs=1e-6)
    saved = json.load(open(tmp_path / "run" / "results.json"))
    assert saved["final_phase"]["init"] == "best_trial"
    # A width multiplier falls back to scratch, and says why.
    (tmp_path / "w").mkdir()
    config = tiny_config(tmp_path / "w", max_trials=1, final_training={"epochs": 1, "init": "best_trial",
                                                                       "width_multiplier": 2})
    results = run_search(validate_config(config))
    assert results["final_phase"]["init"] == "scratch"
    assert "width_multiplier" in results["final_phase"]["init_fallback"]
    assert results["test_time_augmentation"] == {"type": "none"}
    # A final_training.space override of the recipe keeps the trial's weights; one of the network does not.
    for name, override, init in (("lr", {"learning_rate": 0.005}, "best_trial"), ("stem", {"stem_filters": 8}, "scratch")):
        (tmp_path / name).mkdir()
        config = tiny_config(tmp_path / name, max_trials=1,
                             final_training={"epochs": 1, "init": "best_trial", "space": override})
        final = run_search(validate_config(config))["final_phase"]
        assert final["init"] == init and final["space_overrides"] == override
        assert ("init_fallback" in final) == (init == "scratch")
    assert "final_training.space changes the network's weights" in final["init_fallback"]
