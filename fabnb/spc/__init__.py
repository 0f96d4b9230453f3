"""SPC and FDC: Shewhart/CUSUM/EWMA charts with run rules, ARL computation and design
(also of run rules, by their Markov chain), Hotelling T² charts for subgroups and
individuals, PCA-based T²/Q monitoring with contributions, PSI drift with its bands and
retraining triggers, and a Numba streaming path."""

from .arl import (
    arl_cusum,
    arl_ewma,
    arl_run_rules,
    arl_shewhart,
    design_cusum,
    design_ewma,
    detection_delay,
    simulate_arl,
)
from .charts import CusumChart, EwmaChart, ShewhartChart
from .drift import PSI_BANDS, PSIValue, psi, psi_from_shares, retrain_check
from .hotelling import HotellingT2Chart
from .pca import PCAMonitor
from .rules import RULE_SETS, run_rules

__all__ = [
    "arl_shewhart", "arl_cusum", "arl_ewma", "arl_run_rules", "design_cusum", "design_ewma", "detection_delay",
    "simulate_arl", "ShewhartChart", "CusumChart", "EwmaChart", "HotellingT2Chart", "PCAMonitor",
    "psi", "psi_from_shares", "PSIValue", "PSI_BANDS", "retrain_check", "run_rules", "RULE_SETS",
]
