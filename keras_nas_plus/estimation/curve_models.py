"""Learning-curve models: the parametric families, their least-squares fits, and the predictive mixture.

The building blocks of `keras_nas_plus.estimation.curves.CurveExtrapolator`
(see that module for the method and its sources: Domhan, Springenberg &
Hutter, IJCAI 2015, Table 1 for the families; Klein et al., ICLR 2017, for
the reference curves). Pure NumPy/SciPy: no Keras import.
"""

import math

import numpy as np

try:  # scipy is a hard dependency of the package, but keep the math usable without it.
    from scipy.optimize import least_squares as _least_squares
    from scipy.special import ndtr as _ndtr
except Exception:  # pragma: no cover
    _least_squares = None
    _ndtr = None

FAMILIES = (
    "pow3",
    "pow4",
    "log_power",
    "exp3",
    "weibull",
    "mmf",
    "vapor_pressure",
    "ilog2",
    "log_log_linear",
    "hill3",
)

_MODES = ("max", "min")
_RECENCY = 0.0  # weight of epoch x in the fits: 1 + _RECENCY * (x / n - 0.5), mean 1
_REF_INFLATION = 1.0  # reference-curve variance grows by this times the fraction of epochs left
_REF_SPREAD = 0.5  # each reference component also gets (this x the references' spread)^2 x fraction left
_REF_LL_TEMP = 4.0  # reference fit likelihoods are tempered by max(1, n / this)
_REF_CALIBRATE = True  # rescale the reference mixture's spread by leave-one-out over the references
_GAIN_LAST = 3  # epochs averaged for the level of the empirical-gain component


def _recency_weights(x):
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return x
    return np.maximum(1.0 + _RECENCY * (x / x[-1] - 0.5), 0.05)


# --------------------------------------------------------------------------- families
# Each family: g(x, theta, T) with x of shape (n,) and theta of shape (G, d); returns (G, n).
# u = x / T in (0, 1] keeps grids independent of the horizon.


def _g_pow3(x, th, T):
    u = x / T
    return -np.power(u[None, :], -th[:, :1])


def _g_pow4(x, th, T):
    u = x / T
    return -np.power(u[None, :] + th[:, :1], -th[:, 1:2])


def _g_log_power(x, th, T):
    u = x / T
    z = -th[:, 1:2] * (np.log(u)[None, :] - th[:, :1])
    return 1.0 / (1.0 + np.exp(np.clip(z, -50, 50)))


def _g_exp3(x, th, T):
    u = x / T
    return -np.exp(-th[:, :1] * u[None, :])


def _g_weibull(x, th, T):
    u = x / T
    return -np.exp(-np.power(th[:, :1] * u[None, :], th[:, 1:2]))


def _g_mmf(x, th, T):
    u = x / T
    return -1.0 / (1.0 + np.power(th[:, :1] * u[None, :], th[:, 1:2]))


def _g_vapor(x, th, T):
    u = x / T
    z = -th[:, :1] / (u[None, :] * T) + th[:, 1:2] * np.log(u)[None, :]
    return np.exp(np.clip(z, -50, 50))


def _g_ilog2(x, th, T):
    return np.broadcast_to(-1.0 / np.log(x + 1.0)[None, :], (th.shape[0], x.shape[0]))


def _g_log_log(x, th, T):
    return np.log(np.log(x)[None, :] + th[:, :1])


def _g_hill(x, th, T):
    u = x / T
    k = np.power(th[:, :1], th[:, 1:2])
    p = np.power(u[None, :], th[:, 1:2])
    return p / (k + p)


def _grid(*axes):
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1).astype(float)


