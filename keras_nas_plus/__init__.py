"""keras_nas_plus: Neural Architecture Search for Keras 3 on Keras Tuner."""

__version__ = "0.1.0"
