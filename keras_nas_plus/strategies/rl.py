"""Reinforcement-learning search (recurrent controller + REINFORCE): oracle and tuner."""

import json
import math
import time
import zlib

import keras_tuner
import numpy as np
from keras_tuner.src.engine.oracle import synchronized

from keras_nas_plus._io import atomic_write_text
from keras_nas_plus.strategies import _controller
from keras_nas_plus.strategies import _hp
from keras_nas_plus.strategies._hp import _nearest_index
from keras_nas_plus.strategies._hp import decision_choices
from keras_nas_plus.strategies.base import NASOracle
from keras_nas_plus.strategies.base import _check_int
from keras_nas_plus.strategies.oracle_tuner import OracleTuner
from keras_nas_plus.strategies.warm_start import WarmStartMixin

_COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED
_FAILED = keras_tuner.engine.trial.TrialStatus.FAILED

#: Reward normalisations understood by `RLControllerOracle(reward=...)`.
REWARD_NORMALISATIONS = ("rank", "standardize", "raw")

# Proposals collide with tried architectures once the policy concentrates;
# after this many collisions the sampling temperature rises by
# `_TEMPERATURE_STEP` per further attempt (a wider neighbourhood of the mode).
_COLLISIONS_AT_T1 = 10
_TEMPERATURE_STEP = 0.25


def _check_float(name, value, minimum=None, maximum=None, min_open=False, max_open=False):
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer))
    ok = ok and math.isfinite(float(value))
    if ok and minimum is not None:
        ok = value > minimum if min_open else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if max_open else value <= maximum
    if not ok:
        lo = "-inf" if minimum is None else f"{minimum}"
        hi = "inf" if maximum is None else f"{maximum}"
        bounds = ("(" if min_open or minimum is None else "[") + f"{lo}, {hi}" + (
            ")" if max_open or maximum is None else "]"
        )
        raise ValueError(f"`{name}` must be a finite float in {bounds}, got {value!r}.")


