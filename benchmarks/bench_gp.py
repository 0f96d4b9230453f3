"""fabnb.spatial vs scikit-learn GPR and PyKrige, same data, one run.

    python -m benchmarks.bench_gp                # W1, W2, W3 (+ dense exact on W3), 6-wafer check
    python -m benchmarks.bench_gp --only w1,w2   # just the one-wafer workloads
    python -m benchmarks.bench_gp --quick        # 8-wafer W3 lot (for a busy machine)
    python -m benchmarks.bench_gp --panel        # does the default fit reach the best optimum?

W1  one 300 mm wafer (~5,400 dies of 3.5 mm): 550 random training dies, predict every
    die; once with mean and std, once mean only.  scikit-learn runs with its default BLAS
    threads and with one thread (fabnb keeps BLAS single-threaded at this size).
W2  progressive sampling 2.5 % -> 10 % on that wafer (same selection rule for both
    libraries; only the GP differs).
W3  a 25-wafer lot, 10 % random dies per wafer, GP-ST over (x, y, t) -- fabnb's
    subsample + local-neighbourhood approximation -- then the dense exact GP on all
    13,400 points with the same hyperparameters; and on a 6-wafer lot small enough for
    an exact fit, hyperparameters from a subsample vs from all points.
Panel (issue 22.1)  random (wafer, test) pairs of synthetic fabs (default preset, seeds
    ``--panel-seeds``, not used in development), 10 % of the measured dies at random:
    the default fit's log-likelihood against the best of 8 restarts run on all sites
    (L-BFGS-B from the default and 8 log-uniform starts inside the bounds, no coarse
    stage) and against scikit-learn's optimum evaluated in fabnb's model: the share
    within 0.5 nat and the gap distribution; the default fit's likelihood evaluations on
    all n (the optimiser's deterministic cost); the two libraries' fit + predict (mean
    and std) times, interleaved pair by pair; and ε.
Accuracy is the paper's ε (mean |pred − true| / spec range on unsampled dies, vs the
noisy measurement).  Nothing is asserted; ratios are printed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import math
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from fabnb.geometry import die_grid
from fabnb.spatial import (
    GaussianProcess,
    SpatioTemporalGP,
    progressive_sample,
    spec_range_error,
)
import fabnb.spatial.gp as gp_module
from fabnb.spatial.gp import _Factorised, mean_basis
from fabnb.spatial.progressive import pick_far_and_uncertain
from fabnb.spatial.spatiotemporal import lot_design


def random_fourier_field(P, length_scales, rng, n_features=600):
    """A stationary RBF-GP draw (random Fourier features) at points P (n, d)."""
    W = rng.normal(size=(n_features, P.shape[1])) / np.asarray(length_scales)
    b = rng.uniform(0, 2 * np.pi, n_features)
    return np.sqrt(2.0 / n_features) * np.cos(P @ W.T + b).sum(axis=1)


def make_lot(n_wafers, seed=0, time_scale=6.0):
    """Wafer maps of a lot: radial bowl + wafer-to-wafer drift + a spatio-temporal GP + noise."""
    grid = die_grid(300, die_width_mm=3.5, die_height_mm=3.5)
    xy = np.c_[grid["x"].values, grid["y"].values]
    rng = np.random.default_rng(seed)
    t = np.arange(n_wafers, dtype=float)
    P = np.c_[np.tile(xy, (n_wafers, 1)), np.repeat(t, len(xy))]
    bowl = 0.8 * (xy**2).sum(axis=1) / 147.0**2
    gp = 0.5 * random_fourier_field(P, [40.0, 40.0, time_scale], rng).reshape(n_wafers, len(xy))
    Y = bowl[None, :] + 0.03 * t[:, None] + gp + 0.05 * rng.normal(size=gp.shape)
    return xy, t, Y


REPEAT = 7  # W1 and W2: each contestant runs this many times, in turn, and the median counts
QUIET = 0.3  # seconds of idle machine before each timed run (see `interleaved`)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def interleaved(*runs, repeat=REPEAT):
    """Each run's output and median wall time over ``repeat`` rounds of all runs in turn,
    so that drifts in the machine's speed hit every contestant alike.

    Before each run the machine gets ``QUIET`` seconds: OpenBLAS worker threads keep
    spinning on a core for ~0.1 s after a multithreaded call, and without the pause they
    would slow whichever contestant comes next."""
    outs, times = [None] * len(runs), [[] for _ in runs]
    for _ in range(repeat):
        for k, run in enumerate(runs):
            time.sleep(QUIET)
            outs[k], seconds = timed(run)
            times[k].append(seconds)
    return [(out, float(np.median(t))) for out, t in zip(outs, times)]


def row(name, seconds, eps, ref_seconds=None):
    ratio = f"{ref_seconds / seconds:7.1f}x" if ref_seconds else "        "
    print(f"  {name:<38s} {seconds:8.3f} s  {ratio}  ε = {100 * eps:6.3f} %", flush=True)


def sklearn_gp():
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    kernel = ConstantKernel(1.0) * RBF(40.0, (1e-2, 1e4)) + WhiteKernel(1e-2, (1e-6, 1e1))
    return GaussianProcessRegressor(kernel, normalize_y=True)


def w1(xy, y, rng):
    print("W1  one wafer, 550 training dies, predict all", len(y), "dies")
    sampled = np.zeros(len(y), bool)
    sampled[rng.choice(len(y), 550, replace=False)] = True
    Xs, ys = xy[sampled], y[sampled]

    def fabnb_run(return_std):
        gp = GaussianProcess(ard=False).fit(Xs, ys)
        # include_noise: scikit-learn's std with a WhiteKernel is that of a new measurement
        return gp.predict(xy, return_std=return_std, include_noise=True)

    def sklearn_run(return_std):
        return sklearn_gp().fit(Xs, ys).predict(xy, return_std=return_std)

    fabnb_run(True)  # numba compile / cache load outside the timing
    for label, return_std in (("mean + std", True), ("mean only", False)):
        print(f"  fit + predict {label}:")
        def sklearn_one_thread():
            with threadpool_limits(1, user_api="blas"):
                return sklearn_run(return_std)

        (out_f, t_f), (out_s, t_s), (out_1, t_1) = interleaved(
            lambda: fabnb_run(return_std), lambda: sklearn_run(return_std), sklearn_one_thread)
        m_f = out_f[0] if return_std else out_f
        m_s = out_s[0] if return_std else out_s
        row("scikit-learn GPR (RBF+White+const)", t_s, spec_range_error(y, m_s, sampled))
        row("scikit-learn GPR, BLAS 1 thread", t_1, spec_range_error(y, out_1[0] if return_std else out_1, sampled), t_s)
        row("fabnb GaussianProcess (rbf, const)", t_f, spec_range_error(y, m_f, sampled), t_s)
        if return_std:
            print(f"  max |std fabnb − std sklearn| / std sklearn = {np.max(np.abs(out_f[1] - out_s[1]) / out_s[1]):.1e}"
                  " (hyperparameters fitted separately)")
    try:
        from pykrige.ok import OrdinaryKriging

        def pykrige_run():
            ok = OrdinaryKriging(Xs[:, 0], Xs[:, 1], ys, variogram_model="gaussian")
            return np.asarray(ok.execute("points", xy[:, 0], xy[:, 1])[0])

        m_k, t_k = timed(pykrige_run)
        row("PyKrige OrdinaryKriging (gaussian)", t_k, spec_range_error(y, m_k, sampled))
    except ImportError:
        print("  PyKrige not installed: skipped")


def w2(xy, y, seed):
    print("W2  progressive sampling 2.5 % -> 10 % (", round(0.1 * len(y)), "dies )")

    def sklearn_progressive():
        n_step = round(0.025 * len(y))
        rng = np.random.default_rng(seed)
        sampled = np.zeros(len(y), bool)
        sampled[rng.choice(len(y), n_step, replace=False)] = True
        while True:
            gp = sklearn_gp().fit(xy[sampled], y[sampled])
            mean, std = gp.predict(xy, return_std=True)
            if sampled.sum() >= round(0.10 * len(y)):
                return mean, sampled
            sampled[pick_far_and_uncertain(xy, std**2, np.ones(len(y), bool), sampled, n_step)] = True

    ((m_s, s_s), t_s), (last, t_f) = interleaved(sklearn_progressive, lambda: progressive_sample(xy, y, seed=seed))
    row("scikit-learn GPR in Algorithm 1", t_s, spec_range_error(y, m_s, s_s))
    row("fabnb progressive_sample", t_f, spec_range_error(y, last.mean, last.sampled), t_s)


def lot_fit(xy, t, Y, sampled, model):
    model.fit(lot_design(xy, t, sampled), Y[sampled])
    return model.predict(lot_design(xy, t, np.ones(Y.shape, bool)), return_std=True)[0].reshape(Y.shape)


def lot_eps(Y, pred, sampled):
    return float(np.mean([spec_range_error(Y[i], pred[i], sampled[i]) for i in range(len(Y))]))


def random_lot_sample(Y, rng, budget=0.10):
    sampled = np.zeros(Y.shape, bool)
    for i in range(len(Y)):
        sampled[i, rng.choice(Y.shape[1], round(budget * Y.shape[1]), replace=False)] = True
    return sampled


def w3(n_wafers, seed, exact):
    xy, t, Y = make_lot(n_wafers, seed)
    rng = np.random.default_rng(seed)
    sampled = random_lot_sample(Y, rng)
    print(f"W3  {n_wafers}-wafer lot, {sampled.sum()} training points, predict {Y.size} (wafer, die)")
    per_wafer, t_w = timed(lambda: np.stack([
        GaussianProcess(ard=False).fit(xy[s], y[s]).predict(xy) for s, y in zip(sampled, Y)]))
    model = SpatioTemporalGP(seed=seed)
    _, t_fit = timed(model.fit, lot_design(xy, t, sampled), Y[sampled])
    Xq = lot_design(xy, t, np.ones(Y.shape, bool))
    (mean, _), t_pred = timed(model.predict, Xq, return_std=True)
    pred = mean.reshape(Y.shape)
    row("fabnb per-wafer GP (baseline, mean)", t_w, lot_eps(Y, per_wafer, sampled))
    row("fabnb GP-ST fit + predict mean & std", t_fit + t_pred, lot_eps(Y, pred, sampled))
    print(f"  (fit {t_fit:.2f} s on {model.gp_.X_train_.shape[0]} subsampled points, "
          f"ℓ = {np.round(model.length_scale_, 2)}; local prediction {t_pred:.2f} s)")
    if exact:
        # The exact GP with the same hyperparameters on all points (one dense Cholesky of
        # the whole lot, mean only): isolates the error of the local prediction.
        gp = GaussianProcess(ard=True, length_scale=model.length_scale_, noise=model.noise_,
                             signal_variance=model.signal_variance_, optimizer=None)
        dense, t_e = timed(lambda: gp.fit(lot_design(xy, t, sampled), Y[sampled]).predict(Xq).reshape(Y.shape))
        e_dense, e_local = lot_eps(Y, dense, sampled), lot_eps(Y, pred, sampled)
        row("exact GP-ST, same hyperparameters (mean)", t_e, e_dense)
        print(f"  ε relative difference local vs exact: {100 * (e_local - e_dense) / e_dense:+.2f} %")


def w3_exact_check(n_wafers, seed):
    xy, t, Y = make_lot(n_wafers, seed + 1)
    sampled = random_lot_sample(Y, np.random.default_rng(seed))
    print(f"W3' {n_wafers}-wafer lot ({sampled.sum()} points): approximation vs exact GP-ST")
    exact, t_e = timed(lot_fit, xy, t, Y, sampled, SpatioTemporalGP(max_exact=10**9, seed=seed))
    approx, t_a = timed(lot_fit, xy, t, Y, sampled, SpatioTemporalGP(max_exact=0, seed=seed))
    e_exact, e_approx = lot_eps(Y, exact, sampled), lot_eps(Y, approx, sampled)
    row("fabnb GP-ST exact (dense, all points)", t_e, e_exact)
    row("fabnb GP-ST approximation", t_a, e_approx, t_e)
    print(f"  ε relative difference approx vs exact: {100 * (e_approx - e_exact) / e_exact:+.2f} %")


def panel_pairs(seed, n_pairs, budget=0.10):
    """``n_pairs`` random (wafer, test) pairs of the default synthetic fab ``seed``, each
    with ``budget`` of its measured dies drawn at random: [(label, xy, values, sampled)]."""
    import fabnb

    ds = fabnb.synth.fab("default", seed=seed)
    xy = np.c_[ds.x.values, ds.y.values]
    V = ds.value.values
    rng = np.random.default_rng([22, seed])
    pairs = []
    for _ in range(n_pairs):
        w, t = int(rng.integers(V.shape[0])), int(rng.integers(V.shape[2]))
        values = V[w, :, t]
        measured = np.flatnonzero(np.isfinite(values))
        sampled = np.zeros(len(values), bool)
        sampled[rng.choice(measured, round(budget * measured.size), replace=False)] = True
        pairs.append((f"fab {seed} {ds.wafer.values[w]} {ds.test.values[t]}", xy, values, sampled))
    return pairs


def profiled_log_likelihood(X, y, length_scale, noise_ratio):
    """fabnb's log marginal likelihood (constant mean, RBF, σ_f² profiled) at ``(ℓ, η)``."""
    return _Factorised(X, y, mean_basis(X, "constant"), 0, np.full(X.shape[1], 1 / length_scale),
                       noise_ratio).log_likelihood()


