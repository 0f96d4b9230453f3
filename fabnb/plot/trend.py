"""The yield trend of a lot (or of a whole dataset): every wafer's yield in lot order.

Example
-------
>>> import matplotlib; matplotlib.use("Agg")
>>> import fabnb
>>> from fabnb.plot import yield_trend
>>> ds = fabnb.synth.fab("small", seed=0)
>>> ax = yield_trend(ds)
>>> ax.yaxis.get_major_formatter()(0.95, 0)
'95.0%'
"""

from __future__ import annotations

import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from .. import summary
from .._params import StrOptions, check_params
from . import _draw

#: gids of the trend's artists, one line per lot each (tests and widgets find them by it)
WAFER_GID, FIRST_PASS_GID, LOT_GID, BOUNDARY_GID = (
    "fabnb-wafer-yield", "fabnb-first-pass-yield", "fabnb-lot-yield", "fabnb-lot-boundary")
#: at most this many wafer tick labels; more wafers: every k-th wafer is labelled
MAX_WAFER_LABELS = 60
#: at most this many lot labels under the axis; more lots: every k-th lot is labelled
MAX_LOT_LABELS = 30

TREND_CONSTRAINTS = {
    "kind": [StrOptions(set(summary.BIN_KINDS))],
    "first_pass": ["boolean", None],
    "lot_yield": ["boolean"],
}


def _in_lot_order(ds, table):
    """``table`` (one row per wafer of ``ds``) sorted into lot order: lots by their first
    wafer in processing order (``seq``), wafers inside a lot by ``seq``; so a lot's
    wafers sit together even when lots were processed interleaved."""
    table = table.assign(seq=np.asarray(ds["seq"].values))
    table["lot_start"] = table.groupby("lot", sort=False)["seq"].transform("min")
    return table.sort_values(["lot_start", "seq"], kind="stable")


def _wafer_labels(ds, order) -> list[str]:
    """Short tick labels: the slot (the lot's name sits under them) when slots tell the
    wafers of each lot apart, else the wafer id."""
    slots = order.assign(slot=[int(s) for s in ds["slot"].sel(wafer=list(order.index)).values])
    if not slots.duplicated(["lot", "slot"]).any():
        return [str(s) for s in slots["slot"]]
    return list(order.index)


