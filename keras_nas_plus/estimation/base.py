"""The `Estimator` protocol: one way to plug performance estimation into a search.

A trial goes through `NASTuner` as: build the model -> check costs and
constraints -> fit -> record `nas_trial.json` -> the oracle scores it. An
estimator changes how a trial's performance is estimated by taking part at
these points, in the order the estimators are given:

* `attach(tuner)`: once, when the tuner is created (after its oracle);
* `build_model(hp, build)`: build the trial's network (e.g. from a reduced
  copy of the space); `build(hp)` is the next builder in the chain, and
  `build(hp, hypermodel)` builds with another search space;
* `before_fit(trial, model, fit_args, fit_kwargs)`: change the `fit`
  arguments (data, epochs, callbacks) or the model (inherited weights);
* `record(trial, model, results)`: entries for the trial's `nas_trial.json`;
* `after_search(tuner)`: once `search` has returned.

Implementations: `estimation.fidelity.LowerFidelity` (Elsken et al. 2019,
Section 5), `estimation.learning_curves.LearningCurveEstimator` (Domhan et
al. 2015), `estimation.inheritance.WeightInheritance` (Net2Net, Chen et al.
2016; Elsken et al. 2019, Section 5), `estimation.final_phase.FinalTraining`
(the final phase, in `after_search`). Hooks are plain methods with no-op
defaults, so an estimator overrides only those it needs.
"""

from typing import Any
from typing import Callable


class Estimator:
    """Base of the performance-estimation strategies; every hook does nothing by default."""

    #: Short name, used in messages and as the YAML `estimation:` key.
    name = "estimator"

    def attach(self, tuner: Any) -> None:
        """Called once, by the tuner's constructor, after its oracle exists.

        Args:
            tuner: the `keras_nas_plus.engine.tuner.NASTuner` using this estimator.
        """
        self.tuner = tuner

    def build_model(self, hp: Any, build: Callable) -> Any:
        """Builds the trial's model.

        Args:
            hp: `keras_tuner.HyperParameters` of the trial.
            build: the next builder, `build(hp)` or `build(hp, hypermodel)`
                (a compiled `keras.Model` with the tuner's compile arguments).

        Returns:
            a compiled `keras.Model`.
        """
        return build(hp)

    def before_fit(self, trial: Any, model: Any, fit_args: tuple, fit_kwargs: dict) -> tuple:
        """Changes the arguments of the trial's `fit` (or the model) before training.

        Args:
            trial: `keras_tuner.engine.trial.Trial`.
            model: the built, compiled `keras.Model`.
            fit_args: tuple, positional `fit` arguments (`x`, `y`).
            fit_kwargs: dict, keyword `fit` arguments (`epochs`,
                `callbacks`, `validation_data`, ...).

        Returns:
            `(fit_args, fit_kwargs)`.
        """
        return fit_args, fit_kwargs

    def record(self, trial: Any, model: Any, results: Any) -> dict:
        """JSON-safe entries for the trial's `nas_trial.json` (after `fit`).

        Args:
            trial: `keras_tuner.engine.trial.Trial`.
            model: the trained `keras.Model`.
            results: what the search space's `fit` returned (a History).

        Returns:
            dict (empty: nothing to record).
        """
        return {}

    def after_search(self, tuner: Any) -> None:
        """Called once `tuner.search` has returned (in each process of a distributed search)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_estimators(estimators: Any) -> list:
    """The estimators as a list, each checked to be an `Estimator`.

    Raises:
        TypeError: naming the first item that is not an `Estimator`.
    """
    if estimators is None:
        return []
    if isinstance(estimators, Estimator):
        return [estimators]
    out = list(estimators)
    for k, estimator in enumerate(out):
        if not isinstance(estimator, Estimator):
            raise TypeError(f"`estimators[{k}]` must be a keras_nas_plus Estimator, got {estimator!r}.")
    return out
