r"""Native backdoor-adjusted effects, vectorised over candidates and bootstrap replicates.

Notation: wafer weights ``w`` (1 for the plain estimate, multinomial counts for a
bootstrap replicate, 0/1 for a data subset), response ``y``, treatment indicator ``T``
(this tool vs the other tools of its step), adjustment set = the routing stratum ``s``
(combination of route, lot, period, ... levels) plus the co-routed tool indicators ``Z``
(:mod:`fabnb.causal.adjustment`).  The target is the average treatment
effect ``τ = E[Y | do(T=1)] − E[Y | do(T=0)]``.

**regression** -- the OLS coefficient of ``T`` in ``y ~ stratum + Z + T`` (stratum fixed
effects; what DoWhy's ``backdoor.linear_regression`` returns on the same graph with the
stratum as the context node).  The strata are absorbed (Frisch-Waugh-Lovell): the
weighted cross-products of stratum-demeaned columns are
``G_uv = Σ w a_u a_v − Σ_s (Σ_s w a_u)(Σ_s w a_v) / Σ_s w``, formed only for the pairs
each candidate needs, for all replicates in one matrix product; then with ``N = Z``::

    τ = (G_ty − G_tN G_NN⁻¹ G_Ny) / (G_tt − G_tN G_NN⁻¹ G_Nt)

The denominator is the weighted residual sum of squares of ``T`` given the nuisance; if
it vanishes ``T`` is aliased with the adjustment set (not identifiable).

**stratification** -- cells ``s`` = routing stratum × levels of every adjustment column:
a 0/1 column (a co-routed tool) enters with its two values; any other column is
continuous and is cut at its full-sample quantiles into ``n_quantiles`` equal-count
bins (default :data:`N_QUANTILES` = 5, which removes about 90 % of the bias of a
confounder acting linearly, Cochran 1968; more bins remove more but leave fewer cells
with both arms).  ``τ = Σ_s n_s (ȳ₁ₛ − ȳ₀ₛ) / Σ_s n_s`` over the cells holding both arms.

**ipw** -- Hajek inverse-probability weighting with a logistic propensity model on the
whole adjustment set, ``logit e = α_c + xᵀβ``: one intercept per cell ``c`` (routing
stratum × pattern of the 0/1 columns, i.e. saturated in the discrete part) and a slope
for every continuous column (standardised), fitted by maximum likelihood (Newton, the
cell intercepts absorbed by a Schur complement, vectorised over replicates).  Without
continuous columns the fit is the cell share ``e_c = n₁c / n_c``.  Propensities are
clipped to ``[clip, 1 − clip]`` (weights at most ``1 / clip``); the wafers outside that
range -- weak overlap: exploding weights, or arms a covariate separates -- are counted
and reported (``return_trimmed``, or a warning)::

    τ = Σ w T y / e / Σ w T / e − Σ w (1−T) y / (1−e) / Σ w (1−T) / (1−e)

Only wafers of cells holding both arms take part (elsewhere the propensity is 0 or 1 and
there is nothing to compare: see :mod:`.positivity`); on 0/1 columns without clipping,
IPW equals stratification.

**Interventional means** (:func:`interventional_means`): the two terms of ``τ`` on their
own, ``μ₁ = E[Y | do(T=1)]`` and ``μ₀ = E[Y | do(T=0)]`` (Pearl, Glymour & Jewell 2016,
*Causal Inference in Statistics: A Primer*, §3.2, the adjustment formula
``P(y | do(x)) = Σ_z P(y | x, z) P(z)``):

- regression: the g-formula (standardised) means of the fitted model, every wafer's
  prediction with ``T`` set to 1 (0), averaged over all wafers.  The stratum effects
  make the weighted residuals sum to zero, so ``μ₁ = ȳ + τ (1 − T̄)`` and
  ``μ₀ = ȳ − τ T̄`` (weighted means; what DoWhy's fitted ``linear_regression``
  estimator's ``do(1)`` / ``do(0)`` return);
- stratification: ``μ_t = Σ_s n_s ȳ_ts / Σ_s n_s`` over the cells holding both arms;
- ipw: the Hajek weighted means ``μ₁ = Σ w T y / e / Σ w T / e`` and
  ``μ₀ = Σ w (1−T) y / (1−e) / Σ w (1−T) / (1−e)`` over the same wafers (for
  stratification, the same sums with the cell shares as ``e``).

Stratification and IPW thus standardise to the wafers of cells holding both arms (the
overlap population; :mod:`.positivity` gives its share), regression to all wafers.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0); n = 400
>>> x = rng.random(n) < 0.5; t = (rng.random(n) < np.where(x, 0.8, 0.2)).astype(float)
>>> y = 0.9 - 0.05 * t - 0.1 * x + rng.normal(0, 0.01, n)
>>> tau = regression_effects(y, x.astype(int), t[:, None], [0], [np.array([], int)])
>>> round(float(tau[0, 0]), 2)
-0.05
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit
from tqdm.auto import tqdm

from .._params import Integral, Interval, Real, check_option, check_params
from ..errors import FabDataError
from .positivity import stratum_matrix
from .._warn import user_stacklevel

METHODS = ("regression", "ipw", "stratification")
ALIAS_TOL = 1e-8
#: Equal-count bins of a continuous adjustment column for stratification.
N_QUANTILES = 5
#: IPW propensities are clipped to [CLIP, 1 - CLIP] (weights at most 1 / CLIP).
CLIP = 0.02


def bootstrap_weights(n: int, n_bootstrap: int, seed) -> np.ndarray:
    """(B, n) multinomial resampling counts of ``n`` wafers (same seed, same draws).

    >>> bootstrap_weights(5, 2, seed=0).sum(axis=1).tolist()
    [5.0, 5.0]
    """
    check_params("bootstrap_weights", {"n": [Interval(Integral, 1, None, closed="left")],
                                       "n_bootstrap": [Interval(Integral, 1, None, closed="left")]},
                 {"n": n, "n_bootstrap": n_bootstrap})
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_bootstrap, n))
    return np.stack([np.bincount(d, minlength=n) for d in draws]).astype(float)


RIDGE = 1e-10


def _ridged(gram: np.ndarray) -> np.ndarray:
    """``gram + RIDGE × mean diagonal × I`` over the last two axes (the identity where the
    diagonal is all zero: an all-zero block, e.g. a column absent from a replicate, then
    solves to zero instead of raising)."""
    mean_diag = np.einsum("...ii->...", gram) / gram.shape[-1]
    ridge = np.where(mean_diag > 0, RIDGE * mean_diag, 1.0)
    return gram + ridge[..., None, None] * np.eye(gram.shape[-1])


def _plan(targets, adjust, y_col):
    """Index plan: which cross-products ``Σ w ã_u ã_v`` each candidate's FWL block needs.

    Returns the pair list (u, v) over the columns of ``A = [columns, y]`` and, per group
    of candidates with equally many co-routed columns, index arrays into it.
    """
    pairs: dict[tuple[int, int], int] = {}

    def pid(u, v):
        return pairs.setdefault((min(u, v), max(u, v)), len(pairs))

    sizes = np.array([len(a) for a in adjust])
    groups = []
    for m in np.unique(sizes):
        members = np.flatnonzero(sizes == m)
        nuis = [adjust[k] for k in members]
        t = [int(targets[k]) for k in members]
        groups.append({
            "members": members,
            "nn": np.array([[[pid(u, v) for v in q] for u in q] for q in nuis], dtype=np.int64).reshape(len(members), m, m),
            "tn": np.array([[pid(ti, u) for u in q] for ti, q in zip(t, nuis)], dtype=np.int64).reshape(len(members), m),
            "ny": np.array([[pid(u, y_col) for u in q] for q in nuis], dtype=np.int64).reshape(len(members), m),
            "tt": np.array([pid(ti, ti) for ti in t]),
            "ty": np.array([pid(ti, y_col) for ti in t]),
        })
    return np.array(list(pairs), dtype=np.int64).reshape(-1, 2), groups


def _fwl(entries, group):
    """Effects and residual-variance shares of one group from cross-product entries (B, P)."""
    g_tt = entries[:, group["tt"]]
    g_tn, g_ny = entries[:, group["tn"]], entries[:, group["ny"]]
    denom, numer = g_tt, entries[:, group["ty"]]
    if g_tn.shape[-1]:
        g_nn = entries[:, group["nn"]]  # (B, g, q, q)
        sol = np.linalg.solve(_ridged(g_nn), np.stack([g_tn, g_ny], axis=-1))  # (B, g, q, 2)
        denom = denom - np.einsum("bgq,bgq->bg", g_tn, sol[..., 0])
        numer = numer - np.einsum("bgq,bgq->bg", g_tn, sol[..., 1])
    scale = np.maximum(g_tt, 1e-300)
    ok = denom > ALIAS_TOL * scale
    return np.where(ok, numer / np.where(ok, denom, 1.0), np.nan), denom / scale


def regression_effects(y, strata, columns, targets, adjust, weights=None, progress=False,
                       return_alias=False, chunk=25):
    """OLS backdoor effects with stratum fixed effects, shape (B, K).

    One row per weight vector, one column per target: candidate ``k`` is column
    ``targets[k]`` of ``columns`` (n, M) adjusted for the integer ``strata`` and
    ``columns[:, adjust[k]]``.  A ridge of ``1e-10`` × mean diagonal keeps a block with
    an all-zero co-routed column (absent from a replicate) solvable.

    >>> T = np.array([[0.], [0.], [1.], [1.]])
    >>> regression_effects(np.array([1., 1., 3., 3.]), np.zeros(4, int), T, [0], [[]]).round(12).tolist()
    [[2.0]]
    """
    y = np.asarray(y, dtype=float)
    weights = np.ones((1, y.size)) if weights is None else np.atleast_2d(weights)
    design = np.column_stack([columns, y])
    adjust = [np.asarray(a, dtype=np.int64) for a in adjust]
    pairs, groups = _plan(np.asarray(targets), adjust, design.shape[1] - 1)
    used = np.unique(pairs)
    slot = np.full(design.shape[1], -1)
    slot[used] = np.arange(used.size)
    products = design[:, pairs[:, 0]] * design[:, pairs[:, 1]]  # (n, P)
    one_hot = stratum_matrix(strata)  # (n, S)
    out = np.empty((len(weights), len(targets)))
    alias = np.empty(len(targets))
    starts = range(0, len(weights), chunk)
    for start in tqdm(starts, desc="bootstrap", disable=not progress, leave=False,
                      total=len(starts), unit_scale=chunk):
        w = weights[start:start + chunk]
        count = np.asarray((one_hot.T @ w.T).T)  # (b, S)
        weighted = (w.T[:, :, None] * design[:, None, used]).reshape(y.size, -1)
        sums = np.asarray(one_hot.T @ weighted).reshape(-1, len(w), used.size).transpose(1, 0, 2)
        sums = sums / np.sqrt(np.where(count > 0, count, np.inf))[..., None]  # (b, S, U)
        between = np.einsum("bsp,bsp->bp", sums[:, :, slot[pairs[:, 0]]], sums[:, :, slot[pairs[:, 1]]])
        entries = w @ products - between
        for group in groups:
            effect, share = _fwl(entries, group)
            out[start:start + chunk, group["members"]] = effect
            alias[group["members"]] = share[0]
    return (out, alias) if return_alias else out


def _cells(base: np.ndarray, columns: np.ndarray, binary: np.ndarray, binned=()) -> np.ndarray:
    """Cell code of every wafer: routing stratum × 0/1 columns × quantile bins (mixed radix)."""
    cells = np.unique(base, return_inverse=True)[1].ravel()
    for level in [columns[:, j].astype(np.int64) for j in binary] + list(binned):
        radix = int(level.max()) + 1
        if cells.max() > np.iinfo(np.int64).max // (2 * radix):  # many columns: renumber first
            cells = np.unique(cells, return_inverse=True)[1].ravel()
        cells = cells * radix + level
    return cells


def quantile_bins(x: np.ndarray, n_quantiles: int = N_QUANTILES) -> np.ndarray:
    """Equal-count bin (0..n_quantiles−1) of every value, cut at the sample quantiles.

    >>> quantile_bins(np.arange(10.0), 5).tolist()
    [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    """
    edges = np.quantile(x, np.linspace(0, 1, n_quantiles + 1)[1:-1])
    return np.searchsorted(edges, x, side="right")


def _cell_sums(cells: np.ndarray, n_cells: int, values: np.ndarray) -> np.ndarray:
    """Per-cell sums of every row of ``values`` (B, n[, q]) → (B, S[, q])."""
    rows, tail = values.shape[0], values.shape[2:]
    flat = cells[None, :] + n_cells * np.arange(rows)[:, None]  # (B, n) bin of every entry
    if tail:
        flat = (flat[..., None] * tail[0] + np.arange(tail[0])).ravel()
        return np.bincount(flat, values.ravel(), rows * n_cells * tail[0]).reshape(rows, n_cells, -1)
    return np.bincount(flat.ravel(), values.ravel(), rows * n_cells).reshape(rows, n_cells)


def propensity(t, cells, x, weights, max_iter=100, tol=1e-10):
    """Logistic propensity ``P(T=1 | cell, x) = expit(α_cell + xᵀβ)``, ML per weight row.

    ``cells`` (n,) integer cell of every wafer, ``x`` (n, q) continuous covariates,
    ``weights`` (B, n).  Newton-Raphson on the weighted log-likelihood from the cell
    shares; the Hessian's cell block is diagonal, so each step solves only the q × q
    Schur complement ``(H_ββ − H_βα H_αα⁻¹ H_αβ) Δβ = g_β − H_βα H_αα⁻¹ g_α``, then
    ``Δα = H_αα⁻¹ (g_α − H_αβ Δβ)``.  Steps are capped at 5 on the logit scale, so a
    separated fit creeps towards 0 or 1 (where the caller clips) instead of overflowing.
    Without covariates the ML fit is the cell share ``n₁c / n_c``.  Returns ``e`` (B, n)
    and ``mixed`` (B, n): the wafer's cell holds both arms in that row (elsewhere ``e``
    is 0 or 1 and the wafer takes no part).

    >>> t = np.array([0., 1., 0., 1., 1., 1.])
    >>> e, mixed = propensity(t, np.array([0, 0, 0, 0, 1, 1]), np.zeros((6, 0)), np.ones((1, 6)))
    >>> e.round(2).tolist(), mixed.tolist()
    ([[0.5, 0.5, 0.5, 0.5, 1.0, 1.0]], [[True, True, True, True, False, False]])
    """
    cells = np.unique(cells, return_inverse=True)[1].ravel()
    n_cells = int(cells.max()) + 1
    n1, n = _cell_sums(cells, n_cells, weights * t), _cell_sums(cells, n_cells, weights)
    share = n1 / np.where(n > 0, n, 1.0)
    mixed_cell = (n1 > 0) & (n1 < n)
    mixed = mixed_cell[:, cells]
    if x.shape[1] == 0:
        return share[:, cells], mixed
    spread = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(spread > 0, spread, 1.0)  # slopes on one scale
    w = weights * mixed
    alpha = logit(np.where(mixed_cell, share, 0.5))
    beta = np.zeros((len(w), x.shape[1]))
    for _ in range(max_iter):
        p = expit(alpha[:, cells] + beta @ x.T)
        v, r = w * p * (1 - p), w * (t - p)
        d, g_alpha, g_beta = _cell_sums(cells, n_cells, v), _cell_sums(cells, n_cells, r), r @ x
        cross = _cell_sums(cells, n_cells, v[:, :, None] * x)  # H_αβ (B, S, q)
        d_inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0)
        schur = np.einsum("bi,ij,ik->bjk", v, x, x) - np.einsum("bsj,bs,bsk->bjk", cross, d_inv, cross)
        rhs = g_beta - np.einsum("bsj,bs->bj", cross, d_inv * g_alpha)
        step_beta = np.linalg.solve(_ridged(schur), rhs[..., None])[..., 0]
        step_alpha = d_inv * (g_alpha - np.einsum("bsj,bj->bs", cross, step_beta))
        size = np.maximum(np.abs(step_alpha).max(axis=1), np.abs(step_beta).max(axis=1))
        scale = np.minimum(1.0, 5.0 / np.maximum(size, 1e-300))[:, None]
        alpha, beta = alpha + scale * step_alpha, beta + scale * step_beta
        if size.max() < tol:
            break
    return expit(alpha[:, cells] + beta @ x.T), mixed


@dataclass(frozen=True)
class Interventional:
    """Interventional means of every weight row (B) and candidate (K), see module docstring.

    ``treated`` ``E[Y | do(T=1)]``, ``untreated`` ``E[Y | do(T=0)]``, ``effect`` their
    difference ``τ`` (regression: the OLS coefficient itself, not re-derived from the
    means), ``trimmed`` the count of wafers whose IPW propensity was clipped (0 for the
    other methods).  NaN where the candidate is not identifiable in that row.
    """

    treated: np.ndarray
    untreated: np.ndarray
    effect: np.ndarray
    trimmed: np.ndarray


def g_formula_means(y, treated, weights, effect):
    """Standardised means ``μ₁ = ȳ + τ (1 − T̄)``, ``μ₀ = ȳ − τ T̄`` of an additive model
    with stratum effects (weighted means over the rows of ``weights`` (B, n); ``treated``
    (n, K) the candidates' indicators, ``effect`` (B, K) their coefficients).

    >>> mu1, mu0 = g_formula_means(np.array([1., 1., 3., 3.]), np.array([[0.], [0.], [1.], [1.]]),
    ...                            np.ones((1, 4)), np.array([[2.]]))
    >>> mu1.tolist(), mu0.tolist()
    ([[3.0]], [[1.0]])
    """
    total = weights.sum(axis=1, keepdims=True)
    y_bar = (weights @ y)[:, None] / total
    t_bar = (weights @ treated) / total
    return y_bar + effect * (1 - t_bar), y_bar - effect * t_bar


def _hajek_means(y, t, cells, x, weights, clip):
    """Hajek IPW means μ₁, μ₀ (B,) and count of wafers with a clipped propensity (B,); one
    candidate."""
    e, mixed = propensity(t, cells, x, weights)
    w = weights * mixed
    # outside [clip, 1 − clip] overlap is weak: weights explode (treated e → 0, untreated
    # e → 1) or the arms barely meet (a separating covariate drives e to 0 and 1)
    trimmed = ((w > 0) & ((e < clip) | (e > 1 - clip))).sum(axis=1)
    e = np.clip(np.where(mixed, e, 0.5), clip, 1 - clip)  # outside mixed cells w = 0
    w1, w0 = w * t / e, w * (1 - t) / (1 - e)
    with np.errstate(invalid="ignore", divide="ignore"):  # no mixed cell: NaN, flagged by positivity
        return (w1 @ y) / w1.sum(axis=1), (w0 @ y) / w0.sum(axis=1), trimmed


def strata_means(y, strata, columns, targets, adjust, weights=None, method="stratification",
                 clip=CLIP, n_quantiles=N_QUANTILES, progress=False) -> Interventional:
    """Stratification or IPW interventional means and effects (see module docstring).

    Stratification is computed as IPW with the unclipped cell shares over the cells
    including the quantile bins (the two are algebraically equal), so it never clips.

    >>> T = np.array([[0.], [1.], [0.], [1.]]); s = np.array([0, 0, 1, 1])
    >>> m = strata_means(np.array([1., 2., 5., 7.]), s, T, [0], [[]])
    >>> m.treated.tolist(), m.untreated.tolist(), m.effect.tolist(), m.trimmed.tolist()
    ([[4.5]], [[3.0]], [[1.5]], [[0]])
    """
    y = np.asarray(y, dtype=float)
    weights = np.ones((1, y.size)) if weights is None else np.atleast_2d(weights)
    mu1, mu0 = np.empty((2, len(weights), len(targets)))
    trimmed = np.zeros((len(weights), len(targets)), dtype=np.int64)
    stratify = method == "stratification"
    indicator = ((columns == 0) | (columns == 1)).all(axis=0)  # 0/1 columns; the rest is continuous
    for k in tqdm(range(len(targets)), desc=method, disable=not progress, leave=False):
        adj = np.asarray(adjust[k], dtype=np.int64)
        binary, continuous = adj[indicator[adj]], adj[~indicator[adj]]
        binned = [quantile_bins(columns[:, j], n_quantiles) for j in continuous] if stratify else []
        cells = _cells(strata, columns, binary, binned)
        x = np.zeros((y.size, 0)) if stratify else columns[:, continuous]
        mu1[:, k], mu0[:, k], trimmed[:, k] = _hajek_means(y, columns[:, targets[k]], cells, x, weights,
                                                           0.0 if stratify else clip)
    return Interventional(mu1, mu0, mu1 - mu0, trimmed)


def _checked(method, y, columns, clip, n_quantiles, owner):
    """Options checked and inputs as float arrays; non-finite inputs refused by name."""
    check_option(owner, "method", method, METHODS)
    check_params(owner, {"clip": [Interval(Real, 0, 0.5, closed="left")],
                         "n_quantiles": [Interval(Integral, 2, None, closed="left")]},
                 {"clip": clip, "n_quantiles": n_quantiles})
    y, columns = np.asarray(y, dtype=float), np.asarray(columns, dtype=float)
    bad = ~np.isfinite(np.column_stack([y, columns])).all(axis=0)
    if bad.any():
        where = ["y" if j == 0 else f"column {j - 1}" for j in np.flatnonzero(bad)]
        raise FabDataError(f"{owner}: non-finite values in {', '.join(where[:10])}; "
                           "drop or impute those wafers first")
    return y, columns


def _means(method, y, strata, columns, targets, adjust, weights, progress, clip, n_quantiles):
    """:class:`Interventional` of checked inputs by ``method``."""
    if method != "regression":
        return strata_means(y, strata, columns, targets, adjust, weights, method, clip,
                            n_quantiles, progress)
    weights = np.ones((1, y.size)) if weights is None else np.atleast_2d(weights)
    tau = regression_effects(y, strata, columns, targets, adjust, weights, progress)
    mu1, mu0 = g_formula_means(y, columns[:, np.asarray(targets, dtype=np.int64)], weights, tau)
    return Interventional(mu1, mu0, tau, np.zeros(tau.shape, dtype=np.int64))


def interventional_means(method, y, strata, columns, targets, adjust, weights=None,
                         progress=False, *, clip=CLIP, n_quantiles=N_QUANTILES) -> Interventional:
    r"""``E[Y | do(T=1)]``, ``E[Y | do(T=0)]`` and their difference for every candidate.

    Same inputs as :func:`effects`; returns an :class:`Interventional` of (B, K) arrays
    (see the module docstring for each method's formula).  The IPW clipping count is in
    ``trimmed`` (no warning here).

    Example: Pearl, Glymour & Jewell (2016) Table 1.1 (Charig et al. 1986, treatment A
    vs B by stone size), ``P(recovery | do(A)) = Σ_z P(rec | A, z) P(z)``:

    >>> size = np.repeat([0, 0, 1, 1], [87, 270, 263, 80]); a = np.repeat([1., 0., 1., 0.], [87, 270, 263, 80])
    >>> rec = np.concatenate([np.arange(n) < r for n, r in [(87, 81), (270, 234), (263, 192), (80, 55)]])
    >>> m = interventional_means("stratification", rec, size, a[:, None], [0], [[]])
    >>> round(float(m.treated[0, 0]), 4), round(float(m.untreated[0, 0]), 4)
    (0.8325, 0.7789)
    """
    y, columns = _checked(method, y, columns, clip, n_quantiles, "interventional_means")
    return _means(method, y, strata, columns, targets, adjust, weights, progress, clip, n_quantiles)


def effects(method, y, strata, columns, targets, adjust, weights=None, progress=False, *,
            clip=CLIP, n_quantiles=N_QUANTILES, return_trimmed=False):
    """Backdoor-adjusted effects (B, K) of ``columns[:, targets[k]]`` given the integer
    ``strata`` and ``columns[:, adjust[k]]``, by ``method`` (see module docstring).

    Adjustment columns may be 0/1 indicators or continuous; none is dropped.  ``clip``
    bounds the IPW propensity, ``n_quantiles`` is the number of bins of a continuous
    column for stratification.  With ``return_trimmed`` also returns the (B, K) count of
    wafers whose IPW propensity was clipped; otherwise clipping is reported by a warning.
    :func:`interventional_means` gives the two means behind each effect.

    >>> T = np.array([[0.], [1.], [0.], [1.]])
    >>> effects("ipw", np.array([1., 2., 5., 7.]), np.array([0, 0, 1, 1]), T, [0], [[]]
    ...         ).round(2).tolist()
    [[1.5]]
    """
    y, columns = _checked(method, y, columns, clip, n_quantiles, "effects")
    result = _means(method, y, strata, columns, targets, adjust, weights, progress, clip, n_quantiles)
    out, trimmed = result.effect, result.trimmed
    if return_trimmed:
        return out, trimmed
    if trimmed.any():
        warnings.warn(f"ipw: propensity of up to {int(trimmed.max())} wafer(s) per candidate outside "
                      f"[{clip}, {1 - clip}] (weak overlap), clipped: weights capped at {1 / clip:.3g}, "
                      f"in {int(trimmed.any(axis=1).sum())} of {len(trimmed)} weight row(s); pass "
                      "return_trimmed=True for the counts", UserWarning, stacklevel=user_stacklevel())
    return out


def refute(method, y, strata, columns, target, adjust, effect, n_simulations=50,
           subset_fraction=0.8, seed=0):
    """Native versions of DoWhy's placebo, random-common-cause and data-subset refuters.

    Placebo: the treatment column is randomly permuted; random common cause: an
    independent N(0, 1) column (a fair coin for strata methods: one more binary split of
    the cells, where a continuous column would cut each into ``n_quantiles``) joins the
    adjustment set; data subset: a random ``subset_fraction`` of the wafers.  Each is
    repeated ``n_simulations`` times in one vectorised call.  Returns the mean new
    effects and the placebo p-value ``(1 + #{|placebo| ≥ |effect|}) / (1 + n_simulations)``.
    IPW clipping is reported with the estimate being refuted, not again here.

    >>> rng = np.random.default_rng(1); t = (rng.random(300) < .5).astype(float)
    >>> y = -0.1 * t + rng.normal(0, 0.01, 300)
    >>> r = refute("regression", y, np.zeros(300, int), t[:, None], 0,
    ...            np.array([], int), effect=-0.1, n_simulations=20)
    >>> abs(r["placebo_effect"]) < 0.01, r["placebo_p"] < 0.1, round(r["subset_effect"], 2)
    (True, True, -0.1)
    """
    check_option("refute", "method", method, METHODS)
    check_params("refute", {"n_simulations": [Interval(Integral, 1, None, closed="left")],
                            "subset_fraction": [Interval(Real, 0, 1, closed="right")]},
                 {"n_simulations": n_simulations, "subset_fraction": subset_fraction})
    rng = np.random.default_rng(seed)
    n, sims = y.size, n_simulations
    adjust = np.asarray(adjust, dtype=np.int64)
    base = columns[:, np.concatenate([[target], adjust]).astype(np.int64)]  # T first
    placebo = np.column_stack([rng.permutation(base[:, 0]) for _ in range(sims)])
    coin = rng.standard_normal((n, sims)) if method == "regression" else (rng.random((n, sims)) < 0.5).astype(float)
    cols = np.column_stack([base, placebo, coin])
    own = np.arange(1, base.shape[1])
    targets = [0] + [base.shape[1] + s for s in range(sims)] + [0] * sims
    adj = [own] + [own] * sims + [np.append(own, base.shape[1] + sims + s) for s in range(sims)]
    main = effects(method, y, strata, cols, targets, adj, return_trimmed=True)[0][0]
    keep = np.zeros((sims, n))
    for s in range(sims):
        keep[s, rng.choice(n, size=round(subset_fraction * n), replace=False)] = 1.0
    subset = effects(method, y, strata, cols, [0], [own], weights=keep,
                     return_trimmed=True)[0][:, 0]
    placebo_effects = main[1:1 + sims]
    exceed = np.sum(np.abs(placebo_effects) >= abs(effect))
    return {"placebo_effect": float(np.nanmean(placebo_effects)),
            "placebo_p": float((1 + exceed) / (1 + sims)),
            "random_cause_effect": float(np.nanmean(main[1 + sims:])),
            "subset_effect": float(np.nanmean(subset))}
