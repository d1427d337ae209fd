"""The final training phase as an `Estimator` (`FinalTraining`): training the chosen network, its options.

`FinalTraining.after_search` picks the best trial (after the top-k
re-training of a lower-fidelity search), trains it on train + validation
data and evaluates it on the test split.

`_final_fit` trains the final model and goes on from the last finite epoch
after a NaN loss.

`search.final_training.init: best_trial` starts the final training from the
weights the tuner saved for the best trial (Keras Tuner keeps each trial's
best-epoch checkpoint) instead of a fresh initialisation, when the final
model has the trial's weights (`final_init`); otherwise it falls back to
`scratch` with a printed note.

`search.final_training.test_time_augmentation: flip` evaluates (and saves)
the final model wrapped by `with_flip_tta`: the mean of its class
probabilities for an image and for its horizontal mirror image, a common
test-time augmentation (e.g. Krizhevsky, Sutskever & Hinton,
"ImageNet Classification with Deep Convolutional Neural Networks", NeurIPS
2012, Section 4.1, averaging predictions over reflections);
`test_time_augmentation: flip_shift` averages 18 views, the image and its
mirror shifted by up to 2 pixels (`keras_nas_plus.estimation.tta`).

`search.final_training.ensemble: K` trains the K best trials' networks
together, as one Keras model (`ensemble_models`): each member keeps its own
weights, batch statistics and augmentation, and the training loss is the sum
of the members' losses, so each member gets the gradient it would get alone.
The saved model predicts the mean of the members' class probabilities. This
is an ensemble of the search's best networks in the spirit of Zaidi et al.,
"Neural Ensemble Search for Uncertainty Estimation and Dataset Shift",
NeurIPS 2021 (Section 3, ensemble selection from the searched pool), here
simply the top K by the search's score.
"""

import time
from typing import Any

import keras
import numpy as np

from keras_nas_plus.estimation.base import Estimator
from keras_nas_plus.estimation.final import run_final_phase
from keras_nas_plus.estimation.final_init import init_weights_path
from keras_nas_plus.estimation.final_init import load_initial_weights
from keras_nas_plus.estimation.tta import with_view_tta
from keras_nas_plus.spaces._training import CosineSchedule
from keras_nas_plus.spaces._training import FinalProgress
from keras_nas_plus.spaces._training import LastFiniteState
from keras_nas_plus.spaces._training import TimeBudget
from keras_nas_plus.spaces._training import whole_batch_size
from keras_nas_plus.spaces.scaling import widened

