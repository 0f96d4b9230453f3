"""fabnb.metrology against a published gauge study, statsmodels, and simulated truth."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from fabnb import FabDataError
from fabnb.errors import FabParameterError
from fabnb.metrology import apply_fleet_correction, fleet_match, gauge_rr, r2_ceiling

# Montgomery, Introduction to Statistical Quality Control (6th ed., Wiley 2009), Example 8.7,
# Table 8.6: 20 parts, 3 operators, 2 measurements each (columns: op1 m1, op1 m2, op2 m1,
# op2 m2, op3 m1, op3 m2); specifications LSL = 5, USL = 60.
MONTGOMERY_8_6 = """21 20 20 20 19 21
24 23 24 24 23 24
20 21 19 21 20 22
27 27 28 26 27 28
19 18 19 18 18 21
23 21 24 21 23 22
22 21 22 24 22 20
19 17 18 20 19 18
24 23 25 23 24 24
25 23 26 25 24 25
21 20 20 20 21 20
18 19 17 19 18 19
23 25 25 25 25 25
24 24 23 25 24 25
29 30 30 28 31 30
26 26 25 26 25 27
20 20 19 20 20 20
19 21 19 19 21 23
25 26 25 24 25 25
19 19 18 17 19 17"""


def _montgomery():
    a = np.array([[float(x) for x in row.split()] for row in MONTGOMERY_8_6.splitlines()])
    return pd.DataFrame([(p + 1, o + 1, a[p, 2 * o + k]) for p in range(20) for o in range(3)
                         for k in range(2)], columns=["part", "operator", "value"])


def _study(rng, n_parts=10, n_ops=3, reps=3, sd_part=2.0, sd_op=0.6, sd_po=0.4, sd_e=0.5):
    part = np.repeat(np.arange(n_parts), n_ops * reps)
    op = np.tile(np.repeat(np.arange(n_ops), reps), n_parts)
    y = (50 + rng.normal(0, sd_part, n_parts)[part] + rng.normal(0, sd_op, n_ops)[op]
         + rng.normal(0, sd_po, (n_parts, n_ops))[part, op] + rng.normal(0, sd_e, part.size))
    return pd.DataFrame({"part": part.astype(str), "operator": op.astype(str), "value": y})


def test_gauge_rr_reproduces_montgomery_example_8_7():
    g = gauge_rr(_montgomery(), tolerance=60 - 5)
    # Table 8.7 (ANOVA): SS 1185.425 / 2.617 / 27.050 / 59.500, MS 62.391 / 1.308 / 0.712 / 0.992
    np.testing.assert_allclose(g.anova["sum_sq"], [1185.425, 2.617, 27.050, 59.500], atol=6e-4)
    np.testing.assert_allclose(g.anova["mean_sq"], [62.391, 1.308, 0.712, 0.992], atol=6e-4)
    assert list(g.anova["df"]) == [19, 2, 38, 60]
    # interaction not significant (P = 0.86) -> reduced model: sigma2 = 0.88, sigma2_O = 0.01,
    # sigma2_gauge = 0.89, sigma_gauge = 0.94, P/T = 6 * 0.94 / 55 = 0.10
    assert g.pooled
    assert g.anova.loc["operator:part", "p_value"] == pytest.approx(0.86, abs=0.005)
    c = g.components["variance"]
    assert c["repeatability"] == pytest.approx(0.88, abs=0.005)
    assert c["reproducibility"] == pytest.approx(0.01, abs=0.005)
    assert c["gauge_rr"] == pytest.approx(0.89, abs=0.005)
    assert np.sqrt(c["gauge_rr"]) == pytest.approx(0.94, abs=0.01)  # book: sqrt of rounded 0.89
    assert g.percent_tolerance / 100 == pytest.approx(0.10, abs=0.005)
    # full model, Montgomery's first estimates: sigma2_P = 10.28, sigma2_O = 0.015, sigma2_PO < 0 -> 0
    full = gauge_rr(_montgomery(), alpha=None).components["variance"]
    assert full["part"] == pytest.approx(10.28, abs=0.005)
    assert full["operator"] == pytest.approx(0.015, abs=0.0005)
    assert full["operator:part"] == 0.0 and full["repeatability"] == pytest.approx(0.992, abs=5e-4)


def test_gauge_rr_matches_statsmodels_anova_and_mixedlm():
    df = _study(np.random.default_rng(3))
    g = gauge_rr(df, alpha=None)
    table = sm.stats.anova_lm(smf.ols("value ~ C(part) * C(operator)", df).fit(), typ=2)
    np.testing.assert_allclose(
        g.anova["sum_sq"].to_numpy(),
        table.loc[["C(part)", "C(operator)", "C(part):C(operator)", "Residual"], "sum_sq"].to_numpy(),
        rtol=1e-10)
    # REML variance components of the crossed random-effects model equal the ANOVA
    # estimates in a balanced design when all are positive
    mixed = smf.mixedlm("value ~ 1", df.assign(all=1), groups="all", re_formula="0",
                        vc_formula={"part": "0 + C(part)", "operator": "0 + C(operator)",
                                    "po": "0 + C(part):C(operator)"}).fit(reml=True)
    vc = dict(zip(mixed.model.exog_vc.names, mixed.vcomp))
    c = g.components["variance"]
    assert min(c["part"], c["operator"], c["operator:part"]) > 0
    assert c["part"] == pytest.approx(vc["part"], rel=2e-3)
    assert c["operator"] == pytest.approx(vc["operator"], rel=2e-3)
    assert c["operator:part"] == pytest.approx(vc["po"], rel=2e-3)
    assert c["repeatability"] == pytest.approx(mixed.scale, rel=2e-3)


def test_gauge_rr_recovers_simulated_components_and_ndc():
    rng = np.random.default_rng(11)
    est = [gauge_rr(_study(rng, n_parts=30, n_ops=5, reps=3, sd_part=3.0, sd_op=0.5, sd_po=0.3,
                           sd_e=0.4), alpha=None).components["variance"] for _ in range(40)]
    mean = pd.concat(est, axis=1).mean(axis=1)  # the ANOVA estimators are unbiased
    assert mean["repeatability"] == pytest.approx(0.16, rel=0.05)
    assert mean["operator:part"] == pytest.approx(0.09, rel=0.25)
    assert mean["part"] == pytest.approx(9.0, rel=0.1)
    g = gauge_rr(_study(np.random.default_rng(2), n_parts=30, sd_part=3.0, sd_op=0.0, sd_po=0.0,
                        sd_e=0.3))
    assert g.ndc == int(np.floor(1.41 * np.sqrt(g.components.loc["part", "variance"])
                                 / np.sqrt(g.components.loc["gauge_rr", "variance"])))
    assert g.ndc >= 5 and g.percent_grr < 30


def test_r2_ceiling_is_the_oracle_r2_of_a_noisy_label():
    rng = np.random.default_rng(0)
    n, sd_gauge = 200_000, 0.5
    true = rng.normal(0, 1.2, n)
    label = true + rng.normal(0, sd_gauge, n)
    oracle_r2 = 1 - np.mean((label - true) ** 2) / np.var(label)  # perfect model of truth
    ceiling = r2_ceiling(sd_gauge ** 2, label_variance=np.var(label))
    assert ceiling == pytest.approx(oracle_r2, abs=0.005)
    g = gauge_rr(_montgomery())
    assert r2_ceiling(g) == pytest.approx(1 - g.sigma2_grr / g.sigma2_total)


@pytest.mark.parametrize("call, name, owner", [
    (lambda: r2_ceiling(0.3), "label_variance", "r2_ceiling"),
    (lambda: r2_ceiling(0.3, label_variance=0.0), "label_variance", "r2_ceiling"),
    (lambda: r2_ceiling(-0.1, label_variance=1.0), "grr", "r2_ceiling"),  # was a ceiling of 1.1
    (lambda: gauge_rr(_montgomery(), tolerance=-55.0), "tolerance", "gauge_rr"),  # was a negative P/T
    (lambda: gauge_rr(_montgomery(), k=0.0), "k", "gauge_rr"),
    (lambda: gauge_rr(_montgomery(), alpha=1.5), "alpha", "gauge_rr"),
    (lambda: gauge_rr(_montgomery().to_numpy()), "df", "gauge_rr"),
    (lambda: fleet_match(_fleet(np.random.default_rng(0), {"A": 0.0, "B": 1.0})[0], alpha=0.0),
     "alpha", "fleet_match"),
    (lambda: fleet_match(_fleet(np.random.default_rng(0), {"A": 0.0, "B": 1.0})[0], slope="yes"),
     "slope", "fleet_match"),
])
def test_bad_parameters_name_the_parameter(call, name, owner):
    """#6: one exception type for a parameter outside its rule, naming it."""
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of {owner}"):
        call()