_SPECS = {
    # name: (g, grid of theta, lower bounds, upper bounds)
    "pow3": (_g_pow3, _grid(np.geomspace(0.01, 4.0, 24)), [1e-3], [10.0]),
    "pow4": (_g_pow4, _grid([0.01, 0.03, 0.1, 0.3], np.geomspace(0.05, 4.0, 10)), [0.0, 1e-3], [2.0, 10.0]),
    "log_power": (_g_log_power, _grid(np.linspace(np.log(0.003), np.log(2.0), 12), [0.5, 1.0, 2.0, 4.0]),
                  [-8.0, 0.05], [3.0, 20.0]),
    "exp3": (_g_exp3, _grid(np.geomspace(0.3, 300.0, 24)), [1e-3], [1e4]),
    "weibull": (_g_weibull, _grid(np.geomspace(0.5, 300.0, 10), [0.3, 0.5, 1.0, 2.0]), [1e-3, 0.05], [1e4, 10.0]),
    "mmf": (_g_mmf, _grid(np.geomspace(0.5, 1000.0, 10), [0.5, 1.0, 2.0, 3.0]), [1e-3, 0.05], [1e5, 10.0]),
    "vapor_pressure": (_g_vapor, _grid(np.geomspace(0.1, 30.0, 8), [0.0, 0.1, 0.3]), [1e-4, 0.0], [1e3, 3.0]),
    "ilog2": (_g_ilog2, np.zeros((1, 1)), None, None),
    "log_log_linear": (_g_log_log, _grid(np.geomspace(0.01, 10.0, 12)), [1e-4], [1e3]),
    "hill3": (_g_hill, _grid(np.geomspace(0.003, 3.0, 10), [0.5, 1.0, 2.0, 4.0]), [1e-5, 0.05], [100.0, 20.0]),
}

_GRID_SLICES = {}
_ALL_THETA = []
_offset = 0
for _name in FAMILIES:
    _n = _SPECS[_name][1].shape[0]
    _GRID_SLICES[_name] = slice(_offset, _offset + _n)
    _offset += _n


def _basis_all(x, T):
    """All families' g on their grids, stacked: (G_total, n)."""
    return np.concatenate([_SPECS[f][0](x, _SPECS[f][1], T) for f in FAMILIES], axis=0)


_BASIS_CACHE = {}


def _cached_basis(n, T):
    key = (n, T)
    b = _BASIS_CACHE.get(key)
    if b is None:
        x = np.arange(1, n + 1, dtype=float)
        with np.errstate(all="ignore"):
            g = _basis_all(x, float(T))
            gT = _basis_all(np.array([float(T)]), float(T))[:, 0]
        g = np.where(np.isfinite(g), g, 0.0)
        if len(_BASIS_CACHE) > 512:
            _BASIS_CACHE.clear()
        b = (g, gT)
        _BASIS_CACHE[key] = b
    return b


def _nonneg_slope_fit(g, y, w=None):
    """Closed-form weighted LS of y ~ c + a g with a >= 0, for every row of g.

    Args:
        g: (G, n) basis values.  y: (n,) targets.  w: (n,) weights or None.

    Returns:
        (c, a, sse): arrays of shape (G,).
    """
    if w is None:
        w = np.ones_like(y)
    sw = w.sum()
    my = (w * y).sum() / sw
    mg = (g * w).sum(axis=1) / sw
    gc = g - mg[:, None]
    yc = y - my
    vg = (w * gc * gc).sum(axis=1)
    cov = (w * gc * yc).sum(axis=1)
    syy = (w * yc * yc).sum()
    ok = vg > 1e-12 * ((g * g * w).sum(axis=1) / sw + 1e-300)  # per row: g not constant
    a = np.where(ok & (cov > 0), cov / np.where(ok, vg, 1.0), 0.0)
    c = my - a * mg
    sse = np.maximum(syy - a * cov, 0.0)
    return c, a, sse


def _white_noise_var(R):
    """Per-epoch white-noise variance of curves `R` (m, T): median over rows of mean(d2^2) / 6.

    `d2` are second differences (a locally linear trend cancels; white noise of variance s^2
    gives E[d2^2] = 6 s^2). NaN where it cannot be estimated.
    """
    d2 = np.diff(R, n=2, axis=1)
    return float(np.nanmedian(np.nanmean(d2 * d2, axis=1))) / 6.0


def _ensemble_bic(sse, npar, n, noise_var, temperature):
    """-2 temperature log of the mean tempered BIC evidence of a set of models.

    Args:
        sse: (K,) residual sums of squares on ``n`` observed epochs (metric units squared).
        npar: (K,) parameter counts.  n: int, number of observations.
        noise_var: float >= 0, per-epoch observation-noise variance; no model is credited
            with a residual variance below it (a fit cannot beat the noise of the data).
        temperature: float > 0.

    Returns:
        float (lower is better), comparable between sets fitted to the same observations.
    """
    s2 = np.maximum(np.asarray(sse, float) / n, max(noise_var, 1e-300))
    bic = n * np.log(s2) + np.asarray(npar, float) * math.log(n)
    bt = bic / (2.0 * temperature)
    b0 = float(np.min(bt))
    return -2.0 * temperature * (-b0 + math.log(float(np.mean(np.exp(-(bt - b0))))))


