"""Shared drawing pieces: die rectangles, the wafer outline with its notch, the
edge-exclusion ring, zone boundaries, and the one palette: bin colours, the missing-die
grey and the under/over colours of colour scales (:mod:`fabnb.plot.color_scale`).

All die rectangles of one map go into *one* :class:`~matplotlib.collections.PathCollection`
(gid ``"fabnb-dies"``, one path per die, in die order), so a 5,500-die map is a single
artist; a gallery builds the die paths once and shares them between its panels, and
nothing recomputes data limits (the outline fixes the view).
"""

from __future__ import annotations

import colorsys

import matplotlib as mpl
import numpy as np
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_hex, to_rgba
from matplotlib.patches import Circle, Polygon
from matplotlib.path import Path

from ..geometry import corner_radius
from ..schema import PASS_BIN, UNTESTED_BIN

DIES_GID = "fabnb-dies"
MISSING_COLOR = "#cfcfcf"
PASS_COLOR = "#2ca02c"
UNTESTED_COLOR = "#e6e6e6"
OTHER_COLOR = "#7f7f7f"  # the Pareto's "other" bar: tab10's grey, never a fail colour
# dies below / above a colour scale (and below LSL / above USL in the histogram): pure
# blue and magenta are far (RGB distance > 0.4) from every viridis colour, every bin
# colour and the greys, so an out-of-scale die never passes for an in-scale or bin colour
UNDER_COLOR = "#0000ff"
OVER_COLOR = "#ff00ff"
# bins 2…17: tab10 and tab20's light shades without their greens and greys (they mean
# "pass" and "untested"), and tab20's light cyan swapped for tab20b's plum (light cyan
# is too close to light blue to tell apart on a map)
_FAIL_COLORS = [c for i, c in enumerate(mpl.colormaps["tab10"].colors) if i not in (2, 7)] + [
    c for i, c in enumerate(mpl.colormaps["tab20"].colors) if i % 2 and i not in (5, 15, 19)
] + [to_rgba("#7b4173")[:3]]
PALETTE_FIXED = {PASS_BIN: to_rgba(PASS_COLOR), UNTESTED_BIN: to_rgba(UNTESTED_COLOR)}
_GOLDEN = (np.sqrt(5) - 1) / 2
#: a colliding code steps its hue walk by this many codes (odd, not a multiple of 3)
_HUE_STRIDE = 7
#: RGB distance below which two bin colours are too alike to tell apart on a map
_MIN_GAP = 0.12
_NOTCH_ANGLE = {"right": 0.0, "up": np.pi / 2, "left": np.pi, "down": -np.pi / 2}
#: the notch is drawn enlarged (a real 300 mm notch is ~1 mm deep, invisible at map scale)
_NOTCH_SIZE = 0.035
_RECT_CODES = np.array([Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY],
                       dtype=Path.code_type)


