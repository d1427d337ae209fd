"""Search spaces as Keras Tuner HyperModels."""

from keras_nas_plus.spaces.macro import MacroSearchSpace
