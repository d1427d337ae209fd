"""The final phase: after a NaN loss (`LastFiniteState`, `run._final_fit`), its time budget and progress lines.

A callback writes NaN into the last layer's kernel at the start of a chosen
epoch, so that epoch's training loss is NaN (on every backend).
"""

import time

import numpy as np
import keras
import pytest

from keras_nas_plus import run
from keras_nas_plus.spaces._training import CosineSchedule
from keras_nas_plus.spaces._training import LastFiniteState
from keras_nas_plus.spaces._training import fit_with_schedule

pytestmark = pytest.mark.core


class Poison(keras.callbacks.Callback):
    """NaN weights at the start of epoch `epoch` of the first `fits` fits."""

    fits_poisoned = 0

    def __init__(self, epoch, fits=1):
        super().__init__()
        self.epoch, self.fits = epoch, fits

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch and Poison.fits_poisoned < self.fits:
            Poison.fits_poisoned += 1
            kernel = self.model.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def data(n=96):
    rng = np.random.default_rng(0)
    x = rng.random((n, 4)).astype("float32")
    y = (x.sum(1) > 2).astype("int32")
    return x, y


def small_model(rate=0.01):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(CosineSchedule(rate)), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class Space:
    """The two methods `_final_fit` uses of a search space."""

    def __init__(self, epoch, fits=1):
        self.epoch, self.fits, self.built = epoch, fits, 0
        Poison.fits_poisoned = 0

    def build(self, hp):
        self.built += 1
        return small_model()

    def fit(self, hp, model, *args, **kwargs):
        kwargs["callbacks"] = list(kwargs["callbacks"]) + [Poison(self.epoch, self.fits)]
        return fit_with_schedule(model, "cosine", *args, **kwargs)


def test_last_finite_state_restores_weights_and_optimizer_of_the_last_finite_epoch():
    x, y = data()
    model = small_model()
    snapshots = {}

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots[epoch] = (self.model.get_weights(), int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)))

    Poison.fits_poisoned = 0
    guard = LastFiniteState()
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=[Poison(3), Snapshot(), guard])
    assert np.isnan(history.history["loss"][3]) and np.isfinite(history.history["loss"][:3]).all()
    assert len(history.history["loss"]) == 4  # stopped at the NaN epoch
    assert (guard.diverged_epoch, guard.kept_epoch) == (3, 2) and np.isnan(guard.loss)
    weights, iterations = snapshots[2]
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == iterations == 18  # 3 epochs x 6 steps
    assert np.isfinite(model.evaluate(x, y, verbose=0)).all()


def test_final_fit_goes_on_from_the_last_finite_epoch_with_half_the_rate(capsys):
    x, y = data()
    space = Space(epoch=3)
    split = {"x_train": x[:64], "y_train": y[:64], "x_val": x[64:], "y_val": y[64:]}
    model, trained, divergences, stopped = run._final_fit(space, None, split, 10, 16, None, 1)
    assert trained == 10 and stopped is False and space.built == 1
    assert divergences == [{"epoch": 4, "loss": "nan", "kept_epochs": 3, "learning_rate": 0.005}]
    assert model.optimizer._learning_rate.initial_learning_rate == 0.005
    assert np.isfinite(model.evaluate(x, y, verbose=0)).all()
    assert "training loss nan at epoch 4; going on from epoch 3 with learning rate 0.005" in capsys.readouterr().out


def test_final_fit_retries_in_float32_when_mixed_precision_diverges_at_once():
    x, y = data()
    split = {"x_train": x[:64], "y_train": y[:64], "x_val": x[64:], "y_val": y[64:]}
    policy = keras.config.dtype_policy().name
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        space = Space(epoch=0, fits=5)  # every fit diverges in its first epoch
        model, trained, divergences, _ = run._final_fit(space, None, split, 10, 16, None, 0)
        assert keras.config.dtype_policy().name == "float32"
    finally:
        keras.config.set_dtype_policy(policy)
    assert trained == 0 and space.built == 3
    assert divergences == [
        {"epoch": 1, "loss": "nan", "kept_epochs": 0, "precision": "float32", "learning_rate": 0.01},
        {"epoch": 1, "loss": "nan", "kept_epochs": 0, "learning_rate": 0.005},
        {"epoch": 1, "loss": "nan", "kept_epochs": 0},
    ]


class SlowEpochs(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.25)


class SlowSpace(Space):
    """Epochs of at least 0.25 s, never poisoned."""

    def fit(self, hp, model, *args, **kwargs):
        kwargs["callbacks"] = list(kwargs["callbacks"]) + [SlowEpochs()]
        return fit_with_schedule(model, "cosine", *args, **kwargs)


def test_final_fit_reports_a_stop_by_the_schedule_fitted_to_the_time_budget():
    x, y = data()
    split = {"x_train": x[:64], "y_train": y[:64], "x_val": x[64:], "y_val": y[64:]}
    # 100 epochs asked, 2 s of budget at >= 0.25 s an epoch: the cosine plan ends training early.
    _, trained, divergences, stopped = run._final_fit(SlowSpace(epoch=-1), None, split, 100, 16, 2.0, 0)
    assert 2 <= trained <= 8 and divergences == [] and stopped is True
    # A budget that the asked epochs fit in is not a stop.
    _, trained, _, stopped = run._final_fit(SlowSpace(epoch=-1), None, split, 2, 16, 30.0, 0)
    assert trained == 2 and stopped is False


def test_final_progress_prints_epoch_seconds_and_loss(capsys):
    from keras_nas_plus.spaces._training import FinalProgress

    x, y = data()
    model = small_model()
    started = time.time()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0,
              callbacks=[FinalProgress(started, first_epoch=4, budget=340, every=0.0)])
    lines = [line for line in capsys.readouterr().out.splitlines() if "final phase" in line]
    assert [line.split(",")[0].strip() for line in lines] == [
        "final phase: epoch 5", "final phase: epoch 6", "final phase: epoch 7"]
    assert all(" of 340 s, loss " in line for line in lines), lines
    # at most one line per `every` seconds
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[FinalProgress(time.time(), every=3600)])
    assert "final phase" not in capsys.readouterr().out
