"""keras_nas_plus: Neural Architecture Search for Keras 3 on Keras Tuner.

Search strategies are Keras Tuner oracles with matching tuners
(`RegularizedEvolution`, `RLSearch`, ...), search spaces are HyperModels
(`MacroSearchSpace`, `CellSearchSpace`, `NASBench201Space`,
`ResidualSearchSpace`), and
`run_search` / `build_best_model` drive a whole search from a configuration
(the `keras-nas-plus` command line does the same from YAML).
"""

__version__ = "0.1.0"

from keras_nas_plus import _aliases

_aliases.install()  # old module paths (keras_nas_plus.oracles, .fidelity, ...) keep importing

# Layers, bottom to top (docs/architecture.md): vocabulary -> spaces, morphism
# -> estimation -> engine -> strategies -> app, tabular, integrations.
from keras_nas_plus.estimation.final import retrain_top_k  # noqa: E402
from keras_nas_plus.app.run import build_best_model  # noqa: E402
from keras_nas_plus.app.run import run_search  # noqa: E402
from keras_nas_plus.engine.pareto import hypervolume  # noqa: E402
from keras_nas_plus.engine.pareto import mnas_reward  # noqa: E402
from keras_nas_plus.engine.pareto import non_dominated_sort  # noqa: E402
from keras_nas_plus.estimation.costs import count_flops  # noqa: E402
from keras_nas_plus.estimation.costs import measure_latency  # noqa: E402
from keras_nas_plus.estimation.curves import CurveExtrapolator  # noqa: E402
from keras_nas_plus.estimation.fidelity import Fidelity  # noqa: E402
from keras_nas_plus.estimation.fidelity import with_fidelity  # noqa: E402
from keras_nas_plus.estimation.learning_curves import LearningCurveExtrapolation  # noqa: E402
from keras_nas_plus.spaces import CellSearchSpace  # noqa: E402
from keras_nas_plus.spaces import MacroSearchSpace  # noqa: E402
from keras_nas_plus.spaces import NASBench201Space  # noqa: E402
from keras_nas_plus.spaces import ResidualSearchSpace  # noqa: E402
from keras_nas_plus.strategies import RegularizedEvolution  # noqa: E402
from keras_nas_plus.strategies import RegularizedEvolutionOracle  # noqa: E402
from keras_nas_plus.strategies import RLControllerOracle  # noqa: E402
from keras_nas_plus.strategies import RLSearch  # noqa: E402
from keras_nas_plus.strategies.kt_tuners import BayesianOptimization  # noqa: E402
from keras_nas_plus.strategies.kt_tuners import GridSearch  # noqa: E402
from keras_nas_plus.strategies.kt_tuners import Hyperband  # noqa: E402
from keras_nas_plus.strategies.kt_tuners import RandomSearch  # noqa: E402
from keras_nas_plus.vocabulary import is_rejected  # noqa: E402


def __getattr__(name: str):
    """`keras_nas_plus.oracles`, `.costs`, ... after a bare `import keras_nas_plus`, as before issue 21."""
    old = f"{__name__}.{name}"
    if old in _aliases.ALIASES:
        import importlib

        return importlib.import_module(old)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
