"""fabnb.vm: time-ordered CV without leakage, tool bias, the R² ceiling flag, ONNX export."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

import fabnb
from fabnb import FabDataError
from fabnb.errors import FabParameterError
from fabnb.vm import MODELS, VirtualMetrology, export_onnx, make_pipeline, onnx_predict


def _labels(rng, n=240, p=8, sd_gauge=0.5, tool_offset=None):
    """Known linear VM relation: y = X·β + gauge noise (+ metrology-tool offset)."""
    X = rng.normal(size=(n, p))
    beta = np.r_[1.5, -1.0, 0.8, np.zeros(p - 3)]
    y = 10 + X @ beta + rng.normal(0, sd_gauge, n)
    tool = rng.choice(["M1", "M2"], size=n)
    if tool_offset:
        y = y + np.where(tool == "M2", tool_offset, 0.0)
    return X, y, tool


def test_time_ordered_cv_never_trains_on_the_future():
    rng = np.random.default_rng(0)
    X, y, _ = _labels(rng)
    time = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.permutation(len(y)) * 3600, unit="s")
    vm = VirtualMetrology("ridge", n_splits=5).fit(X, y, time=np.asarray(time))
    assert len(vm.cv_folds_) == 5
    t = np.asarray(time)
    for _, fold in vm.cv_folds_.iterrows():
        assert t[fold["train_rows"]].max() < t[fold["test_rows"]].min()
        assert not set(fold["train_rows"]) & set(fold["test_rows"])
    tested = np.concatenate(list(vm.cv_folds_["test_rows"]))
    assert np.sort(t[tested])[0] > np.sort(t)[len(t) // 6 - 1]  # the first block is never a test


@pytest.mark.parametrize("model", MODELS)
def test_onnx_runtime_reproduces_sklearn(tmp_path, model):
    rng = np.random.default_rng(1)
    X, y, _ = _labels(rng, n=150)
    vm = VirtualMetrology(model, n_splits=0).fit(X, y)
    path = export_onnx(vm, tmp_path / f"{model}.onnx", opset=17, check_X=X)
    X_new = rng.normal(size=(50, X.shape[1]))
    np.testing.assert_allclose(onnx_predict(path, X_new), vm.predict(X_new), rtol=0, atol=1e-5)
    assert not list(tmp_path.glob("*.tmp"))


def test_bias_correction_by_metrology_tool():
    rng = np.random.default_rng(2)
    X, y, tool = _labels(rng, tool_offset=2.0, sd_gauge=0.3)
    plain = VirtualMetrology("ridge").fit(X, y, time=np.arange(len(y)))
    biased = VirtualMetrology("ridge").fit(X, y, time=np.arange(len(y)), tool=tool)
    assert biased.tool_bias_["M2"] - biased.tool_bias_["M1"] == pytest.approx(2.0, abs=0.15)
    assert biased.cv_r2_ > plain.cv_r2_ + 0.1
    shift = biased.predict(X[:5], tool=["M2"] * 5) - biased.predict(X[:5], tool=["M1"] * 5)
    np.testing.assert_allclose(shift, biased.tool_bias_["M2"] - biased.tool_bias_["M1"])
    with pytest.raises(FabDataError, match="without a metrology tool id"):
        VirtualMetrology("ridge").fit(X, y, tool=np.where(np.arange(len(y)) == 4, None, tool))


def test_r2_ceiling_flags_a_model_that_fits_gauge_noise():
    rng = np.random.default_rng(3)
    X, y, _ = _labels(rng, sd_gauge=0.5)
    gauge = fabnb.metrology.gauge_rr(_gauge_study(rng, sd_e=0.5))
    honest = VirtualMetrology("ridge", gauge=gauge).fit(X, y, time=np.arange(len(y)))
    assert honest.r2_ceiling_ == pytest.approx(1 - gauge.sigma2_grr / np.var(y, ddof=1))
    assert 0.8 < honest.cv_r2_ <= honest.r2_ceiling_ + 0.02 and not honest.above_ceiling_
    leaky = np.c_[X, y + rng.normal(0, 0.01, len(y))]  # the label itself leaked into a feature
    cheat = VirtualMetrology("ridge", gauge=gauge).fit(leaky, y, time=np.arange(len(y)))
    assert cheat.cv_r2_ > cheat.r2_ceiling_ and cheat.above_ceiling_
    assert bool(cheat.summary()["above_ceiling"])


def _gauge_study(rng, sd_e):
    part = np.repeat(np.arange(15), 6)
    op = np.tile(np.repeat(np.arange(3), 2), 15)
    y = rng.normal(0, 2, 15)[part] + rng.normal(0, sd_e, part.size)
    return pd.DataFrame({"part": part, "operator": op, "value": y})


def test_vm_on_synthetic_trace_features_recovers_known_relation():
    ds = fabnb.synth.fab("small", seed=0, n_lots=6, wafers_per_lot=(10, 10))
    t = fabnb.synth.tables(ds)
    feats = fabnb.trace.trace_features(fabnb.trace.fab_join(t["mes"], t["trace"], step=["S05", "S22"]))
    wide = fabnb.trace.feature_matrix(feats, stats=("mean",))
    z = (wide - wide.mean()) / wide.std()
    # documented label model: thickness = 50 + 2·z(S22 rf power) − 1.5·z(S05 pressure) + N(0, 0.2)
    rng = np.random.default_rng(0)
    y = 50 + 2 * z["S22:rf_power_W:mean"] - 1.5 * z["S05:pressure_mTorr:mean"] + rng.normal(0, 0.2, len(z))
    cols = list(wide.columns)
    time = ds["time"].sel(wafer=wide.index).values
    vm = VirtualMetrology("ridge", alpha=0.1, n_splits=4, gauge=0.04).fit(wide[cols], y, time=time)
    assert vm.cv_r2_ > 0.85
    assert not vm.above_ceiling_
    coef = pd.Series(vm.pipeline_[-1].coef_ / vm.pipeline_[0].scale_ * wide[cols].std().to_numpy(),
                     index=cols)
    assert coef["S22:rf_power_W:mean"] == pytest.approx(2.0, abs=0.3)
    assert coef["S05:pressure_mTorr:mean"] == pytest.approx(-1.5, abs=0.3)


def test_bad_vm_input():
    rng = np.random.default_rng(4)
    X, y, _ = _labels(rng, n=60)
    X[7, 2] = np.nan
    with pytest.raises(FabDataError, match="row 7, feature 2"):
        VirtualMetrology().fit(X, y)
    with pytest.raises(FabDataError, match="requires y"):
        VirtualMetrology().fit(np.nan_to_num(X), None)
    with pytest.raises(FabDataError, match="Complex data not supported"):  # was a silent cast
        VirtualMetrology().fit(np.nan_to_num(X) + 1j, y)
    with pytest.raises(FabDataError, match="Complex data not supported"):
        VirtualMetrology().fit(np.nan_to_num(X), y + 1j)
    mixed = np.nan_to_num(X).astype(object)
    mixed[0, 0] = {"a": 1}
    with pytest.raises(FabDataError, match="real number"):  # scikit-learn's checks want a TypeError
        VirtualMetrology().fit(mixed, y)
    with pytest.warns(DataConversionWarning):  # a column vector y, as scikit-learn says
        VirtualMetrology("ridge", n_splits=0).fit(np.nan_to_num(X), y[:, None])


@pytest.mark.parametrize("params, name", [
    ({"model": "svm"}, "model"), ({"n_components": 0}, "n_components"), ({"alpha": -1.0}, "alpha"),
    ({"n_splits": 1}, "n_splits"),  # was TimeSeriesSplit's own ValueError
    ({"n_splits": -2}, "n_splits"), ({"gauge": -0.1}, "gauge"), ({"gauge": "big"}, "gauge"),
    ({"seed": "zero"}, "seed"),
])
def test_bad_vm_parameters_name_the_parameter(params, name):
    X, y, _ = _labels(np.random.default_rng(4), n=60)
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of VirtualMetrology"):
        VirtualMetrology(**params).fit(X, y)


def test_unfitted_vm_and_bad_export_options(tmp_path):
    X, y, _ = _labels(np.random.default_rng(5), n=60)
    with pytest.raises(NotFittedError):  # was a hand-written FabFitError
        VirtualMetrology().predict(X)
    with pytest.raises(NotFittedError):  # was skl2onnx failing on the unfitted wrapper
        export_onnx(VirtualMetrology(), tmp_path / "vm.onnx", opset=17)
    vm = VirtualMetrology("ridge", n_splits=0).fit(X, y)
    for kw, name in (({"opset": 8}, "opset"), ({"opset": 17.0}, "opset"), ({"opset": 17, "atol": -1.0}, "atol")):
        with pytest.raises(FabParameterError, match=f"'{name}' parameter of export_onnx"):
            export_onnx(vm, tmp_path / "vm.onnx", **kw)
    with pytest.raises(FabParameterError, match="'model' parameter of export_onnx"):
        export_onnx("vm.pkl", tmp_path / "vm.onnx", opset=17)
    with pytest.raises(FabParameterError, match="'model' parameter of make_pipeline"):
        make_pipeline("svm")
    assert not list(tmp_path.iterdir())


@parametrize_with_checks([VirtualMetrology(n_splits=2), VirtualMetrology("ridge", n_splits=0)],
                         expected_failed_checks=lambda est: {
                             "check_dtype_object": "non-numeric values raise FabDataError, fabnb's one "
                                                   "data-error type, not TypeError (test_bad_vm_input)"},
                         xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    """#6: every scikit-learn check, warnings not suppressed.  The checks fit on as few as 10
    rows: n_splits=2 (needs 6 rows) keeps the time-ordered CV in the loop; the default 5
    folds need 12 rows and rightly refuse fewer (FabFitError)."""
    check(estimator)
