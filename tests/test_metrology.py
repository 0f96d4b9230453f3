"""fabnb.metrology against a published gauge study, statsmodels, and simulated truth."""

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