def best_of_restarts(X, y, n_restarts=8, seed=0):
    """The best optimum of L-BFGS-B on all sites from the default start and ``n_restarts``
    log-uniform ones inside the bounds (no coarse stage): the panel's reference."""
    gp = GaussianProcess(ard=False)
    H = mean_basis(X, "constant")
    lo, hi = gp._log_bounds(X)
    start = gp._start(X, y, H)  # (log ℓ, σ_f², [ω,] η)
    log_ls, eta = start[0], start[-1]
    rng = np.random.default_rng(seed)
    starts = [np.r_[log_ls, math.log(eta)]] + [rng.uniform(lo, hi) for _ in range(n_restarts)]
    best, _ = gp._maximise(X, y, H, starts, lo, hi)
    return -best.fun


@contextlib.contextmanager
def counting_evaluations():
    """Count the GP's likelihood evaluations by number of sites: ``{n: count}``.  The cost
    proxy of the optimiser (deterministic, unlike wall time on a shared machine)."""
    counts = collections.Counter()
    factorised = gp_module._Factorised

    class Counted(factorised):
        def __init__(self, X, *args, **kwargs):
            counts[X.shape[0]] += 1
            super().__init__(X, *args, **kwargs)

    gp_module._Factorised = Counted
    try:
        yield counts
    finally:
        gp_module._Factorised = factorised


