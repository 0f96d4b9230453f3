"""RBA at scale: 10,000 wafers × 4 zones × 20 dies (800,000 dies, 4 features).

fabnb's exact RBA (within-wafer demeaning, O(n)) and the paper's iteration against the
anchors on the same data: SciPy's sparse least squares (LSQR on the sparse
wafer/zone dummy design) at full size, and statsmodels OLS with ``C(wafer) + C(zone)``
on a 200-wafer slice (its dense dummy design does not fit 10,000 wafers).  Prints
time, iterations and accuracy against the generating truth; asserts nothing.
"""

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

from fabnb.vmin import BiasAlignment, RestrictedBiasAlignment

ZONES = np.array(["center", "inner", "outer", "edge"])


def make_data(n_wafers=10_000, dies=20, seed=0):
    """RBA-model data with known truth; features partly shared within a wafer."""
    rng = np.random.default_rng(seed)
    n = n_wafers * 4 * dies
    wc = np.repeat(np.arange(n_wafers), 4 * dies)
    zc = np.tile(np.repeat(np.arange(4), dies), n_wafers)
    X = rng.normal(size=(n, 4)) + 0.5 * rng.normal(size=(n_wafers, 4))[wc]
    w = np.array([0.8, -0.35, -0.2, -0.04])
    inter = rng.normal(0, 0.015, n_wafers)
    intra = np.array([-0.012, -0.006, 0.003, 0.015])
    y = 0.62 + X @ w + inter[wc] + intra[zc] + rng.normal(0, 0.007, n)
    wafer = np.char.add("W", np.char.zfill(wc.astype(str), 5)).astype(object)
    return X, y, wafer, ZONES[zc], {"w": w, "inter": 0.62 + inter, "intra": intra, "wc": wc, "zc": zc}


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _lsqr(X, y, wc, zc, n_wafers):
    """Anchor: sparse design [X | wafer dummies | zone dummies 1..3], SciPy LSQR."""
    n = len(y)
    rows = np.arange(n)
    wafer_d = sp.csr_matrix((np.ones(n), (rows, wc)), shape=(n, n_wafers))
    keep = zc > 0
    zone_d = sp.csr_matrix((np.ones(keep.sum()), (rows[keep], zc[keep] - 1)), shape=(n, 3))
    A = sp.hstack([sp.csr_matrix(X), wafer_d, zone_d]).tocsr()
    sol = lsqr(A, y, atol=1e-12, btol=1e-12, iter_lim=20_000)
    return sol[0][:4], sol[2]


def _statsmodels_slice(X, y, wafer, zone, n_wafers):
    import statsmodels.formula.api as smf

    keep = np.isin(wafer, np.unique(wafer)[:n_wafers])
    df = pd.DataFrame(X[keep], columns=["x0", "x1", "x2", "x3"])
    df["y"], df["wafer"], df["zone"] = y[keep], wafer[keep], zone[keep]
    res, sec = _timed(lambda: smf.ols("y ~ C(wafer) + C(zone) + x0 + x1 + x2 + x3", df).fit())
    ours, sec_ours = _timed(lambda: RestrictedBiasAlignment(solver="exact").fit(
        X[keep], y[keep], wafer[keep], zone[keep]))
    diff = np.abs(res.params[["x0", "x1", "x2", "x3"]].to_numpy() - ours.coef_).max()
    return sec, sec_ours, diff


def main(n_wafers=10_000, dies=20):
    X, y, wafer, zone, truth = make_data(n_wafers, dies)
    print(f"RBA benchmark: {n_wafers:,} wafers x 4 zones x {dies} dies = {len(y):,} dies, 4 features")
    exact, t_exact = _timed(lambda: RestrictedBiasAlignment(solver="exact").fit(X, y, wafer, zone))
    paper, t_paper = _timed(lambda: RestrictedBiasAlignment().fit(X, y, wafer, zone))
    tight, t_tight = _timed(lambda: RestrictedBiasAlignment(tol=1e-10, max_iter=2000).fit(
        X, y, wafer, zone))
    _, t_ba = _timed(lambda: BiasAlignment().fit(X, y, wafer, zone))
    (coef_lsqr, it_lsqr), t_lsqr = _timed(lambda: _lsqr(X, y, truth["wc"], truth["zc"], n_wafers))

    def acc(model):
        est = model.inter_bias_.to_numpy()
        inter_err = (est - est.mean()) - (truth["inter"] - truth["inter"].mean())
        return (np.abs(model.coef_ - truth["w"]).max() * 1e3,
                np.sqrt(np.mean((model.intra_bias_.to_numpy() - truth["intra"]) ** 2)) * 1e3,
                np.sqrt(np.mean(inter_err**2)) * 1e3)

    print(f"{'method':<34}{'time s':>9}{'iter':>7}{'x exact':>9}{'|dw| vs exact':>15}"
          f"{'|dw| true mV':>14}{'intra mV':>10}{'inter mV':>10}")
    for name, model, sec, iters in (("fabnb RBA exact (FWL)", exact, t_exact, 0),
                                    ("fabnb RBA paper (tol 1e-3)", paper, t_paper, paper.n_iter_),
                                    ("fabnb RBA paper (tol 1e-10)", tight, t_tight, tight.n_iter_)):
        dw, intra, inter = acc(model)
        print(f"{name:<34}{sec:9.2f}{iters:7d}{sec / t_exact:9.1f}"
              f"{np.abs(model.coef_ - exact.coef_).max():15.2e}{dw:14.3f}{intra:10.3f}{inter:10.3f}")
    print(f"{'fabnb BA (closed form)':<34}{t_ba:9.2f}{0:7d}{t_ba / t_exact:9.1f}")
    print(f"{'scipy sparse LSQR (anchor)':<34}{t_lsqr:9.2f}{it_lsqr:7d}{t_lsqr / t_exact:9.1f}"
          f"{np.abs(coef_lsqr - exact.coef_).max():15.2e}")
    print(f"paper loss / exact loss: tol 1e-3 {paper.loss_ / exact.loss_:.6f}, "
          f"tol 1e-10 {tight.loss_ / exact.loss_:.10f}")
    sm_sec, ours_sec, diff = _statsmodels_slice(X, y, wafer, zone, 200)
    print(f"200-wafer slice: statsmodels OLS C(wafer)+C(zone) {sm_sec:.2f} s, fabnb exact "
          f"{ours_sec:.3f} s (x{sm_sec / ours_sec:.0f}), max |coef diff| {diff:.1e}")


if __name__ == "__main__":
    main()
