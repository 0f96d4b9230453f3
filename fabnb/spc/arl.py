"""Average run length (ARL) of Shewhart, CUSUM and EWMA charts, and chart design from a
target in-control ARL. Shifts are in units of the process standard deviation.

Shewhart (exact): a point signals with ``p = Φ(−L − δ) + 1 − Φ(L − δ)``; run lengths are
geometric, so ``ARL = 1 / p`` (370.4 for L = 3, δ = 0).

CUSUM (Brook & Evans 1972): the upper statistic ``C⁺_t = max(0, C⁺_{t−1} + x_t − k)``
on ``[0, h)`` is discretised into ``m`` states of width ``w = 2h / (2m − 1)``, state ``i``
standing for ``i·w``. With ``F`` the N(δ, 1) cdf the transient transition matrix is::

    R[i, 0] = F(k − i w + w/2)
    R[i, j] = F(k + (j − i) w + w/2) − F(k + (j − i) w − w/2),   j ≥ 1

and the vector of ARLs from each start state is ``(I − R)⁻¹ 1`` (a head start between
two state centres is interpolated linearly). A two-sided chart combines its halves as
``1/ARL = 1/ARL⁺ + 1/ARL⁻`` (Lucas & Crosier 1982).

EWMA (Lucas & Saccucci 1990): ``z_t = (1 − λ) z_{t−1} + λ x_t`` with asymptotic limits
``±L σ √(λ/(2−λ))``; the interval between them is cut into ``2m + 1`` states of width
``w`` with centres ``c_j`` and::

    R[i, j] = Φ((c_j + w/2 − (1−λ) c_i)/λ − δ) − Φ((c_j − w/2 − (1−λ) c_i)/λ − δ)

Both chains converge as ``A(m) = A + c/m² + O(1/m³)``, so every ARL is the Richardson
extrapolation ``(4 A(m) − A(m/2)) / 3`` of two chains; with the default ``m = 400`` it is
within 1e-6 (relative) of the limit on Montgomery's CUSUM and Lucas–Saccucci's EWMA
tables, where one 300-state chain is 2e-6 to 2e-4 off.
Shewhart with zone run rules (Champ & Woodall 1987, Technometrics 29(4), 393–399): the
chart adds to rule 1 (a point beyond ±L) rules that fire on k of the last m points beyond
a zone edge on one side (Western Electric: 2 of 3 beyond 2L/3, 4 of 5 beyond L/3, 8 in a
row on one side; Nelson's 9 in a row). A point falls in one of eight zones (edges at 0,
±L/3, ±2L/3, ±L) with probabilities from N(δ, 1); the chain's state is the recent zone
history, reduced to what a rule can still use (the last m − 1 zones of a k-of-m rule,
the current run for an m-in-a-row rule), and ``ARL = ((I − R)⁻¹ 1)[start]`` from the
empty history, exactly (no discretisation). With the four Western Electric rules the
in-control ARL is 91.75 (Champ & Woodall 1987); rules 1 and 2 give 225.44, 1 and 3
166.05, 1 and 4 152.73.

Example
-------
>>> from fabnb.spc import arl_shewhart, arl_cusum, arl_ewma, arl_run_rules, design_ewma
>>> round(arl_run_rules("western_electric"), 2)   # Champ & Woodall (1987): 91.75
91.75
>>> round(arl_shewhart(3.0), 1)
370.4
>>> round(arl_cusum(k=0.5, h=5.0), 0)   # Montgomery, Table 9.3: 465
465.0
>>> round(design_ewma(lam=0.1, arl0=500), 2)   # Lucas & Saccucci: L = 2.814
2.81
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import optimize, sparse, stats
from scipy.sparse.linalg import spsolve

from .._params import Integral, Interval, Real, StrOptions, check_option, check_params
from ..errors import FabDataError, FabParameterError
from . import _params as rules_of
from .rules import RULE_SETS, run_rules

_STATES = 400  # states of the finer of the two chains that are extrapolated
CHARTS = ("shewhart", "cusum", "ewma")


def arl_shewhart(L: float = 3.0, shift: float = 0.0) -> float:
    """Exact ARL of a Shewhart chart with ±L σ limits for a mean shift of ``shift`` σ."""
    check_params("arl_shewhart", {**rules_of.SHEWHART, **rules_of.ARL}, {"L": L, "shift": shift})
    p = stats.norm.cdf(-L - shift) + stats.norm.sf(L - shift)
    return float(1.0 / p)


# k of the last m points beyond ``edge`` (in L/3 units) on one side; rule 1 is the limit
_ZONE_RULES = {"WE2": (2, 3, 2), "N5": (2, 3, 2), "WE3": (4, 5, 1), "N6": (4, 5, 1),
               "WE4": (8, 8, 0), "N2": (9, 9, 0)}
_LIMIT_RULES = ("WE1", "N1")


def _zone_rules(rules, owner):
    """(limit rule present, sorted k-of-m specs) of a rule set, or FabParameterError."""
    names = RULE_SETS.get(rules, rules) if isinstance(rules, str) else tuple(rules)
    check_params(owner, {"rules": [StrOptions(set(RULE_SETS)), list, tuple]}, {"rules": rules})
    other = [r for r in names if r not in _ZONE_RULES and r not in _LIMIT_RULES]
    if other or not names:
        raise FabParameterError(
            f"The 'rules' parameter of {owner} must be zone rules among "
            f"{sorted(_ZONE_RULES) + list(_LIMIT_RULES)} (their Markov chain is exact); got {list(names)!r}"
            + (f", of which {other} are not zone rules" if other else ""))
    return any(r in _LIMIT_RULES for r in names), tuple(sorted({_ZONE_RULES[r] for r in names if r in _ZONE_RULES}))


@lru_cache(maxsize=32)
def _zone_chain(limit: bool, specs: tuple):
    """States and moves of the zone-rule chain, found breadth-first from the empty history.

    A point is a signed zone ``c`` in ±1..±4: it exceeds edges 0 … ``|c| − 1`` (in L/3
    units) on the side of its sign (±4 is beyond the limit). A state holds, for lags
    1 … M−1, the same code reduced to the edges some rule can still use at that lag, 0
    when none; the move table gives, per state and zone, the next state or −1 (signal).
    """
    depth = max(m for _, m, _ in specs) - 1

    def reduce(hist):
        out = []
        for lag, v in enumerate(hist, start=1):
            edges = {b for k, m, b in specs if m - 1 >= lag and (k < m or all(
                (u >= b + 1) if v > 0 else (u <= -(b + 1)) for u in out))}
            kept = [b for b in edges if b <= abs(v) - 1]
            out.append(int(np.sign(v)) * (max(kept) + 1) if kept and v else 0)
        return tuple(out)

    def signals(hist, c):
        if limit and abs(c) == 4:
            return True
        for k, m, b in specs:
            window = (c,) + hist[:m - 1]
            if sum(v >= b + 1 for v in window) >= k or sum(v <= -(b + 1) for v in window) >= k:
                return True
        return False

    zones = (-4, -3, -2, -1, 1, 2, 3, 4)
    start = (0,) * depth
    index, order, moves = {start: 0}, [start], []
    while len(moves) < len(order):
        hist = order[len(moves)]
        row = []
        for c in zones:
            if signals(hist, c):
                row.append(-1)
                continue
            nxt = reduce((c,) + hist[:-1])
            if nxt not in index:
                index[nxt] = len(order)
                order.append(nxt)
            row.append(index[nxt])
        moves.append(row)
    return np.array(moves)


def arl_run_rules(rules="western_electric", shift: float = 0.0, L: float = 3.0) -> float:
    """Exact ARL of a Shewhart chart with zone run rules for a mean shift of ``shift`` σ
    of the plotted statistic, by the Markov chain of Champ & Woodall (1987).

    ``rules`` is ``"western_electric"`` (rules 1–4), ``"limits"`` or a list of rule ids
    as in :func:`~fabnb.spc.run_rules` among the zone rules WE1–WE4, N1, N2, N5, N6
    (trend and alternation rules have no finite zone chain). Zone edges are at ``L/3``,
    ``2L/3`` and ``L``, as :class:`~fabnb.spc.ShewhartChart` scales them.

    >>> round(arl_run_rules(["WE1", "WE4"]), 2), round(arl_run_rules(shift=1.0), 2)
    (152.73, 9.22)
    """
    check_params("arl_run_rules", {**rules_of.SHEWHART, **rules_of.ARL}, {"L": L, "shift": shift})
    limit, specs = _zone_rules(rules, "arl_run_rules")
    if not specs:
        return arl_shewhart(L, shift)
    moves = _zone_chain(limit, specs)
    edges = np.array([-np.inf, -3, -2, -1, 0, 1, 2, 3, np.inf]) * (L / 3)
    prob = np.diff(stats.norm.cdf(edges - shift))  # zones -4 … 4 (no 0), as in the move table
    n = len(moves)
    rows = np.repeat(np.arange(n), moves.shape[1])
    cols = moves.ravel()
    keep = cols >= 0
    R = sparse.csr_matrix((np.tile(prob, n)[keep], (rows[keep], cols[keep])), shape=(n, n))
    arl = spsolve((sparse.identity(n, format="csr") - R).tocsc(), np.ones(n))
    return float(arl[0])


def _arl_from_transient(R: np.ndarray, start: float) -> float:
    """ARL from (fractional) start state ``start``: linear between the two nearest states."""
    arl = np.linalg.solve(np.eye(len(R)) - R, np.ones(len(R)))
    lo = min(int(np.floor(start)), len(R) - 1)
    hi = min(lo + 1, len(R) - 1)
    return float(arl[lo] + (start - lo) * (arl[hi] - arl[lo]))


def _richardson(arl_of_states, m: int) -> float:
    """``(4 A(m) − A(m/2)) / 3``: cancels the chains' O(1/m²) discretisation error."""
    return (4.0 * arl_of_states(m) - arl_of_states(m // 2)) / 3.0


def _arl_cusum_upper(k, h, shift, headstart, m):
    w = 2.0 * h / (2 * m - 1)
    i = np.arange(m)[:, None]
    j = np.arange(m)[None, :]
    d = (j - i) * w + k - shift
    R = stats.norm.cdf(d + w / 2) - stats.norm.cdf(d - w / 2)
    R[:, 0] = stats.norm.cdf(k - shift - i[:, 0] * w + w / 2)
    return _arl_from_transient(R, headstart / w)


def arl_cusum(k: float, h: float, shift: float = 0.0, headstart: float = 0.0,
              sides: int = 2, states: int = _STATES) -> float:
    """ARL of a tabular CUSUM with reference value ``k`` and decision interval ``h`` (in
    σ), for a mean shift of ``shift`` σ, by the Brook–Evans Markov chain.

    ``headstart`` is the fast-initial-response start value of the statistic (in σ, e.g.
    ``h/2``); ``sides=2`` for the usual two-sided chart, 1 for an upper chart only.
    """
    check_params("arl_cusum", {**rules_of.CUSUM, **rules_of.ARL},
                 {"k": k, "h": h, "headstart": headstart, "shift": shift, "sides": sides, "states": states})
    if headstart >= h:
        raise FabParameterError(f"The 'headstart' parameter of arl_cusum must be below h={h}. Got {headstart!r} instead.")
    upper = _richardson(lambda m: _arl_cusum_upper(k, h, shift, headstart, m), states)
    if sides == 1:
        return upper
    lower = _richardson(lambda m: _arl_cusum_upper(k, h, -shift, headstart, m), states)
    return float(1.0 / (1.0 / upper + 1.0 / lower))


def arl_ewma(lam: float, L: float, shift: float = 0.0, states: int = _STATES) -> float:
    """ARL of a two-sided EWMA chart (weight ``lam``, asymptotic limits ±L σ_z) for a
    mean shift of ``shift`` σ, by the Lucas–Saccucci Markov chain, started at 0."""
    check_params("arl_ewma", {**rules_of.EWMA, **rules_of.ARL}, {"lam": lam, "L": L, "shift": shift, "states": states})
    half = L * np.sqrt(lam / (2 - lam))

    def chain(m):
        n = 2 * m + 1
        w = 2 * half / n
        c = -half + w * (np.arange(n) + 0.5)
        base = (1 - lam) * c[:, None]
        R = stats.norm.cdf((c[None, :] + w / 2 - base) / lam - shift) - stats.norm.cdf(
            (c[None, :] - w / 2 - base) / lam - shift
        )
        return _arl_from_transient(R, m)

    return float(_richardson(chain, states))


def _design(owner, arl, target, lo, hi, what):
    check_params(owner, {"arl0": [Interval(Real, 1, None, closed="neither")]}, {"arl0": target})
    f = lambda v: np.log(arl(v)) - np.log(target)  # noqa: E731  (ARL spans decades)
    if f(lo) > 0 or f(hi) < 0:
        raise FabDataError(f"no {what} in [{lo}, {hi}] reaches an in-control ARL of {target}")
    return float(optimize.brentq(f, lo, hi, xtol=1e-6))


def design_cusum(k: float, arl0: float, sides: int = 2, headstart: float = 0.0) -> float:
    """Decision interval ``h`` giving in-control ARL ``arl0`` for reference value ``k``."""
    return _design("design_cusum", lambda h: arl_cusum(k, h, 0.0, min(headstart, 0.999 * h), sides),
                   arl0, 0.05, 30.0, "h")


def design_ewma(lam: float, arl0: float) -> float:
    """Limit width ``L`` giving in-control ARL ``arl0`` for EWMA weight ``lam``."""
    return _design("design_ewma", lambda L: arl_ewma(lam, L), arl0, 0.5, 6.0, "L")


def detection_delay(chart: str, shift: float, **params) -> float:
    """Out-of-control ARL (expected wafers to detect a ``shift`` σ step) of a
    ``"shewhart"`` (L; optional zone ``rules``), ``"cusum"`` (k, h) or ``"ewma"`` (lam,
    L) chart."""
    check_option("detection_delay", "chart", chart, CHARTS)
    if chart == "shewhart" and "rules" in params:
        return arl_run_rules(shift=shift, **params)
    table = {"shewhart": arl_shewhart, "cusum": arl_cusum, "ewma": arl_ewma}
    return table[chart](shift=shift, **params)


def _first_rule_signal(rng, shift, L, rules, max_len) -> int:
    """Run length of one simulated Shewhart chart with run rules (samples doubled until a
    rule fires; the rules see the whole history, as on a real chart)."""
    x = np.empty(0)
    while x.size < max_len:
        x = np.r_[x, rng.normal(shift, 1.0, max(64, x.size))][:max_len]
        fired = [i for i, hit in enumerate(run_rules(x * (3.0 / L), rules)) if hit]
        if fired:
            return fired[0] + 1
    raise FabDataError(f"a run did not signal within {max_len} samples")


def simulate_arl(chart: str, shift: float = 0.0, n_rep: int = 2000, seed=0, max_len: int = 100_000,
                 **params) -> tuple[float, float]:
    """Monte-Carlo ARL (mean run length and its standard error) of a ``"shewhart"``
    (L; optional ``rules`` as in :func:`~fabnb.spc.run_rules`), ``"cusum"`` (k, h,
    headstart) or ``"ewma"`` (lam, L; asymptotic limits) chart on N(shift, 1) data,
    ``n_rep`` independent runs advanced together (one by one through ``run_rules`` when
    run rules are asked for)."""
    check_option("simulate_arl", "chart", chart, CHARTS)
    check_params("simulate_arl", {**rules_of.SHEWHART, **rules_of.CUSUM, **rules_of.EWMA, **rules_of.ARL,
                                  "n_rep": [Interval(Integral, 2, None, closed="left")],
                                  "max_len": [Interval(Integral, 1, None, closed="left")]},
                 {**params, "shift": shift, "n_rep": n_rep, "max_len": max_len})
    rng = np.random.default_rng(seed)
    rules = params.pop("rules", "limits")
    if rules != "limits":
        if chart != "shewhart":
            raise FabParameterError(f"The 'rules' parameter of simulate_arl applies to the Shewhart chart only. "
                                    f"Got rules={rules!r} with chart={chart!r} instead.")
        run_rules([], rules)  # unknown rule names fail before the first run
        length = np.array([_first_rule_signal(rng, shift, params["L"], rules, max_len) for _ in range(n_rep)])
        return float(length.mean()), float(length.std(ddof=1) / np.sqrt(n_rep))
    alive = np.ones(n_rep, dtype=bool)
    length = np.zeros(n_rep)
    a = np.full(n_rep, float(params.get("headstart", 0.0)))
    b = a.copy()
    if chart == "ewma":
        half = params["L"] * np.sqrt(params["lam"] / (2 - params["lam"]))
        a[:] = 0.0
    for t in range(1, max_len + 1):
        x = rng.normal(shift, 1.0, alive.sum())
        if chart == "shewhart":
            signal = np.abs(x) > params["L"]
        elif chart == "cusum":
            a[alive] = np.maximum(0, a[alive] + x - params["k"])
            b[alive] = np.maximum(0, b[alive] - x - params["k"])
            signal = (a[alive] > params["h"]) | (b[alive] > params["h"])
        else:
            a[alive] = params["lam"] * x + (1 - params["lam"]) * a[alive]
            signal = np.abs(a[alive]) > half
        idx = np.flatnonzero(alive)[signal]
        length[idx] = t
        alive[idx] = False
        if not alive.any():
            break
    if alive.any():
        raise FabDataError(f"{alive.sum()} runs did not signal within {max_len} samples")
    return float(length.mean()), float(length.std(ddof=1) / np.sqrt(n_rep))
