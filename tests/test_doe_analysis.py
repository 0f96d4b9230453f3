"""Analysis in fabnb.doe: published textbook examples, a direct statsmodels fit, the
simulator's known truth, and bad input."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from fabnb import doe
from fabnb.errors import FabDataError, FabFitError, FabParameterError
from fabnb.synth.etch import TRUTH, etch_response, factor_ranges

# Montgomery (2013), Design and Analysis of Experiments, 8th ed., Example 6.2: filtration
# rate of a chemical, unreplicated 2^4 (A temperature, B pressure, C formaldehyde
# concentration, D stirring rate), responses in standard order (Table 6.10).
FILTRATION = [45, 71, 48, 65, 68, 60, 80, 65, 43, 100, 45, 104, 75, 86, 70, 96]


def filtration_design():
    d = doe.full_factorial(list("ABCD"))
    d["rate"] = FILTRATION
    return d


def test_montgomery_example_6_2_effects_and_lenth():
    r = doe.analyze(filtration_design(), "rate", model="full")
    published = {"A": 21.625, "C": 9.875, "D": 14.625, "A:C": -18.125, "A:D": 16.625}
    for term, value in published.items():
        assert r.effects[term] == pytest.approx(value, abs=1e-9)
    # Lenth's method on this example (Montgomery Sec. 6.5): PSE 2.625, ME 6.75, SME 13.70
    assert r.lenth.pse == pytest.approx(2.625)
    assert r.lenth.me == pytest.approx(6.75, abs=0.005)
    assert r.lenth.sme == pytest.approx(13.70, abs=0.005)
    assert sorted(r.lenth.active) == ["A", "A:C", "A:D", "C", "D"]
    assert r.ss_type == 1 and np.isnan(r.anova.loc["A", "F"])  # saturated: no F test


def test_montgomery_example_6_2_reduced_model_anova():
    """Table 6.13: A, C, D, AC, AD with 10 error df; SS_A 1870.56, MS_E 19.51, F_A 95.86."""
    r = doe.analyze(filtration_design(), "rate", model=["A", "C", "D", "A:C", "A:D"])
    a = r.anova
    assert a.loc["A", "sum_sq"] == pytest.approx(1870.5625)
    assert a.loc["Residual", "df"] == 10
    assert a.loc["Residual", "mean_sq"] == pytest.approx(19.51, abs=0.01)
    assert a.loc["A", "F"] == pytest.approx(95.86, abs=0.01)
    assert a.loc["Total", "sum_sq"] == pytest.approx(5730.94, abs=0.01)
    assert r.ss_type == 3


def test_montgomery_example_8_1_half_fraction():
    """Example 8.1: the 2^(4-1), I = ABCD half of the filtration experiment."""
    d = doe.fractional_factorial(list("ABCD"), generators=["D=ABC"])
    full = filtration_design().set_index(["A", "B", "C", "D"])["rate"]
    d["rate"] = [full[tuple(row)] for row in d[list("ABCD")].to_numpy()]
    assert d["rate"].tolist() == [45, 100, 45, 65, 75, 60, 80, 96]  # (1) ad bd ab cd ac bc abcd
    r = doe.analyze(d, "rate", model="main+2fi")
    published = {"A": 19.00, "B": 1.50, "C": 14.00, "D": 16.50,
                 "A:B": -1.00, "A:C": -18.50, "A:D": 19.00}
    assert r.effects.to_dict() == pytest.approx(published)
    assert r.aliases == {"A:B": ["C:D"], "A:C": ["B:D"], "A:D": ["B:C"]}


def test_montgomery_example_6_6_centre_points_and_curvature():
    """Example 6.6 (also 11.1): 2^2 with 5 centre points, yield vs time (A) and temperature
    (B). Published: effects 1.55, 0.65, -0.05; SS_curvature 0.0027, F 0.063; pure error
    SS 0.1720 on 4 df."""
    d = doe.full_factorial(["A", "B"], center_points=5)
    d["y"] = [39.3, 40.9, 40.0, 41.5, 40.3, 40.5, 40.7, 40.2, 40.6]
    r = doe.analyze(d, "y")
    assert r.effects.to_dict() == pytest.approx({"A": 1.55, "B": 0.65, "A:B": -0.05})
    assert r.curvature.ss == pytest.approx(0.0027, abs=5e-5)
    assert r.curvature.F == pytest.approx(0.063, abs=5e-4)
    # lack of fit has 0 df here: the residual is all pure error, shown once (issue 23)
    assert r.anova.loc["Residual", "sum_sq"] == pytest.approx(0.1720)
    assert r.anova.loc["Residual", "df"] == 4
    assert "Pure error" not in r.anova.index and "Lack of fit" not in r.anova.index
    assert r.anova.attrs["residual_is_pure_error"]


def test_montgomery_example_11_2_central_composite_stationary_point():
    """Example 11.2: CCD (alpha 1.414, 5 centre runs), time 80-90 min, temperature
    170-180 F. Published stationary point x = (0.389, 0.306), 86.95 min, 176.53 F,
    predicted yield 80.21, a maximum."""
    d = doe.central_composite({"time": (80, 90), "temp": (170, 180)}, center_points=5)
    d["y"] = [76.5, 78.0, 77.0, 79.5, 75.6, 78.4, 77.0, 78.5, 79.9, 80.3, 80.0, 79.7, 79.8]
    r = doe.analyze(d, "y", model="quadratic")
    sp = r.stationary
    assert sp.kind == "maximum"
    assert sp.coded.to_numpy() == pytest.approx([0.389, 0.306], abs=1e-3)
    assert sp.natural.to_numpy() == pytest.approx([86.95, 176.53], abs=0.01)
    assert sp.response == pytest.approx(80.21, abs=0.01)
    assert r.coefficients["time^2"] == pytest.approx(-1.376, abs=1e-3)


def random_blocked_design(seed=0):
    d = doe.full_factorial(["p", "q", "r"], blocks=2, replicates=2, center_points=2, seed=seed)
    rng = np.random.default_rng(seed)
    d["y"] = 5 + 2 * d["p"] - d["q"] * d["r"] + 3 * (d["block"].astype(str) == "2") \
        + rng.normal(0, 1, len(d))
    return d


def test_effects_and_anova_equal_a_direct_statsmodels_fit():
    d = random_blocked_design()
    r = doe.analyze(d, "y", model="main+2fi")
    data = d.assign(blk=d["block"].astype(str), cp=d["center_point"].astype(float))
    fit = smf.ols("y ~ p + q + r + p:q + p:r + q:r + C(blk, Sum) + cp", data).fit()
    for term in ["p", "q", "r", "p:q", "p:r", "q:r"]:
        assert r.coefficients[term] == pytest.approx(fit.params[term])
        assert r.effects[term] == pytest.approx(2 * fit.params[term])
    table = anova_lm(fit, typ=3)
    for term in ["p", "q:r"]:
        assert r.anova.loc[term, "sum_sq"] == pytest.approx(table.loc[term, "sum_sq"])
        assert r.anova.loc[term, "PR(>F)"] == pytest.approx(table.loc[term, "PR(>F)"])
    assert r.anova.loc["Block", "sum_sq"] == pytest.approx(table.loc["C(blk, Sum)", "sum_sq"])
    assert r.anova.loc["Residual", "sum_sq"] == pytest.approx(fit.ssr)
    assert r.r2 == pytest.approx(fit.rsquared) and r.adj_r2 == pytest.approx(fit.rsquared_adj)


def test_predict_equals_statsmodels_with_blocks_averaged_and_curvature_off():
    d = random_blocked_design()
    r = doe.analyze(d, "y", model="main+2fi")
    data = d.assign(blk=d["block"].astype(str), cp=d["center_point"].astype(float))
    fit = smf.ols("y ~ p + q + r + p:q + p:r + q:r + C(blk, Sum) + cp", data).fit()
    pts = pd.DataFrame({"p": [1.0, -0.5], "q": [0.2, 1.0], "r": [-1.0, 0.0]})
    expected = np.mean([fit.predict(pts.assign(blk=b, cp=0.0)) for b in set(data["blk"])], axis=0)
    np.testing.assert_allclose(r.predict(pts), expected, rtol=1e-12)
    ccd = doe.central_composite(["a", "b"], center_points=3)
    ccd["y"] = 5 + ccd["a"] - 2 * ccd["a"] * ccd["b"] + 3 * ccd["b"] ** 2 \
        + np.random.default_rng(1).normal(0, 0.1, len(ccd))
    quad = smf.ols("y ~ a + b + a:b + I(a ** 2) + I(b ** 2)", ccd).fit()
    pts = pd.DataFrame({"a": [0.3, -1.2], "b": [1.0, 0.4]})
    np.testing.assert_allclose(doe.analyze(ccd, "y", model="quadratic").predict(pts),
                               quad.predict(pts), rtol=1e-12)


def test_pred_r2_equals_leave_one_out():
    d = random_blocked_design(seed=3)
    r = doe.analyze(d, "y", model="main")
    blocks = pd.get_dummies(d["block"].astype(str), drop_first=True).to_numpy()
    x = np.column_stack([np.ones(len(d)), d[["p", "q", "r"]], blocks, d["center_point"]]).astype(float)
    y = d["y"].to_numpy()
    press = 0.0
    for i in range(len(d)):
        keep = np.arange(len(d)) != i
        beta = np.linalg.lstsq(x[keep], y[keep], rcond=None)[0]
        press += (y[i] - x[i] @ beta) ** 2
    assert r.press == pytest.approx(press)
    assert r.pred_r2 == pytest.approx(1 - press / np.sum((y - y.mean()) ** 2))


def test_blocks_are_removed_from_error():
    d = doe.full_factorial(["p", "q", "r"], blocks=2, replicates=3, seed=1)
    rng = np.random.default_rng(2)
    shift = 20.0 * (d["block"].astype(int) % 2)
    d["y"] = 3 * d["p"] + shift + rng.normal(0, 1.0, len(d))
    blocked = doe.analyze(d, "y", model="main")
    unblocked = doe.analyze(d.assign(block=1), "y", model="main")
    assert 0.2 < blocked.anova.loc["Residual", "mean_sq"] < 3  # noise variance 1, 15 df
    assert unblocked.anova.loc["Residual", "mean_sq"] > 50
    assert blocked.effects["p"] == pytest.approx(6.0, abs=1.0)


def test_lack_of_fit_flags_a_missing_interaction():
    d = doe.full_factorial(["p", "q"], replicates=3)
    rng = np.random.default_rng(4)
    d["y"] = 2 * d["p"] + 4 * d["p"] * d["q"] + rng.normal(0, 0.5, len(d))
    missing = doe.analyze(d, "y", model="main")
    right = doe.analyze(d, "y", model="main+2fi")
    assert missing.anova.loc["Lack of fit", "PR(>F)"] < 1e-4
    assert "Lack of fit" not in right.anova.index  # model saturates the 4 distinct points
    assert "Pure error" not in right.anova.index  # ... so the residual is the pure error
    assert right.anova.loc["Residual", "df"] == 8
    assert missing.anova.loc["Pure error", "df"] == 8
    assert missing.anova.loc["Lack of fit", "df"] == 1


def test_curvature_test_detects_quadratic_truth_not_linear():
    """etch_rate has -30 pressure^2; cd has no pressure curvature and time^2 is held at 0."""
    hits_quadratic, hits_linear = [], []
    for seed in range(20):
        design = doe.full_factorial(factor_ranges(["power", "pressure"]), center_points=4, seed=seed)
        run = etch_response(design, seed=seed)
        hits_quadratic.append(doe.analyze(run, "etch_rate").curvature.p < 0.05)
        linear = run.assign(lin=10 + 3 * run["power"] - 2 * run["pressure"]
                            + np.random.default_rng(seed).normal(0, 1, len(run)))
        hits_linear.append(doe.analyze(linear, "lin").curvature.p < 0.05)
    assert np.mean(hits_quadratic) >= 0.95
    assert np.mean(hits_linear) <= 0.2  # nominal 5 % false alarms


def test_factorial_recovers_simulator_truth_and_ofat_misses_interaction():
    truth = TRUTH["etch_rate"]
    fact = etch_response(doe.full_factorial(factor_ranges(["power", "pressure", "gas_flow"]),
                                            replicates=2, seed=0), seed=0)
    r = doe.analyze(fact, "etch_rate")
    column = {shown: term for term, shown in r.term_names.items()}["power:pressure"]
    se = np.sqrt(r.fit.cov_params().loc[column, column])
    assert abs(r.coefficients["power:pressure"] - truth["power:pressure"]) < 4 * se
    for term in ("power", "pressure", "gas_flow"):
        assert abs(r.coefficients[term] - truth[term]) < 4 * se
    assert r.anova.loc["power:pressure", "PR(>F)"] < 1e-3
    best = fact.groupby(["power", "pressure"])["etch_rate"].mean().idxmax()
    assert best == (1.0, 1.0)
    # OFAT from the all-low baseline: raising pressure alone lowers the rate, so OFAT keeps
    # pressure low and never runs the best corner.
    o = etch_response(doe.ofat(factor_ranges(["power", "pressure", "gas_flow"])), seed=0, noise_sd=0)
    base, power_up, pressure_up = o["etch_rate"].to_numpy()[:3]
    assert power_up > base and pressure_up < base
    assert not ((o["power"] == 1) & (o["pressure"] == 1)).any()


def test_stationary_point_types_on_known_quadratics():
    d = doe.central_composite(["a", "b"], center_points=3)
    a, b = d["a"], d["b"]
    cases = {
        "maximum": (50 - (a - 0.3) ** 2 - 2 * (b + 0.2) ** 2, (0.3, -0.2), 50.0),
        "minimum": (5 + (a + 0.5) ** 2 + 0.5 * (b - 0.4) ** 2 + 0.2 * (a + 0.5) * (b - 0.4),
                    (-0.5, 0.4), 5.0),
        "saddle": (10 + (a - 0.1) ** 2 - (b - 0.6) ** 2, (0.1, 0.6), 10.0),
    }
    for kind, (y, point, value) in cases.items():
        sp = doe.analyze(d.assign(y=y), "y", model="quadratic").stationary
        assert sp.kind == kind
        assert sp.coded.to_numpy() == pytest.approx(point, abs=1e-9)
        assert sp.response == pytest.approx(value, abs=1e-9)


def test_aliased_terms_dropped_with_intercept_and_blocks():
    d = doe.full_factorial(["p", "q", "r"], blocks=2, seed=0)
    d["y"] = np.arange(8.0)
    r = doe.analyze(d, "y", model="full")
    assert r.dropped == {"p:q:r": "confounded with blocks"}
    fr = doe.fractional_factorial(list("ABC"), generators=["C=AB"])
    fr["y"] = [1.0, 2.0, 4.0, 8.0]
    r2 = doe.analyze(fr, "y", model="full")
    assert "A:B:C" in r2.dropped and r2.aliases == {"A": ["B:C"], "B": ["A:C"], "C": ["A:B"]}


@pytest.mark.parametrize("mutate,model,match", [
    (lambda d: d.assign(y=d["y"].where(d["std_order"] != 3)), "main", "missing for 1 run"),
    (lambda d: d, ["A", "B", "C", "D", "A:B", "A:C", "A:D", "B:C", "B:D"], "only 8 runs"),
    (lambda d: d, ["A", "B", "A:B", "C:D"], "aliased"),
    (lambda d: d, ["A", "Z"], "unknown factor"),
    (lambda d: d.merge(pd.DataFrame({"std_order": range(1, 9)}), on="std_order"), "main",
     "as_design"),
])
def test_bad_input_names_the_problem(mutate, model, match):
    d = doe.fractional_factorial(list("ABCD"), generators=["D=ABC"], seed=0)
    d["y"] = np.arange(8.0)
    with pytest.raises(FabFitError, match=match):
        doe.analyze(mutate(d), "y", model=model)
    with pytest.raises(FabFitError, match="one value per run"):
        doe.analyze(d, [1.0, 2.0], model="main")
    pb = doe.plackett_burman([f"F{i}" for i in range(11)])
    pb["y"] = np.arange(12.0)
    with pytest.raises(FabFitError, match="partially aliased"):
        doe.analyze(pb, "y", model="main+2fi")


def test_half_normal_plot_shows_effects_and_lenth_margin():
    import fabnb.plot.doe as dplot

    r = doe.analyze(filtration_design(), "rate", model="full")
    ax = dplot.half_normal_plot(r)
    xs = next(ln for ln in ax.get_lines() if ln.get_gid() == "effects").get_xdata()
    assert np.allclose(xs, np.sort(np.abs(r.effects.to_numpy())))
    me = next(ln for ln in ax.get_lines() if ln.get_gid() == "lenth-me").get_xdata()[0]
    assert me == pytest.approx(6.75, abs=0.005)
    labels = {t.get_text() for t in ax.texts}
    assert labels == {"A", "C", "D", "A:C", "A:D"}
    matplotlib.pyplot.close("all")


def test_etch_simulator_is_seeded():
    d = doe.full_factorial(factor_ranges(["power", "time"]))
    a, b, c = etch_response(d, seed=3), etch_response(d, seed=3), etch_response(d, seed=4)
    assert a["etch_rate"].tolist() == b["etch_rate"].tolist() != c["etch_rate"].tolist()
    assert a.attrs["doe"] == d.attrs["doe"]


# --- issue 25: categorical factors, degenerate input, one exception for bad options ----

def test_categorical_factor_predicts_cell_means_and_reports_contrasts():
    """Issue 25 reproducer: predict ignored the categorical factor and gave [5, 5, 5]."""
    df = pd.DataFrame({"p": [1, 1, 2, 2, 3, 3], "y": [1., 1, 5, 5, 9, 9]})
    r = doe.analyze(doe.as_design(df, ["p"]), "y", model="main", categorical=["p"])
    np.testing.assert_allclose(r.predict({"p": [1, 2, 3]}), [1, 5, 9], rtol=1e-12)
    np.testing.assert_allclose(r.predict({"p": ["3", "1"]}), [9, 1], rtol=1e-12)  # level labels
    # effects: each level against the first; coefficients: the Sum contrasts of the fit
    assert r.effects.to_dict() == pytest.approx({"p[T.2]": 4.0, "p[T.3]": 8.0}, abs=1e-12)
    assert r.coefficients.to_dict() == pytest.approx({"Intercept": 5.0, "p[S.1]": -4.0, "p[S.2]": 0.0},
                                                     abs=1e-12)
    assert r.lenth is None  # two correlated contrasts: nothing for Lenth's method to pool
    with pytest.raises(FabDataError, match="not a level of categorical factor 'p'"):
        r.predict({"p": [4]})


def mixed_design(seed=0):
    """3-level categorical gas x numeric power, replicated twice, with noise and blocks."""
    d = doe.full_factorial({"gas": ["N2", "Ar", "O2"], "power": (300, 700)}, replicates=2, seed=seed)
    rng = np.random.default_rng(seed)
    shift = d["gas_natural"].map({"N2": 0.0, "Ar": 3.0, "O2": -2.0})
    d["y"] = 10 + shift + 1.5 * d["power"] + rng.normal(0, 0.5, len(d))
    return d


def test_categorical_analysis_equals_statsmodels_ols_on_the_same_formula():
    d = mixed_design()
    r = doe.analyze(d, "y", model="main")
    data = d.assign(gas=d["gas_natural"])
    levels = '["N2", "Ar", "O2"]'
    fit_sum = smf.ols(f"y ~ C(gas, Sum, levels={levels}) + power", data).fit()
    fit_treat = smf.ols('y ~ C(gas, Treatment("N2")) + power', data).fit()
    for level in ("N2", "Ar"):
        assert r.coefficients[f"gas[S.{level}]"] == pytest.approx(
            fit_sum.params[f"C(gas, Sum, levels={levels})[S.{level}]"], rel=1e-10)
    for level in ("Ar", "O2"):
        assert r.effects[f"gas[T.{level}]"] == pytest.approx(
            fit_treat.params[f'C(gas, Treatment("N2"))[T.{level}]'], rel=1e-10)
    assert r.effects["power"] == pytest.approx(2 * fit_sum.params["power"], rel=1e-10)
    assert r.anova.loc["gas", "sum_sq"] == pytest.approx(
        anova_lm(fit_sum, typ=3).loc[f"C(gas, Sum, levels={levels})", "sum_sq"], rel=1e-10)
    cells = pd.DataFrame({"gas": ["N2", "Ar", "O2", "Ar"], "power": [-1.0, 1.0, 0.5, 0.0]})
    np.testing.assert_allclose(r.predict(cells), fit_sum.predict(cells), rtol=1e-12)
    # coded values select the same levels as their labels (N2, Ar, O2 = -1, 0, 1)
    np.testing.assert_allclose(r.predict(cells.assign(gas=[-1.0, 0.0, 1.0, 0.0])),
                               fit_sum.predict(cells), rtol=1e-12)
    # a categorical factor left out is averaged over its levels
    np.testing.assert_allclose(r.predict({"power": [0.0]}),
                               [np.mean(fit_sum.predict(cells.iloc[:3].assign(power=0.0)))], rtol=1e-12)


def test_constant_response_fits_flat_with_a_warning():
    """Issue 25: a constant response raised ZeroDivisionError. It is a valid experiment
    whose answer is "no effect": zero effects, nothing active, R²/F/p undefined (NaN)."""
    d = doe.full_factorial(["A", "B", "C"], center_points=3)
    with pytest.warns(doe.DoeWarning, match="'y' is 2.3 in every run"):
        r = doe.analyze(d.assign(y=2.3), "y", model="full")
    assert (r.effects == 0).all() and (r.coefficients.drop("Intercept") == 0).all()
    assert r.coefficients["Intercept"] == 2.3
    assert r.lenth is None  # 2 residual df: F tests, not Lenth (issue 23)
    assert (r.effect_table["se"] == 0).all() and r.effect_table["t"].isna().all()
    with pytest.warns(doe.DoeWarning):
        saturated = doe.analyze(d[~d["center_point"]].assign(y=2.3), "y", model="full")
    assert saturated.lenth.active == []
    assert np.isnan(r.r2) and np.isnan(r.pred_r2) and r.anova["F"].isna().all()
    assert (r.anova["sum_sq"] == 0).all()
    np.testing.assert_allclose(r.predict({"A": [1.0, -1.0]}), 2.3, rtol=1e-12)
    ccd = doe.central_composite(["a", "b"], center_points=3)
    with pytest.warns(doe.DoeWarning):
        flat = doe.analyze(ccd.assign(y=7.0), "y", model="quadratic")
    assert flat.stationary is None  # a flat surface has no stationary point


def test_degenerate_categorical_factor_and_scalar_points():
    d = doe.full_factorial(["A", "B"]).assign(A=1.0, y=[1.0, 2, 3, 4])
    r = doe.analyze(d, "y", model="main", categorical="A")
    assert r.dropped == {"A": "one level in every run"}
    with pytest.raises(FabFitError, match="categorical factor A has one level"):
        doe.analyze(d, "y", model=["A", "B"], categorical="A")
    np.testing.assert_allclose(r.predict({"B": 1.0}), [3.5], rtol=1e-12)  # one point as scalars


def test_empty_design_is_a_data_error():
    """Issue 25: an empty design raised IndexError."""
    d = doe.full_factorial(["A", "B"]).iloc[:0].assign(y=[])
    with pytest.raises(FabDataError, match="no runs"):
        doe.analyze(d, "y")
    with pytest.raises(FabDataError, match="no rows"):
        doe.as_design(pd.DataFrame({"A": [], "y": []}), ["A"])


def test_as_design_codes_natural_levels():
    """Issue 25 reproducer: natural levels in the frame raised IndexError."""
    d = doe.as_design(pd.DataFrame({"p": [160, 180, 200, 220], "y": [1., 2, 3, 4]}),
                      {"p": [160, 180, 200, 220]})
    np.testing.assert_allclose(d["p"], [-1, -1 / 3, 1 / 3, 1], rtol=1e-12)
    assert d["p_natural"].tolist() == [160, 180, 200, 220]
    r = doe.analyze(d, "y", model="main", categorical=[])  # numeric on request
    assert r.coefficients["p"] == pytest.approx(1.5, rel=1e-12)  # y = 2.5 + 1.5 x
    cat = doe.analyze(d.assign(y=[1.0, 2, 3, 5]), "y", model="main", categorical="p")
    assert list(cat.effects.index) == ["p[T.180]", "p[T.200]", "p[T.220]"]
    gas = doe.as_design(pd.DataFrame({"gas": ["Ar", "N2", "Ar"]}), {"gas": ["N2", "Ar"]})
    assert gas["gas"].tolist() == [1.0, -1.0, 1.0]
    with pytest.raises(FabDataError, match="'p' holds 210 in row 3"):
        doe.as_design(pd.DataFrame({"p": [160, 180, 200, 210]}), {"p": [160, 180, 200, 220]})
    with pytest.raises(FabDataError, match="'p' holds nan in row 1"):
        doe.as_design(pd.DataFrame({"p": [1.0, np.nan]}), ["p"])


@pytest.mark.parametrize("kwargs,option", [
    ({"alpha": 1.5}, "alpha"),
    ({"model": "mian"}, "model"),
    ({"model": ["A", "Z"]}, "model term"),
    ({"model": 3}, "model"),
    ({"categorical": ["Z"]}, "categorical"),
    ({"response": "yy"}, "response"),
])
def test_bad_analysis_options_raise_one_exception_naming_the_option(kwargs, option):
    d = doe.full_factorial(["A", "B"], replicates=2)
    d["y"] = np.arange(8.0)
    with pytest.raises(FabParameterError, match=option):
        doe.analyze(d, **{"response": "y", **kwargs})
    with pytest.raises(FabParameterError, match="'alpha' parameter of lenth"):
        doe.lenth(pd.Series([1.0, 2.0, 3.0]), alpha=0)


# --- issue 23: the ANOVA as Montgomery, Minitab and statsmodels print it -----------------

# Montgomery (2013), 8th ed., Example 3.1 (Sec. 3.3): plasma etch rate (Å/min) at four
# RF power settings, five wafers each (Table 3.1); ANOVA in Table 3.4.
ETCH_POWER = {160: [575, 542, 530, 539, 570], 180: [565, 593, 590, 579, 610],
              200: [600, 651, 610, 637, 629], 220: [725, 700, 715, 685, 710]}


def test_montgomery_example_6_2_reduced_model_table_and_statsmodels():
    """Example 6.2, reduced model A, C, D, AC, AD (the Design-Expert output Montgomery
    prints for it): Model SS 5535.81 on 5 df, F 56.74, p < 0.0001; coefficient of A
    10.81 with standard error 1.10 and 95 % interval (8.35, 13.27). Checked also against
    statsmodels' OLS on the same formula."""
    d = filtration_design()
    r = doe.analyze(d, "rate", model=["A", "C", "D", "A:C", "A:D"])
    model = r.anova.loc["Model"]
    assert model["sum_sq"] == pytest.approx(5535.81, abs=0.005) and model["df"] == 5
    assert model["F"] == pytest.approx(56.74, abs=0.005) and model["PR(>F)"] < 1e-4
    a = r.coef_table.loc["A"]
    assert a["estimate"] == pytest.approx(10.81, abs=0.005)
    assert a["se"] == pytest.approx(1.10, abs=0.005)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((8.35, 13.27), abs=0.005)
    assert r.lenth is None  # 10 residual df: the F tests judge the effects, not Lenth
    fit = smf.ols("rate ~ A + C + D + A:C + A:D", d).fit()
    assert model["F"] == pytest.approx(fit.fvalue, rel=1e-12)
    assert model["PR(>F)"] == pytest.approx(fit.f_pvalue, rel=1e-9)
    ci = fit.conf_int(0.05)
    for term in ["Intercept", "A", "C", "D", "A:C", "A:D"]:
        row = r.coef_table.loc[term]
        assert row["se"] == pytest.approx(fit.bse[term], rel=1e-12)
        assert row["t"] == pytest.approx(fit.tvalues[term], rel=1e-12)
        assert row["p"] == pytest.approx(fit.pvalues[term], rel=1e-9)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(ci.loc[term]), rel=1e-12)
        if term != "Intercept":  # effect = 2 x coefficient, its standard error too
            assert r.effect_table.loc[term, "se"] == pytest.approx(2 * fit.bse[term], rel=1e-12)
            assert r.effect_table.loc[term, "t"] == pytest.approx(fit.tvalues[term], rel=1e-12)
    # Montgomery's treatment labels and totals: a = 71, abcd = 96 (Table 6.10)
    cells = r.cell_means.set_index("treatment")
    assert cells.loc["(1)", "total"] == 45 and cells.loc["a", "total"] == 71
    assert cells.loc["abcd", "mean"] == pytest.approx(96.0, rel=1e-12)
    assert r.level_means.loc[("A", 1.0), "total"] == sum(FILTRATION[1::2])


