"""Run-to-run control against closed forms and a direct NumPy transcription."""

import doctest

import numpy as np
import pytest

import fabnb.control as ctl
from fabnb.errors import FabParameterError
from fabnb.control import (
    DoubleEWMAController,
    EWMAController,
    LinearProcess,
    PIDController,
    VirtualMetrology,
    simulate,
)


@pytest.mark.parametrize("module", ["controllers", "process", "simulate", "tuning", "fabnb.plot.control"])
def test_docstring_examples(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module if "." in module else f"fabnb.control.{module}"))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    "controller",
    [
        EWMAController(gain=2.0, target=5.0, lam=0.4),
        DoubleEWMAController(gain=2.0, target=5.0, lam1=0.4, lam2=0.2),
        PIDController(kp=0.1, ki=0.3, kd=0.05, target=5.0),
    ],
)
def test_no_disturbance_holds_target(controller):
    sim = simulate(LinearProcess(gain=2.0, intercept=1.0), controller, 200)
    np.testing.assert_allclose(sim["output"].values[-20:], 5.0, atol=1e-8)


def test_ewma_stability_boundary():
    # model gain 1, true gain xi: stable iff lam * xi < 2
    lam = 0.95
    inside = simulate(LinearProcess(gain=2.0, intercept=3.0), EWMAController(1.0, 0.0, lam), 400)
    outside = simulate(LinearProcess(gain=2.2, intercept=3.0), EWMAController(1.0, 0.0, lam), 400)
    assert lam * 2.0 < 2 < lam * 2.2
    assert abs(inside["error"].values[-1]) < 1e-6
    assert abs(outside["error"].values[-1]) > 1e3
    assert ctl.stable_lambda_range(2.2)[1] < lam < ctl.stable_lambda_range(2.0)[1]


@pytest.mark.parametrize("lam, xi", [(0.2, 1.0), (0.5, 1.0), (0.3, 1.5), (0.6, 0.7)])
def test_ewma_drift_offset_matches_closed_form(lam, xi):
    drift = 0.05
    sim = simulate(LinearProcess(gain=xi * 2.0, drift=drift), EWMAController(2.0, 0.0, lam), 400)
    np.testing.assert_allclose(sim["error"].values[-1], ctl.ewma_drift_offset(drift, lam, xi), rtol=1e-6)


def test_double_ewma_removes_drift_offset():
    proc = LinearProcess(gain=1.0, drift=0.05)
    single = simulate(proc, EWMAController(1.0, 0.0, 0.3), 600)
    double = simulate(proc, DoubleEWMAController(1.0, 0.0, 0.3, 0.2), 600)
    assert single["error"].values[-1] == pytest.approx(0.05 / 0.3, rel=1e-6)
    assert abs(double["error"].values[-1]) < 1e-6
    assert double["state_drift"].values[-1] == pytest.approx(0.05, rel=1e-6)


def test_pid_anti_windup_keeps_integral_bounded_under_saturation():
    # the target is unreachable within the recipe limits: a naive integral grows forever
    proc = LinearProcess(gain=1.0, intercept=0.0)
    pid = PIDController(kp=0.2, ki=0.5, kd=0.0, target=10.0, limits=(-1.0, 1.0),
                        integral_limits=(-5.0, 5.0))
    sim = simulate(proc, pid, 200)
    assert np.all(sim["recipe"].values <= 1.0 + 1e-12)
    assert np.all(np.abs(sim["state_integral"].values) <= 5.0 + 1e-12)
    # conditional integration alone (no clamp) also stops the wind-up once saturated
    free = simulate(proc, PIDController(0.2, 0.5, 0.0, 10.0, limits=(-1.0, 1.0)), 200)
    assert free["state_integral"].values[-1] == free["state_integral"].values[10]


def test_pid_recovers_quickly_after_saturation_ends():
    proc = LinearProcess(gain=1.0, shifts=((100, 9.5),))  # target becomes reachable at run 100
    sim = simulate(proc, PIDController(0.2, 0.5, 0.0, 10.0, limits=(-1.0, 1.0)), 160)
    assert abs(sim["error"].values[-1]) < 1e-3


def test_seeds_reproduce_and_differ():
    proc = LinearProcess(gain=1.0, noise_sd=1.0, ima_theta=0.5, ima_sd=0.5)
    a = simulate(proc, EWMAController(1.0, 0.0, 0.3), 100, seed=7)
    b = simulate(proc, EWMAController(1.0, 0.0, 0.3), 100, seed=7)
    c = simulate(proc, EWMAController(1.0, 0.0, 0.3), 100, seed=8)
    assert a.identical(b) and not np.allclose(a["output"], c["output"])


