"""Tests of keras_nas_plus.curves (pure learning-curve math)."""

import copy
import csv
import gzip
import json
import math
import os

import numpy as np
import pytest

from keras_nas_plus import curves
from keras_nas_plus.curves import FAMILIES
from keras_nas_plus.curves import CurveExtrapolator
from keras_nas_plus.curves import PredictiveDistribution
from keras_nas_plus.curves import predict_final
from keras_nas_plus.curves import prob_better

pytestmark = pytest.mark.core

HERE = os.path.dirname(os.path.abspath(__file__))
T = 40


def acc_curve(asymptote, n=T, scale=0.5, power=0.8, noise=0.0, seed=0):
    x = np.arange(1, n + 1, dtype=float)
    y = asymptote - scale * x**-power
    return y + np.random.default_rng(seed).normal(0, noise, n)


def loss_curve(asymptote, n=T, scale=2.0, noise=0.0, seed=0):
    x = np.arange(1, n + 1, dtype=float)
    return asymptote + scale / x + np.random.default_rng(seed).normal(0, noise, n)


def test_at_least_eight_families():
    assert len(FAMILIES) >= 8
    assert {"pow3", "pow4", "log_power", "weibull", "mmf", "vapor_pressure", "ilog2", "hill3"} <= set(FAMILIES)


def test_max_mode_known_asymptote():
    y = acc_curve(0.92, noise=0.002)
    true_final = 0.92 - 0.5 * 40**-0.8
    d = predict_final(y[:12], T)
    assert abs(d.mean - true_final) < 0.015
    assert d.prob_better(true_final + 0.05) < 0.05  # clearly cannot reach
    assert d.prob_better(true_final - 0.05) > 0.95  # clearly beats it
    assert 0.0 < d.std < 0.05


def test_min_mode_known_asymptote():
    y = loss_curve(0.30, noise=0.003)
    true_final = 0.30 + 2.0 / 40
    d = predict_final(y[:12], T, mode="min")
    assert abs(d.mean - true_final) < 0.05
    assert prob_better(y[:12], 0.15, T, mode="min") < 0.05  # loss will not get that low
    assert prob_better(y[:12], 0.60, T, mode="min") > 0.95  # already below, keeps falling


def test_min_and_max_are_mirror_images():
    y = acc_curve(0.9, noise=0.003, seed=3)[:10]
    p_max = prob_better(y, 0.88, T, mode="max")
    p_min = prob_better(-y, -0.88, T, mode="min")
    assert p_max == pytest.approx(p_min, abs=1e-9)
    assert predict_final(y, T).mean == pytest.approx(-predict_final(-y, T, mode="min").mean, abs=1e-9)


@pytest.mark.parametrize(
    "curve",
    [
        [],
        [0.5],
        [0.5, 0.6],
        [np.nan] * 6,
        [np.inf, -np.inf, np.nan],
        [0.1] * 10,
        [1e300, 1e301, 1e302, 1e303, 1e304],
        [-1e308, 5.0, np.nan, 7.0, np.inf, 8.0, 8.5],
        [None, 0.2, None, 0.4, 0.5, 0.55],
        [0.3, 0.9, 0.1, 0.95, 0.05, 0.99, 0.2],
        list(np.linspace(1.0, 0.1, 12)),  # decreasing in a max metric
        [1e-300] * 4 + [2e-300],
        "not a curve",
    ],
)
@pytest.mark.parametrize("mode", ["max", "min"])
def test_pathological_curves_never_raise(curve, mode):
    ex = CurveExtrapolator(mode=mode)
    for target in (0.5, -1e9, 1e9, float("nan"), None, float("inf")):
        p = ex.prob_better(curve, target, 20)
        assert 0.0 <= p <= 1.0
    d = ex.predict(curve, 20)
    assert isinstance(d, PredictiveDistribution)
    assert not math.isnan(d.cdf(0.5))


def test_all_nan_curve_is_predicted_to_lose():
    assert prob_better([np.nan] * 5, 0.1, 20) == 0.0
    assert prob_better([np.nan] * 5, 10.0, 20, mode="min") == 0.0


def test_constant_curve():
    d = predict_final([0.1] * 8, T)
    assert d.mean == pytest.approx(0.1, abs=1e-6)
    assert d.prob_better(0.5) < 1e-6
    assert d.prob_better(0.05) > 1 - 1e-6


