"""fabnb.vmin: BA / RBA against statsmodels fixed-effects OLS, the paper's iteration
against the exact solution, recovered biases against the simulator's truth, new-wafer
prediction from class probe, CFS against brute force and scipy, bad input."""

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from fabnb import FabDataError, FabFitError
from fabnb.errors import FabParameterError
from fabnb.vmin import (
    BiasAlignment,
    LinearVmin,
    RestrictedBiasAlignment,
    cfs_merit,
    cfs_select,
    fit_vmin,
    study,
    vmin_frame,
)

ZONES = ["center", "inner", "outer", "edge"]


@pytest.fixture(scope="module")
def dc25(fab_small):
    ds, truth = fab_small
    return vmin_frame(ds, "dc_25", truth["vmin_features"], etests=truth["vmin_etests"])


def _generated(seed=1, n_wafers=8, dies=10, wafer_level=0.5):
    """Balanced data from the RBA model with features partly shared within a wafer."""
    rng = np.random.default_rng(seed)
    wc = np.repeat(np.arange(n_wafers), 4 * dies)
    wafer = np.array([f"W{k}" for k in range(n_wafers)])[wc]
    zone = np.tile(np.repeat(ZONES, dies), n_wafers)
    X = rng.normal(size=(len(wc), 3)) + wafer_level * rng.normal(size=(n_wafers, 3))[wc]
    intra = np.tile(np.repeat([-0.01, 0.0, 0.003, 0.007], dies), n_wafers)
    y = X @ [0.3, -0.2, 0.1] + rng.normal(0, 0.02, n_wafers)[wc] + intra + rng.normal(0, 0.005, len(wc))
    return X, y, wafer, zone


def _table(frame):
    df = frame.X.copy()
    df["y"], df["wafer"], df["zone"] = frame.y, frame.wafer, np.asarray(frame.zone, dtype=object)
    return df


def test_ba_equals_statsmodels_cell_fixed_effects(dc25):
    df = _table(dc25)
    feats = list(dc25.X.columns)
    ols = smf.ols(f"y ~ 0 + C(wafer):C(zone) + {' + '.join(feats)}", data=df).fit()
    ba = BiasAlignment().fit(*dc25.fit_args())
    np.testing.assert_allclose(ba.coef_, ols.params[feats].to_numpy(), rtol=1e-8, atol=0)
    np.testing.assert_allclose(ba.predict(dc25.X, dc25.wafer, dc25.zone), ols.fittedvalues,
                               rtol=0, atol=1e-8)


def test_exact_rba_equals_statsmodels_additive_fixed_effects(dc25):
    df = _table(dc25)
    feats = list(dc25.X.columns)
    ols = smf.ols(f"y ~ C(wafer) + C(zone, Treatment('center')) + {' + '.join(feats)}",
                  data=df).fit()
    rba = RestrictedBiasAlignment(solver="exact").fit(*dc25.fit_args())
    np.testing.assert_allclose(rba.coef_, ols.params[feats].to_numpy(), rtol=1e-8, atol=0)
    np.testing.assert_allclose(rba.predict(dc25.X, dc25.wafer, dc25.zone), ols.fittedvalues,
                               rtol=0, atol=1e-8)
    shift = rba.intra_shift().set_index("zone")["shift"]
    for z in ("inner", "outer", "edge"):
        assert shift[z] == pytest.approx(ols.params[f"C(zone, Treatment('center'))[T.{z}]"], abs=1e-8)
    assert shift["center"] == 0.0
    assert abs(rba.intra_bias_.sum()) < 1e-12


