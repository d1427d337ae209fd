"""Warm start: known architectures proposed first, before any search proposal.

A search can be seeded with architectures already known to be good (a
hand-written reference such as a Wide ResNet, or the best result of an
earlier search), so that the search starts from them instead of from random
points, and so that a fixed-budget comparison of "search vs reference" holds
the reference itself as a trial.

`initial_architectures` (an argument of `RegularizedEvolutionOracle`,
`RLControllerOracle`, `WarmStartRandomSearchOracle` and of their tuners) is
one of:

* a list of dicts of hyperparameter values; a partial dict is completed with
  each missing active hyperparameter's default; values of hyperparameters made
  inactive by the given conditional parents are dropped;
* the string `"references"`: every point of `hypermodel.references()` (an
  optional, duck-typed HyperModel method returning
  `dict[str, dict[str, object]]`, name -> values), in its order;
* a list mixing dicts and reference names (strings).

They are proposed first, in order, one per trial (at most `max_trials`);
one that repeats an architecture already tried is skipped. Each such trial
carries its name under `INITIAL_KEY` in its hyperparameter values (a
bookkeeping value, excluded from the duplicate hash): the reference name, or
`"initial_architectures[i]"` for the i-th entry given as a dict. Which
entries were already proposed is read from the trials in the oracle's state,
and the resolved list is saved with the state, so a resumed search proposes
only those not yet proposed.
"""

import math
import traceback
import warnings

import keras_tuner
import numpy as np

from keras_nas_plus.strategies import _hp

#: Hyperparameter-values key holding the name of the initial architecture a
#: trial was proposed from (a str). Bookkeeping only.
INITIAL_KEY = "nas/initial_architecture"

#: The value of `initial_architectures` meaning every point of `references()`.
REFERENCES = "references"

_RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING
_STOPPED = keras_tuner.engine.trial.TrialStatus.STOPPED
_HPS = keras_tuner.engine.hyperparameters


def check_spec(initial_architectures):
    """Checks the type of an `initial_architectures` argument.

    Args:
        initial_architectures: None, `"references"`, or a list of dicts of
            values and/or reference names (str).

    Returns:
        None, `"references"`, or a list (a copy).

    Raises:
        ValueError: for another type or an empty list; names the entry.
    """
    if initial_architectures is None or initial_architectures == REFERENCES:
        return initial_architectures
    if isinstance(initial_architectures, str) or not isinstance(initial_architectures, (list, tuple)):
        raise ValueError(
            "`initial_architectures` must be None, 'references' or a list of dicts of hyperparameter "
            f"values and reference names, got {initial_architectures!r}."
        )
    for i, entry in enumerate(initial_architectures):
        if isinstance(entry, dict):
            bad = [k for k in entry if not isinstance(k, str)]
            if bad:
                raise ValueError(f"`initial_architectures[{i}]`: hyperparameter names must be strings, got {bad!r}.")
        elif not isinstance(entry, str):
            raise ValueError(
                f"`initial_architectures[{i}]` must be a dict of hyperparameter values or a reference "
                f"name, got {entry!r}."
            )
    return list(initial_architectures)


def _references(hypermodel):
    method = getattr(hypermodel, "references", None)
    if not callable(method):
        raise ValueError(
            f"`initial_architectures` names references, but the hypermodel {type(hypermodel).__name__} "
            "has no `references()` method."
        )
    refs = method()
    if not isinstance(refs, dict) or not all(isinstance(v, dict) for v in refs.values()):
        raise ValueError(f"{type(hypermodel).__name__}.references() must return a dict of dicts, got {refs!r}.")
    return refs


