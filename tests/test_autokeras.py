"""AutoKeras integration: our blocks in AutoModel graphs, our tuners driving AutoModel."""

import json
import os
import sys

import numpy as np
import pytest

ak = pytest.importorskip("autokeras")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
from autokeras import graph as ak_graph  # noqa: E402

from keras_nas_plus import autokeras as kak  # noqa: E402
from keras_nas_plus.engine.tuner import TRIAL_INFO_FILE  # noqa: E402
from keras_nas_plus.oracles.base import PARENT_KEY  # noqa: E402


def _macro_block():
    return kak.MacroBlock(
        min_layers=1, max_layers=2, operations=("conv3x3", "maxpool3x3", "identity"),
        filters=(4, 8), stem_filters=4,
    )


@pytest.fixture(scope="module")
def evolution_search(tmp_path_factory):
    """3 trials of regularized evolution over Normalization -> MacroBlock -> ClassificationHead."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=56)
    x = rng.integers(0, 60, size=(56, 8, 8)).astype("uint8")
    for c in range(3):
        x[y == c, c * 2 : c * 2 + 2, :] = 250
    directory = str(tmp_path_factory.mktemp("ak_evolution"))
    inputs = ak.ImageInput()
    h = ak.Normalization()(inputs)  # AutoKeras' own block next to ours
    h = _macro_block()(h)
    outputs = ak.ClassificationHead()(h)
    auto_model = ak.AutoModel(
        inputs, outputs, tuner=kak.RegularizedEvolutionAutoTuner, max_trials=3,
        population_size=2, sample_size=2, directory=directory, overwrite=True, seed=3,
    )
    auto_model.fit(x[:40], y[:40], validation_data=(x[40:], y[40:]), epochs=1, batch_size=16, verbose=0)
    return auto_model, x[40:], directory


@pytest.mark.core
def test_evolution_tuner_runs_trials_with_scoped_hyperparameters(evolution_search):
    auto_model, _, _ = evolution_search
    tuner = auto_model.tuner
    assert isinstance(tuner, kak.RegularizedEvolutionAutoTuner)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 3
    assert all(t.status == "COMPLETED" for t in trials)
    names = set(tuner.oracle.get_space().values)
    assert "macro_block_1/layer_0/op" in names
    assert "macro_block_1/num_layers" in names
    assert "classification_head_1/dropout" in names
    # population_size=2: the third trial is a mutated child of a tournament winner
    child = [t for t in trials if PARENT_KEY in t.hyperparameters.values]
    assert len(child) == 1 and child[0].hyperparameters.values[PARENT_KEY] in tuner.oracle.trials
    info_file = os.path.join(tuner.get_trial_dir(trials[0].trial_id), TRIAL_INFO_FILE)
    with open(info_file) as f:
        info = json.load(f)
    assert info["num_params"] > 0 and info["epochs_trained"] == 1


@pytest.mark.core
def test_exported_model_predicts_and_round_trips(evolution_search, tmp_path):
    auto_model, x_test, _ = evolution_search
    model = auto_model.export_model()
    assert any(layer.name == "macro_block_1_stem_conv" for layer in model.layers)
    probs = model.predict(x_test, verbose=0)
    assert probs.shape == (16, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    path = str(tmp_path / "x.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x_test, verbose=0), probs, atol=1e-5)
    labels = auto_model.predict(x_test, verbose=0)
    assert labels.shape == (16, 1)
    assert set(labels.ravel().tolist()) <= {"0", "1", "2"}


@pytest.mark.core
def test_cast_io_shapes_gives_python_ints_and_builds():
    # Regression: AutoKeras 3.0.0 stores the output size as a numpy integer and
    # keras >= 3.12 Dense rejects it ("Received an invalid value for units").
    inputs = ak.ImageInput()
    outputs = ak.ClassificationHead(num_classes=3)(_macro_block()(inputs))
    graph = ak_graph.Graph(inputs=inputs, outputs=outputs)
    graph.set_io_shapes(([np.array((40, 8, 8, 1))], [np.array((40, 3))]))
    head = graph.outputs[0].in_blocks[0]
    assert isinstance(head.shape[-1], np.integer)
    kak.cast_io_shapes(graph)
    assert graph.inputs[0].shape == (8, 8, 1) and type(graph.inputs[0].shape[0]) is int
    assert head.shape == (3,) and type(head.shape[0]) is int
    graph.num_samples, graph.epochs = 40, 1
    model = graph.build(keras_tuner.HyperParameters())
    assert model.output_shape == (None, 3)


@pytest.mark.core
def test_blocks_serialise_and_reload_in_a_graph(tmp_path):
    macro = kak.MacroBlock(min_layers=2, max_layers=4, filters=16, skip_connections=True, name="nas_macro")
    cell = kak.CellBlock(filters=8, num_cells=1, num_blocks=2, operations=["sep_conv_3x3", "identity"])
    for block in (macro, cell):
        config = block.get_config()
        json.dumps(config)
        clone = type(block).from_config(config)
        assert clone.get_config() == config
        restored = ak.blocks.deserialize(ak.blocks.serialize(block))
        assert type(restored) is type(block) and restored.get_config() == config
    inputs = ak.ImageInput()
    outputs = ak.ClassificationHead()(cell(macro(inputs)))
    graph = ak_graph.Graph(inputs=inputs, outputs=outputs)
    graph.save(str(tmp_path / "graph"))
    # AutoKeras' own nodes and heads need custom_objects here (its
    # deserialize drops module_objects on keras 3); ours are registered.
    own = {"ImageInput": ak.ImageInput, "ClassificationHead": ak.ClassificationHead}
    reloaded = ak_graph.load_graph(str(tmp_path / "graph"), custom_objects=own)
    blocks = {b.name: b for b in reloaded.blocks}
    assert blocks["nas_macro"].get_config() == macro.get_config()
    assert blocks[cell.name].get_config() == cell.get_config()


@pytest.mark.core
def test_invalid_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="min_layers"):
        kak.MacroBlock(min_layers=0)
    with pytest.raises(ValueError, match="operations"):
        kak.MacroBlock(operations=("conv7x7",))
    with pytest.raises(ValueError, match="num_blocks"):
        kak.CellBlock(num_blocks=0)
    with pytest.raises(ValueError, match="tuner"):
        kak.compatible_tuner("nope")
    with pytest.raises(ValueError, match="tuner"):
        kak.compatible_tuner(keras_tuner.RandomSearch)
    with pytest.raises(ValueError, match="population_size"):
        kak.RegularizedEvolutionAutoTuner(hypermodel=None, population_size=1)


@pytest.mark.core
def test_compatible_tuner_subclasses_autokeras_tuners():
    greedy = kak.compatible_tuner("greedy")
    assert issubclass(greedy, ak.tuners.Greedy) and issubclass(greedy, kak.AutoKerasCompatMixin)
    assert kak.compatible_tuner("greedy") is greedy
    assert kak.compatible_tuner(greedy) is greedy
    assert kak.compatible_tuner(kak.RegularizedEvolutionAutoTuner) is kak.RegularizedEvolutionAutoTuner


@pytest.mark.core
def test_no_tensorboard_import_without_tensorboard_callback(monkeypatch):
    # TensorFlow >= 2.20 does not install tensorboard; Keras Tuner imports it per trial.
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    for tuner_class in (kak.compatible_tuner("random"), kak.RegularizedEvolutionAutoTuner):
        callbacks = [keras.callbacks.EarlyStopping()]
        tuner_class._configure_tensorboard_dir(object.__new__(tuner_class), callbacks, trial=None)
        assert len(callbacks) == 1


def test_cell_block_with_autokeras_random_search(tiny_images, tmp_path):
    (x, y), (x_val, y_val), (x_test, _) = tiny_images
    inputs = ak.ImageInput()
    h = kak.CellBlock(filters=4, num_cells=1, num_blocks=2, num_reductions=0,
                      operations=("sep_conv_3x3", "identity"), name="nas_cell")(inputs)
    outputs = ak.ClassificationHead()(h)
    auto_model = ak.AutoModel(
        inputs, outputs, tuner=kak.compatible_tuner("random"), max_trials=2,
        directory=str(tmp_path), overwrite=True, seed=1,
    )
    # A user EarlyStopping: AutoKeras then skips its final fit (keeps the test fast).
    auto_model.fit(x, y, validation_data=(x_val, y_val), epochs=1, batch_size=16, verbose=0,
                   callbacks=[keras.callbacks.EarlyStopping(patience=1)])
    statuses = [(t.trial_id, t.status, t.score) for t in auto_model.tuner.oracle.trials.values()]
    assert len(statuses) == 2, statuses
    assert "nas_cell/normal_b0_op0" in auto_model.tuner.oracle.get_space().values
    model = auto_model.export_model()
    assert model.predict(x_test, verbose=0).shape == (16, 3)


def test_rl_auto_tuner(tiny_images, tmp_path):
    try:
        import keras_nas_plus.oracles.rl  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="RLControllerOracle"):
            kak.RLAutoTuner(hypermodel=None)
        return
    (x, y), (x_val, y_val), (x_test, _) = tiny_images
    inputs = ak.ImageInput()
    outputs = ak.ClassificationHead()(_macro_block()(inputs))
    auto_model = ak.AutoModel(
        inputs, outputs, tuner=kak.RLAutoTuner, max_trials=2, batch_size=1, hidden_units=8,
        directory=str(tmp_path), overwrite=True, seed=2,
    )
    assert isinstance(auto_model.tuner.oracle, keras_nas_plus.oracles.rl.RLControllerOracle)
    assert auto_model.tuner.oracle.hidden_units == 8
    auto_model.fit(x, y, validation_data=(x_val, y_val), epochs=1, batch_size=16, verbose=0,
                   callbacks=[keras.callbacks.EarlyStopping(patience=1)])
    assert len(auto_model.tuner.oracle.trials) == 2
    model = auto_model.export_model()
    assert model.predict(x_test, verbose=0).shape == (16, 3)