def test_paper_iteration_converges_to_exact_solution():
    X, y, wafer, zone = _generated()
    exact = RestrictedBiasAlignment(solver="exact").fit(X, y, wafer, zone)
    paper = RestrictedBiasAlignment(solver="paper", tol=1e-14, max_iter=5000).fit(X, y, wafer, zone)
    assert 1 < paper.n_iter_ < 5000
    assert np.all(np.diff(paper.loss_history_) <= 1e-15)  # each sweep lowers the loss
    np.testing.assert_allclose(paper.coef_, exact.coef_, atol=1e-8)
    np.testing.assert_allclose(paper.inter_bias_, exact.inter_bias_, atol=1e-7)
    np.testing.assert_allclose(paper.intra_bias_, exact.intra_bias_, atol=1e-8)
    ba = BiasAlignment().fit(X, y, wafer, zone)
    start = np.mean((y - X @ ba.coef_ - ba.inter_bias_[wafer].to_numpy()
                     - ba.intra_bias_[zone].to_numpy()) ** 2)
    assert paper.loss_history_[0] == pytest.approx(start, rel=1e-12)  # starts from BA


def test_paper_default_tolerance_stops_near_exact(dc25):
    exact = RestrictedBiasAlignment(solver="exact").fit(*dc25.fit_args())
    paper = RestrictedBiasAlignment().fit(*dc25.fit_args())
    assert paper.loss_ >= exact.loss_ * (1 - 1e-12)
    assert paper.loss_ < exact.loss_ * 1.01
    np.testing.assert_allclose(paper.intra_bias_, exact.intra_bias_, atol=1e-3)


@pytest.mark.parametrize("vmin_test", ["dc_25", "ac_25", "mbist_m45"])
def test_recovered_biases_and_weights_match_truth(fab_small, vmin_test):
    ds, truth = fab_small
    frame = vmin_frame(ds, vmin_test, truth["vmin_features"])
    sd = float(truth["vmin_noise_sd"].sel(vmin_test=vmin_test))
    rba = RestrictedBiasAlignment(solver="exact").fit(*frame.fit_args())
    n_zone = pd.Series(np.asarray(frame.zone)).value_counts()[rba.intra_bias_.index].to_numpy()
    intra_true = truth["intra_bias"].sel(vmin_test=vmin_test).to_series()[rba.intra_bias_.index]
    assert np.max(np.abs(rba.intra_bias_ - intra_true) / (sd / np.sqrt(n_zone))) < 5
    inter_true = truth["inter_bias"].sel(vmin_test=vmin_test).to_series()[rba.inter_bias_.index]
    err = (rba.inter_bias_ - inter_true) - (rba.inter_bias_ - inter_true).mean()
    n_wafer = pd.Series(frame.wafer).value_counts()[rba.inter_bias_.index].to_numpy()
    z = err.to_numpy() / (sd / np.sqrt(n_wafer))
    assert np.sqrt(np.mean(z**2)) < 2 and np.max(np.abs(z)) < 5
    # weights within 4 standard errors of the truth (SEs from the equivalent statsmodels OLS)
    df = _table(frame)
    feats = list(frame.X.columns)
    ols = smf.ols(f"y ~ C(wafer) + C(zone) + {' + '.join(feats)}", data=df).fit()
    w_true = truth["vmin_weights"].sel(vmin_test=vmin_test, feature=feats).to_numpy()
    assert np.all(np.abs(rba.coef_ - w_true) < 4 * ols.bse[feats].to_numpy())


def test_new_wafer_prediction_beats_linear_regression(fab_small):
    ds, truth = fab_small
    frame = vmin_frame(ds, "dc_125", truth["vmin_features"], etests=truth["vmin_etests"])
    held_out = np.random.default_rng(0).choice(np.unique(frame.wafer), 6, replace=False)
    train = frame.subset(~np.isin(frame.wafer, held_out))
    test = frame.of_wafers(held_out)
    rba = RestrictedBiasAlignment().fit(*train.fit_args(), z=frame.z)
    lr = LinearVmin().fit(*train.fit_args())
    rmse_rba = np.sqrt(np.mean((rba.predict(test.X, test.wafer, test.zone, z=frame.z) - test.y) ** 2))
    rmse_lr = np.sqrt(np.mean((lr.predict(test.X, test.wafer, test.zone) - test.y) ** 2))
    sd = float(truth["vmin_noise_sd"].sel(vmin_test="dc_125"))
    assert rmse_rba < 0.8 * rmse_lr
    assert rmse_rba < 1.5 * sd
    # the class-probe coefficients are the simulator's Γ, within a loose tolerance
    gamma = truth["vmin_etest_coef"].sel(vmin_test="dc_125").to_series()
    np.testing.assert_allclose(rba.class_probe_coef_[gamma.index], gamma, rtol=0.35)


