"""What an experiment costs in wafers."""

from dataclasses import dataclass

import pandas as pd

from .._params import Integral, Interval, Real, check_params


@dataclass(frozen=True)
class DesignCost:
    """Runs, wafers and total cost of a design."""

    runs: int
    wafers: int
    wafer_cost: float
    total: float

    def __str__(self):
        return (f"{self.runs} runs x {self.wafers // self.runs} wafer(s) x "
                f"{self.wafer_cost:,.0f} $ = {self.total / 1e6:.2f} M$")


def design_cost(design, wafer_cost=50_000, wafers_per_run=1):
    """Cost of running a design: runs x wafers per run x wafer cost.

    ``design`` is a design DataFrame or a number of runs.

    >>> from fabnb.doe import full_factorial
    >>> str(design_cost(full_factorial(["A", "B", "C", "D", "E"], levels=3)))
    '243 runs x 1 wafer(s) x 50,000 $ = 12.15 M$'
    """
    check_params("design_cost", {
        "design": [pd.DataFrame, Interval(Integral, 1, None, closed="left")],
        "wafer_cost": [Interval(Real, 0, None, closed="left")],
        "wafers_per_run": [Interval(Integral, 1, None, closed="left")],
    }, {"design": design, "wafer_cost": wafer_cost, "wafers_per_run": wafers_per_run})
    runs = len(design) if isinstance(design, pd.DataFrame) else int(design)
    wafers = runs * int(wafers_per_run)
    return DesignCost(runs, wafers, float(wafer_cost), wafers * float(wafer_cost))
