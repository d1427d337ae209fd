"""Lower-fidelity estimates: knobs, tuner mixin, final top-k phase, successive halving, config."""

import json
import os

import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus import config as config_module
from keras_nas_plus import fidelity
from keras_nas_plus.fidelity import Fidelity
from keras_nas_plus.oracles import RegularizedEvolution
from keras_nas_plus.spaces import CellSearchSpace, MacroSearchSpace


def macro_space(shape=(8, 8)):
    return MacroSearchSpace(input_shape=shape, num_classes=3, input_kind="image", min_layers=1, max_layers=3,
                            operations=("conv3x3", "maxpool3x3"), filters=(4, 8), stem_filters=4,
                            downsample_at=(1,), dropout=0.0, rescale=1 / 255)


def hp_of(values):
    hp = kt.HyperParameters()
    hp.values = dict(values)
    return hp


ARCH = {"num_layers": 3, "layer_0/op": "conv3x3", "layer_0/filters": 8, "layer_1/op": "conv3x3",
        "layer_1/filters": 8, "layer_2/op": "conv3x3", "layer_2/filters": 8}


# ------------------------------------------------------------- the knobs
@pytest.mark.core
def test_arguments_validated_naming_the_argument():
    for kwargs, name in [({"data_fraction": 0}, "data_fraction"), ({"data_fraction": 1.5}, "data_fraction"),
                         ({"resolution": 2}, "resolution"), ({"resolution": 7.5}, "resolution"),
                         ({"width_multiplier": 0}, "width_multiplier"), ({"num_cells": 0}, "num_cells"),
                         ({"epochs": 0}, "epochs"), ({"top_k": 0}, "top_k"), ({"schedule": "hyperband"}, "schedule"),
                         ({"schedule": "successive_halving"}, "data_fraction")]:
        with pytest.raises(ValueError, match=name):
            Fidelity(**kwargs)
    f = Fidelity(data_fraction=0.5, resolution=6, top_k=2, schedule="successive_halving")
    assert Fidelity.from_config(f.get_config()).get_config() == f.get_config()
    assert f.describe() == "data_fraction=0.5, resolution=6"


@pytest.mark.core
def test_stratified_subset_keeps_class_proportions():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    idx = fidelity.stratified_subset(y, 0.2, seed=1)
    assert np.bincount(y[idx]).tolist() == [12, 6, 2]
    assert np.array_equal(idx, fidelity.stratified_subset(y, 0.2, seed=1))  # same subset every trial


@pytest.mark.core
def test_resize_images_keeps_dtype_and_content():
    x = np.zeros((2, 8, 8), "uint8")
    x[:, :4] = 200
    small = fidelity.resize_images(x, 4)
    assert small.shape == (2, 4, 4) and small.dtype == np.uint8
    assert small[0, 0, 0] == 200 and small[0, 3, 0] == 0
    assert fidelity.resize_images(np.zeros((3, 8, 8, 3), "float32"), 4).shape == (3, 4, 4, 3)


