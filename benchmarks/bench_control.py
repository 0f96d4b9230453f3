"""Per-update cost of the run-to-run controllers (the fog tier allows < 2 s per decision).

Anchor: a plain NumPy transcription of the same EWMA recursion, on the same measurements.
"""

import time

import numpy as np

from fabnb.control import DoubleEWMAController, EWMAController, PIDController


def _per_update(controller, y, n):
    t0 = time.perf_counter()
    for k in range(n):
        u = controller.recommend()
        controller.update(y[k], u)
    return (time.perf_counter() - t0) / n


def main(n=1000):
    y = np.random.default_rng(0).normal(size=n)
    rows = {
        "EWMA": _per_update(EWMAController(1.0, 0.0, 0.3), y, n),
        "double EWMA": _per_update(DoubleEWMAController(1.0, 0.0, 0.3, 0.1), y, n),
        "PID": _per_update(PIDController(0.2, 0.1, 0.0, 0.0, limits=(-5, 5)), y, n),
        "EWMA 3x3 MIMO": _per_update(EWMAController(np.eye(3) * 2, [0, 0, 0], 0.3),
                                     np.repeat(y[:, None], 3, axis=1), n),
    }
    t0 = time.perf_counter()
    a = 0.0
    for k in range(n):
        u = -a
        a = 0.3 * (y[k] - u) + 0.7 * a
    plain = (time.perf_counter() - t0) / n
    print(f"{n} updates each; budget per between-wafer decision: 2 s")
    print(f"{'controller':<16}{'us/update':>12}{'x plain loop':>14}{'x under budget':>16}")
    for name, sec in rows.items():
        print(f"{name:<16}{sec * 1e6:12.1f}{sec / plain:14.1f}{2.0 / sec:16.0f}")
    print(f"{'plain python':<16}{plain * 1e6:12.2f}")


if __name__ == "__main__":
    main()
