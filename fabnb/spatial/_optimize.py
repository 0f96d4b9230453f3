"""The GP's hyperparameter optimiser: quasi-Newton steps on the profiled log marginal
likelihood, coarse to fine.

Everything here works on a generic ``evaluate(p) -> (state, −ℓ(p), −∇ℓ(p))`` over
log-hyperparameters ``p`` inside box bounds ``[lo, hi]``; ``state`` is whatever the
caller wants back at the optimum (the GP's factorisation).  ``evaluate`` returns
``(None, FAILED, 0)`` where the model cannot be factorised.

* :func:`maximise` — L-BFGS-B from each start (Byrd, Lu, Nocedal & Zhu 1995, via SciPy),
  or, given an inverse-Hessian estimate at a single start, BFGS steps from it
  (:func:`newton_refine`) that stop as soon as a further Newton step could gain less than
  ``GAIN_TOL`` nat.
* :func:`coarse_to_fine` — the ladder: every start on ``COARSE_N`` random sites, the best
  refined on nested subsamples twice as large and finally on all n.  The likelihood's
  curvature grows about linearly with the number of sites, so each stage's inverse
  Hessian, scaled by m_prev/m, seeds the next stage's quasi-Newton steps and a stage
  costs 1–3 evaluations.  One more evaluation, a probe a step ``final_offset`` away from
  the final optimum, decides whether a second basin can hold a higher peak; only then is
  the probe refined too and the better peak kept (and, where the probe only finds a
  ridge back to the same peak, the probe is repeated further out along it).

Example
-------
>>> import numpy as np
>>> def evaluate(p):  # −ℓ = ½|p − 1|², optimum at p = 1
...     return None, 0.5 * float((p - 1) @ (p - 1)), p - 1
>>> best, _ = maximise(evaluate, [np.zeros(2)], np.full(2, -5.0), np.full(2, 5.0))
>>> bool(np.allclose(best.x, 1.0, atol=1e-5))
True
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import OptimizeResult, minimize

from ..errors import FabFitError

COARSE_N = 100  # hyperparameters are first optimised on this many sites when n >= 2x it
GAIN_TOL = 0.01  # nat: refinement stops when a Newton step could gain less than this
FAILED = 1e25  # −ℓ reported where the kernel matrix cannot be factorised
RIDGE_NAT = 5.0  # nat: a probe this close to the peak's likelihood is on a flat ridge
PROBE_STEPS = (1, 2, 4)  # probes at these multiples of the offset, while each finds a ridge only
MAX_WALK = 4  # higher peaks followed, each probed beyond in turn
FAR_STEP = 2.0  # a refinement moving a log-hyperparameter further than this is rechecked


def dense(hess_inv) -> np.ndarray:
    """An optimiser's inverse Hessian as an array (L-BFGS-B returns an operator)."""
    return hess_inv if isinstance(hess_inv, np.ndarray) else hess_inv.todense()


def bfgs_update(Hinv, s, y):
    """The BFGS update of an inverse Hessian with the step ``s`` and gradient change ``y``
    (Nocedal & Wright, *Numerical Optimization*, 2nd ed., 2006, eq. 6.17); skipped when
    the curvature condition ``sᵀy > 0`` fails."""
    sy = float(s @ y)
    if sy <= 1e-12:
        return Hinv
    rho = 1.0 / sy
    A = np.eye(len(s)) - rho * np.outer(s, y)
    return A @ Hinv @ A.T + rho * np.outer(s, s)


def on_bound(x, lo, hi) -> bool:
    """Whether ``x`` lies on a face of the box ``[lo, hi]`` (to rounding)."""
    tol = 1e-9 * (1.0 + np.abs(x))
    return bool(np.any((x - lo <= tol) | (hi - x <= tol)))


def newton_refine(objective, x0, hess_inv) -> OptimizeResult:
    """Minimise ``objective`` (value and gradient) by BFGS from ``x0`` and an estimate of
    the inverse Hessian there, stopping as soon as a further Newton step could gain less
    than ``GAIN_TOL`` (``½ gᵀ H⁻¹ g``).  The returned ``hess_inv`` includes the last
    step's curvature, so the next refit can start from it."""

    def little_left(x):
        value, g = objective(x)
        return value < FAILED and 0.5 * g @ hess_inv @ g < GAIN_TOL

    if little_left(x0):  # typical of a refit on a few more sites
        value, g = objective(x0)
        return OptimizeResult(x=x0, fun=value, jac=g, hess_inv=hess_inv, nit=0, success=True)
    steps = [(x0, objective(x0)[1])]

    def record(x):  # called after each BFGS iteration, on its (cached) last point
        steps.append((x, objective(x)[1]))
        if little_left(x):
            raise StopIteration

    res = minimize(objective, x0, jac=True, method="BFGS", callback=record,
                   options={"hess_inv0": hess_inv, "gtol": 0.1, "maxiter": 100})
    if res.status == 99:  # stopped by `record`, before BFGS's own update with the last step
        (x_prev, g_prev), (x_last, g_last) = steps[-2:]
        res.hess_inv = bfgs_update(res.hess_inv, x_last - x_prev, g_last - g_prev)
        res.success = True
    return res


