import json
import math
import os

import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus.oracles import PARENT_KEY
from keras_nas_plus.oracles import RegularizedEvolutionOracle

pytestmark = pytest.mark.core

NUM_DECISIONS = 8
TARGET = [3, 1, 0, 2, 3, 1, 2, 0]


def toy_space():
    hp = kt.HyperParameters()
    for i in range(NUM_DECISIONS):
        hp.Choice(f"d{i}", [0, 1, 2, 3])
    return hp


def toy_score(values):
    """Known objective: number of decisions equal to TARGET (max 8)."""
    return float(sum(values[f"d{i}"] == t for i, t in enumerate(TARGET)))


def run_oracle(oracle, directory, score_fn=toy_score, trials=None):
    oracle.verbose = 0
    oracle._set_project_dir(str(directory), "p")
    history = []
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            break
        values = trial.hyperparameters.values
        score = score_fn(values)
        history.append((dict(values), score))
        oracle.update_trial(trial.trial_id, {"score": score})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        if trials is not None and len(history) >= trials:
            break
    return history


def make_oracle(seed, **kwargs):
    kwargs.setdefault("population_size", 10)
    kwargs.setdefault("sample_size", 3)
    kwargs.setdefault("max_trials", 60)
    return RegularizedEvolutionOracle(
        objective=kt.Objective("score", "max"), seed=seed, hyperparameters=toy_space(), **kwargs
    )


def test_evolution_beats_random_on_toy_space(tmp_path):
    evo, rnd = [], []
    for seed in range(6):
        history = run_oracle(make_oracle(seed), tmp_path / f"e{seed}")
        evo.append(max(s for _, s in history))
        random_oracle = kt.oracles.RandomSearchOracle(
            objective=kt.Objective("score", "max"), max_trials=60, seed=seed, hyperparameters=toy_space()
        )
        history = run_oracle(random_oracle, tmp_path / f"r{seed}")
        rnd.append(max(s for _, s in history))
    # 60 random draws of 8 decisions with 4 values rarely match more than 5.
    assert np.mean(evo) >= np.mean(rnd) + 1.0, (evo, rnd)
    assert np.mean(evo) >= 6.5


def test_initial_population_random_then_children_with_parents(tmp_path):
    oracle = make_oracle(0, max_trials=25)
    history = run_oracle(oracle, tmp_path)
    assert len(history) == 25
    first = [oracle.trials[t].hyperparameters.values for t in oracle.start_order[:10]]
    assert all(PARENT_KEY not in v for v in first)
    later = [oracle.trials[t].hyperparameters.values for t in oracle.start_order[10:]]
    assert all(PARENT_KEY in v for v in later)
    for values in later:
        parent = oracle.trials[values[PARENT_KEY]].hyperparameters.values
        diff = [k for k in values if k != PARENT_KEY and values[k] != parent.get(k)]
        assert len(diff) >= 1
    # no architecture is proposed twice
    keys = [tuple(v[f"d{i}"] for i in range(NUM_DECISIONS)) for v, _ in history]
    assert len(set(keys)) == len(keys)


def test_aging_population_is_the_most_recent_completed(tmp_path):
    oracle = make_oracle(1, max_trials=30)
    run_oracle(oracle, tmp_path)
    population = oracle.population()
    assert len(population) == 10
    assert [t.trial_id for t in population] == oracle.end_order[-10:]


def test_tournament_picks_best_of_sample():
    oracle = make_oracle(0, population_size=4, sample_size=4)

    class T:
        def __init__(self, i, s):
            self.trial_id, self.score = str(i), s

    population = [T(0, 1.0), T(1, 5.0), T(2, 3.0), T(3, 2.0)]
    rng = np.random.default_rng(0)
    assert oracle.tournament(population, rng).trial_id == "1"
    oracle_min = RegularizedEvolutionOracle(
        objective=kt.Objective("loss", "min"), population_size=4, sample_size=4
    )
    assert oracle_min.tournament(population, rng).trial_id == "0"


