"""Trials that fail to build, raise in fit, diverge to NaN or exceed
`max_model_size` are recorded as FAILED with their reason; the search goes on
(real training of tiny models, about 20-40 s on a loaded 2-core CPU)."""

import keras
import keras_tuner as kt
import pytest

from keras_nas_plus import RegularizedEvolution

pytestmark = pytest.mark.core

MODES = ["ok", "build", "fit", "nan", "big", "fine"]


class FlakyModel(kt.HyperModel):
    """A space with one decision whose values each fail differently."""

    def build(self, hp):
        mode = hp.Choice("mode", MODES)
        if mode == "build":
            raise ValueError("this architecture does not build: bad op 'sep_conv_9x9'")
        inputs = keras.Input((8, 8))
        x = keras.layers.Flatten()(inputs)
        x = keras.layers.Rescaling(1 / 255)(x)
        x = keras.layers.Dense(2000 if mode == "big" else 8, activation="relu")(x)
        outputs = keras.layers.Dense(3, activation="softmax")(x)
        if mode == "nan":
            outputs = keras.layers.Lambda(lambda t: t * float("nan"))(outputs)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, model, *args, **kwargs):
        if hp.get("mode") == "fit":
            raise RuntimeError("out of memory while training (simulated)")
        return model.fit(*args, **kwargs)


def test_each_kind_of_failure_is_recorded_and_the_search_goes_on(tiny_images, tmp_path):
    (x, y), (xv, yv), _ = tiny_images
    # population_size = 6: all six modes are tried once, in a random order
    tuner = RegularizedEvolution(FlakyModel(), objective="val_accuracy", max_trials=6, population_size=6,
                                 sample_size=2, seed=0, max_model_size=1000, max_consecutive_failed_trials=5,
                                 directory=str(tmp_path), project_name="p")
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=20, verbose=0)
    trials = {t.hyperparameters.values["mode"]: t for t in tuner.oracle.trials.values()}
    assert sorted(trials) == sorted(MODES)
    reasons = {
        "build": "this architecture does not build: bad op 'sep_conv_9x9'",
        "fit": "out of memory while training (simulated)",
        "nan": "training loss became nan",
        "big": "max_model_size=1000",  # a constraint like max_params (issue 22, item 13)
    }
    for mode, reason in reasons.items():
        assert trials[mode].status == "FAILED", mode
        assert reason in trials[mode].message, (mode, trials[mode].message[-300:])
    for mode in ("ok", "fine"):
        assert trials[mode].status == "COMPLETED"
        assert 0.0 <= trials[mode].score <= 1.0
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.hyperparameters.values["mode"] in ("ok", "fine")
    assert best.trial_id not in {trials[m].trial_id for m in reasons}


def test_nan_first_trial_does_not_freeze_best_so_far(tiny_images, tmp_path, capsys):
    (x, y), (xv, yv), _ = tiny_images
    hp = kt.HyperParameters()
    hp.Choice("mode", ["nan", "ok", "fine"], ordered=False)

    class NanFirst(FlakyModel):
        def build(self, hp):
            return super().build(hp)

    tuner = RegularizedEvolution(NanFirst(), objective="val_accuracy", max_trials=3, population_size=3,
                                 sample_size=1, seed=0, hyperparameters=hp, tune_new_entries=False,
                                 directory=str(tmp_path), project_name="p", progress=True)
    # make the first proposal the NaN one, whatever the seed draws
    propose = tuner.oracle.propose
    tuner.oracle.propose = lambda trial_id, rng: {"mode": "nan"} if trial_id == "0" else propose(trial_id, rng)
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=20, verbose=0)
    out = capsys.readouterr().out
    assert tuner.oracle.trials["0"].status == "FAILED"
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.status == "COMPLETED" and best.trial_id != "0"
    assert "[3/3]" in out and f"best so far {best.score:.4f}" in out