def test_saturated_model_uses_lenth_and_leaves_f_and_se_undefined():
    """Example 6.2 full model: 16 runs, 16 parameters. No residual df, so no F, t or
    standard error (NaN, as Minitab prints '*'); Lenth's margin judges the effects."""
    r = doe.analyze(filtration_design(), "rate", model="full")
    assert r.fit.df_resid == 0 and r.lenth is not None
    assert r.anova.loc["Model", "sum_sq"] == pytest.approx(5730.9375, abs=1e-9)  # = total
    assert np.isnan(r.anova.loc["Model", "F"])
    assert r.effect_table["se"].isna().all() and r.coef_table["p"].isna().all()
    assert "saturated" in r.summary()


def test_montgomery_example_11_1_first_order_model_without_curvature_indicator():
    """Example 11.1 (Sec. 11.2, the data of Example 6.6): the first-order model fitted to
    the 4 factorial and 5 centre runs is y = 40.44 + 0.775 x1 + 0.325 x2, with the ANOVA
    Model (regression) SS 2.8250 on 2 df, residual 0.1772 on 6 df split into lack of fit
    (interaction 0.0025 + pure quadratic 0.0027) and pure error 0.1720 on 4 df, total
    3.0022 on 8 df."""
    d = doe.full_factorial(["A", "B"], center_points=5)
    d["y"] = [39.3, 40.9, 40.0, 41.5, 40.3, 40.5, 40.7, 40.2, 40.6]
    r = doe.analyze(d, "y", model="main", curvature=False)
    assert r.curvature is None and "Curvature" not in r.anova.index
    assert r.coefficients.to_dict() == pytest.approx({"Intercept": 40.44, "A": 0.775, "B": 0.325},
                                                     abs=0.005)
    a = r.anova
    assert a.loc["Model", "sum_sq"] == pytest.approx(2.8250, abs=5e-5) and a.loc["Model", "df"] == 2
    assert a.loc["Residual", "sum_sq"] == pytest.approx(0.1772, abs=5e-5) and a.loc["Residual", "df"] == 6
    assert a.loc["Lack of fit", "sum_sq"] == pytest.approx(0.0025 + 0.0027, abs=1e-4)
    assert a.loc["Lack of fit", "df"] == 2
    assert a.loc["Pure error", "sum_sq"] == pytest.approx(0.1720, abs=5e-5) and a.loc["Pure error", "df"] == 4
    assert a.loc["Total", "sum_sq"] == pytest.approx(3.0022, abs=5e-5)
    # with the indicator (the default) the intercept is the factorial runs' mean
    assert doe.analyze(d, "y", model="main").coefficients["Intercept"] == pytest.approx(40.425, abs=1e-9)
    with pytest.raises(FabParameterError, match="'curvature' parameter of analyze"):
        doe.analyze(d, "y", curvature="no")


