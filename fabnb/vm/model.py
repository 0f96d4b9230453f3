r"""Virtual metrology: predict a metrology label from trace features.

``VirtualMetrology`` wraps a scikit-learn pipeline (``StandardScaler`` + PLS or ridge;
gradient boosting alone, as trees are scale-free) and adds what fab use needs:

- **time-ordered cross-validation**: rows are sorted by ``time`` and split with
  ``TimeSeriesSplit``, so every test fold lies strictly after its training rows (no
  leakage from the future); ``cv_folds_`` records each fold's time ranges;
- **metrology-tool bias correction**: labels from a tool fleet carry per-tool offsets;
  with ``tool`` given, the model learns ``b_T`` = mean training residual of tool ``T``
  (inside each fold, from training rows only) and predicts ``f(x) + b_T`` for that tool;
- **R² ceiling**: with ``gauge`` (a :class:`fabnb.metrology.GaugeRR` or σ²_GRR) the
  ceiling ``1 − σ²_GRR/Var(y)`` sits next to the CV R²; ``above_ceiling_`` flags a
  model that scores above it, i.e. fits measurement noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.cross_decomposition import PLSRegression
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import TimeSeriesSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .._arrays import real_array
from .._params import CheckedParams, Integral, Interval, Options, Real, StrOptions, check_params
from ..errors import FabDataError, FabFitError
from ..metrology.gauge import GaugeRR, r2_ceiling

MODELS = ("pls", "ridge", "gbr")
PARAMETERS = {
    "model": [StrOptions(set(MODELS))],
    "n_components": [Interval(Integral, 1, None, closed="left")],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "seed": ["random_state"],
}


def make_pipeline(model: str = "pls", n_components: int = 3, alpha: float = 1.0,
                  seed: int = 0) -> Pipeline:
    """The scikit-learn pipeline behind a model name.

    Example
    -------
    >>> make_pipeline("ridge").steps[-1][0]
    'ridge'
    """
    check_params("make_pipeline", PARAMETERS, locals())
    if model == "pls":
        est = PLSRegression(n_components=n_components, scale=False)
    elif model == "ridge":
        est = Ridge(alpha=alpha)
    elif model == "gbr":
        est = GradientBoostingRegressor(n_estimators=200, max_depth=2, learning_rate=0.05,
                                        subsample=0.8, random_state=seed)
        return Pipeline([(model, est)])  # trees need no scaling
    return Pipeline([("scale", StandardScaler()), (model, est)])


def _as_matrix(X, where="X"):
    cols = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
    values = real_array(X, f"VirtualMetrology: {where}")
    if values.ndim != 2:
        raise FabDataError(f"VirtualMetrology: {where} must be 2-D (got shape {values.shape}); Reshape "
                           "your data with X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one row")
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        name = cols[j] if cols else int(j)
        raise FabDataError(f"VirtualMetrology: {where} has NaN/inf at row {int(i)}, feature {name!r}")
    return values, cols


class VirtualMetrology(CheckedParams, RegressorMixin, BaseEstimator):
    """Virtual-metrology regressor with time-ordered CV, tool bias and the R² ceiling.

    Parameters
    ----------
    model
        ``"pls"``, ``"ridge"`` or ``"gbr"`` (gradient boosting).
    n_components, alpha
        PLS components; ridge penalty.
    n_splits
        Folds of ``TimeSeriesSplit`` for :meth:`fit`'s cross-validation, at least 2 (0 = none).
    gauge
        GaugeRR result or σ²_GRR of the label's gauge, for the R² ceiling.
    seed
        Random state of gradient boosting.

    Attributes
    ----------
    pipeline_, cv_r2_, cv_folds_ (DataFrame of fold time ranges), cv_predictions_,
    tool_bias_ (Series), r2_ceiling_, above_ceiling_, feature_names_in_.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 4)); y = X @ [1.0, -0.5, 0, 0] + rng.normal(0, 0.3, 120)
    >>> vm = VirtualMetrology("ridge", gauge=0.09).fit(X, y, time=np.arange(120))
    >>> bool(vm.cv_r2_ <= vm.r2_ceiling_ + 0.05)
    True
    """

    _parameter_constraints = {
        **PARAMETERS,
        # TimeSeriesSplit needs two folds; 0 skips the cross-validation
        "n_splits": [Options(Integral, {0}), Interval(Integral, 2, None, closed="left")],
        "gauge": [None, GaugeRR, Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, model: str = "pls", n_components: int = 3, alpha: float = 1.0,
                 n_splits: int = 5, gauge=None, seed: int = 0):
        self.model = model
        self.n_components = n_components
        self.alpha = alpha
        self.n_splits = n_splits
        self.gauge = gauge
        self.seed = seed

    def _pipeline(self, n_features):
        return make_pipeline(self.model, min(self.n_components, n_features), self.alpha,
                             self.seed)

    @staticmethod
    def _fit_one(pipe, X, y, tool):
        pipe.fit(X, y)
        if tool is None:
            return pipe, pd.Series(dtype=float)
        resid = y - np.ravel(pipe.predict(X))
        return pipe, pd.Series(resid).groupby(np.asarray(tool)).mean()

    @staticmethod
    def _apply_bias(pred, tool, bias):
        if tool is None or bias.empty:
            return pred
        return pred + pd.Series(np.asarray(tool)).map(bias).fillna(0.0).to_numpy()

    def fit(self, X, y, *, time=None, tool=None):
        """Fit on all rows; cross-validate in time order first when ``n_splits`` > 0.

        ``time`` orders the rows (default: row order); ``tool`` is each label's
        metrology tool id (missing ids raise ``FabDataError``).
        """
        self._validate_params()
        Xv, cols = _as_matrix(X)
        if y is None:
            raise FabDataError("VirtualMetrology requires y to be passed, but the target y is None")
        try:  # a column vector is accepted with scikit-learn's DataConversionWarning; complex is not
            yv = np.asarray(column_or_1d(y, warn=True), dtype=float)
        except (TypeError, ValueError) as err:
            raise FabDataError(f"VirtualMetrology: {err}") from None
        if yv.size != Xv.shape[0]:
            raise FabDataError(f"VirtualMetrology: X has {Xv.shape[0]} rows, y {yv.size}")
        if not np.isfinite(yv).all():
            raise FabDataError(f"VirtualMetrology: y has NaN at row "
                               f"{int(np.flatnonzero(~np.isfinite(yv))[0])}")
        if tool is not None:
            tool = pd.Series(np.asarray(tool, dtype=object))
            missing = tool.isna() | (tool.astype(str).str.strip() == "")
            if missing.any():
                raise FabDataError(f"VirtualMetrology: {int(missing.sum())} labels without a "
                                   f"metrology tool id (first row {int(np.flatnonzero(missing)[0])})")
            tool = tool.astype(str).to_numpy()
        if Xv.shape[0] < 2 * max(self.n_splits, 1) + 2:
            raise FabFitError(f"VirtualMetrology: n_samples = {Xv.shape[0]} rows are too few for "
                              f"{self.n_splits} time-ordered folds (need {2 * max(self.n_splits, 1) + 2})")
        order = np.argsort(np.asarray(time), kind="stable") if time is not None else np.arange(yv.size)
        t_sorted = (np.asarray(time)[order] if time is not None else order)
        self.feature_names_in_ = np.asarray(cols, dtype=object) if cols else None
        self.n_features_in_ = Xv.shape[1]
        self.cv_r2_, self.cv_folds_, self.cv_predictions_ = np.nan, None, None
        if self.n_splits:
            self._cross_validate(Xv[order], yv[order], None if tool is None else tool[order],
                                 order, t_sorted)
        self.pipeline_, self.tool_bias_ = self._fit_one(self._pipeline(Xv.shape[1]), Xv, yv, tool)
        self.r2_ceiling_ = (np.nan if self.gauge is None else
                            r2_ceiling(getattr(self.gauge, "sigma2_grr", self.gauge),
                                       label_variance=float(np.var(yv, ddof=1))))
        self.above_ceiling_ = bool(np.isfinite(self.r2_ceiling_) and self.cv_r2_ > self.r2_ceiling_)
        return self

    def _cross_validate(self, X, y, tool, order, t_sorted):
        pred = np.full(y.size, np.nan)
        folds = []
        for k, (train, test) in enumerate(TimeSeriesSplit(self.n_splits).split(X)):
            pipe, bias = self._fit_one(self._pipeline(X.shape[1]), X[train], y[train],
                                       None if tool is None else tool[train])
            pred[test] = self._apply_bias(np.ravel(pipe.predict(X[test])),
                                          None if tool is None else tool[test], bias)
            folds.append({"fold": k, "train_rows": order[train], "test_rows": order[test],
                          "train_end": t_sorted[train].max(), "test_start": t_sorted[test].min(),
                          "test_end": t_sorted[test].max(),
                          "r2": r2_score(y[test], pred[test])})
        tested = np.isfinite(pred)
        self.cv_r2_ = float(r2_score(y[tested], pred[tested]))
        self.cv_folds_ = pd.DataFrame(folds).set_index("fold")
        self.cv_predictions_ = pd.DataFrame({"row": order[tested], "y": y[tested],
                                             "pred": pred[tested]})

    def predict(self, X, *, tool=None):
        """Predicted label; with ``tool``, on that metrology tool's scale (bias added)."""
        check_is_fitted(self)
        Xv, _ = _as_matrix(X)
        if Xv.shape[1] != self.n_features_in_:
            raise FabDataError(f"X has {Xv.shape[1]} features, but VirtualMetrology is expecting "
                               f"{self.n_features_in_} features as input")
        return self._apply_bias(np.ravel(self.pipeline_.predict(Xv)), tool, self.tool_bias_)

    def summary(self) -> pd.Series:
        """CV R², the R² ceiling and the above-ceiling flag side by side."""
        return pd.Series({"model": self.model, "cv_r2": self.cv_r2_,
                          "r2_ceiling": self.r2_ceiling_, "above_ceiling": self.above_ceiling_})
