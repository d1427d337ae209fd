"""benchmarks/equal_compute/summarize.py on the committed GPU results (issue 23).

The numbers asserted are the ones on the results page: each search arm against the anchor run in
its own device session, in test-accuracy points.
"""

import importlib.util
import os

import pytest

pytestmark = pytest.mark.core

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks", "equal_compute")


def _summarize():
    spec = importlib.util.spec_from_file_location("equal_compute_summarize", os.path.join(BENCH, "summarize.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_leads_over_each_sessions_anchor():
    summarize = _summarize()
    dirs = [os.path.join(BENCH, "results", s) for s in ("h100_s1", "h100_s2", "h100_s3")]
    rows = [row for d in dirs for row in summarize.rows_of(d)]
    assert [r["arm"].split()[0] for r in rows] == ["anchor", "evolution", "anchor", "evolution", "anchor",
                                                   "evolution", "random"]
    summary = summarize.leads(rows)
    evolution = summary["evolution"]
    assert [run[2] for run in evolution["runs"]] == [0.27, 0.23, -0.02]
    assert [run[3] for run in evolution["runs"]] == [0.25, 0.17, -0.28]
    assert evolution["mean"] == 0.16 and evolution["mean_without_tta"] == 0.05 and evolution["min"] == -0.02
    assert evolution["met"] is False
    random = summary["random"]
    assert [run[2] for run in random["runs"]] == [0.31] and random["met"] is False
    text = summarize.leads_table(summary)
    assert "| evolution | 3 | +0.27 (h100_s1), +0.23 (h100_s2), -0.02 (h100_s3) | +0.16 | +0.05 | -0.02 | not met |" in text


def test_final_ensemble_arms_are_their_own_configuration():
    summarize = _summarize()
    rows = summarize.rows_of(os.path.join(BENCH, "results", "h100_s4"))
    assert [r["arm"] for r in rows] == ["anchor WRN-16-8 (hand-written)", "evolution + ensemble of 2 (search_seed0)",
                                        "evolution + ensemble of 2 (search_seed1)"]
    assert rows[1]["architecture"] == ("ResNet-16 blocks 2-1-3 filters 128-256-256 + "
                                       "ResNet-14 blocks 2-1-2 filters 96-128-512")
    assert rows[1]["params"] == 13281716 and rows[1]["epochs"] == 105
    summary = summarize.leads(rows)
    assert list(summary) == ["evolution + ensemble of 2"]
    ensemble = summary["evolution + ensemble of 2"]
    assert [run[2] for run in ensemble["runs"]] == [0.30, 0.22]
    assert [run[3] for run in ensemble["runs"]] == [0.42, 0.21]
    assert ensemble["mean"] == 0.26 and ensemble["mean_without_tta"] == 0.32 and ensemble["met"] is False


def test_bar_needs_three_runs_a_mean_of_three_tenths_and_none_below():
    summarize = _summarize()

    def rows(*accs):
        out = []
        for i, acc in enumerate(accs):
            out.append({"arm": "anchor WRN-16-8", "session": f"s{i}", "acc": 0.95})
            out.append({"arm": "evolution (search)", "session": f"s{i}", "acc": acc, "acc_plain": acc})
        return out

    assert summarize.leads(rows(0.954, 0.953, 0.953))["evolution"]["met"] is True
    assert summarize.leads(rows(0.954, 0.953))["evolution"]["met"] is False
    assert summarize.leads(rows(0.960, 0.955, 0.9499))["evolution"]["met"] is False
    assert summarize.leads(rows(0.953, 0.952, 0.953))["evolution"]["met"] is False


def test_session_six_after_the_fix():
    summarize = _summarize()
    rows = summarize.rows_of(os.path.join(BENCH, "results", "h100_s6"))
    assert [r["arm"] for r in rows] == ["anchor WRN-16-8 (hand-written)", "evolution (search_seed2)",
                                        "evolution (search_seed0)"]
    assert rows[0]["acc"] == 0.956 and rows[0]["epochs"] == 146
    assert [r["epochs"] for r in rows[1:]] == [172, 172]
    assert rows[2]["architecture"] == "ResNet-20 blocks 3-2-3 filters 64-192-256" and rows[2]["params"] == 4766938
    evolution = summarize.leads(rows)["evolution"]
    assert [run[2] for run in evolution["runs"]] == [0.12, 0.42]
    assert [run[3] for run in evolution["runs"]] == [0.27, 0.21]
    assert evolution["mean"] == 0.27 and evolution["met"] is False  # two seeds of the three the bar needs


def test_three_seeds_after_the_fix_sessions_six_and_eight():
    summarize = _summarize()
    rows = [row for s in ("h100_s6", "h100_s8") for row in summarize.rows_of(os.path.join(BENCH, "results", s))]
    assert [r["arm"] for r in rows[3:]] == ["anchor WRN-16-8 (hand-written)", "evolution (search_seed1)"]
    anchor, seed1 = rows[3:]
    assert anchor["acc"] == 0.959 and anchor["epochs"] == 135
    assert seed1["acc"] == pytest.approx(0.9612) and seed1["epochs"] == 154 and seed1["params"] == 15171290
    assert seed1["architecture"] == "ResNet-20 blocks 2-3-3 filters 128-192-512"
    evolution = summarize.leads(rows)["evolution"]
    assert [run[2] for run in evolution["runs"]] == [0.12, 0.42, 0.22]
    assert [run[3] for run in evolution["runs"]] == [0.27, 0.21, 0.07]
    # every seed ahead of its session's anchor, but the mean lead is under the bar's +0.30
    assert evolution["mean"] == 0.25 and evolution["min"] == 0.12 and evolution["met"] is False


def test_configuration_labels_what_the_final_phase_changed():
    summarize = _summarize()
    base = {"strategy": {"type": "evolution"}, "final_phase": {"batch_size": 128}}
    assert summarize.configuration(base, {"search": {"batch_size": 128}}) == "evolution"
    changed = {"strategy": {"type": "evolution"},
               "final_phase": {"batch_size": 256, "space_overrides": {"learning_rate": 0.2},
                               "added_search_seconds": 17.3}}
    assert (summarize.configuration(changed, {"search": {"batch_size": 128}})
            == "evolution + final batch 256, lr 0.2 + unspent search time")
    # no config.json: the trials' batch is taken as 128; an option that added nothing still counts
    ensemble = {"strategy": {"type": "random"},
                "final_phase": {"batch_size": 128, "ensemble": {"trials": ["004", "011"]},
                                "added_search_seconds": 0.0}}
    assert summarize.configuration(ensemble) == "random + ensemble of 2 + unspent search time"
    views = {"strategy": {"type": "evolution"}, "final_phase": {"batch_size": 128},
             "test_time_augmentation": {"type": "flip_shift", "views": 18}}
    assert summarize.configuration(views) == "evolution + TTA flip_shift"
    picked = {"strategy": {"type": "evolution"},
              "final_phase": {"batch_size": 128, "min_epochs": {"min_epochs": 20, "expected_epochs": 22.4,
                                                                "best_trial_id": "002"}}}
    assert summarize.configuration(picked) == "evolution + min epochs 20"