def test_study_tables_and_seeds_reproduce(fab_small):
    ds, truth = fab_small
    feats = truth["vmin_features"]
    a = study.rmse_table(ds, ["dc_25"], features=feats, seed=3)
    b = study.rmse_table(ds, ["dc_25"], features=feats, seed=3)
    c = study.rmse_table(ds, ["dc_25"], features=feats, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    overall = a.groupby("model")["rmse"].mean()
    assert overall["BA"] < overall["LR"] and overall["RBA"] < overall["LR"]
    frame = vmin_frame(ds, "dc_25", feats)
    t1, _ = frame.split(0.75, seed=5)
    t2, _ = frame.split(0.75, seed=5)
    np.testing.assert_array_equal(t1.die, t2.die)


def test_cfs_best_first_finds_the_brute_force_optimum_and_drops_redundant_copy():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 5)), columns=list("abcde"))
    X["a2"] = X["a"] + 0.05 * rng.normal(size=400)
    for y, drivers in ((X["a"] + X["b"] + 0.3 * rng.normal(size=400), ["a", "b"]),
                       (X["a"] + 0.7 * X["b"] + 0.4 * X["c"] + 0.5 * rng.normal(size=400), None)):
        best = max((s for k in range(1, 7) for s in itertools.combinations(X.columns, k)),
                   key=lambda s: cfs_merit(X, y, s))
        assert sorted(cfs_select(X, y)) == sorted(best)
        greedy = cfs_select(X, y, search="forward")  # may stop in a local optimum
        assert cfs_merit(X, y, greedy) <= cfs_merit(X, y, best) + 1e-12
        if drivers:  # the redundant copy of "a" is left out
            assert sorted(best) == drivers


def test_cfs_merit_matches_hall_formula_with_scipy_correlations():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3))
    X[:, 1] += 0.5 * X[:, 0]
    y = X[:, 0] - X[:, 2] + rng.normal(size=50)
    r_cf = np.mean([abs(stats.pearsonr(X[:, j], y)[0]) for j in range(3)])
    r_ff = np.mean([abs(stats.pearsonr(X[:, i], X[:, j])[0]) for i, j in [(0, 1), (0, 2), (1, 2)]])
    assert cfs_merit(X, y, [0, 1, 2]) == pytest.approx(3 * r_cf / np.sqrt(3 + 6 * r_ff), rel=1e-12)


def test_cfs_on_class_probe_picks_the_simulators_drivers(fab_small, dc25):
    _, truth = fab_small
    ds = fab_small[0]
    frame = vmin_frame(ds, "dc_25", truth["vmin_features"])
    rba = RestrictedBiasAlignment(solver="exact").fit(*frame.fit_args())
    z = frame.z.loc[rba.inter_bias_.index]
    assert sorted(cfs_select(z, rba.inter_bias_)) == sorted(truth["vmin_etests"])


