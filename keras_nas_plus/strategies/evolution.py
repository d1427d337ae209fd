"""Regularized (aging) evolution: oracle and tuner."""

import warnings

import numpy as np

from keras_nas_plus.strategies import _hp
from keras_nas_plus.strategies.base import PARENT_KEY
from keras_nas_plus.strategies.base import NASOracle
from keras_nas_plus.strategies.base import _check_int
from keras_nas_plus.strategies.base import _check_probability
from keras_nas_plus.strategies.base import _json_safe
from keras_nas_plus.strategies.base import _restore_options
from keras_nas_plus.strategies._evolution_parents import EVOLUTION_OPTIONS
from keras_nas_plus.strategies._evolution_parents import MultiObjectiveParents
from keras_nas_plus.strategies._evolution_parents import _check_evolution_options
from keras_nas_plus.strategies._evolution_parents import fast_mutation_probabilities  # noqa: F401 (re-exported)
from keras_nas_plus.strategies.oracle_tuner import OracleTuner
from keras_nas_plus.strategies.warm_start import WarmStartMixin


class RegularizedEvolutionOracle(WarmStartMixin, MultiObjectiveParents, NASOracle):
    """Regularized (aging) evolution over any Keras Tuner search space.

    The search starts with `population_size` random trials. Afterwards each
    new trial is a child: a tournament of `sample_size` members drawn at random
    from the population picks the best as parent, and the child copies the
    parent's values with `num_mutations` decisions changed (optionally after a
    uniform crossover with a second tournament winner). With
    `untried_neighbours` (the default) and one mutation, the child is drawn
    uniformly among the parent's one-decision neighbours that were never
    tried, so no query is spent on a repeat; continuous decisions and
    exhausted neighbourhoods fall back to random mutation. The population is the
    `population_size` most recently *completed* trials, so when a child joins,
    the oldest member leaves regardless of its score (ageing). Failed trials
    and trials whose score is NaN never join the population.

    Works on any Keras Tuner space: `Choice`, `Int`, `Float`, `Boolean`,
    `Fixed` and conditional scopes (a mutation that activates a conditional
    hyperparameter gives it a random value). Children never repeat an
    architecture already tried; the parent's trial id travels in the child's
    values under `keras_nas_plus.oracles.base.PARENT_KEY` (excluded from the
    duplicate hash). Trials may end in any order (asynchronous workers).
    The same `seed` gives the same sequence of proposals.

    An optional `equivalence` callable maps a dict of values to canonical
    values; architectures with equal canonical values compute the same
    function (e.g. `keras_nas_plus.spaces.nb201.canonical_values`), so once
    one of them was tried the others count as tried too, for the initial
    random population and for the untried neighbours. A callable is not
    part of the oracle's saved state: pass it again when you resume a
    search (a warning says so when it is missing).

    With several objectives, the tournament ranks by NSGA-II's crowded
    comparison (see `tournament`), and with probability
    `archive_parent_probability` the parent is instead the least-explored
    member of the Pareto archive (the non-dominated completed trials): the
    one with the fewest children so far, ties broken at random. This is the
    selection step of Pareto local search (Paquete, Chiarandini & Stuetzle,
    "Pareto Local Optimum Sets in the Biobjective Traveling Salesman
    Problem: An Experimental Study", Metaheuristics for Multiobjective
    Optimisation, LNEMS 535, Springer 2004), where every archive member's
    neighbourhood is explored in turn; combined with untried-neighbour
    mutation it spreads the children evenly over the whole front.

    Args:
        objective: str, `keras_tuner.Objective`, or list of them. Same as in
            `keras_tuner.RandomSearch`.
        max_trials: int, default 10. Total number of trials, failed ones
            included.
        population_size: int, default 10. Number of members kept (P in the
            paper). Must be >= 2. (The default was 20 before the NB201 tuning.)
        sample_size: int, default 8. Tournament size (S in the paper), in
            `[1, population_size]`. 10/8 is the size measured best at small
            budgets (docs/benchmarks.md, "Small budgets").
        num_mutations: int, default 1. Decisions changed per child.
        local_mutation_probability: float in [0, 1], default 0.0. Chance that
            a mutated ordered decision (Int, ordered Choice, stepped Float)
            moves to a neighbouring value rather than any other value.
        crossover_probability: float in [0, 1], default 0.0. Chance that a
            child is first made by uniform crossover of two tournament winners.
        seed: int or None. Random seed.
        untried_neighbours: bool, default True. With `num_mutations == 1`,
            draw the child uniformly among the untried one-decision
            neighbours of the parent (decisions with at most
            `max_neighbour_values` values are enumerated); `False` gives the
            textbook uniform mutation (a repeat is then redrawn).
        equivalence: callable or None, default None. `equivalence(values)`
            returns canonical values (a dict); equal canonical values mean the
            same function. Not saved with the state: pass it again on resume.
        max_neighbour_values: int >= 2, default 64. Decisions with more
            values than this are not enumerated as neighbours.
        archive_parent_probability: float in [0, 1], default 0.5. With
            several objectives, the chance that a child's parent is the
            least-explored Pareto-archive member rather than a tournament
            winner (Pareto local search); ignored with one objective.
            Chosen on NAS-Bench-201 (docs/multiobjective.md).
        initial_architectures: None (default), `"references"`, or a list of
            dicts of hyperparameter values and/or reference names: proposed
            first, in order, before any random member; they join the
            population like any completed trial (warm start, see
            `keras_nas_plus.strategies.warm_start` and docs/warm_start.md).
        The multi-objective research options below are constructor arguments
        saved in the oracle's state (docs/multiobjective.md measures them);
        `pareto_archive`, `crowding_scale` and `pareto_secondary` are
        `NASOracle`'s.
        population_rule: default "ageing". How the population is kept: "ageing" (default, Real et
            al.: the `population_size` most recently completed trials) or, with several objectives,
            "nsga2": a steady-state NSGA-II population (Deb et al., IEEE TEVC 2002, Section III-C,
            replacement by the crowded comparison; steady-state, one child at a time: Durillo,
            Nebro, Luna & Alba, "On the Effect of the Steady-State Selection Scheme in Multi-
            Objective Genetic Algorithms", EMO 2009, Section 3). Every completed trial joins, then
            the member worst by non-dominated rank, then by smallest crowding distance (both within
            the population plus the newcomer; `crowding_scale` applies), leaves. An opt-in: ageing
            is this oracle's core.
        mutation_count_probabilities: default None. Number of decisions a child changes, with
            untried neighbours: None (default) always `num_mutations`; a sequence `(p1, p2, ...)` of
            probabilities: k decisions with probability p_k (normalised). k = 1 uses the untried
            one-decision neighbours; k >= 2 changes k distinct decisions at random, redrawn until
            the child is untried (and, with `equivalence`, not equivalent to a tried one), else
            falls back to k = 1. `fast_mutation_probabilities(n, beta)` gives the heavy-tailed law
            of the fast GA (Doerr, Le, Makhmara & Nguyen, GECCO 2017, Section 3).
        parent_rule: default "crowded". With several objectives, how the non-archive parent is
            chosen: "crowded" (default, the NSGA-II tournament of `tournament`) or "tchebycheff":
            MOEA/D's decomposition (Zhang & Li, "MOEA/D: A Multiobjective Evolutionary Algorithm
            Based on Decomposition", IEEE TEVC 11(6), 2007, Section III-A, Tchebycheff approach,
            with objective normalisation as in its Section V-E): one of `population_size` weight
            vectors evenly spread over the simplex is drawn, and the parent is the member of
            `selection_pool` with the smallest weighted Tchebycheff distance to the ideal point,
            objectives scaled to [0, 1] over the pool (see `tchebycheff_scale`).
        tchebycheff_scale: default "value". Scaling of the objectives for `parent_rule =
            "tchebycheff"`: "value" (default: (f - min) / (max - min) over the pool, as MOEA/D's
            normalisation) or "rank" (each objective's rank within the pool).
        archive_parent_set: default "front". Variants of the archive parent, measured on NAS-
            Bench-201 and not better than the defaults there (docs/multiobjective.md): "front"
            (default): the archive is the Pareto front of the completed trials; "levels" (two
            objectives): for every distinct value of the second objective (the cost), its best trial
            in the first objective, dominated or not (a grid archive over cost levels, in the spirit
            of the epsilon-box archives of Laumanns, Thiele, Deb & Zitzler, Evolutionary Computation
            10(3), 2002, with one box per cost value). "epsilon": the epsilon-Pareto archive of
            `_pareto.epsilon_archive` with box sizes `archive_epsilon` (Laumanns et al. 2002,
            Section 4).
        archive_epsilon: default (0.1, 0.0). Box size per objective (minimised units; 0 = no boxing
            on that objective) for `archive_parent_set = "epsilon"`.
        archive_full_neighbourhood: default False. True: keep the last archive parent until its
            untried one-decision neighbourhood is exhausted (or it leaves the archive), as one full
            Pareto-local-search step (Paquete et al. 2004); False (default): the least-explored
            member is chosen afresh for every child.
        archive_skip_cheapest: default False. True: never take the archive member with the best
            (lowest, when minimised) last objective, i.e. the cheapest one, as archive parent while
            other members exist. Default False.
        cheap_objective: default None. Optional callable `values -> float`: the last objective (a
            cost such as the parameter count) computed from a child's hyperparameter values without
            training it. When set (several objectives), the child is drawn among the parent's
            untried neighbours with probability inversely proportional to a kernel density estimate
            of that cost over the current Pareto front, so children go where the front is sparse
            (LEMONADE, Elsken, Metzen & Hutter, ICLR 2019, Section 4 and Algorithm 1). Default None.
        archive_tie_break: default "random". Among the least-explored archive members: "random"
            (default) or, with two objectives, "ohvc": the largest optimistic hypervolume
            contribution (`_pareto.optimistic_contributions`, reference: the worst value of each
            objective over the completed trials; rank-scaled with `crowding_scale = "rank"`), the
            selection step of anytime Pareto local search (Dubois-Lacoste, Lopez-Ibanez & Stuetzle,
            "Anytime Pareto Local Search", EJOR 243(2), 2015).
        hyperparameters, allow_new_entries, tune_new_entries,
        max_retries_per_trial: as in `keras_tuner.Oracle`.
        max_consecutive_failed_trials, trial_lease_seconds: see `NASOracle`
            (failed children of mutations never stop the search; leases
            re-queue the trials of dead distributed workers).
        **options: `NASOracle`'s multi-objective options (`pareto_archive`,
            `crowding_scale`, `pareto_secondary`).

    Raises:
        ValueError: if an argument is out of range; the message names it.

    Reference:
        Real, Aggarwal, Huang & Le, "Regularized Evolution for Image
        Classifier Architecture Search", AAAI 2019, Algorithm 1.
    """

    def __init__(
        self,
        objective=None,
        max_trials=10,
        population_size=10,
        sample_size=8,
        num_mutations=1,
        local_mutation_probability=0.0,
        crossover_probability=0.0,
        seed=None,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        trial_lease_seconds=None,
        untried_neighbours=True,
        equivalence=None,
        max_neighbour_values=64,
        archive_parent_probability=0.5,
        population_rule="ageing",
        mutation_count_probabilities=None,
        parent_rule="crowded",
        tchebycheff_scale="value",
        archive_parent_set="front",
        archive_epsilon=(0.1, 0.0),
        archive_full_neighbourhood=False,
        archive_skip_cheapest=False,
        cheap_objective=None,
        archive_tie_break="random",
        initial_architectures=None,
        **options,
    ):
        _check_evolution_options(population_rule, mutation_count_probabilities, parent_rule, tchebycheff_scale,
                                 archive_parent_set, archive_epsilon, archive_full_neighbourhood,
                                 archive_skip_cheapest, cheap_objective, archive_tie_break)
        if equivalence is not None and not callable(equivalence):
            raise ValueError(f"`equivalence` must be callable or None, got {equivalence!r}.")
        if not isinstance(untried_neighbours, (bool, np.bool_)):
            raise ValueError(f"`untried_neighbours` must be a bool, got {untried_neighbours!r}.")
        _check_int("max_neighbour_values", max_neighbour_values, 2)
        _check_int("population_size", population_size, 2)
        _check_int("sample_size", sample_size, 1, population_size)
        _check_int("num_mutations", num_mutations, 1)
        _check_probability("local_mutation_probability", local_mutation_probability)
        _check_probability("crossover_probability", crossover_probability)
        _check_probability("archive_parent_probability", archive_parent_probability)
        super().__init__(objective=objective, max_trials=max_trials, seed=seed, hyperparameters=hyperparameters,
                         allow_new_entries=allow_new_entries, tune_new_entries=tune_new_entries,
                         max_retries_per_trial=max_retries_per_trial, trial_lease_seconds=trial_lease_seconds,
                         max_consecutive_failed_trials=max_consecutive_failed_trials, **options)
        self.population_rule = population_rule
        self.mutation_count_probabilities = None if mutation_count_probabilities is None else tuple(mutation_count_probabilities)
        self.parent_rule = parent_rule
        self.tchebycheff_scale = tchebycheff_scale
        self.archive_parent_set = archive_parent_set
        self.archive_epsilon = tuple(archive_epsilon)
        self.archive_full_neighbourhood = archive_full_neighbourhood
        self.archive_skip_cheapest = archive_skip_cheapest
        self.cheap_objective = cheap_objective
        self.archive_tie_break = archive_tie_break
        self.population_size = population_size
        self.sample_size = sample_size
        self.num_mutations = num_mutations
        self.local_mutation_probability = float(local_mutation_probability)
        self.crossover_probability = float(crossover_probability)
        self.untried_neighbours = bool(untried_neighbours)
        self.max_neighbour_values = int(max_neighbour_values)
        self.equivalence = equivalence
        self.archive_parent_probability = float(archive_parent_probability)
        self._init_warm_start(initial_architectures)
        #: None or `callable(parent_values, child_values) -> bool`: with
        #: untried neighbours, children it accepts are drawn first (all
        #: neighbours when it accepts none). Set by `NASTuner` with
        #: `weight_inheritance=True` to prefer function-preserving children
        #: (see docs/morphism.md). Not part of the saved state.
        self.child_preference = None
        self._reset_class_cache()


    def population(self):
        """The current population.

        By default (`population_rule = "ageing"`), the most recently
        completed trials; with `"nsga2"` and several objectives, the
        steady-state NSGA-II population (see `population_rule`).

        Returns:
            list of `keras_tuner.engine.trial.Trial`, oldest first, at most
            `population_size` long.
        """
        if self.population_rule == "ageing" or not self.is_multi_objective():
            return self.completed_trials()[-self.population_size :]
        if self.population_rule != "nsga2":
            raise ValueError(f"`population_rule` must be 'ageing' or 'nsga2', got {self.population_rule!r}.")
        return self._steady_state_population()

    def tournament(self, population, rng):
        """Best of `sample_size` members drawn without replacement.

        With several objectives, the members are drawn from
        `selection_pool(population)` (the population plus the archive of
        non-dominated trials) and "best" is NSGA-II's crowded comparison:
        lowest non-dominated rank, then largest crowding distance, both
        computed within that pool (Deb et al., IEEE TEVC 2002).
        """
        # --- multi-objective selection (issue 10) ---
        if self.is_multi_objective():
            pool = self.selection_pool(population)
            keys = self.pareto_order_keys(pool)
            picks = rng.choice(len(pool), size=min(self.sample_size, len(pool)), replace=False)
            return pool[int(min(picks, key=lambda i: keys[int(i)]))]
        # --- end multi-objective selection ---
        size = min(self.sample_size, len(population))
        picks = rng.choice(len(population), size=size, replace=False)
        return max((population[int(i)] for i in picks), key=self.utility)

    def select_parent(self, population, rng):
        """The parent of the next child.

        With several objectives and probability `archive_parent_probability`,
        `least_explored_archive_member`; otherwise `tournament(population)`.
        """
        if self.is_multi_objective() and self.archive_parent_probability > 0:
            if rng.uniform() < self.archive_parent_probability:
                member = self.least_explored_archive_member(rng)
                if member is not None:
                    return member
        if self.is_multi_objective() and self.parent_rule == "tchebycheff":
            return self.tchebycheff_parent(population, rng)
        if self.parent_rule not in ("crowded", "tchebycheff"):
            raise ValueError(f"`parent_rule` must be 'crowded' or 'tchebycheff', got {self.parent_rule!r}.")
        return self.tournament(population, rng)


    def propose(self, trial_id, rng):
        population = self.population()
        space = self.hyperparameters.space
        if len(population) < self.population_size:
            return self.random_unique_values(rng)
        parent = self.select_parent(population, rng)
        base = parent.hyperparameters.values
        if self.crossover_probability and rng.uniform() < self.crossover_probability:
            other = self.tournament(population, rng)
            base = _hp.crossover(space, base, other.hyperparameters.values, rng)
        if self.untried_neighbours and self.num_mutations == 1 and self.mutation_count_probabilities is not None:
            count = self._mutation_count(rng)
            if count > 1:
                child = self.random_untried_mutant(base, count, rng)
                if child is not None:
                    child[PARENT_KEY] = str(parent.trial_id)
                    return child
        if self.untried_neighbours and self.num_mutations == 1:
            neighbours = self.untried_neighbour_values(base, rng)
            if neighbours and self.child_preference is not None:
                # e.g. function-preserving children under weight inheritance
                parent_values = parent.hyperparameters.values
                preferred = [c for c in neighbours if self.child_preference(parent_values, c)]
                neighbours = preferred or neighbours
            if neighbours:
                child = neighbours[self._pick_child(neighbours, rng)]
                child[PARENT_KEY] = str(parent.trial_id)
                return child
        for attempt in range(self.max_proposal_attempts):
            # After repeated collisions, mutate more decisions at once.
            extra = attempt // 10
            child = _hp.mutate(
                space,
                base,
                rng,
                num_mutations=self.num_mutations + extra,
                local_step_probability=self.local_mutation_probability,
            )
            if not self.is_duplicate(child):
                child[PARENT_KEY] = str(parent.trial_id)
                return child
        # The neighbourhood of the parent is exhausted: explore at random.
        return self.random_unique_values(rng)

    def _mutation_count(self, rng):
        probabilities = np.asarray(self.mutation_count_probabilities, dtype=float)
        if probabilities.ndim != 1 or not len(probabilities) or np.any(probabilities < 0) or probabilities.sum() <= 0:
            raise ValueError(
                f"`mutation_count_probabilities` must be a non-empty sequence of non-negative numbers "
                f"with a positive sum, got {self.mutation_count_probabilities!r}."
            )
        return 1 + int(rng.choice(len(probabilities), p=probabilities / probabilities.sum()))

    def random_untried_mutant(self, values, count, rng):
        """A child changing `count` distinct decisions of `values`, untried.

        Each attempt draws `count` distinct active decisions and gives each
        another of its values uniformly; the first child that was never tried
        (nor, with `equivalence`, equivalent to a tried trial) is returned.

        Returns:
            dict of values, or `None` after `max_proposal_attempts` attempts.
        """
        space = self.hyperparameters.space
        tried_classes = self.tried_classes()
        for _ in range(self.max_proposal_attempts):
            child = _hp.complete_values(space, values, rng)
            names = [hp.name for hp in _hp.mutable_hyperparameters(space, child)]
            if len(names) < count:
                return None
            for i in rng.choice(len(names), size=count, replace=False):
                hp = next((h for h in _hp.mutable_hyperparameters(space, child) if h.name == names[int(i)]), None)
                if hp is None:  # made inactive by an earlier change
                    continue
                child[hp.name] = _hp.mutate_value(hp, child.get(hp.name, hp.default), rng)
                child = _hp.complete_values(space, child, rng)
            if self.is_duplicate(child):
                continue
            if self.equivalence is not None and self._class_hash(child) in tried_classes:
                continue
            return child
        return None

    # ------------------------------------------------- untried neighbours
    def untried_neighbour_values(self, values, rng):
        """The untried children that differ from `values` in one decision.

        Every value of every active decision with at most
        `max_neighbour_values` values is tried in turn (continuous decisions
        are left to random mutation); conditional hyperparameters that become
        active get a random value. Children already tried, or (with
        `equivalence`) equivalent to a tried one or to an earlier child in the
        list, are left out.

        Args:
            values: dict, the parent's values.
            rng: `numpy.random.Generator`, fills newly active values.

        Returns:
            list of dicts of values, in search-space order.
        """
        space = self.hyperparameters.space
        base = _hp.complete_values(space, values, rng)
        tried_classes = self.tried_classes()
        conditional = any(hp.conditions for hp in space)
        result, seen = [], set()
        for hp in _hp.mutable_hyperparameters(space, base):
            choices = _hp.discrete_values(hp)
            if choices is None or len(choices) > self.max_neighbour_values:
                continue
            current = base.get(hp.name)
            for value in choices:
                if value == current:
                    continue
                child = dict(base)
                child[hp.name] = _hp.to_python(value)
                if conditional:
                    child = _hp.complete_values(space, child, rng)
                values_hash = self._compute_values_hash(child)
                if values_hash in seen or values_hash in self._tried_so_far:
                    continue
                seen.add(values_hash)
                if self.equivalence is not None:
                    key = self._class_hash(child, values_hash)
                    if key in seen or key in tried_classes:
                        continue
                    seen.add(key)
                result.append(child)
        return result

    def _reset_class_cache(self):
        # values hash -> class hash (memo), trial ids already counted, and
        # the set of tried class hashes, kept up to date incrementally.
        self._class_memo = {}
        self._classed_trials = set()
        self._tried_class_set = set()

    def _class_hash(self, values, values_hash=None):
        if values_hash is None:
            values_hash = self._compute_values_hash(values)
        key = self._class_memo.get(values_hash)
        if key is None:
            canonical = self.equivalence(_hp.decision_values(values))
            key = "class:" + self._compute_values_hash(canonical)
            self._class_memo[values_hash] = key
        return key

    def tried_classes(self):
        """Hashes of the equivalence classes of all trials created so far.

        Returns:
            set of str; empty without `equivalence`.
        """
        if self.equivalence is None:
            return set()
        if len(self._classed_trials) != len(self.trials):
            for trial_id, trial in self.trials.items():
                if trial_id not in self._classed_trials:
                    self._classed_trials.add(trial_id)
                    self._tried_class_set.add(self._class_hash(trial.hyperparameters.values))
        return self._tried_class_set

    def random_unique_values(self, rng):
        """Random values not tried before (nor equivalent to a tried trial).

        With `equivalence`, a draw equivalent to a tried trial is redrawn; after
        many collisions any untried draw is accepted.

        Returns:
            dict of values, or `None` when the space looks exhausted.
        """
        if self.equivalence is None:
            return super().random_unique_values(rng)
        tried_classes = self.tried_classes()
        fallback = None
        for _ in range(self.max_proposal_attempts):
            values = _hp.random_values(self.hyperparameters.space, rng)
            if self.is_duplicate(values):
                continue
            if self._class_hash(values) not in tried_classes:
                return values
            fallback = fallback or values
        return fallback

    def get_state(self):
        state = super().get_state()
        state.update(
            population_size=self.population_size,
            sample_size=self.sample_size,
            num_mutations=self.num_mutations,
            local_mutation_probability=self.local_mutation_probability,
            crossover_probability=self.crossover_probability,
            untried_neighbours=self.untried_neighbours,
            max_neighbour_values=self.max_neighbour_values,
            archive_parent_probability=self.archive_parent_probability,
            # The callable itself cannot be saved; remember that there was one.
            uses_equivalence=self.equivalence is not None,
        )
        return _json_safe(state)

    def options(self):
        return {**super().options(), **{name: getattr(self, name) for name in EVOLUTION_OPTIONS}}

    def set_state(self, state):
        super().set_state(state)
        self.population_size = state["population_size"]
        self.sample_size = state["sample_size"]
        self.num_mutations = state["num_mutations"]
        self.local_mutation_probability = state["local_mutation_probability"]
        self.crossover_probability = state["crossover_probability"]
        # States saved before these settings existed: the old behaviour.
        self.untried_neighbours = state.get("untried_neighbours", False)
        self.max_neighbour_values = state.get("max_neighbour_values", 64)
        self.archive_parent_probability = state.get("archive_parent_probability", 0.0)
        _restore_options(self, state, EVOLUTION_OPTIONS)
        self._reset_class_cache()
        if state.get("uses_equivalence") and self.equivalence is None:
            warnings.warn(
                "This search was saved with an `equivalence` callable, which is "
                "not part of the saved state; pass `equivalence=` again to the "
                "oracle (or tuner) to resume it identically."
            )


