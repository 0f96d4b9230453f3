"""Run-to-run control: EWMA, double EWMA (Holt and Butler–Stefani forms) and PID
controllers, a closed-loop process simulator with sampled, delayed and virtual
metrology, and tuning tools (stability regions, drift offsets, MSE vs λ)."""

from .controllers import DoubleEWMAController, EWMAController, PIDController
from .process import LinearProcess, VirtualMetrology
from .simulate import simulate
from .tuning import (
    compare_controllers,
    double_ewma_drift_offset,
    double_ewma_polynomial,
    double_ewma_stable,
    ewma_drift_offset,
    minimum_variance_lambda,
    mse_vs_lambda,
    stability_region,
    stable_lambda_range,
)

__all__ = [
    "EWMAController", "DoubleEWMAController", "PIDController", "LinearProcess",
    "VirtualMetrology", "simulate", "compare_controllers", "ewma_drift_offset",
    "minimum_variance_lambda", "mse_vs_lambda", "stable_lambda_range", "double_ewma_polynomial",
    "double_ewma_stable", "double_ewma_drift_offset", "stability_region",
]