def resolve(initial_architectures, hypermodel=None):
    """Expands reference names into `(name, values)` pairs.

    Args:
        initial_architectures: see the module docstring.
        hypermodel: the HyperModel whose `references()` gives named points;
            only needed when reference names are used.

    Returns:
        list of `(str, dict)`, in the given order.

    Raises:
        ValueError: a reference name without a `references()` method, or
            an unknown reference name (the message lists the known ones).
    """
    spec = check_spec(initial_architectures)
    if spec is None:
        return []
    if spec == REFERENCES:
        refs = _references(hypermodel)
        if not refs:
            raise ValueError(f"{type(hypermodel).__name__}.references() returned no architecture.")
        return [(str(name), dict(values)) for name, values in refs.items()]
    refs = None
    result = []
    for i, entry in enumerate(spec):
        if isinstance(entry, dict):
            result.append((f"initial_architectures[{i}]", dict(entry)))
            continue
        refs = _references(hypermodel) if refs is None else refs
        if entry not in refs:
            raise ValueError(
                f"`initial_architectures[{i}]`: unknown reference {entry!r}; the hypermodel's references "
                f"are {sorted(refs)}."
            )
        result.append((entry, dict(refs[entry])))
    return result


def _in_range(hp, value):
    """Whether `value` is a legal value of `hp`."""
    if isinstance(hp, _HPS.Fixed):
        return value == hp.value
    if isinstance(hp, _HPS.Boolean):
        return isinstance(value, (bool, np.bool_))
    if isinstance(hp, _HPS.Choice):
        return any(value == v and isinstance(value, (bool, np.bool_)) == isinstance(v, (bool, np.bool_))
                   for v in hp.values)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    if not math.isfinite(float(value)):
        return False
    if isinstance(hp, _HPS.Int):
        if float(value) != int(value) or not hp.min_value <= value <= hp.max_value:
            return False
        values = _hp.discrete_values(hp)
        return values is None or int(value) in values
    if isinstance(hp, _HPS.Float):
        return hp.min_value - 1e-12 <= value <= hp.max_value + 1e-12
    return True


def complete(space, values, where="initial architecture"):
    """Checks `values` against `space` and fills in the defaults.

    Args:
        space: list of Keras Tuner hyperparameters (`HyperParameters.space`).
        values: dict of values; bookkeeping keys (`nas/...`) are ignored.
        where: str, names the entry in error messages.

    Returns:
        dict of the active hyperparameters' values (missing ones: default).

    Raises:
        ValueError: unknown hyperparameter names (all listed), or a value
            outside its hyperparameter's range (names both).
    """
    known = {hp.name: hp for hp in space}
    decisions = _hp.decision_values(values)
    unknown = sorted(k for k in decisions if k not in known)
    if unknown:
        raise ValueError(f"{where}: unknown hyperparameter name(s) {unknown}; the search space has {sorted(known)}.")
    for name, value in decisions.items():
        if not _in_range(known[name], value):
            raise ValueError(f"{where}: value {value!r} is out of range for hyperparameter {name!r} "
                             f"({known[name]!r}).")
    out = {}
    for hp in space:
        if hp.name in out or not _hp.is_active(hp, out):
            continue
        value = decisions[hp.name] if hp.name in decisions else hp.default
        if isinstance(hp, _HPS.Int):
            value = int(value)
        out[hp.name] = _hp.to_python(value)
    return out


