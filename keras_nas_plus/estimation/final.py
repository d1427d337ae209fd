"""The final phase of a lower-fidelity search: re-train the top-k at full fidelity.

Also the halving rungs of the successive-halving schedule and the training
of one architecture at a given fidelity (shared with the fidelity report).

Reference:
    Elsken, Metzen & Hutter, "Neural Architecture Search: A Survey", JMLR
    2019, Section 5 (lower fidelity estimates); Jamieson & Talwalkar,
    "Non-stochastic Best Arm Identification and Hyperparameter
    Optimization", AISTATS 2016 (successive halving).
"""

import math
import time

from keras_nas_plus.estimation.fidelity import Fidelity
from keras_nas_plus.estimation.fidelity import reduce_data
from keras_nas_plus.estimation.fidelity import resize_images
from keras_nas_plus.spaces.scaling import build_model
from keras_nas_plus.vocabulary import objective_direction


def _objective(objective):
    """(name, direction) of a Keras Tuner objective (or a metric name)."""
    name = getattr(objective, "name", objective) or "val_accuracy"
    return str(name), objective_direction(objective if hasattr(objective, "direction") else name, default="max")


def _best_of_history(history, name, direction):
    values = [v for v in history.get(name, []) if v is not None and math.isfinite(float(v))]
    if not values:
        return None
    return float(max(values) if direction == "max" else min(values))