def test_flat_start_then_rise_is_not_declared_hopeless():
    y = np.concatenate([np.full(5, 0.1), 0.1 + 0.6 * (1 - np.exp(-np.arange(1, 6) / 3.0))])
    d = predict_final(y, T)
    assert d.mean > y[-1]  # still rising
    assert d.prob_better(0.6) > 0.2  # far above the default stopping threshold 0.05


def test_past_horizon_returns_observed_value():
    y = acc_curve(0.9)
    assert predict_final(y, 10).mean == pytest.approx(y[9], abs=1e-9)


def test_references_improve_unusual_shape():
    # A shape none of the families has (late second rise); references share it.
    x = np.arange(1, T + 1, dtype=float)
    shape = 1 - np.exp(-x / 3.0) + 0.3 / (1 + np.exp(-(x - 25) / 2.0))
    rng = np.random.default_rng(0)
    refs = [0.3 + b * shape + rng.normal(0, 0.002, T) for b in rng.uniform(0.3, 0.5, 8)]
    cur = 0.3 + 0.42 * shape
    err_no = abs(predict_final(cur[:15], T).mean - cur[-1])
    err_ref = abs(predict_final(cur[:15], T, reference_curves=refs).mean - cur[-1])
    assert err_ref < 0.5 * err_no
    ex = CurveExtrapolator(prior_weight=0.0)
    for r in refs:
        ex.add_reference_curve(r)
    assert ex.num_references == 8
    assert ex.predict(cur[:15], T).mean == pytest.approx(predict_final(cur[:15], T).mean, abs=1e-9)


def test_distribution_quantiles_and_cdf():
    d = PredictiveDistribution([0.0, 1.0], [0.1, 0.1], [0.5, 0.5])
    assert d.mean == pytest.approx(0.5)
    assert d.cdf(0.5) == pytest.approx(0.5, abs=1e-6)
    assert d.quantile(0.5) == pytest.approx(0.5, abs=1e-3)
    assert d.quantile(0.05) < 0.0 < 1.0 < d.quantile(0.95)
    assert d.prob_better(0.5) == pytest.approx(0.5, abs=1e-6)
    dmin = PredictiveDistribution([0.0], [0.1], [1.0], mode="min")
    assert dmin.prob_better(0.2) > 0.97


def test_warm_start_state_survives_deepcopy_and_config():
    ex = CurveExtrapolator(mode="min", refine=1, temperature=3.0)
    ex.add_reference_curve(loss_curve(0.3))
    ex.predict(loss_curve(0.4)[:8], T)
    ex2 = copy.deepcopy(ex)
    assert ex2.predict(loss_curve(0.4)[:9], T).mean == pytest.approx(ex.predict(loss_curve(0.4)[:9], T).mean)
    ex3 = CurveExtrapolator.from_config(ex.get_config())
    assert ex3.get_config() == ex.get_config()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "auto"},
        {"families": ["pow3", "nope"]},
        {"families": []},
        {"refine": -1},
        {"max_nfev": 0},
        {"temperature": 0.0},
        {"sigma_scale": float("nan")},
        {"prior_weight": 1.5},
        {"max_references": -2},
        {"cache_size": -1},
        {"weighting": "bma"},
    ],
)
def test_invalid_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        CurveExtrapolator(**kwargs)


def test_ensemble_bic_values_and_noise_floor():
    # One model: plain BIC n log(sse/n) + k log n.
    assert curves._ensemble_bic([0.4], [3], 20, 0.0, 2.0) == pytest.approx(20 * math.log(0.02) + 3 * math.log(20))
    # Two identical models average to the same evidence; a much worse second model costs log 2 (x 2 temperature).
    one = curves._ensemble_bic([0.4], [3], 20, 0.0, 2.0)
    assert curves._ensemble_bic([0.4, 0.4], [3, 3], 20, 0.0, 2.0) == pytest.approx(one)
    assert curves._ensemble_bic([0.4, 1e9], [3, 3], 20, 0.0, 2.0) == pytest.approx(one + 4.0 * math.log(2.0))
    # A residual variance below the noise variance is not credited.
    assert curves._ensemble_bic([1e-12], [2], 10, 1e-4, 1.0) == pytest.approx(10 * math.log(1e-4) + 2 * math.log(10))


def _reference_share(ex, curve, n_families=len(FAMILIES)):
    d = ex.predict(curve, T)
    assert d.means.shape[0] > n_families
    return float(d.weights[n_families:].sum())


