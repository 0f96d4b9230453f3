"""Average run length (ARL) of Shewhart, CUSUM and EWMA charts, and chart design from a
target in-control ARL. Shifts are in units of the process standard deviation.

Shewhart (exact): a point signals with ``p = Φ(−L − δ) + 1 − Φ(L − δ)``; run lengths are
geometric, so ``ARL = 1 / p`` (370.4 for L = 3, δ = 0).

CUSUM (Brook & Evans 1972): the upper statistic ``C⁺_t = max(0, C⁺_{t−1} + x_t − k)``
on ``[0, h)`` is discretised into ``m`` states of width ``w = 2h / (2m − 1)``, state ``i``
standing for ``i·w``. With ``F`` the N(δ, 1) cdf the transient transition matrix is::

    R[i, 0] = F(k − i w + w/2)
    R[i, j] = F(k + (j − i) w + w/2) − F(k + (j − i) w − w/2),   j ≥ 1

and the vector of ARLs from each start state is ``(I − R)⁻¹ 1`` (a head start between
two state centres is interpolated linearly). A two-sided chart combines its halves as
``1/ARL = 1/ARL⁺ + 1/ARL⁻`` (Lucas & Crosier 1982).

EWMA (Lucas & Saccucci 1990): ``z_t = (1 − λ) z_{t−1} + λ x_t`` with asymptotic limits
``±L σ √(λ/(2−λ))``; the interval between them is cut into ``2m + 1`` states of width
``w`` with centres ``c_j`` and::

    R[i, j] = Φ((c_j + w/2 − (1−λ) c_i)/λ − δ) − Φ((c_j − w/2 − (1−λ) c_i)/λ − δ)

Both chains converge as ``A(m) = A + c/m² + O(1/m³)``, so every ARL is the Richardson
extrapolation ``(4 A(m) − A(m/2)) / 3`` of two chains; with the default ``m = 400`` it is
within 1e-6 (relative) of the limit on Montgomery's CUSUM and Lucas–Saccucci's EWMA
tables, where one 300-state chain is 2e-6 to 2e-4 off.
Example
-------
>>> from fabnb.spc import arl_shewhart, arl_cusum, arl_ewma, design_ewma
>>> round(arl_shewhart(3.0), 1)
370.4
>>> round(arl_cusum(k=0.5, h=5.0), 0)   # Montgomery, Table 9.3: 465
465.0
>>> round(design_ewma(lam=0.1, arl0=500), 2)   # Lucas & Saccucci: L = 2.814
2.81
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from .._params import Integral, Interval, check_option, check_params
from ..errors import FabDataError, FabParameterError
from . import _params as rules_of

_STATES = 400  # states of the finer of the two chains that are extrapolated
CHARTS = ("shewhart", "cusum", "ewma")


def arl_shewhart(L: float = 3.0, shift: float = 0.0) -> float:
    """Exact ARL of a Shewhart chart with ±L σ limits for a mean shift of ``shift`` σ."""
    check_params("arl_shewhart", {**rules_of.SHEWHART, **rules_of.ARL}, {"L": L, "shift": shift})
    p = stats.norm.cdf(-L - shift) + stats.norm.sf(L - shift)
    return float(1.0 / p)


def _arl_from_transient(R: np.ndarray, start: float) -> float:
    """ARL from (fractional) start state ``start``: linear between the two nearest states."""
    arl = np.linalg.solve(np.eye(len(R)) - R, np.ones(len(R)))
    lo = min(int(np.floor(start)), len(R) - 1)
    hi = min(lo + 1, len(R) - 1)
    return float(arl[lo] + (start - lo) * (arl[hi] - arl[lo]))


def _richardson(arl_of_states, m: int) -> float:
    """``(4 A(m) − A(m/2)) / 3``: cancels the chains' O(1/m²) discretisation error."""
    return (4.0 * arl_of_states(m) - arl_of_states(m // 2)) / 3.0


def _arl_cusum_upper(k, h, shift, headstart, m):
    w = 2.0 * h / (2 * m - 1)
    i = np.arange(m)[:, None]
    j = np.arange(m)[None, :]
    d = (j - i) * w + k - shift
    R = stats.norm.cdf(d + w / 2) - stats.norm.cdf(d - w / 2)
    R[:, 0] = stats.norm.cdf(k - shift - i[:, 0] * w + w / 2)
    return _arl_from_transient(R, headstart / w)


def arl_cusum(k: float, h: float, shift: float = 0.0, headstart: float = 0.0,
              sides: int = 2, states: int = _STATES) -> float:
    """ARL of a tabular CUSUM with reference value ``k`` and decision interval ``h`` (in
    σ), for a mean shift of ``shift`` σ, by the Brook–Evans Markov chain.

    ``headstart`` is the fast-initial-response start value of the statistic (in σ, e.g.
    ``h/2``); ``sides=2`` for the usual two-sided chart, 1 for an upper chart only.
    """
    check_params("arl_cusum", {**rules_of.CUSUM, **rules_of.ARL},
                 {"k": k, "h": h, "headstart": headstart, "shift": shift, "sides": sides, "states": states})
    if headstart >= h:
        raise FabParameterError(f"The 'headstart' parameter of arl_cusum must be below h={h}. Got {headstart!r} instead.")
    upper = _richardson(lambda m: _arl_cusum_upper(k, h, shift, headstart, m), states)
    if sides == 1:
        return upper
    lower = _richardson(lambda m: _arl_cusum_upper(k, h, -shift, headstart, m), states)
    return float(1.0 / (1.0 / upper + 1.0 / lower))


def arl_ewma(lam: float, L: float, shift: float = 0.0, states: int = _STATES) -> float:
    """ARL of a two-sided EWMA chart (weight ``lam``, asymptotic limits ±L σ_z) for a
    mean shift of ``shift`` σ, by the Lucas–Saccucci Markov chain, started at 0."""
    check_params("arl_ewma", {**rules_of.EWMA, **rules_of.ARL}, {"lam": lam, "L": L, "shift": shift, "states": states})
    half = L * np.sqrt(lam / (2 - lam))

    def chain(m):
        n = 2 * m + 1
        w = 2 * half / n
        c = -half + w * (np.arange(n) + 0.5)
        base = (1 - lam) * c[:, None]
        R = stats.norm.cdf((c[None, :] + w / 2 - base) / lam - shift) - stats.norm.cdf(
            (c[None, :] - w / 2 - base) / lam - shift
        )
        return _arl_from_transient(R, m)

    return float(_richardson(chain, states))


def _design(arl, target, lo, hi, what):
    if not target > 1:
        raise FabParameterError(f"target in-control ARL must be > 1, got {target}")
    f = lambda v: np.log(arl(v)) - np.log(target)  # noqa: E731  (ARL spans decades)
    if f(lo) > 0 or f(hi) < 0:
        raise FabDataError(f"no {what} in [{lo}, {hi}] reaches an in-control ARL of {target}")
    return float(optimize.brentq(f, lo, hi, xtol=1e-6))


def design_cusum(k: float, arl0: float, sides: int = 2, headstart: float = 0.0) -> float:
    """Decision interval ``h`` giving in-control ARL ``arl0`` for reference value ``k``."""
    return _design(lambda h: arl_cusum(k, h, 0.0, min(headstart, 0.999 * h), sides), arl0, 0.05, 30.0, "h")


def design_ewma(lam: float, arl0: float) -> float:
    """Limit width ``L`` giving in-control ARL ``arl0`` for EWMA weight ``lam``."""
    return _design(lambda L: arl_ewma(lam, L), arl0, 0.5, 6.0, "L")


def detection_delay(chart: str, shift: float, **params) -> float:
    """Out-of-control ARL (expected wafers to detect a ``shift`` σ step) of a
    ``"shewhart"`` (L), ``"cusum"`` (k, h) or ``"ewma"`` (lam, L) chart."""
    check_option("detection_delay", "chart", chart, CHARTS)
    table = {"shewhart": arl_shewhart, "cusum": arl_cusum, "ewma": arl_ewma}
    return table[chart](shift=shift, **params)


def simulate_arl(chart: str, shift: float = 0.0, n_rep: int = 2000, seed=0, max_len: int = 100_000,
                 **params) -> tuple[float, float]:
    """Monte-Carlo ARL (mean run length and its standard error) of a ``"shewhart"``
    (L), ``"cusum"`` (k, h, headstart) or ``"ewma"`` (lam, L; asymptotic limits) chart
    on N(shift, 1) data, ``n_rep`` independent runs advanced together."""
    check_option("simulate_arl", "chart", chart, CHARTS)
    check_params("simulate_arl", {**rules_of.SHEWHART, **rules_of.CUSUM, **rules_of.EWMA, **rules_of.ARL,
                                  "n_rep": [Interval(Integral, 2, None, closed="left")],
                                  "max_len": [Interval(Integral, 1, None, closed="left")]},
                 {**params, "shift": shift, "n_rep": n_rep, "max_len": max_len})
    rng = np.random.default_rng(seed)
    alive = np.ones(n_rep, dtype=bool)
    length = np.zeros(n_rep)
    a = np.full(n_rep, float(params.get("headstart", 0.0)))
    b = a.copy()
    if chart == "ewma":
        half = params["L"] * np.sqrt(params["lam"] / (2 - params["lam"]))
        a[:] = 0.0
    for t in range(1, max_len + 1):
        x = rng.normal(shift, 1.0, alive.sum())
        if chart == "shewhart":
            signal = np.abs(x) > params["L"]
        elif chart == "cusum":
            a[alive] = np.maximum(0, a[alive] + x - params["k"])
            b[alive] = np.maximum(0, b[alive] - x - params["k"])
            signal = (a[alive] > params["h"]) | (b[alive] > params["h"])
        else:
            a[alive] = params["lam"] * x + (1 - params["lam"]) * a[alive]
            signal = np.abs(a[alive]) > half
        idx = np.flatnonzero(alive)[signal]
        length[idx] = t
        alive[idx] = False
        if not alive.any():
            break
    if alive.any():
        raise FabDataError(f"{alive.sum()} runs did not signal within {max_len} samples")
    return float(length.mean()), float(length.std(ddof=1) / np.sqrt(n_rep))
