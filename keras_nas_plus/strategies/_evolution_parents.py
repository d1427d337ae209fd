"""Regularized evolution with several objectives: how parents are chosen and children placed (private).

The multi-objective part of `RegularizedEvolutionOracle`, a mixin: the
steady-state NSGA-II population (Deb et al., IEEE TEVC 2002, Section III-C),
MOEA/D's Tchebycheff parent (Zhang & Li, IEEE TEVC 2007, Section III-A), the
Pareto-archive parent of Pareto local search (Paquete, Chiarandini &
Stuetzle 2004; Dubois-Lacoste, Lopez-Ibanez & Stuetzle, EJOR 2015) and
LEMONADE's inverse-density child choice (Elsken, Metzen & Hutter, ICLR 2019,
Section 4). docs/multiobjective.md measures each.
"""

import math

import numpy as np

from keras_nas_plus.engine import pareto as _pareto
from keras_nas_plus.strategies.base import PARENT_KEY
from keras_nas_plus.strategies.base import _check_bool
from keras_nas_plus.strategies.base import _check_choice
from keras_nas_plus.strategies.base import _check_int
from keras_nas_plus.strategies.base import objectives_of


#: Research options of `RegularizedEvolutionOracle` (constructor arguments, saved in the state) and their defaults.
EVOLUTION_OPTIONS = {
    "population_rule": "ageing",
    "mutation_count_probabilities": None,
    "parent_rule": "crowded",
    "tchebycheff_scale": "value",
    "archive_parent_set": "front",
    "archive_epsilon": (0.1, 0.0),
    "archive_full_neighbourhood": False,
    "archive_skip_cheapest": False,
    "cheap_objective": None,
    "archive_tie_break": "random",
}


def _check_evolution_options(population_rule, mutation_count_probabilities, parent_rule, tchebycheff_scale,
                             archive_parent_set, archive_epsilon, archive_full_neighbourhood,
                             archive_skip_cheapest, cheap_objective, archive_tie_break):
    """Raises ValueError naming the first research option out of range."""
    _check_choice("population_rule", population_rule, ("ageing", "nsga2"))
    _check_choice("parent_rule", parent_rule, ("crowded", "tchebycheff"))
    _check_choice("tchebycheff_scale", tchebycheff_scale, ("value", "rank"))
    _check_choice("archive_parent_set", archive_parent_set, ("front", "levels", "epsilon"))
    _check_choice("archive_tie_break", archive_tie_break, ("random", "ohvc"))
    _check_bool("archive_full_neighbourhood", archive_full_neighbourhood)
    _check_bool("archive_skip_cheapest", archive_skip_cheapest)
    if cheap_objective is not None and not callable(cheap_objective):
        raise ValueError(f"`cheap_objective` must be callable or None, got {cheap_objective!r}.")
    for name, values in (("archive_epsilon", archive_epsilon), ("mutation_count_probabilities", mutation_count_probabilities)):
        if values is None and name == "mutation_count_probabilities":
            continue
        try:
            ok = len(values) >= 1 and all(math.isfinite(float(v)) and float(v) >= 0 for v in values)
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"`{name}` must be a sequence of numbers >= 0, got {values!r}.")


