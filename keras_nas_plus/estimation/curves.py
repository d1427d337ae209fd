"""Learning-curve extrapolation: parametric curve ensembles and a predictive distribution.

Pure numpy/scipy math, no Keras.  The model follows Domhan, Springenberg & Hutter
(IJCAI 2015, "Speeding up automatic hyperparameter optimization of deep neural
networks by extrapolation of learning curves"): a curve observed for the first
``n`` epochs is fitted by several parametric families of saturating curves, and
their combination yields a predictive distribution of the metric at a final
epoch ``T``.  Previous finished curves of the same search are used as a second
source of evidence in the manner of Chandrashekaran & Lane (ECML-PKDD 2017,
"Speeding up hyper-parameter optimization by extrapolation of learning curves
using previous builds"): every reference curve is mapped onto the observed part
by an affine transform and read off at ``T``.

Choices made here (documented in docs/learning_curves.md):

* **Families.** Ten families, every one written as ``y(x) = c + a * g(x; theta)``
  with ``a >= 0`` and ``g`` non-decreasing, so each fit is a monotone,
  saturating (or slowly growing) curve as in Domhan et al.: pow3, pow4,
  log-power, exp3, Weibull (= Janoschek), MMF, vapor pressure, ilog2,
  log-log linear and Hill.  ``x`` is the 1-based epoch.
* **Fitting.** Variable projection: for fixed nonlinear parameters ``theta`` the
  best ``(c, a)`` is a closed-form least-squares solution, so all families are
  fitted at once over a fixed grid of ``theta`` (one vectorised numpy pass), and
  the best grid point of the top-weighted families is refined with
  ``scipy.optimize.least_squares`` (few evaluations, warm-started from the grid
  or from the previous call's solution, cached per curve).
* **Distribution.** A Gaussian mixture ("Bayesian model averaging with a
  Laplace approximation" instead of Domhan's MCMC): each family contributes
  ``N(f(T), s^2 + var_param)`` where ``s^2`` is its residual variance and
  ``var_param`` the delta-method variance of the extrapolated value; weights are
  ``exp(-BIC/2)`` tempered (``temperature``).  The reference curves add a second
  mixture with prior mass ``prior_weight * m / (m + 3)`` for ``m`` usable references;
  by default (``weighting="evidence"``) the two sides are then weighted by their
  tempered BIC evidence on the observed epochs (one model average), and the
  references' widths are recalibrated leave-one-out on the references themselves.
  ``sigma_scale`` (default 0.15) calibrates the model part of the spread, and the
  per-epoch observation noise (``noise_floor``) is added on top.  A third, fixed share
  (``gain_weight * m / (m + 3)``) is an empirical-gain component: the current level plus
  each reference's own gain from the same epochs to ``T`` (offset-only transfer),
  kernel-weighted by level.
* **Directions.** Everything is computed on the "maximise" scale; for
  ``mode="min"`` the metric is negated on the way in and out.

Nothing in this module raises on bad curve values (NaN, inf, empty, constant,
huge); only argument validation of the public functions raises ``ValueError``.
"""

import math

import numpy as np

from keras_nas_plus.estimation.curve_models import _clean
from keras_nas_plus.estimation.curve_models import _ensemble_bic  # noqa: F401 (re-exported)
from keras_nas_plus.estimation.curve_models import _GAIN_LAST
from keras_nas_plus.estimation.curve_models import _MODES
from keras_nas_plus.estimation.curve_models import _nonneg_slope_fit
from keras_nas_plus.estimation.curve_models import _REF_CALIBRATE
from keras_nas_plus.estimation.curve_models import _REF_INFLATION
from keras_nas_plus.estimation.curve_models import _REF_LL_TEMP
from keras_nas_plus.estimation.curve_models import _REF_SPREAD
from keras_nas_plus.estimation.curve_models import _reference_spread_factor  # noqa: F401 (re-exported)
from keras_nas_plus.estimation.curve_models import _white_noise_var
from keras_nas_plus.estimation.curve_models import FAMILIES  # noqa: F401 (re-exported)
from keras_nas_plus.estimation.curve_models import ParametricFits
from keras_nas_plus.estimation.curve_models import PredictiveDistribution  # noqa: F401 (re-exported)


