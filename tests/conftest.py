"""Shared fixtures: a small contract Dataset built straight from the geometry, so tests
of one layer do not depend on the simulator."""

from pathlib import Path

import numpy as np
import pytest

from fabnb.geometry import die_grid
from fabnb.schema import empty_like_grid

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def make_dataset(n_wafers=3, n_tests=2, seed=0, die_mm=20.0):
    """A valid contract Dataset: random values, bins from spec limits."""
    rng = np.random.default_rng(seed)
    grid = die_grid(200, die_width_mm=die_mm, die_height_mm=die_mm, edge_exclusion_mm=3)
    wafers = [f"L0001-{k + 1:02d}" for k in range(n_wafers)]
    ds = empty_like_grid(
        grid, wafers, ["L0001"] * n_wafers, np.arange(1, n_wafers + 1),
        {"product": "TEST", "schema_version": 1},
    )
    tests = [f"T{k + 1:02d}" for k in range(n_tests)]
    value = rng.normal(size=(n_wafers, grid.sizes["die"], n_tests))
    ds = ds.assign_coords(
        test=("test", tests),
        unit=("test", ["V"] * n_tests),
        lsl=("test", np.full(n_tests, -2.0)),
        usl=("test", np.full(n_tests, 2.0)),
    )
    ds["value"] = (("wafer", "die", "test"), value)
    fail = ((value < -2) | (value > 2)).any(axis=2)
    ds["hbin"] = (("wafer", "die"), np.where(fail, 2, 1).astype(np.int64))
    ds["sbin"] = ds["hbin"].copy()
    return ds


@pytest.fixture
def grid_ds():
    return make_dataset()


@pytest.fixture(scope="module")
def fab_small():
    """The small synthetic fab and its ground truth (read-only: copy before changing)."""
    import fabnb

    ds = fabnb.synth.fab("small", seed=0)
    return ds, fabnb.synth.truth(ds)


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent (it sits beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def lot2():
    """The real STDF wafer ``lot2.stdf`` read by fabnb: one wafer, 74 tests with numbers
    and padded names, retests, no die size (x/y in die pitches).  Read-only."""
    import warnings

    from fabnb.io import read_stdf
    from fabnb.io.stdf import StdfWarning

    path = SHARED_DATA / "stdf" / "lot2.stdf"
    if not path.is_file():
        pytest.skip(f"real STDF sample {path} is absent (the shared data folder sits beside the checkout)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StdfWarning)  # its stale RTST_CNT etc.: tested in test_stdf
        return read_stdf(path, progress=False)


def name_of_test_number(ds, number) -> str:
    """The test name that carries STDF test number ``number`` in ``ds``."""
    return str(ds["test"].values[list(ds["test_num"].values).index(number)])
