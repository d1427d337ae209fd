"""Tabular NAS benchmarks: drive any Keras Tuner oracle over a results table, no training."""

from keras_nas_plus.tabular.harness import STRATEGIES  # noqa: F401
from keras_nas_plus.tabular.harness import format_results  # noqa: F401
from keras_nas_plus.tabular.harness import make_oracle  # noqa: F401
from keras_nas_plus.tabular.harness import plot_curves  # noqa: F401
from keras_nas_plus.tabular.harness import run_benchmark  # noqa: F401
from keras_nas_plus.tabular.harness import run_search  # noqa: F401
from keras_nas_plus.tabular.table import NAMED_TABLES  # noqa: F401
from keras_nas_plus.tabular.table import TabularBenchmark  # noqa: F401
from keras_nas_plus.tabular.table import load_table  # noqa: F401
