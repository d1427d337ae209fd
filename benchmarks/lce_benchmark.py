"""Benchmark learning-curve extrapolation (LCE) on our Fashion-MNIST learning-curve corpus.

Replays a corpus (``--corpus``, default benchmarks/data/lc_corpus_fmnist.jsonl.gz; the second,
separate corpus is benchmarks/data/lc_corpus_fmnist_torch12k.jsonl.gz) as sequential searches of
``--trials`` trials in ``--orders`` random orders.  Every trial is "trained" epoch by epoch
(its recorded val_accuracy curve is revealed); with LCE, from ``--min-epochs`` on, the trial
is stopped as soon as P(val_accuracy at the last epoch > best final val_accuracy so far)
< ``--threshold``.  Reported: total epochs with LCE vs full training, the best final
val_accuracy found by each, the prediction latency at 20 observed epochs, and the forecast
MAE at the final epoch from the first 25 % of each curve vs the last-value baseline — each
with and without the previous-curves prior.

Usage:
    python benchmarks/lce_benchmark.py [--corpus PATH] [--orders 50] [--trials 50] [--threshold 0.05]
        [--sigma-scale S] [--weighting evidence|fixed] [--temperature T] [--gain-weight G] [--seed N]

With more curves than ``--trials`` each order is a random subset of ``--trials`` curves.
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from keras_nas_plus.curves import CurveExtrapolator  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "lc_corpus_fmnist.jsonl.gz")


def load(path=DATA, key="val_accuracy"):
    with gzip.open(path, "rt") as fh:
        recs = [json.loads(line) for line in fh if line.strip()]
    recs = [r for r in recs if "error" not in r]
    return np.array([[np.nan if v is None else v for v in r[key]] for r in recs], dtype=float), recs


def replay(curves, order, threshold, min_epochs, use_prior, ex):
    """One sequential search; returns (epochs used, best final found, stops, false stops)."""
    T = curves.shape[1]
    ex.clear_references()
    best = None
    epochs = 0
    stops = 0
    for i in order:
        c = curves[i]
        stopped_at = None
        if best is not None:
            ex.reset()
            for n in range(min_epochs, T):
                p = ex.prob_better(c[:n], best, T, use_references=use_prior)
                if p < threshold:
                    stopped_at = n
                    break
        if stopped_at is None:
            epochs += T
            final = c[-1]
            if np.isfinite(final) and (best is None or final > best):
                best = final
            ex.add_reference_curve(c)
        else:
            epochs += stopped_at
            stops += 1
    return epochs, best, stops


def forecast_mae(curves, frac, use_prior, mode="max", **kw):
    T = curves.shape[1]
    n = max(3, int(round(frac * T)))
    ex = CurveExtrapolator(mode=mode, **kw)
    err, base, inside = [], [], []
    for i in range(len(curves)):
        ex.clear_references()
        ex.reset()
        if use_prior:
            for j in range(len(curves)):
                if j != i:
                    ex.add_reference_curve(curves[j])
        d = ex.predict(curves[i, :n], T, use_references=use_prior)
        err.append(abs(d.mean - curves[i, -1]))
        base.append(abs(curves[i, n - 1] - curves[i, -1]))
        lo, hi = d.quantile(0.05), d.quantile(0.95)
        inside.append(lo <= curves[i, -1] <= hi)
    return n, float(np.mean(err)), float(np.mean(base)), float(np.mean(inside))


def latency(curves, n_obs=20, refs=50, **kw):
    T = curves.shape[1]
    ex = CurveExtrapolator(mode="max", **kw)
    for j in range(min(refs, len(curves))):
        ex.add_reference_curve(curves[j])
    ts, cpu = [], []
    for i in range(len(curves)):
        ex.reset()
        ex.prob_better(curves[i, : n_obs - 1], 0.91, T)  # the previous epoch's call (warm start)
        t, c = time.perf_counter(), time.thread_time()
        ex.prob_better(curves[i, :n_obs], 0.91, T)
        ts.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    ts, cpu = np.array(ts) * 1000, np.array(cpu) * 1000
    return float(np.median(ts)), float(np.percentile(ts, 95)), float(np.median(cpu)), ex.num_references


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=50)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--min-epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", "--corpus", dest="data", default=DATA,
                    help="corpus path (.jsonl.gz); default the 51-curve JAX corpus")
    ap.add_argument("--sigma-scale", type=float, default=None, help="CurveExtrapolator sigma_scale (default: its default)")
    ap.add_argument("--weighting", default=None, choices=("evidence", "fixed"),
                    help="CurveExtrapolator weighting (default: its default)")
    ap.add_argument("--temperature", type=float, default=None,
                    help="CurveExtrapolator temperature (default: its default)")
    ap.add_argument("--gain-weight", type=float, default=None,
                    help="CurveExtrapolator gain_weight, the empirical-gain share (default: its default)")
    args = ap.parse_args()
    kw = {k: v for k, v in (("sigma_scale", args.sigma_scale), ("weighting", args.weighting),
                            ("temperature", args.temperature), ("gain_weight", args.gain_weight)) if v is not None}
    curves, recs = load(args.data)
    m, T = curves.shape
    trials = min(args.trials, m)
    print(f"corpus: {m} curves x {T} epochs ({args.data}); searches of {trials} trials, {args.orders} orders")
    print(f"extrapolator settings: {CurveExtrapolator(**kw).get_config()}")
    med, p95, cpu, nref = latency(curves, **kw)
    print(f"latency of one prediction at 20 observed epochs (fit + decision, warm, {nref} reference curves): "
          f"median {med:.1f} ms wall (p95 {p95:.1f} ms), median {cpu:.1f} ms CPU of the calling thread")
    for use_prior in (False, True):
        n, mae, base, cov = forecast_mae(curves, 0.25, use_prior, **kw)
        print(f"forecast from first {n} epochs, prior={use_prior}: MAE(final) {mae * 100:.2f} pp vs last-value "
              f"{base * 100:.2f} pp; 90% interval covers {cov * 100:.0f}%")
    losses, _ = load(args.data, key="val_loss")
    for use_prior in (False, True):
        n, mae, base, cov = forecast_mae(losses, 0.25, use_prior, mode="min", **kw)
        print(f"val_loss forecast from first {n} epochs, prior={use_prior}: MAE(final) {mae:.4f} vs last-value "
              f"{base:.4f}; 90% interval covers {cov * 100:.0f}%")
    rng = np.random.default_rng(args.seed)
    orders = [rng.permutation(m)[:trials] for _ in range(args.orders)]
    full_epochs = trials * T
    full_best = np.array([np.nanmax(curves[o, -1]) for o in orders])
    for use_prior in (False, True):
        ex = CurveExtrapolator(mode="max", cache_size=200000, **kw)
        t0 = time.time()
        res = [replay(curves, o, args.threshold, args.min_epochs, use_prior, ex) for o in orders]
        eps = np.array([r[0] for r in res], float)
        best = np.array([r[1] for r in res], float)
        stops = np.array([r[2] for r in res], float)
        gap = (full_best - best) * 100
        print(f"LCE prior={use_prior}: epochs {eps.mean():.0f} vs full {full_epochs} -> "
              f"{full_epochs / eps.mean():.2f}x fewer; stopped {stops.mean():.1f}/{trials} trials; "
              f"best final val_acc {best.mean() * 100:.2f}% vs full {full_best.mean() * 100:.2f}% "
              f"(gap mean {gap.mean():.3f} pp, max {gap.max():.3f} pp, orders with gap > 0.2 pp: "
              f"{int((gap > 0.2).sum())}/{len(orders)}) [{time.time() - t0:.0f} s]")


if __name__ == "__main__":
    main()
