"""AutoKeras 3 integration: NAS search spaces as blocks, NAS strategies as tuners.

* `MacroBlock` and `CellBlock` are AutoKeras `Block`s that build the body of
  `MacroSearchSpace` / `CellSearchSpace` on their input node, so our spaces
  can be wired into an `ak.AutoModel` graph next to AutoKeras' own blocks
  (`ak.Normalization`, `ak.ConvBlock`, heads, ...).
* `RegularizedEvolutionAutoTuner` and `RLAutoTuner` are subclasses of
  AutoKeras' `AutoTuner` for `ak.AutoModel(tuner=...)`: AutoKeras'
  preprocessing pipelines, final fit and export are kept; the search strategy
  is ours.
* `compatible_tuner` and `cast_io_shapes` work around an incompatibility of
  AutoKeras 3.0.0 with Keras >= 3.12 (numpy-integer output sizes rejected by
  `Dense`) and Keras Tuner's unconditional tensorboard import, for users of
  AutoKeras' own tuners.

This module imports AutoKeras; the rest of keras_nas_plus never does.
"""

import functools

import keras

try:
    import autokeras  # noqa: F401  (fails early with a clear message)
    from autokeras.engine import block as _ak_block
    from autokeras.engine import tuner as _ak_tuner
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "keras_nas_plus.autokeras needs AutoKeras 3 (`pip install autokeras`); "
        "the rest of keras_nas_plus works without it."
    ) from e

from keras_nas_plus.engine.trial_support import StopOnNonFiniteLoss
from keras_nas_plus.engine.tuner import NASTuner
from keras_nas_plus.engine.tuner import _raise_on_nan_loss
from keras_nas_plus.strategies.evolution import RegularizedEvolutionOracle
from keras_nas_plus.strategies.oracle_tuner import split_oracle_kwargs
from keras_nas_plus.strategies.rl import RLControllerOracle
from keras_nas_plus.spaces import cell as cell_space
from keras_nas_plus.spaces import ops
from keras_nas_plus.spaces.cell import CellSearchSpace
from keras_nas_plus.spaces.macro import MacroSearchSpace

__all__ = [
    "AutoKerasCompatMixin",
    "CellBlock",
    "MacroBlock",
    "NASAutoTuner",
    "RLAutoTuner",
    "RegularizedEvolutionAutoTuner",
    "cast_io_shapes",
    "compatible_tuner",
]

# ------------------------------------------------------------------ fixes


def _python_shape(shape):
    return tuple(None if d is None else int(d) for d in shape)


def cast_io_shapes(graph):
    """Casts the shapes of an AutoKeras graph's inputs and heads to Python ints.

    AutoKeras 3.0.0 records the data shapes as numpy integers
    (`Graph.set_io_shapes`), and Keras >= 3.12 rejects them in
    `keras.layers.Dense(units=...)`, so every AutoKeras head fails with
    `ValueError: Received an invalid value for units ... units=3` before the
    first trial. Call this after the shapes are set and before the model is
    built; `compatible_tuner` and our AutoTuners do so for you.

    Args:
        graph: `autokeras.graph.Graph`, the tuner's hypermodel
            (`auto_model.tuner.hypermodel`).

    Returns:
        The same graph, changed in place.
    """
    for node in graph.inputs:
        if getattr(node, "shape", None) is not None:
            node.shape = _python_shape(node.shape)
    for node in graph.outputs:
        for block in node.in_blocks:
            if getattr(block, "shape", None) is not None:
                block.shape = _python_shape(block.shape)
    return graph


class AutoKerasCompatMixin:
    """Mixin for `AutoTuner` subclasses: the Keras 3.12+ / TensorFlow 2.20+ fixes.

    * casts the graph's input and output shapes to Python ints after
      AutoKeras sets them (see `cast_io_shapes`);
    * imports tensorboard (which TensorFlow >= 2.20 no longer installs) only
      when a `keras.callbacks.TensorBoard` callback is actually used.
    """

    def _prepare_model_build(self, hp, **kwargs):
        result = super()._prepare_model_build(hp, **kwargs)
        cast_io_shapes(self.hypermodel)
        return result

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        if any(c.__class__.__name__ == "TensorBoard" for c in callbacks):
            super()._configure_tensorboard_dir(callbacks, trial, execution)