def test_montgomery_example_3_1_one_way_anova_from_a_typed_table():
    """Example 3.1: a factor declared with four numeric levels is categorical by default,
    so the table gives the one-way ANOVA of Table 3.4: SS_power 66,870.55 on 3 df,
    F 66.80, SS_E 5339.20 on 16 df, total 72,209.75; treatment totals 2756, 2937, 3127,
    3535 and means 551.2, 587.4, 625.4, 707.0. The same as statsmodels' anova_lm."""
    frame = pd.DataFrame([(p, y) for p, ys in ETCH_POWER.items() for y in ys], columns=["power", "rate"])
    d = doe.as_design(frame, {"power": [160, 180, 200, 220]})
    r = doe.analyze(d, "rate", model="main")
    assert r.categorical == ["power"]
    a = r.anova
    assert a.loc["power", "sum_sq"] == pytest.approx(66870.55, abs=0.005) and a.loc["power", "df"] == 3
    assert a.loc["power", "F"] == pytest.approx(66.80, abs=0.005)
    assert a.loc["Residual", "sum_sq"] == pytest.approx(5339.20, abs=0.005) and a.loc["Residual", "df"] == 16
    assert a.loc["Total", "sum_sq"] == pytest.approx(72209.75, abs=0.005)
    assert a.loc["Model", "F"] == pytest.approx(a.loc["power", "F"], rel=1e-12)  # one term
    means = r.level_means.loc["power"]
    assert means["total"].tolist() == [2756, 2937, 3127, 3535]
    np.testing.assert_allclose(means["mean"], [551.2, 587.4, 625.4, 707.0], rtol=1e-12)
    assert list(means.index) == ["160", "180", "200", "220"]
    reference = anova_lm(smf.ols("rate ~ C(power)", frame).fit())
    assert a.loc["power", "PR(>F)"] == pytest.approx(reference.loc["C(power)", "PR(>F)"], rel=1e-9)
    # a level selected by its natural value, its label or its coded value
    for spelling in ([160, 220], ["160", "220"], [-1.0, 1.0]):
        np.testing.assert_allclose(r.predict({"power": spelling}), [551.2, 707.0], rtol=1e-12)


