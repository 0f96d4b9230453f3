"""What every screening rule starts from: the tests asked for, their values, and which
dies the tester passed."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import FabDataError
from ..schema import PASS_BIN, UNTESTED_BIN
from ..summary import bin_codes, resolve_test


def select_tests(ds: xr.Dataset, tests=None) -> list[str]:
    """Test names for ``tests`` (None = every test), each resolved as users name tests."""
    if "test" not in ds.dims or "value" not in ds:
        raise FabDataError("screening needs parametric data: a 'value' variable over (wafer, die, test)")
    if tests is None:
        return [str(t) for t in ds["test"].values]
    if isinstance(tests, (str, int, np.integer)):
        tests = [tests]
    names = [resolve_test(ds, t) for t in tests]
    if not names:
        raise FabDataError("tests=[] selects nothing to screen; pass None for every test")
    return list(dict.fromkeys(names))


def values(ds: xr.Dataset, tests: list[str]) -> np.ndarray:
    """Values (wafer, die, test) as float64, ±inf refused (they are not measurements).

    All tests in dataset order is a view, not a copy: screening a lot reads this often.
    """
    value = ds["value"]
    if [str(t) for t in value["test"].values] != tests:
        value = value.sel(test=tests)
    v = np.asarray(value.transpose("wafer", "die", "test").values, dtype=float)
    if np.isinf(v).any():  # only then find where (a full argwhere costs more than the check)
        bad = np.argwhere(np.isinf(v))
        w, d, t = bad[0]
        raise FabDataError(f"value holds {len(bad)} infinite entries, first at wafer {str(ds['wafer'].values[w])!r}, "
                           f"die {int(d)}, test {tests[t]!r}: correct or set them to NaN (not measured)")
    return v


def passing(ds: xr.Dataset, kind: str = "hbin") -> np.ndarray:
    """Dies (wafer, die) the tester passed: the only dies a screen can take out."""
    return np.asarray(bin_codes(ds, kind).transpose("wafer", "die").values) == PASS_BIN


def failing(ds: xr.Dataset, kind: str = "hbin") -> np.ndarray:
    """Dies (wafer, die) that were tested and failed."""
    bins = np.asarray(bin_codes(ds, kind).transpose("wafer", "die").values)
    return (bins != PASS_BIN) & (bins != UNTESTED_BIN)


def spec_limits(ds: xr.Dataset, tests: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(lsl, usl) per test, NaN where the dataset gives none."""
    lims = []
    for name in ("lsl", "usl"):
        lims.append(np.asarray(ds[name].sel(test=tests).values, dtype=float) if name in ds.coords
                    else np.full(len(tests), np.nan))
    return lims[0], lims[1]


def inside(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Finite values inside [lo, hi] (a NaN limit does not bound)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(v) & ~(v < lo) & ~(v > hi)