#: Values of `search.final_training.init`.
INIT_CHOICES = ("scratch", "best_trial")
#: Values of `search.final_training.test_time_augmentation`.
TTA_CHOICES = ("none", "flip", "flip_shift")


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class HorizontalFlip(keras.layers.Layer):
    """Mirrors images left-right: `keras.ops.flip(x, axis=2)` (NHWC, or NHW)."""

    def call(self, inputs):
        return keras.ops.flip(inputs, axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class MeanProbabilities(keras.layers.Layer):
    """Mean of several class-probability tensors (softmax first when `from_logits`).

    Args:
        from_logits: bool, default False. The inputs are logits: each is
            passed through a softmax (last axis) before the mean.
    """

    def __init__(self, from_logits=False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not isinstance(from_logits, bool):
            raise ValueError(f"`from_logits` must be a bool, got {from_logits!r}.")
        self.from_logits = from_logits

    def call(self, inputs):
        probabilities = [keras.ops.cast(x, "float32") for x in inputs]
        if self.from_logits:
            probabilities = [keras.ops.softmax(x, axis=-1) for x in probabilities]
        return keras.ops.mean(keras.ops.stack(probabilities, axis=0), axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class StackMembers(keras.layers.Layer):
    """Stacks K tensors of shape `(batch, classes)` into one of shape `(batch, K, classes)`, in float32."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs):
        return keras.ops.stack([keras.ops.cast(x, "float32") for x in inputs], axis=1)

    def compute_output_shape(self, input_shape):
        first = tuple(input_shape[0])
        return (first[0], len(input_shape)) + first[1:]


class MemberwiseLoss(keras.losses.Loss):
    """The sum over ensemble members of a per-example loss.

    `y_pred` has shape `(batch, K, classes)` (`StackMembers`), `y_true` the
    integer labels, shape `(batch,)` or `(batch, 1)`. Member k's loss is
    `loss(y_true, y_pred[:, k])`; their sum is reduced over the batch like
    any Keras loss. Summing (not averaging) keeps each member's gradient what
    it would be if it were trained alone, at the same learning rate.

    Args:
        loss: a Keras loss: a name (e.g. `"sparse_categorical_crossentropy"`),
            a function `(y_true, y_pred) -> (batch,)` or a `keras.losses.Loss`.
        name: str, default `"memberwise_loss"`.
    """

    def __init__(self, loss="sparse_categorical_crossentropy", name="memberwise_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        loss = keras.losses.get(loss)
        self.member_loss = loss.call if isinstance(loss, keras.losses.Loss) else loss

    def call(self, y_true, y_pred):
        labels = keras.ops.reshape(y_true, (-1,))
        total = None
        for k in range(y_pred.shape[1]):
            value = self.member_loss(labels, y_pred[:, k])
            total = value if total is None else total + value
        return total


def ensemble_models(members):
    """A training model and a prediction model over the same member networks.

    Args:
        members: list of K >= 2 compiled Keras models with the same input
            shape, each returning class probabilities `(batch, classes)`; the
            first one's optimizer and loss are used. Their names must differ
            (they are layers of the returned models).

    Returns:
        `(train, predict)`: `train` outputs `(batch, K, classes)` and is
        compiled with `members[0]`'s optimizer and a `MemberwiseLoss` of its
        loss (no metrics); `predict` outputs the mean class probabilities
        `(batch, classes)` (`MeanProbabilities`) and is compiled with sparse
        categorical cross-entropy and accuracy. Both share the members'
        weights.

    Raises:
        ValueError: for fewer than two members or repeated member names.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"ensemble members need distinct names, got {names}")
    spec = members[0].inputs[0]
    inputs = keras.Input(tuple(spec.shape[1:]), dtype=spec.dtype, name="image")
    outputs = [m(inputs) for m in members]
    train = keras.Model(inputs, StackMembers(name="members")(outputs), name="ensemble_training")
    train.compile(optimizer=members[0].optimizer,
                  loss=MemberwiseLoss(getattr(members[0], "loss", None) or "sparse_categorical_crossentropy"))
    predict = keras.Model(inputs, MeanProbabilities(name="ensemble_mean")(outputs), name="ensemble")
    predict.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return train, predict


def with_flip_tta(model: keras.Model, from_logits: bool = False) -> keras.Model:
    """`model` wrapped so that it predicts the mean over an image and its mirror image.

    The result is a functional model holding `model` (weights shared, not
    copied), `HorizontalFlip` and `MeanProbabilities`; it saves to and loads
    from a `.keras` file like any model. It is compiled with
    sparse categorical cross-entropy and accuracy for `evaluate`.

    Args:
        model: a Keras model taking images (batch, height, width[, channels])
            and returning class probabilities (or logits, see `from_logits`).
        from_logits: bool, default False. `model` returns logits.

    Returns:
        `keras.Model`.

    Raises:
        ValueError: if the model's input is not an image batch (rank < 3).
    """
    spec = model.inputs[0]
    if len(spec.shape) < 3:
        raise ValueError(f"test_time_augmentation: flip needs image inputs, got input shape {tuple(spec.shape)}.")
    inputs = keras.Input(tuple(spec.shape[1:]), dtype=spec.dtype, name="image")
    outputs = MeanProbabilities(from_logits=from_logits, name="flip_mean")(
        [model(inputs), model(HorizontalFlip(name="horizontal_flip")(inputs))])
    tta = keras.Model(inputs, outputs, name=f"{model.name}_flip_tta")
    tta.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return tta


def _log(verbose, text):
    if verbose:
        print(text, flush=True)


#: Attempts of the final phase: after a non-finite loss it goes on from the last finite epoch
#: (in float32, or with half the learning rate), at most this many fits in all.
FINAL_ATTEMPTS = 3


def _scale_learning_rate(model, factor):
    """Multiplies the initial learning rate of `model`'s optimizer by `factor`; returns the new rate."""
    optimizer = model.optimizer
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, CosineSchedule):
        schedule.initial_learning_rate *= factor
        return schedule.initial_learning_rate
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate)) * factor
    optimizer.learning_rate = rate
    return rate