class RLControllerOracle(WarmStartMixin, NASOracle):
    """Search with a recurrent controller trained by REINFORCE.

    An autoregressive controller (an LSTM or GRU cell shared across steps)
    walks the search space in order and emits one decision per *active*
    hyperparameter; each step's input is the embedding of the previous
    choice, so every decision is conditioned on all earlier ones, and each
    hyperparameter has its own softmax head. `Choice`, `Boolean` and `Int`
    are chosen among their values, `Float` among `float_bins` bin centres
    (see `decision_choices`), `Fixed` and one-value hyperparameters are
    skipped, and hyperparameters of inactive conditional scopes are never
    emitted. Hyperparameters that appear during the search get a new
    (uniform) head the first time they are active.

    Every `batch_size` completed trials, the controller takes one Adam step
    on the REINFORCE loss with entropy bonus,
    `mean_i[-(R_i - b) * log pi(a_i)] - entropy_weight * mean_i[H_i]`, where
    the baseline `b` is an exponential moving average of past rewards
    (`b <- baseline_decay * b + (1 - baseline_decay) * R`; it starts at the
    mean reward of the first batch). The reward `R` of a trial is its
    objective normalised against the `reward_window` most recently completed
    trials (the trial included), oriented so that larger is better (the sign
    is flipped for minimised objectives):

    * `"rank"` (default): the trial's rank fraction in the window, in [0, 1]
      (0 worst, 1 best; ties share their mean rank). Robust to outliers and to
      the objective's scale;
    * `"standardize"`: z-score within the window, clipped to [-3, 3];
    * `"raw"`: the oriented objective itself.

    The decisions sampled for a trial (its *path*) are kept in the oracle's
    state under the trial id until the trial ends, so trials may end in any
    order (asynchronous workers): each reward is credited to the path that
    produced it, and its log-probability is evaluated under the current
    controller at update time. Failed trials and trials whose score is NaN
    give no reward and never enter the window or the baseline; with
    `failure_reward` set, they instead count as samples with that (already
    normalised) reward, still without touching the baseline or window.
    A sample that repeats an architecture already tried is drawn again (after
    10 collisions at a sampling temperature rising by 0.25 per attempt);
    after 50 collisions the proposal is random among untried values, and its
    path is still credited. The controller weights, Adam moments and
    baseline are part of `get_state()` as plain JSON, so a resumed search
    continues the same policy; the same `seed` gives the same proposals.

    Args:
        objective: str, `keras_tuner.Objective`, or list of them. Same as in
            `keras_tuner.RandomSearch` (a single objective is used as reward).
        max_trials: int, default 10. Total number of trials, failed ones
            included.
        cell: str, default "lstm". The recurrent cell, "lstm" or "gru".
        hidden_units: int, default 32. Size of the hidden state and of the
            choice embeddings.
        learning_rate: float > 0, default 0.05. Adam learning rate.
        batch_size: int, default 5. Completed trials (architectures, M in the
            paper) per controller update.
        baseline_decay: float in [0, 1), default 0.8. Decay of the
            exponential-moving-average baseline.
        entropy_weight: float >= 0, default 0.0. Weight of the entropy bonus
            (nats per trajectory).
        float_bins: int >= 2, default 10. Number of values a continuous
            `Float` (or a very wide `Int`) is discretised into.
        reward: str, default "rank". Reward normalisation: "rank",
            "standardize" or "raw" (see above).
        reward_window: int >= 2, default 50. Number of most recent completed
            trials the reward is normalised against.
        failure_reward: float or None, default None. None: failed and NaN
            trials give no reward. A float: their reward (in the units of
            the normalised reward, e.g. 0.0 = worst rank).
        seed: int or None. Random seed (controller initialisation and
            sampling).
        initial_architectures: None (default), `"references"`, or a list of
            dicts of hyperparameter values and/or reference names: proposed
            first, in order, before any sampled trial (warm start, see
            `keras_nas_plus.strategies.warm_start`). The controller *trains* on
            their rewards: each one's path (`path_of`) is credited like a
            sampled trial's, an off-policy sample as for the random fallback.
        hyperparameters, allow_new_entries, tune_new_entries,
        max_retries_per_trial, max_consecutive_failed_trials: as in
            `keras_tuner.Oracle`.
        **options: `NASOracle`'s other arguments (`trial_lease_seconds`,
            `pareto_archive`, `crowding_scale`, `pareto_secondary`).

    Raises:
        ValueError: if an argument is out of range; the message names it.

    Reference:
        Zoph & Le, "Neural Architecture Search with Reinforcement Learning",
        ICLR 2017, Sections 3.1-3.2; Williams, "Simple statistical
        gradient-following algorithms for connectionist reinforcement
        learning", Machine Learning 8, 1992 (REINFORCE).
    """

    def __init__(
        self,
        objective=None,
        max_trials=10,
        cell="lstm",
        hidden_units=32,
        learning_rate=0.05,
        batch_size=5,
        baseline_decay=0.8,
        entropy_weight=0.0,
        float_bins=10,
        reward="rank",
        reward_window=50,
        failure_reward=None,
        seed=None,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        initial_architectures=None,
        **options,
    ):
        if cell not in _controller.CELLS:
            raise ValueError(f"`cell` must be one of {list(_controller.CELLS)}, got {cell!r}.")
        _check_int("hidden_units", hidden_units, 1)
        _check_float("learning_rate", learning_rate, 0.0, min_open=True)
        _check_int("batch_size", batch_size, 1)
        _check_float("baseline_decay", baseline_decay, 0.0, 1.0, max_open=True)
        _check_float("entropy_weight", entropy_weight, 0.0)
        _check_int("float_bins", float_bins, 2)
        if reward not in REWARD_NORMALISATIONS:
            raise ValueError(f"`reward` must be one of {list(REWARD_NORMALISATIONS)}, got {reward!r}.")
        _check_int("reward_window", reward_window, 2)
        if failure_reward is not None:
            _check_float("failure_reward", failure_reward)
        super().__init__(objective=objective, max_trials=max_trials, seed=seed, hyperparameters=hyperparameters,
                         allow_new_entries=allow_new_entries, tune_new_entries=tune_new_entries,
                         max_retries_per_trial=max_retries_per_trial,
                         max_consecutive_failed_trials=max_consecutive_failed_trials, **options)
        self.cell = cell
        self.hidden_units = int(hidden_units)
        self.learning_rate = float(learning_rate)
        self.batch_size = int(batch_size)
        self.baseline_decay = float(baseline_decay)
        self.entropy_weight = float(entropy_weight)
        self.float_bins = int(float_bins)
        self.reward = reward
        self.reward_window = int(reward_window)
        self.failure_reward = None if failure_reward is None else float(failure_reward)
        self._params = None
        self._adam_m, self._adam_v, self._adam_step = {}, {}, 0
        self.baseline = None
        self.num_updates = 0
        self._samples = {}  # trial id -> path [[name, index], ...]
        self._pending = []  # ended trial ids waiting for the next update
        #: Wall seconds of the most recent controller update (not saved).
        self.last_update_seconds = None
        self._init_warm_start(initial_architectures)

    # ------------------------------------------------------------ controller
    def _ensure_core(self):
        if self._params is None:
            rng = np.random.default_rng([int(self.seed), 0x524C])
            self._params = _controller.init_params(self.cell, self.hidden_units, self.hidden_units, rng)

    def _ensure_head(self, name, num_values):
        self._ensure_core()
        if f"head/{name}/W" not in self._params:
            rng = np.random.default_rng([int(self.seed), zlib.crc32(str(name).encode("utf-8"))])
            _controller.add_head(self._params, name, num_values, rng)

    def _choices(self, hp):
        cache = self.__dict__.setdefault("_choices_cache", {})
        key = (hp.name, id(hp))
        if key not in cache:
            cache[key] = decision_choices(hp, self.float_bins)
        return cache[key]

    def _walk(self, choose):
        """Walks the active decisions in space order.

        `choose(hp, choices, logits_fn)` returns the index chosen for `hp`;
        `logits_fn()` gives the controller's logits at that step. Recurrent
        states and logits are cached by path prefix until the weights change
        (repeated samples after collisions share their prefixes).
        """
        self._ensure_core()
        key = self._controller_fingerprint()
        if getattr(self, "_prefix_cache_key", None) != key:
            self._prefix_cache, self._prefix_cache_key = {}, key
        cache = self._prefix_cache
        values, path = {}, []
        prefix = ()
        for hp in self.hyperparameters.space:
            if hp.name in values or not _hp.is_active(hp, values):
                continue
            choices = self._choices(hp)
            if len(choices) == 1:
                values[hp.name] = choices[0]
                continue
            self._ensure_head(hp.name, len(choices))
            step_key = (prefix, hp.name)

            def logits_fn(prefix=prefix, step_key=step_key, name=hp.name):
                if step_key not in cache:
                    if prefix:
                        prev_state = cache[prefix]
                    else:
                        prev_state = _controller.initial_state(self._params, self.cell)
                    last = prefix[-1] if prefix else None
                    x = self._params["start"] if last is None else self._params[f"embed/{last[0]}"][last[1]]
                    new_state, _ = _controller.cell_step(self._params, self.cell, x, prev_state)
                    cache[step_key] = (new_state, _controller.logits(self._params, name, new_state[0]))
                return cache[step_key][1]

            index = int(choose(hp, choices, logits_fn))
            logits_fn()  # the step's state is needed by the next step
            cache[prefix + ((hp.name, index),)] = cache[step_key][0]
            values[hp.name] = choices[index]
            path.append([hp.name, index])
            prefix = prefix + ((hp.name, index),)
        return values, path

    def sample(self, rng, temperature=1.0):
        """Samples one architecture from the controller.

        Args:
            rng: `numpy.random.Generator`.
            temperature: float > 0, default 1.0. Softmax temperature.

        Returns:
            tuple `(values, path)`: dict of the active hyperparameters'
            values, and the decisions as a list of `[name, index]`.
        """

        def choose(hp, choices, logits_fn):
            p = _controller.softmax(logits_fn(), temperature)
            cdf = np.cumsum(p)
            return min(int(np.searchsorted(cdf, rng.uniform() * cdf[-1], side="right")), len(p) - 1)

        return self._walk(choose)

    def path_of(self, values):
        """The decisions (list of `[name, index]`) that produce `values`.

        Values that are not among a decision's choices (e.g. a continuous
        `Float`) map to the nearest choice.
        """

        def choose(hp, choices, logits_fn):
            return _nearest_index(hp, choices, values.get(hp.name, hp.default))

        return self._walk(choose)[1]

    def probabilities(self, path):
        """The controller's probability vectors along `path` (list of arrays).

        The step `t` vector is the distribution of decision `path[t][0]`
        given the earlier decisions of the path.
        """
        for name, _ in path:
            if f"head/{name}/W" not in self._params:
                raise ValueError(f"The controller has no decision named {name!r}.")
        probs, _ = _controller.forward(self._params, self.cell, [tuple(s) for s in path])
        return probs

    # ---------------------------------------------------------------- search
    def propose(self, trial_id, rng):
        for attempt in range(self.max_proposal_attempts):
            temperature = 1.0 + _TEMPERATURE_STEP * max(0, attempt + 1 - _COLLISIONS_AT_T1)
            values, path = self.sample(rng, temperature)
            if not self.is_duplicate(values):
                self._samples[str(trial_id)] = path
                return values
        values = self.random_unique_values(rng)
        if values is None:
            return None
        self._samples[str(trial_id)] = self.path_of(values)
        return values

    def on_initial_architecture(self, trial_id, values):
        # Warm start: the controller learns from the initial architectures too.
        self._samples[str(trial_id)] = self.path_of(values)

    def _window(self):
        return [self.utility(t) for t in self.completed_trials()[-self.reward_window :]]

    def normalised_reward(self, trial, window=None):
        """The normalised reward of a completed trial; see the class docstring.

        Args:
            trial: a completed `keras_tuner.engine.trial.Trial` with a finite
                score.
            window: optional list of floats, the utilities (scores oriented
                so that larger is better) to normalise against. Default: the
                `reward_window` most recently completed trials.

        Returns:
            float.
        """
        u = self.utility(trial)
        if self.reward == "raw":
            return u
        w = np.asarray(self._window() if window is None else window, dtype=np.float64)
        if self.reward == "rank":
            if len(w) < 2:
                return 0.5
            less = np.sum(w < u)
            ties = max(np.sum(w == u) - 1, 0)
            return float((less + 0.5 * ties) / (len(w) - 1))
        std = float(np.std(w)) if len(w) >= 2 else 0.0
        if std == 0.0:
            return 0.0
        return float(np.clip((u - float(np.mean(w))) / std, -3.0, 3.0))

    def _credit(self, trial_id):
        trial = self.trials.get(trial_id)
        if trial is None or trial_id not in self._samples or trial_id in self._retry_queue:
            return
        ok = trial.status == _COMPLETED and trial.score is not None and math.isfinite(float(trial.score))
        if ok or (trial.status in (_COMPLETED, _FAILED) and self.failure_reward is not None):
            self._pending.append(trial_id)
        else:
            del self._samples[trial_id]
        if len(self._pending) >= self.batch_size:
            self.update_controller()

    def update_controller(self):
        """One REINFORCE step on the pending ended trials (normally automatic).

        Returns:
            float, the loss before the step, or None if nothing was pending.
        """
        start = time.perf_counter()
        window = self._window()
        paths, rewards, finite = [], [], []
        for trial_id in self._pending:
            trial = self.trials[trial_id]
            path = self._samples.pop(trial_id, None)
            if not path or any(f"head/{name}/W" not in self._params for name, _ in path):
                continue  # no decision made (or a path from another controller)
            good = (
                trial.status == _COMPLETED
                and trial.score is not None
                and math.isfinite(float(trial.score))
            )
            paths.append([tuple(s) for s in path])
            if good:
                rewards.append(self.normalised_reward(trial, window))
                finite.append(rewards[-1])
            else:
                rewards.append(self.failure_reward)
        self._pending = []
        if not paths:
            return None
        if self.baseline is None:
            self.baseline = float(np.mean(finite)) if finite else 0.0
        advantages = [r - self.baseline for r in rewards]
        for r in finite:
            self.baseline = self.baseline_decay * self.baseline + (1.0 - self.baseline_decay) * r
        loss, grads = _controller.loss_and_grads(
            self._params, self.cell, paths, advantages, self.entropy_weight
        )
        self._adam_step += 1
        _controller.adam_update(
            self._params, grads, self._adam_m, self._adam_v, self._adam_step, self.learning_rate
        )
        self.num_updates += 1
        self.last_update_seconds = time.perf_counter() - start
        return loss

    def end_trial(self, trial):
        abort = []
        self._end_trial_and_credit(trial, abort)
        if abort:  # the consecutive-failure abort, raised once Keras Tuner's lock is released (issue 22)
            raise abort[0]

    @synchronized
    def _end_trial_and_credit(self, trial, abort):
        # Save once, after the reward is credited (the base class saves on
        # its own; those saves are deferred).
        self._defer_save = True
        try:
            super().end_trial(trial)
        except RuntimeError as e:
            if self.abort_reason is None or str(e) != self.abort_reason:
                raise
            abort.append(e)
        finally:
            self._defer_save = False
        self._credit(str(trial.trial_id))
        self.save()

    # --- reliability (issue 9) ---
    def on_trial_recovered(self, trial):
        # A trial that ended just before a kill (its trial file says so, the
        # saved oracle state does not) is credited on resume.
        self._credit(str(trial.trial_id))
        self.save()
    # --- end reliability ---

    # ----------------------------------------------------------------- state
    def _controller_state(self):
        def arrays(d):
            return {k: np.asarray(v).tolist() for k, v in d.items()}

        return {
            "params": None if self._params is None else arrays(self._params),
            "adam_m": arrays(self._adam_m),
            "adam_v": arrays(self._adam_v),
        }

    def _state_without_controller(self):
        state = super().get_state()
        state["rl"] = {
            "cell": self.cell,
            "hidden_units": self.hidden_units,
            "learning_rate": self.learning_rate,
            "batch_size": self.batch_size,
            "baseline_decay": self.baseline_decay,
            "entropy_weight": self.entropy_weight,
            "float_bins": self.float_bins,
            "reward": self.reward,
            "reward_window": self.reward_window,
            "failure_reward": self.failure_reward,
            "adam_step": self._adam_step,
            "baseline": self.baseline,
            "num_updates": self.num_updates,
            "samples": {k: [[n, int(i)] for n, i in p] for k, p in self._samples.items()},
            "pending": list(self._pending),
        }
        return state

    def get_state(self):
        state = self._state_without_controller()
        state["rl_controller"] = self._controller_state()
        return state

    def _controller_fingerprint(self):
        heads = 0 if self._params is None else len(self._params)
        return (self._adam_step, heads, id(self._params))

    def save(self):
        if getattr(self, "_defer_save", False):
            return
        # The controller's weights change only at updates and when a head is
        # added, but the oracle is saved twice per trial: their JSON text is
        # cached, and spliced into the state's JSON object.
        key = self._controller_fingerprint()
        if getattr(self, "_controller_json_key", None) != key:
            self._controller_json = json.dumps(self._controller_state())
            self._controller_json_key = key
        text = json.dumps(self._state_without_controller())
        text = text[:-1] + ', "rl_controller": ' + self._controller_json + "}"
        atomic_write_text(self._get_oracle_fname(), text)

    def set_state(self, state):
        super().set_state(state)
        rl = state["rl"]

        def arrays(d):
            return {k: np.asarray(v, dtype=np.float64) for k, v in d.items()}

        self.cell = rl["cell"]
        self.hidden_units = rl["hidden_units"]
        self.learning_rate = rl["learning_rate"]
        self.batch_size = rl["batch_size"]
        self.baseline_decay = rl["baseline_decay"]
        self.entropy_weight = rl["entropy_weight"]
        self.float_bins = rl["float_bins"]
        self.reward = rl["reward"]
        self.reward_window = rl["reward_window"]
        self.failure_reward = rl["failure_reward"]
        self._adam_step = rl["adam_step"]
        self.baseline = rl["baseline"]
        self.num_updates = rl["num_updates"]
        self._samples = {k: [[n, int(i)] for n, i in p] for k, p in rl["samples"].items()}
        self._pending = list(rl["pending"])
        self._choices_cache = {}
        self._controller_json_key = None
        controller = state["rl_controller"]
        self._params = None if controller["params"] is None else arrays(controller["params"])
        self._adam_m = arrays(controller["adam_m"])
        self._adam_v = arrays(controller["adam_v"])