class WarmStartMixin:
    """Oracle mixin: proposes `initial_architectures` before anything else.

    Placed before the oracle class in the bases. The subclass calls
    `_init_warm_start(initial_architectures)` in its constructor; its tuner
    calls `prepare_initial_architectures(hypermodel)` once the search space
    is known (this resolves reference names and validates every entry). An
    oracle used without such a call resolves the entries at its first
    proposal (reference names then fail: there is no hypermodel).
    """

    def _init_warm_start(self, initial_architectures):
        self._initial_spec = check_spec(initial_architectures)
        self.initial_architectures = None  # resolved list of [name, values]

    def prepare_initial_architectures(self, hypermodel=None):
        """Resolves and validates the initial architectures.

        Args:
            hypermodel: the tuner's HyperModel (for `references()`).

        Raises:
            ValueError: see `resolve` and `complete`; also when two entries
                are the same architecture.
        """
        spec = getattr(self, "_initial_spec", None)
        if spec is None:
            return
        entries = []
        seen = {}
        for name, values in resolve(spec, hypermodel):
            space = self._registered_space(hypermodel, values)
            full = complete(space, values, where=f"initial architecture {name!r}")
            key = self._compute_values_hash(full)
            if key in seen:
                raise ValueError(f"initial architectures {seen[key]!r} and {name!r} are the same architecture.")
            seen[key] = name
            entries.append([name, full])
        self.initial_architectures = entries

    def _registered_space(self, hypermodel, values):
        """The search space after building `hypermodel` with `values`.

        Spaces that register hyperparameters while building (e.g. one
        operation per layer, for the layers asked for) only know some names
        once a model with those values was built. The model is discarded; new
        names join the oracle's space (when `allow_new_entries`).
        """
        if hypermodel is None or not callable(getattr(hypermodel, "build", None)):
            return self.hyperparameters.space
        hp = self.hyperparameters.copy()
        hp.values = _hp.decision_values(values)
        try:
            hypermodel.build(hp)
        except Exception:  # e.g. a value out of range: reported by `complete`
            return self.hyperparameters.space
        if self.allow_new_entries:
            self.hyperparameters.merge(
                [h for h in hp.space if not self.hyperparameters._exists(h.name, h.conditions)])
        return hp.space

    def next_initial_architecture(self):
        """Values of the next initial architecture to propose, or `None`.

        The values carry the entry's name under `INITIAL_KEY`. Entries
        already proposed (a trial carries their name) or already tried are
        skipped.
        """
        if self.initial_architectures is None:
            if getattr(self, "_initial_spec", None) is None:
                return None
            self.prepare_initial_architectures(None)
        used = {t.hyperparameters.values.get(INITIAL_KEY) for t in self.trials.values()}
        for name, values in self.initial_architectures:
            if name in used or self._compute_values_hash(values) in self._tried_so_far:
                continue
            return {**values, INITIAL_KEY: name}
        return None

    def on_initial_architecture(self, trial_id, values):
        """Hook: `values` (an initial architecture) is proposed as `trial_id`."""

    def populate_space(self, trial_id):
        try:
            values = self.next_initial_architecture()
            if values is not None:
                self.on_initial_architecture(trial_id, values)
        except Exception:  # never raise while Keras Tuner holds its lock
            warnings.warn("The oracle failed to propose an initial architecture and stops the search:\n"
                          + traceback.format_exc())
            return {"status": _STOPPED, "values": None}
        if values is not None:
            return {"status": _RUNNING, "values": values}
        return super().populate_space(trial_id)

    def _compute_values_hash(self, values):
        return super()._compute_values_hash(_hp.decision_values(values))

    def get_state(self):
        state = super().get_state()
        if self.initial_architectures is not None:
            state["initial_architectures"] = [[n, dict(v)] for n, v in self.initial_architectures]
        return state

    def set_state(self, state):
        super().set_state(state)
        saved = state.get("initial_architectures")
        if saved is not None and getattr(self, "_initial_spec", None) is None:
            # Resumed without the argument: finish the saved list.
            self.initial_architectures = [[n, dict(v)] for n, v in saved]


class WarmStartRandomSearchOracle(WarmStartMixin, keras_tuner.oracles.RandomSearchOracle):
    """Keras Tuner's random search, after the `initial_architectures`.

    Args:
        initial_architectures: None (default), `"references"`, or a list of
            dicts of hyperparameter values and/or reference names; see
            `keras_nas_plus.strategies.warm_start`.
        **kwargs: arguments of `keras_tuner.oracles.RandomSearchOracle`.

    Raises:
        ValueError: if `initial_architectures` is malformed.

    Reference:
        Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization",
        JMLR 13, 2012 (random search itself).
    """

    def __init__(self, initial_architectures=None, **kwargs):
        super().__init__(**kwargs)
        self._init_warm_start(initial_architectures)
