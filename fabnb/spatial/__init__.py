"""Spatial Gaussian-process engine: the virtual probe.

* :class:`GaussianProcess` — exact GP regression (RBF / Matérn 3/2 / 5/2, ARD, or a composite
  kernel of :mod:`fabnb.spatial.kernels`; profiled constant or linear mean),
  hyperparameters by L-BFGS-B on the log marginal likelihood with analytic gradients;
  kernels in Numba, Cholesky in LAPACK.
* :func:`progressive_states` / :func:`progressive_sample` — Algorithm 1 progressive
  sampling on one wafer; :func:`progressive_lot_states` the same driver on a lot
  (GP-ST-PS); the model template is ``model=`` in both.
* :class:`SpatioTemporalGP` — the GP-ST lot model, with a per-wafer random effect chosen
  by likelihood.
* :func:`virtual_probe` — the four methods over wafers, lots and tests of a Dataset.
* :func:`spec_range_error`, :func:`delta_mre` — the paper's accuracy figures.

Example
-------
>>> import fabnb
>>> ds = fabnb.synth.fab("small", seed=0)
>>> out = fabnb.spatial.virtual_probe(ds, "T01", method="gp-st", progress=False)
>>> eps = fabnb.spatial.spec_range_error(ds.value.sel(test="T01"), out.value_pred, out.sampled)
>>> bool(eps.mean() < 0.5)
True
"""

from . import kernels
from .gp import GaussianProcess
from .metrics import delta_mre, spec_range, spec_range_error
from .probe import METHODS, virtual_probe
from .progressive import ProgressiveState, progressive_sample, progressive_states
from .spatiotemporal import SpatioTemporalGP, progressive_lot_states

__all__ = [
    "kernels",
    "METHODS",
    "GaussianProcess",
    "ProgressiveState",
    "SpatioTemporalGP",
    "delta_mre",
    "progressive_lot_states",
    "progressive_sample",
    "progressive_states",
    "spec_range",
    "spec_range_error",
    "virtual_probe",
]