@functools.lru_cache(maxsize=None)
def _compatible_subclass(tuner_class):
    return type(
        tuner_class.__name__,
        (AutoKerasCompatMixin, tuner_class),
        {"__module__": __name__, "__doc__": tuner_class.__doc__},
    )


def compatible_tuner(tuner="greedy"):
    """An AutoKeras tuner class with the Keras 3.12+ / TensorFlow 2.20+ fixes.

    Use it to run AutoKeras' own tuners with keras >= 3.12:
    `ak.AutoModel(..., tuner=compatible_tuner("greedy"))` or
    `ak.ImageClassifier(..., tuner=compatible_tuner("random"))`.

    Args:
        tuner: str or class, default `"greedy"`. One of AutoKeras' tuner names
            (`"greedy"`, `"random"`, `"bayesian"`, `"hyperband"`) or a
            subclass of `autokeras.engine.tuner.AutoTuner`.

    Returns:
        A subclass of that tuner class (the same class for the same argument).

    Raises:
        ValueError: if `tuner` is neither a known name nor an `AutoTuner`
            subclass.
    """
    if isinstance(tuner, str):
        from autokeras import auto_model

        if tuner not in auto_model.TUNER_CLASSES:
            raise ValueError(
                f"`tuner` must be one of {sorted(auto_model.TUNER_CLASSES)} or an AutoTuner subclass, got {tuner!r}."
            )
        tuner = auto_model.TUNER_CLASSES[tuner]
    if not (isinstance(tuner, type) and issubclass(tuner, _ak_tuner.AutoTuner)):
        raise ValueError(f"`tuner` must be an AutoKeras tuner name or an AutoTuner subclass, got {tuner!r}.")
    if issubclass(tuner, AutoKerasCompatMixin):
        return tuner
    return _compatible_subclass(tuner)


# ----------------------------------------------------------------- tuners


class NASAutoTuner(AutoKerasCompatMixin, _ak_tuner.AutoTuner, NASTuner):
    """Base of our AutoKeras tuners: AutoKeras' `AutoTuner` + `NASTuner` records.

    Trials run exactly as in AutoKeras (preprocessing pipeline per trial,
    adaptation of preprocessing layers, adaptive batch size, early stopping
    and final fit in `search`); in addition each trial directory gets
    `NASTuner`'s `nas_trial.json` (parameter count, learning curves) and a NaN
    loss stops the trial (`StopOnNonFiniteLoss`, an asynchronous
    `keras.callbacks.TerminateOnNaN`) and fails it.
    `NASTuner`'s `time_budget` and `learning_curve` work as there (the time
    budget ends the search phase; AutoKeras' final fit still runs); its
    `before_fit` hook is not called. Not used directly: see
    `RegularizedEvolutionAutoTuner` and `RLAutoTuner`.

    Args:
        hypermodel: the AutoKeras graph (`ak.AutoModel` passes it).
        objective: str or `keras_tuner.Objective`, default `"val_loss"`.
        progress: bool, default False. One line per finished trial.
        **kwargs: the arguments of `oracle_class` (`max_trials`, `seed`,
            the strategy's settings, with the oracle's defaults), then
            `time_budget` and `learning_curve` of `NASTuner` and the
            arguments of `keras_tuner.Tuner`.
    """

    #: The strategy's oracle class (set by the subclass).
    oracle_class = None

    def __init__(self, hypermodel=None, objective="val_loss", progress=False, **kwargs):
        oracle_kwargs, kwargs = split_oracle_kwargs(self.oracle_class, dict(kwargs, objective=objective))
        self.seed = oracle_kwargs.get("seed")
        self._last_model = None
        super().__init__(self.oracle_class(**oracle_kwargs), hypermodel, progress=progress, **kwargs)

    def _try_build(self, hp):
        model = super()._try_build(hp)
        self._last_model = model
        return model

    def _build_and_fit_model(self, trial, *args, **kwargs):
        callbacks = list(kwargs.get("callbacks") or [])
        if not any(isinstance(c, keras.callbacks.TerminateOnNaN) for c in callbacks):
            callbacks.append(StopOnNonFiniteLoss())
        kwargs["callbacks"] = callbacks
        for estimator in self.estimators:  # AutoKeras builds the model later: `model` is None here
            args, kwargs = estimator.before_fit(trial, None, tuple(args), dict(kwargs))
        self._last_model = None
        results = _ak_tuner.AutoTuner._build_and_fit_model(self, trial, *args, **kwargs)
        if self._last_model is not None:
            self._record_trial_info(trial, self._last_model, results, args, kwargs)
        _raise_on_nan_loss(results)
        return results


