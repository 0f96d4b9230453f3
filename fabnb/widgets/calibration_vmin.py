"""``VminCalibration``: restricted bias alignment (RBA) of one Vmin test, shift by shift.

Every change of the Vmin test, features, class-probe parameters, solver or step η fits
:class:`fabnb.vmin.RestrictedBiasAlignment` (and the :class:`fabnb.vmin.LinearVmin`
baseline) on :func:`fabnb.vmin.vmin_frame` of the Dataset, exactly as a user would, and
draws four panels:

1. the inter-wafer shifts (``model.inter_shift(base_wafer)``);
2. the intra-wafer zone shifts (``model.intra_shift()``, relative to the centre);
3. the class-probe regression of the inter-wafer bias: ``b_inter`` against its
   prediction from the wafer's class probe, ``model.predict_inter_bias(z)``, with R²;
4. the residuals per zone before (LR) and after (RBA) alignment, ``y − predict``.

``features=None`` picks the features with :func:`fabnb.vmin.cfs_select` (the paper's
procedure); the "CFS" button re-runs it for the current Vmin test.

Example
-------
>>> import fabnb
>>> from fabnb.widgets import VminCalibration
>>> panel = VminCalibration(fabnb.synth.fab("small"), vmin_test="dc_25",
...                         features=["T03", "T05", "T14", "T11"], etests=["E05", "E06"])
>>> list(panel.intra_shift["zone"])
['center', 'inner', 'outer', 'edge']
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as W
import numpy as np
import pandas as pd
import xarray as xr

from fabnb import vmin
from fabnb._params import StrOptions, check_params
from fabnb.errors import FabDataError

from .calibration import CalibrationPanel, within

SOLVERS = ("exact", "paper")
ETA_RANGE = (0.01, 1.0)  # the η slider's range
MV = 1e3  # shifts are shown in mV (Vmin in V)


@dataclass(frozen=True)
class VminFit:
    """What one refresh of :class:`VminCalibration` computed (all from fabnb.vmin)."""

    frame: vmin.VminFrame
    model: vmin.RestrictedBiasAlignment
    baseline: vmin.LinearVmin
    base_wafer: str
    inter_shift: pd.DataFrame
    intra_shift: pd.DataFrame
    residual_before: np.ndarray
    residual_after: np.ndarray
    predicted_inter_bias: pd.Series | None


def _names(ds, dim):
    return [str(v) for v in ds[dim].values] if isinstance(ds, xr.Dataset) and dim in ds.coords else []


class VminCalibration(CalibrationPanel):
    """RBA calibration panel over a contract Dataset with ``vmin`` and ``value``.

    Parameters
    ----------
    ds : xarray.Dataset
    vmin_test : str, optional
        Default: the first Vmin test.
    features : list of str, optional
        Feature tests (default: :func:`fabnb.vmin.cfs_select` on the Vmin test).
    etests : list of str, optional
        Class-probe parameters of the new-wafer model (default: all; none selected = no
        class-probe model).
    solver : {"exact", "paper"};  eta : float (paper solver's step)
    base_wafer : str, optional
        Wafer the inter-wafer shifts are relative to (default: the first).

    ``result`` is a :class:`VminFit`; ``model``, ``inter_shift`` and ``intra_shift`` are
    shortcuts to its fields.
    """

    figsize = (13.0, 3.6)
    _parameter_constraints = {"solver": [StrOptions(set(SOLVERS))], "eta": within(*ETA_RANGE)}

    def __init__(self, ds, vmin_test=None, features=None, etests=None, solver="exact", eta=0.1,
                 base_wafer=None):
        check_params("VminCalibration", self._parameter_constraints, {"solver": solver, "eta": eta})
        self.ds = ds
        vmin_tests, tests, all_etests = (_names(ds, d) for d in ("vmin_test", "test", "etest"))
        self.vmin_test_pick = W.Dropdown(options=vmin_tests, description="Vmin test",
                                         value=vmin_test if vmin_test in vmin_tests else
                                         (vmin_tests[0] if vmin_tests and vmin_test is None else None))
        self.feature_pick = W.SelectMultiple(options=tests, description="features", rows=6)
        self.etest_pick = W.SelectMultiple(options=all_etests, description="class probe", rows=6,
                                           value=[e for e in (all_etests if etests is None else etests)
                                                  if e in all_etests])
        self.cfs_button = W.Button(description="CFS", tooltip="select features by CFS (Hall 1999)")
        self.solver_pick = W.ToggleButtons(options=SOLVERS, value=solver, description="solver")
        self.eta_slider = W.FloatSlider(value=eta, min=ETA_RANGE[0], max=ETA_RANGE[1], step=0.01,
                                        description="η", continuous_update=False)
        wafers = _names(ds, "wafer")
        self.base_wafer_pick = W.Dropdown(options=wafers, description="base wafer",
                                          value=base_wafer if base_wafer in wafers else
                                          (wafers[0] if wafers else None))
        self._layout([W.HBox([self.vmin_test_pick, self.solver_pick, self.eta_slider,
                              self.base_wafer_pick]),
                      W.HBox([self.feature_pick, self.cfs_button, self.etest_pick])])
        problem = self._check_arguments(vmin_test, features, etests, base_wafer,
                                        vmin_tests, tests, all_etests, wafers)
        if problem:
            self._fail(problem)
            return
        try:
            if features is None:
                self.select_features()
            else:
                self.feature_pick.value = list(features)
        except ValueError as err:
            self._fail(str(err))
            return
        self._watch(self.vmin_test_pick, self.feature_pick, self.etest_pick, self.solver_pick,
                    self.eta_slider, self.base_wafer_pick)
        self.cfs_button.on_click(lambda _b: self._guarded_cfs())
        self.solver_pick.observe(lambda _c: self._show_eta(), "value")
        self._show_eta()
        self._start()

    def _show_eta(self):
        self.eta_slider.layout.display = None if self.solver_pick.value == "paper" else "none"

    @staticmethod
    def _check_arguments(vmin_test, features, etests, base_wafer, vmin_tests, tests,
                         all_etests, wafers):
        """The first mismatch between the constructor's names and the dataset, as a
        message (or None)."""
        if not vmin_tests:
            return "VminCalibration needs a contract Dataset with a 'vmin' variable and 'vmin_test' coordinate"
        checks = [(vmin_test is None or vmin_test in vmin_tests,
                   f"vmin_test {vmin_test!r} is not in the dataset (has {vmin_tests})"),
                  (base_wafer is None or base_wafer in wafers, f"base wafer {base_wafer!r} is not in the dataset")]
        for name, given, known in (("feature test", features, tests), ("class-probe parameter", etests, all_etests)):
            unknown = [v for v in (given or []) if v not in known]
            checks.append((not unknown, f"{name} {unknown[0]!r} is not in the dataset" if unknown else ""))
        return next((msg for ok, msg in checks if not ok), None)

    # ------------------------------------------------------------------ model
    def select_features(self):
        """Set the feature picker to :func:`fabnb.vmin.cfs_select` of the current Vmin test."""
        frame = vmin.vmin_frame(self.ds, self.vmin_test_pick.value, missing="drop")
        self.feature_pick.value = list(vmin.cfs_select(frame.X, frame.y))

    def _guarded_cfs(self):
        try:
            self.select_features()
        except ValueError as err:
            self._fail(str(err))

    def _compute(self):
        features = list(self.feature_pick.value)
        if not features:
            raise FabDataError("select at least one feature test")
        etests = list(self.etest_pick.value)
        frame = vmin.vmin_frame(self.ds, self.vmin_test_pick.value, features, etests=etests or None)
        z = frame.z if etests else None
        model = vmin.RestrictedBiasAlignment(solver=self.solver_pick.value, eta=self.eta_slider.value)
        model.fit(*frame.fit_args(), z=z)
        baseline = vmin.LinearVmin().fit(*frame.fit_args())
        args = (frame.X, frame.wafer, frame.zone)
        trained = model.inter_bias_.index
        base = self.base_wafer_pick.value if self.base_wafer_pick.value in trained else trained[0]
        return VminFit(frame=frame, model=model, baseline=baseline, base_wafer=base,
                       inter_shift=model.inter_shift(base), intra_shift=model.intra_shift(),
                       residual_before=frame.y - baseline.predict(*args),
                       residual_after=frame.y - model.predict(*args),
                       predicted_inter_bias=(model.predict_inter_bias(z.loc[trained]) if z is not None
                                             else None))

    model = property(lambda self: None if self.result is None else self.result.model,
                     doc="The fitted RestrictedBiasAlignment.")
    inter_shift = property(lambda self: None if self.result is None else self.result.inter_shift,
                           doc="``model.inter_shift(base_wafer)``.")
    intra_shift = property(lambda self: None if self.result is None else self.result.intra_shift,
                           doc="``model.intra_shift()``.")

    # ------------------------------------------------------------------ view
    def _draw(self, fig):
        fit = self.result
        ax_inter, ax_intra, ax_probe, ax_resid = fig.subplots(1, 4, width_ratios=[1.6, 0.8, 1, 1.2])
        inter = fit.inter_shift
        ax_inter.bar(np.arange(len(inter)), inter["shift"] * MV, color="C0")
        ax_inter.set_xticks(np.arange(len(inter)), inter["wafer"], rotation=90, fontsize=6)
        ax_inter.set_title(f"inter-wafer shift vs {fit.base_wafer}", fontsize=9)
        ax_inter.set_ylabel("shift (mV)")
        intra = fit.intra_shift
        ax_intra.bar(intra["zone"].astype(str), intra["shift"] * MV, color="C1")
        ax_intra.set_title("intra-wafer zone shift", fontsize=9)
        if fit.predicted_inter_bias is None:
            ax_probe.text(0.5, 0.5, "no class-probe parameters\nselected", ha="center", va="center",
                          transform=ax_probe.transAxes)
            ax_probe.set_axis_off()
        else:
            b = fit.model.inter_bias_ * MV
            pred = fit.predicted_inter_bias.reindex(b.index) * MV
            ax_probe.plot(pred, b, "o", ms=4)
            lo, hi = np.nanmin([pred.min(), b.min()]), np.nanmax([pred.max(), b.max()])
            ax_probe.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            ax_probe.set_xlabel("from class probe (mV)")
            ax_probe.set_ylabel("fitted b_inter (mV)")
            ax_probe.set_title(f"class-probe model, R² {fit.model.class_probe_r2_:.3f}", fontsize=9)
        zones = list(fit.frame.zone.categories)
        zone = np.asarray(fit.frame.zone, dtype=object)
        pos = np.arange(len(zones))
        for shift, resid, label, color in ((-0.2, fit.residual_before, "LR (before)", "C7"),
                                           (0.2, fit.residual_after, "RBA (after)", "C2")):
            parts = ax_resid.boxplot([resid[zone == z] * MV for z in zones], positions=pos + shift,
                                     widths=0.35, patch_artist=True, showfliers=False)
            for box in parts["boxes"]:
                box.set_facecolor(color)
            parts["boxes"][0].set_label(label)
        ax_resid.set_xticks(pos, zones)
        ax_resid.axhline(0, color="k", lw=0.6)
        ax_resid.set_ylabel("residual (mV)")
        ax_resid.set_title("residual per zone", fontsize=9)
        ax_resid.legend(fontsize=7)

    def _readout(self):
        fit = self.result
        rmse = [np.sqrt(np.mean(r**2)) * MV for r in (fit.residual_before, fit.residual_after)]
        parts = [(f"{len(fit.frame)} dies, {fit.model.inter_bias_.size} wafers, "
                  f"{len(fit.frame.X.columns)} features"),
                 f"RMSE LR {rmse[0]:.3g} mV → RBA <b>{rmse[1]:.3g} mV</b>"]
        if fit.model.solver == "paper":
            parts.append(f"{fit.model.n_iter_} iterations from {fit.model.init_}")
        if fit.predicted_inter_bias is not None:
            parts.append(f"class-probe R² {fit.model.class_probe_r2_:.3f}")
        zone = fit.intra_shift.set_index("zone")["shift"] * MV
        parts.append("zone shifts " + ", ".join(f"{z} {s:+.2f}" for z, s in zone.items()) + " mV")
        return " · ".join(parts)
