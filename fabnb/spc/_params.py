"""Parameter rules of the SPC charts, declared once and shared by the charts
(``_parameter_constraints``) and the ARL functions that take the same parameters."""

from .._params import Integral, Interval, Real

_positive = Interval(Real, 0, None, closed="neither")
_fraction = Interval(Real, 0, 1, closed="neither")

SHEWHART = {"L": [_positive]}
CUSUM = {"k": [Interval(Real, 0, None, closed="left")], "h": [_positive],
         "headstart": [Interval(Real, 0, None, closed="left")]}
EWMA = {"lam": [Interval(Real, 0, 1, closed="right")], "L": [_positive]}
LOCATION_SCALE = {"target": [Real, None], "sigma": [_positive, None]}
PCA = {"n_components": [Interval(Integral, 1, None, closed="left"), None],
       "explained_variance": [_fraction], "alpha": [_fraction]}
ARL = {"shift": [Interval(Real, None, None, closed="neither")],
       "states": [Interval(Integral, 20, None, closed="left")],
       "sides": [Interval(Integral, 1, 2, closed="both")]}