def _final_fit(final_space, final_hp, data, epochs, batch_size, budget, verbose, width_multiplier=1.0,
               on_build=None, build=None):
    """Trains the final model, and goes on after a divergence.

    The model is `final_space`'s network of `final_hp`, with every filter
    count multiplied by `width_multiplier` (`fidelity.widened`); the recipe
    (optimizer, learning rate, augmentation) is `final_space.fit`'s.

    A NaN or infinite training loss stops the `fit` and restores the last
    epoch with a finite loss (`LastFiniteState`). Training then goes on from
    there for the epochs and time (seconds) left, up to `FINAL_ATTEMPTS` fits
    in all: when not even the first epoch was finite under a mixed-precision
    policy, afresh in float32 (on an H200 under JAX, bf16 made one showcase
    architecture's loss NaN within 3 batches at batch size 512, and not at
    256 or in float32: benchmarks/gpu_showcase/README.md); otherwise with half
    the learning rate.

    `on_build(model)`, when given, is called on every freshly built model
    (e.g. to load the best trial's weights, `final_training.init`).
    `build()`, when given, builds (and compiles) the model to train instead
    (an ensemble's training model, `ensemble_models`); `final_space.fit`
    still trains it with `final_hp`'s recipe.

    Returns:
        (model, epochs kept, divergences: list of dicts, whether the time
        budget stopped training).
    """
    x = np.concatenate([data["x_train"], data["x_val"]])
    y = np.concatenate([data["y_train"], data["y_val"]])
    build_space, build_hp = widened(final_space, final_hp, width_multiplier)

    def new_model():
        if build is not None:
            return build()
        built = build_space.build(build_hp)
        if on_build is not None:
            on_build(built)
        return built

    model = new_model()
    started = time.time()
    trained, divergences, stopped_by_budget, factor = 0, [], False, 1.0
    for attempt in range(FINAL_ATTEMPTS):
        guard = LastFiniteState()
        callbacks = [guard]
        if verbose == 1:
            callbacks.append(FinalProgress(started, trained, budget))
        time_budget = None
        if budget:
            time_budget = TimeBudget(budget - (time.time() - started))
            callbacks.insert(0, time_budget)
        history = final_space.fit(final_hp, model, x, y, epochs=epochs - trained, batch_size=batch_size,
                                  verbose=0 if verbose < 2 else 1, callbacks=callbacks)
        if guard.diverged_epoch is None:
            trained += len(getattr(history, "epoch", []) or []) or (epochs - trained)
            # Stopped by the budget itself, or by the schedule fitted to it (`CosinePlanner`).
            stopped_by_budget = time_budget is not None and (
                time_budget.stopped_epoch is not None or trained < epochs)
            break
        kept = 0 if guard.kept_epoch is None else guard.kept_epoch + 1
        record = {"epoch": trained + guard.diverged_epoch + 1, "loss": str(guard.loss), "kept_epochs": trained + kept}
        divergences.append(record)
        trained += kept
        time_left = None if not budget else budget - (time.time() - started)
        if attempt + 1 == FINAL_ATTEMPTS or trained >= epochs or (time_left is not None and time_left < 1.0):
            _log(verbose, f"Final phase: training loss {guard.loss} at epoch {record['epoch']}; "
                          f"the state after epoch {trained} is kept")
            break
        policy = keras.config.dtype_policy().name
        if guard.kept_epoch is None and policy.startswith("mixed"):
            keras.config.set_dtype_policy("float32")
            record["precision"] = "float32"
            how = f"afresh in float32 (was {policy})"
        else:
            factor *= 0.5
            how = "afresh" if guard.kept_epoch is None else None
        if guard.kept_epoch is None:  # nothing finite to go on from: a new model, at the base rate
            keras.backend.clear_session()
            model = new_model()
        rate = _scale_learning_rate(model, factor if guard.kept_epoch is None else 0.5)
        record["learning_rate"] = rate
        _log(verbose, f"Final phase: training loss {guard.loss} at epoch {record['epoch']}; going on "
                      + (how or f"from epoch {trained}") + f" with learning rate {rate:g}")
    return model, trained, divergences, stopped_by_budget


