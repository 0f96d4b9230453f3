"""Hand the top suspects to a split-lot confirmation experiment (:mod:`fabnb.doe`).

Observational data can only point; a split-lot experiment, in which the experimenter
rather than the dispatcher chooses the tool, confirms.  The most harmful identifiable
candidates (one per step: a wafer passes one tool per step) become the factors of
:func:`fabnb.doe.split_lot_design`; each is compared against the least harmful
identifiable tool of its step, the effect to detect is the smallest adjusted effect
among them and the wafer-to-wafer SD is the ranking's within-lot response SD.

Example
-------
>>> import fabnb
>>> r = fabnb.causal.killer_tools(fabnb.synth.fab("small"), n_bootstrap=20,
...                               progress=False, identify="graph")
>>> d = to_split_lot(r, top=2, lots=2, wafers_per_lot=8)
>>> len(d), d.attrs["doe"]["kind"]
(16, 'split_lot')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._params import Integral, Interval, check_params
from ..errors import FabFitError


def to_split_lot(ranking: pd.DataFrame, top: int = 3, **design_kwargs) -> pd.DataFrame:
    """Split-lot design confirming the ``top`` suspects of a :func:`killer_tools` ranking.

    ``design_kwargs`` go to :func:`fabnb.doe.split_lot_design` (``lots``,
    ``wafers_per_lot``, ``alpha``, ``target_power``, ``seed``, and ``effect``,
    ``wafer_sd``, ``reference`` to override the defaults taken from the ranking).
    ``attrs["causal"]`` lists the confirmed candidates with their adjusted effects.
    """
    from ..doe import split_lot_design

    check_params("to_split_lot", {"top": [Interval(Integral, 1, None, closed="left")]}, {"top": top})
    needed = {"step", "tool", "effect", "identifiable", "degenerate"}
    if not needed <= set(ranking.columns):
        raise FabFitError(f"ranking lacks column(s) {sorted(needed - set(ranking.columns))}; "
                          "pass the output of fabnb.causal.killer_tools")
    # a degenerate candidate's effect is rounding noise: nothing to confirm
    usable = ranking[ranking["identifiable"].astype(bool) & ~ranking["degenerate"].astype(bool)
                     & ranking["effect"].notna()]
    suspects = usable.drop_duplicates("step").head(top)
    if suspects.empty:
        raise FabFitError("no identifiable, testable candidate in the ranking to confirm "
                          "(see the columns 'identifiable' and 'degenerate')")
    worse = ranking.attrs.get("causal", {}).get("worse", "lower")
    reference = {}
    for step in suspects["step"]:
        others = usable[(usable["step"] == step) & ~usable["tool"].isin(suspects["tool"])]
        if len(others):
            best = others["effect"].idxmax() if worse == "lower" else others["effect"].idxmin()
            reference[step] = str(others.at[best, "tool"])
    kwargs = {"reference": reference or None,
              "effect": float(np.abs(suspects["effect"]).min()),
              "wafer_sd": float(ranking.attrs.get("causal", {}).get("wafer_sd", 0.03))}
    kwargs.update(design_kwargs)
    design = split_lot_design(suspects[["step", "tool"]], **kwargs)
    design.attrs["causal"] = suspects[["step", "tool", "effect", "ci_low", "ci_high"]].to_dict("records")
    return design
