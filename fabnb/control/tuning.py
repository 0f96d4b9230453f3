"""Tuning and analysis of run-to-run loops: stability, drift offset, MSE vs λ.

Model gain ``b``, true gain ``β = ξ b``, process ``y_t = β u_t + c_t`` (see
:class:`~fabnb.control.LinearProcess`).

- EWMA stability: the loop ``e_{t+1} = (1 − λ ξ) e_t + …`` is stable iff
  ``|1 − λ ξ| < 1``, i.e. ``0 < λ ξ < 2`` (Ingolfsson & Sachs 1993, "Stability and
  sensitivity of an EWMA controller", J. Qual. Technol. 25(4), 271–287).
- EWMA under a drift ``δ`` per wafer: the output settles at ``T + δ / (λ ξ)``
  (:func:`ewma_drift_offset`).
- Double EWMA: the closed loop is a second-order system; its characteristic polynomial
  (:func:`double_ewma_polynomial`) and stability region in (λ₁, λ₂) for a given ξ
  (:func:`double_ewma_stable`, :func:`stability_region`) differ between the
  Butler–Stefani and the Holt form.  Under a drift both settle on target, with the drift
  filter at ``δ/(ξ λ₁)`` or ``δ/ξ`` (:func:`double_ewma_drift_offset`).
- IMA(1,1) disturbance with parameter θ (and ξ = 1): EWMA with ``λ = 1 − θ`` is the
  minimum-variance controller (the EWMA is then the MMSE one-step forecast).

Example
-------
>>> from fabnb.control.tuning import ewma_drift_offset, stable_lambda_range
>>> ewma_drift_offset(drift=0.5, lam=0.25)
2.0
>>> stable_lambda_range(xi=4.0)
(0.0, 0.5)
>>> double_ewma_stable(0.8, 0.8, xi=1.6, form="butler_stefani")  # 4 − 2ξ(λ₁+λ₂) + ξλ₁λ₂ < 0
False
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .._params import Integral, Interval, Real, StrOptions, check_params
from ..errors import FabParameterError
from .controllers import FORMS, LAMBDA, EWMAController
from .process import LinearProcess
from .simulate import simulate


# ξ = β / b: a loop whose true gain has the opposite sign of the model's is never stable
PARAMETERS = {"xi": [Interval(Real, 0, None, closed="neither")], "lam": LAMBDA,
              "drift": [Interval(Real, None, None, closed="neither")],
              "ima_theta": [Interval(Real, -1, 1, closed="neither")],
              "lam1": LAMBDA, "lam2": LAMBDA, "form": [StrOptions(set(FORMS))],
              "n": [Interval(Integral, 2, None, closed="left")]}


def stable_lambda_range(xi: float = 1.0) -> tuple[float, float]:
    """Open interval of λ in (0, 1] for which the EWMA loop is stable at gain ratio ξ."""
    check_params("stable_lambda_range", PARAMETERS, locals())
    return (0.0, float(min(1.0, 2.0 / xi)))


def ewma_drift_offset(drift: float, lam: float, xi: float = 1.0) -> float:
    """Steady-state offset ``lim (y_t − T) = δ / (λ ξ)`` of a single EWMA loop under a
    linear drift ``δ`` per wafer.

    In steady state the intercept estimate grows as fast as the drift it chases,
    ``a_t − a_{t−1} = δ/ξ``; the EWMA update ``a_t − a_{t−1} = λ (z_t − a_{t−1})`` then
    leaves the observed intercept ``z_t`` ahead of ``a_{t−1}`` by ``δ/(λξ)``, and
    ``y_t − T = z_t − a_{t−1}`` (the recipe put ``a_{t−1}`` on target).  Defined only
    for a stable loop (``λξ < 2``): otherwise there is no steady state and this raises.

    >>> ewma_drift_offset(0.05, lam=0.3)
    0.16666666666666669
    """
    check_params("ewma_drift_offset", PARAMETERS, locals())
    if not lam * xi < 2:
        raise FabParameterError(f"The 'lam' parameter of ewma_drift_offset gives an unstable loop at xi={xi} "
                                f"(lam·xi = {lam * xi:g} >= 2): the output diverges, no steady-state offset.")
    return drift / (lam * xi)


def _lambdas(owner: str, **values) -> list[np.ndarray]:
    """λ₁, λ₂ as float arrays (scalars or grids), each in (0, 1]."""
    out = []
    for name, value in values.items():
        try:
            v = np.asarray(value, dtype=float)
            ok = bool(np.all((v > 0) & (v <= 1)))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise FabParameterError(f"The {name!r} parameter of {owner} must be a float (or an array of "
                                    f"floats) in the range (0.0, 1.0]. Got {value!r} instead.")
        out.append(v)
    return out


def double_ewma_polynomial(lam1, lam2, xi: float = 1.0, form: str = "butler_stefani"):
    r"""Closed-loop characteristic polynomial ``z² + c₁ z + c₀`` of a double-EWMA loop.

    Returns ``(1, c₁, c₀)`` (NumPy's ``np.roots`` order; arrays if λ₁, λ₂ are arrays).
    With the disturbance removed, the estimator state ``s_t = (a_t, p_t)`` obeys
    ``s_t = A s_{t−1}``, because the observed intercept is
    ``z_t = y_t − b u_t = c_t + (ξ − 1)(T − a_{t−1} − p_{t−1})``:

    * Butler–Stefani: ``A = [[1 − ξλ₁, −λ₁(ξ − 1)], [−ξλ₂, 1 − ξλ₂]]``, so::

          z² − (2 − ξ(λ₁ + λ₂)) z + (1 − ξ(λ₁ + λ₂) + ξ λ₁ λ₂)

      (at ξ = 1 the roots are the two filters' poles ``1 − λ₁`` and ``1 − λ₂``);
    * Holt: ``A = [[1 − ξλ₁, 1 − ξλ₁], [−ξλ₁λ₂, 1 − ξλ₁λ₂]]``, so::

          z² − (2 − ξλ₁(1 + λ₂)) z + (1 − ξλ₁)

      (at ξ = 1: Holt's linear smoothing, whose poles multiply to ``1 − λ₁``).

    The output error ``y_t − T`` is ``c_t − ξ(a_{t−1} + p_{t−1}) + …``: the same poles.
    Sources: Butler & Stefani (1994) for the recursions; Del Castillo (1999), IIE Trans.
    31, 1157–1169, for the closed-loop analysis of the double EWMA with gain mismatch ξ.

    >>> double_ewma_polynomial(0.5, 0.5, xi=1.0)  # (z − 0.5)²
    (1.0, -1.0, 0.25)
    """
    check_params("double_ewma_polynomial", PARAMETERS, {"xi": xi, "form": form})
    l1, l2 = _lambdas("double_ewma_polynomial", lam1=lam1, lam2=lam2)
    if form == "butler_stefani":
        c1, c0 = xi * (l1 + l2) - 2.0, 1.0 - xi * (l1 + l2) + xi * l1 * l2
    else:
        c1, c0 = xi * l1 * (1.0 + l2) - 2.0, 1.0 - xi * l1
    c1, c0 = np.broadcast_arrays(c1, c0)
    return (1.0, float(c1), float(c0)) if c1.ndim == 0 else (np.ones_like(c1), c1, c0)


def double_ewma_stable(lam1, lam2, xi: float = 1.0, form: str = "butler_stefani"):
    r"""Whether the double-EWMA loop with weights (λ₁, λ₂) is stable at gain ratio ξ.

    Both roots of :func:`double_ewma_polynomial` inside the unit circle; for
    ``P(z) = z² + c₁ z + c₀`` the Jury (Schur–Cohn) conditions are
    ``P(1) > 0``, ``P(−1) > 0`` and ``|c₀| < 1``.  With ``P(1) = ξλ₁λ₂ > 0`` always:

    * Butler–Stefani: ``ξ(λ₁ + λ₂ − λ₁λ₂) < 2`` and ``ξ(2λ₁ + 2λ₂ − λ₁λ₂) < 4``;
    * Holt: ``ξλ₁ < 2`` and ``ξλ₁(2 + λ₂) < 4``.

    Scalars give a bool, arrays (broadcast) a boolean array.

    >>> double_ewma_stable(0.3, 0.1, xi=1.0)
    True
    >>> double_ewma_stable([0.3, 0.9], 0.5, xi=2.0).tolist()  # ξ(2λ₁+2λ₂−λ₁λ₂) = 2.9, 4.7
    [True, False]
    """
    one, c1, c0 = double_ewma_polynomial(lam1, lam2, xi, form)
    stable = (one + c1 + c0 > 0) & (one - c1 + c0 > 0) & (np.abs(c0) < 1)
    return bool(stable) if np.ndim(stable) == 0 else stable


def stability_region(xi: float = 1.0, form: str = "butler_stefani", n: int = 201) -> xr.DataArray:
    """Stable (True) or not on the ``n × n`` grid ``λ = 1/n, 2/n, …, 1`` of (λ₁, λ₂), for one ξ.

    >>> region = stability_region(xi=2.0, n=10)
    >>> region.sel(lam1=0.1, lam2=[0.1, 0.5], method="nearest").values.tolist()
    [True, True]
    >>> region.sel(lam1=1.0, lam2=[0.1, 0.5], method="nearest").values.tolist()  # ξ(λ₁+λ₂−λ₁λ₂) = 2
    [False, False]
    """
    check_params("stability_region", PARAMETERS, {"xi": xi, "form": form, "n": n})
    grid = np.linspace(0.0, 1.0, n + 1)[1:]
    l1, l2 = np.meshgrid(grid, grid, indexing="ij")
    return xr.DataArray(double_ewma_stable(l1, l2, xi, form), dims=("lam1", "lam2"),
                        coords={"lam1": grid, "lam2": grid}, name="stable",
                        attrs={"xi": xi, "form": form})


def double_ewma_drift_offset(drift: float, lam1: float, lam2: float, xi: float = 1.0,
                             form: str = "butler_stefani") -> tuple[float, float]:
    r"""Steady state of a double-EWMA loop under a linear drift ``δ`` per wafer:
    ``(offset, drift_estimate)`` = ``(lim (y_t − T), lim p_t)``.

    In steady state the level estimate grows by ``s`` per wafer and the drift filter is
    constant, ``p``; the output is constant only if ``ξ s = δ``.

    * Butler–Stefani: ``p = λ₂(z_t − a_{t−1}) + (1 − λ₂)p`` gives ``z_t − a_{t−1} = p``;
      the level update gives ``s = λ₁(z_t − a_{t−1}) = λ₁ p``, so ``p = δ/(ξλ₁)``;
    * Holt: ``p = s`` and ``s = λ₁(z_t − a_{t−1}) + (1 − λ₁)p`` give
      ``z_t − a_{t−1} = p = δ/ξ``;

    and in both ``y_t − T = z_t − a_{t−1} − p = 0``: no offset (Del Castillo 1999 for the
    Butler–Stefani form).  Only for a stable loop (:func:`double_ewma_stable`); an
    unstable one raises.

    >>> double_ewma_drift_offset(0.05, lam1=0.5, lam2=0.2, xi=1.0)
    (0.0, 0.1)
    """
    check_params("double_ewma_drift_offset", PARAMETERS,
                 {"drift": drift, "lam1": lam1, "lam2": lam2, "xi": xi, "form": form})
    if not double_ewma_stable(lam1, lam2, xi, form):
        raise FabParameterError(f"The 'lam1'/'lam2' parameters of double_ewma_drift_offset give an unstable "
                                f"{form} loop at xi={xi} (lam1={lam1}, lam2={lam2}): the output diverges, "
                                f"no steady state.")
    return 0.0, float(drift / (xi * lam1) if form == "butler_stefani" else drift / xi)


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