def test_categorical_effects_have_standard_errors_from_statsmodels():
    d = mixed_design()
    r = doe.analyze(d, "y", model="main")
    fit_treat = smf.ols('y ~ C(gas, Treatment("N2")) + power', d.assign(gas=d["gas_natural"])).fit()
    ci = fit_treat.conf_int(0.05)
    for level in ("Ar", "O2"):
        name = f'C(gas, Treatment("N2"))[T.{level}]'
        row = r.effect_table.loc[f"gas[T.{level}]"]
        assert row["se"] == pytest.approx(fit_treat.bse[name], rel=1e-10)
        assert row["p"] == pytest.approx(fit_treat.pvalues[name], rel=1e-8)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(ci.loc[name]), rel=1e-10)
    assert r.one_df_effects == ["power"]  # the two gas contrasts are correlated
    both = doe.analyze(d, "y", model="main+2fi")  # gas:power is not fitted: said, not silent
    assert "gas:power" in both.dropped and "gas:power" not in both.effects.index


def test_effects_and_anova_model_row_equal_statsmodels_with_blocks_and_curvature():
    d = random_blocked_design()
    r = doe.analyze(d, "y", model="main+2fi")
    data = d.assign(blk=d["block"].astype(str), cp=d["center_point"].astype(float))
    fit = smf.ols("y ~ p + q + r + p:q + p:r + q:r + C(blk, Sum) + cp", data).fit()
    # Minitab's and JMP's Model row: every term but the intercept (blocks, curvature too)
    assert r.anova.loc["Model", "F"] == pytest.approx(fit.fvalue, rel=1e-12)
    assert r.anova.loc["Model", "PR(>F)"] == pytest.approx(fit.f_pvalue, rel=1e-9)
    assert r.anova.loc["Model", "df"] == fit.df_model
    assert list(r.anova.index[:1]) == ["Model"] and r.anova.index[-1] == "Total"


