"""Analysis of designed experiments on statsmodels' formula API.

``analyze`` fits ``y ~ terms (+ C(block, Sum)) (+ centre-point indicator)`` with
:func:`statsmodels.formula.api.ols` on the *coded* factors and reads everything off
that fit:

* **coefficients** in coded units; **effects** = 2 × coefficient for two-level terms
  (the change of the mean response from the low to the high level);
* **categorical factors** (``Sum`` contrasts, levels ordered low to high by their coded
  value): the coefficients are statsmodels' Sum contrasts ``A[S.l]`` = τ_l, the
  deviation of level ``l``'s mean from the average of the level means (the last level's
  is ``-Σ`` of the others); the effects are the treatment contrasts
  ``A[T.l] = τ_l - τ_first``, the change from the first level to level ``l`` (for two
  levels, the low-to-high effect of a numeric factor);
* **ANOVA** from :func:`statsmodels.stats.anova.anova_lm` with ``typ=3`` (Type III sums
  of squares; blocks and categorical factors use ``Sum`` contrasts so Type III tests are
  meaningful). For a two-level orthogonal design Types I, II and III coincide. A
  saturated fit (no residual degrees of freedom) has no Type III table, so its sums of
  squares are the sequential (Type I) ones, equal for orthogonal designs; ``ss_type``
  says which was used and F/p are then undefined: read the Lenth margin instead;
* **blocks** enter the model as a term, so their effect is removed from the error;
* **curvature**: with centre points and no quadratic term, an indicator of the centre
  runs joins the model; its 1-df sum of squares equals Montgomery's
  ``SS = n_F n_C (ȳ_F - ȳ_C)² / (n_F + n_C)`` and is tested against the residual;
* **pure error and lack of fit**: pure error is the residual of the cell-means model
  (one mean per distinct factor setting, plus blocks); lack of fit is the rest of the
  residual, tested by ``anova_lm(model, cell_means_model)``;
* R², adjusted R² and predicted R² = 1 - PRESS / SS_total with
  ``PRESS = Σ (e_i / (1 - h_ii))²`` (NaN when a run has leverage 1, as every run of a
  saturated fit does: leaving it out leaves a parameter undetermined);
* **Lenth's pseudo standard error** (Lenth 1989, *Technometrics* 31, 469-473) of the
  effects: ``s0 = 1.5 median|c|``, ``PSE = 1.5 median{|c| : |c| < 2.5 s0}``, margin of
  error ``ME = t(0.975, m/3) PSE`` and simultaneous margin
  ``SME = t((1 + 0.95^(1/m))/2, m/3) PSE`` for ``m`` effects;
* for quadratic models, the stationary point and its type (:mod:`.rsm`).

A constant response is analysed, not refused: the fit is exact and flat, so every
coefficient and effect is 0 (exactly, not rounding noise that Lenth's method would call
active), while R², F and p are 0/0 and reported as NaN with a :class:`DoeWarning`.

Effects that share one column of a regular fraction (``AB = CD``) are merged under the
first name (``aliases`` lists the rest) when the model is given by keyword; an explicit
term list with two aliased terms is an error.
"""

import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.anova import anova_lm

from .._params import Interval, Real, check_option, check_params
from ..errors import FabDataError, FabFitError, FabParameterError
from ._layout import Factor, design_meta, natural_values
from .rsm import StationaryPoint, stationary_point

MODELS = {"main": 1, "linear": 1, "main+2fi": 2, "interaction": 2, "main+2fi+3fi": 3,
          "full": None, "quadratic": 2}

