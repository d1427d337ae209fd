"""Keras callbacks of keras_nas_plus: learning-curve extrapolation (early stopping of bad runs)."""

import copy
import math
import os
import warnings

import keras
import keras_tuner

from keras_nas_plus.estimation.base import Estimator
from keras_nas_plus.estimation.curves import CurveExtrapolator
from keras_nas_plus.vocabulary import objective_direction


class MetricNotLoggedError(keras_tuner.errors.FatalValueError):
    """A metric the search needs (objective, monitor) is not in the epoch logs.

    Attributes:
        metric: str, the missing metric's name.
        role: str, "objective" or "monitor" (learning-curve extrapolation).
        logged: list of str, the metric names that were logged.
    """

    def __init__(self, metric, role, logged):
        self.metric, self.role, self.logged = metric, role, sorted(logged)
        super().__init__(f"{metric!r} is not among the metrics logged after the first epoch: "
                         f"{', '.join(self.logged) or 'none'}")


class CheckLoggedMetrics(keras.callbacks.Callback):
    """Stops training after the first epoch if a needed metric is not logged.

    Args:
        names: dict, metric name -> role ("objective" or "monitor").

    Raises:
        MetricNotLoggedError: at the end of the first epoch, naming the metric
            and the logged ones (a Keras Tuner `FatalError`: the search stops).
    """

    def __init__(self, names):
        super().__init__()
        self.names = dict(names)

    def on_epoch_end(self, epoch, logs=None):
        if epoch != 0 or logs is None:
            return
        for name, role in self.names.items():
            if name not in logs:
                raise MetricNotLoggedError(name, role, logs)



def infer_mode(monitor):
    """Direction of a metric from its name: "max" for accuracy-like names, else "min".

    Args:
        monitor: str, a metric name as logged by Keras (e.g. "val_accuracy", "val_loss").

    Returns:
        str, "max" or "min" (`keras_nas_plus.vocabulary.objective_direction`).
    """
    return objective_direction(str(monitor), default="min")


