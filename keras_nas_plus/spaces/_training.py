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


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class RandomShift(keras.layers.Layer):
    """Random translation (zero fill) and optional horizontal flip, per example.

    Active in training only. Written with `keras.ops.einsum` over one-hot
    shift matrices, so it is cheap on every backend (Keras'
    `RandomTranslation` goes through an interpolating affine transform that
    was measured at over 50 s per epoch of Fashion-MNIST under JAX on an H200,
    against 0.4 s per epoch without augmentation).

    Args:
        max_shift: int >= 0, largest shift in pixels along each axis.
        flip: bool, default False. Also flip horizontally with probability 0.5.
        seed: int or None. Random seed.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        Same as the input.
    """

    def __init__(self, max_shift=3, flip=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f"`max_shift` must be an integer >= 0, got {max_shift!r}.")
        self.max_shift = max_shift
        self.flip = bool(flip)
        self.seed = seed
        self._generator = keras.random.SeedGenerator(seed)

    def _shift_matrix(self, batch, size):
        k = self.max_shift
        offsets = keras.random.randint((batch,), 0, 2 * k + 1, seed=self._generator)
        # row i of the output takes padded row i + offset
        positions = keras.ops.arange(size)[None, :] + offsets[:, None]
        return keras.ops.one_hot(positions, size + 2 * k, dtype=self.compute_dtype)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = inputs
        batch = keras.ops.shape(x)[0]
        height, width = x.shape[1], x.shape[2]
        if self.max_shift:
            k = self.max_shift
            x = keras.ops.pad(x, [[0, 0], [k, k], [k, k], [0, 0]])
            rows = self._shift_matrix(batch, height)
            cols = self._shift_matrix(batch, width)
            x = keras.ops.einsum("bip,bpqc->biqc", rows, x)
            x = keras.ops.einsum("bjq,biqc->bijc", cols, x)
        if self.flip:
            coin = keras.random.uniform((batch, 1, 1, 1), seed=self._generator) < 0.5
            x = keras.ops.where(coin, keras.ops.flip(x, axis=2), x)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(max_shift=self.max_shift, flip=self.flip, seed=self.seed)
        return config