def test_evidence_weighting_follows_how_well_references_fit():
    x = np.arange(1, T + 1, dtype=float)
    rng = np.random.default_rng(1)
    shape = 1 - np.exp(-x / 3.0) + 0.3 / (1 + np.exp(-(x - 25) / 2.0))  # late second rise
    cur = 0.3 + 0.42 * shape + rng.normal(0, 0.002, T)
    good = [0.3 + b * shape + rng.normal(0, 0.002, T) for b in rng.uniform(0.3, 0.5, 8)]
    bad = [0.3 + np.cumsum(np.abs(rng.normal(0, 0.05, T))) / 3 for _ in range(8)]  # unrelated random walks
    fixed_share = 0.5 * 8 / 11
    shares = {}
    for name, refs in (("good", good), ("bad", bad)):
        ev = CurveExtrapolator(weighting="evidence", gain_weight=0)  # the affine maps' share alone
        fx = CurveExtrapolator(weighting="fixed", gain_weight=0)
        for r in refs:
            ev.add_reference_curve(r)
            fx.add_reference_curve(r)
        assert _reference_share(fx, cur[:30]) == pytest.approx(fixed_share)
        shares[name] = _reference_share(ev, cur[:30])
    assert shares["good"] > fixed_share > shares["bad"]
    assert shares["good"] > 0.9 and shares["bad"] < 0.1
    # The late rise is only known to the references: evidence weighting forecasts it better.
    ev = CurveExtrapolator()
    for r in good:
        ev.add_reference_curve(r)
    assert abs(ev.predict(cur[:30], T).mean - cur[-1]) < abs(predict_final(cur[:30], T).mean - cur[-1])


def test_reference_spread_factor_recalibrates_leave_one_out():
    x = np.arange(1, T + 1, dtype=float)
    rng = np.random.default_rng(3)
    obs = np.arange(10)
    w = np.linspace(0.5, 1.5, obs.shape[0])
    # References that are exact affine copies of one shape: held-out predictions are (almost)
    # exact, far inside their predicted widths -> the widths shrink (factor < 1).
    shape = 1 - np.exp(-x / 6.0)
    R = np.stack([0.2 + b * shape + rng.normal(0, 1e-3, T) for b in rng.uniform(0.5, 0.7, 20)])
    assert curves._reference_spread_factor(R, obs, w, T) < 1.0
    # Early epochs identical, endings unrelated: held-out errors far beyond the widths -> widen.
    R2 = np.stack([0.2 + 0.6 * shape + rng.normal(0, 1e-3, T) for _ in range(20)])
    R2[:, 20:] += rng.uniform(-0.3, 0.3, 20)[:, None]
    assert curves._reference_spread_factor(R2, obs, w, T) > 1.1
    # Too few references or epochs: no recalibration; never outside [0.25, 4].
    assert curves._reference_spread_factor(R[:4], obs, w, T) == 1.0
    assert curves._reference_spread_factor(R, obs[:2], w[:2], T) == 1.0
    for f in (curves._reference_spread_factor(R, obs, w, T), curves._reference_spread_factor(R2, obs, w, T)):
        assert 0.25 <= f <= 4.0


def test_weighting_in_config():
    ex = CurveExtrapolator(weighting="fixed", sigma_scale=1.0)
    clone = CurveExtrapolator.from_config(ex.get_config())
    assert clone.weighting == "fixed" and clone.sigma_scale == 1.0
    assert CurveExtrapolator().weighting == "evidence" and CurveExtrapolator().sigma_scale == 0.15
    assert CurveExtrapolator().temperature == 1.0 and CurveExtrapolator().gain_weight == 0.2
    assert CurveExtrapolator().noise_floor == 1.0
    assert CurveExtrapolator.from_config(CurveExtrapolator(noise_floor=0).get_config()).noise_floor == 0.0
    for bad in (-1, float("nan"), "1", True):
        with pytest.raises(ValueError, match="noise_floor"):
            CurveExtrapolator(noise_floor=bad)


def test_noise_floor_widens_the_prediction_by_the_observation_noise():
    # A noisy plateau: the final epoch's value is one more noisy observation, so the predictive
    # spread is at least the per-epoch noise (here sd 0.01), whatever the fitted families say.
    rng = np.random.default_rng(0)
    refs = [0.9 - 0.3 * np.exp(-np.arange(40) / 4.0) + rng.normal(0, 0.01, 40) for _ in range(6)]
    curve = refs[0][:20]
    sds = {}
    for floor in (0.0, 1.0):
        ex = CurveExtrapolator(noise_floor=floor)
        for r in refs[1:]:
            ex.add_reference_curve(r)
        sds[floor] = ex.predict(curve, 40).std
        assert ex._noise_var(np.asarray(curve)) == pytest.approx(1e-4, rel=0.5)
    assert sds[1.0] > sds[0.0]
    assert sds[1.0] >= 0.01 * 0.8


