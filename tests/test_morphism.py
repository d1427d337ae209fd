"""Tests of keras_nas_plus.morphism: function preservation and errors."""

import types

import keras
import numpy as np
import pytest
from keras import layers

from keras_nas_plus import morphism

TOL = 1e-5
# Non-random initialisers keep the tests fast under JAX (which compiles one
# random kernel per weight shape); values that inheritance fails to set
# would still show as errors.
CINIT = keras.initializers.Constant(0.3)


def _fresh(model):
    """A freshly built model of the same architecture (new weights)."""
    def clone(layer):
        cfg = layer.get_config()
        for key in list(cfg):
            if key.endswith("_initializer") and "moving" not in key and \
                    key not in ("gamma_initializer", "beta_initializer"):
                cfg[key] = keras.initializers.serialize(CINIT)
        return layer.__class__.from_config(cfg)
    return keras.models.clone_model(model, clone_function=clone)


def _randomise(model, seed=0):
    """Non-trivial weights (incl. BN statistics) so mistakes show."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for v in layer.weights:
            shape = tuple(v.shape)
            # Kernels scaled by fan-in keep activations O(1), so float32
            # rounding stays far below the 1e-5 tolerance.
            scale = 1.0 / np.sqrt(np.prod(shape[:-1])) if len(shape) > 1 \
                else 0.5
            val = rng.normal(size=shape) * scale
            if v.name == "moving_variance":
                val = np.abs(val) + 0.5
            v.assign(val.astype("float32"))
    return model


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _max_err(a, b, x):
    return float(np.max(np.abs(_np(a(x, training=False))
                               - _np(b(x, training=False)))))


def _weights(model):
    return {v.path: _np(v.value).copy() for v in model.weights}


def cnn_model():
    """Conv2D, BN, ReLU, Depthwise, Separable, Add, Concat, pooling, ..."""
    i = keras.Input((8, 8, 3), name="img")
    x = layers.Conv2D(4, 3, padding="same", kernel_initializer=CINIT,
                      name="c1")(i)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="r1")(x)
    y = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2,
                               depthwise_initializer=CINIT, name="dw")(x)
    y = layers.SeparableConv2D(6, 3, padding="same", name="sep",
                               depthwise_initializer=CINIT,
                               pointwise_initializer=CINIT)(y)
    y = layers.BatchNormalization(name="bn2")(y)
    z = layers.Conv2D(6, 1, kernel_initializer=CINIT, name="c2")(x)
    a = layers.Add(name="add")([y, z])
    a = layers.Activation("relu", name="act")(a)
    c = layers.Concatenate(name="cat")([a, x])
    p = layers.MaxPooling2D(name="pool")(c)
    f = layers.Flatten(name="flat")(p)
    d = layers.Dense(5, activation="relu", kernel_initializer=CINIT,
                     name="d1")(f)
    d = layers.Dropout(0.3, name="drop")(d)
    o = layers.Dense(3, kernel_initializer=CINIT, name="out")(d)
    return _randomise(keras.Model(i, o, name="cnn"))


def seq_model():
    """Conv1D (causal and same), average pooling, global pooling, Dense."""
    i = keras.Input((12, 2))
    x = layers.Conv1D(4, 3, padding="causal", activation="relu",
                      kernel_initializer=CINIT, name="k1")(i)
    x = layers.AveragePooling1D(2, name="ap")(x)
    x = layers.Conv1D(5, 3, padding="same", kernel_initializer=CINIT,
                      name="k2")(x)
    x = layers.BatchNormalization(name="kbn")(x)
    x = layers.GlobalAveragePooling1D(name="gap")(x)
    o = layers.Dense(2, kernel_initializer=CINIT, name="head")(x)
    return _randomise(keras.Model(i, o, name="seq"), seed=1)


CNN_OPS = [
    ("widen", ("c1", 7), {"seed": 0}),
    ("widen", (["sep", "c2"], 9), {"seed": 1}),
    ("widen", ("d1", 8), {}),
    ("widen", ("c1", 9), {"noise": 0.1, "seed": 2}),
    ("deepen", ("r1",), {}),
    ("deepen", ("c1",), {}),
    ("deepen", ("d1",), {"batch_norm": False}),
    ("add_skip", ("r1", "act"), {}),
    ("add_skip", ("c1", "d1"), {}),
    ("add_skip", ("d1", "out"), {}),
    ("enlarge_kernel", ("c1", 5), {}),
    ("enlarge_kernel", ("dw", 5), {}),
    ("enlarge_kernel", ("sep", (5, 3)), {}),
    ("enlarge_kernel", ("c2", 3), {}),
]

SEQ_OPS = [
    ("widen", ("k1", 6), {}),
    ("widen", ("k2", 8), {}),
    ("deepen", ("ap",), {}),
    ("add_skip", ("k1", "k2"), {}),
    ("add_skip", ("ap", "head"), {}),
    ("enlarge_kernel", ("k1", 4), {}),
    ("enlarge_kernel", ("k2", 5), {}),
]


def _ids(ops):
    return [f"{op}-{args[0]}-{i}" for i, (op, args, _) in enumerate(ops)]


def _params(ops, core):
    """Cases; those at indices `core` also run in CI's JAX job (under JAX
    every new weight shape costs compilations, so it runs a subset)."""
    return [pytest.param(*case, id=name,
                         marks=[pytest.mark.core] if i in core else [])
            for i, (case, name) in enumerate(zip(ops, _ids(ops)))]


@pytest.fixture(scope="module")
def cnn():
    return cnn_model()


@pytest.fixture(scope="module")
def seq():
    return seq_model()


def _check_op(model, op, args, kwargs, x):
    before = _weights(model)
    child = getattr(morphism, op)(model, *args, **kwargs)
    assert _max_err(model, child, x) <= TOL
    # The input model is untouched.
    after = _weights(model)
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    # Layers keep their names.
    names = {layer.name for layer in child.layers}
    assert {layer.name for layer in model.layers} <= names
    # A freshly built child of the same architecture inherits the function.
    fresh = _fresh(child)
    report = morphism.inherit_weights(model, fresh)
    assert report.function_preserving, report.as_dict()
    assert _max_err(model, fresh, x) <= TOL
    return child, report


@pytest.mark.parametrize("op,args,kwargs",
                         _params(CNN_OPS, {0, 1, 3, 4, 7, 8, 12}))
def test_cnn_operations_preserve_function(cnn, op, args, kwargs):
    x = np.random.default_rng(3).normal(size=(4, 8, 8, 3)).astype("float32")
    child, report = _check_op(cnn, op, args, kwargs, x)
    if op == "widen":
        names = [args[0]] if isinstance(args[0], str) else args[0]
        for name in names:
            cfg = child.get_layer(name).get_config()
            assert cfg.get("units", cfg.get("filters")) == args[1]
            assert name in report.morphed
    elif op == "deepen":
        assert len(report.identity) == (2 if kwargs.get("batch_norm", True)
                                        else 1)
        assert len(child.layers) > len(cnn.layers)
    elif op == "add_skip":
        assert len(report.zero) == 1
    else:
        ks = child.get_layer(args[0]).get_config()["kernel_size"]
        assert tuple(ks) == ((args[1],) * 2 if isinstance(args[1], int)
                             else tuple(args[1]))
        assert report.morphed == [args[0]]


@pytest.mark.parametrize("op,args,kwargs", _params(SEQ_OPS, {0, 2, 4, 5}))
def test_conv1d_operations_preserve_function(seq, op, args, kwargs):
    x = np.random.default_rng(4).normal(size=(5, 12, 2)).astype("float32")
    _check_op(seq, op, args, kwargs, x)


@pytest.mark.core
def test_sequential_model_and_chained_operations():
    model = keras.Sequential([
        keras.Input((6,)),
        layers.Dense(4, activation="relu", kernel_initializer=CINIT,
                     name="h1"),
        layers.Dense(4, activation="relu", kernel_initializer=CINIT,
                     name="h2"),
        layers.Dense(2, kernel_initializer=CINIT, name="o")])
    _randomise(model)
    x = np.random.default_rng(5).normal(size=(8, 6)).astype("float32")
    child = morphism.widen(model, "h1", 7, seed=0)
    child = morphism.deepen(child, "h2")
    child = morphism.widen(child, "h2_deeper_dense", 6, seed=1)
    child = morphism.add_skip(child, "h1", "h2_deeper_relu")
    assert _max_err(model, child, x) <= TOL
    fresh = _fresh(child)
    report = morphism.inherit_weights(model, fresh)
    assert _max_err(model, fresh, x) <= TOL
    assert report.function_preserving
    assert {"h1", "h2", "o"} <= set(report.morphed)
    assert report.identity == ["h2_deeper_dense", "h2_deeper_bn"]
    assert report.zero == ["skip_h1_h2_deeper_relu_proj"]


@pytest.mark.core
def test_widen_noise_breaks_symmetry_but_preserves_function(cnn):
    child = morphism.widen(cnn, "c1", 8, noise=0.2, seed=0)
    plain = morphism.widen(cnn, "c1", 8, noise=0.0, seed=0)
    k_noise = _np(child.get_layer("c2").kernel.value)
    k_plain = _np(plain.get_layer("c2").kernel.value)
    assert not np.allclose(k_noise, k_plain)
    # Replicated producer units are exact copies: unit 0..3 then 4 copies.
    k1 = _np(plain.get_layer("c1").kernel.value)
    orig = _np(cnn.get_layer("c1").kernel.value)
    assert np.array_equal(k1[..., :4], orig)
    assert all(any(np.array_equal(k1[..., j], orig[..., i]) for i in range(4))
               for j in range(4, 8))


@pytest.mark.core
def test_deepen_identity_batch_norm_uses_variance_plus_epsilon(cnn):
    child = morphism.deepen(cnn, "d1")
    bn = child.get_layer("d1_deeper_bn")
    gamma = _np(bn.gamma.value)
    var = _np(bn.moving_variance.value)
    np.testing.assert_allclose(gamma, np.sqrt(var + bn.epsilon), rtol=1e-6)


@pytest.mark.core
@pytest.mark.parametrize("call,match", [
    (lambda m: morphism.widen(m, "sep", 9), "'add'"),
    (lambda m: morphism.widen(m, "out", 9), "'out'"),
    (lambda m: morphism.widen(m, "bn1", 9), "'bn1'"),
    (lambda m: morphism.widen(m, "dw", 9), "'dw'"),
    (lambda m: morphism.widen(m, "c1", 3), "'c1'"),
    (lambda m: morphism.widen(m, "nope", 9), "'nope'"),
    (lambda m: morphism.widen(m, ["c1", "sep"], 9), "different widths"),
    (lambda m: morphism.deepen(m, "c1", activation="relu"), "'c1'"),
    (lambda m: morphism.deepen(m, "c1", kernel_size=2), "kernel_size"),
    (lambda m: morphism.enlarge_kernel(m, "c1", 4), "'c1'"),
    (lambda m: morphism.enlarge_kernel(m, "c1", 1), "'c1'"),
    (lambda m: morphism.enlarge_kernel(m, "d1", 3), "'d1'"),
    (lambda m: morphism.add_skip(m, "d1", "c1"), "'d1'"),
    (lambda m: morphism.add_skip(m, "flat", "c2"), "'flat'"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_errors_name_the_layer(cnn, call, match):
    with pytest.raises(ValueError, match=match):
        call(cnn)


@pytest.mark.core
def test_enlarge_kernel_strides():
    i = keras.Input((8, 8, 2))
    x = layers.Conv2D(3, 3, strides=2, padding="same",
                      kernel_initializer=CINIT, name="s3")(i)
    x = layers.Conv2D(3, 1, strides=2, padding="same",
                      kernel_initializer=CINIT, name="s1")(x)
    m = _randomise(keras.Model(i, layers.Flatten()(x)))
    x_in = np.random.default_rng(0).normal(size=(2, 8, 8, 2)).astype(
        "float32")
    child = morphism.enlarge_kernel(m, "s3", 5)
    assert _max_err(m, child, x_in) <= TOL
    # 1 -> 3 taps with strides 2 on 4 pixels: "same" padding would shift.
    with pytest.raises(ValueError, match="'s1'"):
        morphism.enlarge_kernel(m, "s1", 3)


@pytest.mark.core
def test_inherit_weights_between_search_space_like_architectures():
    def build(width, kernel, extra, head):
        i = keras.Input((6, 6, 1))
        x = layers.Conv2D(width, kernel, padding="same", use_bias=False,
                          kernel_initializer=CINIT, name="layer_0_conv")(i)
        x = layers.BatchNormalization(name="layer_0_bn")(x)
        x = layers.ReLU(name="layer_0_relu")(x)
        if extra:
            x = layers.Conv2D(width, 3, padding="same",
                              kernel_initializer=CINIT,
                              name="layer_1_conv")(x)
            x = layers.BatchNormalization(name="layer_1_bn")(x)
            x = layers.ReLU(name="layer_1_relu")(x)
        x = layers.GlobalAveragePooling2D(name="gap")(x)
        return keras.Model(i, layers.Dense(
            head, kernel_initializer=CINIT, name="classifier")(x))

    parent = _randomise(build(4, 3, False, 3))
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 1)).astype("float32")
    child = build(6, 5, True, 3)
    report = morphism.inherit_weights(parent, child)
    assert report.function_preserving
    assert _max_err(parent, child, x) <= TOL
    assert set(report.morphed) == {"layer_0_conv", "layer_0_bn",
                                   "classifier"}
    assert set(report.identity) == {"layer_1_conv", "layer_1_bn"}
    # Narrower child: truncation (lossy, reported) but shapes work.
    small = build(2, 3, False, 3)
    report = morphism.inherit_weights(parent, small)
    assert not report.function_preserving
    assert "layer_0_conv" in report.lossy
    np.testing.assert_array_equal(
        _np(small.get_layer("layer_0_conv").kernel.value),
        _np(parent.get_layer("layer_0_conv").kernel.value)[..., :2])
    # A different head size: fresh-ish (partially copied) and reported.
    other = build(4, 3, False, 5)
    report = morphism.inherit_weights(parent, other)
    assert "classifier" in report.lossy
    assert set(report.inherited) == {"layer_0_conv", "layer_0_bn"}


@pytest.mark.torch
def test_torch_backend_preserves_function():
    if keras.backend.backend() != "torch":
        pytest.skip("run with KERAS_BACKEND=torch")
    model = cnn_model()
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 3)).astype("float32")
    for op, args, kwargs in CNN_OPS:
        child = getattr(morphism, op)(model, *args, **kwargs)
        assert _max_err(model, child, x) <= TOL, (op, args)


# ------------------------------------------------------------ our spaces
def _macro_space():
    from keras_nas_plus.spaces.macro import MacroSearchSpace

    return MacroSearchSpace(
        (8, 8, 1), 3, min_layers=2, max_layers=4, filters=(4, 8),
        stem_filters=4, downsample_at=(), dropout=0.0,
        skip_connections=True, merge=("add",),
        operations=("conv3x3", "sepconv3x3", "maxpool3x3", "conv5x5"))


def _macro_model(space, **values):
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    base = {"num_layers": 3, "layer_0/op": "conv3x3", "layer_0/filters": 4,
            "layer_1/op": "sepconv3x3", "layer_1/filters": 4,
            "layer_2/op": "conv3x3", "layer_2/filters": 4,
            "layer_2/skip_from_0": True}
    base.update(values)
    hp.values.update(base)
    return space.build(hp)


@pytest.fixture(scope="module")
def macro():
    space = _macro_space()
    return space, _randomise(_macro_model(space), seed=7)


MACRO_OPS = [
    ("widen", (["layer_0_conv", "layer_1_sepconv"], 8), {}),
    ("widen", ("layer_2_conv", 6), {}),
    ("widen", ("stem_conv", 6), {}),
    ("deepen", ("layer_1_relu",), {}),
    ("add_skip", ("stem_relu", "layer_1_relu"), {}),
    ("enlarge_kernel", ("layer_0_conv", 5), {}),
    ("enlarge_kernel", ("layer_1_sepconv", 5), {}),
]


@pytest.mark.parametrize("op,args,kwargs",
                         _params(MACRO_OPS, {0, 3, 4, 6}))
def test_macro_space_operations_preserve_function(macro, op, args, kwargs):
    _, model = macro
    x = np.random.default_rng(8).normal(size=(3, 8, 8, 1)).astype("float32")
    _check_op(model, op, args, kwargs, x)


@pytest.mark.core
def test_macro_space_widen_across_add_needs_all_inputs(macro):
    _, model = macro
    with pytest.raises(ValueError, match="layer_2_merge"):
        morphism.widen(model, "layer_0_conv", 8)


# Under JAX every new weight shape costs a compilation, so only part of
# the cases are in the `core` subset CI also runs on JAX.
@pytest.mark.parametrize("values,preserving", [
    pytest.param({"layer_2/filters": 8}, True, marks=pytest.mark.core),
    ({"layer_0/op": "conv5x5"}, True),
    pytest.param({"num_layers": 4, "layer_3/op": "conv3x3",
                  "layer_3/filters": 8}, True, marks=pytest.mark.core),
    ({"layer_1/filters": 8, "layer_0/filters": 8}, True),
    ({"layer_2/filters": 4, "layer_1/op": "maxpool3x3"}, False),
    pytest.param({"layer_2/skip_from_0": False}, False,
                 marks=pytest.mark.core),
    ({"num_layers": 4, "layer_3/op": "conv3x3", "layer_3/filters": 4,
      "layer_3/skip_from_1": True}, False),
], ids=["wider", "kernel", "deeper", "wider-add", "op-change", "drop-skip",
        "new-skip"])
def test_macro_space_inherit_weights(macro, values, preserving):
    space, parent = macro
    child = _macro_model(space, **values)
    report = morphism.inherit_weights(parent, child)
    x = np.random.default_rng(9).normal(size=(3, 8, 8, 1)).astype("float32")
    err = _max_err(parent, child, x)
    assert report.function_preserving == preserving, report.as_dict()
    if preserving:
        assert err <= TOL
    else:
        assert err > 1e-4
    assert report.num_reused >= 3


# ------------------------------------------------------- tuner hook
class _StubOracle:
    def __init__(self, trials):
        self.trials = trials

    def get_trial(self, trial_id):
        return self.trials[trial_id]


class _StubTrial:
    def __init__(self, trial_id, values):
        import keras_tuner

        self.trial_id = trial_id
        self.hyperparameters = keras_tuner.HyperParameters()
        self.hyperparameters.values.update(values)


#: Values of the parent architecture (trial "7") of the inheritance tests.
_PARENT_VALUES = {"num_layers": 3, "layer_0/op": "conv3x3", "layer_0/filters": 4,
                  "layer_1/op": "sepconv3x3", "layer_1/filters": 4,
                  "layer_2/op": "conv3x3", "layer_2/filters": 4,
                  "layer_2/skip_from_0": True}


def _stub_tuner(tmp_path, space, parent):
    """What `inherit_from_parent` reads of a tuner: trial "7" is `parent`, checkpointed."""
    ckpt = str(tmp_path / "p.weights.h5")
    parent.save_weights(ckpt)

    class Tuner:
        hypermodel = space
        oracle = _StubOracle({"7": _StubTrial("7", _PARENT_VALUES)})

        def _get_checkpoint_fname(self, trial_id):
            return ckpt if trial_id == "7" else str(tmp_path / "missing.h5")

        def _get_build_config_fname(self, trial_id):
            return str(tmp_path / "none.json")

    return Tuner


@pytest.mark.core
def test_inherit_from_parent_loads_parent_checkpoint(tmp_path, macro):
    from keras_nas_plus.morphism import tuning
    from keras_nas_plus.oracles.base import PARENT_KEY

    space, parent = macro
    base = _PARENT_VALUES
    Tuner = _stub_tuner(tmp_path, space, parent)
    child_values = dict(base, **{"layer_2/filters": 8, PARENT_KEY: "7"})
    child = _macro_model(space, **{"layer_2/filters": 8})
    trial = _StubTrial("8", child_values)
    kwargs, info = tuning.inherit_from_parent(Tuner(), trial, child,
                                              {"epochs": 9})
    assert kwargs["epochs"] == 3 and info["inherited_from"] == "7"
    assert info["inheritance"]["function_preserving"]
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 1)).astype("float32")
    assert _max_err(parent, child, x) <= TOL
    # A missing checkpoint is reported, never skipped silently.
    trial = _StubTrial("9", dict(child_values, **{PARENT_KEY: "5"}))
    with pytest.warns(UserWarning, match="no checkpoint"):
        kwargs, info = tuning.inherit_from_parent(Tuner(), trial, child,
                                                  {"epochs": 9})
    assert kwargs["epochs"] == 9 and info["inherited_from"] is None
    # No parent: nothing happens.
    kwargs, info = tuning.inherit_from_parent(
        Tuner(), _StubTrial("1", base), child, {"epochs": 9})
    assert kwargs == {"epochs": 9} and info == {}
    with pytest.raises(ValueError, match="inherited_epochs"):
        tuning.check_settings(True, 0)


@pytest.mark.core
def test_inherited_child_fine_tunes_at_a_reduced_learning_rate(tmp_path, macro):
    import keras

    from keras_nas_plus.engine.tuner import NASTuner
    from keras_nas_plus.morphism import tuning
    from keras_nas_plus.oracles.base import PARENT_KEY
    from keras_nas_plus.spaces._training import fit_with_schedule

    space, parent = macro
    base = _PARENT_VALUES
    Tuner = _stub_tuner(tmp_path, space, parent)
    trial = _StubTrial("8", dict(base, **{PARENT_KEY: "7"}))
    compiled = space.learning_rate[0]  # 1e-3, Adam
    # 0.3 x the compiled rate, recorded in the trial info.
    child = _macro_model(space)
    _, info = tuning.inherit_from_parent(Tuner(), trial, child, {"epochs": 6},
                                         inherited_lr_factor=0.3)
    rate = float(keras.ops.convert_to_numpy(child.optimizer.learning_rate))
    assert rate == pytest.approx(0.3 * compiled)
    assert info["inherited_learning_rate"] == pytest.approx(0.3 * compiled)
    # The cosine schedule of the spaces starts from the reduced rate.
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(
                self.model.optimizer.learning_rate)))

    x = np.zeros((4, 8, 8, 1), "float32")
    fit_with_schedule(child, "cosine", x, np.zeros(4, "int32"), epochs=1, batch_size=2, verbose=0,
                      callbacks=[Spy()])
    assert seen[0] == pytest.approx(0.3 * compiled)
    assert seen[1] == pytest.approx(0.3 * compiled * 0.5)  # cos(pi/2)
    # Factor 1 (the default): unchanged, nothing recorded.
    child = _macro_model(space)
    _, info = tuning.inherit_from_parent(Tuner(), trial, child, {"epochs": 6})
    rate = float(keras.ops.convert_to_numpy(child.optimizer.learning_rate))
    assert rate == pytest.approx(compiled)
    assert "inherited_learning_rate" not in info
    # A trial without a parent keeps its rate whatever the factor.
    child = _macro_model(space)
    tuning.inherit_from_parent(Tuner(), _StubTrial("1", base), child,
                               {"epochs": 6}, inherited_lr_factor=0.1)
    rate = float(keras.ops.convert_to_numpy(child.optimizer.learning_rate))
    assert rate == pytest.approx(compiled)
    # A schedule object cannot be scaled: warned, left alone.
    sched = keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.5)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(sched), loss="mse")
    with pytest.warns(UserWarning, match="schedule"):
        assert tuning.scale_learning_rate(model, 0.5) is None
    # Settings are validated by the tuner.
    assert tuning.check_settings(True, None, 0.5) == (True, None, 0.5)
    for bad in (0, 1.5, -0.1, True, "0.3"):
        with pytest.raises(ValueError, match="inherited_lr_factor"):
            tuning.check_settings(True, None, bad)
    with pytest.raises(ValueError, match="inherited_lr_factor"):
        NASTuner(oracle=None, hypermodel=space, weight_inheritance=True,
                 inherited_lr_factor=2.0)


@pytest.mark.core
def test_morphism_preference_accepts_function_preserving_children(tmp_path):
    import keras_tuner

    from keras_nas_plus.engine.tuner import NASTuner
    from keras_nas_plus.morphism.tuning import MorphismPreference
    from keras_nas_plus.oracles.base import PARENT_KEY
    from keras_nas_plus.oracles.evolution import RegularizedEvolutionOracle

    space = _macro_space()
    base = {"num_layers": 3, "layer_0/op": "conv3x3", "layer_0/filters": 4,
            "layer_1/op": "sepconv3x3", "layer_1/filters": 4,
            "layer_2/op": "conv3x3", "layer_2/filters": 4,
            "layer_2/skip_from_0": True}

    class Tuner:
        hypermodel = space
        oracle = types.SimpleNamespace(
            hyperparameters=keras_tuner.HyperParameters())

    pref = MorphismPreference(Tuner())
    assert pref(base, dict(base, **{"layer_2/filters": 8, PARENT_KEY: "3"}))
    assert pref(base, dict(base, **{"layer_0/op": "conv5x5"}))
    assert not pref(base, dict(base, **{"layer_1/op": "maxpool3x3"}))
    assert not pref(base, dict(base, **{"layer_2/filters": 2}))  # not buildable
    assert len(pref._cache) == 4
    # Wired into evolution oracles by the tuner; off on request.
    def tuner(**kwargs):
        oracle = RegularizedEvolutionOracle(objective="val_accuracy",
                                            max_trials=2, population_size=2,
                                            sample_size=1)
        return NASTuner(oracle=oracle, hypermodel=space,
                        directory=str(tmp_path), **kwargs).oracle
    oracle = tuner(weight_inheritance=True)
    assert isinstance(oracle.child_preference, MorphismPreference)
    assert tuner(weight_inheritance=True, prefer_morphisms=False,
                 overwrite=True).child_preference is None
    assert tuner(overwrite=True).child_preference is None
    with pytest.raises(ValueError, match="prefer_morphisms"):
        tuner(weight_inheritance=True, prefer_morphisms=1, overwrite=True)


@pytest.mark.slow
def test_evolution_search_with_weight_inheritance(tmp_path):
    from keras_nas_plus.oracles.evolution import RegularizedEvolution

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, 64)
    tuner = RegularizedEvolution(
        _macro_space(), objective="val_accuracy", max_trials=5,
        population_size=2, sample_size=2, seed=1, directory=str(tmp_path),
        weight_inheritance=True, inherited_lr_factor=0.3)
    tuner.search(x, y, validation_data=(x, y), epochs=3, verbose=0)
    infos = [tuner.get_trial_info(t) for t in tuner.oracle.trials]
    children = [i for i in infos if i.get("inherited_from")]
    assert children, infos
    assert all(i["epochs_trained"] == 1 for i in children)
    assert all(i["inherited_learning_rate"] == pytest.approx(0.3e-3)
               for i in children)
    assert all(i["epochs_trained"] == 3 for i in infos
               if "inherited_from" not in i)
