"""Calibration panels, kernel side: moving a control recomputes through the public API
(the readouts equal a direct call with the same parameters), the fits recover what the
simulator planted, the static fallback is a valid PNG and bad input gives a message in
place instead of an exception."""

from __future__ import annotations

import base64
import io

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import fabnb
from fabnb import control, density, metrology
from fabnb.errors import FabParameterError
from fabnb.vmin import LinearVmin, RestrictedBiasAlignment, vmin_frame
from fabnb.widgets import FleetCalibration, R2RTuning, VminCalibration, YieldCalibration

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(data: bytes, figsize):
    """A decodable PNG of the panel's figure size (80 dpi)."""
    assert data[:8] == PNG_SIGNATURE
    pixels = mpimg.imread(io.BytesIO(data), format="png")
    assert pixels.shape[:2] == (round(figsize[1] * 80), round(figsize[0] * 80))
    assert pixels[..., :3].std() > 0  # something was drawn


def assert_static_fallback(panel):
    assert_png(panel.to_image(), panel.figsize)
    (shown,) = panel.plot.outputs  # the live plot is the same picture
    assert base64.b64decode(shown["data"]["image/png"]) == panel.to_image()
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == panel.to_image()


def assert_message(panel, *words):
    assert panel.result is None and panel.error
    for word in words:
        assert word in panel.error and word in panel.message.value
    assert panel.readout.value == "" and panel.plot.outputs == ()
    assert_png(panel.to_image(), panel.figsize)  # a picture of the message


# ---------------------------------------------------------------------- run-to-run
@pytest.fixture(scope="module")
def r2r():
    return R2RTuning(n_runs=80, seed=3)


def test_r2r_lambda_slider_recomputes_the_public_simulation(r2r):
    r2r.controller_pick.value = "ewma"
    r2r.lam_slider.value = 0.55
    direct = control.simulate(r2r.process, control.EWMAController(r2r.process.gain, 0.0, lam=0.55),
                              80, seed=3)
    assert r2r.result.attrs["mse"] == pytest.approx(direct.attrs["mse"], rel=1e-12)
    np.testing.assert_allclose(r2r.result["output"], direct["output"], rtol=1e-12)
    assert f"{direct.attrs['mse']:.4g}" in r2r.readout.value
    assert r2r.lam2_slider.layout.display == "none"  # the double-EWMA weight is hidden
    assert_static_fallback(r2r)


def test_r2r_double_ewma_and_pid_follow_their_sliders(r2r):
    with r2r.hold():  # one recompute for the three changes
        r2r.controller_pick.value = "double-ewma"
        r2r.lam_slider.value, r2r.lam2_slider.value = 0.4, 0.2
    double = control.DoubleEWMAController(r2r.process.gain, 0.0, lam1=0.4, lam2=0.2)
    assert r2r.result.attrs["mse"] == pytest.approx(
        control.simulate(r2r.process, double, 80, seed=3).attrs["mse"], rel=1e-12)
    with r2r.hold():
        r2r.controller_pick.value = "pid"
        r2r.kp_slider.value, r2r.ki_slider.value = 0.2, 0.5
    pid = control.PIDController(0.2, 0.5, r2r.kd_slider.value, 0.0)
    assert r2r.result.attrs["mse"] == pytest.approx(
        control.simulate(r2r.process, pid, 80, seed=3).attrs["mse"], rel=1e-12)
    assert r2r.kp_slider.layout.display is None and r2r.lam_slider.layout.display == "none"


def test_r2r_flags_an_unstable_lambda_and_the_loop_indeed_diverges():
    # true gain 4 x the model gain: the EWMA loop is stable only for λ < 2 / 4 = 0.5
    panel = R2RTuning(control.LinearProcess(gain=4.0, intercept=1.0, noise_sd=0.01), model_gain=1.0,
                      lam=0.3, n_runs=40)
    assert "UNSTABLE" not in panel.readout.value
    calm = panel.result["error"].values[-10:]
    panel.lam_slider.value = 0.7  # λξ = 2.8
    assert "UNSTABLE" in panel.readout.value
    assert np.abs(panel.result["error"].values[-10:]).max() > 100 * np.abs(calm).max()


