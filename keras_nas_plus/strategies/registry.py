"""The one registry of search strategies: `strategy.type` name -> tuner class.

Each strategy is one module of this package with its Oracle and Tuner side by
side (`evolution`, `rl`), like Keras Tuner's `tuners/`; Keras Tuner's random,
grid, Bayesian and Hyperband tuners come from `kt_tuners`. The YAML
configuration (`strategy.type`), the tabular harness and the AutoKeras
integration all look strategies up here.
"""

import inspect

import keras_tuner

from keras_nas_plus.strategies.evolution import RegularizedEvolution
from keras_nas_plus.strategies.evolution import RegularizedEvolutionOracle
from keras_nas_plus.strategies.kt_tuners import BayesianOptimization
from keras_nas_plus.strategies.kt_tuners import GridSearch
from keras_nas_plus.strategies.kt_tuners import Hyperband
from keras_nas_plus.strategies.kt_tuners import RandomSearch
from keras_nas_plus.strategies.rl import RLControllerOracle
from keras_nas_plus.strategies.rl import RLSearch

#: Tuner class of each `strategy.type` of the YAML configuration.
STRATEGIES = {
    "evolution": RegularizedEvolution,
    "rl": RLSearch,
    "random": RandomSearch,
    "bayesian": BayesianOptimization,
    "grid": GridSearch,
    "hyperband": Hyperband,
}

#: Oracle class of each strategy (the tabular harness drives oracles without tuners).
ORACLES = {
    "evolution": RegularizedEvolutionOracle,
    "rl": RLControllerOracle,
    "random": keras_tuner.oracles.RandomSearchOracle,
    "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
    "grid": keras_tuner.oracles.GridSearchOracle,
    "hyperband": keras_tuner.oracles.HyperbandOracle,
}


def oracle_defaults(name: str, keys: tuple) -> dict:
    """The default values of some constructor arguments of a strategy's oracle.

    Args:
        name: str, a key of `ORACLES`.
        keys: tuple of str, argument names.

    Returns:
        dict name -> default value.
    """
    params = inspect.signature(ORACLES[name]).parameters
    return {k: params[k].default for k in keys}


__all__ = ["ORACLES", "oracle_defaults", "STRATEGIES", "RegularizedEvolution", "RLSearch", "RandomSearch", "BayesianOptimization",
           "GridSearch", "Hyperband"]
