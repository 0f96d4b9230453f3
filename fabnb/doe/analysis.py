"""Analysis of designed experiments on statsmodels' formula API.

``analyze`` fits ``y ~ terms (+ C(block, Sum)) (+ centre-point indicator)`` with
:func:`statsmodels.formula.api.ols` on the *coded* factors, under their own names (a
name that is not a Python identifier, or that patsy reserves such as ``C``, is spelt
``C_`` in the formula; ``term_names`` maps every formula term back), and reads
everything off that fit and patsy's design info (term slices, contrasts, prediction):

* **coefficients** in coded units; **effects** = 2 × coefficient for two-level terms
  (the change of the mean response from the low to the high level);
* **standard errors, t values and confidence intervals** of both (``coef_table``,
  ``effect_table``), from ``fit.t_test`` on the contrast of the parameters that makes
  each estimate: ``se(effect) = 2 se(coef)``, ``t = estimate / se`` on the residual
  degrees of freedom, the ``100(1 - alpha) %`` interval ``estimate ± t(1 - alpha/2) se``;
* **categorical factors** (``Sum`` contrasts, levels ordered low to high by their coded
  value): the coefficients are statsmodels' Sum contrasts ``A[S.l]`` = τ_l, the
  deviation of level ``l``'s mean from the average of the level means (the last level's
  is ``-Σ`` of the others); the effects are the treatment contrasts
  ``A[T.l] = τ_l - τ_first``, the change from the first level to level ``l`` (for two
  levels, the low-to-high effect of a numeric factor). A factor with non-numeric levels
  is always categorical. A numeric factor declared with **more than two levels** (a
  level list such as ``{"p": [160, 180, 200, 220]}``, or ``levels=3``) is categorical
  by default, as in Minitab's general full factorial, so a one-way layout gives the
  one-way ANOVA (Montgomery Example 3.1); it is fitted as a numeric (linear) term when
  the model squares it or crosses it with another factor (``model="quadratic"``,
  ``["p", "p^2"]``) or when ``categorical`` is given and does not list it
  (``categorical=[]``: every numeric factor numeric);
* **ANOVA** from :func:`statsmodels.stats.anova.anova_lm` with ``typ=3`` (Type III sums
  of squares; blocks and categorical factors use ``Sum`` contrasts so Type III tests are
  meaningful). For a two-level orthogonal design Types I, II and III coincide. A
  saturated fit (no residual degrees of freedom) has no Type III table, so its sums of
  squares are the sequential (Type I) ones, equal for orthogonal designs; ``ss_type``
  says which was used and F/p are then undefined (NaN): read the Lenth margin instead;
* the **Model** row (first) is the regression's overall F test, as Minitab and JMP print
  it: every term but the intercept (factors, blocks and curvature),
  ``SS_model = SS_total - SS_residual`` on ``df_model`` degrees of freedom,
  ``F = MS_model / MS_residual`` (statsmodels' ``fit.fvalue`` / ``fit.f_pvalue``);
* **blocks** enter the model as a term, so their effect is removed from the error;
* **curvature** (``curvature=True``): with centre points and no quadratic term, an
  indicator of the centre runs joins the model; its 1-df sum of squares equals
  Montgomery's ``SS = n_F n_C (ȳ_F - ȳ_C)² / (n_F + n_C)`` and is tested against the
  residual, and the intercept is then the mean of the factorial runs. With
  ``curvature=False`` the centre runs join the first-order fit (the intercept is the
  grand mean, as in Montgomery's first-order models of Chapter 11) and curvature is left
  in the residual, where the lack-of-fit test sees it;
* **pure error and lack of fit**: pure error is the residual of the cell-means model
  (one mean per distinct factor setting, plus blocks); lack of fit is the rest of the
  residual, tested against pure error. When lack of fit has no degrees of freedom the
  residual *is* pure error and is shown once, as ``Residual``;
* **cell and treatment means** with their totals (``cell_means``: one row per distinct
  factor setting, with Montgomery's treatment label ``(1), a, b, ab, ...`` for two-level
  designs; ``level_means``: per factor level), the raw averages and totals of the data;
* R², adjusted R² and predicted R² = 1 - PRESS / SS_total with
  ``PRESS = Σ (e_i / (1 - h_ii))²`` (NaN when a run has leverage 1, as every run of a
  saturated fit does: leaving it out leaves a parameter undetermined);
* **Lenth's pseudo standard error** (Lenth 1989, *Technometrics* 31, 469-473) of the
  one-degree-of-freedom effects, only when the model is saturated (no residual degrees
  of freedom, so no F test): ``s0 = 1.5 median|c|``,
  ``PSE = 1.5 median{|c| : |c| < 2.5 s0}``, margin of error ``ME = t(1 - alpha/2, m/3) PSE``
  and simultaneous margin ``SME = t((1 + (1 - alpha)^(1/m))/2, m/3) PSE`` for ``m`` effects;
* for quadratic models, the stationary point and its type (:mod:`.rsm`).

A constant response is analysed, not refused: the fit is exact and flat, so every
coefficient and effect is 0 (exactly, not rounding noise that Lenth's method would call
active) with standard error 0, while R², F, t and p are 0/0 and reported as NaN with a
:class:`DoeWarning`.

Effects that share one column of a regular fraction (``AB = CD``) are merged under the
first name (``aliases`` lists the rest) when the model is given by keyword; an explicit
term list with two aliased terms is an error.

Reference: D. C. Montgomery, *Design and Analysis of Experiments*, 8th ed., Wiley 2013
(Chapters 3, 6, 8 and 11; the tests reproduce Examples 3.1, 6.2, 6.6, 8.1, 11.1, 11.2).
"""

import itertools
import keyword
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.anova import anova_lm

