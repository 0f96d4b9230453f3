"""SPC and FDC: Shewhart/CUSUM/EWMA charts with run rules, ARL computation and design,
PCA-based T²/Q monitoring with contributions, PSI drift and retraining triggers, and a
Numba streaming path."""

from .arl import (
    arl_cusum,
    arl_ewma,
    arl_shewhart,
    design_cusum,
    design_ewma,
    detection_delay,
    simulate_arl,
)
from .charts import CusumChart, EwmaChart, ShewhartChart
from .drift import psi, retrain_check
from .pca import PCAMonitor
from .rules import RULE_SETS, run_rules

__all__ = [
    "arl_shewhart", "arl_cusum", "arl_ewma", "design_cusum", "design_ewma", "detection_delay",
    "simulate_arl", "ShewhartChart", "CusumChart", "EwmaChart", "PCAMonitor", "psi",
    "retrain_check", "run_rules", "RULE_SETS",
]