def _step_timer():
    """A callback that times training steps, leaving out the first (graph tracing/compilation)."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps, self.seconds, self._t = 0, 0.0, None

        def on_train_batch_begin(self, batch, logs=None):
            self._t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps > 1:
                self.seconds += time.perf_counter() - self._t

        def train_seconds(self):
            # the first step is replaced by the mean of the others
            return self.seconds * self.steps / (self.steps - 1) if self.steps > 1 else None

    return StepTimer()


def train_architecture(space, values, fidelity, x, y, validation_data, epochs, batch_size=64,
                       objective="val_accuracy", seed=0, data_seed=0, verbose=0):
    """Trains one architecture at a fidelity and scores it.

    Args:
        space: the full-fidelity search space (a HyperModel).
        values: dict of hyperparameter values (or `HyperParameters`).
        fidelity: `Fidelity` (`Fidelity()` = full fidelity).
        x, y: full training data (numpy).
        validation_data: `(x_val, y_val)` at full resolution.
        epochs: int, epochs when `fidelity.epochs` is None.
        batch_size: int, default 64.
        objective: metric name or `keras_tuner.Objective` (default
            `"val_accuracy"`); the best epoch's value is the score.
        seed: int, weight-initialisation seed (default 0).
        data_seed: int, seed of the data subset (default 0).
        verbose: int, `fit` verbosity (default 0).

    Returns:
        dict: `score` (None if not finite), `seconds` (training wall-clock
        seconds of `fit`), `num_params`, `input_shape`, `num_train_examples`,
        `epochs`, and `model` (the trained `keras.Model`).
    """
    import keras
    import keras_tuner

    if isinstance(values, keras_tuner.HyperParameters):
        hp = values.copy()
    else:
        hp = keras_tuner.HyperParameters()
        hp.values = dict(values)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    xs, ys = reduce_data(x, y, fidelity, data_seed)
    xv, yv = validation_data[0], validation_data[1]
    if fidelity.resolution is not None:
        xv = resize_images(xv, fidelity.resolution)
    model = build_model(space, hp, fidelity)
    epochs = fidelity.epochs or epochs
    timer = _step_timer()
    start = time.time()
    history = space.fit(hp, model, xs, ys, validation_data=(xv, yv), epochs=epochs,
                        batch_size=batch_size, verbose=verbose, callbacks=[timer])
    seconds = time.time() - start
    train_seconds = timer.train_seconds()
    name, direction = _objective(objective)
    return {
        "score": _best_of_history(getattr(history, "history", {}) or {}, name, direction),
        "seconds": round(seconds, 3),
        "train_seconds": None if train_seconds is None else round(train_seconds, 3),
        "num_params": int(model.count_params()),
        "input_shape": [None if d is None else int(d) for d in model.inputs[0].shape],
        "num_train_examples": int(len(xs)),
        "epochs": int(epochs),
        "model": model,
    }


def _rank(records, direction):
    ok = [r for r in records if r.get("score") is not None]
    return sorted(ok, key=lambda r: r["score"], reverse=direction == "max")


def halving_rungs(data_fraction, num_trials, top_k, eta=2):
    """Data fractions and numbers of trials of the successive-halving rungs.

    Rung 0 is the search itself (`num_trials` trials at `data_fraction`);
    rung r trains the best `max(top_k, ceil(n_{r-1} / eta))` trials of rung
    r-1 on `min(1, data_fraction * eta**r)` of the training data, until the
    whole training set is used.

    Args:
        data_fraction: float in (0, 1), fraction of rung 0.
        num_trials: int, trials completed in rung 0.
        top_k: int, fewest trials kept per rung.
        eta: int >= 2, the reduction factor (default 2: halving).

    Returns:
        list of `(data_fraction, num_trials)` for rungs 1, 2, ...

    Reference:
        Jamieson & Talwalkar, AISTATS 2016, Algorithm 1 (successive
        halving); Li et al., Hyperband, JMLR 2018, Section 3.
    """
    rungs = []
    fraction, n = data_fraction, num_trials
    while fraction < 1:
        fraction = min(1.0, fraction * eta)
        n = min(n, max(top_k, int(math.ceil(n / eta))))
        rungs.append((fraction, n))
    return rungs


def _trial_record(tuner, trial):
    info = tuner.get_trial_info(trial.trial_id) if hasattr(tuner, "get_trial_info") else {}
    score = trial.score
    return {
        "trial_id": trial.trial_id,
        "hyperparameters": trial.hyperparameters,
        "score": None if score is None or not math.isfinite(float(score)) else float(score),
        "num_train_examples": info.get("num_train_examples"),
        "input_shape": info.get("input_shape"),
    }


def retrain_top_k(tuner, x, y, validation_data, epochs, batch_size=64, seed=0, log=None):
    """The final phase: re-train the best low-fidelity trials at full fidelity.

    With `fidelity.schedule == "successive_halving"`, the completed trials
    are first promoted rung by rung (`halving_rungs`): each rung re-trains
    the better part of the previous rung on twice the data fraction (other
    knobs as in the search), and the `top_k` best of the last rung go on.

    Args:
        tuner: a tuner made by `with_fidelity(...)` that has searched.
        x, y: the full training data (numpy).
        validation_data: `(x_val, y_val)`, full resolution.
        epochs: int, full-fidelity epochs (`search.epochs`).
        batch_size: int, default 64.
        seed: int, initialisation seed of the re-training (default 0).
        log: optional callable taking one line of text.

    Returns:
        dict: `trials` (one record per re-trained trial: `trial_id`,
        `architecture`-free values, `low_fidelity_score`, `score`,
        `seconds`, `num_params`, `input_shape`, `num_train_examples`,
        `epochs`), `best_trial_id`, `best_score`, `seconds` (total),
        `fidelity` (config), `successive_halving` (list of rungs, or None),
        and `model` (the best trained model, not JSON-safe).

    Raises:
        ValueError: if no trial completed.
    """
    fidelity = tuner.fidelity
    name, direction = _objective(tuner.oracle.objective)
    log = log or (lambda text: None)
    start = time.time()
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    candidates = _rank([_trial_record(tuner, t) for t in trials], direction)
    if not candidates:
        raise ValueError("no trial completed successfully; nothing to re-train at full fidelity")
    rungs_out = None
    if fidelity.schedule == "successive_halving":
        rungs_out = [{"rung": 0, "data_fraction": fidelity.data_fraction, "trial_ids": [c["trial_id"] for c in candidates],
                      "scores": [c["score"] for c in candidates], "seconds": None}]
        for r, (fraction, n) in enumerate(halving_rungs(fidelity.data_fraction, len(candidates), fidelity.top_k), 1):
            promoted = candidates[:n]
            rung_fidelity = fidelity.replace(data_fraction=fraction, schedule=None)
            rung_start = time.time()
            scored = []
            for c in promoted:
                res = train_architecture(tuner.hypermodel, c["hyperparameters"], rung_fidelity, x, y, validation_data,
                                         epochs, batch_size, tuner.oracle.objective, seed, tuner.fidelity_seed)
                res.pop("model")
                scored.append(dict(c, score=res["score"], num_train_examples=res["num_train_examples"]))
            candidates = _rank(scored, direction) or promoted
            rungs_out.append({"rung": r, "data_fraction": fraction, "trial_ids": [c["trial_id"] for c in scored],
                              "scores": [c["score"] for c in scored], "seconds": round(time.time() - rung_start, 2)})
            log(f"  successive halving rung {r}: {len(promoted)} trials on {fraction:.0%} of the data "
                f"-> best {candidates[0]['trial_id']} ({candidates[0]['score']:.4f})")
    records, best, best_model = [], None, None
    for c in candidates[:fidelity.top_k]:
        res = train_architecture(tuner.hypermodel, c["hyperparameters"], Fidelity(), x, y, validation_data,
                                 epochs, batch_size, tuner.oracle.objective, seed)
        model = res.pop("model")
        low = tuner.oracle.get_trial(c["trial_id"]).score
        record = {"trial_id": c["trial_id"], "low_fidelity_score": None if low is None else float(low), **res}
        records.append(record)
        better = best is None or (record["score"] is not None and (
            best["score"] is None or (record["score"] > best["score"] if direction == "max" else record["score"] < best["score"])))
        if better:
            best, best_model = record, model
    return {
        "fidelity": fidelity.get_config(),
        "top_k": fidelity.top_k,
        "top_k_epochs": int(epochs),
        "trials": records,
        "best_trial_id": best["trial_id"],
        "best_score": best["score"],
        "successive_halving": rungs_out,
        "seconds": round(time.time() - start, 2),
        "model": best_model,
    }


def format_final_phase(phase, objective="val_accuracy"):
    """Plain-text table of the full-fidelity re-training (best first)."""
    lines = [f"{'trial':>5} {'low-fid ' + objective:>22} {'full ' + objective:>18} {'params':>9} {'seconds':>8}"]
    for r in phase["trials"]:
        low = "-" if r["low_fidelity_score"] is None else f"{r['low_fidelity_score']:.4f}"
        full = "-" if r["score"] is None else f"{r['score']:.4f}"
        mark = "  <- best" if r["trial_id"] == phase["best_trial_id"] else ""
        lines.append(f"{r['trial_id']:>5} {low:>22} {full:>18} {r['num_params']:>9,} {r['seconds']:>8.1f}{mark}")
    return "\n".join(lines)


def run_final_phase(tuner, data, search, verbose=1):
    """`retrain_top_k` for `run_search`, printing its own summary.

    Args:
        tuner: the searched tuner (made by `with_fidelity`).
        data: dict from `keras_nas_plus.run.load_data`.
        search: the validated `search` config section.
        verbose: int, 0 silent.

    Returns:
        the dict of `retrain_top_k`.
    """
    def log(text):
        if verbose:
            print(text, flush=True)

    f = tuner.fidelity
    log(f"\nFinal phase (full fidelity): re-training the top {f.top_k} of the low-fidelity search "
        f"({f.describe()}) for {search['epochs']} epochs on all {len(data['x_train'])} training examples")
    phase = retrain_top_k(tuner, data["x_train"], data["y_train"], (data["x_val"], data["y_val"]),
                          search["epochs"], search["batch_size"], search["seed"], log)
    log(format_final_phase(phase, search["objective"]) + f"\n  ({phase['seconds']:.0f} s)")
    return phase
