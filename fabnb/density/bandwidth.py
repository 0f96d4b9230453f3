r"""Bandwidth rules.  A bandwidth is the kernel's standard deviation (per coordinate).

The rules carry the names the literature gives them; SciPy's two factors carry SciPy's
name, since SciPy's ``"silverman"`` is not Silverman's rule of thumb:

* ``"silverman"``: Silverman's rule of thumb, Silverman (1986), *Density Estimation for
  Statistics and Data Analysis*, eq. (3.31), p. 48, and R's ``bw.nrd0``::

      h = 0.9 · min(s, IQR / 1.34) · n^{−1/5}

  (``s`` the standard deviation, ddof = 1; ``IQR`` between the type-7 quartiles, R's
  and NumPy's default).  When the quartiles coincide (``IQR = 0``) ``s`` is used, as in R.
* ``"scott"``: the normal-reference rule with Scott's factor (Scott 1992, *Multivariate
  Density Estimation*, §6.2; Silverman 1986 eq. (3.28)) in R's ``bw.nrd`` form::

      h = 1.06 · min(s, IQR / 1.34) · n^{−1/5}

  (R's ``bw.nrd`` takes the same robust spread as ``bw.nrd0``; where ``s ≤ IQR/1.34``,
  as for most near-normal samples, this is ``1.06 · s · n^{−1/5}``).

  Both are 1-D rules.  For d > 1 use SciPy's multivariate normal-reference rules:
* ``"scipy_scott"``: ``h_k = n^{−1/(d+4)} · s_k`` (Scott 1992, eq. (6.42));
* ``"scipy_silverman"``: ``h_k = (n (d + 2) / 4)^{−1/(d+4)} · s_k`` (Silverman 1986,
  eq. (4.14) and Table 4.1 for the normal kernel);

  SciPy's two factors times the per-dimension standard deviation ``s_k`` (ddof = 1), so
  a 1-D Gaussian KDE equals ``scipy.stats.gaussian_kde(x, bw_method="silverman")``
  (``"scott"``).  ``"scipy_silverman"`` is the KDE's default: it was called
  ``"silverman"`` before the literature's names were adopted, and keeps the numbers of
  earlier studies.
* ``"isj"``: Botev, Grotowski & Kroese (2010) improved Sheather–Jones, 1-D only: the
  data are linearly binned on 1,024 points spanning ``[min − R/2, max + R/2]`` (R the
  data range), the type-II DCT ``a_k`` of the binned density gives the functionals
  ``‖f^{(s)}‖²`` at ``t``; the plug-in fixed point ``t = ξ γ^{[l]}(t)`` (l = 7) is solved
  by Brent's method and ``h = √t · R``.  This is KDEpy's ``improved_sheather_jones``
  (same fixed point, same ``a_k²`` convention, same root bracketing) except that its grid
  margin ``max(R/2, 6)`` has an absolute ``6`` that breaks scale equivariance; ours is
  ``R/2`` only, so the two agree whenever ``R ≥ 12``.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=1000)
>>> round(float(rule_bandwidth(x[:, None], "scipy_scott")[0]), 3)
0.245
>>> round(float(rule_bandwidth(x[:, None], "silverman")[0]), 3)  # 0.9 · min(s, IQR/1.34) · n^−1/5
0.22
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct
from scipy.optimize import brentq

from .._params import Integral, Interval, check_option, check_params
from ..errors import FabFitError

RULES = ("silverman", "scott", "scipy_silverman", "scipy_scott", "isj")
FACTOR_RULES = ("scipy_silverman", "scipy_scott")  # SciPy's rules: a factor times the std
#: factor of the robust spread min(s, IQR/1.34) in the 1-D rules of thumb (R's bw.nrd0, bw.nrd)
THUMB_FACTORS = {"silverman": 0.9, "scott": 1.06}


def rule_factor(n: int, d: int, rule: str) -> float:
    """SciPy's ``gaussian_kde`` factor of a rule (``"scipy_scott"`` or ``"scipy_silverman"``).

    >>> rule_factor(100, 1, "scipy_scott") == 100 ** (-1 / 5)
    True
    """
    check_option("rule_factor", "rule", rule, FACTOR_RULES)
    if rule == "scipy_scott":
        return n ** (-1.0 / (d + 4))
    return (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))


def rule_of_thumb(x: np.ndarray, rule: str = "silverman") -> float:
    """Silverman's (``0.9``, R's ``bw.nrd0``) or Scott's (``1.06``, R's ``bw.nrd``) rule of
    thumb ``c · min(s, IQR/1.34) · n^{−1/5}`` of 1-D data; ``s`` when ``IQR = 0``.

    Old Faithful's eruption durations (R's ``faithful``, 272 values) give 0.3348, the
    bandwidth R's ``density(faithful$eruptions)`` prints.

    >>> round(rule_of_thumb(np.arange(9.0), "silverman"), 4)  # 0.9 · s · 9^−1/5, s = 2.7386 < IQR/1.34 = 2.9851
    1.5883
    """
    check_option("rule_of_thumb", "rule", rule, THUMB_FACTORS)
    x = np.asarray(x, dtype=float).ravel()
    sd = float(x.std(ddof=1))
    q1, q3 = np.percentile(x, [25.0, 75.0])
    spread = min(sd, (q3 - q1) / 1.34) or sd  # coinciding quartiles: R falls back to s
    return THUMB_FACTORS[rule] * spread * x.size ** -0.2


def rule_bandwidth(x: np.ndarray, rule: str) -> np.ndarray:
    """Per-dimension bandwidths (kernel standard deviations) of ``x`` (n, d) by ``rule``.

    >>> rule_bandwidth(np.arange(9.0)[:, None], "scipy_silverman").round(4)
    array([1.8693])
    """
    check_option("rule_bandwidth", "rule", rule, RULES)
    n, d = x.shape
    if rule in ("isj", *THUMB_FACTORS) and d != 1:
        multi = "; use 'scipy_silverman' or 'scipy_scott' for d > 1" if rule != "isj" else ""
        raise FabFitError(f"bandwidth {rule!r} is 1-D only; the data have d={d} dimensions{multi}")
    if rule == "isj":
        return np.array([isj_bandwidth(x[:, 0])])
    if rule in THUMB_FACTORS:
        return np.array([rule_of_thumb(x[:, 0], rule)])
    return rule_factor(n, d, rule) * x.std(axis=0, ddof=1)


def _linear_binning(x: np.ndarray, lo: float, hi: float, n_bins: int) -> np.ndarray:
    """Share of each sample on the two nearest of ``n_bins`` equidistant grid points."""
    pos = (x - lo) / (hi - lo) * (n_bins - 1)
    left = np.clip(np.floor(pos).astype(np.int64), 0, n_bins - 2)
    frac = pos - left
    counts = np.bincount(left, 1.0 - frac, n_bins) + np.bincount(left + 1, frac, n_bins)
    return counts / x.size


def _fixed_point(t, n, i_sq, a2):
    """``t − ξ γ^{[7]}(t)`` of Botev et al. (2010), eq. (29) and the ``γ`` recursion."""
    ell = 7
    f = 0.5 * np.pi ** (2 * ell) * np.sum(i_sq**ell * a2 * np.exp(-i_sq * np.pi**2 * t))
    if f <= 0:
        return -1.0
    for s in range(ell - 1, 1, -1):
        k0 = np.prod(np.arange(1, 2 * s + 1, 2, dtype=float)) / np.sqrt(2 * np.pi)
        const = (1 + 0.5 ** (s + 0.5)) / 3
        time = (2 * const * k0 / (n * f)) ** (2.0 / (3.0 + 2.0 * s))
        f = 0.5 * np.pi ** (2 * s) * np.sum(i_sq**s * a2 * np.exp(-i_sq * np.pi**2 * time))
    return t - (2 * n * np.sqrt(np.pi) * f) ** (-2.0 / 5)


def isj_bandwidth(x: np.ndarray, n_grid: int = 1024) -> float:
    """Improved Sheather–Jones bandwidth (Gaussian-kernel std) of 1-D data.

    >>> x = np.random.default_rng(1).normal(0, 10, size=2000)
    >>> 0.5 < isj_bandwidth(x) < 2.0
    True
    """
    check_params("isj_bandwidth", {"n_grid": [Interval(Integral, 2, None, closed="left")]}, {"n_grid": n_grid})
    x = np.asarray(x, dtype=float)
    spread = float(x.max() - x.min())
    n_unique = np.unique(x).size
    if spread <= 0 or n_unique < 2:
        raise FabFitError("bandwidth 'isj' needs at least two distinct values")
    binned = _linear_binning(x, x.min() - spread / 2, x.max() + spread / 2, n_grid)
    a2 = dct(binned, type=2)[1:] ** 2
    i_sq = np.arange(1, n_grid, dtype=float) ** 2
    # Root bracketing of Botev's MATLAB code: widen [0, tol] until a positive root.
    n_clip = max(min(1050, n_unique), 50)
    tol = 10e-12 + 0.01 * (n_clip - 50) / 1000
    while tol < 1:
        try:
            t_star = brentq(_fixed_point, 0, tol, args=(n_unique, i_sq, a2))
            if t_star > 0:
                return float(np.sqrt(t_star) * spread)
        except ValueError:
            pass
        tol *= 2.0
    raise FabFitError(f"bandwidth 'isj' found no fixed point for {x.size} values; use 'silverman'")
