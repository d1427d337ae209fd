import json
import math
import os

import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus import tuners
from keras_nas_plus.engine.tuner import NASTuner
from keras_nas_plus.oracles import RegularizedEvolution
from keras_nas_plus.oracles import RegularizedEvolutionOracle
from keras_nas_plus.oracles import _pareto
from keras_nas_plus.oracles.base import is_rejected

pytestmark = pytest.mark.core

OBJECTIVES = [kt.Objective("acc", "max"), kt.Objective("cost", "min")]


def toy_space(n=6):
    hp = kt.HyperParameters()
    for i in range(n):
        hp.Choice(f"d{i}", [0, 1, 2, 3])
    return hp


def toy_metrics(values):
    """A trade-off: accuracy grows with the decisions, cost grows faster."""
    x = np.array([values[f"d{i}"] for i in range(6)], dtype=float)
    acc = float(np.sum(np.sqrt(x)) + 0.1 * x[0])
    cost = float(np.sum(x))
    return {"acc": acc, "cost": cost}


def run_oracle(oracle, directory, trials):
    oracle.verbose = 0
    oracle._set_project_dir(str(directory), "p")
    points = []
    for _ in range(trials):
        trial = oracle.create_trial("t")
        if trial.status != "RUNNING":
            break
        metrics = toy_metrics(trial.hyperparameters.values)
        # Keras Tuner's own oracles need the summed "multi_objective" too.
        oracle.update_trial(trial.trial_id, dict(metrics, multi_objective=metrics["cost"] - metrics["acc"]))
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        points.append((metrics["acc"], metrics["cost"]))
        if isinstance(oracle, RegularizedEvolutionOracle):
            assert oracle.objective_values(oracle.trials[trial.trial_id]) == [metrics["acc"], metrics["cost"]]
    return np.array(points)


def test_per_objective_values_and_kt_sum_score(tmp_path):
    oracle = RegularizedEvolutionOracle(objective=OBJECTIVES, max_trials=5, population_size=3, sample_size=2, seed=1,
                                        hyperparameters=toy_space())
    oracle._set_project_dir(str(tmp_path), "p")
    for _ in range(5):  # metrics reported one by one, without a summed value
        trial = oracle.create_trial("t")
        oracle.update_trial(trial.trial_id, toy_metrics(trial.hyperparameters.values))
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert oracle.is_multi_objective()
    for trial in oracle.trials.values():
        expected = toy_metrics(trial.hyperparameters.values)
        assert oracle.objective_values(trial) == pytest.approx([expected["acc"], expected["cost"]])
        # Keras Tuner's convention: sum, maximised objectives negated.
        assert trial.score == pytest.approx(expected["cost"] - expected["acc"])


def test_tournament_uses_rank_then_crowding(tmp_path):
    oracle = RegularizedEvolutionOracle(objective=OBJECTIVES, max_trials=10, population_size=4, sample_size=4, seed=0,
                                        hyperparameters=toy_space())
    oracle._set_project_dir(str(tmp_path), "p")
    # acc/cost: A(1,1) B(2,2) C(3,3) on the front; D(1.5,3) dominated by B.
    population = []
    for acc, cost in [(1, 1), (2, 2), (3, 3), (1.5, 3)]:
        trial = oracle.create_trial("t")
        oracle.update_trial(trial.trial_id, {"acc": acc, "cost": cost})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        population.append(oracle.trials[trial.trial_id])
    oracle.crowding_scale = "value"
    keys = oracle.pareto_order_keys(population)
    assert [k[0] for k in keys] == [0, 0, 0, 1]
    assert math.isinf(-keys[0][1]) and keys[1][1] == pytest.approx(-2.0)
    # The archive adds nothing here: every front member is in the population.
    assert oracle.selection_pool(population) == population
    rng = np.random.default_rng(0)
    # All four in the tournament: a boundary point of the front wins.
    assert oracle.tournament(population, rng).trial_id in (population[0].trial_id, population[2].trial_id)
    # Only B and D compete (archive off): the lower rank wins.
    oracle.pareto_archive = False
    assert oracle.tournament([population[1], population[3]], rng).trial_id == population[1].trial_id



def _complete(oracle, metrics, values=None):
    trial = oracle.create_trial("t")
    if values is not None:  # force the architecture (and the parent) by hand
        trial.hyperparameters.values.update(values)
    oracle.update_trial(trial.trial_id, metrics)
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    return oracle.trials[trial.trial_id]