class PredictiveDistribution:
    """A Gaussian mixture over the metric's value at the final epoch.

    Args:
        means: 1-D array-like, component means (metric units).
        stds: 1-D array-like, component standard deviations (metric units, > 0).
        weights: 1-D array-like, non-negative mixture weights (normalised here).
        mode: str, "max" or "min": which direction is better for ``prob_better``.

    Attributes:
        mean: float, the mixture mean (the predicted final value).
        std: float, the mixture standard deviation.
    """

    def __init__(self, means, stds, weights, mode="max"):
        self.means = np.asarray(means, dtype=float).ravel()
        self.stds = np.maximum(np.asarray(stds, dtype=float).ravel(), 1e-300)
        w = np.asarray(weights, dtype=float).ravel()
        w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
        if w.sum() <= 0:
            w = np.ones_like(self.means)
        self.weights = w / w.sum()
        self.mode = mode

    @property
    def mean(self):
        return float(np.dot(self.weights, self.means))

    @property
    def std(self):
        m = self.mean
        return float(math.sqrt(max(np.dot(self.weights, self.stds**2 + (self.means - m) ** 2), 0.0)))

    def cdf(self, value):
        """P(final <= value) as a float in [0, 1]."""
        with np.errstate(all="ignore"):
            z = np.nan_to_num((float(value) - self.means) / self.stds, nan=0.0)
        return float(np.clip(np.dot(self.weights, _phi(z)), 0.0, 1.0))

    def prob_better(self, target):
        """P(final value is better than ``target``) under this distribution's mode.

        Args:
            target: float, the value to beat (metric units).  NaN/None gives 1.0
                (nothing to beat); +-inf are handled as limits.

        Returns:
            float in [0, 1].
        """
        try:
            t = float(target)
        except (TypeError, ValueError):
            return 1.0
        if math.isnan(t):
            return 1.0
        p = 1.0 - self.cdf(t)
        return p if self.mode == "max" else 1.0 - p

    def quantile(self, q):
        """The q-quantile (q in (0, 1)) by bisection on the mixture CDF."""
        lo = float(np.min(self.means - 10 * self.stds))
        hi = float(np.max(self.means + 10 * self.stds))
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if self.cdf(mid) < q:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    def __repr__(self):
        return f"PredictiveDistribution(mean={self.mean:.6g}, std={self.std:.3g}, k={len(self.means)})"


def _phi(z):
    if _ndtr is not None:
        return _ndtr(z)
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(z) / math.sqrt(2.0)))  # pragma: no cover


def _clean(curve):
    """Float array of the curve with +-inf turned to NaN; never raises."""
    try:
        y = np.asarray(curve, dtype=float).ravel()
    except Exception:
        try:
            y = np.array([float(v) if v is not None else np.nan for v in curve], dtype=float)
        except Exception:
            y = np.zeros(0)
    y = y.copy()
    y[~np.isfinite(y)] = np.nan
    return y