from .._params import Interval, Real, check_option, check_params
from ..errors import FabDataError, FabFitError, FabParameterError
from ._layout import Factor, design_meta, natural_values
from .rsm import StationaryPoint, stationary_point
from .._warn import user_stacklevel

MODELS = {"main": 1, "linear": 1, "main+2fi": 2, "interaction": 2, "main+2fi+3fi": 3,
          "full": None, "quadratic": 2}

#: Rules for the options of :func:`analyze` (see :mod:`fabnb._params`).
ANALYZE_RULES = {
    "response": [str, "array-like"],
    "model": [str, list, tuple],
    "categorical": [None, str, list, tuple],
    "alpha": [Interval(Real, 0, 1, closed="neither")],
    "curvature": ["boolean"],
}

#: Names the formula needs for itself (patsy's builtins, the contrasts, the helper
#: columns): a factor with one of these names is spelt with a trailing ``_``.
FORMULA_NAMES = {"C", "I", "Q", "Sum", "Treatment", "np", "Intercept", "_y", "_block", "_centre"}

#: Columns of ``coef_table`` and ``effect_table``.
ESTIMATE_COLUMNS = ["estimate", "se", "t", "p", "ci_low", "ci_high"]


class DoeWarning(UserWarning):
    """An analysis result holds undefined (NaN) statistics; the message says which and why."""


@dataclass
class Lenth:
    """Lenth's (1989) pseudo standard error and margins for unreplicated effects."""

    pse: float
    me: float
    sme: float
    df: float
    alpha: float
    active: list

    def __str__(self):
        return (f"Lenth PSE = {self.pse:.4g}, ME = {self.me:.4g}, SME = {self.sme:.4g} "
                f"(d = {self.df:.3g}); active: {', '.join(self.active) or 'none'}")


@dataclass
class Curvature:
    """Single-degree-of-freedom test of centre runs against the factorial mean."""

    ss: float
    df: int
    F: float
    p: float
    mean_factorial: float
    mean_center: float
    n_factorial: int
    n_center: int

    def __str__(self):
        return (f"curvature: ȳF - ȳC = {self.mean_factorial - self.mean_center:.4g}, "
                f"SS = {self.ss:.4g}, F = {self.F:.4g}, p = {self.p:.4g}")