def test_vmin_frame_matches_the_dataset(fab_small):
    ds, _ = fab_small
    frame = vmin_frame(ds, "ac_m45", ["T03", "T11"])
    vmin = ds["vmin"].sel(vmin_test="ac_m45")
    assert len(frame) == int(np.isfinite(vmin).sum())
    w_pos = pd.Index(ds["wafer"].values).get_indexer(frame.wafer)
    np.testing.assert_array_equal(frame.y, vmin.values[w_pos, frame.die])
    np.testing.assert_array_equal(frame.X["T11"], ds["value"].sel(test="T11").values[w_pos, frame.die])
    np.testing.assert_array_equal(np.asarray(frame.zone, dtype=object), ds["zone"].values[frame.die])
    assert list(frame.z.index) == list(ds["wafer"].values)
    with pytest.raises(FabDataError, match="T99"):
        vmin_frame(ds, "ac_m45", ["T03", "T99"])
    with pytest.raises(FabDataError, match="dc_999"):
        vmin_frame(ds, "dc_999", ["T03"])


def test_estimators_follow_sklearn_conventions(dc25):
    model = RestrictedBiasAlignment(solver="exact", eta=0.2)
    assert clone(model).get_params() == model.get_params()
    assert model.fit(*dc25.fit_args()) is model
    assert isinstance(model.inter_bias_, pd.Series) and model.inter_bias_.index.name == "wafer"
    assert list(model.intra_bias_.index) == ZONES


# --- bad input -----------------------------------------------------------------------

def test_zone_without_training_dies_is_named():
    X, y, wafer, zone = _generated()
    keep = zone != "edge"
    cat = pd.Categorical(zone[keep], categories=ZONES)
    for model in (BiasAlignment(), RestrictedBiasAlignment()):
        with pytest.raises(FabFitError, match="edge"):
            model.fit(X[keep], y[keep], wafer[keep], cat)
    rba = RestrictedBiasAlignment().fit(X[keep], y[keep], wafer[keep], zone[keep])
    with pytest.raises(FabDataError, match="edge"):
        rba.predict(X[~keep], wafer[~keep], zone[~keep])
    with pytest.raises(FabDataError, match="edge"):
        BiasAlignment().fit(X[keep], y[keep], wafer[keep], zone[keep]).predict(
            X[~keep], wafer[~keep], zone[~keep])


def test_new_wafer_without_class_probe_is_named(dc25):
    train = dc25.subset(dc25.wafer != dc25.wafer[0])
    new = dc25.of_wafers([dc25.wafer[0]])
    plain = RestrictedBiasAlignment().fit(*train.fit_args())
    with pytest.raises(FabDataError, match=dc25.wafer[0]):
        plain.predict(new.X, new.wafer, new.zone)
    with_z = RestrictedBiasAlignment().fit(*train.fit_args(), z=dc25.z)
    with pytest.raises(FabDataError, match=dc25.wafer[0]):
        with_z.predict(new.X, new.wafer, new.zone)  # no z given
    z = dc25.z.copy()
    z.loc[dc25.wafer[0], "E05"] = np.nan
    with pytest.raises(FabDataError, match=f"{dc25.wafer[0]}.*E05"):
        with_z.predict(new.X, new.wafer, new.zone, z=z)
    with pytest.raises(FabDataError, match=dc25.wafer[0]):
        with_z.predict(new.X, new.wafer, new.zone, z=z.drop(index=dc25.wafer[0]))


def test_collinear_features_are_named():
    X, y, wafer, zone = _generated()
    X = pd.DataFrame(X, columns=["T03", "T05", "T14"])
    X["T11"] = 2 * X["T03"] - X["T05"]
    for model in (LinearVmin(), BiasAlignment(), RestrictedBiasAlignment(),
                  RestrictedBiasAlignment(solver="exact")):
        with pytest.raises(FabFitError, match="T11"):
            model.fit(X, y, wafer, zone)


def test_fewer_dies_than_features_is_an_error():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(6, 8)), columns=[f"T{k:02d}" for k in range(8)])
    y, wafer, zone = rng.normal(size=6), ["w"] * 6, ZONES + ZONES[:2]
    for model in (LinearVmin(), BiasAlignment(), RestrictedBiasAlignment(solver="exact")):
        with pytest.raises(FabFitError, match="fewer dies|dies for"):
            model.fit(X, y, wafer, zone)