def test_analysis_runs_on_patsy_design_info_with_the_factor_names():
    """Issue 23 #4: the formula names the factors themselves (no x0/x1 renaming), also
    when a factor is called C (patsy's categorical builtin) or is not an identifier."""
    d = filtration_design()
    r = doe.analyze(d, "rate", model=["A", "C", "D", "A:C", "A:D"])
    assert r.fit.model.exog_names == ["Intercept", "A", "C_", "D", "A:C_", "A:D"]
    assert r.columns == {"C": "C_"}
    assert r.term_names["A:C_"] == "A:C"
    named = doe.full_factorial({"temp (C)": (20, 40), "gas": ["N2", "Ar", "O2"]}, replicates=2)
    named["y"] = 1.0 + 2.0 * named["temp (C)"] + named["gas"] + np.random.default_rng(0).normal(0, 0.1, 12)
    fit = doe.analyze(named, "y", model="main")
    col = fit.columns["temp (C)"]
    assert col.isidentifier() and fit.term_names[col] == "temp (C)"
    assert fit.effects["temp (C)"] == pytest.approx(2 * fit.fit.params[col], rel=1e-12)
    np.testing.assert_allclose(fit.predict({"temp (C)": [1.0], "gas": ["Ar"]}),
                               fit.fit.predict(pd.DataFrame({col: [1.0], "gas": ["Ar"],
                                                             "_centre": [0.0]})), rtol=1e-12)


