"""Population stability index and the retraining triggers of a deployed model.

``PSI = Σ_b (c_b − r_b) ln(c_b / r_b)`` over bins ``b``, ``r_b``/``c_b`` the
reference/current share in the bin (a share of 0 is floored at ``eps`` so an empty bin
counts as a large shift instead of an infinity). :func:`psi` cuts the bins at the
reference's quantiles (deciles by default) and counts both samples;
:func:`psi_from_shares` takes the two share vectors of bins cut elsewhere (a scorecard's
score bands, a histogram kept by the historian).

Bands, the common convention (Siddiqi, *Credit Risk Scorecards*, Wiley 2006, the
system stability report): PSI < 0.10 ``"stable"``, 0.10 ≤ PSI ≤ 0.25 ``"moderate"``
(investigate), PSI > 0.25 ``"significant"`` (the population has shifted: retrain).
Both cut points are configurable (``bands=(lo, hi)``). The value is returned as a
:class:`PSIValue`, a ``float`` that carries its ``band``.

Example
-------
>>> import numpy as np
>>> from fabnb.spc import psi, psi_from_shares
>>> rng = np.random.default_rng(0)
>>> ref = rng.normal(size=5000)
>>> psi(ref, rng.normal(size=5000)).band, psi(ref, rng.normal(0.8, size=5000)).band
('stable', 'significant')
>>> v = psi_from_shares([0.25, 0.25, 0.25, 0.25], [0.10, 0.20, 0.30, 0.40])
>>> round(float(v), 4), v.band
(0.2282, 'moderate')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._params import Integral, Interval, Real, check_params
from ..errors import FabDataError, FabParameterError

PSI_BANDS = (0.10, 0.25)
BAND_NAMES = ("stable", "moderate", "significant")
_EPS = [Interval(Real, 0, 1, closed="neither")]


def _check_bands(owner, bands):
    try:
        lo, hi = (float(b) for b in bands)
        ok = 0 < lo <= hi
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise FabParameterError(f"The 'bands' parameter of {owner} must be two cut points 0 < lo <= hi "
                                f"(default {PSI_BANDS}). Got {bands!r} instead.")
    return lo, hi


class PSIValue(float):
    """A PSI value (a plain ``float`` in arithmetic and comparisons) with its ``band``:
    ``"stable"`` below ``bands[0]``, ``"significant"`` above ``bands[1]``, else
    ``"moderate"``."""

    def __new__(cls, value: float, bands=PSI_BANDS):
        self = super().__new__(cls, value)
        self.bands = _check_bands("PSIValue", bands)
        lo, hi = self.bands
        self.band = BAND_NAMES[0] if value < lo else BAND_NAMES[2] if value > hi else BAND_NAMES[1]
        return self

    def __reduce__(self):
        return PSIValue, (float(self), self.bands)

    def __repr__(self):
        return f"PSIValue({float(self)!r}, band={self.band!r})"


def _shares(x, what):
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise FabDataError(f"{what} must be a 1-D array of at least 2 bin shares, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x) | (x < 0))
    if bad.size:
        raise FabDataError(f"{what} holds {bad.size} negative or non-finite share(s), first at bin {bad[0]}")
    total = float(x.sum())
    if abs(total - 1.0) > 1e-6:  # counts, or a bin left out: normalising would hide it
        raise FabDataError(f"{what} sums to {total:.8g}, not 1: pass shares (counts / total) of every bin")
    return x


def psi_from_shares(reference, current, eps: float = 1e-4, bands=PSI_BANDS) -> PSIValue:
    """PSI of two vectors of bin shares (each summing to 1, same bins in the same order).

    ``PSI = Σ_b (c_b − r_b) ln(c_b / r_b)`` with shares below ``eps`` floored at ``eps``.
    """
    check_params("psi_from_shares", {"eps": _EPS}, {"eps": eps})
    bands = _check_bands("psi_from_shares", bands)
    r = _shares(reference, "reference shares")
    c = _shares(current, "current shares")
    if r.size != c.size:
        raise FabDataError(f"reference has {r.size} bins and current {c.size}: the shares must be of the same bins")
    r, c = np.maximum(r, eps), np.maximum(c, eps)
    return PSIValue(float(np.sum((c - r) * np.log(c / r))), bands)


def psi(reference, current, bins: int = 10, eps: float = 1e-4, bands=PSI_BANDS) -> PSIValue:
    """PSI of the samples ``current`` against ``reference`` (NaN dropped, counted in the
    error if too few remain), on ``bins`` bins cut at the reference's quantiles (tied
    quantiles merge bins); see :func:`psi_from_shares`."""
    check_params("psi", {"bins": [Interval(Integral, 2, None, closed="left")], "eps": _EPS},
                 {"bins": bins, "eps": eps})
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size < bins or cur.size == 0:
        raise FabDataError(f"psi needs at least {bins} reference and 1 current values, got {ref.size} and {cur.size}")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1) / ref.size
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1) / cur.size
    return psi_from_shares(r, c, eps=eps, bands=bands)


def retrain_check(reference: pd.DataFrame, current: pd.DataFrame, alarms=None, events=None,
                  psi_threshold: float = 0.2, psi_bands=PSI_BANDS,
                  alarm_rate_threshold: float = 0.05) -> pd.DataFrame:
    """One report of the retraining triggers: the PSI of each feature above
    ``psi_threshold`` (0.2, the design card's trigger), reported with its band
    (``psi_bands``: stable / moderate / significant); the false-alarm rate of the monitor
    on the current period (``alarms``, booleans per sample of a period believed in
    control) above ``alarm_rate_threshold``; and any PM / recipe-change ``events`` (a
    list of strings) since the model was trained.

    Returns one row per trigger with ``value``, ``band`` (PSI rows; "" for the others),
    ``threshold`` and ``retrain``.
    """
    check_params("retrain_check", {"alarm_rate_threshold": [Interval(Real, 0, 1, closed="left")],
                                   "psi_threshold": [Interval(Real, 0, None, closed="neither")]},
                 {"alarm_rate_threshold": alarm_rate_threshold, "psi_threshold": psi_threshold})
    psi_bands = _check_bands("retrain_check", psi_bands)
    missing = sorted(set(reference.columns) - set(current.columns))
    if missing:
        raise FabDataError(f"current data lacks features {missing}")
    rows = []
    for col in reference.columns:
        value = psi(reference[col], current[col], bands=psi_bands)
        rows.append({"trigger": f"psi:{col}", "value": float(value), "band": value.band,
                     "threshold": psi_threshold, "retrain": float(value) > psi_threshold})
    if alarms is not None:
        rate = float(np.mean(np.asarray(alarms, dtype=bool)))
        rows.append({"trigger": "false_alarm_rate", "value": rate, "band": "", "threshold": alarm_rate_threshold,
                     "retrain": rate > alarm_rate_threshold})
    for event in events or ():
        rows.append({"trigger": f"event:{event}", "value": 1.0, "band": "", "threshold": 0.0, "retrain": True})
    return pd.DataFrame(rows).set_index("trigger")