def test_missing_feature_value_names_wafer_zone_and_feature():
    X, y, wafer, zone = _generated()
    X = pd.DataFrame(X, columns=["T03", "T05", "T14"])
    X.loc[17, "T14"] = np.nan
    with pytest.raises(FabDataError, match=f"T14.*{wafer[17]}.*{zone[17]}"):
        RestrictedBiasAlignment().fit(X, y, wafer, zone)


def test_paper_solver_starts_from_lr_when_ba_is_not_identifiable():
    X, y, wafer, zone = _generated(dies=1)  # one die per wafer × zone cell
    with pytest.raises(FabFitError, match="fewer dies than features"):
        BiasAlignment().fit(X, y, wafer, zone)
    paper = RestrictedBiasAlignment(tol=1e-14, max_iter=20_000).fit(X, y, wafer, zone)
    exact = RestrictedBiasAlignment(solver="exact").fit(X, y, wafer, zone)
    assert paper.init_ == "LR"
    np.testing.assert_allclose(paper.coef_, exact.coef_, atol=1e-7)


def test_class_probe_varying_within_a_wafer_is_named():
    X, y, wafer, zone = _generated()
    z = np.repeat(np.arange(8.0), 40)[:, None]
    z[5, 0] += 1.0  # row 5 belongs to wafer W0
    with pytest.raises(FabDataError, match="W0"):
        RestrictedBiasAlignment().fit(X, y, wafer, zone, z=z)


# --- the parameter and fitted-state contract (#6) ------------------------------------

@pytest.mark.parametrize("params, name", [
    ({"solver": "fast"}, "solver"),
    ({"eta": 0.0}, "eta"),
    ({"eta": 1.5}, "eta"),
    ({"tol": 0.0}, "tol"),
    ({"tol": np.nan}, "tol"),
    ({"max_iter": 0}, "max_iter"),
    ({"max_iter": 2.5}, "max_iter"),
    ({"class_probe": "E05"}, "class_probe"),  # a bare string would be read letter by letter
])
def test_rba_bad_parameters_name_the_parameter(params, name):
    X, y, wafer, zone = _generated()
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of RestrictedBiasAlignment"):
        RestrictedBiasAlignment(**params).fit(X, y, wafer, zone)


def test_bad_options_of_the_vmin_functions_name_the_option(fab_small):
    ds, truth = fab_small
    frame = vmin_frame(ds, "dc_25", truth["vmin_features"])
    X, y, _, _ = _generated()
    cases = [
        (lambda: fit_vmin(ds, "dc_25", truth["vmin_features"], model="svm"), "model", "fit_vmin"),
        (lambda: vmin_frame(ds, "dc_25", missing="skip"), "missing", "vmin_frame"),
        (lambda: frame.split(1.0), "train_fraction", "VminFrame.split"),
        (lambda: cfs_select(X, y, search="exhaustive"), "search", "cfs_select"),
        (lambda: cfs_select(X, y, max_stale=0), "max_stale", "cfs_select"),
        (lambda: cfs_select(X, y, max_features=0), "max_features", "cfs_select"),
        (lambda: study.rmse_table(ds, ["dc_25"], truth["vmin_features"], models=("LR", "GP")),
         "models", "rmse_table"),  # was a KeyError
        (lambda: study.rmse_table(ds, ["dc_25"], truth["vmin_features"], train_fraction=0.0),
         "train_fraction", "rmse_table"),
        (lambda: study.class_probe_r2_table(ds, ["dc_25"], truth["vmin_features"], held_out=1.0),
         "held_out", "class_probe_r2_table"),
        (lambda: study.new_wafer_table(ds, ["dc_125"], truth["vmin_features"], n_test_wafers=0),
         "n_test_wafers", "new_wafer_table"),
        (lambda: study.data_efficiency_table(ds, ["dc_25"], (0.75, 1.5), truth["vmin_features"]),
         "train_fraction", "data_efficiency_table"),
        (lambda: RestrictedBiasAlignment().fit(*frame.fit_args()).intra_shift("middle"), "base_zone",
         r"RestrictedBiasAlignment.intra_shift"),
        (lambda: BiasAlignment().fit(*frame.fit_args()).inter_shift("W99"), "base_wafer",
         r"BiasAlignment.inter_shift"),
    ]
    for call, name, owner in cases:
        with pytest.raises(FabParameterError, match=f"'{name}' parameter of {owner}"):
            call()