def yield_trend(ds, ax=None, kind="hbin", first_pass=None, lot_yield=True, title=None):
    """Yield of every wafer in lot order, with first-pass yield, lot boundaries and lot yield.

    For wafer *w* with ``tested`` dies (bin ≠ −1) of which ``passed`` have bin 1,
    the final yield is ``passed / tested`` and the first-pass yield
    ``passed_first / tested``, ``passed_first`` counting dies whose *first* touchdown
    binned 1 (:func:`fabnb.summary.first_pass_yield`); the gap between the two is what
    the retests recovered.  Each lot's yield, pooled over its dies,
    ``Σ passed / Σ tested`` (:func:`fabnb.summary.yield_by_lot`), is a line across
    its wafers, so a wafer is read against its own lot.  These are the wafer/lot yield
    trend charts of the yield-management tools (yieldHUB, Exensio).

    Wafers run left to right in lot order (lots by their first wafer's processing order
    ``seq``, wafers inside a lot by ``seq``), one colour per lot, dashed lines between
    lots.  Ticks carry the slot number with the lot id under its wafers (the wafer id when
    slots repeat inside a lot); past 60 wafers every k-th wafer is labelled, past 30
    lots every k-th lot, so labels never overlap.  The y axis is in percent.  A wafer
    with no tested die has no yield: it is marked × on the axis floor, not left out.

    Parameters
    ----------
    ds
        Contract Dataset with ``hbin``/``sbin`` and the ``lot``, ``slot``, ``seq`` coords.
    ax
        Axes to draw on (default: a new figure sized to the number of wafers).
    kind
        ``"hbin"`` or ``"sbin"``.
    first_pass
        Draw the first-pass yield as hollow rings.  None: when the data records
        first-touchdown bins (``<kind>_first``, as :func:`fabnb.io.read_stdf` writes);
        without them first pass equals final, nothing to show.
    lot_yield
        Draw each lot's pooled yield as a line across its wafers.
    title
        Axes title (default: how many wafers and lots).

    Returns
    -------
    matplotlib.axes.Axes
        One final-yield line per lot (gid ``"fabnb-wafer-yield"``, x = position in lot
        order, y = yield as a fraction), likewise ``"fabnb-first-pass-yield"`` and
        ``"fabnb-lot-yield"``, and the boundaries ``"fabnb-lot-boundary"``.

    Example
    -------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> ax = yield_trend(ds)
    >>> len([l for l in ax.lines if l.get_gid() == "fabnb-wafer-yield"])  # one per lot
    3
    """
    check_params("yield_trend", TREND_CONSTRAINTS,
                 {"kind": kind, "first_pass": first_pass, "lot_yield": lot_yield})
    if first_pass is None:
        first_pass = f"{kind}_first" in ds
    table = summary.first_pass_yield(ds, kind) if first_pass else summary.yield_by_wafer(ds, kind)
    order = _in_lot_order(ds, table)
    n = len(order)
    x = np.arange(n)
    lots = list(dict.fromkeys(order["lot"]))
    ax = _draw.new_axes(ax, figsize=(min(5.0 + 0.16 * n, 14.0), 3.8))
    by_lot = summary.yield_by_lot(ds, kind)["yield"] if lot_yield else None
    cmap = _draw.colormap("tab10")
    spans = []
    for k, lot in enumerate(lots):
        mine = (order["lot"] == lot).to_numpy()
        where, rows, colour = x[mine], order[mine], cmap(k % 10)
        spans.append((lot, where.min(), where.max()))
        ax.plot(where, rows["yield"].to_numpy(), "o-", color=colour, ms=5, lw=0.8,
                gid=WAFER_GID, label=lot)
        if first_pass:
            ax.plot(where, rows["first_pass_yield"].to_numpy(), "o", mfc="none", color=colour,
                    ms=8, gid=FIRST_PASS_GID)
        if lot_yield:
            ax.plot([where.min() - 0.4, where.max() + 0.4], [by_lot[lot]] * 2, color=colour,
                    lw=2.2, alpha=0.7, solid_capstyle="butt", gid=LOT_GID)
        if k:
            ax.axvline(where.min() - 0.5, color="0.55", ls="--", lw=0.8, gid=BOUNDARY_GID)
    untested = order["yield"].isna().to_numpy()
    if untested.any():  # no yield to draw: say so on the axis floor instead of a gap
        ax.plot(x[untested], np.zeros(untested.sum()), "x", color="black", ms=7, clip_on=False,
                transform=ax.get_xaxis_transform())
    _label_axes(ax, ds, order, spans)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_ylabel(f"yield ({kind} 1)")
    ax.set_xlim(-0.7, n - 0.3)
    ax.grid(axis="y", alpha=0.3)
    keys = [Line2D([], [], marker="o", color="0.3", lw=0.8, label="wafer yield")]
    if first_pass:
        keys.append(Line2D([], [], marker="o", mfc="none", ls="", ms=8, color="0.3", label="first-pass yield"))
    if lot_yield:
        keys.append(Line2D([], [], color="0.3", lw=2.2, alpha=0.7, label="lot yield (pooled)"))
    if untested.any():
        keys.append(Line2D([], [], marker="x", ls="", color="black", label="no tested die"))
    ax.legend(handles=keys, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
              borderaxespad=0)
    lots_text = f"{len(lots)} lot{'s' * (len(lots) != 1)}"
    ax.set_title(f"yield of {n} wafer{'s' * (n != 1)} in {lots_text}" if title is None else title)
    return ax


def _label_axes(ax, ds, order, spans):
    """Wafer ticks (thinned past :data:`MAX_WAFER_LABELS`) and lot ids centred under
    their wafers (thinned past :data:`MAX_LOT_LABELS`)."""
    n = len(order)
    labels = _wafer_labels(ds, order)
    by_slot = labels != list(order.index)
    step = int(np.ceil(n / MAX_WAFER_LABELS))
    ticks = np.arange(0, n, step)
    ax.set_xticks(ticks, [labels[i] for i in ticks], fontsize="small",
                  rotation=0 if by_slot else 90)
    lot_step = int(np.ceil(len(spans) / MAX_LOT_LABELS))
    lot_axis = ax.secondary_xaxis("bottom")
    shown = spans[::lot_step]
    lot_axis.set_xticks([(lo + hi) / 2 for _, lo, hi in shown], [str(lot) for lot, _, _ in shown],
                        fontsize="small", rotation=0 if len(shown) <= 8 else 90)
    # lot ids go below the wafer labels: rotated ids take ~0.7 em per character
    size = FontProperties(size="small").get_size_in_points()
    depth = size if by_slot else 0.7 * size * max(len(label) for label in labels)
    lot_axis.tick_params(length=0, pad=depth + 8)
    lot_axis.set_xlabel(("slot" if by_slot else "wafer") + ", lot, in processing order"
                        + ("" if step == 1 else f" (one wafer in {step} labelled)"))
    lot_axis.spines["bottom"].set_visible(False)
