"""The YAML configuration, the `keras-nas-plus search` command and results.json."""

import json
import os

import keras
import numpy as np
import pytest
import yaml

from keras_nas_plus import build_best_model
from keras_nas_plus import cli
from keras_nas_plus.config import ConfigError
from keras_nas_plus.config import load_config
from keras_nas_plus.config import validate_config

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "fashion_mnist.yaml")


def write(tmp_path, config, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def tiny_npz(tmp_path, **overrides):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=80).astype("uint8")
    x = rng.integers(0, 50, size=(80, 8, 8)).astype("uint8")
    for c in range(3):
        x[y == c, c * 2 : c * 2 + 2] = 250
    arrays = {"x_train": x[:60], "y_train": y[:60], "x_test": x[60:], "y_test": y[60:]}
    arrays.update(overrides)
    path = tmp_path / "tiny.npz"
    np.savez(path, **arrays)
    return str(path)


def tiny_config(tmp_path, **search):
    config = {
        "data": {"dataset": tiny_npz(tmp_path), "validation_split": 0.25},
        "space": {"type": "macro", "min_layers": 1, "max_layers": 2, "filters": [4], "stem_filters": 4},
        "strategy": {"type": "evolution", "population_size": 2, "sample_size": 1},
        "search": {"max_trials": 3, "epochs": 1, "batch_size": 16, "directory": str(tmp_path / "run"),
                   "seed": 1, "verbose": 1},
    }
    config["search"].update(search)
    return config


def test_example_config_is_valid():
    config = load_config(EXAMPLE)
    assert config["space"]["type"] == "residual"
    assert config["strategy"]["type"] == "evolution"
    assert config["strategy"]["initial_architectures"] == ["WRN-10-1", "WRN-16-1"]
    assert config["data"]["dataset"] == "fashion_mnist_sample"
    # a fixed-time example: 150 s of search, 420 s of final training from the best trial's weights
    assert config["search"]["time_budget"] == 150
    final = config["search"]["final_training"]
    assert (final["time_budget"], final["init"], final["test_time_augmentation"]) == (420, "best_trial", "flip")
    macro = load_config(EXAMPLE.replace("fashion_mnist.yaml", "fashion_mnist_macro.yaml"))
    assert macro["space"]["type"] == "macro" and macro["search"]["final_epochs"] == 12


