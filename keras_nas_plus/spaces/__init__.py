"""Search spaces (Keras Tuner HyperModels)."""

# --- cells / NAS-Bench-201 (issue 3) ---
from keras_nas_plus.spaces.nb201 import NASBench201Space  # noqa: F401
from keras_nas_plus.spaces.nb201 import arch_to_values  # noqa: F401
from keras_nas_plus.spaces.nb201 import values_to_arch  # noqa: F401
from keras_nas_plus.spaces.cell import CellSearchSpace  # noqa: F401
from keras_nas_plus.spaces.cell import build_cell  # noqa: F401