def test_same_seed_same_proposals_and_state_round_trip(tmp_path):
    a = run_oracle(make_oracle(7, max_trials=30), tmp_path / "a")
    b = run_oracle(make_oracle(7, max_trials=30), tmp_path / "b")
    assert [v for v, _ in a] == [v for v, _ in b]
    c = run_oracle(make_oracle(8, max_trials=30), tmp_path / "c")
    assert [v for v, _ in a] != [v for v, _ in c]

    # Interrupt after 15 trials, reload from disk, continue: same sequence.
    first = make_oracle(7, max_trials=30)
    run_oracle(first, tmp_path / "d", trials=15)
    state = json.load(open(os.path.join(tmp_path / "d", "p", "oracle.json")))
    json.dumps(state)  # plain JSON
    resumed = make_oracle(7, max_trials=30)
    resumed._set_project_dir(str(tmp_path / "d"), "p")
    resumed.reload()
    rest = run_oracle(resumed, tmp_path / "d")
    assert [v for v, _ in rest] == [v for v, _ in a[15:]]


def test_nan_and_failed_trials_never_enter_population(tmp_path):
    oracle = make_oracle(2, max_trials=40, max_consecutive_failed_trials=40)
    oracle._set_project_dir(str(tmp_path), "p")
    bad = set()
    for i in range(40):
        trial = oracle.create_trial("t")
        if trial.status != "RUNNING":
            break
        if i % 3 == 0:
            oracle.update_trial(trial.trial_id, {"score": float("nan")})
            trial.status = "COMPLETED"
            bad.add(trial.trial_id)
        elif i % 3 == 1 and i % 2 == 0:
            trial.status = "FAILED"
            bad.add(trial.trial_id)
        else:
            oracle.update_trial(trial.trial_id, {"score": toy_score(trial.hyperparameters.values)})
            trial.status = "COMPLETED"
        oracle.end_trial(trial)
        members = {t.trial_id for t in oracle.population()}
        assert not members & bad
        for t in oracle.population():
            assert math.isfinite(t.score)
    assert len(oracle.trials) == 40