def maximise(evaluate, starts, lo, hi, hess_inv=None):
    """Maximise the likelihood from each start; ``(result, state)`` of the best optimum,
    ``result.fun`` being −ℓ there.

    With ``hess_inv`` (an estimate of the inverse Hessian at the single start) BFGS from
    that estimate is tried first (:func:`newton_refine`): near the optimum its first
    steps are Newton steps, and it stops once a further step could gain less than
    0.01 nat, far inside the hyperparameters' sampling error (one standard error is
    0.5 nat).  Its answer is kept when it stays inside the bounds, else L-BFGS-B runs.
    An answer on a bound, or more than ``FAR_STEP`` from the start in a log-hyperparameter
    (a refinement normally moves a little), is checked by L-BFGS-B from the start as well:
    steps sized by a smaller stage's curvature can overshoot an interior peak onto a lower
    one on or near a bound.  The better end is kept.
    A zero ``hess_inv`` (no step can gain anything) evaluates the single start only: a
    probe, whose result carries the gradient of −ℓ as ``jac``.
    """
    # The most recent evaluation and the best one so far, {p: (state, −ℓ, −∇ℓ)}: BFGS
    # re-evaluates the start it is given, and optimisers usually end on their best point.
    last, best_seen = {}, {}

    def objective(p):
        key = p.tobytes()
        if key not in last:
            last.clear()
            inside = np.all(p >= lo) and np.all(p <= hi)  # only unbounded BFGS steps leave
            last[key] = evaluate(p) if inside else (None, FAILED, np.zeros_like(p))
            if last[key][1] < min((v[1] for v in best_seen.values()), default=FAILED):
                best_seen.clear()
                best_seen[key] = last[key]
        _, value, g = last[key]
        return value, g

    def bounded(starts):  # L-BFGS-B from each start: the best result
        return min((minimize(objective, np.clip(p0, lo, hi), jac=True, method="L-BFGS-B",
                             bounds=list(zip(lo, hi)), options={"maxiter": 200}) for p0 in starts),
                   key=lambda res: res.fun)

    best = None
    if hess_inv is not None:
        hess_inv = 0.5 * (hess_inv + hess_inv.T)  # BFGS insists on exact symmetry
    if hess_inv is not None and not hess_inv.any():
        x0 = np.clip(starts[0], lo, hi)
        value, g = objective(x0)
        best = OptimizeResult(x=x0, fun=value, jac=g, nit=0, success=value < FAILED)
    elif hess_inv is not None and np.linalg.eigvalsh(hess_inv).min() > 0:
        x0 = np.clip(starts[0], lo, hi)
        res = newton_refine(objective, x0, hess_inv)
        if res.success and res.fun < FAILED:
            best = res
        elif res.fun < FAILED:
            best = bounded([res.x])  # stalled at a bound: L-BFGS-B finishes from there
        if best is not None and best.fun < FAILED and (
                on_bound(best.x, lo, hi) or np.abs(best.x - x0).max() > FAR_STEP):
            # seen on nearly noiseless tests: from ℓ 95 mm to 159 mm at the noise-ratio
            # floor, 19 nat below the interior peak at 84 mm; from ℓ 81 mm and noise ratio
            # 1.5e-3 to 155 mm and 1.4e-6, 15 nat below the peak at 82 mm
            # (tests/test_spatial_gp_optimum.py)
            best = min(best, bounded([x0]), key=lambda res: res.fun)
    if best is None:
        best = bounded(starts)
    if best.fun >= FAILED:
        return best, None
    state = (best_seen.get(best.x.tobytes()) or last.get(best.x.tobytes()) or evaluate(best.x))[0]
    return best, state


