"""Z-PAT: die locations that fail too often across the wafers of a lot.

Per lot, the stacked map gives each die location its fail rate ``failed / tested``
over the lot's wafers; a location at or above ``threshold`` is suspect on *every*
wafer of the lot, so the passing dies there are flagged.  Lots with fewer than
``min_wafers`` tested wafers are not screened (a warning names them): one wafer's
failures say nothing about a location.

Example
-------
>>> import fabnb
>>> from fabnb.screen import zpat
>>> ds = fabnb.synth.fab("small", seed=0)
>>> res = zpat(ds, threshold=0.5)
>>> sorted(res.data_vars)
['location_fail_rate', 'zpat']
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from .._params import Integral, Interval, Real, check_params
from ..errors import FabDataError
from ..schema import UNTESTED_BIN
from ..summary import bin_codes
from . import _select
from .._warn import user_stacklevel

RULES = {"threshold": [Interval(Real, 0, 1, closed="right")], "min_wafers": [Interval(Integral, 2, None, closed="left")]}


def zpat(ds: xr.Dataset, threshold: float = 0.5, min_wafers: int = 5, kind: str = "hbin") -> xr.Dataset:
    """``location_fail_rate`` (wafer, die; the rate of the wafer's lot) and ``zpat`` flags."""
    check_params("zpat", RULES, {"threshold": threshold, "min_wafers": min_wafers})
    if "lot" not in ds.coords:
        raise FabDataError("Z-PAT needs the 'lot' coordinate on wafers (the stacked map is per lot)")
    lots = np.asarray(ds["lot"].values).astype(str)
    group, names = pd.factorize(lots)
    tested = np.asarray(bin_codes(ds, kind).transpose("wafer", "die").values) != UNTESTED_BIN
    failed = _select.failing(ds, kind)
    n_tested = np.zeros((len(names), tested.shape[1]))
    n_failed = np.zeros_like(n_tested)
    np.add.at(n_tested, group, tested)
    np.add.at(n_failed, group, failed)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n_tested > 0, n_failed / n_tested, np.nan)
    wafers_tested = np.bincount(group, weights=tested.any(axis=1), minlength=len(names))
    small = wafers_tested < min_wafers
    if small.any():
        warnings.warn(f"Z-PAT: lots with fewer than {min_wafers} tested wafers are not screened: "
                      f"{[str(x) for x in names[small]]}", stacklevel=user_stacklevel())
    rate[small] = np.nan
    with np.errstate(invalid="ignore"):
        flags = _select.passing(ds, kind) & (rate[group] >= threshold)
    dims = ("wafer", "die")
    return xr.Dataset({"location_fail_rate": (dims, rate[group]), "zpat": (dims, flags)},
                      coords={"wafer": ds["wafer"].values},
                      attrs={"threshold": float(threshold), "min_wafers": int(min_wafers),
                             "unscreened_lots": [str(x) for x in names[small]]})
