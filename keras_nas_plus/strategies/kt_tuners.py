"""Keras Tuner's own strategies as tuners that keep the keras_nas_plus trial records.

Keras Tuner's random, grid, Bayesian and Hyperband
tuners are re-exported here as subclasses that also write `nas_trial.json`
per trial (parameters, epochs trained, learning curves), so that every
strategy can be compared and reported the same way. Their arguments are
exactly those of the Keras Tuner classes.
"""

import keras_tuner

from keras_nas_plus.engine.tuner import NASTuner
from keras_nas_plus.strategies.warm_start import WarmStartRandomSearchOracle


class RandomSearch(keras_tuner.RandomSearch, NASTuner):
    """`keras_tuner.RandomSearch` with keras_nas_plus trial records and warm start.

    Args:
        initial_architectures: None (default), `"references"` (every point
            of `hypermodel.references()`), or a list of dicts of
            hyperparameter values and/or reference names, proposed first, in
            order (see `WarmStartRandomSearchOracle`, docs/warm_start.md).
        hypermodel, objective, max_trials, seed, hyperparameters,
        tune_new_entries, allow_new_entries, max_retries_per_trial,
        max_consecutive_failed_trials, **kwargs: as in
            `keras_tuner.RandomSearch` and `NASTuner`.

    Raises:
        ValueError: a malformed initial architecture (unknown name, value
            out of range, unknown reference); the message names it.

    Reference:
        Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization",
        JMLR 13, 2012.
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=10, seed=None, hyperparameters=None,
                 tune_new_entries=True, allow_new_entries=True, max_retries_per_trial=0,
                 max_consecutive_failed_trials=3, initial_architectures=None, **kwargs):
        self.seed = seed
        oracle = WarmStartRandomSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed, hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries, allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            initial_architectures=initial_architectures)
        # Keras Tuner's RandomSearch.__init__ only builds its own oracle: skip it.
        NASTuner.__init__(self, oracle, hypermodel, **kwargs)
        oracle.prepare_initial_architectures(self.hypermodel)


class BayesianOptimization(keras_tuner.BayesianOptimization, NASTuner):
    """`keras_tuner.BayesianOptimization` with keras_nas_plus trial records."""


class GridSearch(keras_tuner.GridSearch, NASTuner):
    """`keras_tuner.GridSearch` with keras_nas_plus trial records."""


class Hyperband(keras_tuner.Hyperband, NASTuner):
    """`keras_tuner.Hyperband` with keras_nas_plus trial records."""
