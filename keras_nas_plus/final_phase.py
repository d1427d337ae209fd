"""Final-phase options: start from the best trial's weights, flip test-time augmentation.

`search.final_training.init: best_trial` starts the final training from the
weights the tuner saved for the best trial (Keras Tuner keeps each trial's
best-epoch checkpoint) instead of a fresh initialisation, when the final
model has the trial's shapes; otherwise it falls back to `scratch` with a
printed note. `search.final_training.test_time_augmentation: flip` evaluates
(and saves) the final model wrapped by `with_flip_tta`: the mean of its
class probabilities for an image and for its horizontal mirror image, a
common test-time augmentation (e.g. Krizhevsky, Sutskever & Hinton,
"ImageNet Classification with Deep Convolutional Neural Networks", NeurIPS
2012, Section 4.1, averaging predictions over reflections).
"""

import os
import warnings

import keras

#: Values of `search.final_training.init`.
INIT_CHOICES = ("scratch", "best_trial")
#: Values of `search.final_training.test_time_augmentation`.
TTA_CHOICES = ("none", "flip")


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class HorizontalFlip(keras.layers.Layer):
    """Mirrors images left-right: `keras.ops.flip(x, axis=2)` (NHWC, or NHW)."""

    def call(self, inputs):
        return keras.ops.flip(inputs, axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class MeanProbabilities(keras.layers.Layer):
    """Mean of several class-probability tensors (softmax first when `from_logits`).

    Args:
        from_logits: bool, default False. The inputs are logits: each is
            passed through a softmax (last axis) before the mean.
    """

    def __init__(self, from_logits=False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not isinstance(from_logits, bool):
            raise ValueError(f"`from_logits` must be a bool, got {from_logits!r}.")
        self.from_logits = from_logits

    def call(self, inputs):
        probabilities = [keras.ops.cast(x, "float32") for x in inputs]
        if self.from_logits:
            probabilities = [keras.ops.softmax(x, axis=-1) for x in probabilities]
        return keras.ops.mean(keras.ops.stack(probabilities, axis=0), axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


def with_flip_tta(model: keras.Model, from_logits: bool = False) -> keras.Model:
    """`model` wrapped so that it predicts the mean over an image and its mirror image.

    The result is a functional model holding `model` (weights shared, not
    copied), `HorizontalFlip` and `MeanProbabilities`; it saves to and loads
    from a `.keras` file like any model. It is compiled with
    sparse categorical cross-entropy and accuracy for `evaluate`.

    Args:
        model: a Keras model taking images (batch, height, width[, channels])
            and returning class probabilities (or logits, see `from_logits`).
        from_logits: bool, default False. `model` returns logits.

    Returns:
        `keras.Model`.

    Raises:
        ValueError: if the model's input is not an image batch (rank < 3).
    """
    spec = model.inputs[0]
    if len(spec.shape) < 3:
        raise ValueError(f"test_time_augmentation: flip needs image inputs, got input shape {tuple(spec.shape)}.")
    inputs = keras.Input(tuple(spec.shape[1:]), dtype=spec.dtype, name="image")
    outputs = MeanProbabilities(from_logits=from_logits, name="flip_mean")(
        [model(inputs), model(HorizontalFlip(name="horizontal_flip")(inputs))])
    tta = keras.Model(inputs, outputs, name=f"{model.name}_flip_tta")
    tta.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return tta


def best_trial_checkpoint(tuner, trial_id):
    """Path of the weights Keras Tuner saved for a trial, or None when missing."""
    getter = getattr(tuner, "_get_checkpoint_fname", None)
    if getter is None:
        return None
    path = getter(trial_id)
    return path if os.path.exists(path) else None


def init_weights_path(tuner, trial_id, final_training, same_space, log=print):
    """Where the final model's starting weights come from (`init`), or None for scratch.

    `best_trial` needs the final model to have the trial's shapes: it falls
    back to scratch (with a printed note) when `width_multiplier` is not 1,
    when `final_training.space` overrides the space, when the trials were
    trained at a reduced model fidelity, or when the checkpoint is missing.

    Returns:
        (path or None, str reason of a fallback or None).
    """
    if final_training.get("init", "scratch") != "best_trial":
        return None, None
    reason = None
    fidelity = getattr(tuner, "fidelity", None)
    if final_training.get("width_multiplier", 1) != 1:
        reason = "width_multiplier changes the shapes"
    elif not same_space:
        reason = "final_training.space overrides the search space"
    elif fidelity is not None and fidelity.changes_model:
        reason = "the trials were trained at a reduced model fidelity"
    path = None if reason else best_trial_checkpoint(tuner, trial_id)
    if reason is None and path is None:
        reason = f"trial {trial_id} has no saved checkpoint"
    if reason:
        log(f"Final phase: init best_trial not possible ({reason}); training from scratch")
        return None, reason
    return path, None


def load_initial_weights(model, path, log=print):
    """Loads `path` into `model`; False (and a printed note) when the shapes differ."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fresh optimizer has no slots yet
            model.load_weights(path)
    except (ValueError, KeyError) as e:
        log(f"Final phase: the best trial's weights do not fit the final model ({e}); training from scratch")
        return False
    return True
