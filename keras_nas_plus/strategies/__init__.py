"""Search strategies as Keras Tuner oracles (each module: Oracle + Tuner)."""

from keras_nas_plus.oracles.base import PARENT_KEY
from keras_nas_plus.oracles.base import NASOracle
from keras_nas_plus.oracles.evolution import RegularizedEvolution
from keras_nas_plus.oracles.evolution import RegularizedEvolutionOracle
from keras_nas_plus.oracles.rl import RLControllerOracle
from keras_nas_plus.oracles.rl import RLSearch