def _fleet(rng, offsets, gains=None, n=60, sd=0.15):
    true = rng.normal(100, 4, n)
    rows = []
    for k, (tool, off) in enumerate(offsets.items()):
        gain = 1.0 if gains is None else gains[tool]
        rows.append(pd.DataFrame({"wafer": np.arange(n), "tool": tool,
                                  "value": off + gain * true + rng.normal(0, sd, n)}))
    return pd.concat(rows, ignore_index=True), true


def test_fleet_match_recovers_simulated_offsets_and_merges_the_modes():
    offsets = {"M1": 0.0, "M2": 1.5, "M3": -0.8}
    df, true = _fleet(np.random.default_rng(4), offsets)
    fm = fleet_match(df, reference_tool="M1")
    for tool in ("M2", "M3"):
        assert fm.loc[tool, "offset_lo"] < offsets[tool] < fm.loc[tool, "offset_hi"]
        assert fm.loc[tool, "offset"] == pytest.approx(offsets[tool], abs=0.1)
    # production labels: each wafer measured once by a random tool -> bimodal by tool
    rng = np.random.default_rng(9)
    tools = rng.choice(list(offsets), size=true.size)
    prod = pd.DataFrame({"wafer": np.arange(true.size), "tool": tools,
                         "value": true + pd.Series(tools).map(offsets).to_numpy()
                         + rng.normal(0, 0.15, true.size)})
    fixed = apply_fleet_correction(prod, fm)
    err_before = (prod["value"] - true).groupby(prod["tool"]).mean()
    err_after = (fixed["value"] - true).groupby(fixed["tool"]).mean()
    assert err_before.max() - err_before.min() > 2.0
    assert err_after.abs().max() < 0.1


