"""Population stability index and the retraining triggers of a deployed model.

``PSI = Σ_b (c_b − r_b) ln(c_b / r_b)`` over bins ``b`` cut at the reference's quantiles,
``r_b``/``c_b`` the reference/current share in the bin (a share of 0 is floored at
``eps`` so an empty bin counts as a large shift instead of an infinity). Rules of thumb:
< 0.1 stable, 0.1–0.2 moderate, > 0.2 shifted: retrain.

Example
-------
>>> import numpy as np
>>> from fabnb.spc import psi
>>> rng = np.random.default_rng(0)
>>> ref = rng.normal(size=5000)
>>> psi(ref, rng.normal(size=5000)) < 0.02, psi(ref, rng.normal(0.8, size=5000)) > 0.2
(True, True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import FabDataError


def psi(reference, current, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of ``current`` against ``reference`` (NaN dropped)."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size < bins or cur.size == 0:
        raise FabDataError(f"psi needs at least {bins} reference and 1 current values, got {ref.size} and {cur.size}")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1) / ref.size
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1) / cur.size
    r, c = np.maximum(r, eps), np.maximum(c, eps)
    return float(np.sum((c - r) * np.log(c / r)))


def retrain_check(reference: pd.DataFrame, current: pd.DataFrame, alarms=None, events=None,
                  psi_threshold: float = 0.2, alarm_rate_threshold: float = 0.05) -> pd.DataFrame:
    """One report of the retraining triggers: PSI per feature above ``psi_threshold``;
    the false-alarm rate of the monitor on the current period (``alarms``, booleans per
    sample of a period believed in control) above ``alarm_rate_threshold``; and any
    PM / recipe-change ``events`` (a list of strings) since the model was trained.

    Returns one row per trigger with ``value``, ``threshold`` and ``retrain``.
    """
    missing = sorted(set(reference.columns) - set(current.columns))
    if missing:
        raise FabDataError(f"current data lacks features {missing}")
    rows = [{"trigger": f"psi:{col}", "value": psi(reference[col], current[col]),
             "threshold": psi_threshold} for col in reference.columns]
    for row in rows:
        row["retrain"] = row["value"] > psi_threshold
    if alarms is not None:
        rate = float(np.mean(np.asarray(alarms, dtype=bool)))
        rows.append({"trigger": "false_alarm_rate", "value": rate, "threshold": alarm_rate_threshold,
                     "retrain": rate > alarm_rate_threshold})
    for event in events or ():
        rows.append({"trigger": f"event:{event}", "value": 1.0, "threshold": 0.0, "retrain": True})
    return pd.DataFrame(rows).set_index("trigger")