@pytest.mark.parametrize("model", [LinearVmin(), BiasAlignment(), RestrictedBiasAlignment()])
def test_unfitted_use_raises_not_fitted(model):
    X, _, wafer, zone = _generated()
    with pytest.raises(NotFittedError):
        model.predict(X, wafer, zone)
    if isinstance(model, RestrictedBiasAlignment):
        with pytest.raises(NotFittedError):  # was "fitted without z", which it was not
            model.predict_inter_bias(pd.DataFrame({"E05": [1.0]}, index=pd.Index(["w"], name="wafer")))
        with pytest.raises(NotFittedError):
            model.intra_shift()


def test_one_feature_as_a_1d_array_and_unusable_input():
    X, y, wafer, zone = _generated()
    flat = LinearVmin().fit(X[:, 0], y, wafer, zone)  # was an IndexError
    col = LinearVmin().fit(X[:, :1], y, wafer, zone)
    np.testing.assert_allclose(flat.coef_, col.coef_, rtol=1e-12)
    with pytest.raises(FabDataError, match="Reshape your data"):
        LinearVmin().fit(X, y, wafer, zone).predict(X[0], wafer[:3], zone[:3])
    with pytest.raises(FabDataError, match="Complex data not supported"):  # was a silent cast
        LinearVmin().fit(X + 1j, y, wafer, zone)
    with pytest.raises(FabDataError, match="Complex data not supported"):
        LinearVmin().fit(X, y + 1j, wafer, zone)
    mixed = X.astype(object)
    mixed[0, 0] = {"a": 1}
    with pytest.raises(FabDataError, match="real number"):  # scikit-learn's checks want a TypeError
        LinearVmin().fit(mixed, y, wafer, zone)


class _OneCell:
    """The scikit-learn checks call ``fit(X, y)`` and ``predict(X)``: these subclasses put
    every die on one wafer in one zone, so the checks exercise the estimators' own
    parameters, input validation, fitted state, pickling and cloning.  (The bias models
    then reduce to least squares with one intercept, which the checks' data allow.)"""

    def fit(self, X, y):
        n = np.shape(X)[0]
        return super().fit(X, y, ["w"] * n, ["center"] * n)

    def predict(self, X):
        n = np.shape(X)[0]
        return super().predict(X, ["w"] * n, ["center"] * n)


class LinearVminOneCell(_OneCell, LinearVmin):
    pass


class BiasAlignmentOneCell(_OneCell, BiasAlignment):
    pass


class RestrictedBiasAlignmentOneCell(_OneCell, RestrictedBiasAlignment):
    pass


VMIN_DEVIATIONS = {
    "check_fit1d": "a 1-D X is one feature (test_one_feature_as_a_1d_array_and_unusable_input)",
    "check_dtype_object": "non-numeric values raise FabDataError, fabnb's one data-error type, not "
                          "TypeError (test_one_feature_as_a_1d_array_and_unusable_input)",
}


@parametrize_with_checks([LinearVminOneCell(), BiasAlignmentOneCell(), RestrictedBiasAlignmentOneCell(),
                          RestrictedBiasAlignmentOneCell(solver="exact")],
                         expected_failed_checks=lambda est: VMIN_DEVIATIONS, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    """#6: every scikit-learn check, warnings not suppressed (see :class:`_OneCell`)."""
    check(estimator)