def direct_ewma(d, beta, b, target, lam, every, delay, aware):
    """The sampled, delayed EWMA loop written out with plain NumPy."""
    n = len(d)
    a, u, y = 0.0, np.zeros(n), np.zeros(n)
    arrivals = {}
    for t in range(n):
        u[t] = (target - a) / b
        y[t] = beta * u[t] + d[t]
        if t % every == 0:
            arrivals.setdefault(t + delay, []).append(t)
        for w in arrivals.pop(t, []):
            a = lam * (y[w] - b * (u[w] if aware else u[t])) + (1 - lam) * a
    return u, y


@pytest.mark.parametrize("every, delay, aware", [(1, 0, True), (5, 0, True), (1, 3, True), (2, 3, False)])
def test_simulator_matches_direct_transcription(every, delay, aware):
    proc = LinearProcess(gain=1.3, intercept=0.5, noise_sd=0.2, ima_theta=0.3, ima_sd=0.3, drift=0.01)
    sim = simulate(proc, EWMAController(1.0, 2.0, 0.35), 60, seed=3, metrology_every=every,
                   metrology_delay=delay, delay_aware=aware)
    u, y = direct_ewma(proc.disturbance(60, seed=3), 1.3, 1.0, 2.0, 0.35, every, delay, aware)
    np.testing.assert_allclose(sim["recipe"], u, rtol=1e-12)
    np.testing.assert_allclose(sim["output"], y, rtol=1e-12)


def test_ignoring_metrology_delay_costs_accuracy():
    proc = LinearProcess(gain=1.0, noise_sd=0.3, drift=0.02, ima_theta=0.4, ima_sd=0.3)
    kw = dict(n_runs=400, seed=1, metrology_delay=3)
    aware = simulate(proc, EWMAController(1.0, 0.0, 0.5), delay_aware=True, **kw)
    naive = simulate(proc, EWMAController(1.0, 0.0, 0.5), delay_aware=False, **kw)
    assert naive.attrs["mse"] > aware.attrs["mse"]


def test_drifting_virtual_metrology_pulls_output_off_target():
    proc = LinearProcess(gain=1.0, noise_sd=0.1)
    vm = VirtualMetrology(noise_sd=0.05, bias_drift=0.002)
    with_vm = simulate(proc, EWMAController(1.0, 0.0, 0.3), 400, seed=2, metrology_every=10, vm=vm)
    gauge_only = simulate(proc, EWMAController(1.0, 0.0, 0.3), 400, seed=2, metrology_every=10)
    late = slice(300, 400)
    # the controller chases the stale model: the true output runs away below target
    assert with_vm["error"].values[late].mean() < -0.2
    assert abs(gauge_only["error"].values[late].mean()) < 0.1


def test_minimum_variance_lambda_is_best_on_ima_disturbance():
    theta = 0.6
    proc = LinearProcess(gain=1.0, ima_theta=theta, ima_sd=1.0)
    grid = ctl.mse_vs_lambda(proc, [0.1, 0.25, 0.4, 0.55, 0.8, 1.0], n_runs=1500, seeds=range(4))
    best = grid.loc[grid["mse"].idxmin(), "lam"]
    assert abs(best - ctl.minimum_variance_lambda(theta)) <= 0.15


def test_compare_controllers_same_disturbance():
    proc = LinearProcess(gain=1.0, drift=0.03, noise_sd=0.1)
    table = ctl.compare_controllers(
        proc, {"ewma": EWMAController(1.0, 0.0, 0.3), "dewma": DoubleEWMAController(1.0, 0.0, 0.3, 0.15)},
        n_runs=400, seed=4,
    )
    assert table.loc["ewma", "offset"] == pytest.approx(0.1, abs=0.03)
    assert abs(table.loc["dewma", "offset"]) < 0.03


def test_mimo_ewma_reaches_both_targets():
    B = np.array([[2.0, 0.5], [0.3, 1.0]])
    c = EWMAController(B, target=[1.0, -1.0], lam=0.5)
    offset = np.array([0.7, -0.2])
    for _ in range(60):
        u = c.recommend()
        c.update(B @ u + offset, u)
    np.testing.assert_allclose(B @ c.recommend() + offset, [1.0, -1.0], atol=1e-9)


