"""Pure sampling, mutation and crossover over any Keras Tuner search space.

These functions know nothing about trials or oracles: they take a
`keras_tuner.HyperParameters` search space, a dict of values and a
`numpy.random.Generator`, and return new dicts of values. Only *active*
hyperparameters (those whose conditional scopes are satisfied) appear in the
returned values, as Keras Tuner requires.
"""

import math

import keras_tuner
import numpy as np

from keras_nas_plus._io import to_python

#: Values whose name starts with this prefix are bookkeeping (e.g. the parent
#: trial id), never hyperparameters: they are excluded from duplicate hashes
#: and from mutation.
BOOKKEEPING_PREFIX = "nas/"

# Discrete hyperparameters with more values than this are treated as
# continuous (mutated by a Gaussian step in probability space).
_MAX_ENUMERATED = 1000


def is_bookkeeping(name):
    """Whether a value name is a bookkeeping key rather than a decision."""
    return str(name).startswith(BOOKKEEPING_PREFIX)


def decision_values(values):
    """Returns `values` without bookkeeping keys."""
    return {k: v for k, v in values.items() if not is_bookkeeping(k)}


def discrete_values(hp):
    """The finite list of values of `hp`, or `None` if it is continuous.

    `Choice`, `Boolean` and `Fixed` are finite; `Int` is finite (its range,
    or its steps); `Float` is finite only with a `step`. Ranges of more than
    1000 values are treated as continuous.
    """
    if isinstance(hp, keras_tuner.engine.hyperparameters.Fixed):
        return [hp.value]
    if isinstance(hp, keras_tuner.engine.hyperparameters.Boolean):
        return [False, True]
    if isinstance(hp, keras_tuner.engine.hyperparameters.Choice):
        return list(hp.values)
    if isinstance(hp, keras_tuner.engine.hyperparameters.Int):
        if hp.step is None or hp.sampling in (None, "linear"):
            step = hp.step or 1
            if (hp.max_value - hp.min_value) // step + 1 > _MAX_ENUMERATED:
                return None
            return list(range(hp.min_value, hp.max_value + 1, step))
        values = sorted(hp.values)
        return values if len(values) <= _MAX_ENUMERATED else None
    if isinstance(hp, keras_tuner.engine.hyperparameters.Float):
        if hp.step is None:
            return None
        values = sorted(hp.values)
        return values if len(values) <= _MAX_ENUMERATED else None
    values = getattr(hp, "values", None)
    return list(values) if values is not None else None


def sample_value(hp, rng):
    """Samples one value of `hp` uniformly (in its own sampling scale)."""
    return to_python(hp.prob_to_value(float(rng.uniform())))


def is_active(hp, values):
    """Whether all conditional scopes of `hp` hold for `values`."""
    return all(condition.is_active(values) for condition in hp.conditions)


def _walk(space, values, fill):
    """Resolves activeness in space order; `fill(hp)` gives missing values.

    Keras Tuner lists parents before their conditional children, so one pass
    in space order suffices.
    """
    out = {}
    for hp in space:
        if hp.name in out or not is_active(hp, out):
            continue
        out[hp.name] = values[hp.name] if hp.name in values else fill(hp)
    return out


def random_values(space, rng):
    """Samples a full assignment of the active hyperparameters of `space`.

    Args:
        space: list of Keras Tuner hyperparameters (`HyperParameters.space`).
        rng: `numpy.random.Generator`.

    Returns:
        dict mapping the names of the active hyperparameters to values.
    """
    return _walk(space, {}, lambda hp: sample_value(hp, rng))


def complete_values(space, values, rng):
    """Drops inactive values and samples values for newly active ones."""
    return _walk(space, decision_values(values), lambda hp: sample_value(hp, rng))


def mutable_hyperparameters(space, values):
    """The active hyperparameters of `space` that have more than one value."""
    result = []
    for hp in space:
        if hp.name not in values or not is_active(hp, values):
            continue
        choices = discrete_values(hp)
        if choices is not None and len(choices) < 2:
            continue
        result.append(hp)
    return result