def test_set_overrides_any_depth_and_adds_keys(tmp_path):
    path = write(tmp_path, {"search": {"max_trials": 5}})
    config = load_config(path, ["search.max_trials=3", "search.directory=/tmp/run",
                                "strategy.population_size=4", "space.filters=[8, 16]"])
    assert config["search"]["max_trials"] == 3
    assert config["search"]["directory"] == "/tmp/run"
    assert config["strategy"]["population_size"] == 4
    assert config["space"]["filters"] == [8, 16]


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"serch": {}}, "serch"),
        ({"search": {"max_trial": 3}}, "search.max_trial"),
        ({"search": {"max_trials": "many"}}, "search.max_trials"),
        ({"search": {"max_trials": 0}}, "search.max_trials"),
        ({"search": {"epochs": 1.5}}, "search.epochs"),
        ({"search": {"seed": -1}}, "search.seed"),
        ({"data": {"validation_split": 1.5}}, "data.validation_split"),
        ({"data": {"input_kind": "video"}}, "data.input_kind"),
        ({"space": {"type": "transformer"}}, "space.type"),
        ({"space": {"type": "macro", "widht": 3}}, "space.widht"),
        ({"strategy": {"type": "annealing"}}, "strategy.type"),
        ({"strategy": {"type": "evolution", "population": 3}}, "strategy.population"),
        ({"estimation": {"magic": True}}, "estimation.magic"),
        ({"estimation": {"learning_curve": {"target": 0.9}}}, "estimation.learning_curve"),
        ({"estimation": {"learning_curve": {"threshold": 2}}}, "estimation.learning_curve"),
        ({"estimation": {"weight_inheritance": "yes"}}, "estimation.weight_inheritance"),
        ({"estimation": {"inherited_epochs": 0}}, "estimation.inherited_epochs"),
        ({"estimation": {"inherited_lr_factor": 0}}, "estimation.inherited_lr_factor"),
        ({"estimation": {"inherited_lr_factor": 1.5}}, "estimation.inherited_lr_factor"),
        ({"estimation": {"prefer_morphisms": "no"}}, "estimation.prefer_morphisms"),
        ({"search": 3}, "search"),
    ],
)
def test_config_errors_name_the_key(raw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_config(raw)


def run_cli(args, capsys):
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "config_change, override, message",
    [
        (None, "search.max_trial=3", "search.max_trial"),
        (None, "space.type=cells", "space.type"),
        (None, "data.dataset=/nonexistent/data.npz", "not found"),
        (None, "strategy.population_size=1", "population_size"),
        (None, "space.filters=[0]", "filters"),
        (None, "search.max_trials", "KEY=VALUE"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, config_change, override, message):
    path = write(tmp_path, tiny_config(tmp_path))
    code, out, err = run_cli(["search", path, "--set", override], capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "run")


def test_cli_missing_config_file(tmp_path, capsys):
    code, _, err = run_cli(["search", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2 and "config file not found" in err


def test_cli_bad_data_files(tmp_path, capsys):
    config = tiny_config(tmp_path)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((4, 8, 8)), y_train=np.zeros(3))
    config["data"]["dataset"] = str(bad)
    code, _, err = run_cli(["search", write(tmp_path, config)], capsys)
    assert code == 2 and "x_test" in err
    np.savez(bad, x_train=np.zeros((4, 8, 8)), y_train=np.zeros(3), x_test=np.zeros((2, 8, 8)), y_test=np.zeros(2))
    code, _, err = run_cli(["search", write(tmp_path, config)], capsys)
    assert code == 2 and "4 examples but y_train has 3" in err


def test_cli_search_results_resume_and_rebuild(tmp_path, capsys):
    config = tiny_config(tmp_path, final_epochs=1)
    path = write(tmp_path, config)
    code, out, err = run_cli(["search", path], capsys)
    assert code == 0, err
    run_dir = tmp_path / "run"
    results = json.load(open(run_dir / "results.json"))
    for key in ("best_trial_id", "best_hyperparameters", "best_val_score", "test_accuracy", "num_trials",
                "model_path", "trials"):
        assert key in results
    assert results["num_trials"] == 3
    assert len(results["trials"]) == 3
    for trial in results["trials"]:
        assert set(trial) >= {"trial_id", "status", "hyperparameters", "score", "epochs_trained", "num_params"}
        assert trial["epochs_trained"] == 1
    assert "Search summary" in out and "test accuracy" in out
    # the saved model takes raw uint8 images and reproduces the test accuracy
    model = keras.saving.load_model(results["model_path"])
    data = np.load(config["data"]["dataset"])
    accuracy = float(np.mean(np.argmax(model.predict(data["x_test"], verbose=0), axis=1) == data["y_test"]))
    assert accuracy == pytest.approx(results["test_accuracy"], abs=1e-6)
    # the best architecture is rebuilt, untrained, from results.json
    rebuilt = build_best_model(str(run_dir / "results.json"))
    assert rebuilt.count_params() == model.count_params()
    # running the same command again resumes: finished trials are kept
    scores = {t["trial_id"]: t["score"] for t in results["trials"]}
    code, out, err = run_cli(["search", path, "--set", "search.max_trials=4"], capsys)
    assert code == 0, err
    results = json.load(open(run_dir / "results.json"))
    assert results["num_trials"] == 4
    for trial in results["trials"]:
        if trial["trial_id"] in scores:
            assert trial["score"] == scores[trial["trial_id"]]
    # a different space in the same directory is refused; --overwrite starts over
    code, _, err = run_cli(["search", path, "--set", "space.max_layers=3"], capsys)
    assert code == 2 and "search.directory" in err
    code, _, err = run_cli(["search", path, "--set", "search.max_trials=2", "--overwrite"], capsys)
    assert code == 0, err
    assert json.load(open(run_dir / "results.json"))["num_trials"] == 2
    # the report command summarises the run and draws its plots
    code, out, err = run_cli(["report", str(run_dir), "--output", str(tmp_path / "report")], capsys)
    assert code == 0, err
    assert out.startswith("2 trials: 2 completed, 0 failed")
    for name in ("best_so_far.png", "score_vs_params.png", "learning_curves.png", "best_architecture.png"):
        assert os.path.getsize(tmp_path / "report" / name) > 1000


def test_report_on_a_directory_without_results(tmp_path, capsys):
    code, _, err = run_cli(["report", str(tmp_path)], capsys)
    assert code == 2 and "results.json" in err


def test_pareto_front_of_params_and_score():
    from keras_nas_plus.report import pareto_front

    points = [(10, 0.5), (20, 0.7), (15, 0.4), (30, 0.65), (40, 0.9)]
    assert [points[i] for i in pareto_front(points)] == [(10, 0.5), (20, 0.7), (40, 0.9)]


def test_final_training_recipe_overrides_space_and_batch(tmp_path, capsys):
    config = tiny_config(tmp_path, max_trials=2)
    config["space"]["augmentation"] = ["none", "translate"]
    config["search"]["final_training"] = {"epochs": 2, "batch_size": 8, "time_budget": 600,
                                          "space": {"augmentation": "translate_flip_erase", "learning_rate": 0.005}}
    code, out, err = run_cli(["search", write(tmp_path, config)], capsys)
    assert code == 0, err
    results = json.load(open(tmp_path / "run" / "results.json"))
    final = results["final_phase"]
    assert final["epochs"] == 2 and final["epochs_trained"] == 2 and final["batch_size"] == 8
    assert final["time_budget"] == 600 and final["stopped_by_time_budget"] is False
    assert final["space_overrides"]["augmentation"] == "translate_flip_erase"
    assert "width_multiplier" not in final and final["params"] == keras.saving.load_model(results["model_path"]).count_params()
    model = keras.saving.load_model(results["model_path"])
    assert model.get_layer("augment").erase == 0.5 and model.get_layer("augment").flip
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.005)
    # a bad override value is reported before anything runs
    config["search"]["final_training"]["space"]["augmentation"] = "mixup"
    config["search"]["directory"] = str(tmp_path / "run2")
    code, _, err = run_cli(["search", write(tmp_path, config)], capsys)
    assert code == 2 and "search.final_training.space" in err and "mixup" in err
    assert not os.path.exists(tmp_path / "run2")


def test_final_training_width_multiplier_widens_the_final_model(tmp_path, capsys):
    config = tiny_config(tmp_path, max_trials=1)
    config["search"]["final_training"] = {"epochs": 1, "width_multiplier": 2}
    code, out, err = run_cli(["search", write(tmp_path, config)], capsys)
    assert code == 0, err
    assert "architecture at 2 times its width" in out
    results = json.load(open(tmp_path / "run" / "results.json"))
    final = results["final_phase"]
    model = keras.saving.load_model(results["model_path"])
    searched = build_best_model(str(tmp_path / "run"))
    assert final["width_multiplier"] == 2 and final["params"] == model.count_params() > searched.count_params()
    assert model.get_layer("stem_conv").filters == 2 * searched.get_layer("stem_conv").filters
    assert results["trials"][0]["num_params"] == searched.count_params()
    code, out, err = run_cli(["report", str(tmp_path / "run"), "--output", str(tmp_path / "report")], capsys)
    assert code == 0, err
    assert f"final model: 1 epoch, 2 times as wide as searched, {model.count_params():,} params" in out


def test_precision_mixed_bfloat16_is_applied_and_restored(tmp_path, capsys):
    config = tiny_config(tmp_path, max_trials=1, precision="mixed_bfloat16", final_epochs=1)
    code, out, err = run_cli(["search", write(tmp_path, config)], capsys)
    assert code == 0, err
    assert keras.config.dtype_policy().name == "float32"  # the caller's policy is back
    results = json.load(open(tmp_path / "run" / "results.json"))
    model = keras.saving.load_model(results["model_path"])
    assert model.get_layer("stem_conv").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("classifier").compute_dtype == "float32"
    assert 0.0 <= results["test_accuracy"] <= 1.0


def test_yaml_weight_inheritance_options_reach_the_tuner(tmp_path):
    from keras_nas_plus import config as config_module
    from keras_nas_plus import run

    raw = {"search": {"directory": str(tmp_path / "run")},
           "strategy": {"type": "evolution", "population_size": 2, "sample_size": 1},
           "estimation": {"weight_inheritance": True, "inherited_epochs": 2,
                          "inherited_lr_factor": 0.5, "prefer_morphisms": False}}
    config = config_module.validate_config(raw)
    space = run.build_space(config["space"], input_shape=(8, 8), num_classes=3, input_kind="image")
    tuner = run.build_tuner(config, space, overwrite=True)
    assert tuner.weight_inheritance and tuner.inherited_epochs == 2
    assert tuner.inherited_lr_factor == 0.5 and tuner.prefer_morphisms is False
    assert tuner.oracle.child_preference is None
    raw["estimation"] = {"weight_inheritance": True}
    tuner = run.build_tuner(config_module.validate_config(raw), space, overwrite=True)
    assert tuner.inherited_lr_factor == 1.0 and tuner.oracle.child_preference is not None