def test_contour_plot_averages_a_categorical_factor_instead_of_holding_it_at_zero():
    """Issue 23 follow-up: gas has levels N2, Ar, O2 (coded -1, 0, 1); holding it at 0.0
    would silently mean Ar. Left out, the surface averages over the three levels."""
    import fabnb.plot.doe as dplot

    d = doe.full_factorial({"gas": ["N2", "Ar", "O2"], "power": (300, 700), "time": (10, 20)},
                           replicates=2)
    shift = d["gas_natural"].map({"N2": 0.0, "Ar": 30.0, "O2": -6.0})
    d["y"] = 10 + shift + 1.5 * d["power"] - d["time"] + np.random.default_rng(0).normal(0, 0.1, len(d))
    r = doe.analyze(d, "y", model="main")
    ax = dplot.contour_plot(r, "power", "time", extent=(-1, 1), levels=5)
    drawn = ax.collections[0].levels  # filled-contour boundaries span the plotted surface
    z_avg = r.predict({"power": [-1.0, 1.0], "time": [1.0, -1.0]})  # its lowest and highest corner
    z_ar = r.predict({"power": [-1.0, 1.0], "time": [1.0, -1.0], "gas": ["Ar", "Ar"]})
    assert drawn.min() <= z_avg.min() and z_avg.max() <= drawn.max()
    assert z_ar.max() > drawn.max() + 10  # Ar (coded 0.0) lies 22 above the average surface
    assert ax.get_title() == "Fitted y (averaged over gas)"
    held = dplot.contour_plot(r, "power", "time", hold={"gas": "Ar"}, levels=5, extent=(-1, 1))
    assert held.collections[0].levels.max() >= z_ar.max() > drawn.max() + 10
    with pytest.raises(FabParameterError, match="'x' parameter of contour_plot"):
        dplot.contour_plot(r, "gas", "power")
    matplotlib.pyplot.close("all")


