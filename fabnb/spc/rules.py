"""Western Electric and Nelson run rules on a standardised chart statistic.

``z_t = (statistic_t − centre) / σ_statistic``. A rule "fires" at the sample that
completes its pattern:

=====  ==========================================================  ===========
rule   pattern                                                     WE / Nelson
=====  ==========================================================  ===========
1      one point beyond 3σ                                          WE1, N1
2      2 of 3 consecutive beyond 2σ on the same side                WE2, N5
3      4 of 5 consecutive beyond 1σ on the same side                WE3, N6
4      8 (WE) / 9 (Nelson) consecutive on the same side             WE4, N2
5      6 consecutive steadily increasing or decreasing              N3
6      14 consecutive alternating up and down                       N4
7      15 consecutive within 1σ                                     N7
8      8 consecutive beyond 1σ, on either side                      N8
=====  ==========================================================  ===========

Example
-------
>>> import numpy as np
>>> from fabnb.spc.rules import run_rules
>>> hits = run_rules(np.array([0, 0.5, 3.5, 0, 0]), "western_electric")
>>> hits[2]
['WE1']
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import FabParameterError


def _k_of_m(cond, k, m):
    out = np.zeros(cond.size, dtype=bool)
    if cond.size >= m:
        out[m - 1:] = sliding_window_view(cond, m).sum(axis=1) >= k
    return out


def _same_side(z, beyond, k, m):
    return _k_of_m(z > beyond, k, m) | _k_of_m(z < -beyond, k, m)


def _monotone(z, m):
    """m points in a row steadily up or down: m − 1 consecutive differences of one sign."""
    d = np.diff(z)
    out = np.zeros(z.size, dtype=bool)
    out[1:] = _k_of_m(d > 0, m - 1, m - 1) | _k_of_m(d < 0, m - 1, m - 1)
    return out


def _alternating(z, m):
    """m points alternating up and down: m − 2 consecutive direction flips."""
    s = np.sign(np.diff(z))
    out = np.zeros(z.size, dtype=bool)
    out[2:] = _k_of_m(s[1:] * s[:-1] < 0, m - 2, m - 2)
    return out


_RULES = {
    "WE1": lambda z: np.abs(z) > 3,
    "WE2": lambda z: _same_side(z, 2, 2, 3),
    "WE3": lambda z: _same_side(z, 1, 4, 5),
    "WE4": lambda z: _same_side(z, 0, 8, 8),
    "N1": lambda z: np.abs(z) > 3,
    "N2": lambda z: _same_side(z, 0, 9, 9),
    "N3": lambda z: _monotone(z, 6),
    "N4": lambda z: _alternating(z, 14),
    "N5": lambda z: _same_side(z, 2, 2, 3),
    "N6": lambda z: _same_side(z, 1, 4, 5),
    "N7": lambda z: _k_of_m(np.abs(z) < 1, 15, 15),
    "N8": lambda z: _k_of_m(np.abs(z) > 1, 8, 8),
}
RULE_SETS = {
    "western_electric": ("WE1", "WE2", "WE3", "WE4"),
    "nelson": ("N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8"),
    "limits": ("WE1",),
}


def run_rules(z, rules="western_electric") -> list[list[str]]:
    """The rules (ids as in the table) that fire at each sample; NaN samples never fire
    and are skipped by the patterns (the pattern runs over the measured samples)."""
    names = RULE_SETS.get(rules, rules) if isinstance(rules, str) else tuple(rules)
    unknown = [r for r in names if r not in _RULES]
    if unknown:
        raise FabParameterError(f"unknown run rule(s) {unknown}; choose from {sorted(_RULES)} or {sorted(RULE_SETS)}")
    z = np.asarray(z, dtype=float)
    ok = np.flatnonzero(np.isfinite(z))
    hits = [[] for _ in range(z.size)]
    for name in names:
        for t in ok[_RULES[name](z[ok])]:
            hits[t].append(name)
    return hits