def test_nan_measurements_are_skipped_and_counted():
    c = EWMAController(1.0, 0.0, 0.5)
    c.update(np.nan, 0.0)
    c.update(1.0, 0.0)
    assert c.n_skipped_ == 1 and c.n_updates_ == 1
    assert c.intercept_[0] == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize(
    "make, name, owner",
    [
        (lambda: EWMAController(1.0, 0.0, lam=0.0), "lam", "EWMAController"),
        (lambda: EWMAController(1.0, 0.0, lam=1.5), "lam", "EWMAController"),
        (lambda: DoubleEWMAController(1.0, 0.0, 0.3, lam2=-0.1), "lam2", "DoubleEWMAController"),
        (lambda: EWMAController(0.0, 0.0, 0.3), "gain", "EWMAController"),  # zero or singular
        (lambda: EWMAController([[1.0, 2.0], [2.0, 4.0]], [0.0, 0.0], 0.3), "gain", "EWMAController"),
        # formerly accepted or foreign errors:
        (lambda: EWMAController(1.0, np.nan, 0.3), "target", "EWMAController"),  # NaN recipes forever
        (lambda: EWMAController(1.0, [1.0, 2.0, 3.0], 0.3), "target", "EWMAController"),  # numpy ValueError
        (lambda: EWMAController(1.0, 0.0, 0.3, intercept=[0.0, 1.0]), "intercept", "EWMAController"),
        (lambda: DoubleEWMAController(1.0, 0.0, drift=np.inf), "drift", "DoubleEWMAController"),
        (lambda: EWMAController(1.0, 0.0, 0.3, feedforward="yes"), "feedforward", "EWMAController"),
        (lambda: PIDController(1, 1, 0, 0, limits=(1, -1)), "limits", "PIDController"),
        (lambda: PIDController(1, 1, 0, 0, limits=(0, np.nan)), "limits", "PIDController"),  # never clipped
        (lambda: PIDController(1, 1, 0, 0, integral_limits=(5, 1)), "integral_limits", "PIDController"),
        (lambda: PIDController(np.nan, 1, 0, 0), "kp", "PIDController"),
        (lambda: LinearProcess(gain=0.0), "gain", "LinearProcess"),
        (lambda: LinearProcess(noise_sd=-1.0), "noise_sd", "LinearProcess"),
        (lambda: LinearProcess(ima_theta=1.0), "ima_theta", "LinearProcess"),
        (lambda: VirtualMetrology(noise_sd=-0.1), "noise_sd", "VirtualMetrology"),  # numpy error later
        (lambda: simulate(LinearProcess(), EWMAController(1.0, 0.0), 0), "n_runs", "simulate"),
        (lambda: simulate(LinearProcess(), EWMAController(1.0, 0.0), 2.5), "n_runs", "simulate"),
        (lambda: simulate(LinearProcess(), EWMAController(1.0, 0.0), 5, metrology_every=0),
         "metrology_every", "simulate"),
        (lambda: simulate(LinearProcess(), EWMAController(1.0, 0.0), 5, metrology_delay=-1),
         "metrology_delay", "simulate"),
        (lambda: simulate(LinearProcess(), "ewma", 5), "controller", "simulate"),
        (lambda: ctl.ewma_drift_offset(0.1, lam=0.0), "lam", "ewma_drift_offset"),  # ZeroDivisionError
        (lambda: ctl.stable_lambda_range(xi=0.0), "xi", "stable_lambda_range"),  # ZeroDivisionError
        (lambda: ctl.minimum_variance_lambda(1.5), "ima_theta", "minimum_variance_lambda"),
    ],
)
def test_bad_parameters_name_the_parameter(make, name, owner):
    """#6: each rule declared once, checked up front, one exception type naming the parameter."""
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of {owner}"):
        make()


def test_run_chart_draws_every_simulation():
    import matplotlib

    matplotlib.use("Agg")
    from fabnb.plot.control import mse_vs_lambda_plot, r2r_run_chart

    proc = LinearProcess(gain=1.0, drift=0.02, noise_sd=0.1)
    sims = {"a": simulate(proc, EWMAController(1.0, 0.0, 0.3), 50),
            "b": simulate(proc, DoubleEWMAController(1.0, 0.0, 0.3, 0.1), 50)}
    ax_out, ax_rec = r2r_run_chart(sims)
    assert len(ax_rec.lines) == 2 and any("MSE" in t.get_text() for t in ax_out.get_legend().get_texts())
    table = ctl.mse_vs_lambda(LinearProcess(gain=2.5, noise_sd=0.1), [0.3, 0.9], n_runs=50, seeds=[0], model_gain=1.0)
    ax = mse_vs_lambda_plot(table)
    assert list(table["stable"]) == [True, False] and len(ax.lines) == 2


