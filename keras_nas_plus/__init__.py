"""keras_nas_plus: Neural Architecture Search for Keras 3 on Keras Tuner."""

__version__ = "0.1.0"

# --- cell / NAS-Bench-201 search spaces and tabular benchmarks (issue 3) ---
from keras_nas_plus.spaces.cell import CellSearchSpace  # noqa: E402,F401
from keras_nas_plus.spaces.nb201 import NASBench201Space  # noqa: E402,F401
