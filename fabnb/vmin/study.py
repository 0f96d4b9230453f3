"""The paper's study as functions: each returns one of its tables as a DataFrame.

On a contract Dataset with ``vmin`` (e.g. ``fabnb.synth.fab()``):

- :func:`rmse_table` – test RMSE per Vmin test × model × wafer × zone for LR, BA and RBA
  after a 75 % / 25 % split within each wafer zone (Tables II-IV; :func:`paper_layout`
  pivots one test into the paper's wafer × zone layout);
- :func:`data_efficiency_table` – overall RMSE with 75 % and with 5 % training (Table VII);
- :func:`class_probe_correlation_table` – correlation of each class-probe parameter with
  the estimated inter-wafer shift, and the top-1 (Table VIII);
- :func:`class_probe_r2_table` – R² of the 2-feature class-probe model of the
  inter-wafer shift on held-out wafers (Table IX);
- :func:`new_wafer_table` – RMSE on wafers never seen in training, 6 training / 4 test
  wafers, 125 °C (Table X);
- :func:`shift_recovery_table` – estimated shifts and weights against a known truth.

Features default to CFS (Hall 1999) on the training dies, correlations taken within
wafer × zone cells (what BA's shared weights must explain), as the paper selects them.

>>> import fabnb
>>> from fabnb.vmin import study
>>> ds = fabnb.synth.fab("small")
>>> t = study.data_efficiency_table(ds, ["dc_25"], features=["T03", "T05", "T14", "T11"],
...                                 progress=False)
>>> bool((t.loc["dc_25", (0.75, "RBA")] < t.loc["dc_25", (0.75, "LR")]))
True
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._params import Integral, Interval, Real, check_option, check_params
from ..errors import FabDataError, FabFitError
from .bias import BiasAlignment
from .cfs import cfs_select
from .frame import VminFrame, vmin_frame
from .linear import LinearVmin
from .rba import RestrictedBiasAlignment

PAPER_TESTS = ("dc_m45", "dc_25", "ac_m45", "ac_25", "mbist_m45", "mbist_25")
HOT_TESTS = ("dc_125", "ac_125", "mbist_125")
MODELS = {"LR": LinearVmin, "BA": BiasAlignment, "RBA": RestrictedBiasAlignment}
# the study's numeric parameters, one rule each; every table checks the ones it takes
PARAMETERS = {
    "train_fraction": [Interval(Real, 0, 1, closed="neither")],
    "held_out": [Interval(Real, 0, 1, closed="neither")],
    "n_probe": [Interval(Integral, 1, None, closed="left")],
    "n_train_wafers": [Interval(Integral, 1, None, closed="left")],
    "n_test_wafers": [Interval(Integral, 1, None, closed="left")],
    "progress": ["boolean"],
}


def select_features(frame: VminFrame, max_features=None) -> list[str]:
    """CFS over the frame's feature columns, correlations within wafer × zone cells.

    >>> import fabnb
    >>> f = vmin_frame(fabnb.synth.fab("small"), "dc_25")
    >>> len(select_features(f, max_features=3))
    3
    """
    return cfs_select(frame.X, frame.y, groups=[frame.wafer, np.asarray(frame.zone, dtype=object)],
                      max_features=max_features)


def cfs_features(ds, vmin_tests=PAPER_TESTS, train_fraction=0.75, seed=0, progress=True) -> dict:
    """CFS-selected features per Vmin test, on the training dies of the same split that
    :func:`rmse_table` uses (``train_fraction``, ``seed``), so the test dies stay unseen.

    >>> import fabnb
    >>> sel = cfs_features(fabnb.synth.fab("small"), ["dc_25"], progress=False)
    >>> list(sel) == ["dc_25"] and len(sel["dc_25"]) > 0
    True
    """
    check_params("cfs_features", PARAMETERS, locals())
    return {vt: _frame(ds, vt, None, train_fraction, seed)[2]
            for vt in tqdm(list(vmin_tests), desc="CFS", disable=not progress)}


def _features_for(features, vmin_test):
    return features.get(vmin_test) if isinstance(features, dict) else features


def _frame(ds, vmin_test, features, train_fraction, seed, etests=None):
    """(train, test, features) with CFS on the training split when features is None."""
    full = vmin_frame(ds, vmin_test, None if features is None else features, etests)
    train, test = full.split(train_fraction, seed)
    if features is None:
        chosen = select_features(train)
        return _columns(train, chosen), _columns(test, chosen), chosen
    return train, test, list(full.X.columns)


def _columns(frame: VminFrame, columns) -> VminFrame:
    return replace(frame, X=frame.X[list(columns)])


def _rmse(residual) -> float:
    return float(np.sqrt(np.mean(np.square(residual))))


def _fit_predict(name, train: VminFrame, test: VminFrame, z=None, **params):
    model = MODELS[name](**params).fit(*train.fit_args(), z=z)
    return model, model.predict(test.X, test.wafer, test.zone, z=z)


def rmse_table(ds, vmin_tests=PAPER_TESTS, features=None, train_fraction=0.75, seed=0,
               models=("LR", "BA", "RBA"), progress=True) -> pd.DataFrame:
    """Test RMSE per ``vmin_test`` × ``model`` × ``wafer`` × ``zone`` (long table with
    ``n_test``, ``rmse`` in V and ``note``), after a random split within each wafer zone.
    A model that cannot be fitted (BA with a single training die per cell) gets NaN
    RMSEs and the ``FabFitError`` message in ``note``.

    ``features``: list for all tests, dict per test, or None for CFS on the training dies.
    Example: see the module docstring (and :func:`paper_layout`).
    """
    check_params("rmse_table", PARAMETERS, locals())
    for name in models:
        check_option("rmse_table", "models", name, MODELS)
    rows = []
    for vt in tqdm(list(vmin_tests), desc="rmse_table", disable=not progress):
        train, test, _ = _frame(ds, vt, _features_for(features, vt), train_fraction, seed)
        for name in models:
            try:
                _, pred = _fit_predict(name, train, test)
                note = ""
            except FabFitError as err:  # e.g. BA with one training die per cell
                pred, note = np.full(len(test), np.nan), str(err)
            cell = pd.DataFrame({"wafer": test.wafer, "zone": test.zone, "sq": (pred - test.y) ** 2})
            agg = cell.groupby(["wafer", "zone"], observed=True)["sq"].agg(["size", "mean"])
            rows.append(pd.DataFrame({"vmin_test": vt, "model": name,
                                      "wafer": agg.index.get_level_values("wafer"),
                                      "zone": agg.index.get_level_values("zone").astype(str),
                                      "n_test": agg["size"].to_numpy(),
                                      "rmse": np.sqrt(agg["mean"].to_numpy()), "note": note}))
    return pd.concat(rows, ignore_index=True)


def paper_layout(table: pd.DataFrame, vmin_test: str, scale=1e3) -> pd.DataFrame:
    """One test of :func:`rmse_table` as the paper lays it out: rows wafers, columns
    (model, zone), values in mV (``scale``), plus a last row ``all`` with the RMSE pooled
    over the wafers of each column.

    >>> t = pd.DataFrame({"vmin_test": "v", "model": "LR", "wafer": ["a", "b"],
    ...                   "zone": "edge", "n_test": [1, 3], "rmse": [0.002, 0.001]})
    >>> float(paper_layout(t, "v").loc["all", ("LR", "edge")].round(3))
    1.323
    """
    part = table[table["vmin_test"] == vmin_test]
    if part.empty:
        raise FabDataError(f"vmin_test {vmin_test!r} is not in the RMSE table")
    wide = part.pivot_table(index="wafer", columns=["model", "zone"], values="rmse",
                            sort=False) * scale
    sq = part.assign(ss=part["rmse"] ** 2 * part["n_test"])
    pooled = sq.groupby(["model", "zone"], sort=False).apply(
        lambda g: np.sqrt(g["ss"].sum() / g["n_test"].sum()), include_groups=False) * scale
    wide.loc["all"] = pooled.reindex(wide.columns).to_numpy()
    return wide


def pooled_rmse(table: pd.DataFrame, by=("vmin_test", "model"), scale=1e3) -> pd.DataFrame:
    """RMSE pooled over all test dies of each group of :func:`rmse_table` (mV), wide by
    model.

    >>> t = pd.DataFrame({"vmin_test": "v", "model": "LR", "n_test": [1, 3],
    ...                   "rmse": [0.002, 0.001]})
    >>> float(pooled_rmse(t).loc["v", "LR"].round(3))
    1.323
    """
    sq = table.assign(ss=table["rmse"] ** 2 * table["n_test"])
    g = sq.groupby(list(by), sort=False)[["ss", "n_test"]].sum(min_count=1)
    return (np.sqrt(g["ss"] / g["n_test"]) * scale).unstack("model")


def data_efficiency_table(ds, vmin_tests=PAPER_TESTS, fractions=(0.75, 0.05), features=None,
                          seed=0, progress=True) -> pd.DataFrame:
    """Pooled test RMSE (mV) per Vmin test for each training fraction and model; columns
    ``(fraction, model)`` (Table VII).  With ``features=None`` CFS runs once per test on
    the largest fraction's training dies and the same features serve every fraction.
    Example: see the module docstring."""
    for frac in fractions:
        check_params("data_efficiency_table", PARAMETERS, {"train_fraction": frac})
    if features is None:
        features = cfs_features(ds, vmin_tests, max(fractions), seed, progress=progress)
    parts = {}
    for frac in fractions:
        table = rmse_table(ds, vmin_tests, features, frac, seed, progress=progress)
        parts[frac] = pooled_rmse(table)[list(MODELS)]
    return pd.concat(parts, axis=1, names=["train_fraction", "model"])


def _inter_bias(ds, vmin_test, features, etests=None):
    """RBA fitted on all dies of ``vmin_test``: (model, frame)."""
    frame = vmin_frame(ds, vmin_test, features, etests)
    if features is None:
        frame = _columns(frame, select_features(frame))
    return RestrictedBiasAlignment().fit(*frame.fit_args()), frame


def class_probe_correlation_table(ds, vmin_tests=PAPER_TESTS, features=None,
                                  progress=True) -> pd.DataFrame:
    """Pearson r between each class-probe parameter and the estimated inter-wafer shift
    (RBA on all dies), per Vmin test, plus ``top1`` and ``r_top1`` (largest |r|) —
    Table VIII.

    >>> import fabnb
    >>> t = class_probe_correlation_table(fabnb.synth.fab("small"), ["dc_25"],
    ...                                   ["T03", "T05", "T14", "T11"], progress=False)
    >>> t.loc["dc_25", "top1"] in ("E05", "E06")
    True
    """
    rows = {}
    for vt in tqdm(list(vmin_tests), desc="class-probe r", disable=not progress):
        model, frame = _inter_bias(ds, vt, _features_for(features, vt))
        if frame.z is None:
            raise FabDataError("dataset has no class-probe data (etest_value)")
        z = frame.z.loc[model.inter_bias_.index]
        rows[vt] = z.corrwith(model.inter_bias_)
    table = pd.DataFrame(rows).T
    table.index.name = "vmin_test"
    table["top1"] = table.abs().idxmax(axis=1)
    table["r_top1"] = [table.loc[v, table.loc[v, "top1"]] for v in table.index]
    return table


def class_probe_r2_table(ds, vmin_tests=PAPER_TESTS, features=None, n_probe=2,
                         held_out=0.4, seed=0, truth=None, progress=True) -> pd.DataFrame:
    """R² of the ``n_probe``-feature class-probe model of the inter-wafer shift on held-out
    wafers (Table IX).

    Each wafer's shift is estimated by RBA on all its dies; a random ``held_out``
    fraction of wafers is set aside; CFS picks ``n_probe`` class-probe parameters on the
    remaining wafers, OLS fits ``b_inter ≈ a + z·γ`` there (eq. 25), and R² is measured
    on the held-out wafers' estimated shifts (``r2_test``) and, when ``truth``
    (``fabnb.synth.truth(ds)``) is given, on their true shifts (``r2_test_truth``).

    >>> import fabnb
    >>> t = class_probe_r2_table(fabnb.synth.fab("small"), ["dc_25"],
    ...                          ["T03", "T05", "T14", "T11"], progress=False)
    >>> bool(t.loc["dc_25", "r2_test"] > 0.5)
    True
    """
    check_params("class_probe_r2_table", PARAMETERS, locals())
    rows = {}
    for vt in tqdm(list(vmin_tests), desc="class-probe R²", disable=not progress):
        model, frame = _inter_bias(ds, vt, _features_for(features, vt))
        b = model.inter_bias_
        wafers = np.asarray(b.index, dtype=object)
        rng = np.random.default_rng(seed)
        test_w = rng.choice(wafers, max(1, round(held_out * len(wafers))), replace=False)
        train_w = wafers[~np.isin(wafers, test_w)]
        chosen = cfs_select(frame.z.loc[train_w], b[train_w], max_features=n_probe)
        A_train, A_test = (np.column_stack([np.ones(len(w)), frame.z.loc[w, chosen].to_numpy()])
                           for w in (train_w, test_w))
        gamma = np.linalg.lstsq(A_train, b[train_w].to_numpy(), rcond=None)[0]
        row = {"class_probe": ", ".join(chosen), "r2_train": _r2(b[train_w], A_train @ gamma),
               "r2_test": _r2(b[test_w], A_test @ gamma)}
        if truth is not None:  # the estimate carries the intercept: remove it (training wafers)
            true_b = truth["inter_bias"].sel(vmin_test=vt).to_series()
            offset = float(np.mean(b[train_w] - true_b[train_w]))
            row["r2_test_truth"] = _r2(true_b[test_w], A_test @ gamma - offset)
        rows[vt] = row
    out = pd.DataFrame(rows).T
    out.index.name = "vmin_test"
    return out


def _r2(observed, predicted) -> float:
    observed = np.asarray(observed, dtype=float)
    return float(1 - np.sum((observed - predicted) ** 2) / np.sum((observed - observed.mean()) ** 2))


def new_wafer_table(ds, vmin_tests=HOT_TESTS, features=None, etests=None, n_train_wafers=6,
                    n_test_wafers=4, n_probe=2, seed=0, progress=True) -> pd.DataFrame:
    """RMSE (mV) on wafers never seen in training (Table X).

    ``n_train_wafers`` and ``n_test_wafers`` wafers are drawn at random (``seed``); LR and
    RBA are fitted on all Vmin dies of the training wafers; RBA's inter-wafer shift of a
    test wafer comes from its class probe alone (eqs. 25-27), using ``etests`` (default:
    ``n_probe`` parameters picked by CFS on the training wafers' estimated shifts).

    >>> import fabnb
    >>> t = new_wafer_table(fabnb.synth.fab("small"), ["dc_125"], ["T03", "T05", "T14", "T11"],
    ...                     progress=False)
    >>> bool(t.loc["dc_125", "RBA"] < t.loc["dc_125", "LR"])
    True
    """
    check_params("new_wafer_table", PARAMETERS, locals())
    rows = {}
    for vt in tqdm(list(vmin_tests), desc="new wafers", disable=not progress):
        full = vmin_frame(ds, vt, _features_for(features, vt))
        wafers = pd.unique(full.wafer)
        if len(wafers) < n_train_wafers + n_test_wafers:
            raise FabDataError(f"{vt}: {len(wafers)} wafers with Vmin, need "
                               f"{n_train_wafers + n_test_wafers}")
        pick = np.random.default_rng(seed).choice(wafers, n_train_wafers + n_test_wafers,
                                                  replace=False)
        train, test = full.of_wafers(pick[:n_train_wafers]), full.of_wafers(pick[n_train_wafers:])
        if features is None:
            chosen = select_features(train)
            train, test = _columns(train, chosen), _columns(test, chosen)
        probe = etests
        if probe is None:
            shifts = RestrictedBiasAlignment().fit(*train.fit_args()).inter_bias_
            probe = cfs_select(full.z.loc[shifts.index], shifts, max_features=n_probe)
        rba = RestrictedBiasAlignment(class_probe=list(probe))
        rba.fit(*train.fit_args(), z=full.z)
        lr = LinearVmin().fit(*train.fit_args())
        rows[vt] = {"class_probe": ", ".join(probe),
                    "LR": _rmse(lr.predict(test.X, test.wafer, test.zone) - test.y) * 1e3,
                    "RBA": _rmse(rba.predict(test.X, test.wafer, test.zone, z=full.z) - test.y) * 1e3,
                    "n_test_dies": len(test)}
    out = pd.DataFrame(rows).T
    out.index.name = "vmin_test"
    return out


def shift_recovery_table(ds, truth, vmin_tests=PAPER_TESTS, features=None, solver="paper",
                         progress=True) -> pd.DataFrame:
    """How close RBA's estimated shifts and weights are to a known truth (mV).

    ``truth``: ``fabnb.synth.truth(ds)`` (needs ``inter_bias``, ``intra_bias``,
    ``vmin_noise_sd``).  Columns: ``intra_rmse`` (zone shifts, both zero-sum),
    ``inter_rmse`` (wafer shifts after removing their means: the intercept is not
    separable from the mean shift), ``inter_r`` (correlation), ``inter_sd_true`` (spread
    of the true shifts), ``noise_sd``.

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small")
    >>> t = shift_recovery_table(ds, fabnb.synth.truth(ds), ["dc_25"],
    ...                          ["T03", "T05", "T14", "T11"], progress=False)
    >>> bool(t.loc["dc_25", "inter_r"] > 0.9)
    True
    """
    rows = {}
    for vt in tqdm(list(vmin_tests), desc="shift recovery", disable=not progress):
        frame = vmin_frame(ds, vt, _features_for(features, vt))
        if _features_for(features, vt) is None:
            frame = _columns(frame, select_features(frame))
        model = RestrictedBiasAlignment(solver=solver).fit(*frame.fit_args())
        intra_true = truth["intra_bias"].sel(vmin_test=vt).to_series()[model.intra_bias_.index]
        inter_true = truth["inter_bias"].sel(vmin_test=vt).to_series()[model.inter_bias_.index]
        est, tru = model.inter_bias_ - model.inter_bias_.mean(), inter_true - inter_true.mean()
        rows[vt] = {"intra_rmse": _rmse(model.intra_bias_ - intra_true) * 1e3,
                    "inter_rmse": _rmse(est - tru) * 1e3,
                    "inter_r": float(np.corrcoef(est, tru)[0, 1]),
                    "inter_sd_true": float(tru.std()) * 1e3,
                    "noise_sd": float(truth["vmin_noise_sd"].sel(vmin_test=vt)) * 1e3}
    out = pd.DataFrame(rows).T
    out.index.name = "vmin_test"
    return out
