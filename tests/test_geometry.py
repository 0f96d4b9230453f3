"""Wafer geometry against independent computations."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fabnb import FabDataError
from fabnb.errors import FabParameterError
from fabnb.geometry import (
    azimuthal_sectors,
    die_grid,
    radial_decomposition,
    radial_zones,
    shot_ids,
)


def dies_by_rows(diameter, w, h, edge, ox=0.0, oy=0.0):
    """Independent count: per row band, the dies whose x-interval fits the chord at the
    band's outer edge (a rectangle is inside the circle iff its farthest corner is)."""
    radius = diameter / 2 - edge
    total = 0
    for j in range(-int(radius // h) - 2, int(radius // h) + 3):
        y0, y1 = j * h + oy, (j + 1) * h + oy
        ymax = max(abs(y0), abs(y1))
        if ymax > radius:
            continue
        half = np.sqrt(radius**2 - ymax**2)
        # die i spans [i*w + ox, (i+1)*w + ox]: need -half <= left and right <= half
        lo = np.ceil((-half - ox) / w - 1e-12)
        hi = np.floor((half - ox) / w + 1e-12) - 1
        total += max(0, int(hi - lo + 1))
    return total


@settings(max_examples=40, deadline=None)
@given(
    w=st.floats(2.0, 25.0),
    h=st.floats(2.0, 25.0),
    diameter=st.sampled_from([150.0, 200.0, 300.0]),
    edge=st.floats(0.0, 6.0),
    ox=st.floats(-1.0, 1.0),
    oy=st.floats(-1.0, 1.0),
)
def test_die_count_matches_row_by_row_computation(w, h, diameter, edge, ox, oy):
    grid = die_grid(diameter, w, h, edge, offset_mm=(ox, oy))
    assert grid.sizes["die"] == dies_by_rows(diameter, w, h, edge, ox, oy)


def test_die_count_near_gross_die_formula():
    # classic gross-die-per-wafer estimate: pi d^2 / (4 S) - pi d / sqrt(2 S), d usable diameter
    for w, h in [(3.5, 3.5), (5.0, 7.0), (10.0, 10.0)]:
        d, s = 300 - 2 * 3.0, w * h
        estimate = np.pi * d**2 / (4 * s) - np.pi * d / np.sqrt(2 * s)
        n = die_grid(300, w, h, 3.0).sizes["die"]
        assert abs(n - estimate) / estimate < 0.03


def test_every_die_fully_inside_usable_area():
    grid = die_grid(300, 4.0, 6.0, 5.0)
    x, y = np.abs(grid["x"].values), np.abs(grid["y"].values)
    assert np.all(np.hypot(x + 2.0, y + 3.0) <= 145.0 + 1e-9)


def test_coordinates_radius_angle_and_orientation():
    grid = die_grid(200, 10.0, 10.0, 0.0, offset_mm=(-5.0, -5.0))  # a die centred on the origin
    x, y, r, th = (grid[k].values for k in ("x", "y", "r", "theta"))
    np.testing.assert_allclose(r, np.hypot(x, y))
    east = (np.isclose(y, 0)) & (x > 0)
    north = (np.isclose(x, 0)) & (y > 0)
    np.testing.assert_allclose(th[east], 0.0, atol=1e-12)
    np.testing.assert_allclose(th[north], np.pi / 2)
    # col grows with x, row grows downwards
    assert np.all(np.diff(grid["x"].values[grid["row"].values == 5]) > 0)
    rows = grid["row"].values
    assert grid["y"].values[rows == 0][0] > grid["y"].values[rows == rows.max()][0]
    assert grid["col"].min() == 0 and grid["row"].min() == 0


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7])
def test_balanced_zones_equal_counts(n):
    grid = die_grid(300, 3.4, 3.5)
    zones = radial_zones(grid["r"].values, n=n, theta=grid["theta"].values)
    _, counts = np.unique(zones, return_counts=True)
    assert len(counts) == n and counts.max() - counts.min() <= 1


