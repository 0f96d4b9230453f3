"""Killer-tool analysis (``fabnb.causal``): which chamber hurts yield, adjusted for routing.

Tool usage is confounded by routing: a chamber that usually runs on the same wafers as
the real killer looks guilty in a naive comparison (Chamber 14 ran right before
Chamber 22, which had the contaminated focus ring).  ``killer_tools`` estimates
``P(Y | do(tool))`` by backdoor adjustment for the routing context and the co-routed
tools, with DoWhy identification, native vectorised estimators, bootstrap CIs, FDR
q-values, positivity flags, refutations and the interventional means ``E[Y | do(tool)]``
beside the naive ones (``stratum_rates``: the per-stratum table); ``naive_ranking`` and
``importance_ranking`` give the confounded views beside it; ``to_split_lot`` hands the
suspects to a confirmation experiment.

Example
-------
>>> import fabnb
>>> ds = fabnb.synth.fab("small", seed=0)
>>> r = fabnb.causal.killer_tools(ds, n_bootstrap=20, progress=False, identify="graph")
>>> design = fabnb.causal.to_split_lot(r, top=1, lots=2, wafers_per_lot=8)
"""

from .estimate import Interventional, bootstrap_weights, effects, interventional_means, refute
from .handoff import to_split_lot
from .positivity import positivity
from .ranking import importance_ranking, killer_tools, naive_ranking, stratum_rates
from .table import WaferTable, wafer_table, wafer_yield

__all__ = ["Interventional", "WaferTable", "bootstrap_weights", "effects", "importance_ranking",
           "interventional_means", "killer_tools", "naive_ranking", "positivity", "refute",
           "stratum_rates", "to_split_lot", "wafer_table", "wafer_yield"]