def test_fleet_match_slope_with_statsmodels_cis():
    df, _ = _fleet(np.random.default_rng(6), {"R": 0.0, "T": 5.0}, gains={"R": 1.0, "T": 0.95},
                   n=120, sd=0.05)
    fm = fleet_match(df, reference_tool="R", slope=True)
    assert fm.loc["T", "slope_lo"] < 0.95 < fm.loc["T", "slope_hi"]
    assert fm.loc["T", "slope"] == pytest.approx(0.95, abs=0.01)
    fixed = apply_fleet_correction(df, fm)
    wide = fixed.pivot(index="wafer", columns="tool", values="value")
    assert (wide["T"] - wide["R"]).abs().mean() < 0.1


def test_bad_metrology_input():
    df = _montgomery()
    with pytest.raises(FabDataError, match="unbalanced"):
        gauge_rr(df.iloc[1:])
    with pytest.raises(FabDataError, match="not numeric"):
        gauge_rr(df.assign(value=df["value"].where(df.index != 7)))
    labels, _ = _fleet(np.random.default_rng(0), {"A": 0.0, "B": 1.0}, n=10)
    labels.loc[3, "tool"] = None
    with pytest.raises(FabDataError, match="without a tool id"):
        fleet_match(labels)


# --------------------------------------------------------------------------------------
# Issue 23: AIAG average-and-range method, Minitab's report, nested studies, check
# standards, probe bias and uncertainty budgets.
# --------------------------------------------------------------------------------------

from scipy import stats  # noqa: E402

from fabnb.errors import FabFitError  # noqa: E402
from fabnb.metrology import (check_standard, d2_star, gauge_nested, k_constants,  # noqa: E402
                             probe_bias, range_moments, uncertainty_budget)

# AIAG, Measurement Systems Analysis, 4th ed. (2010), ch. III §B: the completed GRR data
# collection sheet (Figure III-B 15): 10 parts, appraisers A, B, C, 3 trials; rows are
# trials 1-3 of each appraiser, columns parts 1-10.  Also reprinted as Table 1 of
# McNeese, "Three Methods to Analyze Gage R&R Studies", SPC for Excel (Feb. 2015).
MSA4 = {"A": [[0.29, -0.56, 1.34, 0.47, -0.80, 0.02, 0.59, -0.31, 2.26, -1.36],
              [0.41, -0.68, 1.17, 0.50, -0.92, -0.11, 0.75, -0.20, 1.99, -1.25],
              [0.64, -0.58, 1.27, 0.64, -0.84, -0.21, 0.66, -0.17, 2.01, -1.31]],
        "B": [[0.08, -0.47, 1.19, 0.01, -0.56, -0.20, 0.47, -0.63, 1.80, -1.68],
              [0.25, -1.22, 0.94, 1.03, -1.20, 0.22, 0.55, 0.08, 2.12, -1.62],
              [0.07, -0.68, 1.34, 0.20, -1.28, 0.06, 0.83, -0.34, 2.19, -1.50]],
        "C": [[0.04, -1.38, 0.88, 0.14, -1.46, -0.29, 0.02, -0.46, 1.77, -1.49],
              [-0.11, -1.13, 1.09, 0.20, -1.07, -0.67, 0.01, -0.56, 1.45, -1.77],
              [-0.15, -0.96, 0.67, 0.11, -1.45, -0.49, 0.21, -0.49, 1.87, -2.16]]}