def test_zone_labels_ordered_outwards():
    grid = die_grid(300, 5.0, 5.0)
    r = grid["r"].values
    zones = radial_zones(r)
    means = [r[zones == z].mean() for z in ("center", "inner", "outer", "edge")]
    assert means == sorted(means)
    assert r[zones == "center"].max() <= r[zones == "inner"].min() + 1e-9


def test_unbalanced_zones_are_equal_width_rings():
    r = np.linspace(0, 100, 1001)
    zones = radial_zones(r, n=4, balanced=False)
    assert set(zones[r < 25]) == {"center"} and set(zones[r > 75]) == {"edge"}


def test_azimuthal_sectors():
    theta = np.array([0.1, np.pi / 2 + 0.1, np.pi + 0.1, -0.1])
    np.testing.assert_array_equal(azimuthal_sectors(theta, 4), [0, 1, 2, 3])


def test_shot_ids_group_dies_by_reticle():
    col, row = np.meshgrid(np.arange(6), np.arange(4))
    shot, site = shot_ids(col.ravel(), row.ravel(), 3, 2)
    assert len(np.unique(shot)) == 4
    for s in np.unique(shot):
        assert sorted(site[shot == s]) == list(range(6))


def test_radial_decomposition_separates_radial_and_azimuthal():
    grid = die_grid(300, 5.0, 5.0)
    r, th = grid["r"].values, grid["theta"].values
    bowl = 1e-4 * r**2
    pure = radial_decomposition(bowl, r, th, n_rings=20)
    tilted = radial_decomposition(bowl + 0.3 * np.cos(th), r, th, n_rings=20)
    assert np.nanstd(pure["residual"]) < 0.05 * np.std(bowl)
    assert tilted["azimuthal_nonuniformity"] > 5 * pure["azimuthal_nonuniformity"]
    assert np.argmax(tilted["sector_mean"]) in (0, 7)  # the +x side is high


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(die_width_mm=-1.0), r"'die_width_mm' parameter of die_grid.*\(0.0, inf\)"),
        (dict(die_height_mm=np.nan), "'die_height_mm' parameter"),
        (dict(wafer_diameter_mm=np.inf), "'wafer_diameter_mm' parameter"),  # was OverflowError
        (dict(edge_exclusion_mm=-1.0), "'edge_exclusion_mm' parameter"),  # was accepted
        (dict(zones=0), "'zones' parameter"),
        (dict(edge_exclusion_mm=200.0), "no usable area"),
        (dict(notch="sideways"), "'notch' parameter"),
        (dict(die_width_mm=290.0, die_height_mm=290.0), "no 290.0x290.0 mm die fits"),
        (dict(die_width_mm=1e-4, die_height_mm=1e-4), "grid sites"),  # was a MemoryError
    ],
)
def test_bad_geometry_input(kwargs, match):
    # a parameter error, which is also the FabDataError the callers caught before
    with pytest.raises(FabParameterError, match=match):
        die_grid(**{"wafer_diameter_mm": 300.0, "die_width_mm": 5.0, "die_height_mm": 5.0, **kwargs})
    assert issubclass(FabParameterError, FabDataError)


@pytest.mark.parametrize("call, name", [
    (lambda: radial_zones(np.arange(5.0), n=0), "n"),
    (lambda: radial_zones(np.arange(5.0), n=2.5), "n"),
    (lambda: azimuthal_sectors(np.zeros(3), n=0), "n"),  # was a ZeroDivisionError
    (lambda: shot_ids([0, 1], [0, 1], 0, 2), "shot_cols"),
    (lambda: radial_decomposition(np.ones(4), np.arange(4.0), np.zeros(4), n_rings=0), "n_rings"),
    (lambda: radial_decomposition(np.ones(4), np.arange(4.0), np.zeros(4), n_sectors=0), "n_sectors"),
])
def test_bad_counts_raise_the_parameter_error(call, name):
    with pytest.raises(FabParameterError, match=f"'{name}' parameter"):
        call()
