import keras_tuner as kt
import numpy as np
import pytest

from keras_nas_plus.oracles import _hp

pytestmark = pytest.mark.core


def conditional_space():
    hp = kt.HyperParameters()
    hp.Choice("kind", ["a", "b"])
    with hp.conditional_scope("kind", ["a"]):
        hp.Int("a_units", 1, 4)
    with hp.conditional_scope("kind", ["b"]):
        hp.Float("b_rate", 1e-4, 1e-1, sampling="log")
        hp.Boolean("b_flag")
    hp.Fixed("constant", 7)
    return hp


def test_random_values_only_active():
    space = conditional_space().space
    rng = np.random.default_rng(0)
    for _ in range(50):
        values = _hp.random_values(space, rng)
        assert values["constant"] == 7
        if values["kind"] == "a":
            assert set(values) == {"kind", "a_units", "constant"}
            assert 1 <= values["a_units"] <= 4
        else:
            assert set(values) == {"kind", "b_rate", "b_flag", "constant"}
            assert 1e-4 <= values["b_rate"] <= 1e-1


def test_mutation_changes_exactly_one_decision_and_fills_conditionals():
    space = conditional_space().space
    rng = np.random.default_rng(1)
    parent = {"kind": "a", "a_units": 2, "constant": 7}
    kinds = set()
    for _ in range(100):
        child = _hp.mutate(space, parent, rng)
        assert child != parent
        assert child["constant"] == 7  # Fixed is never mutated
        if child["kind"] == "a":
            # same branch: only a_units changed
            assert child["a_units"] != 2
        else:
            # branch switched: the new conditional values exist, old dropped
            assert "a_units" not in child and "b_rate" in child and "b_flag" in child
        kinds.add(child["kind"])
    assert kinds == {"a", "b"}


def test_mutation_ignores_bookkeeping_and_types_are_python():
    space = conditional_space().space
    rng = np.random.default_rng(2)
    child = _hp.mutate(space, {"kind": "b", "b_rate": 0.01, "b_flag": True, "constant": 7, "nas/x": "1"}, rng)
    assert "nas/x" not in child
    for value in child.values():
        assert type(value) in (int, float, str, bool)


def test_local_step_moves_to_neighbour():
    hp = kt.HyperParameters()
    hp.Int("n", 0, 9)
    rng = np.random.default_rng(3)
    for _ in range(30):
        child = _hp.mutate(hp.space, {"n": 5}, rng, local_step_probability=1.0)
        assert child["n"] in (4, 6)


def test_crossover_takes_values_from_parents():
    hp = kt.HyperParameters()
    for i in range(6):
        hp.Choice(f"d{i}", [0, 1])
    rng = np.random.default_rng(4)
    a = {f"d{i}": 0 for i in range(6)}
    b = {f"d{i}": 1 for i in range(6)}
    child = _hp.crossover(hp.space, a, b, rng)
    assert set(child.values()) <= {0, 1} and set(child) == set(a)


def test_discrete_values():
    hp = kt.HyperParameters()
    hp.Int("i", 2, 8, step=2)
    hp.Float("f", 0.0, 1.0)
    hp.Float("g", 0.0, 1.0, step=0.5)
    hp.Boolean("b")
    i, f, g, b = hp.space
    assert _hp.discrete_values(i) == [2, 4, 6, 8]
    assert _hp.discrete_values(f) is None
    assert _hp.discrete_values(g) == [0.0, 0.5, 1.0]
    assert _hp.discrete_values(b) == [False, True]
    assert _hp.space_size(hp.space) == float("inf")
    assert _hp.space_size([i, b]) == 8
