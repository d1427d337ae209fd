import gzip
import json

import keras_tuner
import numpy as np
import pytest

from keras_nas_plus.benchmarks import TabularBenchmark, load_table, run_benchmark, run_search
from keras_nas_plus.benchmarks.harness import format_results
from keras_nas_plus.benchmarks import cli

# 2 x 2 space, the cell (a=2, b=y) is missing from the table.
CSV = """a,b,val,test,secs
1,x,0.50,0.60,10
1,y,0.90,0.70,20
2,x,0.70,0.95,30
"""


@pytest.fixture
def small_csv(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text(CSV)
    return str(path)


def _table(path, **kw):
    return TabularBenchmark.from_csv(path, "a,b", "val", "test", cost_column="secs", **kw)


@pytest.mark.core
def test_table_space_and_lookup(small_csv):
    t = _table(small_csv)
    assert len(t) == 3 and t.optimum == 0.95
    hp = t.hyperparameters()
    assert [p.name for p in hp.space] == ["a", "b"]
    assert hp.space[0].values == [1, 2] and hp.space[1].values == ["x", "y"]
    assert t.lookup({"a": 1, "b": "y", "extra": 3}) == 1
    assert t.lookup({"a": 2, "b": "y"}) is None


@pytest.mark.core
def test_random_search_exact_values(small_csv):
    t = _table(small_csv)
    res = run_benchmark(t, ["random"], queries=[4], seeds=5)
    (entry,) = res["results"]
    # After all 4 proposals (one not in the table, ended FAILED), the
    # best-by-objective cell is (1, y): val 0.90, reported test 0.70.
    assert entry["strategy"] == "random" and entry["queries"] == 4 and entry["seeds"] == 5
    assert entry["mean_report"] == pytest.approx(0.70)
    assert entry["std_report"] == pytest.approx(0.0)
    assert entry["mean_regret"] == pytest.approx(0.25)
    assert entry["failed_queries_per_run"] == 1.0
    assert res["optimum"] == 0.95
    assert res["curves"]["random"][-1] == pytest.approx(0.70)


@pytest.mark.core
def test_grid_search_trace_and_time_budget(small_csv):
    t = _table(small_csv)
    hp = t.hyperparameters()
    obj = keras_tuner.Objective("val", "max")
    oracle = keras_tuner.oracles.GridSearchOracle(obj, max_trials=4, hyperparameters=hp, seed=1)
    trace = run_search(t, oracle, seed=1, max_queries=4)
    # grid order: (1,x), (1,y), (2,x), (2,y: not in table)
    np.testing.assert_allclose(trace["best_report"], [0.60, 0.70, 0.70, 0.70])
    np.testing.assert_allclose(trace["elapsed"], [10, 30, 60, 60])
    assert trace["failed"] == 1
    res = run_benchmark(t, ["grid:2"], time_budget=[15, 35], seeds=3)
    by_budget = {e["time_budget"]: e for e in res["results"]}
    assert by_budget[15.0]["mean_report"] == pytest.approx(0.60)
    assert by_budget[35.0]["mean_report"] == pytest.approx(0.70)
    assert by_budget[35.0]["queries"] == 2.0 and by_budget[35.0]["seeds"] == 2


@pytest.mark.core
def test_workers_overlap_trials_by_their_cost(small_csv):
    t = _table(small_csv)
    obj = keras_tuner.Objective("val", "max")
    order = [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]

    class InOrder(keras_tuner.Oracle):
        def populate_space(self, trial_id):
            return {"status": "RUNNING", "values": order[len(self.trials)]}

    def oracle():
        return InOrder(obj, max_trials=4, hyperparameters=t.hyperparameters(), seed=1)

    trace = run_search(t, oracle(), seed=1, max_queries=4, workers=2)
    # worker0 runs (1,x) over 0-10 s, then (2,x) over 10-40 s; worker1 runs (1,y) over 0-20 s,
    # then (2,y), not in the table, which fails at once (20 s).
    np.testing.assert_allclose(trace["elapsed"], [10, 20, 20, 40])
    np.testing.assert_allclose(trace["best_report"], [0.60, 0.70, 0.70, 0.70])
    assert trace["failed"] == 1
    # A time budget stops before the first trial that would end after it.
    trace = run_search(t, oracle(), seed=1, max_queries=4, time_budget=35, workers=2)
    np.testing.assert_allclose(trace["elapsed"], [10, 20, 20])
    # Keras Tuner's grid search waits (IDLE) while a trial runs: worker0 gets (2,x) only
    # when (1,y) has ended, at 20 s.
    grid = keras_tuner.oracles.GridSearchOracle(obj, max_trials=4, hyperparameters=t.hyperparameters(), seed=1)
    np.testing.assert_allclose(run_search(t, grid, seed=1, max_queries=4, workers=2)["elapsed"], [10, 20, 50, 50])
    with pytest.raises(ValueError, match="workers"):
        run_search(t, oracle(), seed=1, max_queries=4, workers=0)
    with pytest.raises(ValueError, match="workers"):
        run_benchmark(t, ["random"], queries=[4], seeds=1, workers=1.5)


@pytest.mark.core
def test_workers_propose_knowing_only_ended_trials(tmp_path):
    # Without a cost column every trial lasts one time unit: with 3 workers, trial k is
    # proposed when trials 0..k-3 have ended.
    path = tmp_path / "grid.csv"
    path.write_text("a,val,test\n" + "".join(f"{a},{a / 10},{a / 10}\n" for a in range(10)))
    t = TabularBenchmark.from_csv(str(path), "a", "val", "test")
    seen = []

    class Recording(keras_tuner.oracles.RandomSearchOracle):
        def populate_space(self, trial_id):
            seen.append(sum(t.status == "COMPLETED" for t in self.trials.values()))
            return super().populate_space(trial_id)

    def factory(hp, objective, max_trials, seed):
        return Recording(objective, max_trials=max_trials, hyperparameters=hp, seed=seed)

    res = run_benchmark(t, [("recording", factory, 1)], queries=[8], seeds=1, workers=3)
    assert seen == [0, 0, 0, 1, 2, 3, 4, 5]
    assert res["results"][0]["queries"] == 8 and res["workers"] == 3
    assert format_results(res).splitlines()[0].endswith(" workers=3")


@pytest.mark.core
def test_min_direction_and_any_oracle_factory(small_csv):
    t = TabularBenchmark.from_csv(small_csv, ["a", "b"], "val", "test", direction="min")
    assert t.optimum == 0.60

    def factory(hp, objective, max_trials, seed):
        assert objective.direction == "min"
        return keras_tuner.oracles.GridSearchOracle(objective, max_trials=max_trials, hyperparameters=hp, seed=seed)

    res = run_benchmark(t, [("mygrid", factory, 2)], queries=[1, 3])
    assert [e["mean_report"] for e in res["results"]] == pytest.approx([0.60, 0.60])
    assert res["results"][0]["mean_regret"] == pytest.approx(0.0)


@pytest.mark.core
@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("a,b,val,test,secs\n", "no data rows"),
        ("a,b,val,secs\n1,x,0.5,3\n", "missing column 'test'"),
        ("a,b,val,test,secs\n1,x,0.5,high,3\n", "column 'test' must be numeric"),
        ("a,b,val,test,secs\n1,x,0.5,0.6,3\n1,x,0.7,0.8,3\n", "same decisions"),
    ],
)
def test_bad_tables(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        _table(str(path))
    assert "bad.csv" in str(info.value)


@pytest.mark.core
def test_cli_json_and_errors(small_csv, tmp_path, capsys):
    out = tmp_path / "out.json"
    rc = cli.main(
        ["benchmark", "--table", small_csv, "--decision-columns", "a,b", "--objective-column", "val",
         "--report-column", "test", "--strategy", "random:3", "--strategy", "grid:1", "--queries", "4",
         "--json", str(out), "--quiet"]
    )
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["optimum"] == 0.95
    assert [(r["strategy"], r["seeds"], r["queries"]) for r in data["results"]] == [("random", 3, 4), ("grid", 1, 4)]
    assert all(r["mean_report"] == pytest.approx(0.70) for r in data["results"])
    assert set(data["results"][0]) >= {"strategy", "queries", "seeds", "mean_report", "std_report", "mean_regret"}
    rc = cli.main(["benchmark", "--table", small_csv, "--decision-columns", "a,zz", "--objective-column", "val", "--quiet"])
    assert rc == 2 and "missing column 'zz'" in capsys.readouterr().err
    rc = cli.main(["benchmark", "--strategy", "annealing", "--quiet"])
    assert rc == 2


@pytest.mark.core
def test_shipped_nb201_table():
    noisy = load_table("nb201-cifar10", "noisy")
    mean = load_table("nb201-cifar10", "mean")
    low = load_table("nb201-cifar10", "12ep")
    assert len(noisy) == 15625 and noisy.optimum == pytest.approx(94.3733)
    best = int(np.argmax(mean.objective))
    assert mean.objective[best] == pytest.approx(91.607, abs=1e-3)
    assert mean.report[best] == pytest.approx(94.3733)
    assert np.mean(mean.report) == pytest.approx(87.06, abs=0.01)
    np.testing.assert_allclose(low.cost, mean.cost * 12 / 200)
    a, b = noisy.objective_for_run(1), noisy.objective_for_run(2)
    np.testing.assert_array_equal(a, noisy.objective_for_run(1))
    assert np.any(a != b)
    # each run sees one of the seeds, whose mean is the seed-mean column
    assert np.all(np.isclose(a[:, None], noisy.noisy_objective).any(axis=1))
    np.testing.assert_allclose(np.nanmean(noisy.noisy_objective, axis=1), mean.objective, atol=1e-3)
    res = run_benchmark(mean, ["random"], queries=[5, 20], seeds=2)
    assert res["results"][0]["mean_report"] <= res["results"][1]["mean_report"] <= 94.3733
    with pytest.raises(ValueError, match="objective"):
        load_table("nb201-cifar10", "best")


@pytest.mark.core
def test_evolution_strategy_if_available():
    oracles = pytest.importorskip("keras_nas_plus.oracles")
    if not hasattr(oracles, "RegularizedEvolutionOracle"):
        pytest.skip("RegularizedEvolutionOracle not available")
    table = load_table("nb201-cifar10", "mean")
    res = run_benchmark(table, ["evolution:2", "rl:1"][:1], queries=[30], seeds=2)
    entry = res["results"][0]
    assert entry["strategy"] == "evolution" and entry["failed_queries_per_run"] == 0.0
    assert 85.0 < entry["mean_report"] <= 94.3733


def test_two_objective_benchmark_reports_regret_and_hypervolume(tmp_path, capsys):
    import json

    from keras_nas_plus import cli

    out = tmp_path / "mo.json"
    code = cli.main(["benchmark", "--table", "nb201-cifar10", "--objective-column", "valid_acc_200ep:max",
                     "--objective-column", "params_mb:min", "--strategy", "evolution", "--strategy", "random",
                     "--queries", "30", "--seeds", "2", "--json", str(out), "--quiet"])
    assert code == 0
    result = json.load(open(out))
    assert [r["strategy"] for r in result["results"]] == ["evolution", "random"]
    for r in result["results"]:
        assert r["objectives"] == ["valid_acc_200ep:max", "params_mb:min"]
        assert 0.0 <= r["mean_budget_regret"] < 10.0
        assert 0.0 < r["mean_hypervolume_ratio"] <= 1.0
    assert len(result["budgets"]) == 5
    code = cli.main(["benchmark", "--objective-column", "a:max", "--objective-column", "b:min",
                     "--objective-column", "c:min", "--seeds", "1"])
    assert code == 2
    assert "exactly 2" in capsys.readouterr().err
