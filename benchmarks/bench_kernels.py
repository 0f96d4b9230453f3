"""Composite kernels: fabnb.spatial.kernels vs scikit-learn's, same data, one run.

    python -m benchmarks.bench_kernels            # Mauna Loa + reticle wafer
    python -m benchmarks.bench_kernels --quick    # the wafer only

CO2   R&W (2006) §5.4.3's kernel on the Mauna Loa monthly means shipped with statsmodels
      (521 months, 1958–2001), both libraries from R&W's published hyperparameters:
      fit time, log-likelihood and the fitted kernel.
Wafer a 300 mm wafer of 6 mm dies with a radial bowl, a 4 × 3-die reticle signature and
      noise, 10 % of the dies at random (3 draws): ε and fit + predict time of
      (a) fabnb's reticle kernel (long RBF + per-axis periodic × periodic + white),
      (b) a kernel both libraries express, C·RBF + C·RationalQuadratic + white, in fabnb
          and in scikit-learn, and (c) fabnb's default single-RBF GP.
Both libraries get one BLAS thread.  Nothing is asserted; ratios are printed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from threadpoolctl import threadpool_limits

from fabnb.datasets import mauna_loa_co2
from fabnb.geometry import die_grid, shot_ids
from fabnb.spatial import GaussianProcess, _composite, spec_range_error
from fabnb.spatial.kernels import RBF, ConstantKernel as C, ExpSineSquared, RationalQuadratic, WhiteKernel
from fabnb.spatial.kernels import reticle_kernel


def bench_co2():
    t, y = mauna_loa_co2()
    start = (C(66.0**2) * RBF(67.0) + C(2.4**2) * RBF(90.0) * ExpSineSquared(1.3, 1.0, periodicity_bounds="fixed")
             + C(0.66**2) * RationalQuadratic(1.2, 0.78) + C(0.18**2) * RBF(0.134) + WhiteKernel(0.19**2, (1e-5, 1e5)))
    t0 = time.perf_counter()
    post = _composite.fit(start, t, y, np.empty((len(y), 0)))
    t_fab = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = GaussianProcessRegressor(start.to_sklearn(), alpha=0.0).fit(t, y)
    t_sk = time.perf_counter() - t0
    print(f"CO2 (n={len(y)}):  fabnb {t_fab:6.1f} s  ℓ = {post.log_likelihood:.3f}   "
          f"scikit-learn {t_sk:6.1f} s  ℓ = {ref.log_marginal_likelihood_value_:.3f}   ratio {t_sk / t_fab:.2f}x")
    print(f"  fabnb:        {post.kernel!r}\n  scikit-learn: {ref.kernel_!r}")


def reticle_wafer(seed=1):
    grid = die_grid(300, 6, 6)
    _, site = shot_ids(grid["col"].values, grid["row"].values, 4, 3)
    rng = np.random.default_rng(seed)
    r = grid["r"].values
    values = 3.0 * (r / r.max()) ** 2 + rng.standard_normal(12)[site] + 0.3 * rng.standard_normal(r.size)
    return grid, np.c_[grid["x"].values, grid["y"].values], values


def bench_wafer(draws=3):
    grid, X, values = reticle_wafer()
    n = len(values)
    rows = {}
    for seed in range(draws):
        sampled = np.zeros(n, bool)
        sampled[np.random.default_rng(seed).choice(n, n // 10, replace=False)] = True
        Xs, ys, v = X[sampled], values[sampled], float(values[sampled].var())
        H, Hq = np.ones((len(ys), 1)), np.ones((n, 1))
        common = (C(0.6 * v, (1e-4 * v, 1e2 * v)) * RBF(100.0, (3.0, 3e4))
                  + C(0.3 * v, (1e-4 * v, 1e2 * v)) * RationalQuadratic(10.0, 1.0, (1.0, 3e4), (1e-2, 1e3))
                  + WhiteKernel(0.1 * v, (1e-6 * v, 10 * v)))

        def fab(kernel):
            post = _composite.fit(kernel, Xs, ys, H, seed=0)
            return post.predict(X, Hq, return_std=True)[0]

        def sklearn():
            # scikit-learn's constant mean: subtract the sample mean (fabnb estimates it by GLS)
            gpr = GaussianProcessRegressor(common.to_sklearn(), alpha=0.0, random_state=0).fit(Xs, ys - ys.mean())
            return gpr.predict(X, return_std=True)[0] + ys.mean()

        def rbf():
            return GaussianProcess(kernel="rbf", ard=False, seed=0).fit(Xs, ys).predict(X, return_std=True)[0]

        for name, run in [("fabnb reticle kernel", lambda: fab(reticle_kernel(grid, 4, 3, variance=v))),
                          ("fabnb C·RBF + C·RQ + white", lambda: fab(common)),
                          ("scikit-learn C·RBF + C·RQ + white", sklearn),
                          ("fabnb single RBF (default GP)", rbf)]:
            t0 = time.perf_counter()
            pred = run()
            rows.setdefault(name, []).append((time.perf_counter() - t0, spec_range_error(values, pred, sampled)))
    print(f"Reticle wafer ({n} dies, 10 % sampled, {draws} draws): fit + predict mean and std")
    for name, res in rows.items():
        times, eps = np.array(res).T
        print(f"  {name:36s} {times.mean():6.2f} s   ε = {100 * eps.mean():5.2f} %")
    ratio = np.mean([r[0] for r in rows["scikit-learn C·RBF + C·RQ + white"]]) / np.mean(
        [r[0] for r in rows["fabnb C·RBF + C·RQ + white"]])
    print(f"  same kernel, scikit-learn / fabnb time: {ratio:.2f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the wafer only")
    args = parser.parse_args(argv)
    with threadpool_limits(1):
        if not args.quick:
            bench_co2()
        bench_wafer()


if __name__ == "__main__":
    main()
