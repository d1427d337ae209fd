"""Tests of keras_nas_plus.callbacks.LearningCurveExtrapolation."""

import copy
import json
import os

import keras
import numpy as np
import pytest

from keras_nas_plus.callbacks import LearningCurveExtrapolation
from keras_nas_plus.callbacks import infer_mode

T = 40


class _FakeModel:
    stop_training = False


def replay(cb, values, monitor="val_accuracy", epochs=T):
    """Feeds a curve to the callback as Keras would; returns epochs trained."""
    model = _FakeModel()
    cb.set_model(model)
    cb.set_params({"epochs": epochs, "verbose": 0, "steps": 1})
    cb.on_train_begin()
    n = 0
    for epoch, v in enumerate(values[:epochs]):
        cb.on_epoch_end(epoch, {monitor: v, "loss": 1.0})
        n += 1
        if model.stop_training:
            break
    cb.on_train_end()
    return n


def acc(asymptote, noise=0.002, seed=0):
    x = np.arange(1, T + 1, dtype=float)
    return asymptote - 0.4 * x**-0.7 + np.random.default_rng(seed).normal(0, noise, T)


def loss(asymptote, noise=0.003, seed=0):
    x = np.arange(1, T + 1, dtype=float)
    return asymptote + 1.5 / x + np.random.default_rng(seed).normal(0, noise, T)


@pytest.mark.core
def test_stops_bad_accuracy_run_and_keeps_good_one():
    bad = LearningCurveExtrapolation(target=0.90)
    n_bad = replay(bad, acc(0.80))
    assert bad.stopped and n_bad < 12 and n_bad >= 5
    assert bad.stopped_epoch == n_bad - 1
    assert bad.epochs_saved == T - n_bad
    assert abs(bad.predicted_final - (0.80 - 0.4 * 40**-0.7)) < 0.05  # from 5 epochs
    assert bad.probability < 0.05
    good = LearningCurveExtrapolation(target=0.90)
    assert replay(good, acc(0.95)) == T
    assert not good.stopped and good.stopped_epoch == 0 and good.epochs_saved == 0
    assert len(good.curve) == T


@pytest.mark.core
def test_min_mode_loss_both_ways():
    cb = LearningCurveExtrapolation(monitor="val_loss", target=0.2)
    assert cb.resolved_mode == "min"
    assert replay(cb, loss(0.5), monitor="val_loss") < 12 and cb.stopped
    cb = LearningCurveExtrapolation(monitor="val_loss", target=0.6)
    assert replay(cb, loss(0.3), monitor="val_loss") == T and not cb.stopped


@pytest.mark.core
def test_min_epochs_and_max_epochs():
    cb = LearningCurveExtrapolation(target=0.99, min_epochs=8)
    assert replay(cb, [0.1] * T) == 8
    cb = LearningCurveExtrapolation(target=0.99, max_epochs=10)  # horizon of prediction, not of fit
    replay(cb, acc(0.8))
    assert cb.stopped and cb.epochs_saved == 10 - len(cb.curve)


@pytest.mark.core
def test_no_target_never_stops_but_predicts():
    cb = LearningCurveExtrapolation()
    assert replay(cb, acc(0.8)) == T
    assert cb.predicted_final is not None and cb.probability is None


@pytest.mark.core
@pytest.mark.parametrize(
    "values",
    [
        [float("nan")] * T,
        [float("inf")] * T,
        [None] * T,
        [1e308] * T,
        ["x"] * T,
        [0.5],
        list(np.random.default_rng(1).uniform(0, 1, T)),
    ],
)
def test_pathological_logs_never_raise(values):
    cb = LearningCurveExtrapolation(target=0.5, min_epochs=1)
    n = replay(cb, values)
    assert 1 <= n <= T


@pytest.mark.core
def test_missing_monitor_never_raises():
    cb = LearningCurveExtrapolation(monitor="val_auc", target=0.9)
    assert replay(cb, acc(0.9), monitor="val_accuracy") >= 5  # logs lack val_auc: all NaN


@pytest.mark.core
def test_deepcopy_and_no_model_after_training():
    cb = LearningCurveExtrapolation(target=0.9, reference_curves=[acc(0.9, seed=2)])
    model = _FakeModel()
    cb.set_model(model)
    cb2 = copy.deepcopy(cb)  # during training: the copy holds no model
    assert cb2._model is None and cb2.target == 0.9 and len(cb2.reference_curves) == 1
    replay(cb, acc(0.8))
    assert cb._model is None
    cb3 = copy.deepcopy(cb)
    assert cb3.stopped == cb.stopped and cb3.curve == cb.curve