class NoCompletedTrialError(ValueError):
    """The search has no trial with a finite score: there is nothing to train at the end."""


def _finite_score(trial):
    score = trial.score
    return None if score is None or not np.isfinite(float(score)) else float(score)


def _accuracy(evaluation):
    value = evaluation.get("accuracy", evaluation.get("compile_metrics"))
    return None if value is None else float(value)


class FinalTraining(Estimator):
    """The final phase: trains the best architecture on train + validation data and evaluates it on the test split.

    Its `after_search(tuner)` hook picks the best trial (with several
    objectives, the Pareto-front member best on the first), lets a
    lower-fidelity search re-train its top-k at full fidelity first
    (`estimation.final.run_final_phase`, Elsken, Metzen & Hutter, JMLR 2019,
    Section 5), whose best becomes the chosen trial; then trains the chosen
    architecture for `epochs` epochs on train + validation data (`_final_fit`,
    going on after a divergence), or, with `epochs=0`, keeps the re-trained
    (or the tuner's best) model; and evaluates it on the test split, with the
    test-time augmentation if asked (`with_flip_tta`, `with_view_tta`). The outcome is in
    `self.result`. `keras-nas-plus search` calls the hook after its search
    summary (YAML `search.final_epochs`, `search.final_training`).

    Args:
        data: dict with `x_train, y_train, x_val, y_val, x_test, y_test`
            (numpy; see `keras_nas_plus.app.run.load_data`).
        epochs: int >= 0, default 0. Final training epochs (0: no final
            training).
        batch_size: int, default 64. Batch size of the final training and of
            the test evaluation.
        time_budget: float or None (seconds), default None. Wall-clock
            limit of the final training.
        width_multiplier: float, default 1. Filter counts of the final model
            are multiplied by it.
        space: HyperModel or None, default None: the search space with the
            final recipe's overrides (None: the tuner's).
        space_overrides: dict or None, default None: the overrides, recorded
            in `final_info`.
        init: "scratch" (default) or "best_trial": start from the best
            trial's saved weights when the shapes allow.
        test_time_augmentation: "none" (default), "flip" (the image and its
            mirror, `with_flip_tta`) or "flip_shift" (18 views: both, each
            shifted by -2, 0 or 2 pixels along each axis,
            `estimation.tta.with_view_tta`).
        min_epochs: int >= 0, default 0. With `time_budget`, train the best
            trial whose network is expected to get at least this many epochs
            in the final `time_budget` seconds (from its trial's training
            seconds per example, `nas_trial.json` `timing`; the best trial if
            none is); 0: the best trial. Trials are ranked after equal
            epochs, the final phase trains for equal seconds. Single
            objective, full-fidelity searches only.
        ensemble: int >= 1, default 1. Number of networks in the final
            model: with K > 1 the K best trials (by the search's score, the
            chosen trial first) are trained together for the same epochs
            and seconds (`ensemble_models`), each from its own trial's
            weights under `init="best_trial"`, with the chosen trial's
            recipe; the final model predicts their mean class probabilities.
            Fewer trials than K: all of them. Used only when `epochs >= 1`.
        seed: int, default 0. Seed of the final training (and the top-k).
        precision: str or None, default None. Keras dtype policy set before
            the final training (None: left as it is).
        multi_objective: bool, default False. Choose from the Pareto front.
        search_epochs: int, default 1. Epochs of the top-k re-training of a
            lower-fidelity search (`search.epochs`).
        search_batch_size: int or None, default None (= `batch_size`).
            Batch size of the top-k re-training.
        objective: str, default "val_accuracy". Objective name, for the
            top-k table.
        verbose: int, default 1. 0: silent.

    Raises:
        ValueError: if `init` or `test_time_augmentation` is not a known
            value, `epochs` or `min_epochs` is negative, or `ensemble` is not
            an integer >= 1.
    """

    name = "final_training"

    def __init__(self, data: dict, epochs: int = 0, batch_size: int = 64, time_budget: float = None,
                 width_multiplier: float = 1.0, space: Any = None, space_overrides: dict = None,
                 init: str = "scratch", test_time_augmentation: str = "none", ensemble: int = 1, seed: int = 0,
                 precision: str = None,
                 multi_objective: bool = False, search_epochs: int = 1, search_batch_size: int = None,
                 objective: str = "val_accuracy", verbose: int = 1, min_epochs: int = 0):
        if init not in INIT_CHOICES:
            raise ValueError(f"`init` must be one of {INIT_CHOICES}, got {init!r}.")
        if test_time_augmentation not in TTA_CHOICES:
            raise ValueError(f"`test_time_augmentation` must be one of {TTA_CHOICES}, got {test_time_augmentation!r}.")
        if int(epochs) < 0 or int(min_epochs) < 0:
            raise ValueError(f"`epochs` and `min_epochs` must be >= 0, got {epochs!r} and {min_epochs!r}.")
        if isinstance(ensemble, bool) or not isinstance(ensemble, (int, np.integer)) or ensemble < 1:
            raise ValueError(f"`ensemble` must be an integer >= 1, got {ensemble!r}.")
        self.data, self.epochs, self.batch_size = data, int(epochs), int(batch_size)
        self.time_budget, self.width_multiplier = time_budget, width_multiplier
        self.space, self.space_overrides = space, space_overrides
        self.init, self.test_time_augmentation, self.ensemble = init, test_time_augmentation, int(ensemble)
        self.seed, self.precision, self.multi_objective = seed, precision, multi_objective
        self.search_epochs, self.min_epochs, self.pick = search_epochs, int(min_epochs), None
        self.search_batch_size = batch_size if search_batch_size is None else search_batch_size
        self.objective, self.verbose = objective, verbose
        self.result = None
        self._members = None

    def ensemble_trials(self, tuner, best_trial):
        """The trials of the final ensemble: `best_trial`, then the next best by score, `ensemble` in all."""
        ranked = tuner.oracle.get_best_trials(len(tuner.oracle.trials))
        others = [t for t in ranked if t.trial_id != best_trial.trial_id and _finite_score(t) is not None]
        return [best_trial] + others[:self.ensemble - 1]

    def best_trial(self, tuner):
        """The best trial of the search (Pareto front first with several objectives).

        Raises:
            NoCompletedTrialError: if no trial has a finite score.
        """
        best = tuner.oracle.get_best_trials(1)
        if self.multi_objective and hasattr(tuner, "get_pareto_front"):
            front = tuner.get_pareto_front()
            if front:
                best = [front[0]["trial"]]
        if not best or _finite_score(best[0]) is None:
            raise NoCompletedTrialError("no trial completed successfully; see the trial messages above")
        self.pick = None
        if self.min_epochs and self.time_budget and not self.multi_objective and getattr(tuner, "fidelity", None) is None:
            for trial in tuner.oracle.get_best_trials(len(tuner.oracle.trials)):
                expected = self.expected_final_epochs(tuner, trial)
                if _finite_score(trial) is not None and expected is not None and expected >= self.min_epochs:
                    self.pick = {"min_epochs": self.min_epochs, "expected_epochs": round(expected, 1),
                                 "best_trial_id": best[0].trial_id}
                    if trial.trial_id != best[0].trial_id:
                        _log(self.verbose, f"Final phase: trial {best[0].trial_id} is expected to train fewer than "
                                           f"min_epochs={self.min_epochs} epochs in {self.time_budget} s; trial "
                                           f"{trial.trial_id} is the best expected to ({expected:.0f} epochs)")
                    return trial
        return best[0]

    def expected_final_epochs(self, tuner, trial):
        """Epochs `trial`'s network is expected to train in `time_budget` seconds on train + validation data.

        From the trial's training seconds per epoch per example (`tuner.get_trial_info`);
        None when the tuner kept no timing or there is no `time_budget`.
        """
        info = tuner.get_trial_info(trial.trial_id) if hasattr(tuner, "get_trial_info") else None
        seconds, epochs, examples = ((info or {}).get("timing") or {}).get("train_seconds"), \
            (info or {}).get("epochs_trained"), (info or {}).get("num_train_examples")
        if not (seconds and epochs and examples and self.time_budget):
            return None
        final_examples = sum(len(self.data[k]) for k in ("x_train", "x_val") if self.data.get(k) is not None)
        return float(self.time_budget) / (seconds / epochs / examples * final_examples)

    def after_search(self, tuner: Any) -> None:
        """Trains and evaluates the final model; sets `self.result`.

        `self.result` is a dict: `best_trial` (Keras Tuner trial),
        `model` (the evaluated `keras.Model`, with the augmentation when
        asked), `final_info` (JSON-safe, with `seconds`), `test_accuracy`,
        `test_metrics`, `test_time_augmentation` and `fidelity_phase` (the
        top-k re-training's dict, or None).
        """
        def log(text):
            _log(self.verbose, text)

        best_trial = self.best_trial(tuner)
        self._members = None
        fidelity_phase = None
        if getattr(tuner, "fidelity", None) is not None:  # lower fidelity: top-k at full fidelity
            fidelity_phase = run_final_phase(tuner, self.data, {
                "epochs": self.search_epochs, "batch_size": self.search_batch_size, "seed": self.seed,
                "objective": self.objective}, self.verbose)
            best_trial = tuner.oracle.get_trial(fidelity_phase["best_trial_id"])
        start = time.time()
        final_info = {"epochs": self.epochs, **({"min_epochs": self.pick} if self.pick else {})}
        if self.epochs:
            model = self._train(tuner, best_trial, final_info, log)
        elif fidelity_phase is not None:
            model = fidelity_phase["model"]
        else:
            model = tuner.get_best_models(1)[0]
        final_info["seconds"] = round(time.time() - start, 2)
        model, evaluation, tta_info = self._evaluate(model)
        if self._members:
            x, y = self.data["x_test"], self.data["y_test"]
            batch = whole_batch_size(len(x), self.batch_size)
            final_info["ensemble"]["member_test_accuracy"] = [
                _accuracy(m.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True)) for m in self._members]
        self.result = {"best_trial": best_trial, "model": model, "final_info": final_info,
                       "test_accuracy": _accuracy(evaluation),
                       "test_metrics": {k: float(v) for k, v in evaluation.items()},
                       "test_time_augmentation": tta_info, "fidelity_phase": fidelity_phase}

    def _train(self, tuner, best_trial, final_info, log):
        epochs, budget, width = self.epochs, self.time_budget, self.width_multiplier
        log(f"\nFinal phase: training trial {best_trial.trial_id}'s architecture"
            + (f" at {width:g} times its width" if width != 1 else "")
            + (" for up to " if budget else " for ")
            + f"{epochs} epoch{'s' if epochs != 1 else ''} on train + validation data"
            + (f" (time budget {budget:g} s: the learning-rate schedule is fitted to it)" if budget else ""))
        keras.backend.clear_session()
        if self.precision is not None:
            keras.config.set_dtype_policy(self.precision)
        keras.utils.set_random_seed(self.seed)
        space = tuner.hypermodel if self.space is None else self.space
        options = {"init": self.init, "width_multiplier": width}
        init_path, init_fallback = init_weights_path(tuner, best_trial.trial_id, options, self.space, log=log)
        loaded = []

        def on_build(built):
            if init_path:
                loaded.append(load_initial_weights(built, init_path, log=log))

        members = self.ensemble_trials(tuner, best_trial) if self.ensemble > 1 else [best_trial]
        build, built = None, {}
        if self.ensemble > 1 and len(members) == 1:
            log(f"Final phase: ensemble {self.ensemble} asked, but only one trial completed: training one network")
            final_info["ensemble"] = {"trials": [best_trial.trial_id], "asked": self.ensemble}
        if len(members) > 1:
            log(f"Final phase: an ensemble of {len(members)} networks, trials "
                + ", ".join(t.trial_id for t in members))
            paths = [init_path] + [init_weights_path(tuner, t.trial_id, options, self.space, log=log)[0]
                                   for t in members[1:]]

            def build():
                nets = []
                for k, (trial, path) in enumerate(zip(members, paths)):
                    member_space, member_hp = widened(space, trial.hyperparameters.copy(), width)
                    net = member_space.build(member_hp)
                    if path:
                        loaded.append(load_initial_weights(net, path, log=log))
                    net.name = f"member{k}_trial_{trial.trial_id}"
                    nets.append(net)
                train, built["predict"] = ensemble_models(nets)
                built["members"] = nets
                return train

        model, trained, divergences, stopped_by_budget = _final_fit(
            space, best_trial.hyperparameters.copy(), self.data, epochs, self.batch_size, budget, self.verbose,
            width, on_build, build=build)
        if built:
            model, self._members = built["predict"], built["members"]
            final_info["ensemble"] = {"trials": [t.trial_id for t in members],
                                      "params": [int(m.count_params()) for m in self._members]}
        final_info.update(epochs_trained=trained, batch_size=self.batch_size, params=int(model.count_params()),
                          init="best_trial" if loaded and all(loaded) else "scratch")
        if init_fallback or (loaded and not all(loaded)):
            final_info["init_fallback"] = init_fallback or "the weights did not fit"
        if width != 1:
            final_info["width_multiplier"] = width
        if budget:
            final_info.update(time_budget=budget, stopped_by_time_budget=stopped_by_budget)
        if divergences:
            final_info["divergences"] = divergences
        if self.space is not None and self.space_overrides:
            final_info["space_overrides"] = dict(self.space_overrides)
        return model

    def _evaluate(self, model):
        x, y = self.data["x_test"], self.data["y_test"]
        # Same-shaped batches: under JAX a smaller last batch compiles the test step a second time.
        batch = whole_batch_size(len(x), self.batch_size)
        evaluation = model.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True)
        tta_info = {"type": self.test_time_augmentation}
        if tta_info["type"] != "none":  # the saved model includes the augmentation
            tta_info["test_accuracy_without_tta"] = _accuracy(evaluation)
            if tta_info["type"] == "flip":
                model, tta_info["views"] = with_flip_tta(model), 2
            else:
                model = with_view_tta(model)
                tta_info["views"] = model.get_layer("test_time_views").views
            evaluation = model.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True)
            tta_info["test_accuracy"] = _accuracy(evaluation)
        return model, evaluation, tta_info