class RegularizedEvolution(OracleTuner):
    """Tuner that searches with regularized (aging) evolution.

    A drop-in replacement for `keras_tuner.RandomSearch`: same arguments,
    plus the evolution settings of `RegularizedEvolutionOracle`.

    Args:
        hypermodel: `keras_tuner.HyperModel` or a function `build(hp)` that
            returns a compiled Keras model.
        objective: str, `keras_tuner.Objective`, or list of them.
        max_trials: int, default 10. Total number of trials.
        population_size: int, default 10. See `RegularizedEvolutionOracle`.
        sample_size: int, default 8. Tournament size.
        num_mutations: int, default 1. Decisions changed per child.
        local_mutation_probability: float in [0, 1], default 0.0.
        crossover_probability: float in [0, 1], default 0.0.
        seed: int or None. Random seed.
        untried_neighbours: bool, default True. Children are untried
            one-decision neighbours of the parent.
        equivalence: callable or None. Maps values to canonical values; see
            `RegularizedEvolutionOracle`. Pass it again when resuming.
        max_neighbour_values: int, default 64.
        archive_parent_probability: float in [0, 1], default 0.5. With
            several objectives, chance of taking the least-explored
            Pareto-archive member as parent; see `RegularizedEvolutionOracle`.
        initial_architectures: None (default), `"references"` (every point
            of `hypermodel.references()`), or a list of dicts of
            hyperparameter values and/or reference names, proposed first
            (warm start; see docs/warm_start.md).
        hyperparameters, tune_new_entries, allow_new_entries,
        max_retries_per_trial: as in `keras_tuner.RandomSearch`.
        max_consecutive_failed_trials, trial_lease_seconds: see `NASOracle`.
        **kwargs: the other arguments of `RegularizedEvolutionOracle` (the
            multi-objective options) and those of `keras_tuner.Tuner` and `NASTuner`
            (`directory`, `project_name`, `overwrite`, `executions_per_trial`,
            ...).

    Raises:
        ValueError: if an argument is out of range; the message names it.

    Reference:
        Real et al., "Regularized Evolution for Image Classifier Architecture
        Search", AAAI 2019.
    """

    oracle_class = RegularizedEvolutionOracle