class RegularizedEvolutionAutoTuner(NASAutoTuner):
    """AutoKeras tuner that searches with regularized (aging) evolution.

    Pass the class (AutoKeras instantiates it) and the evolution settings as
    keyword arguments of the AutoModel, which forwards them:
    `ak.AutoModel(inputs, outputs, tuner=RegularizedEvolutionAutoTuner,
    max_trials=20, population_size=8, sample_size=3)`.

    Args:
        hypermodel: the AutoKeras graph (passed by `ak.AutoModel`).
        objective: str or `keras_tuner.Objective`, default `"val_loss"`.
        max_trials: int, default 10. Total number of trials.
        population_size: int >= 2, default 10. Members kept (P); the first
            `population_size` trials are random.
        sample_size: int in [1, population_size], default 8. Tournament size (S).
        num_mutations: int >= 1, default 1. Decisions changed per child.
        local_mutation_probability: float in [0, 1], default 0.0.
        crossover_probability: float in [0, 1], default 0.0.
        seed: int or None. Random seed (AutoModel passes its `seed`).
        hyperparameters, tune_new_entries, allow_new_entries,
        max_retries_per_trial, max_consecutive_failed_trials: as in
            `keras_tuner.RandomSearch`.
        **kwargs: the other arguments of `RegularizedEvolutionOracle` (same
            defaults as `RegularizedEvolution`) and of `keras_tuner.Tuner` (`directory`,
            `project_name`, `overwrite`, `max_model_size`, ...) and
            `progress` (bool, default False).

    Raises:
        ValueError: if an evolution setting is out of range; the message
            names it.

    Reference:
        Real, Aggarwal, Huang & Le, "Regularized Evolution for Image
        Classifier Architecture Search", AAAI 2019, Algorithm 1.
    """

    oracle_class = RegularizedEvolutionOracle


class RLAutoTuner(NASAutoTuner):
    """AutoKeras tuner that searches with an RL controller trained by REINFORCE.

    Pass the class and the controller settings as keyword arguments of the
    AutoModel: `ak.AutoModel(inputs, outputs, tuner=RLAutoTuner,
    max_trials=20, hidden_units=32)`.

    Args:
        hypermodel: the AutoKeras graph (passed by `ak.AutoModel`).
        objective: str or `keras_tuner.Objective`, default `"val_loss"`.
        max_trials: int, default 10. Total number of trials.
        seed: int or None. Random seed (AutoModel passes its `seed`).
        **kwargs: the settings of
            `keras_nas_plus.oracles.rl.RLControllerOracle` (`cell`,
            `hidden_units`, `learning_rate`, `batch_size` (trials per
            controller update, not the training batch size), `reward`, ...,
            `hyperparameters`, `max_consecutive_failed_trials`); all other
            keyword arguments go to `keras_tuner.Tuner` (`directory`,
            `project_name`, `overwrite`, `max_model_size`, `progress`, ...).

    Raises:
        ValueError: if a controller setting is out of range.

    Reference:
        Zoph & Le, "Neural Architecture Search with Reinforcement Learning",
        ICLR 2017, Section 3.
    """

    oracle_class = RLControllerOracle


# ----------------------------------------------------------------- blocks