def coarse_to_fine(stage, n, starts, seed, final_offset=None):
    """Optimise from ``starts`` on nested random subsamples of the n sites: every start on
    ``COARSE_N`` sites, the best optimum then refined on 2×, 4×, … as many and finally on
    all n.

    ``stage(sites, starts, hess_inv)`` maximises on the sites ``sites`` (sorted indices,
    ``None`` for all) and returns :func:`maximise`'s ``(result, state)``.  Below
    ``2 * COARSE_N`` sites there is one stage on all of them.

    Second basin.  A peak of a subsample can move as sites are added until the
    quasi-Newton path from it ends in the wrong basin: on the synthetic fab's wafers a
    single path ended 4–22 nat below the best of several full restarts on 8 of 31
    (wafer, test) pairs of fab seed 1 (issue 22), all 8 on the "longer and smoother" side
    of a ridge (a long length scale whose large signal variance absorbs the radial bowl, a
    small noise ratio).  So the final optimum x̂ is probed once at p = x̂ + ``final_offset``
    (the GP steps to half the length scale and ~2.7× the noise ratio), and p is refined
    too, the better peak kept, only when the probe shows that the peak is not alone:

    * rising: ℓ still increases at p away from x̂, ``−∇(−ℓ)(p) · final_offset > 0``, so
      a valley lies between x̂ and p; or
    * flat: ``ℓ(p) > ℓ(x̂) − RIDGE_NAT``, a ridge rather than a peak.  On the development
      panel (fab seed 1, 31 pairs, n ≈ 550) the probes beside a lower peak lay between
      22 nat above and 2.1 nat below it, those beside a peak standing alone 3.3–109 nat
      below (median 13); 5 nat leaves a margin on the side that costs accuracy.

    The probe is one evaluation on all n; the refinement from it (~5–10 more, the probe's
    own evaluation repeated) ran on 13 of those 31 pairs: the 8 where it gained 3.8–22
    nat and 5 false alarms.  It does not run on the benchmark's W1 wafer (probe 138 nat
    below the peak).  A probe where the kernel matrix cannot be factorised shows nothing.

    A ridge can lead further.  When the refinement climbs back to x̂'s peak, the probe
    is repeated twice and four times as far out (``PROBE_STEPS``), under the same rule,
    until a refinement finds a higher peak or a probe shows none.  On fab seed 31
    (wafer L0001-07, T08) the ladder ends at ℓ ≈ 430 mm; the first probe is 2 nat below,
    on a ridge, and the peak 5.5 nat higher (ℓ ≈ 47 mm, 12× the noise ratio) is reached
    from the second.  A false alarm costs one more evaluation.  And peaks can follow one
    another: a higher peak found is probed beyond in turn (up to ``MAX_WALK`` peaks; on
    fab seed 42, wafer L0006-20, T37: ℓ 750 → 181 → 78 mm, 35 nat in two steps).

    Example
    -------
    >>> import numpy as np
    >>> def evaluate(p):  # −ℓ = ½|p − 1|² on every subsample: one peak, the probe is not refined
    ...     return None, 0.5 * float((p - 1) @ (p - 1)), p - 1
    >>> def stage(sites, starts, hess_inv):
    ...     return maximise(evaluate, starts, np.full(2, -5.0), np.full(2, 5.0), hess_inv)
    >>> best, _ = coarse_to_fine(stage, 400, [np.zeros(2)], 0, final_offset=np.array([-3.0, 3.0]))
    >>> bool(np.allclose(best.x, 1.0, atol=1e-3))
    True
    """
    if n < 2 * COARSE_N:
        return stage(None, starts, None)
    order = np.random.default_rng(0 if seed is None else seed).permutation(n)
    sizes = [COARSE_N]
    while 4 * sizes[-1] <= n:
        sizes.append(2 * sizes[-1])
    best, _ = stage(np.sort(order[:sizes[0]]), starts, None)
    for previous, m in zip(sizes[:-1], sizes[1:]):
        best, _ = stage(np.sort(order[:m]), [best.x], dense(best.hess_inv) * (previous / m))
    final = stage(None, [best.x], dense(best.hess_inv) * (sizes[-1] / n))
    if final_offset is None:
        return final
    best = final
    for _ in range(MAX_WALK):
        higher = _probe_beyond(stage, best, final_offset)
        if higher is None:
            return best
        best = higher  # and probe again beyond it: peaks can follow one another
    return best


def _probe_beyond(stage, found, offset):
    """Probe beyond the peak ``found`` (a :func:`maximise` pair) at ``k × offset`` for k in
    ``PROBE_STEPS``, refining where a probe is flat or rising (see :func:`coarse_to_fine`):
    the first higher peak reached, or None."""
    peak = found[0]
    hess_inv = dense(peak.hess_inv)
    for k in PROBE_STEPS:
        start = peak.x + k * offset
        try:
            probe, _ = stage(None, [start], np.zeros_like(hess_inv))
        except FabFitError:
            return None
        rising = float(probe.jac @ offset) < 0
        flat = probe.fun < peak.fun + RIDGE_NAT
        if not (rising or flat):
            return None
        refined = stage(None, [start], hess_inv)
        if refined[0].fun < peak.fun - GAIN_TOL:
            return refined
        # back on the same peak: a ridge, which may lead further out to a higher one
    return None
