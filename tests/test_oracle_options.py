"""Oracle options (issue 21): constructor arguments, validated, saved in the state; one set of defaults."""

import inspect

import keras_tuner as kt
import pytest

from keras_nas_plus.integrations.autokeras import RegularizedEvolutionAutoTuner
from keras_nas_plus.strategies import RegularizedEvolution
from keras_nas_plus.strategies import RegularizedEvolutionOracle
from keras_nas_plus.strategies import RLControllerOracle
from keras_nas_plus.strategies.evolution import EVOLUTION_OPTIONS
from keras_nas_plus.tabular.harness import EVOLUTION_DEFAULTS


def evolution(**kwargs):
    return RegularizedEvolutionOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=4, seed=1, **kwargs)


@pytest.mark.core
def test_options_are_saved_and_restored():
    oracle = evolution(parent_rule="tchebycheff", archive_epsilon=(0.2, 0.0), pareto_archive=False,
                       crowding_scale="value", archive_tie_break="ohvc")
    state = oracle.get_state()
    assert state["options"]["parent_rule"] == "tchebycheff" and state["options"]["pareto_archive"] is False
    fresh = evolution()
    fresh.set_state(state)
    assert fresh.parent_rule == "tchebycheff" and fresh.archive_epsilon == (0.2, 0.0)
    assert fresh.pareto_archive is False and fresh.crowding_scale == "value" and fresh.archive_tie_break == "ohvc"


@pytest.mark.core
def test_state_of_an_older_version_gives_the_defaults():
    state = evolution(parent_rule="tchebycheff").get_state()
    del state["options"]
    fresh = evolution()
    fresh.set_state(state)
    assert {k: getattr(fresh, k) for k in EVOLUTION_OPTIONS} == EVOLUTION_OPTIONS
    assert fresh.pareto_archive is True and fresh.pareto_secondary == "crowding"


@pytest.mark.core
@pytest.mark.parametrize("name, value", [("parent_rule", "best"), ("population_rule", "fifo"),
                                         ("archive_epsilon", (-1.0,)), ("cheap_objective", 3),
                                         ("crowding_scale", "log"), ("pareto_archive", "yes")])
def test_bad_option_names_the_argument(name, value):
    with pytest.raises(ValueError, match=name):
        evolution(**{name: value})


@pytest.mark.core
def test_one_set_of_evolution_defaults():
    oracle_defaults = {k: p.default for k, p in inspect.signature(RegularizedEvolutionOracle).parameters.items()}
    assert (oracle_defaults["population_size"], oracle_defaults["sample_size"]) == (10, 8)
    assert EVOLUTION_DEFAULTS == {"population_size": 10, "sample_size": 8}
    assert RegularizedEvolution.oracle_class is RegularizedEvolutionOracle
    assert RegularizedEvolutionAutoTuner.oracle_class is RegularizedEvolutionOracle


@pytest.mark.core
def test_rl_oracle_takes_the_shared_options():
    oracle = RLControllerOracle(objective="val_accuracy", max_trials=2, seed=1, pareto_secondary="hypervolume")
    assert oracle.get_state()["options"]["pareto_secondary"] == "hypervolume"
