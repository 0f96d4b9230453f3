"""Wafer maps: parametric heat map, categorical bin map, stacked fail-rate map and the
gallery of small multiples.

Every map is one collection of die rectangles (``die_width_mm × die_height_mm``, gid
``"fabnb-dies"``, one path per die in die order) inside the wafer outline, notch at
``attrs["notch"]``, edge-exclusion ring dashed, equal aspect, axes in the unit of
``x``/``y`` ("mm", or "die pitch" when the tester file gave no die size).  The numbers
(bins, spec status, fail rate) come from :mod:`fabnb.summary`; the colour scales of the
parametric maps from :func:`fabnb.plot.color_scale.color_scale` (robust by default, spec
limits or fixed limits on request; dies beyond the scale in its under/over colours, the
scale named on the colour bar).

Example
-------
>>> import matplotlib; matplotlib.use("Agg")
>>> import fabnb
>>> from fabnb.plot import wafer_map
>>> ds = fabnb.synth.fab("small", seed=0)
>>> ax = wafer_map(ds, "T01", scale="spec", zones=True)
>>> ax.get_aspect()
1.0
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .. import summary
from .._params import Integral, Interval, Real, check_option, check_params
from . import _draw
from .color_scale import MODES, ColorScale, check_limits, color_scale, dataset_scale

#: above this many dies in a gallery, panels are drawn as images (see wafer_gallery)
RASTER_DIES = 200_000


GALLERY_CONSTRAINTS = {
    "ncols": [Interval(Integral, 1, None, closed="left")],
    "panel_size": [Interval(Real, 0, np.inf, closed="neither")],
    "raster": ["boolean", None],
}


def _unit(ds, test: str) -> str:
    return str(ds["unit"].sel(test=test).values) if "unit" in ds.coords else ""


def _value_label(ds, test: str) -> str:
    """``"<clean test name> [unit]"`` (whitespace of real tester names normalised)."""
    unit, name = _unit(ds, test), summary.clean_test_name(test)
    return f"{name} [{unit}]" if unit else name


def _map_frame(ax, ds, title):
    _draw.outline(ax, ds)
    _draw.position_labels(ax, ds)
    ax.set_title(title)


def _heat(ax, ds, values, *, scale, cmap, label, colorbar, zones, paths=None):
    """Dies coloured by ``values`` on ``scale`` (a :class:`~fabnb.plot.color_scale.ColorScale`:
    dies beyond it in its under/over colours, NaN grey and hatched), optional zones and a
    colour bar labelled with the values and the scale, extended where dies fall beyond."""
    coll = _draw.die_collection(ax, ds, values=values, cmap=scale.cmap(cmap), norm=scale.norm(),
                                paths=paths)
    _draw.overlay_dies(ax, ds, ~np.isfinite(values), paths=paths)
    if zones:
        _draw.zone_boundaries(ax, ds)
    if colorbar:
        ax.figure.colorbar(coll, ax=ax, label=f"{label}\n{scale.label}", extend=scale.extend,
                           shrink=0.85, pad=0.02)
    return coll


def _beyond_legend(ax, scale):
    """Legend of the dies drawn in the under/over colours, with their counts (sides with
    no die left out, except a spec limit's: "0 above USL" is worth saying)."""
    handles = [Patch(color=color, label=text) for color, text, show in (
        (scale.under_color, scale.under_text(), scale.n_under or scale.spec_low),
        (scale.over_color, scale.over_text(), scale.n_over or scale.spec_high)) if show]
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize="small", framealpha=0.8)


def wafer_map(ds, test=None, wafer=None, ax=None, scale="robust", zones=False,
              cmap="viridis", vmin=None, vmax=None, title=None, colorbar=True):
    """Parametric heat map of one test on one wafer, one rectangle per die.

    Parameters
    ----------
    test, wafer
        Test (name, number, clean name or a unique part of it) and wafer id (default:
        the first of each).
    scale : {"robust", "spec", "range"} or ColorScale
        Colour limits (:func:`fabnb.plot.color_scale.color_scale`): "robust" (default)
        the wafer's values inside Tukey's outer fences, so a few outliers cannot
        saturate it; "spec" the test's LSL–USL, dies out of spec in the under/over
        colours; "range" the wafer's min–max; or a scale computed elsewhere (e.g. over
        the whole lot: the WaferMap widget's static image uses its own), recounted on
        this wafer.
    vmin, vmax
        Fix either end of the scale (both: a fixed scale).
    zones
        Overlay the radial zone boundaries.
    cmap
        Colour map of the values inside the scale.

    Dies below/above the scale are drawn in blue/magenta (``UNDER_COLOR``/``OVER_COLOR``,
    never a colour of the map), counted in the legend ("above USL 1.8 (5)") and shown
    by the colour bar's extension triangles; the colour bar's label names the test, its
    unit and the scale used.  NaN (not measured) dies are grey and hatched.  Returns
    the Axes.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> ax = wafer_map(ds, "T02", vmin=0.0, vmax=1.0)
    >>> ax.figure.axes[-1].get_ylabel().splitlines()
    ['T02 [V]', 'fixed 0 – 1 V (vmin/vmax)']
    """
    given = isinstance(scale, ColorScale)
    if not given:
        check_option("wafer_map", "scale", scale, MODES)
    check_limits("wafer_map", vmin, vmax)
    test = summary.resolve_test(ds, test)
    wafer = summary.resolve_wafer(ds, wafer)
    values = ds["value"].sel(test=test, wafer=wafer).values
    colors = scale.recount(values) if given else dataset_scale(
        ds, test, values, scale, vmin=vmin, vmax=vmax, where="the wafer", owner="wafer_map")
    ax = _draw.new_axes(ax)
    _heat(ax, ds, values, scale=colors, cmap=cmap, label=_value_label(ds, test),
          colorbar=colorbar, zones=zones, paths=_draw.die_paths(ds))
    _beyond_legend(ax, colors)
    _map_frame(ax, ds, f"{wafer} · {summary.clean_test_name(test)}" if title is None else title)
    return ax


