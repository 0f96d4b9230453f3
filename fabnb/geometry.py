"""Wafer geometry: the die grid, radial zones, azimuthal sectors, reticle shots and the
radial/azimuthal decomposition of a wafer map.

Conventions (the dataset contract's): ``x``/``y`` are die centres in mm from the wafer
centre, ``+x`` to the right and ``+y`` up with the notch at the bottom (``notch="down"``);
``col`` grows with ``x`` and ``row`` grows *downwards* (row 0 is the top row, as a
wafer map is read); ``r = hypot(x, y)`` and ``theta = arctan2(y, x)`` (0 = +x,
counter-clockwise).

A die is on the grid when its whole rectangle lies inside the usable circle of radius
``R = diameter/2 − edge_exclusion``: its farthest corner from the centre, at
``(|x| + w/2, |y| + h/2)``, satisfies ``hypot(...) <= R``.

Example
-------
>>> from fabnb.geometry import die_grid, radial_zones
>>> grid = die_grid(300, die_width_mm=10, die_height_mm=10)
>>> grid.sizes["die"]
616
>>> zones = radial_zones(grid["r"].values)
>>> sorted(set(zones.tolist()))
['center', 'edge', 'inner', 'outer']
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._params import Integral, Interval, Real, StrOptions, check_params
from .errors import FabDataError, FabParameterError
from .schema import NOTCH_DIRECTIONS

ZONE_LABELS_4 = ("center", "inner", "outer", "edge")
#: candidate die sites die_grid builds at most (a 300 mm wafer of 50 µm dies)
MAX_GRID_SITES = 50_000_000

_POSITIVE = [Interval(Real, 0, np.inf, closed="neither")]  # np.inf, not None: refuse inf
_COUNT = [Interval(Integral, 1, None, closed="left")]
DIE_GRID_CONSTRAINTS = {
    "wafer_diameter_mm": _POSITIVE,
    "die_width_mm": _POSITIVE,
    "die_height_mm": _POSITIVE,
    "edge_exclusion_mm": [Interval(Real, 0, np.inf, closed="left")],
    "notch": [StrOptions(set(NOTCH_DIRECTIONS))],
    "zones": _COUNT,
}
#: rules of :func:`radial_decomposition` (and of the functions that pass its counts on)
DECOMPOSITION_CONSTRAINTS = {"n_rings": _COUNT, "n_sectors": _COUNT}


def die_grid(
    wafer_diameter_mm: float = 300.0,
    die_width_mm: float = 3.5,
    die_height_mm: float = 3.5,
    edge_exclusion_mm: float = 3.0,
    notch: str = "down",
    offset_mm: tuple[float, float] = (0.0, 0.0),
    zones: int = 4,
) -> xr.Dataset:
    """Die sites that fit fully inside the usable area of a wafer.

    Parameters
    ----------
    wafer_diameter_mm, die_width_mm, die_height_mm, edge_exclusion_mm
        Wafer and die size; the usable radius is ``diameter/2 − edge_exclusion``.
    notch
        Where the notch points: ``"down"`` (default), ``"up"``, ``"left"``, ``"right"``.
    offset_mm
        Position of a die-grid corner relative to the wafer centre; ``(0, 0)`` puts the
        centre on a die corner, ``(w/2, h/2)`` on a die centre.
    zones
        Number of balanced radial zones for the ``zone`` coordinate.

    Returns
    -------
    xarray.Dataset
        Coordinates ``col``, ``row``, ``x``, ``y``, ``r``, ``theta``, ``zone`` on the
        ``die`` dim (ordered row by row, top to bottom, left to right) and the geometry
        attributes of the contract.
    """
    check_params("die_grid", DIE_GRID_CONSTRAINTS, {
        "wafer_diameter_mm": wafer_diameter_mm, "die_width_mm": die_width_mm,
        "die_height_mm": die_height_mm, "edge_exclusion_mm": edge_exclusion_mm, "notch": notch,
        "zones": zones,
    })
    radius = wafer_diameter_mm / 2 - edge_exclusion_mm
    if radius <= 0:
        raise FabParameterError(
            f"edge exclusion {edge_exclusion_mm} mm leaves no usable area on a "
            f"{wafer_diameter_mm} mm wafer"
        )
    w, h = float(die_width_mm), float(die_height_mm)
    sites = (2 * np.ceil(radius / w) + 3) * (2 * np.ceil(radius / h) + 3)
    if sites > MAX_GRID_SITES:  # the candidate grid is built whole: refuse before allocating
        raise FabParameterError(
            f"die_grid: {w}x{h} mm dies on a {wafer_diameter_mm} mm wafer make {sites:.3g} grid "
            f"sites (at most {MAX_GRID_SITES:.0e}); check the die size's unit (mm)"
        )
    ox, oy = offset_mm
    i = np.arange(-int(np.ceil(radius / w)) - 1, int(np.ceil(radius / w)) + 2)
    j = np.arange(-int(np.ceil(radius / h)) - 1, int(np.ceil(radius / h)) + 2)
    xc = (i + 0.5) * w + ox
    yc = (j + 0.5) * h + oy
    X, Y = np.meshgrid(xc, yc[::-1])  # rows top to bottom
    keep = corner_radius(X, Y, w, h) <= radius + 1e-9
    if not keep.any():
        raise FabParameterError(f"die_grid: no {w}x{h} mm die fits on a {wafer_diameter_mm} mm wafer "
                                f"with {edge_exclusion_mm} mm edge exclusion; choose smaller dies")
    rows, cols = np.nonzero(keep)
    cols = cols - cols.min()
    rows = rows - rows.min()
    x = X[keep]
    y = Y[keep]
    r = np.hypot(x, y)
    grid = xr.Dataset(
        coords={
            "col": ("die", cols.astype(np.int64)),
            "row": ("die", rows.astype(np.int64)),
            "x": ("die", x),
            "y": ("die", y),
            "r": ("die", r),
            "theta": ("die", np.arctan2(y, x)),
            "zone": ("die", radial_zones(r, n=zones, theta=np.arctan2(y, x))),
        },
        attrs={
            "wafer_diameter_mm": float(wafer_diameter_mm),
            "die_width_mm": w,
            "die_height_mm": h,
            "edge_exclusion_mm": float(edge_exclusion_mm),
            "notch": notch,
        },
    )
    return grid


def corner_radius(x, y, die_width_mm, die_height_mm) -> np.ndarray:
    """Distance from the wafer centre to each die's farthest corner: a die lies wholly
    inside a circle of radius ``R`` about the centre when this is ``<= R`` (the rule of
    :func:`die_grid`; readers derive a wafer size from it, plots their view).

    >>> corner_radius(np.array([0.0, -15.0]), np.array([0.0, 5.0]), 10.0, 10.0).tolist()
    [7.0710678118654755, 22.360679774997898]
    """
    return np.hypot(np.abs(x) + die_width_mm / 2, np.abs(y) + die_height_mm / 2)


def zone_labels(n: int) -> tuple[str, ...]:
    """Labels of ``n`` radial zones, centre outwards (``center/inner/outer/edge`` for 4)."""
    if n == 4:
        return ZONE_LABELS_4
    return tuple(f"ring{k}" for k in range(n))


def radial_zones(r, n: int = 4, balanced: bool = True, theta=None) -> np.ndarray:
    """Label dies with ``n`` radial zones, centre outwards.

    ``balanced=True`` (the Vmin paper's choice) gives every zone the same number of
    dies, within one: dies are ranked by radius (ties broken by angle when ``theta`` is
    given, so the split is deterministic) and the k-th of ``N`` goes to zone
    ``floor(k n / N)``.  ``balanced=False`` cuts the radius into equal-width rings.

    Returns a numpy array of string labels (``zone_labels(n)``).
    """
    check_params("radial_zones", {"n": _COUNT}, {"n": n})
    r = np.asarray(r, dtype=float)
    if not np.isfinite(r).all():
        raise FabDataError("radial_zones got non-finite radii")
    labels = np.asarray(zone_labels(n))
    if balanced:
        keys = (r,) if theta is None else (np.asarray(theta, dtype=float), r)
        order = np.lexsort(keys)
        rank = np.empty(r.size, dtype=np.int64)
        rank[order] = np.arange(r.size)
        idx = rank * n // max(r.size, 1)
    else:
        edges = np.linspace(0, r.max() if r.size else 1.0, n + 1)
        idx = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, n - 1)
    return labels[idx]


def azimuthal_sectors(theta, n: int = 8) -> np.ndarray:
    """Sector index 0..n-1 of each die, sector 0 starting at +x, counter-clockwise."""
    check_params("azimuthal_sectors", {"n": _COUNT}, {"n": n})
    t = np.mod(np.asarray(theta, dtype=float), 2 * np.pi)
    return np.minimum((t * n / (2 * np.pi)).astype(np.int64), n - 1)


def shot_ids(col, row, shot_cols: int, shot_rows: int, origin: tuple[int, int] = (0, 0)):
    """Reticle field (shot) of each die for a shot of ``shot_cols × shot_rows`` dies.

    Returns ``(shot, site)``: an integer shot id (row-major over the shot grid) and the
    die's position inside its shot (``0..shot_cols*shot_rows-1``, row-major), so
    reticle-repeating signatures can be grouped by ``site``.
    """
    check_params("shot_ids", {"shot_cols": _COUNT, "shot_rows": _COUNT},
                 {"shot_cols": shot_cols, "shot_rows": shot_rows})
    c = np.asarray(col, dtype=np.int64) - origin[0]
    r = np.asarray(row, dtype=np.int64) - origin[1]
    sc, sr = np.floor_divide(c, shot_cols), np.floor_divide(r, shot_rows)
    width = sc.max() - sc.min() + 1 if sc.size else 1
    shot = (sr - (sr.min() if sr.size else 0)) * width + (sc - (sc.min() if sc.size else 0))
    site = np.mod(r, shot_rows) * shot_cols + np.mod(c, shot_cols)
    return shot, site


def radial_decomposition(values, r, theta, n_rings: int = 12, n_sectors: int = 8,
                         r_max: float | None = None) -> dict:
    """Split a wafer map into a radial profile and an angular residual.

    ``values = profile(r) + residual``, with the profile the mean in ``n_rings``
    equal-width rings from 0 to the farthest die within ``r_max`` (default: no limit),
    linearly interpolated at each die's radius.  A die beyond ``r_max`` (one outside the
    wafer) counts in the outermost ring, so it neither stretches the rings nor is left out.  Azimuthal
    non-uniformity — a classic single-tool signature (a chamber's gas inlet, a chuck
    zone) — shows in the residual; ``azimuthal_nonuniformity`` is the spread (max −
    min) of the residual's mean over ``n_sectors`` sectors, divided by the map's
    standard deviation.

    Returns a dict with ``ring_r`` (ring centres), ``profile`` (ring means),
    ``radial`` (profile at each die), ``residual``, ``sector_mean`` and
    ``azimuthal_nonuniformity``.  NaN dies are ignored and stay NaN in the residual.
    """
    check_params("radial_decomposition", DECOMPOSITION_CONSTRAINTS,
                 {"n_rings": n_rings, "n_sectors": n_sectors})
    v = np.asarray(values, dtype=float)
    r = np.asarray(r, dtype=float)
    ok = np.isfinite(v)
    if ok.sum() < 2:
        raise FabDataError("radial_decomposition needs at least two measured dies")
    inside = r if r_max is None else r[r <= r_max]
    span = inside.max() if inside.size else r_max
    edges = np.linspace(0.0, span * (1 + 1e-12), n_rings + 1)
    ring = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, n_rings - 1)
    sums = np.bincount(ring[ok], weights=v[ok], minlength=n_rings)
    counts = np.bincount(ring[ok], minlength=n_rings)
    centres = 0.5 * (edges[:-1] + edges[1:])
    have = counts > 0
    profile = np.full(n_rings, np.nan)
    profile[have] = sums[have] / counts[have]
    radial = np.interp(r, centres[have], profile[have])
    residual = v - radial
    sector = azimuthal_sectors(theta, n_sectors)
    s_sum = np.bincount(sector[ok], weights=residual[ok], minlength=n_sectors)
    s_cnt = np.bincount(sector[ok], minlength=n_sectors)
    sector_mean = np.where(s_cnt > 0, s_sum / np.maximum(s_cnt, 1), np.nan)
    spread = np.nanmax(sector_mean) - np.nanmin(sector_mean)
    scale = np.std(v[ok])
    return {
        "ring_r": centres,
        "profile": profile,
        "radial": radial,
        "residual": residual,
        "sector_mean": sector_mean,
        "azimuthal_nonuniformity": float(spread / scale) if scale > 0 else 0.0,
    }
