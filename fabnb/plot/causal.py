"""Killer-tool figures: the forest plot of adjusted effects and per-tool response by
routing stratum.  Numbers come from :mod:`fabnb.causal`; this module only draws.

Example
-------
>>> import matplotlib; matplotlib.use("Agg")
>>> import fabnb
>>> from fabnb.plot.causal import forest
>>> ds = fabnb.synth.fab("small", seed=0)
>>> r = fabnb.causal.killer_tools(ds, n_bootstrap=20, progress=False, identify="graph")
>>> ax = forest(r, top=5)
>>> len(ax.get_yticklabels())
5
"""

from __future__ import annotations

import numpy as np

from .._params import Integral, Interval, check_params
from ..errors import FabDataError
from . import _draw


def forest(ranking, top=15, ax=None, show_naive=True, title=None):
    """Adjusted effects with their confidence intervals for the ``top`` rows of a
    :func:`fabnb.causal.killer_tools` ranking (first row at the top); hollow markers
    show the naive difference, filled ones the adjusted effect (red when q < alpha).

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> r = pd.DataFrame({"step": ["S1"], "tool": ["S1-C1"], "effect": [-0.05],
    ...                   "ci_low": [-0.07], "ci_high": [-0.03], "naive": [-0.06],
    ...                   "q_value": [0.01]})
    >>> forest(r).get_xlabel()
    'effect on response (tool vs the other tools of its step)'
    """
    check_params("forest", {"top": [Interval(Integral, 1, None, closed="left")]}, {"top": top})
    rows = ranking[ranking["effect"].notna()].head(top)
    alpha = ranking.attrs.get("causal", {}).get("alpha", 0.05)
    ax = _draw.new_axes(ax, figsize=(6.4, 0.32 * len(rows) + 1.4))
    pos = np.arange(len(rows))[::-1]
    significant = rows["q_value"].to_numpy() < alpha
    effect = rows["effect"].to_numpy()
    err = np.vstack([effect - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - effect])
    for mask, color, label in ((significant, "tab:red", f"adjusted, q < {alpha:g}"),
                               (~significant, "tab:gray", "adjusted")):
        if mask.any():
            ax.errorbar(effect[mask], pos[mask], xerr=err[:, mask], fmt="o", color=color,
                        capsize=3, label=label)
    if show_naive and "naive" in rows:
        ax.plot(rows["naive"], pos, "o", mfc="none", color="tab:blue", label="naive")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(pos)
    ax.set_yticklabels(rows["tool"].astype(str))
    ax.set_xlabel("effect on response (tool vs the other tools of its step)")
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def yield_by_stratum(ds, step, tool, response="yield", confounders="auto", stratum=None,
                     ax=None, title=None):
    """Mean response of wafers on ``tool`` vs the other tools of ``step`` in each level
    of a routing context column (``stratum``, default the first confounder, e.g. route);
    marker labels give the wafer counts.  Shows whether a tool's gap survives within
    strata or is made by routing.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import fabnb
    >>> ax = yield_by_stratum(fabnb.synth.fab("small"), "S22", "S22-C3", confounders=["route"])
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['R1', 'R2']
    """
    from ..causal import wafer_table

    table = wafer_table(ds, response, [step], confounders)
    if stratum is None and table.context.shape[1] == 0:
        raise FabDataError("yield_by_stratum needs a categorical confounder (route, lot, ...) to group "
                           f"by; confounders={confounders!r} gives none")
    stratum = stratum or table.context.columns[0]
    if stratum not in table.context.columns:
        raise FabDataError(f"yield_by_stratum: stratum {stratum!r} is not one of the categorical "
                           f"confounders {list(table.context.columns)}")
    levels = np.unique(table.context[stratum].to_numpy())
    k = int(np.flatnonzero(table.candidates["tool"].to_numpy() == tool)[0])
    used = table.indicators[:, k].astype(bool)
    ax = _draw.new_axes(ax, figsize=(6.0, 3.8))
    x = np.arange(len(levels))
    for offset, arm, color, label in ((-0.12, used, "tab:red", tool),
                                      (0.12, ~used, "tab:gray", f"other {step} tools")):
        for i, level in enumerate(levels):
            values = table.y[arm & (table.context[stratum].to_numpy() == level)]
            if values.size:
                ax.errorbar(x[i] + offset, values.mean(),
                            yerr=values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else 0,
                            fmt="o", color=color, capsize=3, label=label if i == 0 else None)
                ax.annotate(str(values.size), (x[i] + offset, values.mean()), fontsize=7,
                            xytext=(4, 4), textcoords="offset points")
    ax.set_xticks(x)
    ax.set_xticklabels(levels)
    ax.set_xlabel(stratum)
    ax.set_ylabel(response if isinstance(response, str) else "response")
    handles, _labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="best", fontsize="small")
    ax.set_title(title or f"{tool}: {response if isinstance(response, str) else 'response'} by {stratum}")
    return ax