@dataclass
class DoeResult:
    """What :func:`analyze` returns.

    ``fit`` is the statsmodels results object: its formula names the factors themselves
    (``columns`` maps a factor to its formula spelling where that differs) and
    ``term_names`` maps its terms, e.g. ``A:B`` or ``C(gas, Sum)``, to the names shown.
    ``coef_table`` and ``effect_table`` hold estimate, standard error, t, p and the
    ``100(1 - alpha) %`` interval of every coefficient and effect; ``one_df_effects``
    names the effects with one degree of freedom each (the ones Lenth's method pools and
    a half-normal plot shows); ``categorical`` the factors fitted as categorical.
    """

    effects: pd.Series
    coefficients: pd.Series
    anova: pd.DataFrame
    curvature: Curvature | None
    lenth: Lenth | None
    r2: float
    adj_r2: float
    pred_r2: float
    press: float
    ss_type: int
    aliases: dict
    dropped: dict
    fit: object
    formula: str
    term_names: dict
    factors: list
    response: str
    coef_table: pd.DataFrame = None
    effect_table: pd.DataFrame = None
    cell_means: pd.DataFrame = None
    level_means: pd.DataFrame = None
    categorical: list = field(default_factory=list)
    one_df_effects: list = field(default_factory=list)
    columns: dict = field(default_factory=dict)
    stationary: StationaryPoint | None = None
    run_order: np.ndarray | None = None
    #: formula column -> {accepted value: level} for categorical factors and blocks
    _levels: dict = field(default_factory=dict, repr=False)

    def predict(self, points):
        """Predicted response at coded ``points`` (DataFrame or dict of factor -> values).

        statsmodels builds the model matrix from the fitted formula's design info, so
        categorical factors, interactions and squares are coded exactly as in the fit. A
        categorical factor takes its coded values or its level labels; a numeric factor
        left out is held at its centre (0), a categorical factor left out and the blocks
        at the average over their levels; the centre-point indicator is off. Columns that
        are not factors (e.g. the response of a design passed back in) are ignored.

        >>> import fabnb.doe as doe
        >>> d = doe.full_factorial(["A", "B"])
        >>> d["y"] = 10 + 3 * d["A"]
        >>> doe.analyze(d, "y", model="main").predict({"A": [1.0], "B": [0.0]}).round(9).tolist()
        [13.0]
        """
        if isinstance(points, dict):  # one point may be given as scalars
            points = {name: np.atleast_1d(values) for name, values in points.items()}
        frame = pd.DataFrame(points)
        n = len(frame)
        data = {"_centre": np.zeros(n)}
        for name in self.factors:
            col = self.columns.get(name, name)
            if col in self._levels:
                if name in frame:
                    data[col] = _levels_of(name, frame[name], self._levels[col])
            elif name in frame:
                data[col] = _finite(name, frame[name], "point")
            else:
                data[col] = np.zeros(n)
        averaged = {col: list(dict.fromkeys(levels.values()))
                    for col, levels in self._levels.items() if col not in data}
        combos = list(itertools.product(*averaged.values()))
        total = np.zeros(n)
        for combo in combos:
            part = pd.DataFrame({**data, **dict(zip(averaged, combo))}, index=range(n))
            total += np.asarray(self.fit.predict(part), dtype=float)
        return total / len(combos)

    def minitab_anova(self):
        """The ANOVA in Minitab's layout: ``Source`` (indented as Minitab indents it),
        ``DF``, ``Adj SS``, ``Adj MS``, ``F-Value``, ``P-Value``; rows Model, Blocks,
        Linear, 2-Way Interactions, ..., Square, Curvature (each group followed by its
        terms, interactions written ``A*B``), Error (Lack-of-Fit, Pure Error) and Total.

        A group's adjusted SS is the extra sum of squares of all its terms given the rest
        of the model, ``SS = F q MS_E`` from the joint F test of its ``q`` parameters
        (statsmodels' ``fit.f_test``); for an orthogonal design it is the sum of its
        terms' SS. In a saturated or flat fit F and p are undefined (NaN, Minitab's ``*``)
        and a group's SS is the sum of its terms'.

        >>> import fabnb.doe as doe
        >>> d = doe.full_factorial(list("ABCD"))
        >>> d["rate"] = [45, 71, 48, 65, 68, 60, 80, 65, 43, 100, 45, 104, 75, 86, 70, 96]
        >>> t = doe.analyze(d, "rate", model=["A", "C", "D", "A:C", "A:D"]).minitab_anova()
        >>> int(t.loc["  2-Way Interactions", "DF"]), round(float(t.loc["  2-Way Interactions", "Adj SS"]), 2)
        (2, 2419.62)
        """
        table = self.anova
        info = _design_info(self.fit)
        mse = table.loc["Residual", "mean_sq"]
        names = {shown: piece for piece, shown in self.term_names.items()}
        groups = {}
        for shown in table.index:
            if shown in ("Model", "Residual", "Lack of fit", "Pure error", "Total"):
                continue
            order = shown.count(":") + 1
            group = ("Blocks" if shown == "Block" else "Curvature" if shown == "Curvature"
                     else "Square" if shown.endswith("^2") else "Linear" if order == 1
                     else f"{order}-Way Interactions")
            groups.setdefault(group, []).append(shown)
        rank = {"Blocks": 0, "Linear": 1, "Square": 98, "Curvature": 99}
        rows = [("Model", table.loc["Model"])]
        for group in sorted(groups, key=lambda g: rank[g] if g in rank else int(g.split("-")[0])):
            members = groups[group]
            if group in ("Blocks", "Curvature"):
                rows.append(("  " + group, table.loc[members[0]]))
                continue
            ss, df = table.loc[members, "sum_sq"].sum(), table.loc[members, "df"].sum()
            f_value = p_value = np.nan
            if np.isfinite(table.loc[members, "F"]).all():
                columns = np.concatenate([np.arange(len(self.fit.params))[info.term_name_slices[names[m]]]
                                          for m in members])
                test = self.fit.f_test(np.eye(len(self.fit.params))[columns])
                f_value, p_value = float(np.squeeze(test.fvalue)), float(test.pvalue)
                ss = f_value * df * mse
            rows.append(("  " + group, pd.Series({"sum_sq": ss, "df": df, "mean_sq": ss / df,
                                                  "F": f_value, "PR(>F)": p_value})))
            rows += [("    " + m.replace(":", "*"), table.loc[m]) for m in members]
        rows.append(("Error", table.loc["Residual"]))
        rows += [("  " + label, table.loc[row]) for row, label in
                 (("Lack of fit", "Lack-of-Fit"), ("Pure error", "Pure Error")) if row in table.index]
        rows.append(("Total", table.loc["Total"]))
        out = pd.DataFrame([r[["df", "sum_sq", "mean_sq", "F", "PR(>F)"]].to_numpy(dtype=float)
                            for _, r in rows], index=pd.Index([label for label, _ in rows], name="Source"),
                           columns=["DF", "Adj SS", "Adj MS", "F-Value", "P-Value"])
        out["DF"] = out["DF"].round().astype(int)
        return out

    def coded_coefficients(self):
        """Minitab's "Coded Coefficients" table: ``Effect``, ``Coef``, ``SE Coef``,
        ``T-Value``, ``P-Value`` per term (interactions written ``A*B``; a categorical
        factor's rows are its Sum-contrast coefficients, with no single effect)."""
        table = pd.DataFrame({
            "Effect": self.effects.reindex(self.coef_table.index),
            "Coef": self.coef_table["estimate"], "SE Coef": self.coef_table["se"],
            "T-Value": self.coef_table["t"], "P-Value": self.coef_table["p"]})
        table.index = pd.Index([name.replace(":", "*") for name in table.index], name="Term")
        return table

    def summary(self):
        """Plain-text report: effects and coefficients with standard errors, t, p and
        intervals, the ANOVA, fit statistics, tests and the cell means."""
        saturated = self.fit.df_resid < 0.5
        parts = [f"Response: {self.response}   model: {self.formula}",
                 f"R² = {self.r2:.4f}  adj R² = {self.adj_r2:.4f}  pred R² = {self.pred_r2:.4f}",
                 "Effects (two-level terms: 2 x coefficient; categorical: level minus first level):",
                 self.effect_table.to_string(),
                 "Coefficients (coded units):", self.coef_table.to_string(),
                 f"ANOVA (Type {self.ss_type} SS):", self.anova.to_string()]
        if saturated:
            parts.append("The model is saturated (no residual degrees of freedom): standard "
                         "errors, t, F and p are undefined; Lenth's margin judges the effects.")
        elif self.anova.attrs.get("residual_is_pure_error"):
            parts.append("Lack of fit has no degrees of freedom: the residual is pure error.")
        parts += [str(x) for x in (self.curvature, self.lenth, self.stationary) if x is not None]
        if self.aliases:
            parts.append("Aliased terms: " + "; ".join(f"{k} = {' = '.join(v)}" for k, v in self.aliases.items()))
        parts += ["Cell means:", self.cell_means.to_string(index=False)]
        return "\n".join(parts)

    def __str__(self):
        return self.summary()


