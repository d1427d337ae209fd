"""Multi-view test-time augmentation: mirror images and small shifts, averaged in one model call.

`search.final_training.test_time_augmentation: flip_shift` evaluates (and
saves) the final model wrapped by `with_view_tta`: the mean of its class
probabilities over 18 views of each image, the image and its horizontal
mirror, each shifted by `shift` pixels (default 2) in each of the eight
directions and not at all. This is multi-crop evaluation (Krizhevsky,
Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NeurIPS 2012, Section 4.1: ten patches, corners, centre and their
reflections; Simonyan & Zisserman, "Very Deep Convolutional Networks for
Large-Scale Image Recognition", ICLR 2015, Section 3.2) for small images,
where shifting with zero fill (as `RandomShift` does in training) plays the
part of cropping.

The views are stacked along the batch axis (`ImageViews`), the network runs
once on them, and `ViewMean` averages its outputs, so the wrapped model is
one network call per batch: under JAX one compiled program, not one per view.
"""

import keras

#: Default shift of `with_view_tta`, in pixels.
DEFAULT_SHIFT = 2


def _offsets(shift):
    steps = (-shift, 0, shift) if shift else (0,)
    return [(dy, dx) for dy in steps for dx in steps]


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class ImageViews(keras.layers.Layer):
    """Stacks the test-time views of an image batch along the batch axis.

    Input: images `(batch, height, width)` or `(batch, height, width,
    channels)`, any dtype. Output: `(views * batch, ...)` with `views =
    (2 if flip else 1) * (9 if shift else 1)`, view-major: the first `batch`
    rows are the images themselves. A shifted view moves the image by
    `(dy, dx)` pixels, `dy, dx` in `{-shift, 0, shift}`, and fills the
    uncovered border with zeros.

    Args:
        shift: int >= 0, default 2. Shift in pixels (0: no shifted views).
        flip: bool, default True. Also the horizontal mirror image of each
            view.

    Raises:
        ValueError: if `shift` is not an integer >= 0 or `flip` not a bool.
    """

    def __init__(self, shift=DEFAULT_SHIFT, flip=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
            raise ValueError(f"`shift` must be an integer >= 0 (pixels), got {shift!r}.")
        if not isinstance(flip, bool):
            raise ValueError(f"`flip` must be a bool, got {flip!r}.")
        self.shift, self.flip = shift, flip

    @property
    def views(self):
        return (2 if self.flip else 1) * len(_offsets(self.shift))

    def call(self, inputs):
        s = self.shift
        height, width = inputs.shape[1], inputs.shape[2]
        sources = [inputs, keras.ops.flip(inputs, axis=2)] if self.flip else [inputs]
        views = []
        for image in sources:
            if not s:
                views.append(image)
                continue
            pad = [[0, 0], [s, s], [s, s]] + [[0, 0]] * (len(inputs.shape) - 3)
            padded = keras.ops.pad(image, pad)
            for dy, dx in _offsets(s):  # output row i is input row i - dy
                views.append(padded[:, s - dy:s - dy + height, s - dx:s - dx + width])
        return keras.ops.concatenate(views, axis=0)

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else input_shape[0] * self.views
        return (batch,) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "shift": self.shift, "flip": self.flip}


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class ViewMean(keras.layers.Layer):
    """Mean over `views` view-major blocks of the batch axis, in float32.

    Input `(views * batch, classes)` (probabilities, or logits with
    `from_logits`), output `(batch, classes)`.

    Args:
        views: int >= 1. Number of views stacked by `ImageViews`.
        from_logits: bool, default False. Softmax (last axis) before the mean.

    Raises:
        ValueError: if `views` is not an integer >= 1 or `from_logits` not a bool.
    """

    def __init__(self, views, from_logits=False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if isinstance(views, bool) or not isinstance(views, int) or views < 1:
            raise ValueError(f"`views` must be an integer >= 1, got {views!r}.")
        if not isinstance(from_logits, bool):
            raise ValueError(f"`from_logits` must be a bool, got {from_logits!r}.")
        self.views, self.from_logits = views, from_logits

    def call(self, inputs):
        x = keras.ops.cast(inputs, "float32")
        if self.from_logits:
            x = keras.ops.softmax(x, axis=-1)
        x = keras.ops.reshape(x, (self.views, -1) + tuple(x.shape[1:]))
        return keras.ops.mean(x, axis=0)

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else input_shape[0] // self.views
        return (batch,) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "views": self.views, "from_logits": self.from_logits}


def with_view_tta(model: keras.Model, shift: int = DEFAULT_SHIFT, flip: bool = True,
                  from_logits: bool = False) -> keras.Model:
    """`model` wrapped so that it predicts the mean over shifted and mirrored views of each image.

    With the defaults, 18 views: the image and its mirror, each shifted by
    -2, 0 or 2 pixels along each axis (`ImageViews`). The network runs once
    per batch on all views (a batch of `18 * batch` images; size the
    evaluation batch for that), and `ViewMean` averages its class
    probabilities. The result holds `model` (weights shared, not copied),
    saves to and loads from a `.keras` file like any model, and is compiled
    with sparse categorical cross-entropy and accuracy for `evaluate`.

    Args:
        model: a Keras model taking images `(batch, height, width[,
            channels])` and returning class probabilities (or logits).
        shift: int >= 0, default 2. Shift of the shifted views, pixels.
        flip: bool, default True. Add the mirror image of every view.
        from_logits: bool, default False. `model` returns logits.

    Returns:
        `keras.Model`.

    Raises:
        ValueError: if the model's input is not an image batch (rank < 3),
            or `shift`/`flip` are invalid (see `ImageViews`).
    """
    spec = model.inputs[0]
    if len(spec.shape) < 3:
        raise ValueError(f"test_time_augmentation: flip_shift needs image inputs, got input shape {tuple(spec.shape)}.")
    views = ImageViews(shift=shift, flip=flip, name="test_time_views")
    inputs = keras.Input(tuple(spec.shape[1:]), dtype=spec.dtype, name="image")
    outputs = ViewMean(views.views, from_logits=from_logits, name="view_mean")(model(views(inputs)))
    tta = keras.Model(inputs, outputs, name=f"{model.name}_view_tta")
    tta.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return tta
