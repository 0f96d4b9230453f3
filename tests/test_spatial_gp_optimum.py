"""Issue 22.1: the default GP fit reaches the best optimum of the likelihood, not a lower
peak that the coarse-to-fine ladder happened to walk into.

The panel is the issue's reproducer (default fab seed 1, wafer 0, test T01, 10 % of the
dies drawn with ``default_rng(7)``: the single-path fit ended at ℓ ≈ 215 mm and log L
2369.2 against 2391.4 at ℓ ≈ 101 mm) and wafer 224, test T11 of the same fab, where the
single-path ladder ended at ℓ ≈ 265 mm, 9 nat below the peak at ℓ ≈ 54 mm.  The reference is the best of several L-BFGS-B runs
on all the sites, with no coarse stage.
"""

import math

import numpy as np
import pytest

import fabnb
import fabnb.spatial.gp as gp_module
from fabnb.spatial import GaussianProcess
from fabnb.spatial.gp import mean_basis

# (wafer index, test): 10 % of the measured dies drawn with default_rng(7)
PANEL = [(0, "T01"), (224, "T11")]


@pytest.fixture(scope="module")
def panel():
    ds = fabnb.synth.fab("default", seed=1)
    xy = np.c_[ds.x.values, ds.y.values]
    pairs = []
    for wafer, test in PANEL:
        values = ds.value.isel(wafer=wafer).sel(test=test).values
        measured = np.flatnonzero(np.isfinite(values))
        sampled = np.zeros(len(values), bool)
        sampled[np.random.default_rng(7).choice(measured, round(0.1 * measured.size), replace=False)] = True
        pairs.append((xy[sampled], values[sampled]))
    return pairs


def best_of_restarts(X, y):
    """The best of L-BFGS-B runs on all the sites from a 3 × 2 grid of starts around the
    default one (ℓ × 1/3, 1, 3; noise ratio 1e-3, 1e-1)."""
    gp = GaussianProcess(ard=False)
    H = mean_basis(X, "constant")
    lo, hi = gp._log_bounds(X)
    log_ls, _, _ = gp._start(X, y, H)
    starts = [np.r_[log_ls + a, math.log(eta)] for a in (-math.log(3), 0.0, math.log(3)) for eta in (1e-3, 1e-1)]
    best, _ = gp._maximise(X, y, H, starts, lo, hi)
    return -best.fun


def test_default_fit_reaches_the_best_of_restarts(panel):
    for k, (X, y) in enumerate(panel):
        fit = GaussianProcess(ard=False).fit(X, y)
        assert fit.log_marginal_likelihood_ >= best_of_restarts(X, y) - 0.5, PANEL[k]
    # the reproducer's numbers as the issue gives them: the better peak at ℓ ≈ 100 mm
    X, y = panel[0]
    fit = GaussianProcess(ard=False).fit(X, y)
    assert fit.log_marginal_likelihood_ == pytest.approx(2391.4, abs=0.1)
    assert 90 < fit.length_scale_[0] < 115


def test_the_panel_tells_the_single_path_ladder_apart(panel, monkeypatch):
    """Without the last stage's second start every pair ends on a lower peak: the panel
    above can fail."""
    single = gp_module.coarse_to_fine

    def single_path(stage, n, starts, seed, final_offset=None):
        return single(stage, n, starts, seed)

    monkeypatch.setattr(gp_module, "coarse_to_fine", single_path)
    for k, (X, y) in enumerate(panel):
        fit = GaussianProcess(ard=False).fit(X, y)
        assert fit.log_marginal_likelihood_ < best_of_restarts(X, y) - 0.5, PANEL[k]