def analyze(design, response, model="main+2fi", categorical=None, alpha=0.05, curvature=True):
    """Fit and test a model on a designed experiment.

    Parameters
    ----------
    design : DataFrame
        A design from :mod:`fabnb.doe` (coded factor columns + ``attrs["doe"]``).
    response : str or array-like
        Column of ``design`` or one value per run (in the design's row order).
    model : str or list of str
        ``"main"``, ``"main+2fi"``, ``"main+2fi+3fi"``, ``"full"`` (all interactions),
        ``"quadratic"`` (main + 2fi + squares, for response surfaces), or explicit terms
        such as ``["A", "B", "A:B", "A^2"]`` / ``"A + B + A:B"``.
    categorical : str or list of str, optional
        Factors to treat as categorical (``Sum`` contrasts); factors with non-numeric
        levels always are. ``None`` (default) also makes numeric factors declared with
        more than two levels categorical unless the model squares or crosses them (see
        the module docstring); a list makes exactly these (plus the non-numeric ones)
        categorical. Categorical factors enter as main effects only; their coefficients
        are the Sum contrasts ``A[S.level]`` and their effects the treatment contrasts
        ``A[T.level]`` (level minus the first level).
    alpha : float
        Level of Lenth's margins and of the confidence intervals (``1 - alpha``).
    curvature : bool
        Test the centre points against the factorial runs with a curvature indicator
        (default). ``False`` fits the centre runs with the first-order model, so its
        intercept is the grand mean (the textbook's first-order model).

    Montgomery (2013) Example 6.2, the reduced model of the filtration experiment:
    ``A = 21.625`` with standard error 2.21 on 10 df, Model F = 56.74.

    >>> import fabnb.doe as doe
    >>> d = doe.full_factorial(list("ABCD"))
    >>> d["rate"] = [45, 71, 48, 65, 68, 60, 80, 65, 43, 100, 45, 104, 75, 86, 70, 96]
    >>> r = doe.analyze(d, "rate", model=["A", "C", "D", "A:C", "A:D"])
    >>> r.effect_table.loc["A", ["estimate", "se"]].round(3).tolist()
    [21.625, 2.209]
    >>> float(round(r.anova.loc["Model", "F"], 2))
    56.74
    >>> import pandas as pd
    >>> cells = doe.as_design(pd.DataFrame({"p": [1, 1, 2, 2, 3, 3], "y": [1.0, 1, 5, 5, 9, 9]}), ["p"])
    >>> r = doe.analyze(cells, "y", model="main", categorical=["p"])
    >>> r.effects.round(9).to_dict(), r.predict({"p": [1, 2, 3]}).round(9).tolist()
    ({'p[T.2]': 4.0, 'p[T.3]': 8.0}, [1.0, 5.0, 9.0])
    """
    check_params("analyze", ANALYZE_RULES,
                 {"response": response, "model": model, "categorical": categorical, "alpha": alpha,
                  "curvature": curvature})
    meta = design_meta(design)
    if len(design) == 0:
        raise FabDataError("the design has no runs (no rows); add the runs before analysing it")
    factors = meta["factors"]
    y, yname = _response(design, response)
    cat = _categorical(meta, categorical, model)
    columns = _column_names(factors)
    data = pd.DataFrame({"_y": y})
    levels = {}
    for j, name in enumerate(factors):
        coded = _finite(name, design[name], "design")
        col = columns[name]
        if j in cat:
            levels[col] = _level_labels(coded, Factor(name, meta["levels"].get(name)))
            labels = list(dict.fromkeys(levels[col].values()))
            data[col] = pd.Categorical([levels[col][c] for c in coded], categories=labels)
        else:
            data[col] = coded
    explicit = not (isinstance(model, str) and model in MODELS)
    terms = _parse_model(model, factors, meta["labels"], cat)
    blocks = design["block"].astype(str).to_numpy()
    has_blocks = len(set(blocks)) > 1
    data["_block"] = blocks
    if has_blocks:
        levels["_block"] = {b: b for b in dict.fromkeys(blocks)}
    center = design["center_point"].to_numpy(dtype=bool) if not cat else np.zeros(len(y), bool)
    if explicit and len(terms) + 1 > len(y):
        raise FabFitError(
            f"model has {len(terms)} terms plus the intercept but the design has only "
            f"{len(y)} runs; drop terms (e.g. high-order interactions) or add runs"
        )
    # the formula names each term the way patsy does, so its ANOVA rows and parameter
    # columns map straight back to the factor names
    pieces = {term: _formula_term(term, [columns[f] for f in factors], cat) for term in terms}
    block_term = ["C(_block, Sum)"] if has_blocks else []
    candidates = patsy.dmatrix(" + ".join(list(pieces.values()) + block_term) or "1", data,
                               NA_action="raise", return_type="dataframe")
    kept, aliases, dropped = _screen_terms(terms, pieces, candidates, data, factors, columns,
                                           has_blocks, explicit, cat)
    dropped.update(_skipped_terms(model, factors, cat))
    pieces = {term: pieces[term] for term in kept}
    term_names = {pieces[t]: _term_name(t, factors) for t in kept}
    is_quadratic = any(len(set(t)) < len(t) for t in kept)
    test_curvature = curvature and center.any() and (~center).any() and not is_quadratic
    data["_centre"] = center.astype(float)
    extra = block_term + (["_centre"] if test_curvature else [])
    n_levels = {col: len(set(labels.values())) for col, labels in levels.items()}
    n_params = (1 + sum(n_levels[columns[factors[t[0]]]] - 1 if t[0] in cat else 1 for t in kept)
                + test_curvature + n_levels.get("_block", 1) - 1)
    if n_params > len(y):
        raise FabFitError(
            f"model {model!r} needs {n_params} parameters but the design has only {len(y)} runs; "
            "use a smaller model (e.g. model='main'), or add runs/replicates"
        )
    formula = "_y ~ " + (" + ".join(list(pieces.values()) + extra) or "1")
    fit = smf.ols(formula, data, missing="raise").fit()
    shown = f"{yname} ~ " + " + ".join(list(term_names.values()) + (["Block"] if has_blocks else [])
                                       + (["Curvature"] if test_curvature else []))
    if np.linalg.matrix_rank(fit.model.exog) < fit.model.exog.shape[1]:
        raise FabFitError(
            f"model {model!r} is not estimable in this design (its columns are linearly "
            "dependent, e.g. an effect confounded with blocks); drop terms or add runs"
        )
    term_names.update({"C(_block, Sum)": "Block", "_centre": "Curvature"})
    saturated = fit.df_resid < 0.5
    constant = bool(np.ptp(y) == 0)
    table, ss_type = _anova(fit, term_names, data, has_blocks, [columns[f] for f in factors])
    coef_table, effect_table, single_df = _estimates(fit, pieces, term_names, cat, alpha,
                                                     defined=not (saturated or constant))
    if constant:
        warnings.warn(
            f"response {yname!r} is {y[0]:g} in every run: every coefficient and effect is 0, "
            "and R², F, t and p are undefined (NaN); there is nothing to explain",
            DoeWarning, stacklevel=user_stacklevel(),
        )
        for est in (coef_table, effect_table):
            est[["estimate", "se", "ci_low", "ci_high"]] = 0.0
        coef_table.loc["Intercept", ["estimate", "ci_low", "ci_high"]] = y[0]
        table = _flat_anova(table)
    coefficients = coef_table["estimate"].rename("coefficient")
    effects = effect_table["estimate"].rename("effect")
    press = 0.0 if constant else _press(fit)
    sst = float(np.sum((y - y.mean()) ** 2))
    cell_means, level_means = _means(data, factors, columns, meta["labels"], cat)
    result = DoeResult(
        effects=effects, coefficients=coefficients, anova=table,
        curvature=_curvature(table, y, center) if test_curvature else None,
        lenth=lenth(effects[single_df], alpha) if saturated and len(single_df) >= 3 else None,
        r2=float("nan") if constant else float(fit.rsquared),
        adj_r2=float("nan") if constant else _adjusted_r2(fit),
        pred_r2=1 - press / sst if np.isfinite(press) and not constant else float("nan"),
        press=press, ss_type=ss_type, aliases=aliases, dropped=dropped, fit=fit, formula=shown,
        term_names=term_names, factors=factors, response=yname,
        coef_table=coef_table, effect_table=effect_table, cell_means=cell_means,
        level_means=level_means, categorical=[factors[j] for j in sorted(cat)],
        one_df_effects=single_df, columns={f: c for f, c in columns.items() if f != c},
        _levels=levels, run_order=design["run_order"].to_numpy(),
    )
    # a flat surface has no unique stationary point
    if is_quadratic and not constant and all((j, j) in kept for j in range(len(factors))):
        result.stationary = stationary_point(coefficients, factors, meta["levels"])
    return result


