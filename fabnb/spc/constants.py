"""Control-chart constants computed from the normal distribution (no lookup tables).

``d2(n) = E[R]/σ``, ``d3(n) = sd[R]/σ`` for the range ``R`` of ``n`` normal samples, and
``c4(n) = E[S]/σ = √(2/(n−1)) Γ(n/2) / Γ((n−1)/2)``::

    E[R]  = ∫ [1 − Φ(x)ⁿ − (1 − Φ(x))ⁿ] dx
    E[R²] = 2 ∫ r P(R > r) dr,   P(R ≤ r) = n ∫ φ(x) (Φ(x + r) − Φ(x))^{n−1} dx

Example
-------
>>> from fabnb.spc.constants import c4, d2
>>> round(d2(2), 3), round(c4(5), 4)
(1.128, 0.94)
"""

from functools import lru_cache

import numpy as np
from scipy import integrate, special, stats


@lru_cache(maxsize=None)
def d2(n: int) -> float:
    f = lambda x: 1 - stats.norm.cdf(x) ** n - stats.norm.sf(x) ** n  # noqa: E731
    return float(integrate.quad(f, -np.inf, np.inf)[0])


@lru_cache(maxsize=None)
def d3(n: int) -> float:
    # E[R²] = 2 ∫ r P(R > r) dr with P(R ≤ r) = n ∫ φ(x) (Φ(x + r) − Φ(x))^{n−1} dx,
    # both smooth integrands: the trapezoid rule on fine grids is accurate to < 1e-6
    x = np.linspace(-8, 8, 1201)
    r = np.linspace(0, 12, 841)
    inner = stats.norm.pdf(x) * (stats.norm.cdf(x[None, :] + r[:, None]) - stats.norm.cdf(x)) ** (n - 1)
    survival = 1 - n * integrate.trapezoid(inner, x, axis=1)
    second = 2 * integrate.trapezoid(r * survival, r)
    return float(np.sqrt(second - d2(n) ** 2))


@lru_cache(maxsize=None)
def c4(n: int) -> float:
    return float(np.sqrt(2 / (n - 1)) * np.exp(special.gammaln(n / 2) - special.gammaln((n - 1) / 2)))