@pytest.mark.core
def test_each_knob_changes_what_is_trained(tiny_images):
    (x, y), (xv, yv), _ = tiny_images
    space = macro_space()
    full = fidelity.build_model(space, hp_of(ARCH), Fidelity())
    assert full.inputs[0].shape[1:] == (8, 8)
    # data_fraction: fewer examples (stratified), same network
    xs, ys = fidelity.reduce_data(x, y, Fidelity(data_fraction=0.5))
    assert len(xs) == len(ys) == len(fidelity.stratified_subset(y, 0.5)) < 40
    assert fidelity.build_model(space, hp_of(ARCH), Fidelity(data_fraction=0.5)).count_params() == full.count_params()
    # resolution: smaller images and input shape
    xr, _ = fidelity.reduce_data(x, y, Fidelity(resolution=4))
    assert xr.shape == (40, 4, 4)
    assert fidelity.build_model(space, hp_of(ARCH), Fidelity(resolution=4)).inputs[0].shape[1:] == (4, 4)
    # width_multiplier: fewer filters everywhere
    wide = fidelity.build_model(space, hp_of(ARCH), Fidelity(width_multiplier=0.5))
    assert wide.count_params() < full.count_params()
    assert wide.get_layer("stem_conv").filters == 2 and wide.get_layer("layer_0_conv").filters == 4
    assert full.get_layer("layer_0_conv").filters == 8
    # num_cells: the macro chain truncated to its first layers
    cells = fidelity.build_model(space, hp_of(ARCH), Fidelity(num_cells=1))
    names = [layer.name for layer in cells.layers]
    assert cells.count_params() < full.count_params()
    assert "layer_0_conv" in names and "layer_1_conv" not in names
    # all together, trained: what the trial records
    low = Fidelity(data_fraction=0.5, resolution=4, width_multiplier=0.5, num_cells=2, epochs=2)
    res = fidelity.train_architecture(space, ARCH, low, x, y, (xv, yv), epochs=1, batch_size=20)
    assert res["num_train_examples"] == len(xs) and res["input_shape"] == [None, 4, 4] and res["epochs"] == 2
    assert res["num_params"] < full.count_params()
    assert res["score"] is not None and 0 <= res["score"] <= 1 and res["train_seconds"] > 0


@pytest.mark.core
def test_cell_space_width_and_cells():
    space = CellSearchSpace(input_shape=(8, 8, 1), num_classes=3, filters=8, num_cells=2, num_blocks=1,
                            num_reductions=1, operations=("identity", "avg_pool_3x3"))
    small = fidelity.reduced_space(space, Fidelity(width_multiplier=0.5, num_cells=1, resolution=4))
    assert (small.filters, small.num_cells, tuple(small.input_shape)) == (4, 1, (4, 4, 1))
    assert (space.filters, space.num_cells) == (8, 2)  # the full space is untouched


@pytest.mark.core
def test_widened_multiplies_every_filter_count():
    space = macro_space()
    hp = hp_of(ARCH)
    base = space.build(hp)
    wide_space, wide_hp = fidelity.widened(space, hp, 2)
    wide = wide_space.build(wide_hp)
    for name in ("stem_conv", "layer_0_conv"):
        assert wide.get_layer(name).filters == 2 * base.get_layer(name).filters
    assert wide.count_params() > 2 * base.count_params()
    assert space.stem_filters == base.get_layer("stem_conv").filters  # the space is untouched
    assert fidelity.widened(space, hp, 1) == (space, hp)
    odd_space, odd_hp = fidelity.widened(space, hp, 1.3)  # rounded: 8 filters -> 10
    assert odd_space.build(odd_hp).get_layer("layer_0_conv").filters == round(1.3 * base.get_layer("layer_0_conv").filters)
    cell = CellSearchSpace(input_shape=(8, 8, 1), num_classes=3, filters=8, num_cells=1, num_blocks=1,
                           num_reductions=1, operations=("identity", "avg_pool_3x3"))
    assert fidelity.widened(cell, hp, 1.5)[0].filters == 12
    for bad in (0, -1, "2", None, float("nan")):
        with pytest.raises(ValueError, match="width_multiplier"):
            fidelity.widened(space, hp, bad)


# ------------------------------------------------------------ the tuner
def search_low(tmp_path, tiny_images, fid, max_trials=4, project="p"):
    (x, y), (xv, yv), _ = tiny_images
    Tuner = fidelity.with_fidelity(RegularizedEvolution)
    tuner = Tuner(macro_space(), fidelity=fid, objective="val_accuracy", max_trials=max_trials,
                  population_size=2, sample_size=1, seed=2, directory=str(tmp_path), project_name=project)
    tuner.search(x, y, validation_data=(xv, yv), epochs=3, batch_size=20, verbose=0)
    return tuner


