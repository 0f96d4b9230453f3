"""KDE and yield benchmark: fabnb.density against scipy, scikit-learn, statsmodels, KDEpy.

    python -m benchmarks.bench_kde

One run, same data (27,500 values: 5 wafers × 5,500 dies of a bimodal-ish parametric):
(a) density on a 2,048-point grid, fixed and adaptive bandwidth; (b) 1,000,000 synthetic
draws + yield; (c) 2-D and 5-D adaptive Epanechnikov on 27,500 points (evaluated at the
data, which is what the adaptive pilot needs).  Prints seconds, ratio to fabnb and the
max deviation from fabnb's estimate relative to its peak (accuracy).  Asserts nothing.
Times are best of ``--repeat`` after a warm-up call (Numba compile excluded).
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks import best_of


def _row(name, seconds, base, dev=None):
    acc = "" if dev is None else f"{dev:10.2e}"
    print(f"  {name:44s} {seconds * 1e3:10.1f} ms  x{seconds / base:7.2f}  {acc}")


def main(argv=None):
    from KDEpy import FFTKDE, NaiveKDE, TreeKDE
    from scipy.stats import gaussian_kde
    from sklearn.neighbors import KernelDensity
    from statsmodels.nonparametric.kde import KDEUnivariate

    from fabnb.density import KDE, estimate_yield

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=27_500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-slow-anchors", action="store_true",
                        help="leave out KDEpy's adaptive TreeKDE/NaiveKDE runs (minutes each)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    n = args.n
    x = np.r_[rng.normal(0.0, 1.0, int(0.8 * n)), rng.normal(2.5, 0.6, n - int(0.8 * n))]
    grid = np.linspace(x.min() - 1, x.max() + 1, 2048)
    print(f"data: n={n}; columns: time, ratio to fabnb, max |f − fabnb| / max fabnb")

    print("\n(a) fixed bandwidth, 2,048-point grid")
    h = float(KDE(bandwidth="scipy_silverman").fit(x).bandwidth_[0])
    t0, ours = best_of(lambda: KDE(kernel="epanechnikov", bandwidth=h).fit(x).pdf(grid), args.repeat)
    dev = lambda f: float(np.max(np.abs(f - ours)) / ours.max())
    _row("fabnb KDE epanechnikov", t0, t0, 0.0)
    for name, fn in [
        ("KDEpy FFTKDE epa (binned, approximate)", lambda: FFTKDE(kernel="epa", bw=h).fit(x).evaluate(grid)),
        ("KDEpy TreeKDE epa", lambda: TreeKDE(kernel="epa", bw=h).fit(x).evaluate(grid)),
        ("KDEpy NaiveKDE epa", lambda: NaiveKDE(kernel="epa", bw=h).fit(x).evaluate(grid)),
    ]:
        t, f = best_of(fn, args.repeat)
        _row(name, t, t0, dev(f))
    t0g, ours_g = best_of(lambda: KDE(kernel="gaussian", bandwidth="scipy_silverman").fit(x).pdf(grid), args.repeat)
    devg = lambda f: float(np.max(np.abs(f - ours_g)) / ours_g.max())
    _row("fabnb KDE gaussian (scipy_silverman)", t0g, t0g, 0.0)

    def statsmodels_fit():
        kde = KDEUnivariate(x)
        kde.fit(kernel="gau", bw=float(np.std(x, ddof=1) * (n * 3 / 4) ** -0.2), fft=False, gridsize=2048)
        return kde.evaluate(grid)

    sk = KernelDensity(kernel="gaussian", bandwidth=float(np.std(x, ddof=1) * (n * 3 / 4) ** -0.2))
    for name, fn in [
        ("scipy gaussian_kde", lambda: gaussian_kde(x, bw_method="silverman")(grid)),
        ("sklearn KernelDensity (kd_tree, exact)", lambda: np.exp(sk.fit(x[:, None]).score_samples(grid[:, None]))),
        ("statsmodels KDEUnivariate (no FFT)", statsmodels_fit),
    ]:
        t, f = best_of(fn, args.repeat)
        _row(name, t, t0g, devg(f))

    print("\n(a') adaptive Epanechnikov (pilot at the data + local factors), 2,048-point grid")
    t0a, ours_a = best_of(lambda: KDE(bandwidth=h, adaptive=True).fit(x).pdf(grid), args.repeat)
    lam = KDE(bandwidth=h, adaptive=True).fit(x).local_factors_
    deva = lambda f: float(np.max(np.abs(f - ours_a)) / ours_a.max())
    _row("fabnb KDE(adaptive=True)", t0a, t0a, 0.0)

    def kdepy_adaptive(cls):
        def run():
            pilot = cls(kernel="epa", bw=h).fit(x).evaluate(x)
            factors = (pilot / np.exp(np.mean(np.log(pilot)))) ** -0.5
            return cls(kernel="epa", bw=h * factors).fit(x).evaluate(grid)
        return run

    slow = [("KDEpy TreeKDE pilot + TreeKDE(bw=h·λ)", TreeKDE), ("KDEpy NaiveKDE pilot + NaiveKDE(bw=h·λ)", NaiveKDE)]
    for name, cls in [] if args.skip_slow_anchors else slow:
        t, f = best_of(kdepy_adaptive(cls), 1)
        _row(name, t, t0a, deva(f))
    print(f"  (fabnb λ range {lam.min():.2f}..{lam.max():.2f})")

    print("\n(b) 1,000,000 synthetic draws + yield (fit included)")
    lsl, usl = -2.5, 3.5
    t0y, est = best_of(lambda: estimate_yield(x, lsl, usl, method="kde", n_bootstrap=0, seed=1), args.repeat)
    exact = KDE(adaptive=True).fit(x).mass(lsl, usl)
    _row("fabnb estimate_yield(kde adaptive, 1e6 dies)", t0y, t0y)
    print(f"    yield {est.estimate:.5f}, exact mass of the fitted density {exact:.5f}")
    kde = KDE(adaptive=True).fit(x)
    def draws_and_yield():
        draws = kde.sample(1_000_000, seed=2)
        return np.mean((draws >= lsl) & (draws <= usl))

    t_s, _ = best_of(draws_and_yield, args.repeat)
    _row("fabnb 1e6 draws + yield (fitted KDE)", t_s, t0y)
    t_h, _ = best_of(lambda: estimate_yield(x, lsl, usl, method="histogram", n_bootstrap=0, seed=1), args.repeat)
    _row("fabnb estimate_yield(histogram, 1e6 dies)", t_h, t0y)
    sk_fixed = KernelDensity(kernel="gaussian", bandwidth=float(np.std(x, ddof=1) * (n * 3 / 4) ** -0.2)).fit(x[:, None])
    t_k, _ = best_of(lambda: sk_fixed.sample(1_000_000, random_state=1), 1)
    _row("sklearn KernelDensity.sample(1e6) (gaussian)", t_k, t0y)
    t_g, _ = best_of(lambda: gaussian_kde(x).resample(1_000_000, seed=1), 1)
    _row("scipy gaussian_kde.resample(1e6)", t_g, t0y)

    print("\n(c) d-dimensional adaptive Epanechnikov on the data (pilot + final estimate)")
    for d in (2, 5):
        _adaptive_d(rng.normal(size=(n, d)) @ np.triu(np.full((d, d), 0.3) + np.eye(d)), args.skip_slow_anchors)


def _adaptive_d(xd, skip_anchor):
    """fabnb vs KDEpy TreeKDE: adaptive Epanechnikov in d dims, evaluated at 2,048 data points."""
    from KDEpy import TreeKDE

    from fabnb.density import KDE

    d = xd.shape[1]
    hd = KDE(bandwidth="scipy_silverman").fit(xd).bandwidth_
    t0, ours = best_of(lambda: KDE(bandwidth="scipy_silverman", adaptive=True).fit(xd).pdf(xd[:2048]), 1)
    _row(f"fabnb KDE d={d} adaptive", t0, t0, 0.0)
    if skip_anchor:
        return
    z = xd / hd  # KDEpy takes one scalar bw: hand it standardised data; its radius √5·bw = our √(d+4)
    bw = np.sqrt((d + 4) / 5)

    def kdepy():
        pilot = TreeKDE(kernel="epa", bw=bw).fit(z).evaluate(z)
        factors = (pilot / np.exp(np.mean(np.log(pilot)))) ** -0.5
        return TreeKDE(kernel="epa", bw=bw * factors).fit(z).evaluate(z[:2048]) / np.prod(hd)

    t, f = best_of(kdepy, 1)
    _row(f"KDEpy TreeKDE d={d} pilot + adaptive", t, t0, float(np.max(np.abs(f - ours)) / ours.max()))

if __name__ == "__main__":
    main()
