"""``SamplingExplorer``: step through progressive sampling (the virtual probe) on one wafer.

An ipywidgets composite around four :class:`~fabnb.widgets.WaferMap` views of the chosen
wafer: the measurement with the sampled dies highlighted, the GP prediction, the
predictive standard deviation and the absolute error ``|t' − t|`` on unsampled dies,
with the running spec-range error ε (``fabnb.spatial.spec_range_error``).

The numerics are the public ``fabnb.spatial`` functions a user would call:

- ``"gp-ps"``: :func:`fabnb.spatial.progressive_states` on the wafer;
- ``"gp-st-ps"``: :func:`fabnb.spatial.progressive_lot_states` on the wafer's lot (the
  wafer's row of the lot state is shown);
- ``"gp"`` / ``"gp-st"``: the same iterators with the whole budget drawn at random in
  the first state (``n_init`` = budget), i.e. one random sample and one fit.

Dies clicked on a map are added to the sample by hand and the wafer GP
(:class:`fabnb.spatial.GaussianProcess`) is refitted on the enlarged sample.

Example
-------
>>> import fabnb
>>> from fabnb.widgets import SamplingExplorer
>>> ex = SamplingExplorer(fabnb.synth.fab("small", seed=0), test="T01")
>>> first = ex.step().n_sampled
>>> ex.step().n_sampled > first
True
"""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np
import traitlets
import xarray as xr

from fabnb import spatial, summary
from fabnb._params import Integral, Interval, StrOptions, check_params
from fabnb.errors import FabDataError, FabFitError

from ._image import static_png
from .calibration import within
from .wafermap import WaferMap, color_limits

METHODS = ("gp", "gp-ps", "gp-st", "gp-st-ps")
#: the budget and step sliders' ranges (fractions of the wafer's measurable dies)
BUDGET_RANGE, STEP_RANGE = (0.025, 0.5), (0.005, 0.25)
PANELS = ("measured", "predicted", "std", "error")
SHARED_SCALE = ("measured", "predicted")


def _states(method, xy, Y, t, row, budget, step, seed):
    """The iterator of ProgressiveStates of ``method`` (wafer-level ones get Y[row])."""
    n_measurable = int(np.isfinite(Y[row]).sum())
    one_shot = {"n_init": max(1, round(budget * n_measurable))} if method in ("gp", "gp-st") else {}
    if method in ("gp", "gp-ps"):
        return spatial.progressive_states(xy, Y[row], budget=budget, step=step, seed=seed, **one_shot)
    return spatial.progressive_lot_states(xy, t, Y, budget=budget, step=step, seed=seed, **one_shot)