def lenth(effects, alpha=0.05):
    """Lenth's pseudo standard error, margin of error and simultaneous margin.

    >>> e = pd.Series([21.625, 3.125, 9.875, 14.625, 0.125, -18.125, 16.625, 2.375,
    ...                -0.375, -1.125, 1.875, 4.125, -1.625, -2.625, 1.375])
    >>> round(lenth(e).pse, 4)
    2.625
    """
    check_params("lenth", {"alpha": ANALYZE_RULES["alpha"]}, {"alpha": alpha})
    c = np.abs(np.asarray(effects, dtype=float))
    m = len(c)
    s0 = 1.5 * np.median(c)
    small = c[c < 2.5 * s0]
    pse = 1.5 * np.median(small) if small.size else 0.0  # all effects zero: no noise at all
    d = m / 3
    me = stats.t.ppf(1 - alpha / 2, d) * pse
    gamma = (1 + (1 - alpha) ** (1 / m)) / 2
    sme = stats.t.ppf(gamma, d) * pse
    active = [str(k) for k, v in effects.items() if abs(v) > me] if isinstance(effects, pd.Series) else []
    return Lenth(float(pse), float(me), float(sme), d, alpha, active)


def _response(design, response):
    if isinstance(response, str):
        check_option("analyze", "response", response, design.columns)
        y, name = design[response], response
    else:
        y, name = pd.Series(np.asarray(response, dtype=float).ravel()), "y"
        if len(y) != len(design):
            raise FabFitError(
                f"response has {len(y)} values but the design has {len(design)} runs; "
                "give one value per run in the design's row order"
            )
    y = pd.to_numeric(pd.Series(np.asarray(y)), errors="coerce").to_numpy(dtype=float)
    missing = np.flatnonzero(~np.isfinite(y))
    if missing.size:
        runs = design["run_order"].to_numpy()[missing].tolist() if "run_order" in design else missing.tolist()
        raise FabFitError(
            f"response {name!r} is missing for {missing.size} run(s) (run_order {runs}); "
            "measure them, or analyse the runs you have with an explicit smaller model"
        )
    return y, name


def _categorical(meta, categorical, model):
    """Indices of the categorical factors: the non-numeric ones, plus those listed, or
    (``categorical=None``) the numeric ones declared with more than two levels that the
    model neither squares nor crosses with another factor."""
    factors = meta["factors"]
    declared = [Factor(name, meta["levels"].get(name)) for name in factors]
    cat = {j for j, f in enumerate(declared) if not f.numeric}
    if categorical is not None:
        for name in [categorical] if isinstance(categorical, str) else categorical:
            check_option("analyze", "categorical", name, factors)
            cat.add(factors.index(name))
        return cat
    if isinstance(model, str) and model in MODELS:
        numeric_terms = set() if model != "quadratic" else set(range(len(factors)))
    else:
        numeric_terms = {j for term in _parse_model(model, factors, meta["labels"], cat)
                         if len(term) > 1 for j in term}
    return cat | {j for j, f in enumerate(declared) if f.n_levels > 2 and j not in numeric_terms}