def _block_config(block, config, keys):
    """`config` (the Block's own) plus the block's `keys` attributes."""
    return dict(config, **{key: getattr(block, key) for key in keys})


def _single_input(inputs):
    inputs = keras.tree.flatten(inputs)
    if len(inputs) != 1:
        raise ValueError(f"Expected 1 input node, got {len(inputs)}.")
    return inputs[0]


def _placeholder_shape(tensor):
    """The example shape of `tensor` with unknown dimensions set to 1."""
    return tuple(1 if d is None else int(d) for d in tensor.shape[1:])


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class MacroBlock(_ak_block.Block):
    """AutoKeras block searching a chain-structured (macro) CNN body.

    Builds the body of `MacroSearchSpace` on its input node: a stem
    convolution, then a chain of `min_layers`..`max_layers` searched layers
    (operation and filters per layer; optional skip connections), without
    pooling or classifier, so that a head (`ak.ClassificationHead`, whose
    spatial reduction and dropout are searched) or further blocks follow. The
    input is an image tensor `(batch, H, W, C)` (after `ak.ImageInput`) or a
    sequence `(batch, steps, features)`. Hyperparameters are those of
    `MacroSearchSpace` (`num_layers`, `layer_{i}/op`, `layer_{i}/filters`,
    `layer_{i}/skip_from_{j}`, `merge`) scoped by the block name as in
    AutoKeras (e.g. `macro_block_1/layer_0/op`); layer names start with the
    block name. Choice arguments take a value or a list of candidate values.

    Args:
        min_layers: int >= 1, default 3. Fewest chain layers.
        max_layers: int >= min_layers, default 8. Most chain layers.
        operations: sequence of str, default all of `ops.MACRO_OPERATIONS`.
        filters: int or sequence of ints, default `(16, 32, 64)`. Filters of a
            convolution before any downsampling (doubled after each).
        skip_connections: bool, default False. The complex macro space.
        merge: str or sequence of `"add"`/`"concat"`, default both.
        downsample_at: sequence of layer indices or None (default: at 1/3 and
            2/3 of the depth). 2x2 max pooling before these layers.
        stem_filters: int, default 32. Filters of the stem convolution.
        **kwargs: `name` (str) and `tunable` of an AutoKeras block.

    Raises:
        ValueError: for an invalid argument; the message names it.

    Reference:
        Pham et al., "Efficient Neural Architecture Search via Parameter
        Sharing", ICML 2018 (macro search space); Elsken, Metzen & Hutter,
        "Neural Architecture Search: A Survey", JMLR 2019, Section 3.
    """

    def __init__(
        self,
        min_layers=3,
        max_layers=8,
        operations=ops.MACRO_OPERATIONS,
        filters=(16, 32, 64),
        skip_connections=False,
        merge=("add", "concat"),
        downsample_at=None,
        stem_filters=32,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.min_layers = min_layers
        self.max_layers = max_layers
        self.operations = list(operations) if isinstance(operations, (list, tuple)) else operations
        self.filters = list(filters) if isinstance(filters, (list, tuple)) else filters
        self.skip_connections = skip_connections
        self.merge = list(merge) if isinstance(merge, (list, tuple)) else merge
        self.downsample_at = None if downsample_at is None else list(downsample_at)
        self.stem_filters = stem_filters
        self._space((8, 8, 1))  # validates the arguments

    def _space(self, input_shape):
        return MacroSearchSpace(
            input_shape=input_shape,
            num_classes=2,  # unused by the body
            min_layers=self.min_layers,
            max_layers=self.max_layers,
            operations=self.operations,
            filters=self.filters,
            skip_connections=self.skip_connections,
            merge=self.merge,
            downsample_at=self.downsample_at,
            stem_filters=self.stem_filters,
            dropout=0.0,
            name=self.name,
        )

    def build(self, hp, inputs=None):
        """Builds the searched body on the (single) input node.

        Args:
            hp: `keras_tuner.HyperParameters`.
            inputs: a tensor or a list of one tensor, `(batch, H, W, C)` or
                `(batch, steps, features)`.

        Returns:
            The body's output tensor (spatial, not pooled).

        Raises:
            ValueError: for several inputs or an input of unsupported rank.
        """
        x = _single_input(inputs)
        if len(x.shape) not in (3, 4):
            raise ValueError(
                f"{self.name}: expected an input of shape (batch, H, W, C) or (batch, steps, features), got {x.shape}."
            )
        return self._space(_placeholder_shape(x)).build_body(hp, x, prefix=f"{self.name}_")

    def get_config(self):
        return _block_config(self, super().get_config(), ("min_layers", "max_layers", "operations", "filters",
                                                         "skip_connections", "merge", "downsample_at", "stem_filters"))


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class CellBlock(_ak_block.Block):
    """AutoKeras block searching a NASNet/DARTS-style cell-based CNN body.

    Builds the body of `CellSearchSpace` on its input node: a 3x3 stem
    convolution, then `num_reductions + 1` stacks of `num_cells` normal cells
    with a reduction cell between stacks (one searched normal and one searched
    reduction cell, shared by all cells of a kind), without pooling or
    classifier, so that a head or further blocks follow. The input is an
    image tensor `(batch, H, W, C)` (after `ak.ImageInput`). Hyperparameters
    are those of `build_cell` (`normal_b{b}_in0`, `normal_b{b}_op0`, ...,
    `reduction_b{b}_op1`) scoped by the block name as in AutoKeras (e.g.
    `cell_block_1/normal_b0_op0`); layer names start with the block name.

    Args:
        filters: int >= 1, default 16. Channels of the first stack (doubled by
            each reduction cell).
        num_cells: int >= 1, default 2. Normal cells N per stack.
        num_blocks: int >= 1, default 5. Blocks B per cell.
        num_reductions: int >= 0, default 2. Reduction cells.
        operations: sequence of str, subset of `cell.OPERATIONS` (default all).
        bn_momentum: float in (0, 1), default 0.9. BatchNormalization momentum.
        **kwargs: `name` (str) and `tunable` of an AutoKeras block.

    Raises:
        ValueError: for an invalid argument; the message names it.

    Reference:
        Zoph, Vasudevan, Shlens & Le, "Learning Transferable Architectures for
        Scalable Image Recognition", CVPR 2018, Section 3; Liu, Simonyan &
        Yang, "DARTS", ICLR 2019, Section 2.1.
    """

    def __init__(
        self,
        filters=16,
        num_cells=2,
        num_blocks=5,
        num_reductions=2,
        operations=cell_space.OPERATIONS,
        bn_momentum=0.9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.num_cells = num_cells
        self.num_blocks = num_blocks
        self.num_reductions = num_reductions
        self.operations = list(operations)
        self.bn_momentum = bn_momentum
        self._space((8, 8, 1))  # validates the arguments

    def _space(self, input_shape):
        return CellSearchSpace(
            input_shape=input_shape,
            filters=self.filters,
            num_cells=self.num_cells,
            num_blocks=self.num_blocks,
            num_reductions=self.num_reductions,
            operations=self.operations,
            rescale=None,
            bn_momentum=self.bn_momentum,
            name=self.name,
        )

    def build(self, hp, inputs=None):
        """Builds the searched cells on the (single) input node.

        Args:
            hp: `keras_tuner.HyperParameters`.
            inputs: a tensor `(batch, H, W, C)` or a list of one.

        Returns:
            The last cell's output, `(batch, H', W', C')`.

        Raises:
            ValueError: for several inputs or an input that is not 4-D.
        """
        x = _single_input(inputs)
        if len(x.shape) != 4:
            raise ValueError(f"{self.name}: expected an image input of shape (batch, H, W, C), got {x.shape}.")
        return self._space(_placeholder_shape(x)).build_body(hp, x, prefix=f"{self.name}_")

    def get_config(self):
        return _block_config(self, super().get_config(), ("filters", "num_cells", "num_blocks", "num_reductions",
                                                         "operations", "bn_momentum"))
