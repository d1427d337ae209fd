"""A strategy's tuner: a `NASTuner` whose oracle is made from the tuner's own arguments.

Each strategy module defines its Oracle and a tuner `class X(OracleTuner)`
with `oracle_class = XOracle`; the tuner takes the oracle's arguments
(`objective`, `max_trials`, `seed`, the strategy's settings) and the
`NASTuner`/`keras_tuner.Tuner` arguments (`directory`, `estimators`, ...)
side by side, as Keras Tuner's `RandomSearch` does. The AutoKeras
integration builds its oracles with the same `split_oracle_kwargs`.
"""

import inspect

from keras_nas_plus.engine.tuner import NASTuner


def oracle_parameters(oracle_class: type) -> list:
    """Names of the constructor arguments of `oracle_class` and of its bases (up to `NASOracle`)."""
    names = []
    for cls in oracle_class.__mro__:
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        for name, p in inspect.signature(init).parameters.items():
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and name not in names:
                names.append(name)
        if cls.__name__ == "NASOracle":
            break
    return names


def split_oracle_kwargs(oracle_class: type, kwargs: dict) -> tuple:
    """`(oracle_kwargs, other_kwargs)`: the arguments of `oracle_class` and the rest."""
    names = set(oracle_parameters(oracle_class))
    return ({k: v for k, v in kwargs.items() if k in names},
            {k: v for k, v in kwargs.items() if k not in names})


class OracleTuner(NASTuner):
    """Base of the strategies' tuners (set `oracle_class` in the subclass).

    Args:
        hypermodel: `keras_tuner.HyperModel` or a function `build(hp)` that
            returns a compiled Keras model.
        **kwargs: the arguments of `oracle_class` (`objective`,
            `max_trials`, `seed`, the strategy's settings) and those of
            `NASTuner` and `keras_tuner.Tuner` (`directory`,
            `project_name`, `overwrite`, `estimators`, ...).

    Raises:
        ValueError: if an argument is out of range; the message names it.
    """

    #: The oracle class of the strategy.
    oracle_class = None

    def __init__(self, hypermodel=None, **kwargs):
        oracle_kwargs, kwargs = split_oracle_kwargs(self.oracle_class, kwargs)
        self.seed = oracle_kwargs.get("seed")
        super().__init__(self.oracle_class(**oracle_kwargs), hypermodel, **kwargs)
        prepare = getattr(self.oracle, "prepare_initial_architectures", None)
        if prepare is not None:  # warm start: names and references resolved against the space
            prepare(self.hypermodel)
