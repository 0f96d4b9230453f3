"""Pictures of an outlier screen (:func:`fabnb.screen.screen`): the wafer map with the
screened dies marked by the rule that took them out, a test's distribution against its
spec and PAT limits, and the Pareto of yield loss by rule.

Example
-------
>>> import matplotlib; matplotlib.use("Agg")
>>> import fabnb
>>> ds = fabnb.synth.fab("small", seed=0)
>>> res = fabnb.screen.screen(ds)
>>> ax = screen_map(ds, res)
>>> ax = screen_pareto(res)
>>> ax = pat_histogram(ds, res, "T01")
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Patch

from .. import summary
from ..errors import FabDataError
from . import _draw
from .maps import _map_frame

#: one colour per screening rule, the same in every picture
RULE_COLORS = {"static_pat": "#d62728", "dynamic_pat": "#ff7f0e", "nnr": "#9467bd", "gdbn": "#1f77b4",
               "gdbn_cluster": "#17becf", "zpat": "#8c564b"}
RULE_LABELS = {"static_pat": "static PAT", "dynamic_pat": "dynamic PAT", "nnr": "NNR", "gdbn": "GDBN",
               "gdbn_cluster": "GDBN cluster", "zpat": "Z-PAT"}
_GOOD = "#cfe8cf"  # passing dies kept: pale, so the screened ones stand out
_FAILED = "#bdbdbd"


def _check_result(result):
    if "pat_bin" not in result or "first_rule" not in result:
        raise FabDataError("expected the Dataset fabnb.screen.screen() returns (with pat_bin and first_rule)")


def screen_map(ds, result, wafer=None, ax=None, title=None, legend=True):
    """One wafer: kept passing dies pale green, tester fails grey, screened dies in the
    colour of the rule that set their PAT bin; the legend counts each."""
    _check_result(result)
    wafer = summary.resolve_wafer(ds, wafer)
    first = result["first_rule"].sel(wafer=wafer).values
    tester = summary.bin_codes(ds, result.attrs.get("tester_bin", "hbin")).sel(wafer=wafer).values
    colours = np.where(tester == 1, _GOOD, np.where(tester == -1, _draw.UNTESTED_COLOR, _FAILED)).astype(object)
    handles = [Patch(color=_GOOD, label=f"kept ({int(((tester == 1) & (first == '')).sum())})"),
               Patch(color=_FAILED, label=f"tester fail ({int(((tester != 1) & (tester != -1)).sum())})")]
    for rule in result.attrs["rules"]:
        hit = first == rule
        colours[hit] = RULE_COLORS[rule]
        handles.append(Patch(color=RULE_COLORS[rule], label=f"{RULE_LABELS[rule]} ({int(hit.sum())})"))
    ax = _draw.new_axes(ax)
    _draw.die_collection(ax, ds, facecolors=list(colours))
    if legend:
        # beside the map, not on it: the legend would hide the dies in the corner
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", framealpha=0.85)
    _map_frame(ax, ds, f"{wafer} · screen" if title is None else title)
    return ax


def pat_histogram(ds, result, test, wafer=None, ax=None, bins=60, title=None):
    """Histogram of ``test`` (all wafers, or ``wafer``) with the spec limits (solid) and
    the static PAT limits (dashed) of the screen."""
    _check_result(result)
    test = summary.resolve_test(ds, test)
    if "pat_lsl" not in result or test not in set(map(str, result["test"].values)):
        raise FabDataError(f"the screen has no PAT limits for test {test!r}; run it with a PAT rule")
    v = ds["value"].sel(test=test)
    if wafer is not None:
        v = v.sel(wafer=summary.resolve_wafer(ds, wafer))
    v = np.asarray(v.values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    ax = _draw.new_axes(ax, figsize=(6.0, 3.6))
    ax.hist(v, bins=bins, color="#7f7f7f", alpha=0.8)
    lines = [("LSL", ds["lsl"].sel(test=test), "black", "-"), ("USL", ds["usl"].sel(test=test), "black", "-"),
             ("PAT L", result["pat_lsl"].sel(test=test), RULE_COLORS["static_pat"], "--"),
             ("PAT U", result["pat_usl"].sel(test=test), RULE_COLORS["static_pat"], "--")]
    for label, value, colour, style in lines:
        value = float(value)
        if np.isfinite(value):
            ax.axvline(value, color=colour, ls=style, lw=1.2, label=f"{label} {value:.4g}")
    unit = str(ds["unit"].sel(test=test).values) if "unit" in ds.coords else ""
    ax.set_xlabel(f"{test} [{unit}]" if unit else test)
    ax.set_ylabel("dies")
    ax.legend(fontsize="small", loc="upper right")
    ax.set_title(f"{test}: spec and PAT limits" if title is None else title)
    return ax


def screen_pareto(result, ax=None, title=None):
    """Dies taken out by each rule, largest first, with the share of passing dies; the
    title gives the total once (a die two rules flag counts once there)."""
    from ..screen import yield_loss

    _check_result(result)
    loss = yield_loss(result)
    total = loss.loc["any"]
    rules = loss.drop(index="any").sort_values("dies", ascending=False)
    ax = _draw.new_axes(ax, figsize=(6.0, 3.6))
    ax.bar([RULE_LABELS[r] for r in rules.index], rules["dies"], color=[RULE_COLORS[r] for r in rules.index])
    for i, (n, share) in enumerate(zip(rules["dies"], rules["yield_loss"])):
        ax.annotate(f"{100 * share:.2f} %", (i, n), ha="center", va="bottom", fontsize="small")
    ax.set_ylabel("passing dies screened out")
    ax.set_title(title or f"yield loss by rule: {int(total['dies'])} dies, {100 * total['yield_loss']:.2f} % in all")
    return ax
