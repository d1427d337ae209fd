import json
import math
import os

import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus.oracles import RLControllerOracle
from keras_nas_plus.oracles import _controller
from keras_nas_plus.oracles.rl import decision_choices

pytestmark = pytest.mark.core

NUM_DECISIONS = 6
TARGET = [3, 1, 0, 2, 3, 1]


def toy_space():
    hp = kt.HyperParameters()
    for i in range(NUM_DECISIONS):
        hp.Choice(f"d{i}", [0, 1, 2, 3])
    return hp


def toy_score(values):
    """Known objective: number of decisions equal to TARGET (max 6)."""
    return float(sum(values[f"d{i}"] == t for i, t in enumerate(TARGET)))


TARGET_PATH = [[f"d{i}", t] for i, t in enumerate(TARGET)]


def make_oracle(seed, **kwargs):
    kwargs.setdefault("max_trials", 60)
    return RLControllerOracle(
        objective=kt.Objective("score", "max"), seed=seed, hyperparameters=toy_space(), **kwargs
    )


def end(oracle, trial, score=None, status="COMPLETED"):
    if score is not None:
        oracle.update_trial(trial.trial_id, {"score": score})
    trial.status = status
    oracle.end_trial(trial)


def run_oracle(oracle, directory, score_fn=toy_score, trials=None):
    oracle.verbose = 0
    if getattr(oracle, "_directory", None) is None:
        oracle._set_project_dir(str(directory), "p")
    history = []
    while trials is None or len(history) < trials:
        trial = oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            break
        values = trial.hyperparameters.values
        score = score_fn(values)
        history.append((dict(values), score))
        end(oracle, trial, score)
    return history


def target_probability(oracle):
    """Mean over steps of the probability of the target value (teacher forcing)."""
    return float(np.mean([p[t] for p, t in zip(oracle.probabilities(TARGET_PATH), TARGET)]))


# ------------------------------------------------------------------ controller
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradients_match_finite_differences(cell):
    rng = np.random.default_rng(0)
    params = _controller.init_params(cell, 5, 4, rng)
    params["core/W"] *= 10.0  # away from the linear regime
    for name, n in (("a", 3), ("b", 2), ("c", 4)):
        _controller.add_head(params, name, n, rng)
        params[f"head/{name}/W"] = rng.normal(size=(n, 5))
        params[f"head/{name}/b"] = rng.normal(size=n)
    paths = [[("a", 1), ("b", 0), ("c", 3), ("a", 2)], [("c", 0), ("b", 1)]]
    advantages = [0.7, -1.3]
    _, grads = _controller.loss_and_grads(params, cell, paths, advantages, entropy_weight=0.3)
    eps, worst = 1e-6, 0.0
    for key, array in params.items():
        for index in np.ndindex(array.shape):
            old = array[index]
            array[index] = old + eps
            plus, _ = _controller.loss_and_grads(params, cell, paths, advantages, 0.3)
            array[index] = old - eps
            minus, _ = _controller.loss_and_grads(params, cell, paths, advantages, 0.3)
            array[index] = old
            worst = max(worst, abs((plus - minus) / (2 * eps) - grads[key][index]))
    assert worst < 1e-7
    assert np.abs(grads["core/W"]).max() > 1e-3  # the check is not vacuous


def test_new_head_starts_uniform_and_log_prob_is_sum():
    rng = np.random.default_rng(1)
    params = _controller.init_params("lstm", 8, 8, rng)
    _controller.add_head(params, "x", 4, rng)
    _controller.add_head(params, "y", 2, rng)
    probs, _ = _controller.forward(params, "lstm", [("x", 2), ("y", 1)])
    np.testing.assert_allclose(probs[0], 0.25)
    np.testing.assert_allclose(probs[1], 0.5)
    assert _controller.log_prob(params, "lstm", [("x", 2), ("y", 1)]) == pytest.approx(
        math.log(0.25) + math.log(0.5)
    )
    assert _controller.entropy(probs) == pytest.approx(math.log(4) + math.log(2))


def test_adam_step_moves_against_gradient():
    params = {"w": np.array([1.0, -2.0])}
    m, v = {}, {}
    _controller.adam_update(params, {"w": np.array([0.5, -3.0])}, m, v, 1, 0.1)
    # first Adam step: each coordinate moves by ~learning_rate opposite to its gradient
    np.testing.assert_allclose(params["w"], [0.9, -1.9], atol=1e-6)


