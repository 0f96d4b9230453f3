"""Wafer maps: parametric heat map, categorical bin map, stacked fail-rate map and the
gallery of small multiples.

Every map is one collection of die rectangles (``die_width_mm × die_height_mm``, gid
``"fabnb-dies"``, one path per die in die order) inside the wafer outline, notch at ``attrs["notch"]``, edge-exclusion ring dashed, equal
aspect, axes in the unit of ``x``/``y`` ("mm", or "die pitch" when the tester file gave
no die size).  The numbers (bins, spec status, fail rate) come from :mod:`fabnb.summary`.

Example
-------
>>> import matplotlib; matplotlib.use("Agg")
>>> import fabnb
>>> from fabnb.plot import wafer_map
>>> ds = fabnb.synth.fab("small", seed=0)
>>> ax = wafer_map(ds, "T01", spec_limits=True, zones=True)
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
from .._params import Integral, Interval, Real, check_params
from ..errors import FabParameterError
from . import _draw

#: above this many dies in a gallery, panels are drawn as images (see wafer_gallery)
RASTER_DIES = 200_000


_LIMIT = [Interval(Real, -np.inf, np.inf, closed="neither"), None]  # a finite number or None
GALLERY_CONSTRAINTS = {
    "ncols": [Interval(Integral, 1, None, closed="left")],
    "panel_size": [Interval(Real, 0, np.inf, closed="neither")],
    "raster": ["boolean", None],
}


def _check_limits(owner, vmin, vmax):
    """Colour limits are numbers (or None) with ``vmin < vmax`` when both are given."""
    check_params(owner, {"vmin": _LIMIT, "vmax": _LIMIT}, {"vmin": vmin, "vmax": vmax})
    if vmin is not None and vmax is not None and not vmin < vmax:
        raise FabParameterError(f"{owner}: vmin={vmin} must be below vmax={vmax}")


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


def _heat(ax, ds, values, *, cmap, norm, label, colorbar, zones, paths=None):
    """Dies coloured by ``values`` (NaN grey and hatched), optional zones and colour bar."""
    coll = _draw.die_collection(ax, ds, values=values, cmap=_draw.colormap(cmap), norm=norm,
                                paths=paths)
    _draw.overlay_dies(ax, ds, ~np.isfinite(values), paths=paths)
    if zones:
        _draw.zone_boundaries(ax, ds)
    if colorbar:
        ax.figure.colorbar(coll, ax=ax, label=label, shrink=0.85, pad=0.02)
    return coll


def wafer_map(ds, test=None, wafer=None, ax=None, spec_limits=False, zones=False,
              cmap="viridis", vmin=None, vmax=None, title=None, colorbar=True):
    """Parametric heat map of one test on one wafer, one rectangle per die.

    Parameters
    ----------
    test, wafer
        Test name and wafer id (default: the first of each).
    spec_limits
        Paint dies below LSL blue and above USL red (legend with counts).
    zones
        Overlay the radial zone boundaries.
    cmap, vmin, vmax
        Colour map and limits (default limits: 1st–99th percentile of the wafer).

    Returns the Axes.  NaN (not measured) dies are grey and hatched; the colour bar is
    labelled with the test and its unit.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> ax = wafer_map(ds, "T02")
    >>> ax.figure.axes[-1].get_ylabel().startswith("T02")
    True
    """
    _check_limits("wafer_map", vmin, vmax)
    test = summary.resolve_test(ds, test)
    wafer = summary.resolve_wafer(ds, wafer)
    values = ds["value"].sel(test=test, wafer=wafer).values
    ax = _draw.new_axes(ax)
    norm = _draw.value_norm(values, vmin, vmax)
    paths = _draw.die_paths(ds)
    _heat(ax, ds, values, cmap=cmap, norm=norm, label=_value_label(ds, test),
          colorbar=colorbar, zones=zones, paths=paths)
    if spec_limits:
        status = summary.spec_status(ds, test, wafer).values
        handles = []
        for side, color, text in ((-1, _draw.BELOW_COLOR, "below LSL"),
                                  (1, _draw.ABOVE_COLOR, "above USL")):
            hit = status == side
            _draw.overlay_dies(ax, ds, hit, paths=paths, facecolors=color, hatch=None,
                             edgecolors="black", linewidths=0.5)
            handles.append(Patch(color=color, label=f"{text} ({int(hit.sum())})"))
        ax.legend(handles=handles, loc="upper left", fontsize="small", framealpha=0.8)
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


def stacked_map(ds, ax=None, kind="hbin", cmap="Reds", title=None, colorbar=True):
    """Per-die fail rate across all wafers of ``ds`` (:func:`fabnb.summary.fail_rate_by_die`).

    Systematic failure signatures (edge ring, a scratch, a reticle position) stand out
    once the random fails average away.  Returns the Axes.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> ax = stacked_map(ds)
    >>> ax.figure.axes[-1].get_ylabel()
    'fail rate'
    """
    rate = summary.fail_rate_by_die(ds, kind).values
    ax = _draw.new_axes(ax)
    norm = _draw.value_norm(rate, 0.0, max(float(np.nanmax(rate, initial=0.0)), 1e-9))
    _heat(ax, ds, rate, cmap=cmap, norm=norm, label="fail rate", colorbar=colorbar, zones=False)
    n = ds.sizes["wafer"]
    _map_frame(ax, ds, f"fail rate over {n} wafer{'s' * (n != 1)}" if title is None else title)
    return ax


def wafer_gallery(ds, test=None, wafers=None, ncols=6, bins=False, kind="hbin",
                  cmap="viridis", vmin=None, vmax=None, panel_size=1.9, raster=None):
    """Small multiples: one map per wafer on one shared colour scale.

    The scale runs over the 1st–99th percentile of every shown wafer (unless ``vmin``/
    ``vmax`` are given) with a single colour bar; ``bins=True`` draws bin maps with one
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
    _check_limits("wafer_gallery", vmin, vmax)
    ids = summary.resolve_wafers(ds, wafers)
    ncols = min(ncols, len(ids))
    nrows = math.ceil(len(ids) / ncols)
    side_in = 1.3 if bins else 0.9  # room for the colour bar / legend
    wspace, hspace, top_in, bottom_in = 0.05, 0.18, 0.3, 0.05
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
        scale = ScalarMappable(_draw.value_norm(shown, vmin, vmax), _draw.colormap(cmap))
        for ax, wafer_values in zip(axes, shown):
            draw(ax, scale.to_rgba(wafer_values))
        bar = min(0.8, 3.0 / height)  # colour bar: at most 3 in tall, top right
        cax = fig.add_axes([right + 0.15 / width, 1 - top_in / height - bar, 0.18 / width, bar])
        fig.colorbar(scale, cax=cax, label=_value_label(ds, test))
    for ax, wafer in zip(axes, ids):
        _draw.outline(ax, ds, edge_exclusion=False, lw=0.6, pad=0.03)
        ax.set_axis_off()
        ax.set_title(wafer, fontsize=8, pad=2, y=1.0)  # fixed y: no tick-based title layout
    return fig