def _column_names(factors):
    """Formula spelling of each factor: its own name when patsy can read it as a plain
    variable, else the name with non-word characters replaced and a trailing ``_``."""
    columns, used = {}, set(FORMULA_NAMES)
    for name in factors:
        col = name
        if not name.isidentifier() or keyword.iskeyword(name) or name in used:
            col = re.sub(r"\W", "_", name)
            col = col if col[:1].isalpha() else "f" + col
            while col in used or col in factors or keyword.iskeyword(col):
                col += "_"
        used.add(col)
        columns[name] = col
    return columns


def _finite(name, values, where):
    """Factor values as floats; a FabDataError names the rows that are not finite numbers."""
    numbers = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
    numbers = numbers.to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(numbers))
    if bad.size:
        raise FabDataError(
            f"factor {name!r} is not a finite number in {bad.size} {where} row(s) (positions "
            f"{bad[:10].tolist()}); give every run a coded level"
        )
    return numbers


def _label(value):
    return f"{value:.12g}" if isinstance(value, (int, float, np.number)) else str(value)


def _level_labels(coded, factor):
    """``{coded value: label}`` of a categorical factor, low to high (the natural level
    where the design knows it), plus ``{label: label}`` and ``{natural level: label}`` so
    any spelling selects a level (a natural number that is also another level's coded
    value keeps its coded meaning)."""
    values = np.unique(coded)
    natural = natural_values(factor, values)
    labels = [_label(v) for v in (values if natural is None else natural)]
    keys = {**{lab: lab for lab in labels}, **dict(zip(values.tolist(), labels))}
    for level, lab in zip([] if natural is None else natural.tolist(), labels):
        keys.setdefault(level, lab)
    return keys


def _levels_of(name, values, levels):
    """Level labels of the values a caller gave for a categorical factor."""
    try:
        return [levels[v] for v in values]
    except (KeyError, TypeError):
        bad = next(v for v in values if not isinstance(v, (str, int, float, np.number)) or v not in levels)
        raise FabDataError(
            f"{bad!r} is not a level of categorical factor {name!r}; use one of "
            f"{list(dict.fromkeys(levels.values()))}, their natural or their coded values "
            f"{[k for k in levels if not isinstance(k, str)]}"
        ) from None


def _parse_model(model, factors, labels, cat):
    """Terms as tuples of factor indices: ``(0, 1)`` = A:B, ``(0, 0)`` = A^2."""
    k = len(factors)
    numeric = [j for j in range(k) if j not in cat]
    if isinstance(model, str) and model in MODELS:
        order = MODELS[model] or k
        terms = [(j,) for j in range(k)]
        terms += [c for r in range(2, order + 1) for c in itertools.combinations(numeric, r)]
        if model == "quadratic":
            terms += [(j, j) for j in numeric]
        return terms
    lookup = {n: j for j, n in enumerate(factors)}
    for j, lab in enumerate(labels):
        lookup.setdefault(lab, j)
    if isinstance(model, str) and not any(c in model for c in "+:^") and model.strip() not in lookup:
        check_option("analyze", "model", model, MODELS)  # a mistyped keyword, not a term
    items = [t.strip() for t in model.split("+")] if isinstance(model, str) else list(model)
    terms = []
    for item in items:
        if not isinstance(item, str):
            raise FabParameterError(
                f"model term {item!r} is not a string; write terms like 'A', 'A:B', 'A^2'")
        square = item.replace(" ", "").endswith("^2")
        parts = item.replace(" ", "")[:-2].split(":") if square else [p.strip() for p in item.split(":")]
        unknown = [p for p in parts if p not in lookup]
        if unknown or not item:
            raise FabParameterError(
                f"model term {item!r} names unknown factor(s) {unknown}; use {factors} joined "
                f"by ':' (interactions) or with '^2' (squares), or one of {sorted(MODELS)}"
            )
        term = tuple(sorted(lookup[p] for p in parts)) * (2 if square else 1)
        if square and len(parts) != 1:
            raise FabParameterError(f"model term {item!r}: only single factors can be squared ('A^2')")
        if any(j in cat for j in term) and len(term) > 1:
            raise FabParameterError(
                f"model term {item!r}: categorical factors enter as main effects only; "
                "code the factor numerically to fit interactions"
            )
        if term in terms:
            raise FabParameterError(f"model term {item!r} is listed twice")
        terms.append(term)
    return terms


def _skipped_terms(model, factors, cat):
    """Terms a keyword model would hold but leaves out because they involve a categorical
    factor (which enters as a main effect only), so that ``dropped`` lists them."""
    if not (isinstance(model, str) and model in MODELS) or not cat:
        return {}
    order = MODELS[model] or len(factors)
    reason = "involves a categorical factor (categorical factors enter as main effects only)"
    skipped = [c for r in range(2, order + 1) for c in itertools.combinations(range(len(factors)), r)
               if any(j in cat for j in c)]
    skipped += [(j, j) for j in sorted(cat)] if model == "quadratic" else []
    return {_term_name(term, factors): reason for term in skipped}


def _formula_term(term, cols, cat):
    """patsy's spelling of a term: ``A``, ``A:B``, ``I(A ** 2)``, ``C(gas, Sum)``."""
    if term[0] in cat:
        return f"C({cols[term[0]]}, Sum)"
    if len(term) == 2 and term[0] == term[1]:
        return f"I({cols[term[0]]} ** 2)"
    return ":".join(cols[j] for j in term)


def _term_name(term, factors):
    if len(term) == 2 and term[0] == term[1]:
        return f"{factors[term[0]]}^2"
    return ":".join(factors[j] for j in term)


