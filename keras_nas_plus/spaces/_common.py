"""Small pieces the cell and NAS-Bench-201 spaces share: compiling a network and their recipe's config."""

import keras

#: The recipe arguments of the cell and NAS-Bench-201 spaces (their `get_config` keys besides the shape).
RECIPE_KEYS = ("rescale", "bn_momentum", "learning_rate", "optimizer", "loss", "metrics")


def compile_network(space, model: keras.Model) -> keras.Model:
    """Compiles `model` with the space's optimizer, loss and metrics.

    Defaults: Adam at `space.learning_rate`, sparse categorical cross-entropy,
    accuracy.
    """
    model.compile(
        optimizer=space.optimizer or keras.optimizers.Adam(space.learning_rate),
        loss=space.loss or "sparse_categorical_crossentropy",
        metrics=space.metrics or ["accuracy"],
    )
    return model


def recipe_config(space) -> dict:
    """The space's recipe arguments (`RECIPE_KEYS`), for its `get_config`."""
    return {key: getattr(space, key) for key in RECIPE_KEYS}


def classifier_head(inputs, x, num_classes: int, name: str) -> keras.Model:
    """ReLU, global average pooling and a float32 softmax classifier on `x`; the model from `inputs`.

    Layer names `head_relu`, `gap`, `classifier` (weight inheritance matches layers by name).
    """
    x = keras.layers.ReLU(name="head_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier",
                                 dtype="float32")(x)  # float32 softmax under mixed precision
    return keras.Model(inputs, outputs, name=name)


def space_config(space, **arguments) -> dict:
    """A space's `get_config`: input shape and classes, its own `arguments`, the recipe, name and tunable."""
    return {"input_shape": list(space.input_shape), "num_classes": space.num_classes, **arguments,
            **recipe_config(space), "name": space.name, "tunable": space.tunable}
