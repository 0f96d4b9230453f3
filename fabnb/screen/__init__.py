"""Outlier screening for zero-defect programs (AEC-Q001 PAT, AEC-Q002 statistical
yield analysis) on the dataset contract.

- :mod:`~fabnb.screen.pat` — static and dynamic Part Average Testing limits.
- :mod:`~fabnb.screen.gdbn` — good die in a bad neighbourhood (counts, weights, clusters).
- :mod:`~fabnb.screen.nnr` — nearest-neighbour residuals.
- :mod:`~fabnb.screen.zpat` — die locations failing across a lot's wafers.
- :mod:`~fabnb.screen.screen` — all rules at once: flags, ``pat_bin``, yield loss.

Screening only ever takes out dies the tester passed; the tester's bins are kept.
"""

from .gdbn import bad_neighbours, gdbn, gdbn_cluster
from .nnr import nnr
from .pat import (dynamic_pat_flags, dynamic_pat_limits, load_limits, pat_flags, pat_limits,
                  save_limits)
from .screen import DEFAULT_RULES, PAT_BINS, RULE_NAMES, screen, yield_loss
from .zpat import zpat

__all__ = ["pat_limits", "pat_flags", "dynamic_pat_limits", "dynamic_pat_flags", "save_limits", "load_limits",
           "gdbn", "gdbn_cluster", "bad_neighbours", "nnr", "zpat", "screen", "yield_loss", "PAT_BINS",
           "DEFAULT_RULES", "RULE_NAMES"]
