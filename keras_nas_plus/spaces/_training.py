"""Training helpers shared by the search spaces."""

import math

import keras

SCHEDULES = ("constant", "cosine")


class CosineDecay(keras.callbacks.Callback):
    """Cosine learning-rate decay to 0 over the whole `fit`, updated per batch.

    The initial rate is the optimizer's rate when training starts; the total
    number of steps is `epochs * steps` of the `fit` call, so the schedule
    adapts to however many epochs a trial (or the final phase) trains.

    Reference:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017 (cosine annealing, without restarts).
    """

    def __init__(self):
        super().__init__()
        self._initial = None
        self._step = 0
        self._total = None

    def on_train_begin(self, logs=None):
        self._initial = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        epochs = self.params.get("epochs") or 1
        steps = self.params.get("steps") or 1
        self._total = max(1, int(epochs) * int(steps))
        self._step = 0

    def on_train_batch_begin(self, batch, logs=None):
        progress = min(1.0, self._step / self._total)
        rate = 0.5 * self._initial * (1.0 + math.cos(math.pi * progress))
        self.model.optimizer.learning_rate.assign(rate)
        self._step += 1

    def on_train_end(self, logs=None):
        # Leave the optimizer as found, so a later fit starts from the same rate.
        if self._initial is not None:
            self.model.optimizer.learning_rate.assign(self._initial)


def fit_with_schedule(model, schedule, *args, **kwargs):
    """`model.fit` with the learning-rate `schedule` (`constant`/`cosine`)."""
    if schedule == "cosine":
        callbacks = list(kwargs.get("callbacks") or [])
        callbacks.append(CosineDecay())
        kwargs["callbacks"] = callbacks
    return model.fit(*args, **kwargs)
