"""Which co-routed tools join the adjustment set of each candidate.

The causal graph (see :mod:`fabnb.causal._dowhy`): the observed routing context ``C``
(route, period, ...) and an *unobserved* dispatch context ``U`` (queue lane, operator
habits, hold/release order) choose the tool at every step; tools act on the response.
``U`` makes two tools at different steps run on the same wafers, so the innocent
tool ``A`` inherits the killer ``B``'s effect through ``A ← U → B → Y``.  That path is
blocked by conditioning on ``B``: the backdoor set of ``A`` is ``C`` plus the tools
co-routed with ``A``.

Co-routed tools are found from the data: within routing strata (indicators minus
their stratum means, ``T̃ = T − T̄_s``) the correlation
``r(A, B) = ⟨T̃_A, T̃_B⟩ / (‖T̃_A‖ ‖T̃_B‖)`` is computed for every pair at *different*
steps; those with ``|r| ≥ threshold`` join, at most one per step (the strongest; the
indicators of one step sum to one) and at most ``max_tools`` of them.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0); u = rng.random(200) < 0.5
>>> T = np.column_stack([u ^ (rng.random(200) < .1), u ^ (rng.random(200) < .1),
...                      rng.random(200) < .5]).astype(float)
>>> co_routed(T, np.array(["S1", "S2", "S3"]), np.zeros(200, int))[0].tolist()
[1]
"""

from __future__ import annotations

import numpy as np

from .._params import Integral, Interval, Real, check_params


def within_strata_correlation(indicators: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Correlation matrix of the indicators after removing their stratum means."""
    _, ids = np.unique(strata, return_inverse=True)
    count = np.bincount(ids).astype(float)
    means = np.stack([np.bincount(ids, col) for col in indicators.T], axis=1) / count[:, None]
    resid = indicators - means[ids]
    norm = np.linalg.norm(resid, axis=0)
    norm[norm < 1e-12] = np.inf
    return (resid.T @ resid) / np.outer(norm, norm)


def co_routed(indicators: np.ndarray, steps: np.ndarray, strata: np.ndarray,
              threshold: float = 0.5, max_tools: int = 5) -> list[np.ndarray]:
    """Column indices of the co-routed tools to adjust for, one array per candidate."""
    check_params("co_routed", {"threshold": [Interval(Real, 0, None, closed="left")],
                               "max_tools": [Interval(Integral, 0, None, closed="left")]},
                 {"threshold": threshold, "max_tools": max_tools})
    corr = np.abs(within_strata_correlation(indicators, strata))
    steps = np.asarray(steps)
    chosen = []
    for k in range(indicators.shape[1]):
        strength = np.where(steps != steps[k], corr[k], 0.0)
        picked, seen = [], set()
        for j in np.argsort(-strength, kind="stable"):
            if strength[j] < threshold or len(picked) == max_tools:
                break
            if steps[j] not in seen:
                seen.add(steps[j])
                picked.append(j)
        chosen.append(np.asarray(picked, dtype=np.int64))
    return chosen
