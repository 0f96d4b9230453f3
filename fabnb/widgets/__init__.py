"""Interactive Jupyter widgets over contract Datasets (anywidget + ipywidgets).

The calibration panels (``VminCalibration``, ``FleetCalibration``, ``R2RTuning``,
``YieldCalibration``) are ipywidgets composites: controls, readouts and a live
matplotlib plot over a fitted model, with a PNG fallback (``to_image()``).

Widgets hold no numerics of their own: they slice the Dataset and call the same
public functions a user calls.  Front-end code (ES modules, CSS) lives in the
top-level ``widgets/`` folder, shipped in the wheel as ``fabnb/_static``.

Example
-------
>>> import fabnb
>>> from fabnb.widgets import WaferMap
>>> WaferMap(fabnb.synth.fab("small", seed=0), test="T01").test
'T01'
"""

from .calibration_fleet import FleetCalibration
from .calibration_r2r import R2RTuning
from .calibration_vmin import VminCalibration
from .calibration_yield import YieldCalibration
from .sampling import SamplingExplorer
from .wafermap import FabWidgetWarning, WaferMap

__all__ = ["FabWidgetWarning", "FleetCalibration", "R2RTuning", "SamplingExplorer",
           "VminCalibration", "WaferMap", "YieldCalibration"]