def test_feedforward_of_a_perfect_vm_prediction_cancels_wafer_noise():
    """Incoming-wafer deviations that a VM model predicts exactly are cancelled by the
    feed-forward term, so the output sits on target; without it the noise passes through."""
    rng = np.random.default_rng(0)
    incoming = rng.normal(0, 0.5, 200)
    for ff, expect_zero in ((1.0, True), (None, False)):
        c = EWMAController(gain=2.0, target=1.0, lam=0.3, feedforward=ff)
        out = []
        for n in incoming:
            u = c.recommend(vm_prediction=n)
            y = 2.0 * u + 0.7 + n  # intercept 0.7 plus the wafer's own deviation
            c.update(y, u, vm_prediction=n)
            out.append(y)
        settled = np.asarray(out[100:]) - 1.0
        assert (np.abs(settled).max() < 1e-9) == expect_zero


# --- double EWMA in the Butler–Stefani form, its stability region and drift offsets (#23) -----

def direct_butler_stefani(d, beta, b, target, lam1, lam2):
    """Butler & Stefani (1994) predictor-corrector recursions written out with plain NumPy:
    a_t = λ₁(y_t − b u_t) + (1 − λ₁)a_{t−1}, p_t = λ₂(y_t − b u_t − a_{t−1}) + (1 − λ₂)p_{t−1},
    u_{t+1} = (T − a_t − p_t)/b."""
    a = p = 0.0
    u, y = np.zeros(len(d)), np.zeros(len(d))
    for t in range(len(d)):
        u[t] = (target - a - p) / b
        y[t] = beta * u[t] + d[t]
        z = y[t] - b * u[t]
        a, p = lam1 * z + (1 - lam1) * a, lam2 * (z - a) + (1 - lam2) * p
    return u, y


def test_butler_stefani_form_matches_direct_transcription():
    proc = LinearProcess(gain=1.3, intercept=0.5, noise_sd=0.2, ima_theta=0.3, ima_sd=0.3, drift=0.01)
    sim = simulate(proc, DoubleEWMAController(1.0, 2.0, 0.35, 0.2, form="butler_stefani"), 80, seed=3)
    u, y = direct_butler_stefani(proc.disturbance(80, seed=3), 1.3, 1.0, 2.0, 0.35, 0.2)
    np.testing.assert_allclose(sim["recipe"], u, rtol=1e-12)
    np.testing.assert_allclose(sim["output"], y, rtol=1e-12)
    # the Holt form (the default) is another controller: same data, other recipes
    holt = simulate(proc, DoubleEWMAController(1.0, 2.0, 0.35, 0.2), 80, seed=3)
    assert np.max(np.abs(holt["recipe"].values - u)) > 1e-2


def closed_loop_matrix(lam1, lam2, xi, form, b=2.0):
    """The estimator-state map s_{t−1} → s_t of the real controller on a noise-free process
    y = ξ b u (target 0), one basis state at a time: an independent route to the poles."""
    cols = []
    for state in ((1.0, 0.0), (0.0, 1.0)):
        c = DoubleEWMAController(b, 0.0, lam1, lam2, intercept=state[0], drift=state[1], form=form)
        u = c.recommend()
        c.update(xi * b * u, u)
        cols.append([c.intercept_[0], c.drift_[0]])
    return np.array(cols).T


