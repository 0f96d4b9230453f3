"""Run-to-run control: EWMA, double EWMA and PID controllers, a closed-loop process
simulator with sampled, delayed and virtual metrology, and tuning tools."""

from .controllers import DoubleEWMAController, EWMAController, PIDController
from .process import LinearProcess, VirtualMetrology
from .simulate import simulate
from .tuning import (
    compare_controllers,
    ewma_drift_offset,
    minimum_variance_lambda,
    mse_vs_lambda,
    stable_lambda_range,
)

__all__ = [
    "EWMAController", "DoubleEWMAController", "PIDController", "LinearProcess",
    "VirtualMetrology", "simulate", "compare_controllers", "ewma_drift_offset",
    "minimum_variance_lambda", "mse_vs_lambda", "stable_lambda_range",
]