def new_axes(ax=None, figsize=(5.2, 4.6)):
    """``ax`` or a fresh pyplot Axes (so the figure shows inline in a notebook)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, layout="constrained")[1]


def die_paths(ds) -> list[Path]:
    """One closed rectangle path per die (``die_width_mm × die_height_mm`` around x/y)."""
    x, y = ds["x"].values, ds["y"].values
    hw, hh = ds.attrs["die_width_mm"] / 2, ds.attrs["die_height_mm"] / 2
    corners = np.stack([
        x[:, None] + np.array([-hw, hw, hw, -hw, -hw]),
        y[:, None] + np.array([-hh, -hh, hh, hh, -hh]),
    ], axis=-1)
    return [Path(c, _RECT_CODES, readonly=True) for c in corners]


def die_collection(ax, ds, *, values=None, facecolors=None, cmap=None, norm=None,
                   edge=True, paths=None, **kw) -> PathCollection:
    """Add one collection holding every die of ``ds`` (in die order) to ``ax``.

    Give ``values`` (one per die, coloured through ``cmap``/``norm``, NaN in the cmap's
    "bad" colour) or explicit ``facecolors``; ``paths`` reuses :func:`die_paths`.
    """
    paths = die_paths(ds) if paths is None else paths
    thin = edge and len(paths) <= 2500
    style = {
        "edgecolors": "white" if thin else "face",
        "linewidths": 0.25 if thin else 0.0,
        "antialiaseds": thin,  # no hairline seams between adjacent dies on dense maps
    }
    style.update(kw)
    coll = PathCollection(paths, **style)
    if values is not None:
        coll.set_array(np.asarray(values, dtype=float))
        coll.set_cmap(cmap)
        coll.set_norm(norm)
    else:
        coll.set_facecolor(facecolors)
    coll.set_gid(DIES_GID)
    ax.add_collection(coll, autolim=False)
    return coll


def lattice(ds):
    """``(col, row, extent)`` when die centres sit on the regular col/row lattice
    (``x = x0 + col·w``, ``y = y0 − row·h``), else ``None``."""
    col, row = ds["col"].values, ds["row"].values
    w, h = ds.attrs["die_width_mm"], ds.attrs["die_height_mm"]
    x0 = ds["x"].values - col * w
    y0 = ds["y"].values + row * h
    if np.ptp(x0) > 1e-6 * w or np.ptp(y0) > 1e-6 * h:
        return None
    left, top = x0[0] - w / 2, y0[0] + h / 2
    extent = (left, left + (col.max() + 1) * w, top - (row.max() + 1) * h, top)
    return col, row, extent


def die_image(ax, grid, rgba):
    """Draw per-die colours ``rgba`` (n_die, 4) as one image over the die lattice.

    For dense small multiples: one pixel block per die, off-wafer cells transparent.
    ``grid`` is :func:`lattice`'s result.
    """
    col, row, extent = grid
    image = np.zeros((row.max() + 1, col.max() + 1, 4))
    image[row, col] = rgba
    return ax.imshow(image, extent=extent, origin="upper", interpolation="nearest",
                     resample=False)


def colormap(cmap) -> mpl.colors.Colormap:
    """A copy of ``cmap`` whose "bad" (NaN) colour is the missing-die grey."""
    base = mpl.colormaps[cmap] if isinstance(cmap, str) else cmap
    return base.with_extremes(bad=MISSING_COLOR)


def overlay_dies(ax, ds, mask, paths=None, **kw) -> PathCollection | None:
    """Overlay the dies where ``mask`` is true (default style: grey hatch = not measured;
    ``kw`` restyles it, e.g. solid red for out-of-spec dies)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    paths = die_paths(ds) if paths is None else paths
    style = {"facecolors": "none", "edgecolors": "#8c8c8c", "hatch": "////", "linewidths": 0.0}
    style.update(kw)
    coll = PathCollection([p for p, hit in zip(paths, mask) if hit], **style)
    ax.add_collection(coll, autolim=False)
    return coll


def outline(ax, ds, *, edge_exclusion=True, lw=1.0, pad=0.04):
    """Wafer outline with the notch at ``attrs["notch"]``, dashed edge-exclusion ring and
    equal aspect (lengths in the unit of ``x``/``y``, :func:`length_unit`); the view holds
    the wafer and every die, so a die outside the outline is drawn beyond it."""
    radius = ds.attrs["wafer_diameter_mm"] / 2
    notch = _NOTCH_ANGLE.get(ds.attrs.get("notch", "down"), -np.pi / 2)
    half = _NOTCH_SIZE
    phi = np.linspace(notch + half, notch + 2 * np.pi - half, 361)
    ring = np.column_stack([radius * np.cos(phi), radius * np.sin(phi)])
    tip = (1 - _NOTCH_SIZE) * radius * np.array([np.cos(notch), np.sin(notch)])
    # add_artist, not add_patch: the limits are set below, no need to scan the outline
    ax.add_artist(Polygon(np.vstack([ring, tip]), closed=True, fill=False, lw=lw, ec="black",
                          zorder=3))
    exclusion = ds.attrs.get("edge_exclusion_mm", 0.0)
    if edge_exclusion and exclusion > 0:
        ax.add_artist(Circle((0, 0), radius - exclusion, fill=False, ls="--", lw=0.7 * lw,
                            ec="#555555", zorder=3))
    # a die outside the wafer (one a reader set aside as far from the bulk of the grid, a
    # partial die beyond the file's wafer size) is data: widen the view, never cut it off
    reach = corner_radius(ds["x"].values, ds["y"].values, ds.attrs["die_width_mm"],
                          ds.attrs["die_height_mm"]).max(initial=radius)
    lim = reach * (1 + pad)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")


def length_unit(ds) -> str:
    """Unit of the die coordinates: ``x.attrs["units"]`` ("mm", or "die pitch" when the
    file gave no die size), "mm" when unset (the contract's default)."""
    return str(ds["x"].attrs.get("units") or "mm")


def position_labels(ax, ds):
    """Label the map axes ``x [unit]`` / ``y [unit]`` in the dataset's length unit."""
    unit = length_unit(ds)
    ax.set_xlabel(f"x [{unit}]")
    ax.set_ylabel(f"y [{unit}]")