def mutate_value(hp, value, rng, local_step_probability=0.0):
    """Returns a value of `hp` different from `value` (when one exists).

    Discrete hyperparameters get another of their values uniformly, or, with
    probability `local_step_probability` for ordered ones (Int, ordered
    Choice, stepped Float), a neighbouring value. Continuous Floats move by a
    Gaussian step (sigma 0.15) in Keras Tuner's probability scale, so log
    sampling is respected.
    """
    choices = discrete_values(hp)
    if choices is None:
        prob = hp.value_to_prob(value)
        new_prob = float(np.clip(prob + rng.normal(0.0, 0.15), 0.0, 1.0 - 1e-9))
        return to_python(hp.prob_to_value(new_prob))
    others = [c for c in choices if c != value]
    if not others:
        return value
    ordered = getattr(hp, "ordered", True) and not isinstance(
        hp, keras_tuner.engine.hyperparameters.Boolean
    )
    if ordered and value in choices and rng.uniform() < local_step_probability:
        index = choices.index(value)
        neighbours = [choices[i] for i in (index - 1, index + 1) if 0 <= i < len(choices)]
        return to_python(neighbours[int(rng.integers(len(neighbours)))])
    return to_python(others[int(rng.integers(len(others)))])


def mutate(space, values, rng, num_mutations=1, local_step_probability=0.0):
    """Mutates `num_mutations` distinct active decisions of `values`.

    After the mutation, conditional hyperparameters that became active get a
    random value and those that became inactive are dropped.

    Args:
        space: list of Keras Tuner hyperparameters.
        values: dict, the parent's values.
        rng: `numpy.random.Generator`.
        num_mutations: int, how many decisions to change.
        local_step_probability: float in [0, 1], chance that an ordered
            decision moves to a neighbouring value instead of any value.

    Returns:
        dict, the child's values (bookkeeping keys are not copied).
    """
    child = complete_values(space, values, rng)
    for _ in range(num_mutations):
        candidates = mutable_hyperparameters(space, child)
        if not candidates:
            break
        hp = candidates[int(rng.integers(len(candidates)))]
        child[hp.name] = mutate_value(hp, child.get(hp.name, hp.default), rng, local_step_probability)
        child = complete_values(space, child, rng)
    return child


def crossover(space, first, second, rng):
    """Uniform crossover: each decision comes from either parent at random.

    Decisions present in only one parent are taken from it; values that the
    resulting conditional structure needs but neither parent has are sampled.
    """
    merged = {}
    for name in set(decision_values(first)) | set(decision_values(second)):
        if name in first and name in second:
            merged[name] = first[name] if rng.uniform() < 0.5 else second[name]
        else:
            merged[name] = first[name] if name in first else second[name]
    return complete_values(space, merged, rng)


def space_size(space, limit=10**12):
    """Upper bound on the number of distinct assignments (`inf` if continuous)."""
    total = 1
    for hp in space:
        choices = discrete_values(hp)
        if choices is None:
            return math.inf
        total *= max(1, len(choices))
        if total > limit:
            return math.inf
    return total


def decision_choices(hp, float_bins):
    """The values the controller chooses among for `hp`.

    `Choice` and `Boolean`: their values; `Int`: its discrete values (ranges
    of more than 1000 values: `float_bins` values evenly spaced in its
    sampling scale); `Float`: its stepped values when there are at most
    `float_bins` of them, otherwise `float_bins` bin centres in its sampling
    scale (linear, log or reverse_log); `Fixed`: its value.

    Args:
        hp: a Keras Tuner hyperparameter.
        float_bins: int >= 2.

    Returns:
        list of values (a single value means no decision is made).
    """
    if isinstance(hp, keras_tuner.engine.hyperparameters.Fixed):
        return [hp.value]
    values = discrete_values(hp)
    is_float = isinstance(hp, keras_tuner.engine.hyperparameters.Float)
    if values is not None and not (is_float and len(values) > float_bins):
        return [to_python(v) for v in values]
    binned = []
    for i in range(float_bins):
        value = to_python(hp.prob_to_value((i + 0.5) / float_bins))
        if value not in binned:
            binned.append(value)
    return binned


def _nearest_index(hp, choices, value):
    if value in choices:
        return choices.index(value)
    try:
        target = hp.value_to_prob(value)
        dist = [abs(hp.value_to_prob(c) - target) for c in choices]
    except (TypeError, ValueError, AttributeError):
        return 0
    return int(np.argmin(dist))
