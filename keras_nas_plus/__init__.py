"""keras_nas_plus: Neural Architecture Search for Keras 3 on Keras Tuner."""

__version__ = "0.1.0"

# --- RL controller search (issue 4) ---
from keras_nas_plus.oracles.rl import RLSearch  # noqa: E402,F401