# -------------------------------------------------------------------- learning
def test_probability_of_the_optimum_rises_over_updates(tmp_path):
    before, after, best = [], [], []
    for seed in range(3):
        oracle = make_oracle(seed, max_trials=80)
        oracle._set_project_dir(str(tmp_path / str(seed)), "p")
        oracle._ensure_core()
        for name, _ in TARGET_PATH:
            oracle._ensure_head(name, 4)
        before.append(target_probability(oracle))
        history = run_oracle(oracle, tmp_path / str(seed))
        assert oracle.num_updates == 80 // oracle.batch_size
        after.append(target_probability(oracle))
        best.append(max(s for _, s in history))
    np.testing.assert_allclose(before, 0.25)  # uniform start
    assert all(a > b + 0.15 for a, b in zip(after, before)), after
    assert np.mean(after) > 0.5, after
    assert np.mean(best) >= 5.0, best


def test_minimised_objective_is_handled(tmp_path):
    oracle = RLControllerOracle(
        objective=kt.Objective("loss", "min"), max_trials=60, seed=0, hyperparameters=toy_space()
    )
    oracle.verbose = 0
    oracle._set_project_dir(str(tmp_path), "p")
    for _ in range(60):
        trial = oracle.create_trial("t")
        oracle.update_trial(trial.trial_id, {"loss": 6.0 - toy_score(trial.hyperparameters.values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert target_probability(oracle) > 0.4


def test_reward_normalisations():
    oracle = make_oracle(0)

    class T:
        def __init__(self, s):
            self.score = s

    window = [1.0, 2.0, 3.0, 5.0]
    assert oracle.normalised_reward(T(5.0), window) == 1.0
    assert oracle.normalised_reward(T(1.0), window) == 0.0
    assert oracle.normalised_reward(T(2.0), window) == pytest.approx(1 / 3)
    oracle.reward = "standardize"
    z = (5.0 - np.mean(window)) / np.std(window)
    assert oracle.normalised_reward(T(5.0), window) == pytest.approx(z)
    oracle.reward = "raw"
    assert oracle.normalised_reward(T(5.0), window) == 5.0
    minimise = RLControllerOracle(objective=kt.Objective("loss", "min"))
    utilities = [-w for w in window]  # a window holds utilities (larger is better)
    assert minimise.normalised_reward(T(1.0), utilities) == 1.0  # lowest loss ranks best


# ----------------------------------------------------------------------- state
def test_same_seed_same_proposals_and_state_round_trip(tmp_path):
    a = run_oracle(make_oracle(7, max_trials=40), tmp_path / "a")
    b = run_oracle(make_oracle(7, max_trials=40), tmp_path / "b")
    assert [v for v, _ in a] == [v for v, _ in b]
    c = run_oracle(make_oracle(8, max_trials=40), tmp_path / "c")
    assert [v for v, _ in a] != [v for v, _ in c]

    # Interrupt after 17 trials (mid-batch), reload from disk, continue.
    first = make_oracle(7, max_trials=40)
    run_oracle(first, tmp_path / "d", trials=17)
    state = json.load(open(os.path.join(tmp_path / "d", "p", "oracle.json")))
    assert isinstance(state["rl_controller"]["params"]["core/W"][0][0], float)  # plain JSON
    assert state["rl"]["adam_step"] == 3 and len(state["rl"]["pending"]) == 2
    resumed = make_oracle(7, max_trials=40)
    resumed._set_project_dir(str(tmp_path / "d"), "p")
    resumed.reload()
    for name, values in first._params.items():
        np.testing.assert_array_equal(resumed._params[name], values)
    for p, q in zip(first.probabilities(TARGET_PATH), resumed.probabilities(TARGET_PATH)):
        np.testing.assert_array_equal(p, q)  # identical sampling distribution
    assert resumed.baseline == first.baseline
    rest = run_oracle(resumed, tmp_path / "d")
    assert [v for v, _ in rest] == [v for v, _ in a[17:]]


def test_get_state_set_state_in_memory(tmp_path):
    oracle = make_oracle(3, max_trials=30)
    run_oracle(oracle, tmp_path, trials=12)
    state = json.loads(json.dumps(oracle.get_state()))
    clone = make_oracle(3, max_trials=30)
    clone._set_project_dir(str(tmp_path / "clone"), "p")
    clone.set_state(state)
    clone.trials = oracle.trials
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    assert [oracle.sample(rng_a)[0] for _ in range(5)] == [clone.sample(rng_b)[0] for _ in range(5)]
    assert clone._adam_step == oracle._adam_step == 2
    for name in oracle._adam_m:
        np.testing.assert_array_equal(clone._adam_v[name], oracle._adam_v[name])


# --------------------------------------------------------------- search spaces
def test_conditional_space_emits_only_active_decisions(tmp_path):
    hp = kt.HyperParameters()
    hp.Choice("depth", [1, 2, 3])
    for i in range(3):
        with hp.conditional_scope("depth", list(range(i + 1, 4))):
            hp.Choice(f"units_{i}", [8, 16, 32])
    hp.Fixed("activation", "relu")

    def score(values):
        return values["depth"] * 10 + sum(values.get(f"units_{i}", 0) for i in range(3)) / 100

    oracle = RLControllerOracle(
        objective=kt.Objective("score", "max"), max_trials=27, batch_size=3, seed=0, hyperparameters=hp
    )
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.verbose = 0
    for _ in range(27):
        trial = oracle.create_trial("t")
        if trial.status != "RUNNING":
            break
        values = trial.hyperparameters.values
        path = oracle._samples[trial.trial_id]
        for i in range(3):
            assert (f"units_{i}" in values) == (i < values["depth"])
        assert [n for n, _ in path] == ["depth"] + [f"units_{i}" for i in range(values["depth"])]
        assert values["activation"] == "relu"  # Fixed: a value, no decision
        end(oracle, trial, score(values))
    assert len(oracle.trials) == 27
    assert max(oracle.utility(t) for t in oracle.completed_trials()) >= 30


def test_float_int_boolean_and_new_hyperparameters(tmp_path):
    hp = kt.HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Float("dropout", 0.0, 0.5, step=0.25)
    hp.Int("units", 8, 64, step=8)
    hp.Int("wide", 1, 100000)
    hp.Boolean("bn")
    oracle = RLControllerOracle(
        objective=kt.Objective("score", "max"), max_trials=30, float_bins=4, batch_size=2, seed=1,
        hyperparameters=hp,
    )
    lr_bins = decision_choices(hp._hps["lr"][0], 4)
    assert len(lr_bins) == 4
    np.testing.assert_allclose(np.log10(lr_bins), [-3.625, -2.875, -2.125, -1.375])
    assert decision_choices(hp._hps["dropout"][0], 4) == [0.0, 0.25, 0.5]
    assert decision_choices(hp._hps["units"][0], 4) == [8, 16, 24, 32, 40, 48, 56, 64]
    assert len(decision_choices(hp._hps["wide"][0], 4)) == 4  # too wide: binned
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.verbose = 0
    for i in range(30):
        if i == 10:  # the hypermodel registers a new hyperparameter mid-search
            new = kt.HyperParameters()
            new.Choice("optimizer", ["adam", "sgd", "rmsprop"])
            oracle.update_space(new)
        trial = oracle.create_trial("t")
        values = trial.hyperparameters.values
        assert values["lr"] in lr_bins and values["units"] % 8 == 0
        assert isinstance(values["bn"], bool)
        assert ("optimizer" in values) == (i >= 10)
        score = values["units"] + 100 * values["bn"] + (values.get("optimizer") == "sgd")
        end(oracle, trial, float(score))
    assert oracle._params["head/optimizer/W"].shape == (3, oracle.hidden_units)
    assert oracle.num_updates == 15


def test_no_duplicates_and_exhausted_space_stops(tmp_path):
    hp = kt.HyperParameters()
    hp.Choice("a", [0, 1])
    hp.Choice("b", [0, 1])
    oracle = RLControllerOracle(
        objective=kt.Objective("score", "max"), max_trials=10, batch_size=1, seed=0, hyperparameters=hp
    )
    history = run_oracle(oracle, tmp_path, score_fn=lambda v: v["a"] + v["b"])
    assert len(history) == 4
    assert len({(v["a"], v["b"]) for v, _ in history}) == 4


# ------------------------------------------------------ failures, asynchrony
def test_failed_and_nan_trials_give_no_reward_and_keep_baseline(tmp_path):
    oracle = make_oracle(2, max_trials=30, batch_size=2, max_consecutive_failed_trials=30)
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.verbose = 0
    for i in range(30):
        trial = oracle.create_trial("t")
        baseline, updates = oracle.baseline, oracle.num_updates
        if i % 3 == 0:
            end(oracle, trial, float("nan"))
        elif i % 3 == 1 and i % 2 == 0:
            end(oracle, trial, status="FAILED")
        else:
            end(oracle, trial, toy_score(trial.hyperparameters.values))
            continue
        assert oracle.trials[trial.trial_id].status == "FAILED"
        assert trial.trial_id not in oracle._samples and trial.trial_id not in oracle._pending
        assert oracle.baseline == baseline and oracle.num_updates == updates
        assert baseline is None or math.isfinite(baseline)
    assert oracle.num_updates == 7  # 15 good trials, batches of 2


def test_failure_reward_credits_failures_without_touching_baseline(tmp_path):
    oracle = make_oracle(2, max_trials=4, batch_size=2, failure_reward=0.0)
    oracle._set_project_dir(str(tmp_path), "p")
    first = oracle.create_trial("a")
    end(oracle, first, 4.0)
    second = oracle.create_trial("a")
    path = [tuple(s) for s in oracle._samples[second.trial_id]]
    before = _controller.log_prob(oracle._params, "lstm", path)
    end(oracle, second, status="FAILED")
    assert oracle.num_updates == 1
    assert oracle.baseline == 0.5  # only the successful trial's rank reward
    assert _controller.log_prob(oracle._params, "lstm", path) < before  # penalised


def test_asynchronous_trials_are_credited_to_their_own_samples(tmp_path):
    oracle = make_oracle(4, max_trials=30, batch_size=1, reward="raw", baseline_decay=0.5)
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.verbose = 0
    workers = [oracle.create_trial(f"w{k}") for k in range(3)]
    paths = {t.trial_id: [tuple(s) for s in oracle._samples[t.trial_id]] for t in workers}
    for t in workers:
        assert [list(s) for s in paths[t.trial_id]] == oracle.path_of(t.hyperparameters.values)
    a, b, c = workers
    end(oracle, a, 1.0)  # first update: baseline = 1.0, advantage 0
    assert oracle.baseline == 1.0
    before_b = _controller.log_prob(oracle._params, "lstm", paths[b.trial_id])
    before_c = _controller.log_prob(oracle._params, "lstm", paths[c.trial_id])
    end(oracle, c, 5.0)  # ends before b: its own path gets the positive advantage
    after_c = _controller.log_prob(oracle._params, "lstm", paths[c.trial_id])
    assert after_c > before_c + 0.1
    assert b.trial_id in oracle._samples and c.trial_id not in oracle._samples
    end(oracle, b, -5.0)  # negative advantage for b's own path
    after_b = _controller.log_prob(oracle._params, "lstm", paths[b.trial_id])
    assert oracle._samples == {} and oracle.num_updates == 3
    assert after_b < before_b


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"cell": "rnn"}, "cell"),
        ({"hidden_units": 0}, "hidden_units"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"baseline_decay": 1.0}, "baseline_decay"),
        ({"entropy_weight": -0.1}, "entropy_weight"),
        ({"float_bins": 1}, "float_bins"),
        ({"reward": "sign"}, "reward"),
        ({"reward_window": 1}, "reward_window"),
        ({"failure_reward": float("nan")}, "failure_reward"),
        ({"max_trials": 0}, "max_trials"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RLControllerOracle(objective="score", **kwargs)


def test_yaml_strategy_rl_is_accepted():
    from keras_nas_plus import RLSearch
    from keras_nas_plus import config

    assert config.strategy_class("rl") is RLSearch
    cfg = config.validate_config({"strategy": {"type": "rl", "cell": "gru", "learning_rate": 0.01}})
    assert cfg["strategy"] == {"type": "rl", "cell": "gru", "learning_rate": 0.01}
    with pytest.raises(config.ConfigError, match="strategy.population_size"):
        config.validate_config({"strategy": {"type": "rl", "population_size": 3}})


# ---------------------------------------------------------------------- tuner
def test_rl_search_drop_in_on_a_user_hypermodel(tmp_path, tiny_images):
    import keras

    from keras_nas_plus import RLSearch

    (x, y), (xv, yv), _ = tiny_images

    def build(hp):
        model = keras.Sequential(
            [
                keras.Input((8, 8)),
                keras.layers.Flatten(),
                keras.layers.Dense(hp.Choice("units", [4, 8]), activation=hp.Choice("act", ["relu", "tanh"])),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-2, sampling="log")),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    tuner = RLSearch(
        build, objective="val_accuracy", max_trials=2, batch_size=1, cell="gru", hidden_units=8,
        seed=1, directory=str(tmp_path), project_name="rl",
    )
    tuner.search(x / 255.0, y, validation_data=(xv / 255.0, yv), epochs=1, batch_size=16, verbose=0)
    trials = tuner.oracle.get_best_trials(2)
    assert len(trials) == 2 and all(math.isfinite(t.score) for t in trials)
    assert tuner.oracle.num_updates == 2
    assert tuner.get_best_models(1)[0] is not None
    state = json.load(open(os.path.join(tmp_path, "rl", "oracle.json")))
    assert state["rl"]["num_updates"] == 2 and state["rl_controller"]["params"]["head/lr/W"]


def test_benchmark_harness_strategy_rl():
    from keras_nas_plus.benchmarks import TabularBenchmark
    from keras_nas_plus.benchmarks import run_benchmark

    rows = [(a, b, c) for a in range(4) for b in range(4) for c in range(4)]
    table = TabularBenchmark(
        {"a": [r[0] for r in rows], "b": [r[1] for r in rows], "c": [r[2] for r in rows]},
        objective=[float(sum(r)) for r in rows],
        report=[float(sum(r)) for r in rows],
    )
    result = run_benchmark(table, ["rl", "random"], queries=[30], seeds=2)
    rl, random = result["results"]
    assert rl["strategy"] == "rl" and rl["failed_queries_per_run"] == 0.0
    assert rl["mean_report"] >= 8.0 and random["strategy"] == "random"
