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

**stratification** -- strata ``s`` = routing stratum × pattern of (binarised) ``Z``;
``τ = Σ_s n_s (ȳ₁ₛ − ȳ₀ₛ) / Σ_s n_s`` over the strata holding both arms.

**ipw** -- Hajek inverse-probability weighting with the saturated propensity
``e_s = n₁ₛ / n_s`` of those strata, clipped to ``[clip, 1 − clip]``::

    τ = Σ w T y / e / Σ w T / e − Σ w (1−T) y / (1−e) / Σ w (1−T) / (1−e)

(without clipping it equals stratification; the clip bounds the weight of a stratum
where the tool is almost always or almost never used).

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

import numpy as np
from scipy import sparse
from tqdm.auto import tqdm

from .positivity import stratum_matrix

METHODS = ("regression", "ipw", "stratification")
ALIAS_TOL = 1e-8


def bootstrap_weights(n: int, n_bootstrap: int, seed) -> np.ndarray:
    """(B, n) multinomial resampling counts of ``n`` wafers (same seed, same draws).

    >>> bootstrap_weights(5, 2, seed=0).sum(axis=1).tolist()
    [5.0, 5.0]
    """
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_bootstrap, n))
    return np.stack([np.bincount(d, minlength=n) for d in draws]).astype(float)


RIDGE = 1e-10


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
        q = g_nn.shape[-1]
        ridge = RIDGE * np.maximum(np.einsum("bgii->bg", g_nn) / q, 1e-300)
        g_nn = g_nn + ridge[..., None, None] * np.eye(q)
        sol = np.linalg.solve(g_nn, np.stack([g_tn, g_ny], axis=-1))  # (B, g, q, 2)
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
    >>> regression_effects(np.array([1., 1., 3., 3.]), np.zeros(4, int), T, [0], [[]]).tolist()
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


def _strata(base: np.ndarray, columns: np.ndarray, adjust: np.ndarray) -> np.ndarray:
    """Routing stratum x pattern of the adjusted columns (binarised at 0.5)."""
    bits = (columns[:, adjust] > 0.5).astype(np.int64) if len(adjust) else np.zeros((base.size, 0), int)
    return base * (2 ** len(adjust)) + bits @ (2 ** np.arange(len(adjust), dtype=np.int64))


def _strata_effect(y, t, one_hot, weights, method, clip):
    """Stratification / IPW effect for each weight row; one candidate."""
    wt, wc = weights * t, weights * (1 - t)
    n1, n0 = (one_hot.T @ wt.T).T, (one_hot.T @ wc.T).T  # (B, S)
    s1, s0 = (one_hot.T @ (wt * y).T).T, (one_hot.T @ (wc * y).T).T
    mixed = (n1 > 0) & (n0 > 0)
    size = np.where(mixed, n1 + n0, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m1, m0 = np.where(mixed, s1 / n1, 0.0), np.where(mixed, s0 / n0, 0.0)
        if method == "stratification":
            return (size * (m1 - m0)).sum(axis=1) / size.sum(axis=1)
        e = np.clip(n1 / np.where(mixed, n1 + n0, 1.0), clip, 1 - clip)
        w1, w0 = np.where(mixed, n1 / e, 0.0), np.where(mixed, n0 / (1 - e), 0.0)
        return (w1 * m1).sum(axis=1) / w1.sum(axis=1) - (w0 * m0).sum(axis=1) / w0.sum(axis=1)


def strata_effects(y, strata, columns, targets, adjust, weights=None, method="stratification",
                   clip=0.02, progress=False):
    """Stratification or IPW effects, shape (B, K) (see module docstring).

    >>> T = np.array([[0.], [1.], [0.], [1.]]); s = np.array([0, 0, 1, 1])
    >>> strata_effects(np.array([1., 2., 5., 7.]), s, T, [0], [[]]).tolist()
    [[1.5]]
    """
    y = np.asarray(y, dtype=float)
    weights = np.ones((1, y.size)) if weights is None else np.atleast_2d(weights)
    out = np.empty((len(weights), len(targets)))
    for k in tqdm(range(len(targets)), desc=method, disable=not progress, leave=False):
        adj = np.asarray(adjust[k], dtype=np.int64)
        one_hot = sparse.csc_matrix(stratum_matrix(_strata(strata, columns, adj)))
        out[:, k] = _strata_effect(y, columns[:, targets[k]], one_hot, weights, method, clip)
    return out


def effects(method, y, strata, columns, targets, adjust, weights=None, progress=False):
    """Dispatch to :func:`regression_effects` or :func:`strata_effects`, shape (B, K).

    >>> T = np.array([[0.], [1.], [0.], [1.]])
    >>> effects("ipw", np.array([1., 2., 5., 7.]), np.array([0, 0, 1, 1]), T, [0], [[]]
    ...         ).round(2).tolist()
    [[1.5]]
    """
    if method not in METHODS:
        from ..errors import FabDataError

        raise FabDataError(f"method={method!r}; choose one of {METHODS}")
    if method == "regression":
        return regression_effects(y, strata, columns, targets, adjust, weights, progress)
    return strata_effects(y, strata, columns, targets, adjust, weights, method, progress=progress)


def refute(method, y, strata, columns, target, adjust, effect, n_simulations=50,
           subset_fraction=0.8, seed=0):
    """Native versions of DoWhy's placebo, random-common-cause and data-subset refuters.

    Placebo: the treatment column is randomly permuted; random common cause: an
    independent N(0, 1) column (a fair coin for strata methods) joins the adjustment
    set; data subset: a random ``subset_fraction`` of the wafers.  Each is repeated
    ``n_simulations`` times in one vectorised call.  Returns the mean new effects and
    the placebo p-value ``(1 + #{|placebo| ≥ |effect|}) / (1 + n_simulations)``.

    >>> rng = np.random.default_rng(1); t = (rng.random(300) < .5).astype(float)
    >>> y = -0.1 * t + rng.normal(0, 0.01, 300)
    >>> r = refute("regression", y, np.zeros(300, int), t[:, None], 0,
    ...            np.array([], int), effect=-0.1, n_simulations=20)
    >>> abs(r["placebo_effect"]) < 0.01, r["placebo_p"] < 0.1, round(r["subset_effect"], 2)
    (True, True, -0.1)
    """
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
    main = effects(method, y, strata, cols, targets, adj)[0]
    keep = np.zeros((sims, n))
    for s in range(sims):
        keep[s, rng.choice(n, size=round(subset_fraction * n), replace=False)] = 1.0
    subset = effects(method, y, strata, cols, [0], [own], weights=keep)[:, 0]
    placebo_effects = main[1:1 + sims]
    exceed = np.sum(np.abs(placebo_effects) >= abs(effect))
    return {"placebo_effect": float(np.nanmean(placebo_effects)),
            "placebo_p": float((1 + exceed) / (1 + sims)),
            "random_cause_effect": float(np.nanmean(main[1 + sims:])),
            "subset_effect": float(np.nanmean(subset))}
