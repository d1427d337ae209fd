"""The final phase's `min_epochs`: train the best trial expected to get enough epochs (issue 23)."""

from types import SimpleNamespace

import numpy as np
import pytest

from keras_nas_plus.config import ConfigError
from keras_nas_plus.config import final_training_from_config
from keras_nas_plus.config import validate_config
from keras_nas_plus.estimation import FinalTraining

pytestmark = pytest.mark.core

# Two trials of the main example on 2026-12-08 (seed 2): 3 epochs on 8,500 images each; the
# final phase trains on 8,500 + 1,500 images for 420 s.
TRIALS = {
    "002": (0.7960, 85.2733),  # ResNet-14, 619 k weights: trained 11 final epochs
    "001": (0.7493, 47.8776),  # WRN-16-1
    "000": (0.7267, 24.8127),  # WRN-10-1
}


class FakeTuner:
    def __init__(self, trials, timing=True):
        self.trials = {tid: SimpleNamespace(trial_id=tid, score=score) for tid, (score, _) in trials.items()}
        self.info = {tid: {"epochs_trained": 3, "num_train_examples": 8500,
                           "timing": {"train_seconds": seconds} if timing else {}}
                     for tid, (_, seconds) in trials.items()}
        self.oracle = SimpleNamespace(trials=self.trials, get_best_trials=self._best)

    def _best(self, n):
        ranked = sorted(self.trials.values(), key=lambda t: -np.inf if t.score is None else t.score, reverse=True)
        return ranked[:n]

    def get_trial_info(self, trial_id):
        return self.info[trial_id]


def _final(**kwargs):
    data = {"x_train": np.zeros((8500, 1), "uint8"), "x_val": np.zeros((1500, 1), "uint8")}
    return FinalTraining(data, epochs=400, time_budget=420, verbose=0, **kwargs)


def test_expected_epochs_scale_the_trial_seconds_to_the_final_data_and_budget():
    final, tuner = _final(min_epochs=20), FakeTuner(TRIALS)
    # 420 s / (85.2733 s / 3 epochs / 8,500 images * 10,000 images) = 12.56 epochs.
    assert final.expected_final_epochs(tuner, tuner.trials["002"]) == pytest.approx(12.56, abs=0.01)
    assert final.expected_final_epochs(tuner, tuner.trials["001"]) == pytest.approx(22.37, abs=0.01)


def test_min_epochs_skips_the_best_trial_when_it_would_train_too_few_epochs(capsys):
    final = _final(min_epochs=20)
    final.verbose = 1
    chosen = final.best_trial(FakeTuner(TRIALS))
    assert chosen.trial_id == "001"
    assert final.pick == {"min_epochs": 20, "expected_epochs": 22.4, "best_trial_id": "002"}
    assert "trial 002 is expected to train fewer than min_epochs=20 epochs in 420 s; trial 001" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, tuner, expected_pick", [
    ({"min_epochs": 0}, FakeTuner(TRIALS), None),                      # off: the best trial
    ({"min_epochs": 10}, FakeTuner(TRIALS), 12.6),                     # the best is fast enough
    ({"min_epochs": 100}, FakeTuner(TRIALS), None),                    # none is: the best trial
    ({"min_epochs": 20}, FakeTuner(TRIALS, timing=False), None),       # no timing kept
])
def test_min_epochs_keeps_the_best_trial_otherwise(kwargs, tuner, expected_pick):
    final = _final(**kwargs)
    assert final.best_trial(tuner).trial_id == "002"
    assert (final.pick or {}).get("expected_epochs") == expected_pick


def test_min_epochs_without_a_time_budget_keeps_the_best_trial():
    final = FinalTraining({"x_train": np.zeros((10, 1))}, epochs=5, min_epochs=20, verbose=0)
    assert final.best_trial(FakeTuner(TRIALS)).trial_id == "002"
    with pytest.raises(ValueError, match="min_epochs"):
        _final(min_epochs=-1)


def test_config_min_epochs_needs_a_time_budget_and_reaches_the_estimator():
    search = validate_config({"search": {"final_training": {"time_budget": 420, "min_epochs": 20}}})["search"]
    assert final_training_from_config(search, {"x_train": np.zeros((10, 1))}).min_epochs == 20
    with pytest.raises(ConfigError, match=r"search.final_training.min_epochs: 20 needs search.final_training.time_budget"):
        validate_config({"search": {"final_training": {"min_epochs": 20}}})
    with pytest.raises(ConfigError, match=r"search.final_training.min_epochs: expected an integer >= 0"):
        validate_config({"search": {"final_training": {"time_budget": 420, "min_epochs": -1}}})
