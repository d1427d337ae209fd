"""Our callbacks leave Keras free to queue training steps ahead of the device.

Keras converts every step's logs to Python floats, in step with the device, as soon as one
callback of a `fit` overrides a batch-end hook (`CallbackList._configure_async_dispatch`); the
host then waits for each step before it dispatches the next. The callbacks the search and the
final phase add must keep Keras' default batch-end hooks.
"""

import keras
import keras_tuner as kt
import numpy as np
import pytest
from keras.src import backend as keras_backend
from keras.src.callbacks.callback_list import CallbackList
from keras.src.utils.python_utils import is_default

from keras_nas_plus import RegularizedEvolution
from keras_nas_plus.engine.trial_support import StopOnNonFiniteLoss
from keras_nas_plus.engine.trial_support import _EpochTunerCallback
from keras_nas_plus.spaces import MacroSearchSpace
from keras_nas_plus.spaces._training import CosinePlanner, CosineSchedule, LastFiniteState, TimeBudget

pytestmark = pytest.mark.core


def _callbacks():
    return [TimeBudget(10.0), LastFiniteState(), CosinePlanner(CosineSchedule(0.1), TimeBudget(10.0)),
            _EpochTunerCallback(None, None)]


def test_our_callbacks_keep_the_default_batch_end_hooks():
    for callback in _callbacks():
        assert is_default(callback.on_train_batch_end), type(callback).__name__
        assert is_default(callback.on_batch_end), type(callback).__name__
    # The trials' NaN guard needs every batch's loss: Keras reads it on a worker thread.
    assert StopOnNonFiniteLoss.async_safe is True
    callbacks = _callbacks() + [StopOnNonFiniteLoss()]
    assert CallbackList(callbacks)._async_train is bool(keras_backend.IS_THREAD_SAFE)
    assert CallbackList([keras.callbacks.TerminateOnNaN()])._async_train is False


def test_non_finite_loss_stops_the_fit_without_reading_self_model():
    class Model:
        stop_training = False

    model = Model()
    guard = StopOnNonFiniteLoss()
    guard.set_model(model)
    guard.on_train_batch_end(0, {"loss": 0.5})
    assert model.stop_training is False
    guard.on_train_batch_end(1, {"loss": float("nan")})
    assert model.stop_training is True
    model.stop_training = False
    guard.on_train_batch_end(2, {"loss": float("inf")})
    assert model.stop_training is True


@pytest.fixture
def async_flags(monkeypatch):
    flags = []
    configure = CallbackList._configure_async_dispatch

    def recording(self, callbacks):
        configure(self, callbacks)
        flags.append(self._async_train)

    monkeypatch.setattr(CallbackList, "_configure_async_dispatch", recording)
    return flags


def test_search_and_final_phase_fits_dispatch_asynchronously(tiny_images, tmp_path, async_flags):
    def build(hp):
        model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(),
                                  keras.layers.Dense(hp.Int("units", 4, 8, step=4)), keras.layers.Dense(3)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        return model

    (x, y), (xv, yv), _ = tiny_images
    tuner = RegularizedEvolution(build, objective="val_accuracy", max_trials=2, population_size=2, sample_size=1,
                                 seed=1, directory=str(tmp_path), project_name="p")
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=20, verbose=0)
    assert len(async_flags) >= 2  # one fit per trial at least
    space = MacroSearchSpace((8, 8, 1), 3, min_layers=1, max_layers=1, filters=4, learning_rate=0.01)
    hp = kt.HyperParameters()
    model = space.build(hp)
    space.fit(hp, model, np.zeros((8, 8, 8, 1), "float32"), np.zeros(8, "int32"), epochs=2, batch_size=4,
              verbose=0, callbacks=[TimeBudget(100.0), LastFiniteState()])
    assert async_flags and all(flag is bool(keras_backend.IS_THREAD_SAFE) for flag in async_flags)


def test_time_budget_stops_before_the_next_batch():
    space = MacroSearchSpace((8, 8, 1), 3, min_layers=1, max_layers=1, filters=4, learning_rate=0.01)
    hp = kt.HyperParameters()
    model = space.build(hp)
    budget = TimeBudget(0.3)
    now = [0.0]
    budget.clock = lambda: now[0]
    batches = []

    class Tick(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            batches.append(batch)
            now[0] += 0.125  # every batch takes 0.125 s

    x, y = np.zeros((16, 8, 8, 1), "float32"), np.zeros(16, "int32")
    history = space.fit(hp, model, x, y, epochs=3, batch_size=2, verbose=0, callbacks=[budget, Tick()])
    # Checked before each batch: 0.375 s >= 0.3 s before the fourth, which still runs.
    assert batches == [0, 1, 2, 3] and budget.stopped_epoch == 0 and len(history.epoch) == 1


def test_time_budget_allows_for_a_host_that_runs_ahead_of_the_device():
    # Asynchronous dispatch, simulated: the host queues each batch in 0.01 s, and the device's
    # 0.25 s per batch only shows at the epoch's end, where Keras waits for it.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    budget = TimeBudget(2.6)
    now = [0.0]
    budget.clock = lambda: now[0]
    seen = []

    class Device(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append((self.epoch, batch))
            now[0] += 0.01

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.started = epoch, now[0]

        def on_epoch_end(self, epoch, logs=None):
            now[0] = self.started + 0.25 * sum(1 for e, _ in seen if e == epoch)

    history = model.fit(np.zeros((8, 2)), np.zeros(8), batch_size=2, epochs=10, verbose=0,
                        callbacks=[Device(), budget])
    # Epochs 0 and 1 end at 1.0 s and 2.0 s (0.25 s per batch). In epoch 2 the device ends
    # batch 2 at 2.75 s >= 2.6 s: the check before batch 3 stops training after it, although
    # the host's clock then reads 2.03 s.
    assert budget.stopped_epoch == 2 and len(history.epoch) == 3
    assert [b for e, b in seen if e == 2] == [0, 1, 2, 3]
