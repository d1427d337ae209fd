"""Search strategies as Keras Tuner oracles (each module: Oracle + Tuner).

`registry.STRATEGIES` maps each `strategy.type` name to its tuner class.
"""

from keras_nas_plus.strategies.base import NASOracle
from keras_nas_plus.strategies.evolution import RegularizedEvolution
from keras_nas_plus.strategies.evolution import RegularizedEvolutionOracle
from keras_nas_plus.strategies.registry import STRATEGIES
from keras_nas_plus.strategies.rl import RLControllerOracle
from keras_nas_plus.strategies.rl import RLSearch
from keras_nas_plus.vocabulary import PARENT_KEY
