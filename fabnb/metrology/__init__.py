"""Metrology: gauge R&R (crossed ANOVA), the R² ceiling it puts on virtual metrology,
and metrology fleet matching.

>>> import fabnb
>>> fabnb.metrology.r2_ceiling(0.1, label_variance=1.0)
0.9
"""

from .fleet import apply_fleet_correction, fleet_match
from .gauge import GaugeRR, gauge_rr, r2_ceiling

__all__ = ["GaugeRR", "apply_fleet_correction", "fleet_match", "gauge_rr", "r2_ceiling"]
