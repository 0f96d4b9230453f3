"""Metrology: gauge R&R (crossed ANOVA and AIAG average-and-range, nested studies),
check standards, probe bias and uncertainty budgets, the R² ceiling a gauge puts on
virtual metrology, and metrology fleet matching.

>>> import fabnb
>>> fabnb.metrology.r2_ceiling(0.1, label_variance=1.0)
0.9
"""

from .fleet import apply_fleet_correction, fleet_match
from .gauge import GaugeRR, d2_star, gauge_rr, k_constants, r2_ceiling, range_moments
from .nested import (NestedGauge, UncertaintyBudget, check_standard, gauge_nested, probe_bias,
                     uncertainty_budget)

__all__ = ["GaugeRR", "NestedGauge", "UncertaintyBudget", "apply_fleet_correction",
           "check_standard", "d2_star", "fleet_match", "gauge_nested", "gauge_rr", "k_constants",
           "probe_bias", "r2_ceiling", "range_moments", "uncertainty_budget"]