#: Rules for the options of :func:`analyze` (see :mod:`fabnb._params`).
ANALYZE_RULES = {
    "response": [str, "array-like"],
    "model": [str, list, tuple],
    "categorical": [None, str, list, tuple],
    "alpha": [Interval(Real, 0, 1, closed="neither")],
}


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
    """What :func:`analyze` returns. ``fit`` is the statsmodels results object (coded
    factors are renamed ``x0, x1, ...`` inside it; ``term_names`` maps its terms, e.g.
    ``x0:x1`` or ``C(x2, Sum)``, back to the factor names)."""

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
    stationary: StationaryPoint | None = None
    run_order: np.ndarray | None = None
    #: formula variable -> {accepted value: level} for categorical factors and blocks
    _levels: dict = field(default_factory=dict, repr=False)

    def predict(self, points):
        """Predicted response at coded ``points`` (DataFrame or dict of factor -> values).

        statsmodels builds the model matrix from the fitted formula, so categorical
        factors, interactions and squares are coded exactly as in the fit. A categorical
        factor takes its coded values or its level labels; a numeric factor left out is
        held at its centre (0), a categorical factor left out and the blocks at the
        average over their levels; the centre-point indicator is off. Columns that are
        not factors (e.g. the response of a design passed back in) are ignored.

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
        data = {"cp": np.zeros(n)}
        for j, name in enumerate(self.factors):
            if f"x{j}" in self._levels:
                if name in frame:
                    data[f"x{j}"] = _levels_of(name, frame[name], self._levels[f"x{j}"])
            elif name in frame:
                data[f"x{j}"] = _finite(name, frame[name], "point")
            else:
                data[f"x{j}"] = np.zeros(n)
        averaged = {col: list(dict.fromkeys(levels.values()))
                    for col, levels in self._levels.items() if col not in data}
        combos = list(itertools.product(*averaged.values()))
        total = np.zeros(n)
        for combo in combos:
            part = pd.DataFrame({**data, **dict(zip(averaged, combo))}, index=range(n))
            total += np.asarray(self.fit.predict(part), dtype=float)
        return total / len(combos)

    def summary(self):
        """Plain-text report: effects, ANOVA, fit statistics and tests."""
        parts = [f"Response: {self.response}   model: {self.formula}",
                 f"R² = {self.r2:.4f}  adj R² = {self.adj_r2:.4f}  pred R² = {self.pred_r2:.4f}",
                 "Effects (two-level terms: 2 x coefficient; categorical: level minus first level):",
                 self.effects.to_string(),
                 f"ANOVA (Type {self.ss_type} SS):", self.anova.to_string()]
        # Lenth's margin is for unreplicated designs; with pure error the F tests are better
        lenth_line = self.lenth if "Pure error" not in self.anova.index else None
        parts += [str(x) for x in (self.curvature, lenth_line, self.stationary) if x is not None]
        if self.aliases:
            parts.append("Aliased terms: " + "; ".join(f"{k} = {' = '.join(v)}" for k, v in self.aliases.items()))
        return "\n".join(parts)

    def __str__(self):
        return self.summary()


def analyze(design, response, model="main+2fi", categorical=None, alpha=0.05):
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
        levels always are. Categorical factors enter as main effects only; their
        coefficients are the Sum contrasts ``A[S.level]`` and their effects the treatment
        contrasts ``A[T.level]`` (level minus the first level).
    alpha : float
        Level for Lenth's margins.

    >>> import fabnb.doe as doe
    >>> d = doe.full_factorial(["A", "B", "C"])
    >>> d["y"] = 10 + 2 * d["A"] - 1.5 * d["A"] * d["B"]
    >>> r = doe.analyze(d, "y")
    >>> r.effects.round(6).to_dict()["A"], r.effects.round(6).to_dict()["A:B"]
    (4.0, -3.0)
    >>> import pandas as pd
    >>> cells = doe.as_design(pd.DataFrame({"p": [1, 1, 2, 2, 3, 3], "y": [1.0, 1, 5, 5, 9, 9]}), ["p"])
    >>> r = doe.analyze(cells, "y", model="main", categorical=["p"])
    >>> r.effects.round(9).to_dict(), r.predict({"p": [1, 2, 3]}).round(9).tolist()
    ({'p[T.2]': 4.0, 'p[T.3]': 8.0}, [1.0, 5.0, 9.0])
    """
    check_params("analyze", ANALYZE_RULES,
                 {"response": response, "model": model, "categorical": categorical, "alpha": alpha})
    meta = design_meta(design)
    if len(design) == 0:
        raise FabDataError("the design has no runs (no rows); add the runs before analysing it")
    factors = meta["factors"]
    y, yname = _response(design, response)
    cat = _categorical(meta, categorical)
    data = pd.DataFrame({"y": y})
    levels = {}
    for j, name in enumerate(factors):
        coded = _finite(name, design[name], "design")
        if j in cat:
            levels[f"x{j}"] = _level_labels(coded, Factor(name, meta["levels"].get(name)))
            labels = list(dict.fromkeys(levels[f"x{j}"].values()))
            data[f"x{j}"] = pd.Categorical([levels[f"x{j}"][c] for c in coded], categories=labels)
        else:
            data[f"x{j}"] = coded
    explicit = not (isinstance(model, str) and model in MODELS)
    terms = _parse_model(model, factors, meta["labels"], cat)
    blocks = design["block"].astype(str).to_numpy()
    has_blocks = len(set(blocks)) > 1
    data["blk"] = blocks
    if has_blocks:
        levels["blk"] = {b: b for b in dict.fromkeys(blocks)}
    center = design["center_point"].to_numpy(dtype=bool) if not cat else np.zeros(len(y), bool)
    if explicit and len(terms) + 1 > len(y):
        raise FabFitError(
            f"model has {len(terms)} terms plus the intercept but the design has only "
            f"{len(y)} runs; drop terms (e.g. high-order interactions) or add runs"
        )
    kept, aliases, dropped = _screen_terms(terms, data, factors, has_blocks, explicit, cat)
    # the formula names each term the way patsy does, so its ANOVA rows and parameter
    # columns map straight back to the factor names
    pieces = {term: _formula_term(term, cat) for term in kept}
    term_names = {pieces[t]: _term_name(t, factors) for t in kept}
    is_quadratic = any(len(set(t)) < len(t) for t in kept)
    test_curvature = center.any() and (~center).any() and not is_quadratic
    if test_curvature:
        data["cp"] = center.astype(float)
    extra = (["C(blk, Sum)"] if has_blocks else []) + (["cp"] if test_curvature else [])
    n_levels = {col: len(set(labels.values())) for col, labels in levels.items()}
    n_params = (1 + sum(n_levels[f"x{t[0]}"] - 1 if t[0] in cat else 1 for t in kept)
                + test_curvature + n_levels.get("blk", 1) - 1)
    if n_params > len(y):
        raise FabFitError(
            f"model {model!r} needs {n_params} parameters but the design has only {len(y)} runs; "
            "use a smaller model (e.g. model='main'), or add runs/replicates"
        )
    formula = "y ~ " + (" + ".join(list(pieces.values()) + extra) or "1")
    fit = smf.ols(formula, data, missing="raise").fit()
    shown = f"{yname} ~ " + " + ".join(list(term_names.values()) + (["Block"] if has_blocks else [])
                                       + (["Curvature"] if test_curvature else []))
    if np.linalg.matrix_rank(fit.model.exog) < fit.model.exog.shape[1]:
        raise FabFitError(
            f"model {model!r} is not estimable in this design (its columns are linearly "
            "dependent, e.g. an effect confounded with blocks); drop terms or add runs"
        )
    term_names.update({"C(blk, Sum)": "Block", "cp": "Curvature"})
    table, ss_type = _anova(fit, term_names, data, has_blocks, factors, cat)
    coefficients, effects, single_df = _coefficients_and_effects(fit, pieces, term_names, cat)
    constant = bool(np.ptp(y) == 0)
    if constant:
        warnings.warn(
            f"response {yname!r} is {y[0]:g} in every run: every coefficient and effect is 0, "
            "and R², F and p are undefined (NaN); there is nothing to explain",
            DoeWarning, stacklevel=2,
        )
        coefficients[:], effects[:] = 0.0, 0.0
        coefficients["Intercept"] = y[0]
        table = _flat_anova(table)
    press = 0.0 if constant else _press(fit)
    sst = float(np.sum((y - y.mean()) ** 2))
    result = DoeResult(
        effects=effects, coefficients=coefficients, anova=table,
        curvature=_curvature(table, y, center) if test_curvature else None,
        lenth=lenth(effects[single_df], alpha) if len(single_df) >= 3 else None,
        r2=float("nan") if constant else float(fit.rsquared),
        adj_r2=float("nan") if constant else _adjusted_r2(fit),
        pred_r2=1 - press / sst if np.isfinite(press) and not constant else float("nan"),
        press=press, ss_type=ss_type, aliases=aliases, dropped=dropped, fit=fit, formula=shown,
        term_names=term_names, factors=factors, response=yname, _levels=levels,
        run_order=design["run_order"].to_numpy(),
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


def _categorical(meta, categorical):
    factors = meta["factors"]
    cat = set()
    for j, name in enumerate(factors):
        if not Factor(name, meta["levels"].get(name)).numeric:
            cat.add(j)
    for name in [categorical] if isinstance(categorical, str) else categorical or []:
        check_option("analyze", "categorical", name, factors)
        cat.add(factors.index(name))
    return cat


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
    where the design knows it), plus ``{label: label}`` so either spelling selects a level."""
    values = np.unique(coded)
    natural = natural_values(factor, values)
    labels = [_label(v) for v in (values if natural is None else natural)]
    return {**dict(zip(values.tolist(), labels)), **{lab: lab for lab in labels}}


def _levels_of(name, values, levels):
    """Level labels of the values a caller gave for a categorical factor."""
    try:
        return [levels[v] for v in values]
    except (KeyError, TypeError):
        bad = next(v for v in values if not isinstance(v, (str, int, float, np.number)) or v not in levels)
        raise FabDataError(
            f"{bad!r} is not a level of categorical factor {name!r}; use one of "
            f"{list(dict.fromkeys(levels.values()))} or their coded values "
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


def _formula_term(term, cat):
    """patsy's spelling of a term on the renamed columns: ``x0``, ``x0:x1``,
    ``I(x0 ** 2)``, ``C(x2, Sum)``."""
    if term[0] in cat:
        return f"C(x{term[0]}, Sum)"
    if len(term) == 2 and term[0] == term[1]:
        return f"I(x{term[0]} ** 2)"
    return ":".join(f"x{j}" for j in term)


def _term_name(term, factors):
    if len(term) == 2 and term[0] == term[1]:
        return f"{factors[term[0]]}^2"
    return ":".join(factors[j] for j in term)


def _term_values(term, data):
    return np.prod([np.asarray(data[f"x{j}"], dtype=float) for j in term], axis=0)


def _screen_terms(terms, data, factors, has_blocks, explicit, cat):
    """Merge exactly aliased terms, drop those confounded with blocks (keyword models);
    raise for partially aliased terms and for aliased terms of explicit models."""
    n = len(data)
    block_basis = [np.ones(n)]
    if has_blocks:
        levels = sorted(set(data["blk"]))
        block_basis += [(data["blk"] == b).to_numpy(float) for b in levels[:-1]]
    term_basis = []
    keys = {_key(np.ones(n)): ("Intercept", 1.0)}
    kept, aliases, dropped = [], {}, {}
    for term in terms:
        name = _term_name(term, factors)
        if any(j in cat for j in term):
            if data[f"x{term[0]}"].nunique() > 1:
                kept.append(term)
            elif explicit:
                raise FabFitError(f"categorical factor {name} has one level in every run; "
                                  "it cannot be estimated here")
            else:
                dropped[name] = "one level in every run"
            continue
        col = _term_values(term, data)
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


def _coefficients_and_effects(fit, pieces, term_names, cat):
    """Coefficients (a categorical factor: its Sum contrasts), effects (two-level terms:
    2 × coefficient; a categorical factor: its treatment contrasts, from patsy's own
    contrast matrix) and the names of the effects with one degree of freedom each, the
    ones Lenth's method may pool (a multi-level factor's contrasts are correlated)."""
    info = _design_info(fit)
    coefficients = {"Intercept": fit.params["Intercept"]}
    effects, single_df = {}, []
    for term, piece in pieces.items():
        name = term_names[piece]
        params = fit.params.iloc[info.term_name_slices[piece]]
        if term[0] in cat:
            coefficients.update({name + col[len(piece):]: v for col, v in params.items()})
            coded = info.terms[info.term_names.index(piece)]
            (factor,) = coded.factors
            tau = info.term_codings[coded][0].contrast_matrices[factor].matrix @ params.to_numpy()
            levels = info.factor_infos[factor].categories
            contrasts = {f"{name}[T.{lab}]": t - tau[0] for lab, t in zip(levels[1:], tau[1:])}
            effects.update(contrasts)
            single_df += list(contrasts) if len(contrasts) == 1 else []
        else:
            coefficients[name] = params.iloc[0]
            if len(set(term)) == len(term):
                effects[name] = 2 * params.iloc[0]
                single_df.append(name)
    return (pd.Series(coefficients, name="coefficient", dtype=float),
            pd.Series(effects, name="effect", dtype=float), single_df)


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


def _anova(fit, term_names, data, has_blocks, factors, cat):
    saturated = fit.df_resid < 0.5
    ss_type = 1 if saturated else 3
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = anova_lm(fit, typ=ss_type)
    raw = raw.drop(index="Intercept", errors="ignore")
    table = raw.rename(index=term_names)[["sum_sq", "df", "F", "PR(>F)"]].copy()
    table.insert(2, "mean_sq", table["sum_sq"] / table["df"])
    if saturated:  # no error estimate: F and p are undefined, not zero
        table[["F", "PR(>F)"]] = np.nan
        table.loc["Residual", ["sum_sq", "mean_sq"]] = [0.0, np.nan]
    else:
        table.loc["Residual", "mean_sq"] = fit.ssr / fit.df_resid
    pure = _pure_error(fit, data, has_blocks, factors, cat)
    if pure is not None and pure["df"] > 0:
        lof_ss, lof_df = fit.ssr - pure["ss"], fit.df_resid - pure["df"]
        if lof_df > 0.5:
            f_lof = (lof_ss / lof_df) / (pure["ss"] / pure["df"])
            table.loc["Lack of fit"] = [lof_ss, lof_df, lof_ss / lof_df, f_lof,
                                        stats.f.sf(f_lof, lof_df, pure["df"])]
        table.loc["Pure error"] = [pure["ss"], pure["df"], pure["ss"] / pure["df"], np.nan, np.nan]
    y = data["y"].to_numpy()
    table.loc["Total"] = [float(np.sum((y - y.mean()) ** 2)), len(y) - 1, np.nan, np.nan, np.nan]
    table.attrs["ss_type"] = ss_type
    return table, ss_type


def _pure_error(fit, data, has_blocks, factors, cat):
    """Residual of the cell-means model (one mean per distinct setting, plus blocks)."""
    cells = data[[f"x{j}" for j in range(len(factors))]].astype(str).agg("|".join, axis=1)
    if cells.nunique() == len(cells):
        return None
    frame = pd.DataFrame({"y": data["y"], "cell": cells, "blk": data["blk"]})
    # cells and blocks may overlap (a block is often a set of cells): the fit is then
    # rank-deficient by design and statsmodels counts the residual df from the rank
    blocks_vary = has_blocks and frame.groupby("cell")["blk"].nunique().max() > 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cell_fit = smf.ols("y ~ C(cell)" + (" + C(blk)" if blocks_vary else ""), frame).fit()
    return {"ss": float(cell_fit.ssr), "df": float(cell_fit.df_resid)}


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