class SamplingExplorer(W.VBox):
    """Progressive sampling explorer for one wafer of a contract Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Contract Dataset with ``value``; the measurements play the oracle.
    test, wafer : str, optional
        Test (name, number, clean name or a unique part, see
        :func:`fabnb.summary.resolve_test`) and wafer (default the first of each).
    method : {"gp", "gp-ps", "gp-st", "gp-st-ps"}
    budget, step : float
        Final sample fraction and increment (the paper: 10 % in 2.5 % steps), in the
        sliders' ranges ``BUDGET_RANGE`` and ``STEP_RANGE``.
    seed : int
        Seed of the random initial dies.
    size : int
        Size of each map in CSS pixels.

    Traits ``n_sampled`` and ``epsilon`` follow the current state.
    """

    n_sampled = traitlets.Int(0)
    epsilon = traitlets.Float(None, allow_none=True)
    _parameter_constraints = {
        "method": [StrOptions(set(METHODS))],
        "budget": within(*BUDGET_RANGE),
        "step": within(*STEP_RANGE),
        "size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, ds, test=None, wafer=None, method="gp-ps", budget=0.10, step=0.025,
                 seed=0, size=260):
        check_params("SamplingExplorer", self._parameter_constraints,
                     {"method": method, "budget": budget, "step": step, "size": size})
        if not isinstance(ds, xr.Dataset) or "value" not in ds:
            raise FabDataError("SamplingExplorer needs a contract Dataset with 'value'")
        self._ds, self._seed = ds, seed
        wafers = [str(w) for w in ds["wafer"].values]
        # the picker shows number and clean name; its value is the dataset's test name
        tests = list(zip(summary.test_labels(ds), (str(t) for t in ds["test"].values)))
        # unknown ids: a FabDataError naming them, not the Dropdown's TraitError
        self.wafer_pick = W.Dropdown(options=wafers, value=summary.resolve_wafer(ds, wafer),
                                     description="wafer")
        self.test_pick = W.Dropdown(options=tests, value=summary.resolve_test(ds, test),
                                    description="test")
        self.method_pick = W.Dropdown(options=METHODS, value=method, description="method")
        self.budget_pick = W.FloatSlider(value=budget, min=BUDGET_RANGE[0], max=BUDGET_RANGE[1],
                                         step=0.025, description="budget", readout_format=".1%")
        self.step_pick = W.FloatSlider(value=step, min=STEP_RANGE[0], max=STEP_RANGE[1], step=0.005,
                                       description="step", readout_format=".1%")
        self.step_button = W.Button(description="Step", icon="step-forward")
        self.run_button = W.Button(description="Run to budget", icon="forward")
        self.reset_button = W.Button(description="Reset", icon="undo")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="sampled")
        self.status = W.HTML()
        self._restart()
        first = next(self._iter)
        view = self._view(*self._arrays(first))
        self.maps = {name: WaferMap(view, test=name, size=size, controls=False)
                     for name in PANELS}
        for m in self.maps.values():
            m.observe(self._on_click, "selected")
        self.step_button.on_click(lambda _: self._guarded(self.step))
        self.run_button.on_click(lambda _: self._guarded(self.run))
        self.reset_button.on_click(lambda _: self._guarded(self.reset))
        for pick in (self.wafer_pick, self.test_pick, self.method_pick, self.budget_pick,
                     self.step_pick):
            pick.observe(self._on_settings, "value")
        controls = [W.HBox([self.wafer_pick, self.test_pick, self.method_pick]),
                    W.HBox([self.budget_pick, self.step_pick]),
                    W.HBox([self.step_button, self.run_button, self.reset_button,
                            self.progress]),
                    self.status]
        m = self.maps
        grid = [W.HBox([m["measured"], m["predicted"]]), W.HBox([m["std"], m["error"]])]
        super().__init__(children=[*controls, *grid])
        self.add_class("fabnb-sampling-explorer")
        self._apply(first)

    # ---------------------------------------------------------------- state
    def _oracle(self):
        """(xy, Y, t, row): die coordinates, the lot's values, wafer order, wafer's row."""
        ds, wafer = self._ds, self.wafer_pick.value
        lot = ds["lot"].sel(wafer=wafer).item() if "lot" in ds.coords else None
        in_lot = ds["lot"].values == lot if lot is not None else ds["wafer"].values == wafer
        sub = ds.isel(wafer=np.flatnonzero(in_lot))
        Y = sub["value"].sel(test=self.test_pick.value).transpose("wafer", "die").values.astype(float)
        order = sub["slot"].values if "slot" in sub.coords else np.arange(sub.sizes["wafer"])
        xy = np.c_[ds["x"].values, ds["y"].values]
        row = int(np.flatnonzero(sub["wafer"].values == wafer)[0])
        return xy, Y, np.asarray(order, dtype=float), row

    def reset(self):
        """Start again from the random initial sample with the current settings."""
        self._restart()
        return self.step()

    def _restart(self):
        xy, Y, t, row = self._oracle()
        self._row, self._truth, self._xy = row, Y[row], xy
        self._clim = color_limits(self._truth)  # measured and predicted on one scale
        self._iter = _states(self.method_pick.value, xy, Y, t, row, self.budget_pick.value,
                             self.step_pick.value, self._seed)
        self.state = None
        n_measurable = int(np.isfinite(self._truth).sum())
        self.progress.max = max(1, round(self.budget_pick.value * n_measurable))

    def step(self):
        """Advance one progressive-sampling state (no-op at the budget); returns it."""
        state = next(self._iter, None)
        if state is not None:
            self._apply(state)
        return self.state

    def _apply(self, state):
        self.state = state
        self._show(*self._arrays(state))
        self.step_button.disabled = self.run_button.disabled = self._at_budget()

    def _arrays(self, state):
        """(sampled, mean, std) of the shown wafer (lot states hold one row per wafer)."""
        pick = (lambda a: a[self._row]) if state.sampled.ndim == 2 else (lambda a: a)
        return pick(state.sampled), pick(state.mean), pick(state.std)

    def run(self):
        """Step until the budget is spent (or the iterator stops early); returns the last state."""
        while not self._at_budget():
            before = self.n_sampled
            self.step()
            if self.n_sampled == before:
                break
        return self.state

    def add_dies(self, dies):
        """Add dies to the sample by hand and refit the wafer GP on the enlarged sample.

        A what-if on top of the current state: Step/Run continue the algorithm's own
        sequence (without these dies); Reset starts over.
        """
        sampled = self._sampled.copy()
        dies = [int(d) for d in dies if np.isfinite(self._truth[int(d)])]
        if not dies:
            return
        sampled[dies] = True
        gp = spatial.GaussianProcess(ard=False).fit(self._xy[sampled], self._truth[sampled])
        mean, std = gp.predict(self._xy, return_std=True)
        self._show(sampled, mean, std)

    # ---------------------------------------------------------------- views
    def to_image(self, fig=None):
        """The four panels with matplotlib (``fabnb.plot.wafer_map``, the same colour scale
        as the live maps); returns the Figure.  The static fallback shows it."""
        from matplotlib.figure import Figure

        from fabnb import plot

        fig = Figure(figsize=(16, 3.8), dpi=80, layout="constrained") if fig is None else fig
        for ax, name in zip(fig.subplots(1, len(PANELS)), PANELS):
            m = self.maps[name]
            plot.wafer_map(m.dataset, name, m.wafer, ax=ax, scale=m.color_scale)
        return fig

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        png = static_png(lambda fig: self.to_image(fig), (16, 3.8), "SamplingExplorer")
        if data is not None and png is not None:
            data["image/png"] = png
        return data

    def _at_budget(self):
        return self.n_sampled >= self.progress.max

    def _view(self, sampled, mean, std):
        """One-wafer Dataset whose 'tests' are the four panels, for the WaferMaps."""
        ds, wafer = self._ds, self.wafer_pick.value
        truth = self._truth
        error = np.where(sampled, np.nan, np.abs(mean - truth))
        panels = np.stack([truth, mean, std, error], axis=-1)[None]
        keep = [c for c in ("x", "y", "col", "row", "r", "theta", "zone") if c in ds.coords]
        view = xr.Dataset(
            {"value": (("wafer", "die", "test"), panels)},
            coords={**{c: ds[c] for c in keep}, "wafer": [wafer], "test": list(PANELS)},
            attrs=dict(ds.attrs),
        )
        unit = str(ds["unit"].sel(test=self.test_pick.value).values) if "unit" in ds.coords else ""
        return view.assign_coords(unit=("test", [unit] * 4), lsl=("test", [np.nan] * 4),
                                  usl=("test", [np.nan] * 4))

    def _show(self, sampled, mean, std):
        self._sampled = np.asarray(sampled, dtype=bool)
        view = self._view(self._sampled, mean, std)
        for name, m in self.maps.items():
            m.clim = self._clim if name in SHARED_SCALE else None
            m.update_dataset(view)
        self._select_sample()
        self.n_sampled = int(self._sampled.sum())
        self.epsilon = float(spatial.spec_range_error(self._truth, mean, self._sampled))
        self.progress.value = min(self.n_sampled, self.progress.max)
        eps = "n/a" if not np.isfinite(self.epsilon) else f"{100 * self.epsilon:.2f} %"
        share = 100 * self.n_sampled / max(1, np.isfinite(self._truth).sum())
        self.status.value = (
            f"<b>{self.method_pick.value}</b> · wafer {html.escape(self.wafer_pick.value)} · "
            f"{html.escape(summary.clean_test_name(self.test_pick.value))}: <b class='fabnb-n-sampled'>{self.n_sampled}</b> dies "
            f"sampled ({share:.1f} %) · ε = <b>{eps}</b> · click dies to add samples by hand"
        )

    def _select_sample(self):
        """Highlight the sampled dies on every map (the maps' selection is the sample)."""
        self._updating = True
        try:
            for m in self.maps.values():
                m.selected = np.flatnonzero(self._sampled).tolist()
        finally:
            self._updating = False

    def _on_settings(self, change):
        self._guarded(self.reset)

    def _guarded(self, action):
        """Run a button/picker action; a model that cannot be fitted is explained in
        place (the status line) instead of a traceback in the kernel log."""
        try:
            action()
        except (FabDataError, FabFitError) as err:
            self.step_button.disabled = self.run_button.disabled = True
            self.status.value = f"<span class='fabnb-error'>Cannot sample: {html.escape(str(err))}</span>"

    def _on_click(self, change):
        if getattr(self, "_updating", False):
            return
        new = sorted(set(change["new"]) - set(np.flatnonzero(self._sampled).tolist()))
        if new:
            self.add_dies(new)
        else:  # a click on an already sampled die changes nothing
            self._select_sample()
