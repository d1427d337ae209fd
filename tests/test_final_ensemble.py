"""Final-phase ensemble of the best trials' networks (`search.final_training.ensemble`, issue 23)."""

import json

import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus import final_phase
from keras_nas_plus.config import ConfigError
from keras_nas_plus.config import validate_config
from keras_nas_plus.spaces._recipe import SparseLabelSmoothingCrossentropy

pytestmark = pytest.mark.core


def _net(name, filters=2, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(filters, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x), name=name)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6, 6, 1)).astype("float32"), rng.integers(0, 3, size=n).astype("int64")


def test_memberwise_loss_is_the_sum_of_the_members_losses():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 2, 4))
    p = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype("float32")
    y = np.array([0, 3, 1, 2, 0])
    ce = [-np.mean(np.log(p[np.arange(5), k, y])) for k in range(2)]
    loss = final_phase.MemberwiseLoss("sparse_categorical_crossentropy")
    assert float(loss(y, p)) == pytest.approx(ce[0] + ce[1], rel=1e-5)
    assert float(loss(y[:, None], p)) == pytest.approx(ce[0] + ce[1], rel=1e-5)  # labels (batch, 1)
    smooth = SparseLabelSmoothingCrossentropy(0.1)
    expected = float(smooth(y, p[:, 0])) + float(smooth(y, p[:, 1]))
    assert float(final_phase.MemberwiseLoss(smooth)(y, p)) == pytest.approx(expected, rel=1e-5)


def test_ensemble_predicts_the_mean_and_trains_each_member_as_if_alone():
    x, y = _data()
    a, b = _net("a", 2, seed=1), _net("b", 3, seed=2)
    alone = [_net("a", 2, seed=1), _net("b", 3, seed=2)]  # the same starting weights
    train, predict = final_phase.ensemble_models([a, b])
    expected = (a.predict(x, verbose=0) + b.predict(x, verbose=0)) / 2
    np.testing.assert_allclose(predict.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    stacked = train.predict(x, verbose=0)
    assert stacked.shape == (16, 2, 3)
    np.testing.assert_allclose(stacked[:, 1], b.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # One SGD step on the same batch: each member moves exactly as when it is trained alone.
    train.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for net in alone:
        net.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for joint, single in zip((a, b), alone):
        for w_joint, w_single in zip(joint.get_weights(), single.get_weights()):
            np.testing.assert_allclose(w_joint, w_single, rtol=1e-4, atol=1e-6)
    assert predict.evaluate(x, y, verbose=0, return_dict=True)["accuracy"] == pytest.approx(
        float(np.mean(np.argmax(predict.predict(x, verbose=0), axis=1) == y)))


def test_ensemble_models_errors():
    with pytest.raises(ValueError, match="at least 2 members, got 1"):
        final_phase.ensemble_models([_net("a")])
    with pytest.raises(ValueError, match="distinct names"):
        final_phase.ensemble_models([_net("a"), _net("a")])
    with pytest.raises(ValueError, match="`ensemble` must be an integer >= 1, got 0"):
        final_phase.FinalTraining({}, ensemble=0)


def test_config_key_is_validated():
    final = {"epochs": 1, "ensemble": 2}
    assert validate_config({"search": {"final_training": final}})["search"]["final_training"] == final
    for bad in (0, "two", 1.5, True):
        with pytest.raises(ConfigError, match="search.final_training.ensemble: expected an integer >= 1"):
            validate_config({"search": {"final_training": {"ensemble": bad}}})


def test_run_search_with_an_ensemble_of_the_two_best_trials(tmp_path):
    from test_config_cli import tiny_config

    from keras_nas_plus.run import run_search

    config = tiny_config(tmp_path, max_trials=3, epochs=2, final_training={
        "epochs": 1, "init": "best_trial", "ensemble": 2, "test_time_augmentation": "flip"})
    results = run_search(validate_config(config))
    phase = results["final_phase"]
    scored = sorted((t for t in results["trials"] if t["score"] is not None), key=lambda t: -t["score"])
    assert phase["ensemble"]["trials"][0] == results["best_trial_id"]
    assert len(phase["ensemble"]["trials"]) == 2 and phase["ensemble"]["trials"][1] != results["best_trial_id"]
    assert phase["ensemble"]["trials"][1] in [t["trial_id"] for t in scored[1:]]
    assert phase["init"] == "best_trial" and phase["epochs_trained"] == 1
    assert phase["params"] == sum(phase["ensemble"]["params"])
    assert all(0 <= a <= 1 for a in phase["ensemble"]["member_test_accuracy"])
    model = keras.saving.load_model(results["model_path"])
    data = np.load(config["data"]["dataset"])
    accuracy = float(np.mean(np.argmax(model.predict(data["x_test"], verbose=0), axis=1) == data["y_test"]))
    assert accuracy == pytest.approx(results["test_accuracy"], abs=1e-6)
    assert json.load(open(tmp_path / "run" / "results.json"))["final_phase"]["ensemble"]["trials"] == \
        phase["ensemble"]["trials"]


def test_ensemble_larger_than_the_search_uses_every_trial():
    hp = kt.HyperParameters()

    class Trial:
        def __init__(self, trial_id, score):
            self.trial_id, self.score, self.hyperparameters = trial_id, score, hp

    trials = {t.trial_id: t for t in (Trial("0", 0.5), Trial("1", 0.7), Trial("2", float("nan")))}

    class Oracle:
        def __init__(self):
            self.trials = trials

        def get_best_trials(self, n):
            return sorted(trials.values(), key=lambda t: -t.score if t.score == t.score else 0)[:n]

    class Tuner:
        oracle = Oracle()

    final = final_phase.FinalTraining({}, ensemble=5)
    assert [t.trial_id for t in final.ensemble_trials(Tuner(), trials["0"])] == ["0", "1"]


def test_ensemble_with_a_single_completed_trial_says_so(tmp_path):
    from test_config_cli import tiny_config

    from keras_nas_plus.run import run_search

    config = tiny_config(tmp_path, max_trials=1, final_training={"epochs": 1, "ensemble": 2})
    results = run_search(validate_config(config))
    assert results["final_phase"]["ensemble"] == {"trials": [results["best_trial_id"]], "asked": 2}
