"""Keras Tuner's own strategies as tuners that keep the keras_nas_plus trial records.

Keras Tuner's random, grid, Bayesian and Hyperband
tuners are re-exported here as subclasses that also write `nas_trial.json`
per trial (parameters, epochs trained, learning curves), so that every
strategy can be compared and reported the same way. Their arguments are
exactly those of the Keras Tuner classes.
"""

import keras_tuner

from keras_nas_plus.engine.tuner import NASTuner


class RandomSearch(keras_tuner.RandomSearch, NASTuner):
    """`keras_tuner.RandomSearch` with keras_nas_plus trial records."""


class BayesianOptimization(keras_tuner.BayesianOptimization, NASTuner):
    """`keras_tuner.BayesianOptimization` with keras_nas_plus trial records."""


class GridSearch(keras_tuner.GridSearch, NASTuner):
    """`keras_tuner.GridSearch` with keras_nas_plus trial records."""


class Hyperband(keras_tuner.Hyperband, NASTuner):
    """`keras_tuner.Hyperband` with keras_nas_plus trial records."""