@pytest.mark.core
def test_tuner_trains_trials_at_low_fidelity_and_final_phase_at_full(tiny_images, tmp_path):
    (x, y), (xv, yv), _ = tiny_images
    fid = Fidelity(data_fraction=0.5, resolution=4, width_multiplier=0.5, epochs=1, top_k=2)
    tuner = search_low(tmp_path, tiny_images, fid)
    assert len(tuner.oracle.trials) == 4
    for t in tuner.oracle.trials.values():
        info = tuner.get_trial_info(t.trial_id)
        assert info["num_train_examples"] == len(fidelity.stratified_subset(y, 0.5)) < 40
        assert info["input_shape"] == [None, 4, 4]
        assert info["epochs_trained"] == 1
    # the oracle saw the full space's hyperparameters (filters 4/8, not scaled)
    declared = {hp.name: hp for hp in tuner.oracle.get_space().space}
    assert set(declared["layer_0/filters"].values) == {4, 8}
    phase = fidelity.retrain_top_k(tuner, x, y, (xv, yv), epochs=2, batch_size=20)
    best2 = [t.trial_id for t in tuner.oracle.get_best_trials(2)]
    assert [r["trial_id"] for r in phase["trials"]] == best2
    for r in phase["trials"]:
        assert r["num_train_examples"] == 40 and r["input_shape"] == [None, 8, 8] and r["epochs"] == 2
        assert r["low_fidelity_score"] == tuner.oracle.get_trial(r["trial_id"]).score
    best = max(phase["trials"], key=lambda r: r["score"])
    assert phase["best_trial_id"] == best["trial_id"] and phase["best_score"] == best["score"]
    # the final model takes full-resolution raw input
    assert phase["model"].predict(tiny_images[2][0], verbose=0).shape == (16, 3)


@pytest.mark.core
def test_halving_rungs():
    assert fidelity.halving_rungs(0.25, 8, 1) == [(0.5, 4), (1.0, 2)]
    assert fidelity.halving_rungs(0.2, 8, 3) == [(0.4, 4), (0.8, 3), (1.0, 3)]
    assert fidelity.halving_rungs(0.5, 2, 3) == [(1.0, 2)]


def test_successive_halving_promotes_the_best(tiny_images, tmp_path):
    (x, y), (xv, yv), _ = tiny_images
    fid = Fidelity(data_fraction=0.25, epochs=1, top_k=1, schedule="successive_halving")
    tuner = search_low(tmp_path, tiny_images, fid, max_trials=4)
    phase = fidelity.retrain_top_k(tuner, x, y, (xv, yv), epochs=1, batch_size=20)
    rungs = phase["successive_halving"]
    assert [r["data_fraction"] for r in rungs] == [0.25, 0.5, 1.0]
    assert [len(r["trial_ids"]) for r in rungs] == [4, 2, 1]
    ranked = [t.trial_id for t in tuner.oracle.get_best_trials(4)]
    scores0 = dict(zip(rungs[0]["trial_ids"], rungs[0]["scores"]))
    assert sorted(rungs[1]["trial_ids"], key=lambda t: -scores0[t]) == rungs[1]["trial_ids"]
    assert set(rungs[1]["trial_ids"]) == set(ranked[:2]) or scores0[ranked[1]] == scores0[ranked[2]]
    scores1 = dict(zip(rungs[1]["trial_ids"], rungs[1]["scores"]))
    assert rungs[2]["trial_ids"] == [max(rungs[1]["trial_ids"], key=lambda t: scores1[t])]
    assert [r["trial_id"] for r in phase["trials"]] == rungs[2]["trial_ids"]


