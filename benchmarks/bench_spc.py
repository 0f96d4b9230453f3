"""Streaming latency and batch throughput of the SPC/FDC scorers, 50 sensors.

Anchor: the same T²/Q arithmetic in plain NumPy (what a hand-written monitor does),
on the same samples; results must agree.
"""

import time

import numpy as np

from fabnb.spc import CusumChart, PCAMonitor


def main(n_stream=20000, n_batch=200_000, p=50):
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(5, p))
    X0 = rng.normal(size=(5000, 5)) @ mix + 0.3 * rng.normal(size=(5000, p))
    mon = PCAMonitor(explained_variance=0.9).fit(X0)
    stream = rng.normal(size=(n_stream, 5)) @ mix + 0.3 * rng.normal(size=(n_stream, p))
    mon.update(stream[0])  # compile / warm
    lat = np.empty(n_stream)
    for i, x in enumerate(stream):
        t0 = time.perf_counter()
        mon.update(x)
        lat[i] = time.perf_counter() - t0
    P, lam, mu, sd = mon.loadings_, mon.eigenvalues_, mon.mean_, mon.scale_
    lat_np = np.empty(2000)
    for i, x in enumerate(stream[:2000]):
        t0 = time.perf_counter()
        xs = (x - mu) / sd
        t = P.T @ xs
        _t2, _q = float(t @ (t / lam)), float(((xs - P @ t) ** 2).sum())
        lat_np[i] = time.perf_counter() - t0
    print(f"PCA monitor, {p} sensors, {mon.n_components_} components; streaming update() per sample:")
    print(f"  fabnb (Numba)   median {np.median(lat) * 1e6:7.1f} us   p99 {np.percentile(lat, 99) * 1e6:7.1f} us")
    print(f"  plain NumPy     median {np.median(lat_np) * 1e6:7.1f} us   p99 {np.percentile(lat_np, 99) * 1e6:7.1f} us")
    print("  budget (source): 10,000 us per evaluation at 100 Hz; goal < 50 us")
    batch = rng.normal(size=(n_batch, 5)) @ mix + 0.3 * rng.normal(size=(n_batch, p))
    mon.score(batch[:10])
    t0 = time.perf_counter()
    scores = mon.score(batch)
    fab = time.perf_counter() - t0
    t0 = time.perf_counter()
    xs = (batch - mu) / sd
    T = xs @ P
    t2 = (T**2 / lam).sum(1)
    q = ((xs - T @ P.T) ** 2).sum(1)
    ref = time.perf_counter() - t0
    agree = np.allclose(scores["t2"], t2) and np.allclose(scores["q"], q)
    print(f"batch score of {n_batch:,} samples: fabnb {n_batch / fab:,.0f}/s, NumPy (BLAS) {n_batch / ref:,.0f}/s,"
          f" ratio {ref / fab:.2f}, results agree: {agree}")
    chart = CusumChart(0.5, 5).fit(rng.normal(size=500))
    xs1 = rng.normal(size=n_stream)
    t0 = time.perf_counter()
    for v in xs1:
        chart.update(v)
    print(f"CUSUM update(): {(time.perf_counter() - t0) / n_stream * 1e6:.1f} us per sample")


if __name__ == "__main__":
    main()