def _msa4():
    return pd.DataFrame([(p + 1, op, t + 1, MSA4[op][t][p]) for op in MSA4 for t in range(3)
                         for p in range(10)], columns=["part", "operator", "trial", "value"])


def test_range_constants_match_published_tables():
    # exact: d2(2) = 2/sqrt(pi), d3(2)^2 = 2 - 4/pi, d2(3) = 3/sqrt(pi)
    d2, d3 = range_moments(2)
    assert d2 == pytest.approx(2 / np.sqrt(np.pi), rel=1e-10)
    assert d3 == pytest.approx(np.sqrt(2 - 4 / np.pi), rel=1e-9)
    assert range_moments(3)[0] == pytest.approx(3 / np.sqrt(np.pi), rel=1e-10)
    # Montgomery, Introduction to SQC (6th ed.), Appendix VI: d2, d3, D4
    for m, (d2_tab, d3_tab, d4_tab) in {2: (1.128, 0.853, 3.267), 3: (1.693, 0.888, 2.574),
                                        5: (2.326, 0.864, 2.114), 10: (3.078, 0.797, 1.777)}.items():
        d2, d3 = range_moments(m)
        assert (d2, d3) == pytest.approx((d2_tab, d3_tab), abs=6e-4)
        assert k_constants(m, 2, 2)["D4"] == pytest.approx(d4_tab, abs=6e-4)
    # AIAG MSA-4 Appendix C, d2* for g = 1 (m = 2..10)
    table = [1.41421, 1.91155, 2.23887, 2.48124, 2.67253, 2.82981, 2.96288, 3.07794, 3.17905]
    np.testing.assert_allclose([d2_star(m, 1) for m in range(2, 11)], table, atol=2e-5)
    # MSA-4 average-and-range constants: K1 (trials), K2 (appraisers), K3 (parts 2..10)
    assert k_constants(2, 2, 2)["K1"] == pytest.approx(0.8862, abs=5e-5)
    assert k_constants(3, 3, 10)["K1"] == pytest.approx(0.5908, abs=5e-5)
    assert k_constants(3, 2, 10)["K2"] == pytest.approx(0.7071, abs=5e-5)
    assert k_constants(3, 3, 10)["K2"] == pytest.approx(0.5231, abs=5e-5)
    k3 = [0.7071, 0.5231, 0.4467, 0.4030, 0.3742, 0.3534, 0.3375, 0.3249, 0.3146]
    np.testing.assert_allclose([k_constants(3, 3, p)["K3"] for p in range(2, 11)], k3, atol=5e-5)


def test_average_range_reproduces_the_msa4_gage_report():
    with pytest.warns(UserWarning, match=r"above UCL_R .*part 4, operator B, range 1\.02"):
        g = gauge_rr(_msa4(), method="average_range")
    d = g.details
    # data sheet (Figure III-B 15): R-bar and X-bar per appraiser, R-double-bar, X-diff, Rp
    np.testing.assert_allclose(d["operator_range"].loc[["A", "B", "C"]], [0.184, 0.513, 0.328], atol=5e-4)
    np.testing.assert_allclose(d["operator_mean"].loc[["A", "B", "C"]], [0.1903, 0.0683, -0.2543],
                               atol=5e-5)
    assert d["r_double_bar"] == pytest.approx(0.3417, abs=5e-5)
    assert d["x_diff"] == pytest.approx(0.4446, abs=1e-4)  # the sheet subtracts rounded averages
    assert d["r_p"] == pytest.approx(3.511, abs=5e-4)
    # the manual's UCL_R = 0.8816 uses D4 = 2.58 (rounded); the one range above it is B, part 4
    assert d["ucl_r"] == pytest.approx(0.8816, abs=3e-3)
    assert list(d["ranges_out_of_control"].index) == [(4, "B")]
    # GRR report (Figure III-B 16): EV, AV, GRR, PV, TV and % of TV, ndc.  The manual
    # computes with the 4-digit K constants and rounded intermediates: tolerances of a
    # few units in the last published digit
    sd = g.components["sd"]
    assert sd["repeatability"] == pytest.approx(0.20188, abs=3e-5)
    assert sd["reproducibility"] == pytest.approx(0.22963, abs=1e-4)
    assert sd["gauge_rr"] == pytest.approx(0.30575, abs=1e-4)
    assert sd["part"] == pytest.approx(1.10456, abs=2e-4)
    assert sd["total"] == pytest.approx(1.14610, abs=2e-4)
    pct = g.components["pct_study_var"]
    np.testing.assert_allclose(pct[["repeatability", "reproducibility", "gauge_rr", "part"]],
                               [17.62, 20.04, 26.68, 96.38], atol=0.02)
    assert g.ndc == 5 and g.anova is None and g.method == "average_range"