def _palette(ds, kind):
    """Bin colours fixed over all of ``ds``, so every wafer and chart agrees."""
    return _draw.bin_palette(np.unique(summary.bin_codes(ds, kind).values))


def _bin_rgba(palette, codes) -> np.ndarray:
    """RGBA of each bin code (codes of shape (..., die) -> (..., die, 4))."""
    known = np.array(sorted(palette))
    return np.array([palette[c] for c in known])[np.searchsorted(known, codes)]


def _bin_patches(table, palette) -> list[Patch]:
    return [Patch(color=palette[int(b)], label=_draw.bin_label(int(b), n, int(c)))
            for b, n, c in zip(table["bin"], table["name"], table["count"])]


def _bin_table(ds, kind):
    """Every bin present with its count: pass first, fails by count, untested last."""
    table = summary.bin_counts(ds, kind, include_pass=True, include_untested=True)
    rank = np.where(table["bin"] == 1, 0, np.where(table["bin"] == -1, 2, 1))
    return table.iloc[np.argsort(rank, kind="stable")]


def bin_map(ds, wafer=None, ax=None, kind="hbin", title=None, legend=True):
    """Categorical bin map of one wafer: pass green, untested light grey, fail bins in
    distinct colours (the same colours for every wafer of ``ds``).

    The legend lists each bin present on the wafer with its name (when ``ds`` carries
    bin names) and its die count.  Returns the Axes.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> ax = bin_map(ds)
    >>> len(ax.get_legend().get_texts()) >= 1
    True
    """
    wafer = summary.resolve_wafer(ds, wafer)
    codes = summary.bin_codes(ds, kind)
    palette = _palette(ds, kind)
    one = ds.sel(wafer=[wafer])
    ax = _draw.new_axes(ax, figsize=(6.2, 4.6))
    _draw.die_collection(ax, ds, facecolors=_bin_rgba(palette, codes.sel(wafer=wafer).values))
    if legend:
        ax.legend(handles=_bin_patches(_bin_table(one, kind), palette), title=kind,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                  borderaxespad=0)
    _map_frame(ax, ds, f"{wafer} · {kind}" if title is None else title)
    return ax


def stacked_map(ds, ax=None, kind="hbin", cmap="Reds", title=None, colorbar=True,
                scale="range", vmin=0.0, vmax=None):
    """Per-die fail rate across all wafers of ``ds`` (:func:`fabnb.summary.fail_rate_by_die`).

    Systematic failure signatures (edge ring, a scratch, a reticle position) stand out
    once the random fails average away.  The colours run from ``vmin`` (default 0: white
    is "never fails") to the highest die's rate (``scale="range"``) or, with
    ``scale="robust"``, to the robust upper limit, so one always-failing die cannot wash
    out the rest; ``vmin``/``vmax`` work as in :func:`wafer_map`.  Returns the Axes.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> ax = stacked_map(ds)
    >>> ax.figure.axes[-1].get_ylabel().splitlines()
    ['fail rate', 'range over the dies of 18 wafers, vmin fixed at 0 (vmin/vmax)']
    """
    check_option("stacked_map", "scale", scale, ("range", "robust"))
    check_limits("stacked_map", vmin, vmax)
    rate = summary.fail_rate_by_die(ds, kind).values
    n = ds.sizes["wafer"]
    colors = color_scale(rate, scale, vmin=vmin, vmax=vmax, owner="stacked_map",
                         where=f"the dies of {n} wafer{'s' * (n != 1)}")
    ax = _draw.new_axes(ax)
    _heat(ax, ds, rate, scale=colors, cmap=cmap, label="fail rate", colorbar=colorbar, zones=False)
    _map_frame(ax, ds, f"fail rate over {n} wafer{'s' * (n != 1)}" if title is None else title)
    return ax