@pytest.mark.parametrize("form", ["butler_stefani", "holt"])
@pytest.mark.parametrize("lam1, lam2, xi", [(0.3, 0.1, 1.0), (0.5, 0.4, 1.7), (0.9, 0.2, 0.6), (0.2, 0.8, 2.5)])
def test_characteristic_polynomial_is_the_closed_loop_one(form, lam1, lam2, xi):
    coeffs = ctl.double_ewma_polynomial(lam1, lam2, xi, form)
    np.testing.assert_allclose(coeffs, np.poly(closed_loop_matrix(lam1, lam2, xi, form)), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("form", ["butler_stefani", "holt"])
@pytest.mark.parametrize("xi", [0.5, 1.0, 1.5, 2.5, 3.5])
def test_stability_region_equals_root_moduli(form, xi):
    """Jury's conditions against the spectral radius of the controller's own state map on a
    40 × 40 grid (points within 1e-9 of the unit circle left out)."""
    region = ctl.stability_region(xi, form, n=40)
    grid = region["lam1"].values
    for i, l1 in enumerate(grid):
        for j, l2 in enumerate(grid):
            radius = np.max(np.abs(np.linalg.eigvals(closed_loop_matrix(l1, l2, xi, form))))
            if abs(radius - 1.0) > 1e-9:
                assert bool(region.values[i, j]) == (radius < 1.0), (l1, l2)
    assert region.values.all() == (xi <= 1.0)  # no mismatch or a weaker plant: everything stable


@pytest.mark.parametrize("form, lam2", [("butler_stefani", 0.4), ("holt", 0.4)])
def test_stability_boundary_in_the_simulator(form, lam2):
    """Just inside the region the loop settles, just outside it diverges (ξ = 2.2)."""
    xi = 2.2
    grid = np.linspace(0.01, 1.0, 991)
    stable = ctl.double_ewma_stable(grid, lam2, xi, form)
    edge = grid[np.flatnonzero(~stable)[0]]  # first unstable λ₁ on the line
    proc = LinearProcess(gain=xi, intercept=1.0)
    inside = simulate(proc, DoubleEWMAController(1.0, 0.0, edge - 0.03, lam2, form=form), 3000)
    outside = simulate(proc, DoubleEWMAController(1.0, 0.0, edge + 0.03, lam2, form=form), 3000)
    assert abs(inside["error"].values[-1]) < 1e-6
    assert abs(outside["error"].values[-1]) > 1e3


@pytest.mark.parametrize("form", ["butler_stefani", "holt"])
@pytest.mark.parametrize("lam1, lam2, xi", [(0.3, 0.1, 1.0), (0.5, 0.3, 1.6), (0.4, 0.2, 0.6)])
def test_double_ewma_drift_offset_matches_simulator(form, lam1, lam2, xi):
    """Closed form: no offset, drift filter at δ/(ξλ₁) (Butler–Stefani) or δ/ξ (Holt)."""
    drift = 0.05
    offset, estimate = ctl.double_ewma_drift_offset(drift, lam1, lam2, xi, form)
    sim = simulate(LinearProcess(gain=2.0 * xi, drift=drift), DoubleEWMAController(2.0, 0.0, lam1, lam2, form=form),
                   1500)
    assert offset == 0.0
    assert abs(sim["error"].values[-1]) < 1e-9
    assert sim["state_drift"].values[-1] == pytest.approx(estimate, rel=1e-9)
    assert estimate == pytest.approx(drift / (xi * lam1) if form == "butler_stefani" else drift / xi, rel=1e-15)


def test_drift_offsets_refuse_an_unstable_loop():
    """Was δ/(λξ) for a diverging loop: a number for a steady state that does not exist."""
    with pytest.raises(FabParameterError, match="'lam' parameter of ewma_drift_offset.*unstable"):
        ctl.ewma_drift_offset(0.05, lam=0.9, xi=2.5)
    with pytest.raises(FabParameterError, match="'lam1'/'lam2' parameters of double_ewma_drift_offset.*unstable"):
        ctl.double_ewma_drift_offset(0.05, 0.9, 0.9, xi=2.0)


@pytest.mark.parametrize("make, name, owner", [
    (lambda: DoubleEWMAController(1.0, 0.0, form="brown"), "form", "DoubleEWMAController"),
    (lambda: ctl.double_ewma_stable(0.3, 0.2, form="brown"), "form", "double_ewma_polynomial"),
    (lambda: ctl.double_ewma_stable([0.3, 1.2], 0.2), "lam1", "double_ewma_polynomial"),
    (lambda: ctl.double_ewma_stable(0.3, np.nan), "lam2", "double_ewma_polynomial"),
    (lambda: ctl.double_ewma_polynomial(0.3, 0.2, xi=0.0), "xi", "double_ewma_polynomial"),
    (lambda: ctl.stability_region(1.0, n=1), "n", "stability_region"),
    (lambda: ctl.double_ewma_drift_offset(0.1, 0.0, 0.2), "lam1", "double_ewma_drift_offset"),
])
def test_double_ewma_analysis_bad_parameters(make, name, owner):
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of {owner}"):
        make()


def test_stability_region_plot_draws_every_xi():
    import matplotlib

    matplotlib.use("Agg")
    from fabnb.plot.control import stability_region_plot

    ax = stability_region_plot((0.5, 2.0, 3.0), form="holt", n=41)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 3 and labels[-1] == "ξ = 0.5: all stable"