def panel(seeds, n_pairs):
    """The default fit's gap to the best optimum on random (wafer, test) pairs."""
    print(f"Panel: {n_pairs} random (wafer, test) pairs per fab seed {seeds}, 10 % of the dies; "
          "times are wall clock on a shared machine (one run per pair, fabnb and scikit-learn in turn)")
    rows = []
    for seed in seeds:
        for label, xy, values, sampled in panel_pairs(seed, n_pairs):
            X, y = xy[sampled], values[sampled]
            measured = np.isfinite(values)

            def fabnb_run():
                gp = GaussianProcess(ard=False).fit(X, y)
                return gp, gp.predict(xy, return_std=True, include_noise=True)

            def sklearn_run():
                gpr = sklearn_gp().fit(X, y)
                return gpr, gpr.predict(xy, return_std=True)

            if not rows:
                fabnb_run()  # numba compile / cache load outside the timing
            with counting_evaluations() as counts:
                (gp, (m_f, _)), t_f = timed(fabnb_run)
            time.sleep(QUIET)
            (gpr, (m_s, _)), t_s = timed(sklearn_run)
            kernel = gpr.kernel_.get_params()
            ll_sk = profiled_log_likelihood(X, y, float(kernel["k1__k2__length_scale"]),
                                            kernel["k2__noise_level"] / kernel["k1__k1__constant_value"])
            ll = gp.log_marginal_likelihood_
            ll_best = max(best_of_restarts(X, y), ll, ll_sk)
            eps_f = spec_range_error(values[measured], m_f[measured], sampled[measured])
            eps_s = spec_range_error(values[measured], m_s[measured], sampled[measured])
            rows.append((ll_best - ll, ll_sk - ll, t_f, t_s, eps_f, eps_s, counts[len(y)]))
            print(f"  {label:<28s} ℓ = {gp.length_scale_[0]:6.1f} mm  log L = {ll:9.2f}  gap to best "
                  f"{ll_best - ll:6.2f}, sklearn's − fabnb's {ll_sk - ll:+8.2f} nat  ε {100 * eps_f:.3f} / "
                  f"{100 * eps_s:.3f} %  {counts[len(y)]:2d} evaluations at n = {len(y)}", flush=True)
    panel_summary(np.array(rows))