class MultiObjectiveParents:
    """The parent-selection methods of `RegularizedEvolutionOracle` used with several objectives."""

    def _steady_state_population(self):
        completed = self.completed_trials()
        done, members, last_id = self.__dict__.get("_nsga2_cache", (0, [], None))
        if done > len(completed) or (done and completed[done - 1].trial_id != last_id):
            done, members = 0, []  # the completed trials changed (e.g. a resumed state): rebuild
        members = list(members)
        for trial in completed[done:]:
            members.append(trial)
            if len(members) > self.population_size:
                keys = self.pareto_order_keys(members)
                # The worst key leaves; among equal keys the oldest.
                worst = max(range(len(members)), key=lambda i: (keys[i], -i))
                del members[worst]
        self._nsga2_cache = (len(completed), members, completed[-1].trial_id if completed else None)
        return list(members)

    def tchebycheff_parent(self, population, rng):
        """MOEA/D parent: the Tchebycheff best of `selection_pool` for a random weight.

        The objectives (minimised) are scaled to [0, 1] over the pool (see
        `tchebycheff_scale`), so the ideal point is the origin. With two
        objectives the weight is `(j / (P - 1), 1 - j / (P - 1))` for `j`
        drawn uniformly from `0..P-1` (`P = population_size`, the evenly
        spread weight vectors of MOEA/D); with more, a uniform draw from the
        simplex. Weights are floored at 1e-6. The parent minimises
        `max_i w_i * f_i`; ties are broken at random.

        Args:
            population: list of trials (`population()`).
            rng: `numpy.random.Generator`.

        Returns:
            `keras_tuner.engine.trial.Trial`.

        Reference:
            Zhang & Li, "MOEA/D: A Multiobjective Evolutionary Algorithm Based
            on Decomposition", IEEE TEVC 11(6), 2007, Section III-A
            (Tchebycheff approach) and Section V-E (normalisation).
        """
        pool = self.selection_pool(population)
        points = self.minimised_values(pool)
        if self.tchebycheff_scale == "rank":
            points = _pareto._column_ranks(points)
        elif self.tchebycheff_scale != "value":
            raise ValueError(f"`tchebycheff_scale` must be 'value' or 'rank', got {self.tchebycheff_scale!r}.")
        low, span = points.min(axis=0), np.ptp(points, axis=0)
        scaled = (points - low) / np.where(span > 0, span, 1.0)
        m = points.shape[1]
        n = max(self.population_size, 2)
        if m == 2:
            w = int(rng.integers(n)) / (n - 1)
            weight = np.array([w, 1.0 - w])
        else:
            weight = rng.dirichlet(np.ones(m))
        weight = np.maximum(weight, 1e-6)
        g = np.max(weight * scaled, axis=1)
        best = np.flatnonzero(g <= g.min() + 1e-12)
        return pool[int(best[int(rng.integers(len(best)))])]

    def parent_archive(self):
        """The trials the archive parent is chosen from.

        `archive_parent_set == "front"`: the non-dominated completed trials;
        `"levels"` (two objectives): for each distinct value of the second
        objective, the completed trial best in the first one (the earliest on
        ties). With `archive_skip_cheapest`, the members with the best second
        objective are left out unless nothing else remains.

        Returns:
            list of `keras_tuner.engine.trial.Trial`, in completion order.

        Raises:
            ValueError: for an unknown `archive_parent_set`, or `"levels"`
                with other than two objectives.
        """
        completed = self.completed_trials()
        if not completed:
            return []
        points = self.minimised_values(completed)
        if self.archive_parent_set == "front":
            rows = sorted(int(i) for i in _pareto.pareto_front(points))
        elif self.archive_parent_set == "levels":
            if points.shape[1] != 2:
                raise ValueError("`archive_parent_set = 'levels'` needs exactly two objectives.")
            best = {}
            for i, (quality, cost) in enumerate(points):
                if cost not in best or quality < points[best[cost], 0]:
                    best[cost] = i
            rows = sorted(best.values())
        elif self.archive_parent_set == "epsilon":
            rows = _pareto.epsilon_archive(points, self.archive_epsilon)
        else:
            raise ValueError(
                f"`archive_parent_set` must be 'front', 'levels' or 'epsilon', got {self.archive_parent_set!r}."
            )
        if self.archive_skip_cheapest and len(rows) > 1:
            cheapest = points[rows, -1].min()
            rows = [i for i in rows if points[i, -1] != cheapest] or rows
        return [completed[i] for i in rows]

    def least_explored_archive_member(self, rng):
        """The archive member with the fewest children so far.

        The archive is `parent_archive()` (by default the non-dominated
        completed trials of the whole search); a trial's children are the
        trials whose values name it under `PARENT_KEY` (whatever their
        status). Ties are broken uniformly at random. With
        `archive_full_neighbourhood`, the previous pick is returned again
        while it is still in the archive and has untried neighbours.

        Args:
            rng: `numpy.random.Generator`.

        Returns:
            `keras_tuner.engine.trial.Trial`, or `None` before any trial
            completed.

        Reference:
            Paquete, Chiarandini & Stuetzle, Pareto local search, LNEMS 535,
            Springer 2004 (each archive member's neighbourhood in turn).
        """
        front = self.parent_archive()
        if not front:
            return None
        if self.archive_full_neighbourhood:
            current = {t.trial_id: t for t in front}.get(getattr(self, "_pls_current", None))
            if current is not None and self.untried_neighbour_values(current.hyperparameters.values, rng):
                return current
        counts = {}
        for trial in self.trials.values():
            parent_id = trial.hyperparameters.values.get(PARENT_KEY)
            if parent_id is not None:
                counts[parent_id] = counts.get(parent_id, 0) + 1
        children = np.array([counts.get(str(t.trial_id), 0) for t in front])
        fewest = np.flatnonzero(children == children.min())
        if self.archive_tie_break == "ohvc" and len(fewest) > 1 and len(front) > 1:
            points = self.minimised_values(front)
            if points.shape[1] == 2:
                everything = self.minimised_values(self.completed_trials())
                reference = everything.max(axis=0)
                if self.crowding_scale == "rank":
                    ranked = _pareto._column_ranks(np.r_[points, everything])
                    points, reference = ranked[: len(points)], ranked[len(points):].max(axis=0)
                gain = _pareto.optimistic_contributions(points, reference)[fewest]
                fewest = fewest[gain >= gain.max() - 1e-12]
        elif self.archive_tie_break not in ("random", "ohvc"):
            raise ValueError(f"`archive_tie_break` must be 'random' or 'ohvc', got {self.archive_tie_break!r}.")
        member = front[int(fewest[int(rng.integers(len(fewest)))])]
        self._pls_current = member.trial_id
        return member

    def _pick_child(self, candidates, rng):
        """Index of the child to propose: uniform, or LEMONADE's inverse-density rule."""
        if self.cheap_objective is None or not self.is_multi_objective() or len(candidates) < 2:
            return int(rng.integers(len(candidates)))
        front = self.parent_archive()
        if len(front) < 2:
            return int(rng.integers(len(candidates)))
        costs = []
        for values in candidates:
            try:
                c = float(self.cheap_objective(values))
            except Exception:  # a cost that cannot be computed: treat as unknown
                c = math.nan
            costs.append(c)
        costs = np.asarray(costs, dtype=float)
        if objectives_of(self.objective)[-1].direction == "max":
            costs = -costs  # the same orientation as minimised_values
        known = self.minimised_values(front)[:, -1]
        if not np.all(np.isfinite(costs)) or np.ptp(known) <= 0:
            return int(rng.integers(len(candidates)))
        # Gaussian KDE of the front's costs (Scott's bandwidth), evaluated at each child.
        width = max(float(np.std(known)) * len(known) ** (-1.0 / 5.0), 1e-12)
        density = np.exp(-0.5 * ((costs[:, None] - known[None, :]) / width) ** 2).mean(axis=1)
        weight = 1.0 / np.maximum(density, 1e-12)
        return int(rng.choice(len(candidates), p=weight / weight.sum()))


def fast_mutation_probabilities(num_decisions, beta=1.5):
    """Probabilities of changing k = 1..max(1, n // 2) decisions, ~ k^-beta.

    The heavy-tailed mutation strength of the fast GA (Doerr, Le, Makhmara &
    Nguyen, "Fast Genetic Algorithms", GECCO 2017, Section 3, power law with
    beta = 1.5 over 1..n/2), for `mutation_count_probabilities`.

    Returns:
        tuple of floats summing to 1.
    """
    _check_int("num_decisions", num_decisions, 1)
    ks = np.arange(1, max(1, num_decisions // 2) + 1, dtype=float)
    weights = ks ** (-float(beta))
    return tuple(float(w) for w in weights / weights.sum())