def zone_boundaries(ax, ds, **kw) -> LineCollection:
    """Draw the die edges where neighbouring dies lie in different zones."""
    col, row = ds["col"].values, ds["row"].values
    zone = np.asarray(ds["zone"].values).astype(str)
    x, y = ds["x"].values, ds["y"].values
    hw, hh = ds.attrs["die_width_mm"] / 2, ds.attrs["die_height_mm"] / 2
    index = np.full((row.max() + 2, col.max() + 2), -1)  # padded so neighbour -1 is "none"
    index[row, col] = np.arange(col.size)
    segments = []
    for dc, dr in ((1, 0), (0, 1)):  # right neighbour, neighbour below (row grows down)
        other = index[row + dr, col + dc]
        edge = other >= 0
        edge[edge] = zone[edge] != zone[other[edge]]
        ex, ey = x[edge] + dc * hw, y[edge] - dr * hh
        if dc:
            segments += [[(a, b - hh), (a, b + hh)] for a, b in zip(ex, ey)]
        else:
            segments += [[(a - hw, b), (a + hw, b)] for a, b in zip(ex, ey)]
    style = {"colors": "black", "linewidths": 1.2, "zorder": 2.5}
    style.update(kw)
    lines = LineCollection(segments, **style)
    ax.add_collection(lines, autolim=False)
    return lines


def _fail_color(code: int) -> tuple:
    """The colour of fail bin ``code``, a function of the code alone.

    Codes 2…17 take the 16 colours of ``_FAIL_COLORS`` in code order; every other code
    walks the hue circle by the golden ratio (consecutive codes land far apart; no two
    codes get the same hue, since k·φ mod 1 never repeats), skipping the greens that
    mean "pass", at one of three lightness levels.
    """
    if _in_table(code):
        return to_rgba(_FAIL_COLORS[code - 2])
    hue = (0.40 + 0.85 * ((code * _GOLDEN) % 1.0)) % 1.0  # 0.25…0.40 (green) left out
    r, g, b = colorsys.hls_to_rgb(hue, (0.42, 0.58, 0.32)[code % 3], 0.75)
    return (r, g, b, 1.0)


def _in_table(code: int) -> bool:
    return 2 <= code < 2 + len(_FAIL_COLORS)


def bin_palette(codes) -> dict[int, tuple]:
    """Colour (RGBA) of each bin code: pass (1) green, untested (-1) light grey, each
    fail bin its own colour.

    The colour is a function of the code (:func:`_fail_color`: a fixed table for bins
    2–17, golden-ratio hues beyond), so bin 10 looks the same in every map, report and
    widget whichever other bins are present.  Two codes far apart (beyond the table)
    can land on nearly the same hue; when both are in ``codes``, the higher one moves to
    the next free hue of its walk, so no two bins of one map look alike (the only case
    where a colour depends on the other codes).  :func:`bin_hex` gives the ``"#rrggbb"``
    strings the widgets take.

    >>> from fabnb.plot import bin_palette
    >>> bin_palette([1, 10])[10] == bin_palette([2, 3, 10, 20])[10]
    True
    """
    wanted = sorted({int(c) for c in np.asarray(codes).ravel()})
    # pass, untested and the table's bins (2–17) never move: they go first, and pass and
    # untested count as taken even when absent, so their presence moves no other colour
    table = [c for c in wanted if c not in PALETTE_FIXED and _in_table(c)]
    palette: dict[int, tuple] = {**PALETTE_FIXED, **{c: _fail_color(c) for c in table}}
    for code in wanted:
        if code in palette:
            continue
        color = _fail_color(code)
        if _gap(color, palette) < _MIN_GAP:
            # the free-est of the next hues of its walk (a map with dozens of bins runs out
            # of far-apart colours: then it takes the one farthest from all the others)
            candidates = [_fail_color(code + step * _HUE_STRIDE) for step in range(1, 65)]
            color = max(candidates, key=lambda c: _gap(c, palette))
        palette[code] = color
    return {code: palette[code] for code in wanted}


def _gap(color, palette) -> float:
    """RGB distance from ``color`` to the nearest colour already in ``palette``."""
    others = np.array([c[:3] for c in palette.values()])
    return float(np.min(np.linalg.norm(others - np.asarray(color[:3]), axis=1)))


def bin_hex(codes) -> dict[int, str]:
    """:func:`bin_palette` as ``"#rrggbb"`` strings (what the WaferMap widget draws with)."""
    return {code: to_hex(color) for code, color in bin_palette(codes).items()}


def bin_label(code: int, name: str, count: int) -> str:
    """Legend text of a bin: code, name (when known), pass/fail and die count,
    e.g. ``"6 LEAK · fail (12)"``, ``"1 · pass (1389)"``, ``"untested (40)"``."""
    if code == UNTESTED_BIN:
        return f"untested ({count})"
    verdict = "pass" if code == PASS_BIN else "fail"
    return f"{code} {name} · {verdict} ({count})" if name else f"{code} · {verdict} ({count})"