def test_half_normal_plot_shows_only_one_df_effects():
    import fabnb.plot.doe as dplot

    d = doe.full_factorial({"gas": ["N2", "Ar", "O2"], "A": (0, 1), "B": (0, 1)})
    d["y"] = d["A"] * 3 + d["gas"] + np.random.default_rng(1).normal(0, 0.5, len(d))
    r = doe.analyze(d, "y", model="main")
    ax = dplot.half_normal_plot(r)
    xs = next(ln for ln in ax.get_lines() if ln.get_gid() == "effects").get_xdata()
    assert len(xs) == 2 and len(r.effects) == 4
    np.testing.assert_allclose(xs, np.sort(np.abs(r.effects[["A", "B"]].to_numpy())), rtol=1e-12)
    assert "2 categorical contrast(s) not shown" in ax.get_title()
    matplotlib.pyplot.close("all")


def test_minitab_layout_groups_terms_and_tests_each_group_as_statsmodels_does():
    """Example 6.2 reduced model in Minitab's layout: Model, Linear (A, C, D), 2-Way
    Interactions (A*C, A*D), Error, Total. A group's F is the joint test of its terms,
    the same as statsmodels' anova_lm comparing the model without them."""
    d = filtration_design()
    r = doe.analyze(d, "rate", model=["A", "C", "D", "A:C", "A:D"])
    t = r.minitab_anova()
    assert list(t.index) == ["Model", "  Linear", "    A", "    C", "    D", "  2-Way Interactions",
                             "    A*C", "    A*D", "Error", "Total"]
    assert t["DF"].tolist() == [5, 3, 1, 1, 1, 2, 1, 1, 10, 15]
    full = smf.ols("rate ~ A + C + D + A:C + A:D", d).fit()
    without = smf.ols("rate ~ A + C + D", d).fit()
    reference = anova_lm(without, full)
    assert t.loc["  2-Way Interactions", "F-Value"] == pytest.approx(reference["F"].iloc[1], rel=1e-10)
    assert t.loc["  2-Way Interactions", "Adj SS"] == pytest.approx(reference["ss_diff"].iloc[1], rel=1e-10)
    assert t.loc["    A*C", "F-Value"] == pytest.approx(67.34, abs=0.005)  # Montgomery's table
    assert t.loc["Model", "F-Value"] == pytest.approx(56.74, abs=0.005)
    coefficients = r.coded_coefficients()
    assert coefficients.loc["A*C", "Effect"] == pytest.approx(-18.125, abs=1e-9)
    assert coefficients.loc["A", "SE Coef"] == pytest.approx(1.10, abs=0.005)
    assert np.isnan(coefficients.loc["Intercept", "Effect"])  # the intercept has no effect
