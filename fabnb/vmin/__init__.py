"""Vmin prediction with inter- and intra-wafer bias alignment (``fabnb.vmin``).

After Yin, Chen, He, Li, "Data Efficient Prediction of Minimum Operating Voltage via
Inter- and Intra-Wafer Variation Alignment".  Three estimators share
``fit(X, y, wafer, zone, z=None)`` / ``predict(X, wafer, zone, z=None)``:
:class:`LinearVmin` (OLS), :class:`BiasAlignment` (bias per wafer × zone) and
:class:`RestrictedBiasAlignment` (inter-wafer + intra-wafer bias, class-probe model for
new wafers).  :func:`vmin_frame` turns a contract Dataset into those tidy inputs,
:func:`cfs_select` picks features (Hall 1999) and :mod:`fabnb.vmin.study` reproduces
the paper's tables.

>>> import fabnb
>>> from fabnb.vmin import RestrictedBiasAlignment, vmin_frame
>>> f = vmin_frame(fabnb.synth.fab("small"), "dc_25", ["T03", "T05", "T14", "T11"])
>>> m = RestrictedBiasAlignment().fit(f.X, f.y, f.wafer, f.zone, z=f.z)
>>> list(m.intra_shift()["zone"])
['center', 'inner', 'outer', 'edge']
"""

from .bias import BiasAlignment
from .cfs import cfs_merit, cfs_select
from .frame import VminFrame, fit_vmin, vmin_frame
from .linear import LinearVmin
from .rba import RestrictedBiasAlignment

__all__ = ["BiasAlignment", "LinearVmin", "RestrictedBiasAlignment", "VminFrame", "cfs_merit",
           "cfs_select", "fit_vmin", "vmin_frame"]