class LearningCurveExtrapolation(keras.callbacks.Callback):
    """Stops training when the learning curve is unlikely to end better than a target.

    After every epoch (from ``min_epochs`` on) the monitored metric's curve so far is
    extrapolated to ``max_epochs`` by an ensemble of parametric learning-curve families
    (``keras_nas_plus.curves.CurveExtrapolator``), giving a predictive distribution of
    the final value.  Training stops (``model.stop_training = True``) when
    P(final better than ``target``) < ``threshold``.  Finished curves of earlier runs
    (``add_reference_curve``) are mixed in as a prior: affine maps of them onto the observed
    epochs, and their own realised gains from the current epoch to the last one (the
    empirical-gain component of ``CurveExtrapolator``, ``gain_weight``).

    The callback never raises during training (a failed prediction is skipped with a
    warning; a ``monitor`` absent from every epoch's logs so far gives one warning naming
    the logged keys, and nothing is stopped), survives ``copy.deepcopy`` and keeps no reference to the model after
    training.  Works in a plain ``model.fit`` (give ``target``) and in keras_nas_plus
    tuners, which set ``target`` to the oracle's best score so far.

    Args:
        monitor: str, default "val_accuracy". Metric name in the epoch logs.
        mode: str, default "auto". "max", "min", or "auto" (from the metric name:
            accuracy/AUC-like names are maximised, the rest minimised).
        target: float or None, default None. The value to beat (metric units). With
            None nothing is stopped, but ``predicted_final`` is still updated.
        threshold: float in [0, 1], default 0.05. Stop when P(final better than
            target) is below it.
        min_epochs: int >= 1, default 5. Epochs observed before any decision (epochs).
        max_epochs: int >= 1 or None, default None. The epoch the prediction is made
            for (epochs); None uses the ``epochs`` given to ``fit``.
        reference_curves: optional list of 1-D sequences, finished curves of the same
            metric (one value per epoch) used as a prior.
        prior_weight: float in [0, 1], default 0.5. Prior mass of the reference curves
            in the predictive model average (``prior_weight * m / (m + 3)`` for ``m``
            references); their final share follows how well they fit the observed epochs
            (``CurveExtrapolator(weighting="evidence")``). 0 disables the references.
        verbose: int, default 0. 1 prints a line when training is stopped.

    Attributes (after training):
        stopped: bool, whether this callback stopped training.
        stopped_epoch: int, 0-based epoch after which training was stopped (0 if not
            stopped, as in ``keras.callbacks.EarlyStopping``).
        predicted_final: float or None, the last predicted mean at ``max_epochs``.
        probability: float or None, the last P(final better than target).
        curve: list of float, observed metric values per epoch (NaN where missing).
        epochs_saved: int, ``max_epochs`` minus the epochs trained when stopped (else 0).

    Raises:
        ValueError: on an invalid argument (names it).

    Reference:
        Domhan, Springenberg & Hutter, "Speeding up automatic hyperparameter optimization
        of deep neural networks by extrapolation of learning curves", IJCAI 2015,
        Section 3; Chandrashekaran & Lane, "Speeding up hyper-parameter optimization by
        extrapolation of learning curves using previous builds", ECML-PKDD 2017.
    """

    def __init__(self, monitor="val_accuracy", mode="auto", target=None, threshold=0.05, min_epochs=5,
                 max_epochs=None, reference_curves=None, prior_weight=0.5, verbose=0):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be a non-empty str, got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if target is not None:
            try:
                target = float(target)
            except (TypeError, ValueError):
                raise ValueError(f"target must be a float or None, got {target!r}") from None
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a float in [0, 1], got {threshold!r}")
        if isinstance(min_epochs, bool) or not isinstance(min_epochs, int) or min_epochs < 1:
            raise ValueError(f"min_epochs must be an int >= 1, got {min_epochs!r}")
        if max_epochs is not None and (isinstance(max_epochs, bool) or not isinstance(max_epochs, int)
                                       or max_epochs < 1):
            raise ValueError(f"max_epochs must be an int >= 1 or None, got {max_epochs!r}")
        if isinstance(prior_weight, bool) or not isinstance(prior_weight, (int, float)) \
                or not 0.0 <= prior_weight <= 1.0:
            raise ValueError(f"prior_weight must be a float in [0, 1], got {prior_weight!r}")
        self.monitor = monitor
        self.mode = mode
        self.target = target
        self.threshold = float(threshold)
        self.min_epochs = min_epochs
        self.max_epochs = max_epochs
        self.prior_weight = float(prior_weight)
        self.verbose = int(verbose)
        self._extrapolator = CurveExtrapolator(mode=self.resolved_mode, prior_weight=self.prior_weight)
        for r in reference_curves or ():
            self.add_reference_curve(r)
        self._reset_state()

    # ------------------------------------------------------------------ public
    @property
    def resolved_mode(self):
        """str, "max" or "min": ``mode`` with "auto" resolved from ``monitor``."""
        return infer_mode(self.monitor) if self.mode == "auto" else self.mode

    def add_reference_curve(self, curve):
        """Adds a finished curve of the monitored metric (one value per epoch) to the prior.

        Returns:
            bool, whether it was kept (needs >= 2 finite values).
        """
        try:
            return self._extrapolator.add_reference_curve(curve)
        except Exception:
            return False

    @property
    def reference_curves(self):
        """list of lists, the kept reference curves in metric units."""
        sign = 1.0 if self.resolved_mode == "max" else -1.0
        return [[float(v) * sign for v in r] for r in self._extrapolator._refs]

    def predict(self, final_epoch=None):
        """Predictive distribution of the monitored metric at ``final_epoch`` from ``curve``.

        Args:
            final_epoch: int or None (epochs); None uses ``max_epochs`` (or the fit's epochs).

        Returns:
            ``keras_nas_plus.curves.PredictiveDistribution``, or None if no horizon is known.
        """
        T = final_epoch or self._horizon()
        if not T:
            return None
        return self._extrapolator.predict(self.curve, int(T))

    # ------------------------------------------------------------- Keras hooks
    def on_train_begin(self, logs=None):
        self._reset_state()
        self._extrapolator.reset()

    def on_epoch_end(self, epoch, logs=None):
        try:
            self._on_epoch_end(epoch, logs or {})
        except Exception as e:  # never break training
            warnings.warn(f"LearningCurveExtrapolation skipped epoch {epoch}: {e!r}", RuntimeWarning, stacklevel=2)

    def on_train_end(self, logs=None):
        self._model = None  # hold no model after training

    # --------------------------------------------------------------- internals
    def _reset_state(self):
        self.stopped = False
        self.stopped_epoch = 0
        self.predicted_final = None
        self.probability = None
        self.curve = []
        self.epochs_saved = 0
        self._monitor_seen = False
        self._monitor_warned = False

    def _horizon(self):
        if self.max_epochs is not None:
            return self.max_epochs
        params = getattr(self, "params", None) or {}
        epochs = params.get("epochs")
        return int(epochs) if isinstance(epochs, (int, float)) and epochs and epochs > 0 else None

    def _on_epoch_end(self, epoch, logs):
        if self.monitor in logs:
            self._monitor_seen = True
        elif not self._monitor_seen:  # never logged (a typo, no validation data): never stop (issue 22)
            if not self._monitor_warned:
                self._monitor_warned = True
                warnings.warn(f"LearningCurveExtrapolation: monitor {self.monitor!r} is not in the epoch logs "
                              f"(logged: {', '.join(sorted(logs)) or 'nothing'}); no trial is stopped early",
                              RuntimeWarning, stacklevel=3)
            return
        value = logs.get(self.monitor)
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = float("nan")
        epoch = int(epoch)
        while len(self.curve) < epoch:
            self.curve.append(float("nan"))
        if len(self.curve) == epoch:
            self.curve.append(value)
        else:
            self.curve[epoch] = value
        n = epoch + 1
        T = self._horizon()
        if n < self.min_epochs or T is None or n >= T:
            return
        dist = self._extrapolator.predict(self.curve, T)
        self.predicted_final = dist.mean if math.isfinite(dist.mean) else None
        if self.target is None:
            self.probability = None
            return
        self.probability = dist.prob_better(self.target)
        if self.probability < self.threshold and self.model is not None:
            self.model.stop_training = True
            self.stopped = True
            self.stopped_epoch = epoch
            self.epochs_saved = int(T - n)
            if self.verbose:
                print(f"LearningCurveExtrapolation: epoch {n}: P({self.monitor} at epoch {T} better than "
                      f"{self.target:.4g}) = {self.probability:.3g} < {self.threshold}; predicted "
                      f"{self.predicted_final}; stopping.", flush=True)

    def __deepcopy__(self, memo):
        cls = self.__class__
        new = cls.__new__(cls)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            if k == "_model":
                new.__dict__[k] = None
            else:
                new.__dict__[k] = copy.deepcopy(v, memo)
        return new

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {
            "monitor": self.monitor, "mode": self.mode, "target": self.target,
            "threshold": self.threshold, "min_epochs": self.min_epochs, "max_epochs": self.max_epochs,
            "reference_curves": self.reference_curves, "prior_weight": self.prior_weight,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# ----------------------------------------------------------------------------
# Tuner integration (used by keras_nas_plus.engine.tuner.NASTuner).

#: Prefix of the metric a trial records with the predicted final value.
PREDICTED_PREFIX = "predicted_final_"


def learning_curve_kwargs(learning_curve):
    """Normalises a tuner's ``learning_curve`` argument into callback kwargs, or None.

    Args:
        learning_curve: None/False (off), True (defaults) or a dict of
            ``LearningCurveExtrapolation`` arguments except ``target`` (set per trial).
            ``monitor``/``mode`` default to the oracle objective.

    Returns:
        dict or None.

    Raises:
        ValueError: if it is not None/bool/dict, sets ``target``, or has invalid values.
    """
    if learning_curve is None or learning_curve is False:
        return None
    if learning_curve is True:
        return {}
    if not isinstance(learning_curve, dict):
        raise ValueError(f"learning_curve must be None, a bool or a dict, got {learning_curve!r}")
    if "target" in learning_curve:
        raise ValueError("learning_curve: 'target' is set per trial from the oracle's best score")
    kwargs = dict(learning_curve)
    LearningCurveExtrapolation(**kwargs)  # validates
    return kwargs


def attach_to_trial(tuner, trial, callbacks, kwargs):
    """Returns ``callbacks`` plus a fresh ``LearningCurveExtrapolation`` for ``trial``.

    Its target is the oracle's best score so far and its references are the monitored
    curves of finished trials (from their ``nas_trial.json``).  Never raises: on any
    failure the callbacks are returned unchanged.
    """
    try:
        kw = dict(kwargs)
        objective = tuner.oracle.objective
        if "monitor" not in kw and getattr(objective, "name", None):
            kw["monitor"] = objective.name
            if kw.get("mode", "auto") == "auto" and getattr(objective, "direction", None) in ("min", "max"):
                kw["mode"] = objective.direction
        cb = LearningCurveExtrapolation(**kw)
        best = tuner.oracle.get_best_trials(1)
        if best and best[0].score is not None and math.isfinite(float(best[0].score)):
            cb.target = float(best[0].score)
        try:  # a distributed worker's oracle client may not expose its trials: no prior then
            finished = [t for t in tuner.oracle.trials.values()
                        if t.trial_id != trial.trial_id and t.status == "COMPLETED"]
        except Exception:
            finished = []
        for t in finished:
            info = tuner.get_trial_info(t.trial_id)
            curve = (info.get("history") or {}).get(cb.monitor)
            if curve and not (info.get("learning_curve") or {}).get("stopped"):
                cb.add_reference_curve([float("nan") if v is None else v for v in curve])
        return [c for c in callbacks if not isinstance(c, LearningCurveExtrapolation)] + [cb]
    except Exception as e:
        warnings.warn(f"learning-curve extrapolation not attached: {e!r}", RuntimeWarning, stacklevel=2)
        return callbacks


def after_fit(callbacks, results):
    """Adds ``predicted_final_<monitor>`` to the History and returns the trial record.

    Returns:
        dict for ``nas_trial.json`` under ``learning_curve`` (empty if no callback).
    """
    cbs = [c for c in callbacks if isinstance(c, LearningCurveExtrapolation)]
    if not cbs:
        return {}
    cb = cbs[-1]
    try:
        if cb.predicted_final is not None:
            histories = results if isinstance(results, list) else [results]
            for h in histories:
                if isinstance(h, keras.callbacks.History) and h.history:
                    n = max(len(v) for v in h.history.values())
                    h.history[PREDICTED_PREFIX + cb.monitor] = [float(cb.predicted_final)] * n
        return {
            "stopped": bool(cb.stopped), "stopped_epoch": int(cb.stopped_epoch),
            "epochs_trained": len(cb.curve), "epochs_saved": int(cb.epochs_saved),
            "predicted_final": cb.predicted_final, "probability": cb.probability,
            "target": cb.target, "monitor": cb.monitor,
        }
    except Exception:
        return {}


def summarize(tuner):
    """Counts of trials stopped by learning-curve extrapolation and epochs saved.

    Returns:
        dict with ``trials``, ``stopped``, ``epochs_trained``, ``epochs_saved``.
    """
    out = {"trials": 0, "stopped": 0, "epochs_trained": 0, "epochs_saved": 0}
    try:
        ids = list(tuner.oracle.trials)
    except Exception:  # distributed worker: read the trial directories instead
        try:
            ids = [d[len("trial_"):] for d in os.listdir(tuner.project_dir) if d.startswith("trial_")]
        except Exception:
            ids = []
    for tid in ids:
        rec = tuner.get_trial_info(tid).get("learning_curve")
        if not rec:
            continue
        out["trials"] += 1
        out["stopped"] += int(bool(rec.get("stopped")))
        out["epochs_trained"] += int(rec.get("epochs_trained") or 0)
        out["epochs_saved"] += int(rec.get("epochs_saved") or 0)
    return out


class LearningCurveEstimator(Estimator):
    """Stops trials whose extrapolated learning curve is unlikely to beat the best so far.

    The `Estimator` form of the tuner's `learning_curve` argument: each trial
    gets a fresh `LearningCurveExtrapolation` callback whose target is the
    oracle's best score and whose reference curves are the finished trials'.
    Source: Domhan, Springenberg & Hutter, "Speeding up Automatic
    Hyperparameter Optimization of Deep Neural Networks by Extrapolation of
    Learning Curves", IJCAI 2015; Klein et al., ICLR 2017 (reference curves).

    Args:
        learning_curve: True (the defaults) or a dict of
            `LearningCurveExtrapolation` arguments except `target`
            (`monitor`/`mode` default to the oracle's objective).

    Raises:
        ValueError: on an invalid argument (see `learning_curve_kwargs`).
    """

    name = "learning_curve"

    def __init__(self, learning_curve: "bool | dict" = True):
        kwargs = learning_curve_kwargs(learning_curve)
        self.kwargs = {} if kwargs is None else kwargs

    def attach(self, tuner):
        super().attach(tuner)
        tuner.learning_curve = self.kwargs  # read by `results_summary`

    def before_fit(self, trial, model, fit_args, fit_kwargs):
        callbacks = attach_to_trial(self.tuner, trial, list(fit_kwargs.get("callbacks", [])), self.kwargs)
        self._callbacks = callbacks
        return fit_args, dict(fit_kwargs, callbacks=callbacks)

    def record(self, trial, model, results):
        record = after_fit(getattr(self, "_callbacks", []), results)
        self._callbacks = []
        return {"learning_curve": record} if record else {}

    def __repr__(self):
        return f"LearningCurveEstimator({self.kwargs!r})"
