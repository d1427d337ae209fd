"""Warm start: `initial_architectures` proposed first (issue 23)."""

import json
import os

import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus.config import ConfigError
from keras_nas_plus.config import validate_config
from keras_nas_plus.oracles import RegularizedEvolution
from keras_nas_plus.oracles import RegularizedEvolutionOracle
from keras_nas_plus.oracles import RLControllerOracle
from keras_nas_plus.oracles import RLSearch
from keras_nas_plus.oracles.warm_start import INITIAL_KEY
from keras_nas_plus.oracles.warm_start import WarmStartRandomSearchOracle
from keras_nas_plus.tuners import RandomSearch

pytestmark = pytest.mark.core


def toy_space():
    hp = kt.HyperParameters()
    hp.Choice("a", [0, 1, 2, 3], default=0)
    hp.Int("b", 1, 4, default=1)
    hp.Boolean("c", default=False)
    return hp


def run_oracle(oracle, directory, trials=None, score=lambda v: float(v["a"] + v["b"] + v["c"])):
    oracle.verbose = 0
    oracle._set_project_dir(str(directory), "p")
    history = []
    while trials is None or len(history) < trials:
        trial = oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            break
        values = dict(trial.hyperparameters.values)
        history.append(values)
        oracle.update_trial(trial.trial_id, {"score": score(values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return history


class StubSpace(kt.HyperModel):
    """A tiny dense HyperModel with named reference points."""

    def build(self, hp):
        units = hp.Choice("units", [2, 4, 8], default=2)
        layers = hp.Int("layers", 1, 2, default=1)
        inputs = keras.Input((4,))
        x = inputs
        for _ in range(layers):
            x = keras.layers.Dense(units, activation="relu")(x)
        model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def references(self):
        return {"big": {"units": 8, "layers": 2}, "small": {"units": 2}}


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return x, y


def test_evolution_proposes_initial_architectures_first_in_order_and_keeps_them(tmp_path):
    oracle = RegularizedEvolutionOracle(
        objective=kt.Objective("score", "max"), max_trials=12, population_size=4, sample_size=4, seed=0,
        hyperparameters=toy_space(), initial_architectures=[{"a": 3, "b": 4, "c": True}, {"b": 2}])
    oracle.prepare_initial_architectures()
    history = run_oracle(oracle, tmp_path)
    assert len(history) == 12
    assert history[0] == {"a": 3, "b": 4, "c": True, INITIAL_KEY: "initial_architectures[0]"}
    # A partial dict is completed with the defaults.
    assert history[1] == {"a": 0, "b": 2, "c": False, INITIAL_KEY: "initial_architectures[1]"}
    assert all(INITIAL_KEY not in v for v in history[2:])
    # Both joined the population (aging evolution): 2 more random trials fill it to 4.
    assert [INITIAL_KEY in v for v in history[:4]] == [True, True, False, False]
    assert all("nas/parent_trial_id" not in v for v in history[:4])
    assert all("nas/parent_trial_id" in v for v in history[4:])
    # The best initial architecture (a=3, b=4, c=True: score 8, the maximum) wins the
    # full-population tournament: it is the first child's parent.
    assert history[4]["nas/parent_trial_id"] == oracle.start_order[0]


def test_bad_initial_architectures_name_the_problem():
    def make(initial):
        oracle = RegularizedEvolutionOracle(objective=kt.Objective("score", "max"), hyperparameters=toy_space(),
                                            initial_architectures=initial)
        oracle.prepare_initial_architectures()

    with pytest.raises(ValueError, match=r"unknown hyperparameter name\(s\) \['width', 'zz'\]"):
        make([{"a": 1, "zz": 3, "width": 2}])
    with pytest.raises(ValueError, match=r"value 9 is out of range for hyperparameter 'b'"):
        make([{"b": 9}])
    with pytest.raises(ValueError, match=r"value 5 is out of range for hyperparameter 'a'"):
        make([{"a": 5}])
    with pytest.raises(ValueError, match=r"value 1 is out of range for hyperparameter 'c'"):
        make([{"c": 1}])
    with pytest.raises(ValueError, match="same architecture"):
        make([{"a": 0}, {"b": 1}])
    with pytest.raises(ValueError, match="no `references\\(\\)` method"):
        make("references")
    with pytest.raises(ValueError, match="initial_architectures"):
        RegularizedEvolutionOracle(objective="val_accuracy", initial_architectures=[3])


def test_references_and_mixed_lists_resolve_through_the_hypermodel(tmp_path):
    x, y = _data()
    tuner = RegularizedEvolution(StubSpace(), objective="val_accuracy", max_trials=4, population_size=2,
                                 sample_size=1, seed=0, initial_architectures="references",
                                 directory=str(tmp_path), project_name="refs", latency_runs=0)
    assert tuner.oracle.initial_architectures == [["big", {"units": 8, "layers": 2}],
                                                  ["small", {"units": 2, "layers": 1}]]
    tuner.search(x, y, validation_data=(x, y), epochs=1, batch_size=16, verbose=0)
    ids = tuner.oracle.start_order
    assert [tuner.oracle.trials[t].hyperparameters.values.get(INITIAL_KEY) for t in ids[:3]] == ["big", "small", None]
    info = tuner.get_trial_info(ids[0])
    assert info["initial_architecture"] == "big" and info["num_params"] == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2

    with pytest.raises(ValueError, match=r"unknown reference 'WRN-16-8'.*\['big', 'small'\]"):
        RegularizedEvolution(StubSpace(), objective="val_accuracy", initial_architectures=["WRN-16-8"],
                             directory=str(tmp_path), project_name="bad", latency_runs=0)
    mixed = RegularizedEvolution(StubSpace(), objective="val_accuracy", initial_architectures=[
        {"units": 4}, "small"], directory=str(tmp_path), project_name="mixed", latency_runs=0)
    assert mixed.oracle.initial_architectures == [["initial_architectures[0]", {"units": 4, "layers": 1}],
                                                  ["small", {"units": 2, "layers": 1}]]


def test_resume_does_not_repropose_finished_initial_architectures(tmp_path):
    def make(initial):
        oracle = RegularizedEvolutionOracle(objective=kt.Objective("score", "max"), max_trials=8,
                                            population_size=4, sample_size=2, seed=1,
                                            hyperparameters=toy_space(), initial_architectures=initial)
        oracle.prepare_initial_architectures()
        return oracle

    initial = [{"a": 1}, {"a": 2}, {"a": 3}]
    first = make(initial)
    done = run_oracle(first, tmp_path, trials=2)
    assert [v[INITIAL_KEY] for v in done] == ["initial_architectures[0]", "initial_architectures[1]"]
    state = json.load(open(os.path.join(tmp_path, "p", "oracle.json")))
    assert state["initial_architectures"][2] == ["initial_architectures[2]", {"a": 3, "b": 1, "c": False}]
    for spec in (initial, None):  # with the argument again, or only from the saved state
        resumed = make(spec)
        resumed._set_project_dir(str(tmp_path), "p")
        resumed.reload()
        trial = resumed.create_trial("tuner0")
        assert trial.hyperparameters.values[INITIAL_KEY] == "initial_architectures[2]"
        assert trial.trial_id == "2"
        nxt = resumed.create_trial("tuner1")
        assert INITIAL_KEY not in nxt.hyperparameters.values


def test_rl_controller_trains_on_initial_architectures(tmp_path):
    oracle = RLControllerOracle(objective=kt.Objective("score", "max"), max_trials=4, batch_size=2, seed=0,
                                hyperparameters=toy_space(), initial_architectures=[{"a": 3, "b": 4}, {"a": 2}])
    oracle.prepare_initial_architectures()
    oracle.verbose = 0
    oracle._set_project_dir(str(tmp_path), "p")
    trial = oracle.create_trial("t")
    assert trial.hyperparameters.values[INITIAL_KEY] == "initial_architectures[0]"
    # The path of the initial architecture is kept for the REINFORCE update.
    path = oracle._samples[trial.trial_id]
    choices = dict(path)
    assert choices == {"a": 3, "b": 3, "c": 0}  # indices of a=3, b=4, c=False
    before = {k: v.copy() for k, v in oracle._params.items()}
    history = [dict(trial.hyperparameters.values)]
    oracle.update_trial(trial.trial_id, {"score": 8.0})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    history += run_oracle(oracle, tmp_path, trials=1)
    assert history[1][INITIAL_KEY] == "initial_architectures[1]"
    assert oracle.num_updates == 1  # the two initial architectures made the first batch
    assert any(not np.allclose(before[k], oracle._params[k]) for k in before)
    # The update raised the probability of the better initial architecture's first decision.
    p_a = oracle.probabilities([["a", 3]])[0]
    assert p_a[3] > 0.25


def test_random_search_tuner_warm_starts_and_marks_trials(tmp_path):
    x, y = _data()
    tuner = RandomSearch(StubSpace(), objective="val_accuracy", max_trials=3, seed=0,
                         initial_architectures=["big"], directory=str(tmp_path), project_name="r",
                         latency_runs=0)
    assert isinstance(tuner.oracle, WarmStartRandomSearchOracle)
    tuner.search(x, y, validation_data=(x, y), epochs=1, batch_size=16, verbose=0)
    values = [tuner.oracle.trials[t].hyperparameters.values for t in sorted(tuner.oracle.trials)]
    assert values[0] == {"units": 8, "layers": 2, INITIAL_KEY: "big"}
    assert all(INITIAL_KEY not in v for v in values[1:]) and len(values) == 3
    assert tuner.get_trial_info("0")["initial_architecture"] == "big"


def test_rl_tuner_accepts_initial_architectures(tmp_path):
    tuner = RLSearch(StubSpace(), objective="val_accuracy", max_trials=2, initial_architectures="references",
                     directory=str(tmp_path), project_name="rl", latency_runs=0)
    assert [n for n, _ in tuner.oracle.initial_architectures] == ["big", "small"]


def test_yaml_initial_architectures_validated():
    base = {"space": {"type": "macro"}, "search": {"max_trials": 2}}
    for strategy in ("bayesian", "grid", "hyperband"):
        with pytest.raises(ConfigError, match=f"strategy.initial_architectures: strategy type '{strategy}'"):
            validate_config({**base, "strategy": {"type": strategy, "initial_architectures": "references"}})
    with pytest.raises(ConfigError, match="strategy.initial_architectures: expected"):
        validate_config({**base, "strategy": {"type": "evolution", "initial_architectures": [3]}})
    for strategy in ("evolution", "rl", "random"):
        config = validate_config({**base, "strategy": {"type": strategy,
                                                       "initial_architectures": [{"num_layers": 2}, "ref"]}})
        assert config["strategy"]["initial_architectures"] == [{"num_layers": 2}, "ref"]


def test_run_search_with_initial_architectures_in_yaml(tmp_path):
    from test_config_cli import tiny_config

    from keras_nas_plus.run import run_search

    config = tiny_config(tmp_path, max_trials=3)
    config["strategy"]["initial_architectures"] = [{"num_layers": 2, "layer_1/op": "maxpool3x3"}]
    results = run_search(validate_config(config))
    first = results["trials"][0]
    assert first["initial_architecture"] == "initial_architectures[0]"
    assert first["hyperparameters"]["num_layers"] == 2 and first["hyperparameters"]["layer_1/op"] == "maxpool3x3"
    assert first["hyperparameters"]["layer_0/op"] == "conv3x3"  # the default
    assert all(r["initial_architecture"] is None for r in results["trials"][1:])
    (tmp_path / "b").mkdir()
    bad = tiny_config(tmp_path / "b")
    bad["strategy"]["initial_architectures"] = [{"num_layers": 7}]
    with pytest.raises(ConfigError, match="value 7 is out of range for hyperparameter 'num_layers'"):
        run_search(validate_config(bad))