def test_invalid_final_epoch():
    with pytest.raises(ValueError, match="final_epoch"):
        predict_final([0.1, 0.2], 0)


def _lcdb_curves():
    out = {}
    with open(os.path.join(HERE, "data", "lcdb_mlp_valid_curves.csv")) as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["openmlid"], []).append(float(row["valid_mean"]))
    return out


def test_lcdb_real_noisy_curves():
    """Real sample-size curves (LCDB MLP): finite, bounded forecasts; no worse than 0.1 MAE."""
    errs, base = [], []
    ex = CurveExtrapolator()
    for y in _lcdb_curves().values():
        y = np.asarray(y)
        n = len(y) // 2
        ex.reset()
        d = ex.predict(y[:n], len(y))
        assert math.isfinite(d.mean) and math.isfinite(d.std)
        assert -0.5 < d.mean < 1.5
        assert 0.0 <= d.prob_better(0.9) <= 1.0
        errs.append(abs(d.mean - y[-1]))
        base.append(abs(y[n - 1] - y[-1]))
    assert np.mean(errs) < 0.25
    assert len(errs) == 8


@pytest.mark.parametrize("corpus", ["lc_corpus_fmnist.jsonl.gz", "lc_corpus_fmnist_torch12k.jsonl.gz"])
def test_fashion_mnist_corpus_beats_last_value(corpus):
    """On our own epoch curves (51 JAX / 76 torch), the forecast from 25 % of the epochs beats the last value."""
    path = os.path.join(HERE, "..", "benchmarks", "data", corpus)
    if not os.path.exists(path):
        pytest.skip("corpus not present")
    with gzip.open(path, "rt") as fh:
        recs = [json.loads(line) for line in fh]
    ys = np.array([r["val_accuracy"] for r in recs if "error" not in r], dtype=float)
    ex = CurveExtrapolator(prior_weight=0.0)
    err = np.mean([abs(ex.predict(y[:10], 40).mean - y[-1]) for y in ys])
    last = np.mean([abs(y[9] - y[-1]) for y in ys])
    assert err < last


def test_module_never_imports_keras():
    assert "keras" not in curves.__dict__


def _late_bloomers(seed=5, m=8):
    """References that sit near 0.86 at epoch 5 and gain about 4 pp by epoch 40 (corpus B's shape)."""
    x = np.arange(1, T + 1, dtype=float)
    rng = np.random.default_rng(seed)
    return [0.90 + d - 0.06 * (1 - np.log(x) / np.log(T)) - 0.30 * np.exp(-x) + rng.normal(0, 0.003, T)
            for d in rng.uniform(-0.005, 0.005, m)]


def test_gain_component_is_level_plus_references_gains():
    refs = _late_bloomers()
    ex = CurveExtrapolator()
    for r in refs:
        ex.add_reference_curve(r)
    cur = np.array(refs[0][:6]) - 0.01  # one point below the first reference, same shape
    finite = np.isfinite(cur)
    means, stds, w, m = ex._gain_component(cur, finite, T)
    R = np.stack(refs)
    expect = cur[3:6].mean() + R[:, -1] - R[:, 3:6].mean(axis=1)
    np.testing.assert_allclose(means, expect, atol=1e-12)
    assert m == 8 and np.all(stds > 0) and np.all(np.isfinite(w)) and np.all(w > 0)
    # kernel weights peak at the reference whose level is closest to the curve's
    lv, rl = cur[3:6].mean(), R[:, 3:6].mean(axis=1)
    assert int(np.argmax(w)) == int(np.argmin(np.abs(lv - rl)))
    # the references gain about 3 pp after epoch 6, so the component predicts about the curve's + 3 pp
    assert 0.02 < float(np.average(means, weights=w)) - cur[-1] < 0.045