def panel_summary(rows):
    """Print the panel's figures from its rows (gap to the best, sklearn's optimum − fabnb's,
    fabnb seconds, sklearn seconds, ε fabnb, ε sklearn, full-n evaluations)."""
    gap, gap_sk, t_f, t_s, eps_f, eps_s, evals = np.asarray(rows, dtype=float).T
    edges = [0, 0.1, 0.5, 2, 10, np.inf]
    hist = np.histogram(gap, edges)[0]
    print(f"\n  {len(gap)} pairs: gap to the best of 8 restarts ≤ 0.5 nat on {np.mean(gap <= 0.5):.1%} "
          f"({np.sum(gap <= 0.5)}/{len(gap)})")
    print("  gap distribution (nat): " + ", ".join(
        f"[{a:g}, {b:g}): {k}" for a, b, k in zip(edges[:-1], edges[1:], hist))
          + f"; quantiles 50/90/max {np.median(gap):.2f} / {np.quantile(gap, 0.9):.2f} / {gap.max():.2f}")
    print(f"  scikit-learn's optimum in fabnb's model: fabnb within 0.5 nat of it or above on "
          f"{np.mean(gap_sk <= 0.5):.1%}; sklearn's − fabnb's: median {np.median(gap_sk):+.2f}, max {gap_sk.max():+.2f} nat")
    print(f"  mean ε fabnb {100 * eps_f.mean():.3f} %, scikit-learn {100 * eps_s.mean():.3f} %")
    print(f"  likelihood evaluations on all n per fabnb fit: mean {evals.mean():.1f}, max {evals.max():.0f}")
    print(f"  fit + predict mean & std, summed: fabnb {t_f.sum():.2f} s, scikit-learn {t_s.sum():.2f} s "
          f"({t_s.sum() / t_f.sum():.1f}x; shared machine, one run each)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8-wafer W3 lot instead of 25")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="w1,w2,w3,w3exact,exact",
                        help="comma list of w1,w2,w3,w3exact (W3 plus the dense exact GP on the whole lot, "
                             "~2 min),exact (hyperparameters from a subsample vs all points, 6-wafer lot)")
    parser.add_argument("--panel", action="store_true",
                        help="the optimum panel of issue 22.1 instead of the workloads")
    parser.add_argument("--panel-seeds", default="11,12,13", help="fab seeds of the panel")
    parser.add_argument("--panel-pairs", type=int, default=30, help="(wafer, test) pairs per fab seed")
    args, _ = parser.parse_known_args(argv)  # `python -m benchmarks gp` passes its own names
    warnings.filterwarnings("ignore", module="sklearn")
    if args.panel:
        panel([int(s) for s in args.panel_seeds.split(",")], args.panel_pairs)
        return
    parts = args.only.split(",")
    xy, _, Y = make_lot(1, args.seed)
    rng = np.random.default_rng(args.seed)
    print(f"{len(xy)} dies per wafer; wall-clock times on this machine (W1, W2: median of {REPEAT} interleaved runs)\n")
    if "w1" in parts:
        w1(xy, Y[0], rng)
    if "w2" in parts:
        w2(xy, Y[0], args.seed)
    if "w3" in parts or "w3exact" in parts:
        w3(8 if args.quick else 25, args.seed, exact="w3exact" in parts)
    if "exact" in parts:
        w3_exact_check(4 if args.quick else 6, args.seed)


if __name__ == "__main__":
    main()