def test_least_explored_archive_member_and_hypervolume_key(tmp_path):
    from keras_nas_plus.oracles.base import PARENT_KEY

    oracle = RegularizedEvolutionOracle(objective=OBJECTIVES, max_trials=20, population_size=10, sample_size=2,
                                        seed=0, hyperparameters=toy_space())
    oracle._set_project_dir(str(tmp_path), "p")
    # acc/cost: A(1,1) B(2,2) C(3,4) on the front, D(1.5,3) dominated by B.
    a, b, c, d = (_complete(oracle, {"acc": acc, "cost": cost}) for acc, cost in [(1, 1), (2, 2), (3, 4), (1.5, 3)])
    rng = np.random.default_rng(0)
    # No children yet: any of the three front members, never D.
    picks = {oracle.least_explored_archive_member(rng).trial_id for _ in range(30)}
    assert picks == {a.trial_id, b.trial_id, c.trial_id}
    # A has two children (one dominated by C, one by A itself), B one: C has the fewest.
    _complete(oracle, {"acc": 0.5, "cost": 5}, {PARENT_KEY: a.trial_id})
    _complete(oracle, {"acc": 0.5, "cost": 1}, {PARENT_KEY: a.trial_id})
    _complete(oracle, {"acc": 0.1, "cost": 9}, {PARENT_KEY: b.trial_id})
    assert all(oracle.least_explored_archive_member(rng).trial_id == c.trial_id for _ in range(10))
    # With probability 1 the parent always comes from the archive; with 0 from the tournament.
    oracle.archive_parent_probability = 1.0
    assert oracle.select_parent([d], rng).trial_id == c.trial_id
    oracle.archive_parent_probability = 0.0
    oracle.pareto_archive = False
    assert oracle.select_parent([d], rng).trial_id == d.trial_id
    # SMS-EMOA key: within the front (-acc, cost) = (-1,1), (-2,2), (-3,4),
    # B's exclusive contribution is (4 - 2) * (-1 - -2) = 2; extremes first.
    oracle.crowding_scale = "value"
    oracle.pareto_secondary = "hypervolume"
    keys = oracle.pareto_order_keys([a, b, c, d])
    assert [k[0] for k in keys] == [0, 0, 0, 1]
    assert math.isinf(-keys[0][1]) and math.isinf(-keys[2][1]) and keys[1][1] == pytest.approx(-2.0)
    oracle.pareto_secondary = "volume"
    with pytest.raises(ValueError, match="pareto_secondary"):
        oracle.pareto_order_keys([a, b])
    with pytest.raises(ValueError, match="archive_parent_probability"):
        RegularizedEvolutionOracle(objective=OBJECTIVES, archive_parent_probability=1.5)


def test_multiobjective_evolution_beats_random_hypervolume(tmp_path):
    ref = np.array([0.0, 18.0])  # minimised (-acc, cost)
    evo, rnd = [], []
    for seed in range(1, 4):
        oracle = RegularizedEvolutionOracle(objective=OBJECTIVES, max_trials=60, population_size=12, sample_size=4,
                                            seed=seed, hyperparameters=toy_space())
        pts = run_oracle(oracle, tmp_path / f"e{seed}", 60)
        evo.append(_pareto.hypervolume(np.c_[-pts[:, 0], pts[:, 1]], ref))
        oracle = kt.oracles.RandomSearchOracle(objective=OBJECTIVES, max_trials=60, seed=seed,
                                               hyperparameters=toy_space())
        pts = run_oracle(oracle, tmp_path / f"r{seed}", 60)
        rnd.append(_pareto.hypervolume(np.c_[-pts[:, 0], pts[:, 1]], ref))
    assert np.mean(evo) > np.mean(rnd), (evo, rnd)


# ----------------------------------------------------------------- tuner


