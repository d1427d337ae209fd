"""The old `keras_nas_plus.fidelity` namespace (before issue 21 split it).

`import keras_nas_plus.fidelity` gives this module: every name the old module
had, from where it lives now (`estimation.fidelity`, `estimation.final`,
`spaces.scaling`, `app.fidelity_report`).
"""

# flake8: noqa: F401
from keras_nas_plus.app.fidelity_report import add_parser
from keras_nas_plus.app.fidelity_report import default_settings
from keras_nas_plus.app.fidelity_report import fidelity_report
from keras_nas_plus.app.fidelity_report import format_report
from keras_nas_plus.app.fidelity_report import rank_correlation
from keras_nas_plus.app.fidelity_report import run
from keras_nas_plus.app.fidelity_report import sample_architectures
from keras_nas_plus.app.fidelity_report import settings_from_config
from keras_nas_plus.estimation.fidelity import FIDELITY_KEYS
from keras_nas_plus.estimation.fidelity import SCHEDULES
from keras_nas_plus.estimation.fidelity import Fidelity
from keras_nas_plus.estimation.fidelity import FidelityMixin
from keras_nas_plus.estimation.fidelity import from_estimation
from keras_nas_plus.estimation.fidelity import reduce_data
from keras_nas_plus.estimation.fidelity import resize_images
from keras_nas_plus.estimation.fidelity import stratified_subset
from keras_nas_plus.estimation.fidelity import validate_section
from keras_nas_plus.estimation.fidelity import with_fidelity
from keras_nas_plus.estimation.final import format_final_phase
from keras_nas_plus.estimation.final import halving_rungs
from keras_nas_plus.estimation.final import retrain_top_k
from keras_nas_plus.estimation.final import run_final_phase
from keras_nas_plus.estimation.final import train_architecture
from keras_nas_plus.spaces.scaling import WIDTH_SPACES
from keras_nas_plus.spaces.scaling import build_model
from keras_nas_plus.spaces.scaling import reduced_space
from keras_nas_plus.spaces.scaling import widened