def test_r2r_bad_process_is_a_message():
    panel = R2RTuning(process="not a process")
    assert_message(panel, "LinearProcess")


@pytest.mark.parametrize("kwargs, name", [
    (dict(controller="smith"), "controller"),  # was a message in a half-built panel
    (dict(lam=1.5), "lam"),  # was silently clamped to the slider's 1.0
    (dict(lam2=0.0), "lam2"),
    (dict(kp=-0.1), "kp"),
    (dict(model_gain=0.0), "model_gain"),  # ξ = gain / 0
    (dict(n_runs=10.5), "n_runs"),  # was silently truncated to 10
])
def test_r2r_bad_options_raise_the_parameter_error(kwargs, name):
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of R2RTuning"):
        R2RTuning(**kwargs)


# ---------------------------------------------------------------------- Vmin
@pytest.fixture(scope="module")
def vmin_panel(fab_small):
    ds, truth = fab_small
    return VminCalibration(ds, vmin_test="dc_25", features=list(truth["vmin_features"]),
                           etests=list(truth["vmin_etests"]))


def test_vmin_shifts_equal_a_direct_rba_fit_and_recover_the_truth(fab_small, vmin_panel):
    ds, truth = fab_small
    panel = vmin_panel
    with panel.hold():
        panel.solver_pick.value = "paper"
        panel.base_wafer_pick.value = str(ds["wafer"].values[4])
    assert panel.eta_slider.layout.display is None  # η only matters to the paper solver
    features, etests = list(truth["vmin_features"]), list(truth["vmin_etests"])
    frame = vmin_frame(ds, "dc_25", features, etests=etests)
    direct = RestrictedBiasAlignment(solver="paper").fit(*frame.fit_args(), z=frame.z)
    pd.testing.assert_frame_equal(panel.inter_shift, direct.inter_shift(str(ds["wafer"].values[4])))
    pd.testing.assert_frame_equal(panel.intra_shift, direct.intra_shift())
    pd.testing.assert_series_equal(panel.model.class_probe_coef_, direct.class_probe_coef_)
    lr = LinearVmin().fit(*frame.fit_args())
    np.testing.assert_allclose(panel.result.residual_before,
                               frame.y - lr.predict(frame.X, frame.wafer, frame.zone))
    # the planted zone biases, relative to the centre, within 3 mV
    planted = truth["intra_bias"].sel(vmin_test="dc_25").to_series()
    planted = (planted - planted["center"]).reindex(panel.intra_shift["zone"])
    np.testing.assert_allclose(panel.intra_shift["shift"], planted, atol=3e-3)
    inter = truth["inter_bias"].sel(vmin_test="dc_25").to_series()
    fitted = panel.model.inter_bias_
    assert np.corrcoef(inter.reindex(fitted.index.astype(str)), fitted)[0, 1] > 0.95
    assert "class-probe R²" in panel.readout.value
    assert_static_fallback(panel)


def test_vmin_pickers_refit(fab_small, vmin_panel):
    ds, _ = fab_small
    panel = vmin_panel
    with panel.hold():
        panel.solver_pick.value = "exact"
        panel.vmin_test_pick.value = "ac_125"
    frame = vmin_frame(ds, "ac_125", list(panel.feature_pick.value), etests=list(panel.etest_pick.value))
    direct = RestrictedBiasAlignment(solver="exact").fit(*frame.fit_args(), z=frame.z)
    pd.testing.assert_frame_equal(panel.intra_shift, direct.intra_shift())
    panel.etest_pick.value = []  # no class-probe model
    assert panel.error is None and panel.result.predicted_inter_bias is None
    assert not hasattr(panel.model, "class_probe_coef_")
    panel.feature_pick.value = []
    assert_message(panel, "feature")
    panel.feature_pick.value = ["T03"]
    assert panel.error is None and panel.message.value == ""


@pytest.mark.parametrize("kwargs, name", [
    (dict(solver="newton"), "solver"),  # was a message
    (dict(eta=5.0), "eta"),  # was silently clamped to the slider's 1.0
])
def test_vmin_bad_options_raise_the_parameter_error(fab_small, kwargs, name):
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of VminCalibration"):
        VminCalibration(fab_small[0], **kwargs)


