"""``FleetCalibration``: metrology fleet matching, offsets per tool and the labels before
and after correction.

Every change of the reference tool, the model (offset only, or offset and slope) or the
interval level runs :func:`fabnb.metrology.fleet_match` and
:func:`fabnb.metrology.apply_fleet_correction` on the labels, and draws the offsets with
their intervals beside the per-tool label histograms
(:func:`fabnb.plot.metrology.fleet_histogram`).  The readout tabulates the fit.

Example
-------
>>> import numpy as np, pandas as pd
>>> from fabnb.widgets import FleetCalibration
>>> rng = np.random.default_rng(0)
>>> true = rng.normal(100, 5, 20)
>>> df = pd.DataFrame({"wafer": np.tile(np.arange(20), 2), "tool": np.repeat(["A", "B"], 20),
...                    "value": np.r_[true, true + 2.0] + rng.normal(0, 0.1, 40)})
>>> panel = FleetCalibration(df, reference_tool="A")
>>> round(float(panel.offsets.loc["B", "offset"]))
2
"""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np
import pandas as pd

from fabnb import metrology
from fabnb._params import check_params
from fabnb.errors import FabDataError

from .calibration import CalibrationPanel, within

MODELS = ("offset", "linear")
ALPHA_RANGE = (0.01, 0.5)  # the α slider's range


class FleetCalibration(CalibrationPanel):
    """Fleet matching of metrology tools on long labels (one row per wafer × tool).

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``wafer``, ``tool`` and ``value`` (names configurable).
    tool, wafer, value : str
        Column names.
    reference_tool : optional
        Initial reference (default: the tool that measured the most wafers, as
        :func:`fabnb.metrology.fleet_match` chooses).
    slope : bool
        Start with the linear (offset + slope) model.
    alpha : float
        ``1 − alpha`` confidence intervals.

    ``result`` is ``(match, corrected)``: the ``fleet_match`` table and the corrected
    labels; ``offsets`` is ``match``.
    """

    figsize = (12.0, 3.6)
    _parameter_constraints = {"slope": ["boolean"], "alpha": within(*ALPHA_RANGE)}

    def __init__(self, df, tool="tool", reference_tool=None, *, wafer="wafer", value="value",
                 slope=False, alpha=0.05):
        check_params("FleetCalibration", self._parameter_constraints, {"slope": slope, "alpha": alpha})
        self.df, self.columns = df, {"tool": tool, "wafer": wafer, "value": value}
        tools = self._tools()
        self.reference_pick = W.Dropdown(options=["(most wafers)", *tools], description="reference")
        if reference_tool is not None and str(reference_tool) in tools:
            self.reference_pick.value = str(reference_tool)
        self.model_pick = W.ToggleButtons(options=MODELS, value=MODELS[int(slope)],
                                          description="model")
        self.alpha_slider = W.FloatSlider(value=alpha, min=ALPHA_RANGE[0], max=ALPHA_RANGE[1],
                                          step=0.01, description="α (CI)", continuous_update=False)
        self._layout([W.HBox([self.reference_pick, self.model_pick, self.alpha_slider])])
        self._watch(self.reference_pick, self.model_pick, self.alpha_slider)
        if reference_tool is not None and str(reference_tool) not in tools:
            self._fail(f"reference tool {reference_tool!r} is not in column {tool!r} "
                       f"(has {tools})")
        else:
            self._start()

    def _tools(self) -> list[str]:
        col = self.columns["tool"]
        if not isinstance(self.df, pd.DataFrame) or col not in self.df.columns:
            return []
        return sorted(map(str, self.df[col].dropna().unique()))

    @property
    def reference_tool(self):
        """The reference tool of the current fit (None: fleet_match's default)."""
        pick = self.reference_pick.value
        if pick == "(most wafers)":
            return None
        # the labels' own tool id (the picker holds strings)
        col = self.df[self.columns["tool"]]
        return col[col.astype(str) == pick].iloc[0]

    @property
    def offsets(self) -> pd.DataFrame | None:
        """The :func:`fabnb.metrology.fleet_match` table of the current settings."""
        return None if self.result is None else self.result[0]

    def _compute(self):
        if not isinstance(self.df, pd.DataFrame):
            raise FabDataError(f"FleetCalibration needs a pandas DataFrame of labels, got "
                               f"{type(self.df).__name__}")
        c = self.columns
        match = metrology.fleet_match(self.df, c["tool"], self.reference_tool, wafer=c["wafer"],
                                      value=c["value"], slope=self.model_pick.value == "linear",
                                      alpha=self.alpha_slider.value)
        corrected = metrology.apply_fleet_correction(self.df, match, tool=c["tool"],
                                                     value=c["value"])
        return match, corrected

    def _draw(self, fig):
        from fabnb.plot.metrology import fleet_histogram

        match, corrected = self.result
        ax_off, ax_raw, ax_fixed = fig.subplots(1, 3, width_ratios=[1, 1.3, 1.3])
        x = np.arange(len(match))
        err = np.vstack([match["offset"] - match["offset_lo"], match["offset_hi"] - match["offset"]])
        ax_off.bar(x, match["offset"], yerr=err, capsize=4, color="C0")
        ax_off.axhline(0, color="k", lw=0.6)
        ax_off.set_xticks(x, [str(t) for t in match.index], rotation=90 if len(x) > 6 else 0)
        level = 100 * (1 - self.alpha_slider.value)
        ax_off.set_title(f"offset vs {match.attrs['reference_tool']} ({level:.0f} % CI)", fontsize=10)
        ax_off.set_ylabel(self.columns["value"])
        ax_fixed.sharey(ax_raw)
        fleet_histogram(self.df, corrected, tool=self.columns["tool"], value=self.columns["value"],
                        ax=(ax_raw, ax_fixed))

    def _readout(self):
        match, corrected = self.result
        c = self.columns
        spread = [float(d.groupby(c["tool"])[c["value"]].mean().std()) for d in (self.df, corrected)]
        cols = [k for k in ("offset", "offset_lo", "offset_hi", "slope", "slope_lo", "slope_hi",
                            "n_shared", "resid_sd") if k in match.columns]
        table = match[cols].to_html(float_format=lambda v: f"{v:.4g}", classes="fabnb-fleet-table")
        return (f"reference <b>{html.escape(str(match.attrs['reference_tool']))}</b> · "
                f"{match.attrs['model']} model · spread of tool means "
                f"{spread[0]:.4g} → <b>{spread[1]:.4g}</b>{table}")