def _reference_spread_factor(R, obs, w, T, min_refs=5):
    """Leave-one-out variance recalibration of the reference-curve predictor.

    Every reference ``k`` is predicted from its own epochs ``obs`` by the other references
    (the same affine maps, likelihood weights and widths as ``_reference_component``); the
    returned factor ``sqrt(median(z^2) / 0.455)`` (0.455 = median of chi^2 with 1 degree of
    freedom) rescales the standard deviations so that the standardised errors
    ``z = (truth - mean) / std`` of these held-out predictions have the Gaussian median.
    Recalibration as in Kuleshov, Fenner & Ermon (ICML 2018) and Levi et al. (2019), with the
    search's own finished curves as calibration set.

    Args:
        R: (m, T) finished reference curves (maximise scale), finite at ``obs`` and ``T - 1``.
        obs: (n,) int indices of the observed epochs.  w: (n,) fit weights.  T: int horizon.
        min_refs: int, fewer references give factor 1.

    Returns:
        float in [0.25, 4]; 1.0 when it cannot be estimated.
    """
    m, n = R.shape[0], obs.shape[0]
    if m < min_refs or n < 3:
        return 1.0
    with np.errstate(all="ignore"):
        Ro = R[:, obs]
        sw = w.sum()
        mo = Ro @ w / sw
        Rc = Ro - mo[:, None]
        cov = (Rc * w) @ Rc.T  # cov[k, j]: reference k (target) vs j (predictor)
        var = np.diag(cov).copy()
        okv = var > 1e-18
        b = np.where(okv[None, :] & (cov > 0), cov / np.where(okv, var, 1.0)[None, :], 0.0)
        c = mo[:, None] - b * mo[None, :]
        sse = np.maximum(var[:, None] - b * cov, 0.0)
        pred = c + b * R[None, :, T - 1]
        s2 = np.maximum(sse / max(sw - 2.0, 1.0), 1e-12)
        ll = -0.5 * n * np.log(s2)
        np.fill_diagonal(ll, -np.inf)
        wr = np.exp((ll - ll.max(axis=1, keepdims=True)) / max(1.0, n / _REF_LL_TEMP))
        wn = wr / wr.sum(axis=1, keepdims=True)
        mu = (wn * pred).sum(axis=1)
        spread2 = (wn * (pred - mu[:, None]) ** 2).sum(axis=1)
        horizon = (T - n) / max(T, 1)
        comp_var = s2 * (1.0 + _REF_INFLATION * horizon) + (_REF_SPREAD ** 2) * spread2[:, None] * horizon
        tot_var = (wn * (comp_var + (pred - mu[:, None]) ** 2)).sum(axis=1)
        z2 = (R[:, T - 1] - mu) ** 2 / tot_var
    z2 = z2[np.isfinite(z2)]
    if z2.shape[0] < min_refs:
        return 1.0
    f = math.sqrt(float(np.median(z2)) / 0.455)
    return float(min(max(f, 0.25), 4.0)) if math.isfinite(f) else 1.0


