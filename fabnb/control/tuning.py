"""Tuning and analysis of run-to-run loops: stability, drift offset, MSE vs λ.

- Stability: with model gain ``b`` and true gain ``β = ξ b`` the EWMA loop
  ``e_{t+1} = (1 − λ ξ) e_t + …`` is stable iff ``|1 − λ ξ| < 1``, i.e. ``0 < λ ξ < 2``.
- Drift: under ``δ`` per wafer the EWMA output settles at ``T + δ / (λ ξ)``; a double
  EWMA estimates ``δ`` and removes the offset.
- IMA(1,1) disturbance with parameter θ (and ξ = 1): EWMA with ``λ = 1 − θ`` is the
  minimum-variance controller (the EWMA is then the MMSE one-step forecast).

Example
-------
>>> from fabnb.control.tuning import ewma_drift_offset, stable_lambda_range
>>> ewma_drift_offset(drift=0.5, lam=0.25)
2.0
>>> stable_lambda_range(xi=4.0)
(0.0, 0.5)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._params import Interval, Real, check_params
from .controllers import LAMBDA, EWMAController
from .process import LinearProcess
from .simulate import simulate


# ξ = β / b: a loop whose true gain has the opposite sign of the model's is never stable
PARAMETERS = {"xi": [Interval(Real, 0, None, closed="neither")], "lam": LAMBDA,
              "drift": [Interval(Real, None, None, closed="neither")],
              "ima_theta": [Interval(Real, -1, 1, closed="neither")]}


def stable_lambda_range(xi: float = 1.0) -> tuple[float, float]:
    """Open interval of λ in (0, 1] for which the EWMA loop is stable at gain ratio ξ."""
    check_params("stable_lambda_range", PARAMETERS, locals())
    return (0.0, float(min(1.0, 2.0 / xi)))


def ewma_drift_offset(drift: float, lam: float, xi: float = 1.0) -> float:
    """Steady-state offset ``δ / (λ ξ)`` of a single EWMA loop under a linear drift."""
    check_params("ewma_drift_offset", PARAMETERS, locals())
    return drift / (lam * xi)


def minimum_variance_lambda(ima_theta: float) -> float:
    """λ = 1 − θ: the minimum-variance EWMA weight for an IMA(1,1) disturbance (ξ = 1)."""
    check_params("minimum_variance_lambda", PARAMETERS, locals())
    return 1.0 - ima_theta


def mse_vs_lambda(process: LinearProcess, lambdas, n_runs: int = 500, seeds=range(5),
                  model_gain: float | None = None, target: float = 0.0) -> pd.DataFrame:
    """Mean squared error about target of the EWMA loop for each λ, averaged over seeds
    (the same disturbance seeds for every λ, so the comparison is paired)."""
    b = process.gain if model_gain is None else model_gain
    xi = process.gain / b
    rows = []
    for lam in lambdas:
        mse = [simulate(process, EWMAController(b, target, lam), n_runs, seed=s).attrs["mse"] for s in seeds]
        rows.append({"lam": lam, "lam_xi": lam * xi, "mse": float(np.mean(mse)),
                     "stable": bool(0 < lam * xi < 2)})
    return pd.DataFrame(rows)


def compare_controllers(process: LinearProcess, controllers: dict, n_runs: int = 300, seed=0,
                        **simulate_kw) -> pd.DataFrame:
    """One row per controller on the *same* disturbance: MSE, mean and std of the error
    over the second half of the run (the settled offset and spread)."""
    rows = []
    for name, controller in controllers.items():
        sim = simulate(process, controller, n_runs, seed=seed, **simulate_kw)
        settled = sim["error"].values[n_runs // 2:]
        rows.append({"controller": name, "mse": sim.attrs["mse"], "offset": float(settled.mean()),
                     "std": float(settled.std())})
    return pd.DataFrame(rows).set_index("controller")