def test_gain_component_keeps_late_bloomers_alive_and_still_stops_bad_curves():
    refs = _late_bloomers()
    cur = np.array(refs[0][:5])  # a late bloomer at epoch 5: the first reference's own start
    target = max(r[-1] for r in refs)  # best final so far (reference 0 ends 0.3 pp below it)
    p = {}
    for gw in (0.0, 0.2):
        ex = CurveExtrapolator(gain_weight=gw)
        for r in refs:
            ex.add_reference_curve(r)
        p[gw] = ex.prob_better(cur, target, T)
        assert ex.predict(cur, T).weights.shape[0] == len(FAMILIES) + 8 * (2 if gw else 1)
    # without the gain component it would be stopped at the default threshold (P = 0.036), with it not (0.064)
    assert p[0.0] < 0.05 < p[0.2]
    # a curve 6 pp below the references at epoch 5 gains like them and stays far below the target
    ex = CurveExtrapolator()
    for r in refs:
        ex.add_reference_curve(r)
    assert ex.prob_better(np.array(refs[0][:5]) - 0.06, target, T) < 0.01
    assert ex.get_config()["gain_weight"] == 0.2
    assert CurveExtrapolator.from_config(CurveExtrapolator(gain_weight=0.35).get_config()).gain_weight == 0.35
    for bad in (-0.1, 1.5, "0.2", True, float("nan")):
        with pytest.raises(ValueError, match="gain_weight"):
            CurveExtrapolator(gain_weight=bad)


def test_gain_component_min_mode_and_gaps():
    refs = [1.0 - np.asarray(r) for r in _late_bloomers()]  # as losses / errors: lower is better
    ex = CurveExtrapolator(mode="min")
    for r in refs:
        ex.add_reference_curve(r)
    cur = np.array(refs[0][:6]) + 0.002
    d = ex.predict(cur, T)
    assert d.mean < cur[-1] - 0.01  # the references' gains (decreases) carry over, on the metric's scale
    assert ex.prob_better(cur, min(r[-1] for r in refs), T) > 0.05
    # NaN gaps among the last epochs: references and curve alike; never raises, still finite
    gappy = cur.copy()
    gappy[4] = np.nan
    assert math.isfinite(ex.predict(gappy, T).mean)
    ex2 = copy.deepcopy(ex)
    assert ex2.predict(cur, T).mean == pytest.approx(d.mean)


def test_sigma_scale_alone_applies_only_without_references():
    cur = acc_curve(0.9, n=10, noise=0.002, seed=3)
    alone = CurveExtrapolator().predict(cur, T)  # no references: sigma_scale_alone=0.5
    old = CurveExtrapolator(sigma_scale=0.5, sigma_scale_alone=None).predict(cur, T)
    sharp = CurveExtrapolator(sigma_scale_alone=None).predict(cur, T)  # 0.15 everywhere
    np.testing.assert_allclose(alone.stds, old.stds)
    assert alone.mean == pytest.approx(old.mean) and sharp.std < alone.std
    refs = [acc_curve(a, noise=0.002, seed=s) for s, a in enumerate((0.89, 0.9, 0.91, 0.905, 0.895))]
    with_refs, refs_off = [], []
    for kw in ({"sigma_scale_alone": None}, {}, {"sigma_scale_alone": 3.0}):  # 0.15, 0.5, 3.0 alone
        ex = CurveExtrapolator(**kw)
        for r in refs:
            ex.add_reference_curve(r)
        with_refs.append(ex.predict(cur, T).std)
        refs_off.append(ex.predict(cur, T, use_references=False).std)
    assert with_refs[0] == pytest.approx(with_refs[1]) == pytest.approx(with_refs[2])  # only sigma_scale counts
    assert refs_off[0] < refs_off[1] < refs_off[2]  # references not used: sigma_scale_alone counts
    clone = CurveExtrapolator.from_config(CurveExtrapolator(sigma_scale_alone=None).get_config())
    assert clone.sigma_scale_alone is None
    # without references the defaults reproduce the previous defaults (temperature 2, sigma 0.5) exactly
    prev = CurveExtrapolator(temperature=2.0, sigma_scale=0.5, sigma_scale_alone=None, temperature_alone=None)
    d_prev = prev.predict(cur, T)
    np.testing.assert_allclose(alone.weights, d_prev.weights, rtol=1e-9, atol=1e-15)
    assert alone.mean == pytest.approx(d_prev.mean, abs=1e-12) and alone.std == pytest.approx(d_prev.std, rel=1e-9)
    plain = CurveExtrapolator(temperature_alone=None).predict(cur, T)  # plain BIC: sharper family weights
    assert plain.weights.max() > alone.weights.max()
    assert CurveExtrapolator().get_config()["temperature_alone"] == 2.0
    for bad in (0, -2.0, float("nan"), "2", True):
        with pytest.raises(ValueError, match="temperature_alone"):
            CurveExtrapolator(temperature_alone=bad)
    for bad in (0, -1.0, float("inf"), "0.5", True):
        with pytest.raises(ValueError, match="sigma_scale_alone"):
            CurveExtrapolator(sigma_scale_alone=bad)
