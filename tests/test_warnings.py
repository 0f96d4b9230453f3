"""Warnings about the user's data point at the user's line, however deep in fabnb they
are raised (fabnb._warn.user_stacklevel), so a notebook shows the cell that caused them."""

import warnings

import numpy as np
import pytest
import xarray as xr

import fabnb
from fabnb import screen


def _flat_lot(n_wafers):
    bins = np.ones((n_wafers, 16), dtype=int)
    return xr.Dataset(
        {"hbin": (("wafer", "die"), bins),
         "value": (("wafer", "die", "test"), np.zeros((n_wafers, 16, 1)))},
        coords={"wafer": [f"W{i}" for i in range(n_wafers)], "lot": ("wafer", ["L1"] * n_wafers),
                "col": ("die", np.tile(np.arange(4), 4)), "row": ("die", np.repeat(np.arange(4), 4)),
                "test": ["T0"], "lsl": ("test", [-1.0]), "usl": ("test", [1.0])})


@pytest.mark.parametrize("call", [
    lambda: screen.pat_limits(_flat_lot(2)),  # zero IQR: falls back to spec, with a warning
    lambda: screen.zpat(_flat_lot(2)),  # too few wafers for Z-PAT
    lambda: screen.screen(_flat_lot(2), rules=("static_pat", "zpat")),  # the same, one level deeper
])
def test_warnings_name_the_callers_line(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    assert caught, "the call should warn"
    assert all(w.filename == __file__ for w in caught), [(w.filename, str(w.message)[:60]) for w in caught]


def test_reader_warnings_name_the_callers_line(shared_data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fabnb.io.read(shared_data / "g85" / "ex.xml")
        fabnb.io.read(shared_data / "stdf" / "lot2.stdf")
    assert caught
    assert all(w.filename == __file__ for w in caught), [(w.filename, str(w.message)[:60]) for w in caught]
