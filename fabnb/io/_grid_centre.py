"""The wafer centre and size of a die grid when the file does not give them (one rule,
every reader).

Readers that place dies from their integer indices alone (an STDF file without a WCR
centre or die size, a long table with ``col``/``row`` only, a G85 array) need the index
at which the wafer centre sits.  The middle of the indices' bounding box is exact for a
symmetric grid, but one far-out die (a test structure, or a corrupted coordinate that
is still a valid integer: one PRR at X = 200 on a 60-column wafer) moves it by half
that die's distance, and with it every die's ``x``/``y``, radius and zone.
:func:`grid_centre` sets such dies aside for the estimate; the reader keeps them in the
Dataset and warns with :func:`aside_note`.

A file without a wafer size gets the smallest circle about that centre holding every
die whole (:func:`grid_diameter`).  A far-out die would blow up that outline, and with
it everything drawn or measured against the wafer's edge, so the dies set aside for the
centre do not count for the size either: they lie outside the wafer, stay dies, and the
reader's warning says so (:func:`wafer_note`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..geometry import corner_radius

#: a gap between neighbouring occupied columns (rows) wider than this many grid steps
#: splits the axis into runs (a step is the median gap: 1 on a fully probed map)
GAP_STEPS = 4
#: runs set aside from each end of an axis hold at most this share of the dies together
ASIDE_SHARE = 0.02
_SHOW = 5  # how many set-aside dies a warning lists


class GridCentre(NamedTuple):
    """Column and row index of the wafer centre, and which dies were set aside."""

    col: float
    row: float
    aside: np.ndarray  # bool per die: left out of the estimate (never out of the Dataset)


def grid_centre(col, row, frame=None) -> GridCentre:
    """The wafer centre of a die grid: the middle of its bulk, far-out dies set aside.

    Rule, per axis (columns, then rows): let ``u_1 < ... < u_m`` be the distinct occupied
    indices, ``g_i = u_(i+1) - u_i`` the gaps between them and ``s = median(g)`` the
    grid's step (1 on a fully probed map, ``k`` when every ``k``-th column was probed).
    A gap ``g_i > GAP_STEPS * s`` splits the axis into runs.  Walking in from each end,
    whole runs are set aside as long as the dies they hold together stay within
    ``ASIDE_SHARE * n`` (2 % of the ``n`` dies); the rest is the axis's bulk.  A die is in
    the bulk of the grid when its column and its row both are, and the centre is the
    middle of the bulk's bounding box, ``(lo + hi) / 2`` per axis.

    Why: a wafer's dies fill a disc, so its occupied columns and rows follow each other
    at one step; a die several steps beyond the last occupied column is no part of that
    disc.  Its distance drags the bounding-box midpoint, so the distance (the gap) is
    what singles it out, and the share cap keeps genuinely split maps (two probed halves,
    a sparse sample of a small wafer) on the plain midpoint: only a few isolated dies are
    ever set aside.  A map without such a gap has nothing set aside and gets the
    bounding-box midpoint computed the same way, so every gap-free map is placed exactly
    as by the plain midpoint.

    Parameters
    ----------
    col, row
        Integer die indices, one per die.
    frame
        ``((col_lo, col_hi), (row_lo, row_hi))``: the index range the file draws (a G85
        array's ``0 .. Columns - 1``), centred instead of the dies' own range.  An edge of
        it moves in to the bulk only where set-aside dies lie beyond the bulk, so the
        drawn margins are kept elsewhere.  Default: the dies' bounding box.

    Example
    -------
    >>> c, r = np.meshgrid(np.arange(9), np.arange(9))    # a 9 x 9 grid
    >>> col, row = np.r_[c.ravel(), 200], np.r_[r.ravel(), 4]   # and one die at col 200
    >>> centre = grid_centre(col, row)
    >>> centre.col, centre.row                    # (0 + 200) / 2 = 100 without the rule
    (4.0, 4.0)
    >>> np.flatnonzero(centre.aside)
    array([81])
    >>> grid_centre(col[:-1], row[:-1])[:2]       # nothing far out: the plain midpoint
    (4.0, 4.0)
    """
    col, row = np.asarray(col), np.asarray(row)
    bulk = _axis_bulk(col) & _axis_bulk(row)
    if frame is None:
        frame = ((col.min(), col.max()), (row.min(), row.max()))
    return GridCentre(_middle(col, bulk, frame[0]), _middle(row, bulk, frame[1]), ~bulk)


def _axis_bulk(index) -> np.ndarray:
    """Dies whose index is in the bulk of one axis (see :func:`grid_centre`)."""
    sites, counts = np.unique(index, return_counts=True)
    bulk = np.ones(index.shape, dtype=bool)
    if sites.size < 3:  # one gap is its own median: nothing to compare it with
        return bulk
    gaps = np.diff(sites)
    cuts = np.flatnonzero(gaps > GAP_STEPS * np.median(gaps))  # a run ends at sites[cut]
    if not cuts.size:
        return bulk
    below = np.cumsum(counts)[cuts]  # dies at or below each cut, growing
    limit = ASIDE_SHARE * index.size
    low, high = cuts[below <= limit], cuts[index.size - below <= limit]
    if low.size:
        bulk &= index >= sites[low[-1] + 1]
    if high.size:
        bulk &= index <= sites[high[0]]
    return bulk


def _middle(index, bulk, frame) -> float:
    """Middle of ``frame``, each edge moved in to the bulk if set-aside dies lie beyond."""
    lo, hi = frame
    if not bulk.all():
        inner, aside = index[bulk], index[~bulk]
        lo = inner.min() if (aside < inner.min()).any() else lo
        hi = inner.max() if (aside > inner.max()).any() else hi
    return float((lo + hi) / 2)


def aside_note(centre: GridCentre, col, row) -> str:
    """The warning text naming the dies :func:`grid_centre` set aside (the reader adds
    where they are in its file and what to check)."""
    k = np.flatnonzero(centre.aside)
    sites = ", ".join(f"({int(col[i])}, {int(row[i])})" for i in k[:_SHOW])
    more = f" and {k.size - _SHOW} more" if k.size > _SHOW else ""
    return (f"{k.size} die(s) far from the bulk of the grid, at (col, row) {sites}{more}, were "
            f"set aside to place the wafer centre: it is the middle of the bulk of the grid "
            f"(col {centre.col:g}, row {centre.row:g}), not of every die's bounding box; those "
            "dies stay in the dataset")


def grid_diameter(x, y, w, h, aside=None) -> float:
    """``wafer_diameter_mm`` of a grid whose file gives none: the smallest circle about the
    wafer centre holding every die whole, dies ``aside`` (:func:`grid_centre`'s) left out.

    ``x``/``y`` are die centres from the wafer centre, ``w``/``h`` the die size, in one
    unit (mm, or die pitches).  Without dies set aside this is the plain rule over every
    die, so a gap-free grid gets the size it always got.

    Example
    -------
    >>> c, r = np.meshgrid(np.arange(9), np.arange(9))    # a 9 x 9 grid of unit dies
    >>> col, row = np.r_[c.ravel(), 200], np.r_[r.ravel(), 4]   # and one die at col 200
    >>> centre = grid_centre(col, row)
    >>> x, y = col - centre.col, centre.row - row
    >>> round(grid_diameter(x, y, 1, 1, centre.aside), 6)   # 2 * hypot(4.5, 4.5)
    12.727922
    >>> round(grid_diameter(x, y, 1, 1), 6)                 # 2 * hypot(196.5, 0.5)
    393.001272
    """
    keep = slice(None) if aside is None else ~np.asarray(aside)
    return float(2 * np.max(corner_radius(x[keep], y[keep], w, h)))


def wafer_note(diameter, x, y, aside, derived) -> str:
    """The words on the wafer size that follow :func:`aside_note` in a reader's warning:
    derived from the bulk (``derived``) or the file's, and how many dies set aside lie
    outside that wafer."""
    outside = int((np.hypot(x[aside], y[aside]) > diameter / 2).sum())
    source = ("derived from the bulk too (the dies set aside do not count)" if derived
              else "the file's")
    beyond = (f": {outside} of the dies set aside lie(s) outside that wafer (r > "
              f"{diameter / 2:g})" if outside else "")
    return f"wafer_diameter_mm {diameter:g} is {source}{beyond}"