def build(hp):
    units = hp.Choice("units", [2, 64])
    model = keras.Sequential([
        keras.Input((8, 8)),
        keras.layers.Flatten(),
        keras.layers.Dense(units, activation="relu", name="hidden"),
        keras.layers.Dense(3, activation="softmax", name="out"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def small_params():
    return 64 * 2 + 2 + 2 * 3 + 3  # units = 2: 139 parameters


def search(tuner, tiny_images):
    (x, y), (xv, yv), _ = tiny_images
    tuner.search(x / 255.0, y, validation_data=(xv / 255.0, yv), epochs=1, batch_size=20, verbose=0)


def test_constraint_rejects_before_training_without_counting_as_failure(tmp_path, tiny_images):
    tuner = RegularizedEvolution(
        build, objective="val_accuracy", max_trials=4, population_size=2, sample_size=1, seed=3,
        max_params=1000, latency_runs=1, max_consecutive_failed_trials=1,
        directory=str(tmp_path), project_name="c",
    )
    search(tuner, tiny_images)
    trials = tuner.oracle.trials
    rejected = [t for t in trials.values() if is_rejected(t)]
    completed = [t for t in trials.values() if t.status == "COMPLETED"]
    # Only two architectures exist; the big one (64 units) is rejected.
    assert rejected and completed
    for t in rejected:
        assert t.hyperparameters.values["units"] == 64
        info = tuner.get_trial_info(t.trial_id)
        assert info["rejected"] is True and info["epochs_trained"] == 0
        assert info["costs"]["params"] == 8 * 8 * 64 + 64 + 64 * 3 + 3
        assert "params=" in info["constraint_violations"][0]
    for t in completed:
        assert t.hyperparameters.values["units"] == 2
        assert t.metrics.get_best_value("params") == small_params()
        assert t.metrics.get_best_value("flops") == 2 * 64 * 2 + 2 + 2 * 2 * 3 + 3
        assert t.metrics.get_best_value("latency_ms") > 0
        info = tuner.get_trial_info(t.trial_id)
        assert info["costs"]["params"] == small_params() and info["epochs_trained"] == 1
        assert "params" not in info["history"]
    # No population member was rejected.
    assert all(t.status == "COMPLETED" for t in tuner.oracle.population())


def test_constraints_with_keras_tuner_oracle_do_not_stop_search(tmp_path, tiny_images):
    tuner = tuners.RandomSearch(
        build, objective="val_accuracy", max_trials=6, seed=2, max_params=1000, latency_runs=1,
        max_consecutive_failed_trials=1, directory=str(tmp_path), project_name="r",
    )
    search(tuner, tiny_images)  # two architectures: stops once both are tried
    statuses = sorted(t.status for t in tuner.oracle.trials.values())
    assert statuses == ["COMPLETED", "FAILED"]
    assert any(is_rejected(t) for t in tuner.oracle.trials.values())


def test_pareto_front_with_cost_objective(tmp_path, tiny_images):
    tuner = RegularizedEvolution(
        build, objective=[kt.Objective("val_accuracy", "max"), kt.Objective("params", "min")],
        max_trials=2, population_size=2, sample_size=1, seed=1, latency_runs=1,
        directory=str(tmp_path), project_name="f",
    )
    search(tuner, tiny_images)
    front = tuner.get_pareto_front()
    assert front
    ids = {f["trial_id"] for f in front}
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    assert len(trials) == 2
    small = [t for t in trials if t.hyperparameters.values["units"] == 2][0]
    big = [t for t in trials if t.hyperparameters.values["units"] == 64][0]
    assert small.trial_id in ids  # the smallest model is never dominated
    acc_small = small.metrics.get_best_value("val_accuracy")
    acc_big = big.metrics.get_best_value("val_accuracy")
    assert (big.trial_id in ids) == (acc_big > acc_small)
    entry = [f for f in front if f["trial_id"] == small.trial_id][0]
    assert entry["hyperparameters"]["units"] == 2 and entry["costs"]["flops"] > 0
    json.dumps([{k: v for k, v in f.items() if k != "trial"} for f in front])


def test_bad_constraint_arguments(tmp_path):
    with pytest.raises(ValueError, match="max_params"):
        RegularizedEvolution(build, objective="val_accuracy", max_params=-1, directory=str(tmp_path))
    with pytest.raises(ValueError, match="max_latency_ms"):
        RegularizedEvolution(build, objective="val_accuracy", max_latency_ms=5, latency_runs=0,
                             directory=str(tmp_path))
    assert issubclass(RegularizedEvolution, NASTuner)
    assert os.path.isdir(str(tmp_path))


# ----------------------------------------------------------------- config


def test_yaml_objectives_and_constraints(tmp_path):
    from keras_nas_plus import config as config_module
    from keras_nas_plus import run

    raw = {"search": {
        "objectives": ["val_accuracy:max", {"name": "params", "direction": "min"}, "latency_ms"],
        "constraints": {"max_params": 5000, "max_latency_ms": 50},
        "directory": str(tmp_path / "run"),
    }}
    config = config_module.validate_config(raw)
    assert config_module.parse_objectives(config["search"]["objectives"]) == [
        ("val_accuracy", "max"), ("params", "min"), ("latency_ms", "min")]
    space = run.build_space(config["space"], input_shape=(8, 8), num_classes=3, input_kind="image")
    tuner = run.build_tuner(config, space, overwrite=True)
    assert [(o.name, o.direction) for o in tuner.oracle.objective.objectives] == [
        ("val_accuracy", "max"), ("params", "min"), ("latency_ms", "min")]
    assert tuner.constraints == {"max_params": 5000, "max_latency_ms": 50}

    for bad, key in [
        ({"objectives": ["params:up"]}, r"search.objectives\[0\].direction"),
        ({"objectives": ["custom"]}, r"search.objectives\[0\].direction"),
        ({"objectives": []}, "search.objectives"),
        ({"objectives": ["params", "params:min"]}, "listed twice"),
        ({"constraints": {"max_size": 3}}, "search.constraints.max_size"),
        ({"constraints": {"max_flops": -1}}, "search.constraints.max_flops"),
    ]:
        with pytest.raises(config_module.ConfigError, match=key):
            config_module.validate_config({"search": bad})


def test_mnas_reward_as_utility(tmp_path):
    oracle = RegularizedEvolutionOracle(objective=OBJECTIVES, max_trials=3, population_size=2, sample_size=1, seed=0,
                                        hyperparameters=toy_space())
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.set_mnas_reward(accuracy="acc", cost="cost", target=4.0, w=(0.0, -1.0))
    trial = oracle.create_trial("t")
    oracle.update_trial(trial.trial_id, {"acc": 0.9, "cost": 8.0})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    assert oracle.utility(oracle.trials[trial.trial_id]) == pytest.approx(0.45)
    state = oracle.get_state()
    assert state["mnas_scalarization"]["target"] == 4.0
    with pytest.raises(ValueError, match="target"):
        oracle.set_mnas_reward(target=0)


def test_run_search_writes_pareto_front(tmp_path):
    from test_config_cli import tiny_config

    from keras_nas_plus import config as config_module
    from keras_nas_plus import run

    raw = tiny_config(tmp_path, max_trials=3, verbose=0, objectives=["val_accuracy:max", "params:min"],
                      constraints={"max_params": 10**6})
    results = run.run_search(config_module.validate_config(raw), overwrite=True)
    front = results["pareto_front"]
    assert front and all(set(p) == {"trial_id", "hyperparameters", "architecture", "objectives", "costs"}
                         for p in front)
    completed = [t for t in results["trials"] if t["status"] == "COMPLETED"]
    # The smallest size is on the front (by its most accurate model: ties in size are common).
    fewest = min(t["costs"]["params"] for t in completed)
    assert fewest == min(p["objectives"]["params"] for p in front)
    assert results["best_trial_id"] == front[0]["trial_id"]
    assert all(t["rejected"] is False and t["costs"]["flops"] > 0 for t in completed)
    on_disk = json.load(open(tmp_path / "run" / "results.json"))
    assert on_disk["pareto_front"] == json.loads(json.dumps(front))


def test_parent_archive_levels_skip_cheapest_and_full_neighbourhood(tmp_path):
    from keras_nas_plus.oracles.base import PARENT_KEY

    oracle = RegularizedEvolutionOracle(objective=OBJECTIVES, max_trials=40, population_size=10, sample_size=2,
                                        seed=0, hyperparameters=toy_space())
    oracle._set_project_dir(str(tmp_path), "p")
    # acc/cost: A(1,1) B(2,2) C(3,4) front; D(1.5,3) dominated by B but best at cost 3;
    # E(0.5,2) worse than B at the same cost; F(1,1) ties A (A is earlier).
    a, b, c, d, e, f = (_complete(oracle, {"acc": acc, "cost": cost})
                        for acc, cost in [(1, 1), (2, 2), (3, 4), (1.5, 3), (0.5, 2), (1, 1)])
    ids = lambda trials: [t.trial_id for t in trials]  # noqa: E731
    assert ids(oracle.parent_archive()) == ids([a, b, c, f])  # equal points are both non-dominated
    oracle.archive_parent_set = "levels"
    assert ids(oracle.parent_archive()) == ids([a, b, c, d])  # one per cost level, D included, F not
    oracle.archive_skip_cheapest = True
    assert ids(oracle.parent_archive()) == ids([b, c, d])
    oracle.archive_parent_set = "front"
    assert ids(oracle.parent_archive()) == ids([b, c])
    rng = np.random.default_rng(0)
    assert {oracle.least_explored_archive_member(rng).trial_id for _ in range(20)} == {b.trial_id, c.trial_id}
    oracle.archive_parent_set = "grid"
    with pytest.raises(ValueError, match="archive_parent_set"):
        oracle.parent_archive()
    oracle.archive_parent_set = "front"
    oracle.archive_skip_cheapest = False
    # Full PLS step: the first pick is kept while it has untried neighbours,
    # even though it then has more children than the others.
    oracle.archive_full_neighbourhood = True
    first = oracle.least_explored_archive_member(rng)
    for _ in range(3):
        _complete(oracle, {"acc": 0.0, "cost": 9}, {PARENT_KEY: first.trial_id})
        assert oracle.least_explored_archive_member(rng).trial_id == first.trial_id
    # Without it, a member with no children is chosen instead.
    oracle.archive_full_neighbourhood = False
    assert oracle.least_explored_archive_member(rng).trial_id != first.trial_id
    # Once the kept member's neighbourhood is exhausted, the least explored is taken.
    oracle.archive_full_neighbourhood = True
    oracle._pls_current = first.trial_id
    oracle.untried_neighbour_values = lambda values, rng: []
    assert oracle.least_explored_archive_member(rng).trial_id != first.trial_id


def test_parent_archive_levels_needs_two_objectives(tmp_path):
    objectives = OBJECTIVES + [kt.Objective("lat", "min")]
    oracle = RegularizedEvolutionOracle(objective=objectives, max_trials=5, population_size=3, sample_size=2,
                                        seed=0, hyperparameters=toy_space())
    oracle._set_project_dir(str(tmp_path), "p")
    _complete(oracle, {"acc": 1, "cost": 1, "lat": 1})
    oracle.archive_parent_set = "levels"
    with pytest.raises(ValueError, match="two objectives"):
        oracle.parent_archive()


def test_cheap_objective_draws_children_where_the_front_is_sparse(tmp_path):
    # LEMONADE's rule: P(child) proportional to 1 / KDE density of its cost over the Pareto front.
    oracle = RegularizedEvolutionOracle(objective=OBJECTIVES, max_trials=40, population_size=10, sample_size=2,
                                        seed=0, hyperparameters=toy_space())
    oracle._set_project_dir(str(tmp_path), "p")
    for acc, cost in [(1, 1), (1.1, 1.1), (1.2, 1.2), (1.3, 1.3), (3, 9)]:  # front crowded near cost 1
        _complete(oracle, {"acc": acc, "cost": cost})
    candidates = [{"cost_of_child": 1.05}, {"cost_of_child": 5.0}]
    rng = np.random.default_rng(0)
    assert oracle.cheap_objective is None  # default: uniform
    uniform = [oracle._pick_child(candidates, rng) for _ in range(400)]
    assert 0.4 < np.mean(uniform) < 0.6
    oracle.cheap_objective = lambda values: values["cost_of_child"]
    picks = [oracle._pick_child(candidates, rng) for _ in range(400)]
    # Scott's bandwidth 2.27 over the front's costs: densities 0.80 (cost 1.05) and 0.225 (cost 5),
    # so the child in the sparse region is drawn with probability 0.78.
    assert 0.72 < np.mean(picks) < 0.84
    oracle.cheap_objective = lambda values: 1 / 0  # a cost that fails: back to uniform, no error
    assert 0.35 < np.mean([oracle._pick_child(candidates, rng) for _ in range(400)]) < 0.65


def _oracle_with(tmp_path, points, population_size, **kwargs):
    oracle = RegularizedEvolutionOracle(objective=OBJECTIVES, max_trials=50, population_size=population_size,
                                        sample_size=1, seed=0, hyperparameters=toy_space(), **kwargs)
    oracle._set_project_dir(str(tmp_path), "p")
    trials = [_complete(oracle, {"acc": acc, "cost": cost}) for acc, cost in points]
    return oracle, trials


def test_tchebycheff_parent_follows_the_drawn_weight(tmp_path):
    # MOEA/D (Zhang & Li 2007): weights (j/3, 1 - j/3), j = 0..3, on -acc and cost scaled to [0, 1].
    oracle, trials = _oracle_with(tmp_path, [(1, 1), (2, 2), (3, 4), (1.5, 3)], population_size=4)
    rng = np.random.default_rng(0)
    picks = [oracle.tchebycheff_parent(oracle.population(), rng).trial_id for _ in range(2000)]
    share = {t.trial_id: picks.count(t.trial_id) / len(picks) for t in trials}
    # j=0 -> (1, 1) (cheapest); j=1 -> (2, 2) (g = 2/9 against 1/3); j=2 -> tie (2, 2) / (3, 4) at g = 1/3;
    # j=3 -> (3, 4) (most accurate); the dominated (1.5, 3) never.
    assert share[trials[3].trial_id] == 0
    assert abs(share[trials[0].trial_id] - 0.25) < 0.03
    assert abs(share[trials[1].trial_id] - 0.375) < 0.03
    assert abs(share[trials[2].trial_id] - 0.375) < 0.03
    # select_parent uses it for the non-archive parents only when asked to.
    oracle.archive_parent_probability = 0.0
    oracle.parent_rule = "tchebycheff"
    assert {oracle.select_parent(oracle.population(), rng).trial_id for _ in range(200)} == {
        t.trial_id for t in trials[:3]}
    oracle.parent_rule = "nope"
    with pytest.raises(ValueError, match="parent_rule"):
        oracle.select_parent(oracle.population(), rng)
    oracle.tchebycheff_scale = "nope"
    with pytest.raises(ValueError, match="tchebycheff_scale"):
        oracle.tchebycheff_parent(oracle.population(), rng)


def test_single_objective_ignores_the_multiobjective_rules(tmp_path):
    def proposals(directory, **attributes):
        oracle = RegularizedEvolutionOracle(objective=kt.Objective("acc", "max"), max_trials=30, population_size=5,
                                            sample_size=2, seed=3, hyperparameters=toy_space())
        for key, value in attributes.items():
            setattr(oracle, key, value)
        oracle.verbose = 0
        oracle._set_project_dir(str(directory), "p")
        seen = []
        for _ in range(30):
            trial = oracle.create_trial("t")
            oracle.update_trial(trial.trial_id, {"acc": toy_metrics(trial.hyperparameters.values)["acc"]})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
            seen.append(dict(trial.hyperparameters.values))
        return seen

    default = proposals(tmp_path / "a")
    assert default == proposals(tmp_path / "b", parent_rule="tchebycheff", population_rule="nsga2",
                                archive_parent_set="epsilon", archive_tie_break="ohvc")


def test_steady_state_nsga2_population_replaces_the_worst(tmp_path):
    points = [(1, 1), (2, 2), (3, 3), (0.5, 5), (4, 4)]
    oracle, trials = _oracle_with(tmp_path, points, population_size=3)
    assert [t.trial_id for t in oracle.population()] == [t.trial_id for t in trials[2:]]  # ageing
    oracle.population_rule = "nsga2"
    # (0.5, 5) is dominated and leaves at once; when (4, 4) joins, (2, 2) and (3, 3) tie on
    # (rank 0, rank-scaled crowding 2/3 + 2/3) and the older, (2, 2), leaves.
    assert [t.trial_id for t in oracle.population()] == [trials[i].trial_id for i in (0, 2, 4)]
    _complete(oracle, {"acc": 0.1, "cost": 9})  # incremental update: a dominated newcomer changes nothing
    assert [t.trial_id for t in oracle.population()] == [trials[i].trial_id for i in (0, 2, 4)]
    oracle.population_rule = "nope"
    with pytest.raises(ValueError, match="population_rule"):
        oracle.population()


def test_mutation_counts_change_that_many_decisions(tmp_path):
    from keras_nas_plus.oracles import evolution
    from keras_nas_plus.oracles.base import PARENT_KEY

    probabilities = evolution.fast_mutation_probabilities(6)  # k = 1, 2, 3 with weights k^-1.5
    np.testing.assert_allclose(probabilities, [0.646829, 0.228689, 0.124482], atol=1e-6)
    assert evolution.fast_mutation_probabilities(1) == (1.0,)
    oracle = RegularizedEvolutionOracle(objective=OBJECTIVES, max_trials=40, population_size=5, sample_size=2,
                                        seed=0, hyperparameters=toy_space())
    oracle.mutation_count_probabilities = (0.0, 1.0)  # always two decisions
    points = run_oracle(oracle, tmp_path, 30)
    assert len(points) == 30
    children = [t for t in oracle.trials.values() if PARENT_KEY in t.hyperparameters.values]
    assert len(children) == 25
    for child in children:
        parent = oracle.trials[child.hyperparameters.values[PARENT_KEY]].hyperparameters.values
        changed = [f"d{i}" for i in range(6) if child.hyperparameters.values[f"d{i}"] != parent[f"d{i}"]]
        assert len(changed) == 2
    mutant = oracle.random_untried_mutant(children[0].hyperparameters.values, 3, np.random.default_rng(1))
    assert sum(mutant[f"d{i}"] != children[0].hyperparameters.values[f"d{i}"] for i in range(6)) == 3
    assert not oracle.is_duplicate(mutant)
    assert oracle.random_untried_mutant(children[0].hyperparameters.values, 7, np.random.default_rng(1)) is None
    oracle.mutation_count_probabilities = (0.0, -1.0)
    with pytest.raises(ValueError, match="mutation_count_probabilities"):
        oracle._mutation_count(np.random.default_rng(0))


def test_epsilon_archive_parents_and_ohvc_tie_break(tmp_path):
    oracle, trials = _oracle_with(tmp_path, [(1, 1), (2, 2), (2.05, 3), (3, 4)], population_size=4)
    ids = [t.trial_id for t in trials]
    assert [t.trial_id for t in oracle.parent_archive()] == ids  # the whole front
    oracle.archive_parent_set = "epsilon"
    oracle.archive_epsilon = (0.5, 0.0)  # accuracy boxes floor(-acc / 0.5) = -2, -4, -5, -6: all kept
    assert [t.trial_id for t in oracle.parent_archive()] == ids
    oracle.archive_epsilon = (1.0, 0.0)  # boxes -1, -2, -3, -3: (3, 4) shares the box of the cheaper (2.05, 3)
    assert [t.trial_id for t in oracle.parent_archive()] == ids[:3]
    oracle.archive_parent_set = "front"
    oracle.archive_tie_break = "ohvc"
    rng = np.random.default_rng(0)
    # No member has children yet. Rank scale: optimistic contributions 1, 4, 4, 1 (cheapest first).
    assert {oracle.least_explored_archive_member(rng).trial_id for _ in range(40)} == {ids[1], ids[2]}
    # Value scale, reference (-1, 4): 1, 2.1, 2, 0.95.
    oracle.crowding_scale = "value"
    assert {oracle.least_explored_archive_member(rng).trial_id for _ in range(20)} == {ids[1]}
    oracle.archive_tie_break = "nope"
    with pytest.raises(ValueError, match="archive_tie_break"):
        oracle.least_explored_archive_member(rng)


def test_benchmark_two_objective_defaults_use_tchebycheff_and_table_cost():
    from keras_nas_plus.benchmarks import multiobjective
    from keras_nas_plus.benchmarks import table as table_module

    table = table_module.load_table("nb201-cifar10", objective="mean")
    columns = multiobjective.read_columns(table_module.table_path("nb201-cifar10"), ["params_mb"])
    cost = multiobjective.table_cost(table, columns["params_mb"])
    cell = {f"edge_{e}": "none" for e in ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")}
    assert cost(cell) == pytest.approx(0.073306)  # no convolution: the cheapest cell
    assert math.isnan(cost({"edge_1<-0": "none"}))
    oracle = multiobjective._make_oracle("evolution", table.hyperparameters(),
                                         [("valid_acc_200ep", "max"), ("params_mb", "min")], 1, 10,
                                         cheap_cost=cost)
    assert (oracle.parent_rule, oracle.tchebycheff_scale, oracle.cheap_objective) == ("tchebycheff", "value", cost)
    assert (oracle.population_size, oracle.sample_size, oracle.archive_parent_probability) == (20, 5, 0.5)
    plain = multiobjective._make_oracle("evolution", table.hyperparameters(),
                                        [("valid_acc_200ep", "max"), ("params_mb", "min")], 1, 10)
    assert (plain.parent_rule, plain.cheap_objective) == ("crowded", None)  # without a cheap cost
    random = multiobjective._make_oracle("random", table.hyperparameters(),
                                         [("valid_acc_200ep", "max"), ("params_mb", "min")], 1, 10)
    assert not hasattr(random, "parent_rule")