class RLSearch(OracleTuner):
    """Tuner that searches with a recurrent controller trained by REINFORCE.

    A drop-in replacement for `keras_tuner.RandomSearch`: same arguments,
    plus the controller settings of `RLControllerOracle`.

    Args:
        hypermodel: `keras_tuner.HyperModel` or a function `build(hp)` that
            returns a compiled Keras model.
        objective: str, `keras_tuner.Objective`, or list of them.
        max_trials: int, default 10. Total number of trials.
        cell: str, default "lstm". "lstm" or "gru".
        hidden_units: int, default 32. Controller state and embedding size.
        learning_rate: float > 0, default 0.05. Controller Adam learning rate.
        batch_size: int, default 5. Completed trials per controller update.
        baseline_decay: float in [0, 1), default 0.8. EMA baseline decay.
        entropy_weight: float >= 0, default 0.0. Entropy bonus weight.
        float_bins: int >= 2, default 10. Bins of a continuous `Float`.
        reward: str, default "rank". "rank", "standardize" or "raw".
        reward_window: int >= 2, default 50. Trials the reward is normalised
            against.
        failure_reward: float or None, default None. Reward of failed/NaN
            trials (None: no reward).
        seed: int or None. Random seed.
        initial_architectures: None (default), `"references"`, or a list of
            dicts of values and/or reference names, proposed first; the
            controller trains on their rewards (docs/warm_start.md).
        hyperparameters, tune_new_entries, allow_new_entries,
        max_retries_per_trial, max_consecutive_failed_trials: as in
            `keras_tuner.RandomSearch`.
        **kwargs: the other arguments of `RLControllerOracle` and those of `keras_tuner.Tuner` and `NASTuner`
            (`directory`, `project_name`, `overwrite`, `executions_per_trial`,
            ...).

    Raises:
        ValueError: if an argument is out of range; the message names it.

    Reference:
        Zoph & Le, "Neural Architecture Search with Reinforcement Learning",
        ICLR 2017.
    """

    oracle_class = RLControllerOracle