def _screen_terms(terms, pieces, candidates, data, factors, columns, has_blocks, explicit, cat):
    """Merge exactly aliased terms, drop those confounded with blocks (keyword models);
    raise for partially aliased terms and for aliased terms of explicit models. The
    columns are patsy's, read through the candidate matrix's term slices."""
    info = candidates.design_info
    matrix = candidates.to_numpy()
    n = len(data)
    block_basis = [np.ones(n)]
    if has_blocks:
        block_basis += list(matrix[:, info.term_name_slices["C(_block, Sum)"]].T)
    term_basis = []
    keys = {_key(np.ones(n)): ("Intercept", 1.0)}
    kept, aliases, dropped = [], {}, {}
    for term in terms:
        name = _term_name(term, factors)
        if term[0] in cat:
            if data[columns[factors[term[0]]]].nunique() > 1:
                kept.append(term)
            elif explicit:
                raise FabFitError(f"categorical factor {name} has one level in every run; "
                                  "it cannot be estimated here")
            else:
                dropped[name] = "one level in every run"
            continue
        col = matrix[:, info.term_name_slices[pieces[term]]][:, 0]
        if not np.any(col):
            raise FabFitError(f"term {name} is zero in every run; it cannot be estimated here")
        key, sign = _key(col), _sign(col)
        if key in keys:
            other, other_sign = keys[key]
            rel = "-" if sign * other_sign < 0 else ""
            if explicit:
                raise FabFitError(
                    f"terms {other} and {name} are aliased ({other} = {rel}{name}) in this design; "
                    "keep only one of them, or de-alias with a fold-over"
                )
            if other == "Intercept":
                dropped[name] = f"aliased with the intercept (I = {rel}{name})"
            else:
                aliases.setdefault(other, []).append(rel + name)
            continue
        if has_blocks and _in_span(col, block_basis):
            if explicit:
                raise FabFitError(
                    f"term {name} is confounded with blocks; drop it from the model or "
                    "block on a different interaction"
                )
            dropped[name] = "confounded with blocks"
            continue
        if _in_span(col, block_basis + term_basis):
            raise FabFitError(
                f"term {name} is partially aliased with earlier terms (its column is a "
                "combination of theirs), so it is not estimable in this design; use a smaller "
                "model (e.g. model='main') or a design that separates it"
            )
        keys[key] = (name, sign)
        term_basis.append(col)
        kept.append(term)
    return kept, aliases, dropped


def _design_info(fit):
    """patsy's DesignInfo of a formula fit (statsmodels >= 0.15 calls it ``model_spec``)."""
    data = fit.model.data
    return data.model_spec if hasattr(data, "model_spec") else data.design_info


def _estimates(fit, pieces, term_names, cat, alpha, defined):
    """Coefficient and effect tables, each row one linear combination ``L β`` of the
    fit's parameters read off patsy's term slices: a coefficient is a unit row; a
    two-level effect is ``2 β_j``; a categorical factor's coefficients are its Sum
    contrasts and its effects the treatment contrasts ``τ_l - τ_first`` (rows of
    patsy's own contrast matrix). Also the names of the effects with one degree of
    freedom each, the ones Lenth's method may pool (a multi-level factor's contrasts
    are correlated)."""
    info = _design_info(fit)
    n_params = len(fit.params)

    def unit(i, scale=1.0):
        row = np.zeros(n_params)
        row[i] = scale
        return row

    coef_rows = {"Intercept": unit(fit.params.index.get_loc("Intercept"))}
    effect_rows, single_df = {}, []
    for term, piece in pieces.items():
        name = term_names[piece]
        where = info.term_name_slices[piece]
        positions = range(n_params)[where]
        if term[0] in cat:
            coef_rows.update({name + fit.params.index[i][len(piece):]: unit(i) for i in positions})
            coded = info.terms[info.term_names.index(piece)]
            (factor,) = coded.factors
            matrix = info.term_codings[coded][0].contrast_matrices[factor].matrix
            levels = info.factor_infos[factor].categories
            for lab, row in zip(levels[1:], matrix[1:]):
                effect_rows[f"{name}[T.{lab}]"] = np.zeros(n_params)
                effect_rows[f"{name}[T.{lab}]"][where] = row - matrix[0]
            single_df += [f"{name}[T.{levels[1]}]"] if len(levels) == 2 else []
        else:
            coef_rows[name] = unit(positions[0])
            if len(set(term)) == len(term):
                effect_rows[name] = unit(positions[0], 2.0)
                single_df.append(name)
    return (_contrast_table(fit, coef_rows, alpha, defined),
            _contrast_table(fit, effect_rows, alpha, defined), single_df)


def _contrast_table(fit, rows, alpha, defined):
    """Estimate, standard error, t, p and interval of each ``L β`` by statsmodels'
    ``t_test``; undefined (NaN) without residual degrees of freedom."""
    table = pd.DataFrame(np.nan, index=list(rows), columns=ESTIMATE_COLUMNS, dtype=float)
    if not rows:
        return table
    contrast = np.vstack(list(rows.values()))
    table["estimate"] = contrast @ fit.params.to_numpy()
    if defined:
        test = fit.t_test(contrast)
        table["se"] = np.ravel(test.sd)
        table["t"] = np.ravel(test.tvalue)
        table["p"] = np.ravel(test.pvalue)
        table[["ci_low", "ci_high"]] = np.asarray(test.conf_int(alpha=alpha))
    return table


def _flat_anova(table):
    """ANOVA of a constant response: every sum of squares is 0, every F and p undefined."""
    flat = table.copy()
    flat["sum_sq"] = 0.0
    flat["mean_sq"] = flat["mean_sq"].where(flat["mean_sq"].isna(), 0.0)
    flat[["F", "PR(>F)"]] = np.nan
    return flat