class ParametricFits:
    """`CurveExtrapolator`'s parametric part: each family fitted to the observed epochs (a mixin)."""

    def _parametric(self, y, finite, T, scale):
        n_all = y.shape[0]
        mu = float(np.nanmean(y))
        yn = (y - mu) / scale
        g_all, gT_all = _cached_basis(n_all, T)
        idx = np.nonzero(finite)[0]
        x = idx + 1.0
        yo = yn[idx]
        n = yo.shape[0]
        g = g_all[:, idx] if n != n_all else g_all
        with np.errstate(all="ignore"):
            w_obs = _recency_weights(x)
            c, a, sse = _nonneg_slope_fit(g, yo, w_obs)
        sse = np.where(np.isfinite(sse), sse, np.inf)
        fams, thetas, cs, as_, sses = [], [], [], [], []
        for f in self.families:
            sl = _GRID_SLICES[f]
            j = int(np.argmin(sse[sl]))
            th = _SPECS[f][1][j]
            best = (sse[sl][j], c[sl][j], a[sl][j], th)
            warm = self._warm.get(f)
            if warm is not None and warm.shape == th.shape:
                cw, aw, sw = self._fit_theta(f, x, yo, warm, T)
                if sw < best[0]:
                    best = (sw, cw, aw, warm)
            fams.append(f)
            sses.append(best[0])
            cs.append(best[1])
            as_.append(best[2])
            thetas.append(best[3])
        sses = np.asarray(sses, dtype=float)
        npar = np.array([2 + (0 if f == "ilog2" else _SPECS[f][1].shape[1]) for f in fams], dtype=float)
        floor = 1e-6 * n
        bic = n * np.log(np.maximum(sses, floor) / n) + npar * np.log(n)
        # refine the best few with scipy (warm-started), then recompute their BIC
        if self.refine and _least_squares is not None and n >= 4:
            order = np.argsort(bic)[: self.refine]
            for k in order:
                f = fams[k]
                if f == "ilog2":
                    continue
                res = self._refine(f, x, yo, thetas[k], T)
                if res is not None and res[2] < sses[k]:
                    cs[k], as_[k], sses[k], thetas[k] = res
            bic = n * np.log(np.maximum(sses, floor) / n) + npar * np.log(n)
        for f, th in zip(fams, thetas):
            self._warm[f] = np.array(th, dtype=float)
        w = np.exp(-(bic - bic.min()) / (2.0 * self.temperature))
        means = np.empty(len(fams))
        stds = np.empty(len(fams))
        span = float(np.max(yo) - np.min(yo))
        for k, f in enumerate(fams):
            gT = _SPECS[f][0](np.array([float(T)]), np.asarray(thetas[k])[None, :], float(T))[0, 0]
            means[k] = cs[k] + as_[k] * gT
            dof = max(n - npar[k], 1.0)
            s2 = max(sses[k] / dof, 1e-8)
            stds[k] = math.sqrt(s2 + self._param_var(f, x, thetas[k], as_[k], T, s2))
        bad = ~np.isfinite(means) | (means > np.max(yo) + 3 * span + 3) | ~np.isfinite(stds)
        w = np.where(bad, 0.0, w)
        fit = None
        if w.sum() <= 0:
            means = np.array([yo[-1]])
            stds = np.array([max(np.std(np.diff(yo)) if n > 2 else 1.0, 1e-4)])
            w = np.ones(1)
        else:
            good = w > 0  # residual sums of squares on the metric's own scale, for the evidence
            fit = (sses[good] * scale * scale, npar[good], n)
        return means * scale + mu, np.maximum(stds * scale, 1e-12), w, fit

    @staticmethod
    def _fit_theta(f, x, y, th, T):
        with np.errstate(all="ignore"):
            g = _SPECS[f][0](x, np.asarray(th, dtype=float)[None, :], float(T))
            g = np.where(np.isfinite(g), g, 0.0)
            c, a, sse = _nonneg_slope_fit(g, y, _recency_weights(x))
        s = float(sse[0]) if np.isfinite(sse[0]) else np.inf
        return float(c[0]), float(a[0]), s

    def _refine(self, f, x, y, th0, T):
        spec = _SPECS[f]
        lo, hi = np.array(spec[2], float), np.array(spec[3], float)
        w_obs = _recency_weights(x)
        sw_obs = np.sqrt(w_obs)
        th0 = np.clip(np.asarray(th0, float), lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))

        def resid(th):
            with np.errstate(all="ignore"):
                g = spec[0](x, th[None, :], float(T))[0]
                if not np.all(np.isfinite(g)):
                    return np.full_like(y, 1e3)
                c, a, _ = _nonneg_slope_fit(g[None, :], y, w_obs)
                r = (c[0] + a[0] * g - y) * sw_obs
            return np.where(np.isfinite(r), r, 1e3)

        try:
            sol = _least_squares(resid, th0, bounds=(lo, hi), max_nfev=self.max_nfev,
                                 method="trf", x_scale="jac")
        except Exception:
            return None
        c, a, s = self._fit_theta(f, x, y, sol.x, T)
        return c, a, s, np.asarray(sol.x, float)

    @staticmethod
    def _param_var(f, x, th, a, T, s2):
        """Delta-method variance of the extrapolated value, linearised at the fit."""
        g_fn = _SPECS[f][0]
        th = np.asarray(th, dtype=float)
        pts = np.concatenate([x, [float(T)]])
        d = 0 if f == "ilog2" else th.shape[0]
        with np.errstate(all="ignore"):
            ths = [th]
            steps = []
            for j in range(d):
                h = 1e-4 * max(abs(th[j]), 1e-2)
                t2 = th.copy()
                t2[j] += h
                ths.append(t2)
                steps.append(h)
            G = g_fn(pts, np.stack(ths), float(T))
            if not np.all(np.isfinite(G)):
                return 1.0
            cols = [np.ones_like(pts), G[0]] + [a * (G[j + 1] - G[0]) / steps[j] for j in range(d)]
            J = np.stack(cols, axis=1)
            Jo, jT = J[:-1], J[-1]
            A = Jo.T @ Jo + 1e-8 * np.eye(J.shape[1])
            try:
                v = float(jT @ np.linalg.solve(A, jT)) * s2
            except np.linalg.LinAlgError:
                return 1.0
        if not math.isfinite(v) or v < 0:
            return 1.0
        return min(v, 1e4)