def test_anova_method_reproduces_msa4_tables_iii_b_7_and_8():
    g = gauge_rr(_msa4())
    # Table III-B 7 (ANOVA table): SS appraiser 3.1673, parts 88.3619, interaction 0.3590,
    # equipment 2.7589, total 94.6471; DF 2/9/18/60/89; F(interaction) = 0.434
    a = g.anova
    np.testing.assert_allclose(a.loc[["operator", "part", "operator:part", "repeatability"], "sum_sq"],
                               [3.1673, 88.3619, 0.3590, 2.7589], atol=5e-5)
    assert a["sum_sq"].sum() == pytest.approx(94.6471, abs=5e-5)
    assert a.loc["operator:part", "F"] == pytest.approx(0.434, abs=5e-4)
    assert g.pooled
    # Table III-B 8 (interaction pooled): std devs EV 0.199933, AV 0.226838, INT 0,
    # GRR 0.302373, PV 1.042327, TV 1.085; % of TV 18.4 / 20.9 / 27.9 / 96.0;
    # % contribution 3.4 / 4.4 / 7.8 / 92.2; ndc = 4
    c = g.components
    np.testing.assert_allclose(c.loc[["repeatability", "reproducibility", "gauge_rr", "part"], "sd"],
                               [0.199933, 0.226838, 0.302373, 1.042327], atol=2e-6)
    assert c.loc["operator:part", "variance"] == 0.0
    assert c.loc["total", "sd"] == pytest.approx(1.085, abs=5e-4)
    np.testing.assert_allclose(c.loc[["repeatability", "reproducibility", "gauge_rr", "part"],
                                     "pct_study_var"], [18.4, 20.9, 27.9, 96.0], atol=0.05)
    np.testing.assert_allclose(c.loc[["repeatability", "reproducibility", "gauge_rr", "part"],
                                     "pct_contribution"], [3.4, 4.4, 7.8, 92.2], atol=0.05)
    assert g.ndc == 4
    # the pooled table is the additive model statsmodels fits
    table = sm.stats.anova_lm(smf.ols("value ~ C(part) + C(operator)", _msa4()).fit(), typ=2)
    np.testing.assert_allclose(g.anova_reduced["sum_sq"].to_numpy(),
                               table.loc[["C(part)", "C(operator)", "Residual"], "sum_sq"].to_numpy(),
                               rtol=1e-10)
    np.testing.assert_allclose(g.anova_reduced["F"].iloc[:2].to_numpy(),
                               table.loc[["C(part)", "C(operator)"], "F"].to_numpy(), rtol=1e-10)


