"""The one registry of search strategies: `strategy.type` name -> tuner class.

Each strategy is one module of this package with its Oracle and Tuner side by
side (`evolution`, `rl`), like Keras Tuner's `tuners/`; Keras Tuner's random,
grid, Bayesian and Hyperband tuners come from `kt_tuners`. The YAML
configuration (`strategy.type`), the tabular harness and the AutoKeras
integration all look strategies up here.
"""

from keras_nas_plus.strategies.evolution import RegularizedEvolution
from keras_nas_plus.strategies.kt_tuners import BayesianOptimization
from keras_nas_plus.strategies.kt_tuners import GridSearch
from keras_nas_plus.strategies.kt_tuners import Hyperband
from keras_nas_plus.strategies.kt_tuners import RandomSearch
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

__all__ = ["STRATEGIES", "RegularizedEvolution", "RLSearch", "RandomSearch", "BayesianOptimization",
           "GridSearch", "Hyperband"]