def test_vmin_bad_inputs_are_messages(fab_small):
    ds, _ = fab_small
    assert_message(VminCalibration(ds, vmin_test="dc_999"), "dc_999")
    assert_message(VminCalibration(ds, features=["T99"]), "T99")
    assert_message(VminCalibration(ds.drop_vars("vmin"), features=["T03"]), "vmin")
    assert_message(VminCalibration(fabnb.synth.fab("small").drop_dims("vmin_test")), "vmin")


# ---------------------------------------------------------------------- fleet
OFFSETS = {"A": 0.0, "B": 2.0, "C": -1.5, "D": 0.7}


@pytest.fixture(scope="module")
def fleet_labels():
    """Every tool measures the same 25 wafers, off by its planted offset, noise sd 0.2."""
    rng = np.random.default_rng(7)
    true = rng.normal(100.0, 5.0, 25)
    rows = [{"wafer": f"W{w:02d}", "tool": tool, "value": true[w] + off + rng.normal(0, 0.2)}
            for tool, off in OFFSETS.items() for w in range(25)]
    return pd.DataFrame(rows)


def test_fleet_offsets_equal_fleet_match_and_cover_the_planted_ones(fleet_labels):
    panel = FleetCalibration(fleet_labels, reference_tool="A")
    direct = metrology.fleet_match(fleet_labels, "tool", "A")
    pd.testing.assert_frame_equal(panel.offsets, direct)
    for tool, row in panel.offsets.iterrows():
        assert row["offset_lo"] < OFFSETS[tool] < row["offset_hi"]
    corrected = panel.result[1]
    pd.testing.assert_frame_equal(corrected, metrology.apply_fleet_correction(fleet_labels, direct))
    means = corrected.groupby("tool")["value"].mean()
    assert means.std() < 0.1 < fleet_labels.groupby("tool")["value"].mean().std()
    assert f"{direct.loc['B', 'offset']:.4g}" in panel.readout.value
    assert_static_fallback(panel)


def test_fleet_controls_refit(fleet_labels):
    panel = FleetCalibration(fleet_labels, reference_tool="A")
    with panel.hold():
        panel.reference_pick.value = "B"
        panel.alpha_slider.value = 0.2
    direct = metrology.fleet_match(fleet_labels, "tool", "B", alpha=0.2)
    pd.testing.assert_frame_equal(panel.offsets, direct)
    np.testing.assert_allclose(panel.offsets.loc["C", "offset"], OFFSETS["C"] - OFFSETS["B"], atol=0.3)
    panel.model_pick.value = "linear"
    pd.testing.assert_frame_equal(panel.offsets,
                                  metrology.fleet_match(fleet_labels, "tool", "B", slope=True, alpha=0.2))
    assert "linear model" in panel.readout.value


@pytest.mark.parametrize("kwargs, name", [
    (dict(alpha=0.9), "alpha"),  # was silently clamped to the slider's 0.5
    (dict(slope="yes"), "slope"),
])
def test_fleet_bad_options_raise_the_parameter_error(fleet_labels, kwargs, name):
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of FleetCalibration"):
        FleetCalibration(fleet_labels, **kwargs)


def test_fleet_bad_inputs_are_messages(fleet_labels):
    assert_message(FleetCalibration(fleet_labels.drop(columns="tool")), "tool")
    assert_message(FleetCalibration(fleet_labels, reference_tool="Z"), "Z")
    lonely = pd.concat([fleet_labels, pd.DataFrame({"wafer": ["X1"], "tool": ["E"], "value": [1.0]})])
    assert_message(FleetCalibration(lonely, reference_tool="A"), "shares 0 wafers")
    assert_message(FleetCalibration([1, 2, 3]), "DataFrame")


# ---------------------------------------------------------------------- yield
@pytest.fixture(scope="module")
def normal_dies():
    return np.random.default_rng(11).normal(10.0, 1.0, 1500)


