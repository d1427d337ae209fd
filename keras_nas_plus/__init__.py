"""keras_nas_plus: Neural Architecture Search for Keras 3 on Keras Tuner.

Search strategies are Keras Tuner oracles with matching tuners
(`RegularizedEvolution`, `RLSearch`, ...), search spaces are HyperModels
(`MacroSearchSpace`, `CellSearchSpace`, `NASBench201Space`,
`ResidualSearchSpace`), and
`run_search` / `build_best_model` drive a whole search from a configuration
(the `keras-nas-plus` command line does the same from YAML).
"""

__version__ = "0.1.0"

from keras_nas_plus.oracles import RegularizedEvolution
from keras_nas_plus.oracles import RegularizedEvolutionOracle
from keras_nas_plus.oracles import RLControllerOracle
from keras_nas_plus.oracles import RLSearch
from keras_nas_plus.run import build_best_model
from keras_nas_plus.run import run_search
from keras_nas_plus.spaces import CellSearchSpace
from keras_nas_plus.spaces import MacroSearchSpace
from keras_nas_plus.spaces import NASBench201Space
from keras_nas_plus.spaces import ResidualSearchSpace
from keras_nas_plus.tuners import BayesianOptimization
from keras_nas_plus.tuners import GridSearch
from keras_nas_plus.tuners import Hyperband
from keras_nas_plus.tuners import RandomSearch

from keras_nas_plus.callbacks import LearningCurveExtrapolation
from keras_nas_plus.curves import CurveExtrapolator
from keras_nas_plus.costs import count_flops
from keras_nas_plus.costs import measure_latency
from keras_nas_plus.oracles._pareto import hypervolume
from keras_nas_plus.oracles._pareto import mnas_reward
from keras_nas_plus.oracles._pareto import non_dominated_sort
from keras_nas_plus.oracles.base import is_rejected
from keras_nas_plus.fidelity import Fidelity
from keras_nas_plus.fidelity import retrain_top_k
from keras_nas_plus.fidelity import with_fidelity