def test_average_range_and_anova_agree_without_interaction():
    """Both methods estimate the same sigmas when the model has no interaction: their
    means over simulated studies meet each other and the truth."""
    rng = np.random.default_rng(5)
    ar, an = [], []
    for _ in range(60):
        df = _study(rng, n_parts=10, n_ops=3, reps=3, sd_part=2.0, sd_op=0.5, sd_po=0.0, sd_e=0.4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # occasional range above UCL_R
            ar.append(gauge_rr(df, method="average_range").components["sd"])
        an.append(gauge_rr(df).components["sd"])
    ar, an = pd.concat(ar, axis=1).mean(axis=1), pd.concat(an, axis=1).mean(axis=1)
    assert ar["repeatability"] == pytest.approx(0.4, rel=0.03)  # R-bar/d2 is unbiased for sigma
    assert ar["repeatability"] == pytest.approx(an["repeatability"], rel=0.03)
    assert ar["part"] == pytest.approx(an["part"], rel=0.1)
    assert ar["gauge_rr"] == pytest.approx(an["gauge_rr"], rel=0.15)


def test_summary_prints_minitab_tables_and_escapes_html():
    g = gauge_rr(_msa4(), tolerance=6.0)
    text = str(g.summary())
    for piece in ("Two-Way ANOVA Table With Interaction", "Two-Way ANOVA Table Without Interaction",
                  "Part * Operator", "Total Gage R&R", "%Contribution (of VarComp)",
                  "%Study Var (%SV)", "%Tolerance (SV/Toler)", "Study Var (6 × SD)",
                  "alpha to remove interaction term = 0.05", "Number of Distinct Categories = 4",
                  "88.3619", "0.974"):
        assert piece in text, piece
    assert "Operator*Part" not in text  # pooled: no interaction component row
    assert "%Tolerance" not in str(gauge_rr(_msa4()).summary())
    assert repr(g) == "GaugeRR(anova: 10 parts x 3 operators x 3 replicates; %GRR 27.86 %, ndc 4)"
    kept = str(gauge_rr(_msa4(), alpha=None).summary())
    assert "Operator*Part" in kept and "always kept" in kept
    evil = _msa4().replace({"operator": {"A": "<img src=x onerror=alert(7)>"}})
    with pytest.warns(UserWarning):
        html = gauge_rr(evil, method="average_range")._repr_html_()
    assert "<img" not in html and "&lt;img src=x onerror=alert(7)&gt;" in html
    assert "Xbar/R" in html and "Ranges above UCL_R" in html


def _nested_study(rng, n_ops=4, n_parts=6, reps=3, sd_op=0.5, sd_part=2.0, sd_e=0.3):
    op = np.repeat(np.arange(n_ops), n_parts * reps)
    part = np.tile(np.repeat(np.arange(n_parts), reps), n_ops)
    y = (10 + rng.normal(0, sd_op, n_ops)[op] + rng.normal(0, sd_part, n_ops * n_parts)[op * n_parts + part]
         + rng.normal(0, sd_e, op.size))
    return pd.DataFrame({"operator": op.astype(str), "part": part.astype(str), "value": y})


def test_nested_anova_matches_statsmodels_and_mixedlm():
    df = _nested_study(np.random.default_rng(8), n_ops=5, sd_op=2.0)
    g = gauge_nested(df, ("operator", "part"), part="part", tolerance=20.0)
    table = sm.stats.anova_lm(smf.ols("value ~ C(operator) + C(operator):C(part)", df).fit(), typ=1)
    np.testing.assert_allclose(g.anova["sum_sq"].to_numpy(), table["sum_sq"].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(g.anova["df"].to_numpy(), table["df"].to_numpy())
    ms = g.anova["mean_sq"]
    # F of operator against part(operator), as Minitab's nested gage R&R tests it
    assert g.anova.loc["operator", "F"] == pytest.approx(ms["operator"] / ms["part"], rel=1e-12)
    assert g.anova.loc["operator", "EMS"] == "σ²(repeatability) + 18·σ²(operator) + 3·σ²(part)"
    mixed = smf.mixedlm("value ~ 1", df, groups="operator", re_formula="1",
                        vc_formula={"part": "0 + C(part)"}).fit(reml=True)
    c = g.components["variance"]
    assert min(c["operator"], c["part"]) > 0  # REML = ANOVA in a balanced design then
    assert c["operator"] == pytest.approx(float(mixed.cov_re.iloc[0, 0]), rel=2e-3)
    assert c["part"] == pytest.approx(float(mixed.vcomp[0]), rel=2e-3)
    assert c["repeatability"] == pytest.approx(mixed.scale, rel=2e-3)
    assert c["gauge_rr"] == pytest.approx(c["operator"] + c["repeatability"], rel=1e-12)
    assert g.ndc == int(np.floor(1.41 * np.sqrt(c["part"] / c["gauge_rr"])))
    text = str(g.summary())
    assert "part(operator)" in text and "%Tolerance (SV/Toler)" in text and "EMS" in text


def test_nested_recovers_simulated_components():
    rng = np.random.default_rng(21)
    est = [gauge_nested(_nested_study(rng, n_ops=6, n_parts=8, sd_op=0.8, sd_part=1.5, sd_e=0.3),
                        ("operator", "part"), part="part").components["variance"] for _ in range(40)]
    mean = pd.concat(est, axis=1).mean(axis=1)
    assert mean["repeatability"] == pytest.approx(0.09, rel=0.05)
    assert mean["part"] == pytest.approx(2.25, rel=0.1)
    assert mean["operator"] == pytest.approx(0.64, rel=0.3)


def _check_standard_raw(rng, runs=3, days=6, reps=6, sd_run=0.03, sd_day=0.02, sd_e=0.08):
    run = np.repeat(np.arange(runs), days * reps)
    day = np.tile(np.repeat(np.arange(days), reps), runs)
    y = (96 + rng.normal(0, sd_run, runs)[run] + rng.normal(0, sd_day, runs * days)[run * days + day]
         + rng.normal(0, sd_e, run.size))
    return pd.DataFrame({"run": run, "day": day, "value": y})


def test_check_standard_from_daily_summaries_equals_nested_anova_on_raw_data():
    raw = _check_standard_raw(np.random.default_rng(4))
    daily = raw.groupby(["run", "day"])["value"].agg(average="mean", stddev="std").reset_index()
    cs = check_standard(daily, n=6, day="day")
    nested = gauge_nested(raw, ("run", "day"))
    np.testing.assert_allclose(cs.anova[["sum_sq", "mean_sq"]].to_numpy(),
                               nested.anova[["sum_sq", "mean_sq"]].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(cs.components["variance"], nested.components["variance"], rtol=1e-9,
                               atol=1e-15)
    # NIST e-Handbook 2.4.4.1-2.4.4.3: level-1 pools the short-term sds, level-2 pools the sds of
    # the daily averages within runs, level-3 is the sd of the run averages
    s1 = np.sqrt(np.mean(daily["stddev"] ** 2))
    s2 = np.sqrt(np.mean(daily.groupby("run")["average"].var(ddof=1)))
    s3 = daily.groupby("run")["average"].mean().std(ddof=1)
    np.testing.assert_allclose(cs.nist_levels["sd"], [s1, s2, s3], rtol=1e-10)
    assert cs.nist_levels["df"].tolist() == [3 * 6 * 5, 3 * 5, 2]


# NIST/SEMATECH e-Handbook §2.4.4.1, data file MPC441.DAT (OHM100.DAT): check standard
# #140 measured with probe #2362, six repetitions a day (averages, short-term sds), six
# days in each of two runs.
OHM100 = pd.DataFrame({
    "run": [1] * 6 + [2] * 6,
    "average": [96.0771, 95.9976, 96.0148, 96.0397, 96.0407, 96.0445,
                96.0793, 96.1115, 96.0803, 96.0411, 96.0988, 96.0482],
    "stddev": [0.1024, 0.0943, 0.0622, 0.0702, 0.0627, 0.0622,
               0.0996, 0.0533, 0.0364, 0.0768, 0.1042, 0.0868]})


def test_check_standard_on_the_nist_resistivity_example():
    cs = check_standard(OHM100, n=6)
    # level-2: the handbook's procedure (§2.4.4.2): sd of the daily averages per run (5 df),
    # pooled over runs (10 df); level-3 (§2.4.4.3): sd of the two run averages (1 df)
    per_run = OHM100.groupby("run")["average"].std(ddof=1)
    assert cs.nist_levels.loc["level-2 (days)", "sd"] == pytest.approx(
        np.sqrt((5 * per_run ** 2).sum() / 10), rel=1e-12)
    assert cs.nist_levels.loc["level-3 (runs)", "sd"] == pytest.approx(
        OHM100.groupby("run")["average"].mean().std(ddof=1), rel=1e-12)
    assert cs.nist_levels["df"].tolist() == [60, 10, 1]
    # here the day-to-day mean square is below repeatability: the day component is 0, said so
    assert cs.truncated == ["day"] and "set to 0: day" in str(cs.summary())
    budget = cs.uncertainty({"repeatability": 6})
    s = cs.components
    assert budget.u_c == pytest.approx(np.sqrt(s.loc["run", "variance"] + s.loc["day", "variance"]
                                               + s.loc["repeatability", "variance"] / 6), rel=1e-12)


def test_pooled_repeatability_matches_nist_handbook_2_4_4_4():
    # e-Handbook §2.4.4.4 ("Example of calculations"): repeatability sums of squares of the five
    # wafers, 60 df each: 0.48115, 0.69209, 0.48483, 1.21752, 0.30076; pooled s1 = 0.10290 (300 df)
    ss = np.array([0.48115, 0.69209, 0.48483, 1.21752, 0.30076])
    wafers = pd.DataFrame({"average": [95.1, 99.3, 96.1, 101.1, 94.3], "stddev": np.sqrt(ss / 60)})
    cs = check_standard(wafers, run=None, n=61)  # one row per wafer, 61 readings -> 60 df
    assert cs.nist_levels.loc["level-1 (repeatability)", "sd"] == pytest.approx(0.10290, abs=5e-6)
    assert cs.nist_levels.loc["level-1 (repeatability)", "df"] == 300


def test_uncertainty_budget_welch_satterthwaite():
    rows = pd.DataFrame({"source": ["repeatability", "day", "probe bias"], "type": ["A", "A", "B"],
                         "u": [0.03, 0.04, 0.01], "df": [60, 10, np.inf]})
    b = uncertainty_budget(rows)
    u_c = np.sqrt(0.03 ** 2 + 0.04 ** 2 + 0.01 ** 2)
    nu = u_c ** 4 / (0.03 ** 4 / 60 + 0.04 ** 4 / 10)
    assert b.u_c == pytest.approx(u_c, rel=1e-12)
    assert b.df_eff == pytest.approx(nu, rel=1e-12)
    assert b.k == pytest.approx(stats.t.ppf(0.975, nu), rel=1e-12)
    assert b.U == pytest.approx(b.k * u_c, rel=1e-12)
    assert b.table["pct_of_u2"].sum() == pytest.approx(100.0)
    assert uncertainty_budget(rows, k=2.0).U == pytest.approx(2 * u_c, rel=1e-12)
    assert "Welch–Satterthwaite" in str(b.summary())
    with pytest.raises(FabDataError, match="'day' needs positive degrees of freedom"):
        uncertainty_budget(rows.assign(df=[60, 0, np.inf]))


def test_probe_bias_matches_paired_t_test_and_recovers_offsets():
    rng = np.random.default_rng(3)
    offsets = {"p1": 0.0, "p2": 0.05, "p3": -0.03}
    true = rng.normal(100, 2, 8)  # eight check standards
    df = pd.DataFrame([(p, q, true[q] + off + rng.normal(0, 0.01)) for p, off in offsets.items()
                       for q in range(8) for _ in range(3)], columns=["probe", "standard", "value"])
    vs_ref = probe_bias(df, reference="p1")
    means = df.pivot_table(index="standard", columns="probe", values="value", aggfunc="mean")
    t = stats.ttest_rel(means["p2"], means["p1"])
    assert vs_ref.loc["p2", "t"] == pytest.approx(t.statistic, rel=1e-10)
    assert vs_ref.loc["p2", "p_value"] == pytest.approx(t.pvalue, rel=1e-8)
    assert "p1" not in vs_ref.index
    avg = probe_bias(df)
    assert avg["bias"].sum() == pytest.approx(0.0, abs=1e-12)
    for p, off in offsets.items():
        shift = off - np.mean(list(offsets.values()))
        assert avg.loc[p, "ci_lo"] < shift < avg.loc[p, "ci_hi"]
    with pytest.raises(FabDataError, match="probe 'p3' has no measurement on standard 7"):
        probe_bias(df[~((df["probe"] == "p3") & (df["standard"] == 7))])


@pytest.mark.parametrize("call, name, owner", [
    (lambda: gauge_rr(_msa4(), method="xbar"), "method", "gauge_rr"),
    (lambda: gauge_nested(_nested_study(np.random.default_rng(0)), ("operator", "part"), part="lot"),
     "part", "gauge_nested"),
    (lambda: gauge_nested(_nested_study(np.random.default_rng(0)), "operator"), "levels", "gauge_nested"),
    (lambda: gauge_nested(_nested_study(np.random.default_rng(0)).rename(columns={"part": "total"}),
                          ("operator", "total")), "levels", "gauge_nested"),  # would clash with a result row
    (lambda: check_standard(OHM100, n=1), "n", "check_standard"),
    (lambda: check_standard(OHM100, n=6).uncertainty({"week": 2}), "averaged", "NestedGauge.uncertainty"),
    (lambda: uncertainty_budget(pd.DataFrame({"source": ["a"], "type": ["A"], "u": [1.0], "df": [3]}),
                                level=1.5), "level", "uncertainty_budget"),
    (lambda: probe_bias(pd.DataFrame({"probe": ["a", "b"] * 2, "standard": [1, 1, 2, 2],
                                      "value": [1.0, 1.1, 2.0, 2.2]}), reference="z"),
     "reference", "probe_bias"),
])
def test_bad_gauge_study_parameters_name_the_parameter(call, name, owner):
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of {owner}"):
        call()


def test_bad_nested_input():
    df = _nested_study(np.random.default_rng(0))
    with pytest.raises(FabDataError, match="cell .* has 2 measurements"):
        gauge_nested(df.iloc[1:], ("operator", "part"))
    with pytest.raises(FabDataError, match="unbalanced nesting"):
        gauge_nested(df[~((df["operator"] == "0") & (df["part"] == "5"))], ("operator", "part"))
    with pytest.raises(FabDataError, match="'value' is missing, infinite or not numeric"):
        gauge_nested(df.assign(value=df["value"].where(df.index != 4, np.inf)), ("operator", "part"))
    with pytest.raises(FabFitError, match="repeatability SS = 0"):
        gauge_nested(df.assign(value=df["operator"].astype(float) + df["part"].astype(float)),
                     ("operator", "part"))
    with pytest.raises(FabDataError, match="infinite"):  # was accepted by gauge_rr: inf SS
        gauge_rr(_msa4().assign(value=lambda d: d["value"].where(d.index != 3, np.inf)))


@pytest.mark.parametrize("module", ["fabnb.metrology", "fabnb.metrology.gauge", "fabnb.metrology.nested",
                                    "fabnb.metrology.fleet", "fabnb.plot.metrology"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_components_plot_takes_every_study_kind():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fabnb.plot.metrology import gauge_components_plot

    with pytest.warns(UserWarning):
        ar = gauge_rr(_msa4(), method="average_range")
    for study in (gauge_rr(_msa4()), ar, check_standard(OHM100, n=6)):
        ax = gauge_components_plot(study)
        assert [t.get_text() for t in ax.get_xticklabels()] == list(study.components.index[:-1])
        plt.close(ax.figure)