def wafer_gallery(ds, test=None, wafers=None, ncols=6, bins=False, kind="hbin",
                  cmap="viridis", vmin=None, vmax=None, panel_size=1.9, raster=None,
                  scale="robust"):
    """Small multiples: one map per wafer on one shared colour scale.

    The scale (``scale``, ``vmin``, ``vmax`` as in :func:`wafer_map`) is computed over
    every shown wafer together, with a single colour bar that names it and counts the
    dies drawn below/above it (blue/magenta); ``bins=True`` draws bin maps with one
    shared legend instead.  Panels are titled with the wafer id.

    Each panel is one die collection; above ``RASTER_DIES`` dies in all (a 240-wafer
    production gallery) and when the dies sit on a regular col/row lattice, each panel
    is instead one image over that lattice, which renders far faster at panel size
    (``raster=True``/``False`` forces the choice).  Returns a
    :class:`~matplotlib.figure.Figure` (not registered with pyplot: it displays once in
    a notebook; save it with ``fig.savefig``).

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> fig = wafer_gallery(ds, "T01")
    >>> len(fig.axes) == ds.sizes["wafer"] + 1
    True
    """
    check_params("wafer_gallery", GALLERY_CONSTRAINTS,
                 {"ncols": ncols, "panel_size": panel_size, "raster": raster})
    check_option("wafer_gallery", "scale", scale, MODES)
    check_limits("wafer_gallery", vmin, vmax)
    ids = summary.resolve_wafers(ds, wafers)
    ncols = min(ncols, len(ids))
    nrows = math.ceil(len(ids) / ncols)
    side_in = 1.3 if bins else 0.9  # room for the colour bar / legend
    # room for the line under the panels that names the colour scale
    wspace, hspace, top_in, bottom_in = 0.05, 0.18, 0.3, 0.05 if bins else 0.3
    width = ncols * panel_size + side_in
    left, right = 0.01, 1 - side_in / width
    panel = width * (right - left) / (ncols + wspace * (ncols - 1))  # square panels
    height = panel * (nrows + hspace * (nrows - 1)) + top_in + bottom_in
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left, right=right, bottom=bottom_in / height, top=1 - top_in / height,
                        wspace=wspace, hspace=hspace)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(ids):]:
        fig.delaxes(ax)
    # dense galleries: one image per panel over the die lattice (far faster to render);
    # otherwise one die collection per panel
    dense = len(ids) * ds.sizes["die"] > RASTER_DIES
    grid = _draw.lattice(ds) if raster or (raster is None and dense) else None
    paths = None if grid else _draw.die_paths(ds)

    def draw(ax, rgba):
        if grid:
            _draw.die_image(ax, grid, rgba)
        else:
            _draw.die_collection(ax, ds, facecolors=rgba, edge=False, paths=paths)

    if bins:
        codes = summary.bin_codes(ds, kind)
        palette = _palette(ds, kind)
        shown = codes.sel(wafer=ids).transpose("wafer", "die").values
        for ax, rgba in zip(axes, _bin_rgba(palette, shown)):
            draw(ax, rgba)
        fig.legend(handles=_bin_patches(_bin_table(ds.sel(wafer=ids), kind), palette),
                   title=kind, loc="upper left", bbox_to_anchor=(right, 1 - top_in / height),
                   fontsize="small")
    else:
        test = summary.resolve_test(ds, test)
        shown = ds["value"].sel(test=test, wafer=ids).transpose("wafer", "die").values
        colors = dataset_scale(ds, test, shown, scale, vmin=vmin, vmax=vmax, owner="wafer_gallery",
                               where=f"{len(ids)} wafer{'s' * (len(ids) != 1)}")
        mappable = ScalarMappable(colors.norm(), colors.cmap(cmap))
        for ax, wafer_values in zip(axes, shown):
            draw(ax, mappable.to_rgba(wafer_values))
        bar = min(0.8, 3.0 / height)  # colour bar: at most 3 in tall, top right
        cax = fig.add_axes([right + 0.15 / width, 1 - top_in / height - bar, 0.18 / width, bar])
        fig.colorbar(mappable, cax=cax, extend=colors.extend, label=_value_label(ds, test))
        beyond = [text for text, n in ((colors.under_text(), colors.n_under),
                                       (colors.over_text(), colors.n_over)) if n]
        fig.text(left, 0.08 / height, " · ".join([f"colour scale: {colors.label}", *beyond]),
                 fontsize="small", va="bottom", gid="fabnb-scale-label")
    for ax, wafer in zip(axes, ids):
        _draw.outline(ax, ds, edge_exclusion=False, lw=0.6, pad=0.03)
        ax.set_axis_off()
        ax.set_title(wafer, fontsize=8, pad=2, y=1.0)  # fixed y: no tick-based title layout
    return fig