def _sign(col):
    return 1.0 if col[np.flatnonzero(np.abs(col) > 1e-12)[0]] > 0 else -1.0


def _key(col):
    return tuple(np.round(col * _sign(col), 9))


def _in_span(col, basis):
    a = np.column_stack(basis)
    coef, *_ = np.linalg.lstsq(a, col, rcond=None)
    return np.linalg.norm(a @ coef - col) < 1e-8 * max(1.0, np.linalg.norm(col))


def _anova(fit, term_names, data, has_blocks, factor_columns):
    """ANOVA table: Model, the terms, Residual (split into lack of fit and pure error
    when both have degrees of freedom) and Total."""
    saturated = fit.df_resid < 0.5
    ss_type = 1 if saturated else 3
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = anova_lm(fit, typ=ss_type)
    raw = raw.drop(index="Intercept", errors="ignore")
    table = raw.rename(index=term_names)[["sum_sq", "df", "F", "PR(>F)"]].copy()
    table.insert(2, "mean_sq", table["sum_sq"] / table["df"])
    y = data["_y"].to_numpy()
    sst = float(np.sum((y - y.mean()) ** 2))
    model_ss, model_df = sst - fit.ssr, float(fit.df_model)
    model_ms = model_ss / model_df if model_df else np.nan  # intercept-only: no model to test
    if saturated:  # no error estimate: F and p are undefined, not zero
        table[["F", "PR(>F)"]] = np.nan
        table.loc["Residual", ["sum_sq", "mean_sq"]] = [0.0, np.nan]
        model = [model_ss, model_df, model_ms, np.nan, np.nan]
    else:
        table.loc["Residual", "mean_sq"] = fit.ssr / fit.df_resid
        with np.errstate(divide="ignore", invalid="ignore"):  # an exact fit: F = inf (0/0 flat)
            f_model = model_ms / (fit.ssr / fit.df_resid)
        model = [model_ss, model_df, model_ms, f_model,
                 stats.f.sf(f_model, model_df, fit.df_resid) if model_df else np.nan]
    table = pd.concat([pd.DataFrame([model], index=["Model"], columns=table.columns), table])
    pure = _pure_error(data, has_blocks, factor_columns)
    residual_is_pure = False
    if pure is not None and pure["df"] > 0:
        lof_ss, lof_df = fit.ssr - pure["ss"], fit.df_resid - pure["df"]
        if lof_df > 0.5:
            f_lof = (lof_ss / lof_df) / (pure["ss"] / pure["df"])
            table.loc["Lack of fit"] = [lof_ss, lof_df, lof_ss / lof_df, f_lof,
                                        stats.f.sf(f_lof, lof_df, pure["df"])]
            table.loc["Pure error"] = [pure["ss"], pure["df"], pure["ss"] / pure["df"], np.nan, np.nan]
        else:  # the residual is pure error: one row, not two equal ones
            residual_is_pure = not saturated
    table.loc["Total"] = [sst, len(y) - 1, np.nan, np.nan, np.nan]
    table.attrs["ss_type"] = ss_type
    table.attrs["residual_is_pure_error"] = residual_is_pure
    return table, ss_type


def _pure_error(data, has_blocks, factor_columns):
    """Residual of the cell-means model (one mean per distinct setting, plus blocks)."""
    cells = data[factor_columns].astype(str).agg("|".join, axis=1)
    if cells.nunique() == len(cells):
        return None
    frame = pd.DataFrame({"y": data["_y"], "cell": cells, "blk": data["_block"]})
    # cells and blocks may overlap (a block is often a set of cells): the fit is then
    # rank-deficient by design and statsmodels counts the residual df from the rank
    blocks_vary = has_blocks and frame.groupby("cell")["blk"].nunique().max() > 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cell_fit = smf.ols("y ~ C(cell)" + (" + C(blk)" if blocks_vary else ""), frame).fit()
    return {"ss": float(cell_fit.ssr), "df": float(cell_fit.df_resid)}


def _means(data, factors, columns, labels, cat):
    """Cell means (one row per distinct factor setting, with its run count, total and
    mean, and Montgomery's treatment label for two-level corners and the centre) and
    treatment means of every factor level (``(factor, level)`` rows)."""
    frame = pd.DataFrame({name: data[columns[name]] for name in factors})

    def totals(by):
        groups = data["_y"].groupby([frame[b] for b in by], observed=True, sort=True)
        return pd.DataFrame({"n": groups.size(), "total": groups.sum(), "mean": groups.mean()})

    cells = totals(factors).reset_index()
    numeric = [name for j, name in enumerate(factors) if j not in cat]
    if len(numeric) == len(factors):
        x = cells[factors].to_numpy(dtype=float)
        corner, centre = np.all(np.abs(x) == 1, axis=1), np.all(x == 0, axis=1)
        if np.all(corner | centre):
            cells.insert(0, "treatment", [
                "centre" if c else "".join(lab.lower() for lab, v in zip(labels, row) if v > 0) or "(1)"
                for row, c in zip(x, centre)])
    level_means = pd.concat({name: totals([name]).rename_axis("level") for name in factors},
                            names=["factor"])
    return cells, level_means


def _curvature(table, y, center):
    row = table.loc["Curvature"]
    return Curvature(float(row["sum_sq"]), 1, float(row["F"]), float(row["PR(>F)"]),
                     float(y[~center].mean()), float(y[center].mean()),
                     int((~center).sum()), int(center.sum()))


def _adjusted_r2(fit):
    """NaN for a saturated fit (no residual degrees of freedom)."""
    return float(fit.rsquared_adj) if fit.df_resid > 0.5 else float("nan")


def _press(fit):
    h = fit.get_influence().hat_matrix_diag
    if np.any(h > 1 - 1e-10):
        return float("nan")
    return float(np.sum((fit.resid / (1 - h)) ** 2))
