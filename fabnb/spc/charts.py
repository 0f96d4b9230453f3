"""Univariate control charts with an explicit Phase I ``fit`` (limits from reference
data) and Phase II ``apply`` (score new data with frozen limits), plus ``update`` for a
stream of single observations.

- :class:`ShewhartChart` — individuals/moving range (σ̂ = MR̄/d₂(2)), X̄–R (σ̂ = R̄/d₂(n))
  and X̄–S (σ̂ = S̄/c₄(n)), with Western Electric or Nelson run rules.
- :class:`CusumChart` — tabular CUSUM on ``z = (x − μ₀)/σ``:
  ``C⁺_t = max(0, C⁺_{t−1} + z_t − k)``, ``C⁻_t = max(0, C⁻_{t−1} − z_t − k)``, alarm when
  either exceeds ``h``; fast initial response starts both at ``headstart``.
- :class:`EwmaChart` — ``z_t = λ x_t + (1 − λ) z_{t−1}``, ``z_0 = μ₀``, with the exact
  time-varying limits ``μ₀ ± L σ √(λ/(2−λ) · (1 − (1−λ)^{2t}))``.

A NaN observation is skipped (the statistic carries over) and counted in
``n_skipped_``; it never ends a stream.  Phase I data holding ±inf is refused (an
infinite sample would give infinite limits that never alarm); parameters are checked
against their declared rules in ``fit``.  Streaming ``update`` runs the batch kernel on
one sample, so a stream and a batch of the same data are one computation.

Example
-------
>>> import numpy as np
>>> from fabnb.spc import CusumChart
>>> rng = np.random.default_rng(0)
>>> chart = CusumChart(k=0.5, h=5).fit(rng.normal(10, 1, 200))
>>> drifted = 10 + 0.05 * np.arange(100) + rng.normal(0, 1, 100)
>>> bool(chart.apply(drifted)["alarm"].any())
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._params import CheckedParams, StrOptions
from ..errors import FabDataError, FabFitError, FabParameterError
from . import _kernels
from . import _params as rules_of
from .constants import c4, d2, d3
from .rules import RULE_SETS, run_rules

_MIN_PHASE1 = 10


def _as_series(x, what) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise FabFitError(f"{what} must be one-dimensional, got shape {x.shape}")
    return x


def _refuse_inf(x, what):
    """Phase I data may miss samples (NaN) but an infinite one makes the limits infinite."""
    bad = np.flatnonzero(np.isinf(x))
    if bad.size:
        where = tuple(int(i) for i in np.unravel_index(bad[0], np.shape(x)))
        raise FabDataError(f"{what} holds {bad.size} infinite value(s), first at index "
                           f"{where[0] if len(where) == 1 else where}: drop or correct them before fitting limits")


def _phase1_location_scale(x, mu=None, sigma=None, what="Phase I data"):
    """μ₀ (mean) and σ̂ (average moving range / d₂(2)) of individual observations."""
    x = _as_series(x, what)
    _refuse_inf(x, what)
    x = x[~np.isnan(x)]
    if x.size < _MIN_PHASE1:
        raise FabFitError(f"{what} has {x.size} usable samples; at least {_MIN_PHASE1} are needed")
    mu = float(np.mean(x)) if mu is None else float(mu)
    if sigma is None:
        sigma = float(np.mean(np.abs(np.diff(x))) / d2(2))
    if not sigma > 0:
        raise FabFitError(f"{what} has zero variation: control limits cannot be set")
    return mu, float(sigma)


class ShewhartChart(CheckedParams, BaseEstimator):
    """Shewhart chart: ``kind="individuals"`` (1-D data), ``"xbar_r"`` or ``"xbar_s"``
    (2-D data, one row per subgroup); limits at ±L σ of the plotted statistic; run
    rules ``"western_electric"``, ``"nelson"``, ``"limits"`` (rule 1 only) or a list."""

    _parameter_constraints = {"kind": [StrOptions({"individuals", "xbar_r", "xbar_s"})],
                              **rules_of.SHEWHART, "rules": [StrOptions(set(RULE_SETS)), list, tuple]}

    def __init__(self, kind="individuals", L=3.0, rules="western_electric"):
        self.kind = kind
        self.L = L
        self.rules = rules

    def _stats(self, data):
        x = np.asarray(data, dtype=float)
        if self.kind == "individuals":
            x = _as_series(x, "individuals data")
            return x, np.r_[np.nan, np.abs(np.diff(x))]
        if x.ndim != 2 or x.shape[1] < 2:
            raise FabFitError(f"{self.kind} needs 2-D data (subgroups x samples, n >= 2), got {x.shape}")
        centre = np.nanmean(x, axis=1)
        spread = np.ptp(x, axis=1) if self.kind == "xbar_r" else np.std(x, axis=1, ddof=1)
        return centre, spread

    def fit(self, data):
        self._validate_params()
        run_rules([], self.rules)  # unknown rule names fail here, not at the first apply
        _refuse_inf(np.asarray(data, dtype=float), "Phase I data")
        stat, spread = self._stats(data)
        n = 2 if self.kind == "individuals" else np.asarray(data).shape[1]
        if np.isfinite(stat).sum() < (_MIN_PHASE1 if self.kind == "individuals" else 5):
            raise FabFitError(f"Phase I data has too few samples ({np.isfinite(stat).sum()}) for a {self.kind} chart")
        mean_spread = float(np.nanmean(spread))
        if not mean_spread > 0:
            raise FabFitError("Phase I data has zero variation: control limits cannot be set")
        self.center_ = float(np.nanmean(stat))
        if self.kind == "xbar_s":
            self.sigma_ = mean_spread / c4(n)
            sd_spread = self.sigma_ * np.sqrt(1 - c4(n) ** 2)
        else:
            self.sigma_ = mean_spread / d2(n)
            sd_spread = self.sigma_ * d3(n)
        self.n_ = n
        self.sigma_stat_ = self.sigma_ / (1.0 if self.kind == "individuals" else np.sqrt(n))
        self.lcl_ = self.center_ - self.L * self.sigma_stat_
        self.ucl_ = self.center_ + self.L * self.sigma_stat_
        self.spread_center_ = mean_spread
        self.spread_lcl_ = max(0.0, mean_spread - self.L * sd_spread)
        self.spread_ucl_ = mean_spread + self.L * sd_spread
        return self

    def apply(self, data) -> pd.DataFrame:
        """Score new data: statistic, limits, spread chart and the rules that fire."""
        check_is_fitted(self)
        stat, spread = self._stats(data)
        z = (stat - self.center_) / self.sigma_stat_ * (3.0 / self.L)  # rules speak in 3σ units
        hits = run_rules(z, self.rules)
        spread_out = (spread > self.spread_ucl_) | (spread < self.spread_lcl_)
        return pd.DataFrame({
            "statistic": stat, "center": self.center_, "lcl": self.lcl_, "ucl": self.ucl_,
            "spread": spread, "spread_lcl": self.spread_lcl_, "spread_ucl": self.spread_ucl_,
            "rules": [",".join(h) for h in hits],
            "alarm": np.array([bool(h) for h in hits]) | spread_out,
            "missing": ~np.isfinite(stat),
        })


class CusumChart(CheckedParams, BaseEstimator):
    """Two-sided tabular CUSUM with reference value ``k`` ≥ 0 and decision interval
    ``h`` > 0 (both in σ) and fast initial response ``headstart`` in [0, h) (in σ, e.g.
    ``h/2``)."""

    _parameter_constraints = {**rules_of.CUSUM, **rules_of.LOCATION_SCALE}

    def __init__(self, k=0.5, h=5.0, headstart=0.0, target=None, sigma=None):
        self.k = k
        self.h = h
        self.headstart = headstart
        self.target = target
        self.sigma = sigma

    def fit(self, x):
        self._validate_params()
        if self.headstart >= self.h:  # the chart would signal before the first sample
            raise FabParameterError(f"The 'headstart' parameter of CusumChart must be below h={self.h}. "
                                    f"Got {self.headstart!r} instead.")
        self.mu_, self.sigma_ = _phase1_location_scale(x, self.target, self.sigma)
        self.reset()
        return self

    def reset(self):
        """Restart the stream at the head start."""
        check_is_fitted(self)
        self.c_plus_ = self.c_minus_ = float(self.headstart)
        self.n_skipped_ = 0

    def apply(self, x) -> pd.DataFrame:
        """Score a batch from the head start (the stream state is not touched)."""
        check_is_fitted(self)
        z = (_as_series(x, "CUSUM data") - self.mu_) / self.sigma_
        cp, cm = _kernels.cusum_batch(z, float(self.k), float(self.headstart), float(self.headstart))
        return pd.DataFrame({"c_plus": cp, "c_minus": cm, "h": self.h,
                             "alarm": (cp > self.h) | (cm > self.h), "missing": np.isnan(z)})

    def update(self, x: float) -> dict:
        """One new observation: the statistics and whether they signal."""
        check_is_fitted(self)
        z = (float(x) - self.mu_) / self.sigma_
        if np.isnan(z):
            self.n_skipped_ += 1
        else:
            cp, cm = _kernels.cusum_batch(np.array([z]), float(self.k), self.c_plus_, self.c_minus_)
            self.c_plus_, self.c_minus_ = float(cp[0]), float(cm[0])
        return {"c_plus": self.c_plus_, "c_minus": self.c_minus_,
                "alarm": self.c_plus_ > self.h or self.c_minus_ > self.h}


class EwmaChart(CheckedParams, BaseEstimator):
    """EWMA chart with weight ``lam`` in (0, 1] and limits ±L σ_z, exact (time-varying)
    by default."""

    _parameter_constraints = {**rules_of.EWMA, "exact": ["boolean"], **rules_of.LOCATION_SCALE}

    def __init__(self, lam=0.2, L=3.0, exact=True, target=None, sigma=None):
        self.lam = lam
        self.L = L
        self.exact = exact
        self.target = target
        self.sigma = sigma

    def fit(self, x):
        self._validate_params()
        self.mu_, self.sigma_ = _phase1_location_scale(x, self.target, self.sigma)
        self.reset()
        return self

    def reset(self):
        """Restart the stream at the target."""
        check_is_fitted(self)
        self.z_ = self.mu_
        self.t_ = 0
        self.n_skipped_ = 0

    def _half_width(self, t):
        lam = self.lam
        factor = 1 - (1 - lam) ** (2 * np.asarray(t, dtype=float)) if self.exact else 1.0
        return self.L * self.sigma_ * np.sqrt(lam / (2 - lam) * factor)

    def apply(self, x) -> pd.DataFrame:
        """Score a batch from the target (the stream state is not touched)."""
        check_is_fitted(self)
        x = _as_series(x, "EWMA data")
        z = _kernels.ewma_batch(x, float(self.lam), float(self.mu_))
        t = np.cumsum(np.isfinite(x))  # the limits widen with each *measured* sample
        half = self._half_width(t)
        return pd.DataFrame({"ewma": z, "lcl": self.mu_ - half, "ucl": self.mu_ + half,
                             "alarm": np.abs(z - self.mu_) > half, "missing": np.isnan(x)})

    def update(self, x: float) -> dict:
        """One new observation: the EWMA, its limits and whether it signals."""
        check_is_fitted(self)
        x = float(x)
        if np.isnan(x):
            self.n_skipped_ += 1
        else:
            self.z_ = float(_kernels.ewma_batch(np.array([x]), float(self.lam), self.z_)[0])
            self.t_ += 1
        half = float(self._half_width(self.t_))
        return {"ewma": self.z_, "lcl": self.mu_ - half, "ucl": self.mu_ + half,
                "alarm": abs(self.z_ - self.mu_) > half}