def test_yield_readout_equals_estimate_yield_and_the_true_yield(normal_dies):
    panel = YieldCalibration(normal_dies, 8.0, 12.5, n_synthetic=50_000, n_bootstrap=10, seed=2)
    with panel.hold():
        panel.alpha_slider.value = 0.3
        panel.bandwidth_slider.value = 0.3
    options = {"kernel": "epanechnikov", "bandwidth": panel.bandwidth_slider.value,
               "adaptive": True, "alpha": 0.3}
    assert panel.kde_options() == options
    direct = density.estimate_yield(normal_dies, 8.0, 12.5, method="kde", n_synthetic=50_000,
                                    n_bootstrap=10, kde_options=options, seed=2, progress=False)
    assert panel.result.estimate == pytest.approx(direct.estimate, rel=1e-12)
    np.testing.assert_allclose([panel.result.ci_low, panel.result.ci_high],
                               [direct.ci_low, direct.ci_high], rtol=1e-12)
    assert f"{100 * direct.estimate:.2f} %" in panel.readout.value
    true_yield = stats.norm.cdf(12.5, 10, 1) - stats.norm.cdf(8.0, 10, 1)
    assert abs(panel.result.estimate - true_yield) < 0.015
    assert panel.result.synthetic.shape == (50_000,)
    assert_static_fallback(panel)


def test_yield_wider_bandwidth_flattens_the_density(normal_dies):
    panel = YieldCalibration(normal_dies, 8.0, 12.5, kernel="gaussian", adaptive=False,
                             n_synthetic=20_000, n_bootstrap=0)
    assert panel.alpha_slider.layout.display == "none"
    peak = panel.result.model.pdf([10.0])[0]
    panel.bandwidth_slider.value = 10 ** panel.bandwidth_slider.max  # 3x the Silverman rule
    assert panel.result.model.bandwidth_[0] == pytest.approx(panel.bandwidth_slider.value)
    assert panel.result.model.pdf([10.0])[0] < peak
    # a Gaussian KDE of near-normal data is close to N(mean, s² + h²): its yield is that mass
    h = panel.bandwidth_slider.value
    smoothed = stats.norm(normal_dies.mean(), np.sqrt(normal_dies.var() + h**2))
    assert abs(panel.result.estimate - (smoothed.cdf(12.5) - smoothed.cdf(8.0))) < 0.01


def test_yield_bad_inputs_are_messages(normal_dies):
    assert_message(YieldCalibration([np.nan, np.nan], 0.0, 1.0), "2 measured values")
    assert_message(YieldCalibration(np.full(20, 3.0), 0.0, 5.0), "equal")
    assert_message(YieldCalibration(normal_dies, 12.0, 8.0, n_bootstrap=0), "lsl")
    assert_message(YieldCalibration(np.ones((3, 2)), 0.0, 1.0), "1-D")


@pytest.mark.parametrize("kwargs, name, owner", [
    (dict(kernel="box"), "kernel", "YieldCalibration"),  # was a message
    (dict(alpha=1.5), "alpha", "YieldCalibration"),  # was silently clamped to 1.0
    (dict(bandwidth=-1.0), "bandwidth", "YieldCalibration"),
    # passed on to estimate_yield: its rule raises at construction instead of a message
    (dict(n_synthetic=0), "n_synthetic", "estimate_yield"),
    (dict(confidence=1.5), "confidence", "estimate_yield"),
])
def test_yield_bad_options_raise_the_parameter_error(normal_dies, kwargs, name, owner):
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of {owner}"):
        YieldCalibration(normal_dies, 8.0, 12.5, **{"n_bootstrap": 0, **kwargs})


def test_yield_bandwidth_outside_the_default_range_is_kept(normal_dies):
    rule = float(density.rule_bandwidth(normal_dies[:, None], "scipy_silverman")[0])
    panel = YieldCalibration(normal_dies, 8.0, 12.5, bandwidth=10 * rule, n_synthetic=5_000,
                             n_bootstrap=0)
    # the slider widened to hold it (it was clamped to 3x the rule)
    assert panel.bandwidth_slider.value == pytest.approx(10 * rule, rel=1e-9)
    assert panel.result.model.bandwidth_[0] == pytest.approx(10 * rule, rel=1e-9)
