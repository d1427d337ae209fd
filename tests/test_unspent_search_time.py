"""`search.final_training.add_unspent_search_time` (issue 23): the final phase gets the seconds the
search left of its `time_budget`, so a run keeps to the two budgets' sum."""

import json

import pytest

from keras_nas_plus.app.run import run_search
from keras_nas_plus.app.run import unspent_search_seconds
from keras_nas_plus.config import ConfigError
from keras_nas_plus.config import validate_config

pytestmark = pytest.mark.core


def test_unspent_seconds_are_the_budget_minus_the_search_and_never_negative():
    assert unspent_search_seconds(170, 153.0, True) == pytest.approx(17.0)
    assert unspent_search_seconds(170.0, 171.5, True) == 0.0  # overran by the trial in flight
    assert unspent_search_seconds(170, 2.0, False) == 0.0  # no trial this call: nothing to hand on


def _config(tmp_path, **final):
    from test_config_cli import tiny_config

    return tiny_config(tmp_path, max_trials=1, time_budget=120,
                       final_training={"epochs": 1, "time_budget": 30, **final})


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"search\.final_training\.add_unspent_search_time.*true or false"):
        validate_config(_config(tmp_path, add_unspent_search_time="yes"))
    with pytest.raises(ConfigError, match=r"add_unspent_search_time: expected true or false .*, got null$"):
        validate_config(_config(tmp_path, add_unspent_search_time=None))  # YAML's word, not Python's None
    config = _config(tmp_path, add_unspent_search_time=True)
    config["search"]["time_budget"] = None
    with pytest.raises(ConfigError, match=r"add_unspent_search_time: true needs search\.time_budget"):
        validate_config(config)
    config = _config(tmp_path, add_unspent_search_time=True)
    del config["search"]["final_training"]["time_budget"]
    with pytest.raises(ConfigError, match=r"needs search\.final_training\.time_budget"):
        validate_config(config)
    validate_config(_config(tmp_path, add_unspent_search_time=False, time_budget=None))  # off: no need


def test_final_phase_gets_the_search_budget_left_and_retrain_final_adds_none(tmp_path, capsys):
    config = validate_config(_config(tmp_path, add_unspent_search_time=True))
    results = run_search(config)
    phase = results["final_phase"]
    # one tiny trial takes a few seconds of the 120 s budget; the rest goes to the final phase
    assert 60 < phase["added_search_seconds"] < 120
    assert phase["time_budget"] == pytest.approx(30 + phase["added_search_seconds"])
    assert phase["added_search_seconds"] <= 120 - results["search_seconds"] + 1e-6
    assert "unused: the final phase gets them" in capsys.readouterr().out
    saved = json.load(open(tmp_path / "run" / "results.json"))["final_phase"]
    assert saved["added_search_seconds"] == phase["added_search_seconds"]
    again = run_search(config, retrain_final=True)  # no trial ran in this call
    assert "nothing added to the final phase's 30 s" in capsys.readouterr().out
    assert again["final_phase"]["added_search_seconds"] == 0.0
    assert again["final_phase"]["time_budget"] == 30


def test_off_by_default_the_final_budget_is_its_own(tmp_path):
    results = run_search(validate_config(_config(tmp_path)))
    assert results["final_phase"]["time_budget"] == 30
    assert "added_search_seconds" not in results["final_phase"]