def test_asynchronous_trials(tmp_path):
    """Three workers; trials end out of order; the population stays consistent."""
    oracle = make_oracle(3, max_trials=30, population_size=5, sample_size=2)
    oracle._set_project_dir(str(tmp_path), "p")
    running = []
    rng = np.random.default_rng(0)
    created = 0
    while True:
        while len(running) < 3:
            trial = oracle.create_trial(f"w{created % 3}{created}")
            created += 1
            if trial.status != "RUNNING":
                break
            running.append(trial)
        if not running:
            break
        trial = running.pop(int(rng.integers(len(running))))
        oracle.update_trial(trial.trial_id, {"score": toy_score(trial.hyperparameters.values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        assert len(oracle.population()) <= 5
    assert len(oracle.trials) == 30
    assert len(oracle.end_order) == 30


def test_conditional_space_mutation_gives_values_to_activated_children(tmp_path):
    hp = kt.HyperParameters()
    hp.Choice("depth", [1, 2, 3])
    for i in range(3):
        with hp.conditional_scope("depth", list(range(i + 1, 4))):
            hp.Choice(f"units_{i}", [8, 16, 32])

    def score(values):
        return values["depth"] * 10 + sum(values.get(f"units_{i}", 0) for i in range(3)) / 100

    oracle = RegularizedEvolutionOracle(
        objective=kt.Objective("score", "max"), max_trials=25, population_size=5, sample_size=2,
        seed=0, hyperparameters=hp,
    )
    history = run_oracle(oracle, tmp_path, score_fn=score)
    for values, _ in history:
        for i in range(3):
            assert (f"units_{i}" in values) == (i < values["depth"])
    assert max(s for _, s in history) >= 30


def test_populate_space_never_raises(tmp_path):
    oracle = make_oracle(0)
    oracle._set_project_dir(str(tmp_path), "p")

    def broken(trial_id, rng):
        raise RuntimeError("boom")

    oracle.propose = broken
    with pytest.warns(UserWarning, match="boom"):
        trial = oracle.create_trial("t")
    assert trial.status == "STOPPED"


def test_exhausted_space_stops(tmp_path):
    hp = kt.HyperParameters()
    hp.Choice("a", [0, 1])
    hp.Choice("b", [0, 1])
    oracle = RegularizedEvolutionOracle(
        objective=kt.Objective("score", "max"), max_trials=10, population_size=2, sample_size=1,
        seed=0, hyperparameters=hp,
    )
    history = run_oracle(oracle, tmp_path, score_fn=lambda v: v["a"] + v["b"])
    assert len(history) == 4
    assert len({(v["a"], v["b"]) for v, _ in history}) == 4


def test_bookkeeping_key_not_in_duplicate_hash():
    oracle = make_oracle(0)
    values = {f"d{i}": 0 for i in range(NUM_DECISIONS)}
    with_parent = dict(values, **{PARENT_KEY: "3"})
    assert oracle._compute_values_hash(values) == oracle._compute_values_hash(with_parent)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"population_size": 1}, "population_size"),
        ({"sample_size": 0}, "sample_size"),
        ({"sample_size": 30, "population_size": 10}, "sample_size"),
        ({"num_mutations": 0}, "num_mutations"),
        ({"crossover_probability": 1.5}, "crossover_probability"),
        ({"local_mutation_probability": -0.1}, "local_mutation_probability"),
        ({"max_trials": 0}, "max_trials"),
        ({"population_size": "ten"}, "population_size"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RegularizedEvolutionOracle(objective="score", **kwargs)


# ---------------------------------------------------------------- untried
# one-decision neighbours and the optional `equivalence` hook.


def _differences(a, b):
    return [k for k in a if not k.startswith("nas/") and a[k] != b.get(k)]


def test_children_are_untried_one_decision_neighbours_of_parent(tmp_path):
    oracle = make_oracle(4, max_trials=40, population_size=5, sample_size=2)
    history = run_oracle(oracle, tmp_path)
    seen = []
    for tid in oracle.start_order:
        values = oracle.trials[tid].hyperparameters.values
        key = tuple(values[f"d{i}"] for i in range(NUM_DECISIONS))
        assert key not in seen  # no repeated architecture
        seen.append(key)
        if PARENT_KEY in values:
            parent = oracle.trials[values[PARENT_KEY]].hyperparameters.values
            assert len(_differences(values, parent)) == 1
    assert len(history) == 40


def test_untried_neighbour_values_excludes_tried_and_enumerates_all():
    oracle = make_oracle(0, population_size=2, sample_size=1)
    rng = np.random.default_rng(0)
    base = {f"d{i}": 0 for i in range(NUM_DECISIONS)}
    children = oracle.untried_neighbour_values(base, rng)
    assert len(children) == NUM_DECISIONS * 3  # 8 decisions x 3 other values
    tried = dict(base, d0=1)
    oracle._tried_so_far.add(oracle._compute_values_hash(tried))
    children = oracle.untried_neighbour_values(base, rng)
    assert len(children) == NUM_DECISIONS * 3 - 1 and tried not in children


def test_equivalence_skips_equivalent_children_and_random_draws(tmp_path):
    # Values of d0 and d1 are interchangeable: the class is their sorted pair.
    def equivalence(values):
        out = dict(values)
        out["d0"], out["d1"] = sorted((values["d0"], values["d1"]))
        return out

    oracle = make_oracle(0, population_size=2, sample_size=1, equivalence=equivalence)
    rng = np.random.default_rng(0)
    base = {f"d{i}": 0 for i in range(NUM_DECISIONS)}
    children = oracle.untried_neighbour_values(base, rng)
    # Setting d0 or d1 to v gives the same class: 3 duplicates are dropped.
    assert len(children) == NUM_DECISIONS * 3 - 3
    oracle = make_oracle(1, max_trials=60, population_size=10, sample_size=5, equivalence=equivalence)
    run_oracle(oracle, tmp_path)
    classes = [oracle._class_hash(oracle.trials[t].hyperparameters.values) for t in oracle.start_order]
    assert len(set(classes)) == len(classes) == 60


def test_textbook_mutation_still_available(tmp_path):
    oracle = make_oracle(5, max_trials=30, untried_neighbours=False)
    history = run_oracle(oracle, tmp_path)
    assert len(history) == 30
    assert oracle.get_state()["untried_neighbours"] is False


def test_equivalence_not_saved_and_warns_on_resume(tmp_path):
    oracle = make_oracle(3, max_trials=20, equivalence=lambda v: v)
    run_oracle(oracle, tmp_path, trials=12)
    state = oracle.get_state()
    json.dumps(state)
    assert state["uses_equivalence"] is True
    resumed = make_oracle(3, max_trials=20)
    resumed._set_project_dir(str(tmp_path), "p")
    with pytest.warns(UserWarning, match="equivalence"):
        resumed.reload()
    again = make_oracle(3, max_trials=20, equivalence=lambda v: v)
    again._set_project_dir(str(tmp_path), "p")
    again.reload()  # no warning needed: the callable was passed again
    assert len(again.tried_classes()) == 12


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"equivalence": 3}, "equivalence"),
        ({"untried_neighbours": "yes"}, "untried_neighbours"),
        ({"max_neighbour_values": 1}, "max_neighbour_values"),
    ],
)
def test_bad_new_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_oracle(0, **kwargs)