# ------------------------------------------------------------ the config
@pytest.mark.core
def test_yaml_keys_validated_naming_the_key():
    ok = config_module.validate_config({"estimation": {"fidelity": {"data_fraction": 0.25, "resolution": 14,
                                                                     "width_multiplier": 0.5, "num_cells": 2,
                                                                     "epochs": 1, "top_k": 3,
                                                                     "schedule": "successive_halving"}}})
    assert ok["estimation"]["fidelity"]["top_k"] == 3
    for section, key in [({"data_fraction": 2}, "estimation.fidelity.data_fraction"),
                         ({"resolution": "half"}, "estimation.fidelity.resolution"),
                         ({"width_multiplier": -1}, "estimation.fidelity.width_multiplier"),
                         ({"num_cells": 0}, "estimation.fidelity.num_cells"),
                         ({"epochs": 1.5}, "estimation.fidelity.epochs"),
                         ({"top_k": 0}, "estimation.fidelity.top_k"),
                         ({"schedule": "bohb"}, "estimation.fidelity.schedule"),
                         ({"schedule": "successive_halving"}, "estimation.fidelity.schedule"),
                         ({"fraction": 0.5}, "estimation.fidelity.fraction"),
                         ([0.5], "estimation.fidelity")]:
        with pytest.raises(config_module.ConfigError, match=key.replace(".", r"\.")):
            config_module.validate_config({"estimation": {"fidelity": section}})


@pytest.mark.core
def test_run_search_reports_final_phase(tiny_images, tmp_path):
    from keras_nas_plus import run

    (x, y), (xv, yv), (xt, yt) = tiny_images
    path = str(tmp_path / "tiny.npz")
    np.savez(path, x_train=np.concatenate([x, xv]), y_train=np.concatenate([y, yv]), x_test=xt, y_test=yt)
    config = config_module.validate_config({
        "data": {"dataset": path, "validation_split": 0.25, "input_kind": "image"},
        "space": {"type": "macro", "min_layers": 1, "max_layers": 2, "operations": ["conv3x3", "maxpool3x3"],
                  "filters": [4, 8], "stem_filters": 4, "downsample_at": [1], "dropout": 0.0},
        "strategy": {"type": "random"},
        "search": {"max_trials": 3, "epochs": 2, "batch_size": 16, "directory": str(tmp_path / "run"), "verbose": 0},
        "estimation": {"fidelity": {"data_fraction": 0.5, "resolution": 4, "epochs": 1, "top_k": 2}},
    })
    results = run.run_search(config)
    assert all(abs(t["num_train_examples"] - 20.5) <= 3 and t["input_shape"] == [None, 4, 4] for t in results["trials"])
    phase = results["final_phase"]
    assert set(phase) >= {"epochs", "seconds", "trials", "top_k", "top_k_seconds", "best_trial_id"}
    assert len(phase["trials"]) == 2 and all(r["num_train_examples"] == 42 for r in phase["trials"])
    assert all(r["input_shape"] == [None, 8, 8] and r["epochs"] == 2 for r in phase["trials"])
    assert results["best_trial_id"] == phase["best_trial_id"]
    assert results["best_val_score"] == phase["best_score"]
    with open(os.path.join(str(tmp_path / "run"), "results.json")) as f:
        assert json.load(f)["final_phase"]["trials"][0]["trial_id"] == phase["trials"][0]["trial_id"]
    assert run.build_best_model(str(tmp_path / "run")).inputs[0].shape[1:] == (8, 8)


@pytest.mark.core
def test_fidelity_report_subcommand_is_wired(tmp_path, capsys):
    from keras_nas_plus import cli

    parser, commands = cli.build_parser()
    args = parser.parse_args(["fidelity-report", "missing.yaml", "--num-architectures", "4"])
    assert commands[args.command](args) == 2
    assert "config file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("estimation:\n  fidelity:\n    resolution: 1\n")
    args = parser.parse_args(["fidelity-report", str(bad)])
    assert commands[args.command](args) == 2
    assert "estimation.fidelity.resolution" in capsys.readouterr().err


@pytest.mark.core
def test_rank_correlation_and_report_settings():
    rho, tau = fidelity.rank_correlation([0.1, 0.2, 0.3, None], [0.5, 0.7, 0.6, 0.9])
    assert rho == pytest.approx(0.5) and tau == pytest.approx(1 / 3)
    settings = fidelity.settings_from_config(Fidelity(data_fraction=0.25, resolution=14, top_k=2), None, None)
    assert list(settings) == ["data_fraction=0.25", "resolution=14", "data_fraction=0.25+resolution=14"]
    assert settings["data_fraction=0.25+resolution=14"].resolution == 14