class CurveExtrapolator(ParametricFits):
    """Stateful learning-curve extrapolator with warm starts and reference curves.

    Args:
        mode: str, "max" (accuracy-like) or "min" (loss-like). Default "max".
        families: sequence of str, subset of ``FAMILIES``. Default all ten.
        refine: int, number of top-weighted families refined with
            ``scipy.optimize.least_squares`` after the grid search. Default 2.
        max_nfev: int, function-evaluation budget of each refinement. Default 30.
        temperature: float > 0, BIC weights are ``exp(-dBIC / (2 temperature))``.
            Default 1.0 (plain BIC). Used when reference curves
            enter the prediction; see ``temperature_alone``.
        sigma_scale: float > 0, multiplies every component's model standard deviation
            (calibration of the predictive spread; the observation noise below is not
            scaled). Default 0.15, chosen with ``noise_floor=1``,
            ``temperature=1`` and ``gain_weight=0.2`` on our Fashion-MNIST learning-curve
            corpora (see docs/learning_curves.md). Used when reference curves enter the
            prediction; see ``sigma_scale_alone``.
        sigma_scale_alone: float > 0 or None, the ``sigma_scale`` used when no reference
            curve enters the prediction (plain ``model.fit`` without references,
            ``use_references=False``, ``prior_weight=0``): the references' calibration is then
            missing and the families' own widths carry the prediction. Default 0.5 (the
            previous default); None uses ``sigma_scale`` always.
        temperature_alone: float > 0 or None, the ``temperature`` of the families' BIC
            weights when no reference curve enters the prediction. Default 2.0 (the previous
            default: plain BIC, 1.0, falsely stops a slowly rising synthetic curve at epoch 5
            without references); None uses ``temperature`` always.
        noise_floor: float >= 0, adds this times the per-epoch observation-noise
            variance (estimated from the reference curves' second differences, or the
            observed curve's) to every component's variance: the final epoch's value is
            itself a noisy observation. Default 1.0; 0 disables.
        weighting: str, how the family ensemble and the reference curves share the
            mixture. "evidence" (default): one Bayesian model average — prior mass
            ``prior_weight * m / (m + 3)`` for the ``m`` references and the rest for the
            families, each side then weighted by its tempered BIC evidence on the observed
            epochs. "fixed": the references get exactly that prior mass.
        prior_weight: float in [0, 1], prior mass ``prior_weight * m / (m + 3)`` of the
            ``m`` reference curves in the mixture (Chandrashekaran & Lane); with
            ``weighting="fixed"`` it is their share. Default 0.5; 0 disables.
        gain_weight: float in [0, 1], share ``gain_weight * m / (m + 3)`` of the mixture
            given to the empirical-gain component: the current level plus each of the ``m``
            references' own gain from the same epochs to the final one, kernel-weighted by
            level (see ``_gain_component``). It gives late improvements that the references
            realised a realistic upper tail. Default 0.2; 0 disables.
        max_references: int, keep at most this many reference curves (most
            recent). Default 200.
        cache_size: int >= 0, memoise this many parametric fits keyed by the exact
            curve and horizon (for replaying many searches over the same curves).
            Default 0 (off).

    Raises:
        ValueError: on an invalid argument (names it).

    Reference:
        Domhan, Springenberg & Hutter, IJCAI 2015, Sections 2-3 (families,
        ensemble, P(y_T > y_best) stopping rule); Chandrashekaran & Lane,
        ECML-PKDD 2017, Section 3 (affine transfer of previous curves).
    """

    def __init__(self, mode="max", families=None, refine=2, max_nfev=30, temperature=1.0,
                 sigma_scale=0.15, prior_weight=0.5, max_references=200, cache_size=0,
                 weighting="evidence", noise_floor=1.0, gain_weight=0.2, sigma_scale_alone=0.5,
                 temperature_alone=2.0):
        if mode not in _MODES:
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        fams = tuple(FAMILIES if families is None else families)
        bad = [f for f in fams if f not in FAMILIES]
        if bad or not fams:
            raise ValueError(f"families must be a non-empty subset of {FAMILIES}, got {families!r}")
        if not isinstance(refine, int) or refine < 0:
            raise ValueError(f"refine must be an int >= 0, got {refine!r}")
        if not isinstance(max_nfev, int) or max_nfev < 1:
            raise ValueError(f"max_nfev must be an int >= 1, got {max_nfev!r}")
        for name, v in (("temperature", temperature), ("sigma_scale", sigma_scale)):
            if not isinstance(v, (int, float)) or not v > 0 or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite float > 0, got {v!r}")
        if not isinstance(prior_weight, (int, float)) or not 0.0 <= prior_weight <= 1.0:
            raise ValueError(f"prior_weight must be a float in [0, 1], got {prior_weight!r}")
        if not isinstance(max_references, int) or max_references < 0:
            raise ValueError(f"max_references must be an int >= 0, got {max_references!r}")
        if weighting not in ("evidence", "fixed"):
            raise ValueError(f"weighting must be 'evidence' or 'fixed', got {weighting!r}")
        if isinstance(noise_floor, bool) or not isinstance(noise_floor, (int, float)) or not (
                noise_floor >= 0 and math.isfinite(noise_floor)):
            raise ValueError(f"noise_floor must be a finite float >= 0, got {noise_floor!r}")
        self.noise_floor = float(noise_floor)
        if isinstance(gain_weight, bool) or not isinstance(gain_weight, (int, float)) or not 0.0 <= gain_weight <= 1.0:
            raise ValueError(f"gain_weight must be a float in [0, 1], got {gain_weight!r}")
        self.gain_weight = float(gain_weight)
        for name, v in (("sigma_scale_alone", sigma_scale_alone), ("temperature_alone", temperature_alone)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0
                                  or not math.isfinite(v)):
                raise ValueError(f"{name} must be a finite float > 0 or None, got {v!r}")
        self.sigma_scale_alone = None if sigma_scale_alone is None else float(sigma_scale_alone)
        self.temperature_alone = None if temperature_alone is None else float(temperature_alone)
        self.mode = mode
        self.weighting = weighting
        self.families = fams
        self.refine = refine
        self.max_nfev = max_nfev
        self.temperature = float(temperature)
        self.sigma_scale = float(sigma_scale)
        self.prior_weight = float(prior_weight)
        self.max_references = max_references
        if not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError(f"cache_size must be an int >= 0, got {cache_size!r}")
        self.cache_size = cache_size
        self._cache = {}
        self._refs = []  # list of 1-D arrays on the maximise scale
        self._ref_noise = None  # cached reference-based noise variance (see `_noise_var`)
        self._warm = {}  # family -> theta from the previous call

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {
            "mode": self.mode, "families": list(self.families), "refine": self.refine,
            "max_nfev": self.max_nfev, "temperature": self.temperature,
            "sigma_scale": self.sigma_scale, "prior_weight": self.prior_weight,
            "max_references": self.max_references, "cache_size": self.cache_size,
            "weighting": self.weighting, "noise_floor": self.noise_floor,
            "gain_weight": self.gain_weight, "sigma_scale_alone": self.sigma_scale_alone,
            "temperature_alone": self.temperature_alone,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -------------------------------------------------------------- references
    def add_reference_curve(self, curve):
        """Adds a finished curve of the same search (metric units, one value per epoch).

        Non-finite values are kept as gaps; curves with fewer than 2 finite values are ignored.

        Returns:
            bool, whether the curve was kept.
        """
        y = _clean(curve)
        if np.isfinite(y).sum() < 2:
            return False
        self._refs.append(y if self.mode == "max" else -y)
        if len(self._refs) > self.max_references:
            self._refs = self._refs[-self.max_references:]
        self._ref_noise = None
        return True

    def clear_references(self):
        self._refs = []
        self._ref_noise = None

    @property
    def num_references(self):
        return len(self._refs)

    def reset(self):
        """Forgets warm starts (call between unrelated curves)."""
        self._warm = {}

    # -------------------------------------------------------------- prediction
    def predict(self, curve, final_epoch, use_references=True):
        """Predictive distribution of the metric at ``final_epoch``.

        Args:
            curve: 1-D sequence of floats, the metric after epochs 1..n (metric units;
                NaN/inf are treated as missing).
            final_epoch: int >= 1, the 1-based epoch to predict (epochs).
            use_references: bool, whether to mix in the reference-curve prior. Default True.

        Returns:
            PredictiveDistribution on the metric's own scale (and mode).  Never raises on bad
            curve values: with no finite value it is a point mass at the worst value (-inf for
            "max", +inf for "min") so nothing is predicted to beat any target.
        """
        try:
            T = int(final_epoch)
        except Exception:
            T = 1
        T = max(T, 1)
        try:
            y = _clean(curve)
            big = float(np.nanmax(np.abs(y))) if np.isfinite(y).any() else 0.0
            s0 = big if big > 1e100 else 1.0  # keep squares finite for huge metrics
            with np.errstate(all="ignore"):
                means, stds, weights = self._predict_max(y / s0, T, use_references and s0 == 1.0)
                means, stds = means * s0, stds * s0
        except Exception:  # last-resort guard: never raise during training
            y = _clean(curve)
            fin = y[np.isfinite(y)]
            v = float(fin[-1]) if fin.size else np.nan
            v = v if self.mode == "max" else -v
            means, stds, weights = np.array([v]), np.array([max(abs(v) * 0.1, 1e-3)]), np.ones(1)
        means = np.nan_to_num(np.asarray(means, float), nan=-1e308, posinf=1e308, neginf=-1e308)
        stds = np.asarray(stds, float)
        stds = np.where(np.isfinite(stds) & (stds > 0), stds, np.maximum(np.abs(means) * 0.1, 1e-12))
        if self.mode == "min":
            means = -means
        return PredictiveDistribution(means, stds, weights, mode=self.mode)

    def prob_better(self, curve, target, final_epoch, use_references=True):
        """P(metric at ``final_epoch`` is better than ``target``); see ``predict``.

        Returns:
            float in [0, 1]; 1.0 when ``target`` is None or NaN.
        """
        if target is None:
            return 1.0
        return self.predict(curve, final_epoch, use_references).prob_better(target)

    # ----------------------------------------------------------------- internals
    def _predict_max(self, y, T, use_refs):
        y = y if self.mode == "max" else -y
        n_all = y.shape[0]
        finite = np.isfinite(y)
        nf = int(finite.sum())
        if nf == 0:
            return np.array([-np.inf]), np.array([1.0]), np.ones(1)
        yf = y[finite]
        last = float(yf[-1])
        if n_all >= T:  # already at (or past) the horizon: the observed value is the answer
            v = float(y[T - 1]) if np.isfinite(y[T - 1]) else last
            s = float(np.std(np.diff(yf))) if nf > 2 else abs(v) * 1e-3
            return np.array([v]), np.array([max(s * 0.5, abs(v) * 1e-6, 1e-12)]), np.ones(1)
        scale = float(np.std(yf)) if nf > 1 else 0.0
        mag = max(abs(last), 1e-12)
        if nf < 3 or scale <= 1e-9 * mag:
            # one/two points or a flat curve: no trend to extrapolate; uncertainty from magnitude
            spread = scale if nf > 1 else 0.0
            s = max(spread, 1e-3 * mag, 1e-12)
            if nf < 3:
                s = max(s, 0.05 * mag)
            comps = [(np.array([last]), np.array([s]), np.ones(1), None)]
        elif self.cache_size:
            key = (y.tobytes(), T)
            hit = self._cache.get(key)
            if hit is None:
                hit = self._parametric(y, finite, T, scale)
                if len(self._cache) >= self.cache_size:
                    self._cache.clear()
                self._cache[key] = hit
            comps = [hit]
        else:
            comps = [self._parametric(y, finite, T, scale)]
        if use_refs and self.prior_weight > 0 and self._refs and nf >= 3:
            rc = self._reference_component(y, finite, T)
            if rc is not None:
                m = rc[3]
                lam = self.prior_weight * m / (m + 3.0)
                p_means, p_stds, p_w, p_bic = comps[0]
                p_w = p_w / p_w.sum()
                r_w = rc[2] / rc[2].sum()
                if self.weighting == "evidence" and p_bic is not None:
                    # One Bayesian model average over families and reference curves: prior mass
                    # (1 - lam) shared by the families, lam by the references, each model then
                    # weighted by its (tempered) BIC evidence on the same observed epochs.
                    noise = rc[4][3] if math.isfinite(rc[4][3]) else 0.0
                    b_p = _ensemble_bic(p_bic[0], p_bic[1], p_bic[2], noise, self.temperature)
                    b_r = _ensemble_bic(rc[4][0], rc[4][1], rc[4][2], noise, self.temperature)
                    b0 = min(b_p, b_r)
                    e_p = (1.0 - lam) * math.exp(-(b_p - b0) / (2.0 * self.temperature))
                    e_r = lam * math.exp(-(b_r - b0) / (2.0 * self.temperature))
                    lam = e_r / (e_p + e_r) if e_p + e_r > 0 else lam
                comps = [(p_means, p_stds, p_w * (1.0 - lam), None), (rc[0], rc[1], r_w * lam, None)]
                if self.gain_weight > 0:
                    gc = self._gain_component(y, finite, T)
                    if gc is not None:  # a fixed share gain_weight * m / (m + 3) of the mixture
                        share = self.gain_weight * gc[3] / (gc[3] + 3.0)
                        comps = [(a, b, cw * (1.0 - share), d) for a, b, cw, d in comps]
                        comps.append((gc[0], gc[1], gc[2] / gc[2].sum() * share, None))
        means = np.concatenate([c[0] for c in comps])
        # With references the spread is calibrated by them (leave-one-out recalibration, noise
        # estimate, empirical gains) and the sharper sigma_scale applies; alone, the families'
        # own widths carry the prediction and sigma_scale_alone applies.
        sig = self.sigma_scale if len(comps) > 1 or self.sigma_scale_alone is None else self.sigma_scale_alone
        if len(comps) == 1 and comps[0][3] is not None and self.temperature_alone is not None:
            # re-temper the families' BIC weights: exp(-dBIC / (2 t))^(t / t_alone)
            comps = [(comps[0][0], comps[0][1], comps[0][2] ** (self.temperature / self.temperature_alone),
                      comps[0][3])]
        stds = np.concatenate([c[1] for c in comps]) * sig
        weights = np.concatenate([c[2] for c in comps])
        if self.noise_floor > 0:  # the final epoch's value is observed with per-epoch noise
            nv = self._noise_var(yf)
            if nv > 0:
                stds = np.sqrt(stds * stds + self.noise_floor * nv)
        return means, stds, weights

    def _gain_component(self, y, finite, T):
        """Empirical-gain component: the current level plus each reference's own gain to ``T``.

        For every finished reference ``r`` the prediction is ``L + r(T) - L_r`` where ``L`` and
        ``L_r`` are the means of the curve and of ``r`` over the last ``_GAIN_LAST`` observed
        epochs: the previous builds' realised improvements from the same epoch on, transferred
        with slope 1 (the offset-only case of Chandrashekaran & Lane's affine transfer, ECML-PKDD
        2017).  References are weighted by a Gaussian kernel in the level difference ``L - L_r``
        (bandwidth: the references' spread of levels), i.e. a Nadaraya-Watson estimate of the
        conditional distribution of the final value given the current level (Nadaraya 1964;
        Watson 1964).  Each component's standard deviation is the noise of the level difference
        and of the final epoch, from the references' white-noise variance.  Unlike the affine
        maps, this component is not weighted by fit evidence: it carries the heavy upper tail of
        late improvements that a monotone saturating fit to a few noisy early epochs misses.

        Returns:
            (means, stds, weights, m) or None when no reference covers the last epochs and ``T``.
        """
        idx = np.nonzero(finite)[0]
        idx = idx[idx < T]
        if idx.shape[0] < 3:
            return None
        last = idx[-_GAIN_LAST:]
        refs = [r for r in self._refs if r.shape[0] >= T and np.all(np.isfinite(r[last])) and np.isfinite(r[T - 1])]
        if not refs:
            return None
        R = np.stack([r[:T] for r in refs])
        lv = float(np.mean(y[last]))
        rl = R[:, last].mean(axis=1)
        means = lv + R[:, T - 1] - rl
        w = np.ones(R.shape[0])
        if R.shape[0] > 1:
            h = max(float(np.std(rl)), 1e-6)
            w = np.exp(-0.5 * ((lv - rl) / h) ** 2) + 1e-12
        nv = _white_noise_var(R) if T >= 3 else 0.0
        nv = nv if math.isfinite(nv) else 0.0
        # var(L - L_r) = 2 nv / k and the final epoch's own noise nv, doubled for the two curves
        sd = math.sqrt(max(2.0 * nv * (1.0 + 1.0 / last.shape[0]), 1e-12))
        good = np.isfinite(means)
        if not good.any():
            return None
        return means[good], np.full(int(good.sum()), sd), w[good], int(good.sum())

    def _noise_var(self, yf):
        """Per-epoch observation-noise variance (metric units squared).

        White-noise estimate ``mean(second difference^2) / 6`` over the last two thirds of the
        reference curves (median over references), or over the last half of the observed curve
        when there are no usable references and at least 8 observed epochs; else 0.
        """
        if self._ref_noise is None:  # depends on the references only: once per reference set
            R = [r for r in self._refs if r.shape[0] >= 13 and np.all(np.isfinite(r))]
            self._ref_noise = math.nan
            if R:
                T = min(r.shape[0] for r in R)
                R = np.stack([r[:T] for r in R])
                self._ref_noise = _white_noise_var(R[:, T // 3:])  # later epochs: little curvature
        d = self._ref_noise
        if not math.isfinite(d):
            d = _white_noise_var(yf[None, yf.shape[0] // 2:]) if yf.shape[0] >= 8 else 0.0
        return d if math.isfinite(d) else 0.0

    def _reference_component(self, y, finite, T):
        idx = np.nonzero(finite)[0]
        refs = [r for r in self._refs if r.shape[0] >= T and np.isfinite(r[T - 1])]
        if not refs:
            return None
        n = idx.shape[0]
        R = np.stack([r[:T] for r in refs])  # (m, T)
        Ro = R[:, idx[idx < T]]
        yo = y[idx[idx < T]]
        if yo.shape[0] < 3:
            return None
        ok = np.all(np.isfinite(Ro), axis=1)
        if not ok.any():
            return None
        R, Ro = R[ok], Ro[ok]
        # Affine map y ~ c + b * ref on the observed epochs, b >= 0; recent epochs weigh more.
        w = np.linspace(0.5, 1.5, yo.shape[0])
        with np.errstate(all="ignore"):
            c, b, sse = _nonneg_slope_fit(Ro, yo, w)
        pred = c + b * R[:, T - 1]
        sw = w.sum()
        s2 = np.maximum(sse / max(sw - 2.0, 1.0), 1e-12)
        good = np.isfinite(pred) & np.isfinite(s2)
        if not good.any():
            return None
        pred, s2 = pred[good], s2[good]
        ll = -0.5 * n * np.log(s2)
        wr = np.exp((ll - ll.max()) / max(1.0, n / _REF_LL_TEMP))
        # Extrapolation error grows with the horizon left; use the spread between references too.
        horizon = (T - n) / max(T, 1)
        wn = wr / wr.sum()
        spread = float(np.sqrt(max(np.dot(wn, (pred - np.dot(wn, pred)) ** 2), 0.0)))
        stds = np.sqrt(s2 * (1.0 + _REF_INFLATION * horizon) + (_REF_SPREAD * spread) ** 2 * horizon)
        if _REF_CALIBRATE:
            stds = stds * _reference_spread_factor(R, idx[idx < T], w, T)
        # Residual sums of squares of the affine maps (2 parameters each: c, b) and the
        # references' own per-epoch noise variance (second differences, white-noise estimate).
        noise = _white_noise_var(R) if T >= 3 else 0.0
        fit = (sse[good], np.full(int(good.sum()), 2.0), n, noise)
        return pred, stds, wr, int(pred.shape[0]), fit


def predict_final(curve, final_epoch, mode="max", reference_curves=None, **kwargs):
    """One-shot predictive distribution of a learning curve's value at ``final_epoch``.

    Args:
        curve: 1-D sequence of floats, metric values after epochs 1..n.
        final_epoch: int >= 1, the epoch to predict (1-based, epochs).
        mode: str, "max" or "min". Default "max".
        reference_curves: optional iterable of 1-D sequences, finished curves of the same
            search (prior, Chandrashekaran & Lane 2017).
        **kwargs: passed to ``CurveExtrapolator``.

    Returns:
        PredictiveDistribution.

    Raises:
        ValueError: on invalid ``mode``/``final_epoch``/kwargs (not on bad curve values).
    """
    _check_final_epoch(final_epoch)
    ex = CurveExtrapolator(mode=mode, **kwargs)
    for r in reference_curves or ():
        ex.add_reference_curve(r)
    return ex.predict(curve, final_epoch)


def prob_better(curve, target, final_epoch, mode="max", reference_curves=None, **kwargs):
    """P(the curve's value at ``final_epoch`` is better than ``target``).

    Args:
        curve: 1-D sequence of floats, metric values after epochs 1..n.
        target: float or None, the value to beat (metric units); None gives 1.0.
        final_epoch: int >= 1 (epochs).
        mode: str, "max" (higher is better) or "min". Default "max".
        reference_curves: optional iterable of finished curves (see ``predict_final``).
        **kwargs: passed to ``CurveExtrapolator``.

    Returns:
        float in [0, 1].

    Raises:
        ValueError: on invalid arguments (not on bad curve values).

    Reference:
        Domhan, Springenberg & Hutter, IJCAI 2015, Section 3.2 (P(y_m > y_hat)).
    """
    if target is None:
        return 1.0
    return predict_final(curve, final_epoch, mode, reference_curves, **kwargs).prob_better(target)


def _check_final_epoch(final_epoch):
    if isinstance(final_epoch, bool) or not isinstance(final_epoch, (int, np.integer)) or final_epoch < 1:
        raise ValueError(f"final_epoch must be an int >= 1, got {final_epoch!r}")