def test_nb201_equivalence_with_real_space():
    from keras_nas_plus.spaces import nb201

    hp = kt.HyperParameters()
    nb201.define_hyperparameters(hp)
    oracle = RegularizedEvolutionOracle(
        objective=kt.Objective("score", "max"), hyperparameters=hp, seed=1,
        equivalence=nb201.canonical_values,
    )
    # All edges "none" except edge_1<-0: output unreachable, every one-edge change
    # of the other dead edges stays equivalent to the all-none cell.
    base = {e: "none" for e in nb201.EDGE_NAMES}
    base["edge_1<-0"] = "nor_conv_3x3"
    children = oracle.untried_neighbour_values(base, np.random.default_rng(0))
    classes = {oracle._class_hash(c) for c in children}
    assert len(classes) == len(children)
    assert len(children) < 6 * 4


def test_child_preference_draws_preferred_neighbours_first(tmp_path):
    # Prefer children that raise exactly one decision by one step (as
    # `MorphismPreference` prefers children that grow the parent); once a
    # parent has no such untried neighbour, any neighbour is drawn.
    calls = []

    def grows(parent, child):
        calls.append(1)
        diff = _differences(child, parent)
        return len(diff) == 1 and child[diff[0]] == parent[diff[0]] + 1

    oracle = make_oracle(2, max_trials=30, population_size=3, sample_size=2)
    assert oracle.child_preference is None
    oracle.child_preference = grows
    run_oracle(oracle, tmp_path)
    children = [oracle.trials[t].hyperparameters.values for t in oracle.start_order[3:]]
    preferred = 0
    for values in children:
        parent = oracle.trials[values[PARENT_KEY]].hyperparameters.values
        preferred += grows(parent, values)
    assert calls and preferred >= 20, preferred
    oracle = make_oracle(2, max_trials=30, population_size=3, sample_size=2)
    run_oracle(oracle, tmp_path / "plain")
    plain = sum(
        grows(oracle.trials[v[PARENT_KEY]].hyperparameters.values, v)
        for v in (oracle.trials[t].hyperparameters.values for t in oracle.start_order[3:])
    )
    assert plain < preferred, (plain, preferred)  # measured: 8 vs 24 of 27