@pytest.mark.core
def test_config_round_trip():
    cb = LearningCurveExtrapolation(monitor="val_loss", mode="min", target=0.3, threshold=0.1, min_epochs=3,
                                    max_epochs=20, reference_curves=[loss(0.3)[:20]])
    cfg = cb.get_config()
    json.dumps(cfg)
    cb2 = LearningCurveExtrapolation.from_config(cfg)
    assert cb2.get_config() == cfg
    np.testing.assert_allclose(cb2.reference_curves[0], loss(0.3)[:20])


@pytest.mark.core
@pytest.mark.parametrize(
    "kwargs",
    [
        {"monitor": ""},
        {"mode": "up"},
        {"target": "high"},
        {"threshold": 1.5},
        {"min_epochs": 0},
        {"max_epochs": 0},
        {"prior_weight": -0.1},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        LearningCurveExtrapolation(**kwargs)


@pytest.mark.core
def test_infer_mode():
    assert infer_mode("val_accuracy") == "max"
    assert infer_mode("val_sparse_categorical_accuracy") == "max"
    assert infer_mode("val_auc") == "max"
    assert infer_mode("val_loss") == "min"
    assert infer_mode("mae") == "min"


def _tiny_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.integers(0, 2, size=(64,))  # random labels: nothing to learn
    return x, y


@pytest.mark.core
def test_plain_fit_stops_clearly_bad_run():
    x, y = _tiny_data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    cb = LearningCurveExtrapolation(target=0.99, min_epochs=3)
    hist = model.fit(x, y, validation_data=(x, y), epochs=30, batch_size=64, verbose=0, callbacks=[cb])
    assert cb.stopped
    assert len(hist.history["val_accuracy"]) == len(cb.curve) < 30
    assert cb.epochs_saved == 30 - len(cb.curve)
    assert cb._model is None


@pytest.mark.core
def test_tuner_search_stops_clearly_bad_trial(tmp_path):
    from keras_nas_plus.tuners import GridSearch

    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")  # learnable

    def build(hp):
        lr = hp.Choice("learning_rate", [0.3, 1e-7], ordered=False)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(lr), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    keras.utils.set_random_seed(1)
    tuner = GridSearch(build, objective="val_accuracy", max_trials=2, directory=str(tmp_path),
                       project_name="lce", learning_curve={"min_epochs": 3})
    tuner.search(x, y, validation_data=(x, y), epochs=20, batch_size=96, verbose=0)
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id))
    assert [t.status for t in trials] == ["COMPLETED", "COMPLETED"]
    good, bad = trials
    assert good.hyperparameters.get("learning_rate") == 0.3
    info_good = tuner.get_trial_info(good.trial_id)["learning_curve"]
    info_bad = tuner.get_trial_info(bad.trial_id)["learning_curve"]
    assert not info_good["stopped"] and info_good["epochs_trained"] == 20
    assert info_bad["stopped"] and info_bad["epochs_trained"] < 20
    assert info_bad["target"] == pytest.approx(good.score)
    assert bad.metrics.exists("predicted_final_val_accuracy")
    assert bad.score < good.score
    summary = tuner.learning_curve_summary()
    assert summary["stopped"] == 1 and summary["epochs_saved"] == 20 - info_bad["epochs_trained"]
    assert os.path.exists(tuner._trial_info_fname(bad.trial_id))


@pytest.mark.core
def test_references_gains_keep_a_late_bloomer_and_stop_a_bad_run_in_both_modes():
    x = np.arange(1, T + 1, dtype=float)
    rng = np.random.default_rng(5)
    refs = [0.90 + d - 0.06 * (1 - np.log(x) / np.log(T)) - 0.30 * np.exp(-x) + rng.normal(0, 0.003, T)
            for d in rng.uniform(-0.005, 0.005, 8)]  # ~0.86 after 5 epochs, ~0.90 after 40
    target = max(r[-1] for r in refs)
    for mode, sign, monitor in (("max", 1.0, "val_accuracy"), ("min", -1.0, "val_error")):
        s = (lambda v: np.asarray(v)) if sign > 0 else (lambda v: 1.0 - np.asarray(v))
        kw = dict(monitor=monitor, mode=mode, target=float(s(target)), reference_curves=[s(r) for r in refs])
        late = LearningCurveExtrapolation(**kw)
        # the first reference's own curve: its start looks saturating, the references' gains say otherwise
        n_late = replay(late, s(refs[0]), monitor=monitor)
        assert n_late > 5 and late.probability is not None
        bad = LearningCurveExtrapolation(**kw)
        assert replay(bad, s(np.asarray(refs[0]) - 0.06), monitor=monitor) == 5 and bad.stopped
        assert abs(bad.predicted_final - float(s(refs[0][-1] - 0.06))) < 0.02  # from 5 epochs
        clone = copy.deepcopy(late)
        assert clone.reference_curves == late.reference_curves and clone.model is None
        assert clone.predict().mean == pytest.approx(late.predict().mean)
