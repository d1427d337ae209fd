"""Regularized (aging) evolution: oracle and tuner."""

from keras_nas_plus.engine.tuner import NASTuner
from keras_nas_plus.oracles import _hp
from keras_nas_plus.oracles.base import PARENT_KEY
from keras_nas_plus.oracles.base import NASOracle
from keras_nas_plus.oracles.base import _check_int
from keras_nas_plus.oracles.base import _check_probability


class RegularizedEvolutionOracle(NASOracle):
    """Regularized (aging) evolution over any Keras Tuner search space.

    The search starts with `population_size` random trials. Afterwards each
    new trial is a child: a tournament of `sample_size` members drawn at random
    from the population picks the best as parent, and the child copies the
    parent's values with `num_mutations` decisions changed (optionally after a
    uniform crossover with a second tournament winner). The population is the
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

    Args:
        objective: str, `keras_tuner.Objective`, or list of them. Same as in
            `keras_tuner.RandomSearch`.
        max_trials: int, default 10. Total number of trials, failed ones
            included.
        population_size: int, default 20. Number of members kept (P in the
            paper). Must be >= 2.
        sample_size: int, default 5. Tournament size (S in the paper), in
            `[1, population_size]`.
        num_mutations: int, default 1. Decisions changed per child.
        local_mutation_probability: float in [0, 1], default 0.0. Chance that
            a mutated ordered decision (Int, ordered Choice, stepped Float)
            moves to a neighbouring value rather than any other value.
        crossover_probability: float in [0, 1], default 0.0. Chance that a
            child is first made by uniform crossover of two tournament winners.
        seed: int or None. Random seed.
        hyperparameters, allow_new_entries, tune_new_entries,
        max_retries_per_trial, max_consecutive_failed_trials: as in
            `keras_tuner.Oracle`.

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
        population_size=20,
        sample_size=5,
        num_mutations=1,
        local_mutation_probability=0.0,
        crossover_probability=0.0,
        seed=None,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
    ):
        _check_int("population_size", population_size, 2)
        _check_int("sample_size", sample_size, 1, population_size)
        _check_int("num_mutations", num_mutations, 1)
        _check_probability("local_mutation_probability", local_mutation_probability)
        _check_probability("crossover_probability", crossover_probability)
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self.population_size = population_size
        self.sample_size = sample_size
        self.num_mutations = num_mutations
        self.local_mutation_probability = float(local_mutation_probability)
        self.crossover_probability = float(crossover_probability)

    def population(self):
        """The current population: the most recently completed trials.

        Returns:
            list of `keras_tuner.engine.trial.Trial`, oldest first, at most
            `population_size` long.
        """
        return self.completed_trials()[-self.population_size :]

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

    def propose(self, trial_id, rng):
        population = self.population()
        space = self.hyperparameters.space
        if len(population) < self.population_size:
            return self.random_unique_values(rng)
        parent = self.tournament(population, rng)
        base = parent.hyperparameters.values
        if self.crossover_probability and rng.uniform() < self.crossover_probability:
            other = self.tournament(population, rng)
            base = _hp.crossover(space, base, other.hyperparameters.values, rng)
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

    def get_state(self):
        state = super().get_state()
        state.update(
            population_size=self.population_size,
            sample_size=self.sample_size,
            num_mutations=self.num_mutations,
            local_mutation_probability=self.local_mutation_probability,
            crossover_probability=self.crossover_probability,
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        self.population_size = state["population_size"]
        self.sample_size = state["sample_size"]
        self.num_mutations = state["num_mutations"]
        self.local_mutation_probability = state["local_mutation_probability"]
        self.crossover_probability = state["crossover_probability"]


class RegularizedEvolution(NASTuner):
    """Tuner that searches with regularized (aging) evolution.

    A drop-in replacement for `keras_tuner.RandomSearch`: same arguments,
    plus the evolution settings of `RegularizedEvolutionOracle`.

    Args:
        hypermodel: `keras_tuner.HyperModel` or a function `build(hp)` that
            returns a compiled Keras model.
        objective: str, `keras_tuner.Objective`, or list of them.
        max_trials: int, default 10. Total number of trials.
        population_size: int, default 20. See `RegularizedEvolutionOracle`.
        sample_size: int, default 5. Tournament size.
        num_mutations: int, default 1. Decisions changed per child.
        local_mutation_probability: float in [0, 1], default 0.0.
        crossover_probability: float in [0, 1], default 0.0.
        seed: int or None. Random seed.
        hyperparameters, tune_new_entries, allow_new_entries,
        max_retries_per_trial, max_consecutive_failed_trials: as in
            `keras_tuner.RandomSearch`.
        **kwargs: arguments of `keras_tuner.Tuner` and `NASTuner`
            (`directory`, `project_name`, `overwrite`, `executions_per_trial`,
            ...).

    Raises:
        ValueError: if an argument is out of range; the message names it.

    Reference:
        Real et al., "Regularized Evolution for Image Classifier Architecture
        Search", AAAI 2019.
    """

    def __init__(
        self,
        hypermodel=None,
        objective=None,
        max_trials=10,
        population_size=20,
        sample_size=5,
        num_mutations=1,
        local_mutation_probability=0.0,
        crossover_probability=0.0,
        seed=None,
        hyperparameters=None,
        tune_new_entries=True,
        allow_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        **kwargs,
    ):
        self.seed = seed
        oracle = RegularizedEvolutionOracle(
            objective=objective,
            max_trials=max_trials,
            population_size=population_size,
            sample_size=sample_size,
            num_mutations=num_mutations,
            local_mutation_probability=local_mutation_probability,
            crossover_probability=crossover_probability,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        super().__init__(oracle, hypermodel, **kwargs)
