"""The synthetic product's catalog: parametric tests, bins, class-probe parameters,
process steps and Vmin tests.

Each parametric test is ``value = center + scale * z`` with ``z`` the dimensionless
model of :mod:`fabnb.synth._fields`; spec limits are given in ``z`` units
(``lsl_z``/``usl_z``, NaN = none) and converted to the test's unit here.

Example
-------
>>> from fabnb.synth._catalog import TESTS, spec_table
>>> len(TESTS)
39
>>> spec_table().loc["T14", "unit"]
'MHz'
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

NAN = float("nan")


class ParamTest(NamedTuple):
    description: str
    unit: str
    center: float
    scale: float  # physical size of one z unit
    lsl_z: float
    usl_z: float
    group: str  # failing group -> soft bin
    rough: bool  # short-range spatial structure and more die noise
    etest: str  # class-probe parameter that shifts the test between wafers


# Soft bins of the parametric groups and the hard bin that groups them.
GROUPS = {  # group: (soft bin, hard bin)
    "leakage": (11, 2), "iddq": (12, 2), "vt": (13, 2), "drive": (14, 2),
    "speed": (15, 3), "timing": (16, 3), "resistance": (17, 4), "analog": (18, 4),
}
#: soft bins of functional (defect) fails; hard bin 5
FUNCTIONAL = {21: "scan fail", 22: "MBIST fail"}
HBIN_NAMES = {1: "pass", 2: "DC parametric", 3: "AC / speed", 4: "analog / passive",
              5: "functional"}

# name: (description, unit, center, scale, lsl_z, usl_z, group, rough, etest)
TESTS: dict[str, ParamTest] = {f"T{k + 1:02d}": ParamTest(*spec) for k, spec in enumerate([
    ("Vtn linear", "V", 0.350, 0.008, -5.0, 5.0, "vt", False, "E01"),
    ("Vtp linear", "V", -0.380, 0.009, -5.0, 5.0, "vt", False, "E02"),
    ("Vtn saturation", "V", 0.300, 0.008, -5.0, 5.0, "vt", False, "E01"),
    ("Vtp saturation", "V", -0.330, 0.009, -5.0, 5.0, "vt", False, "E02"),
    ("Idsat n", "mA", 0.620, 0.015, -5.0, 5.0, "drive", False, "E03"),
    ("Idsat p", "mA", 0.410, 0.012, -5.0, 5.0, "drive", False, "E03"),
    ("Ioff n", "nA", 2.00, 0.25, NAN, 4.2, "leakage", True, "E06"),
    ("Ioff p", "nA", 1.50, 0.20, NAN, 4.5, "leakage", True, "E06"),
    ("gate leakage", "nA", 0.80, 0.10, NAN, 4.6, "leakage", True, "E05"),
    ("junction leakage", "uA", 0.050, 0.006, NAN, 4.6, "leakage", True, "E06"),
    ("IDDQ core", "mA", 1.20, 0.12, NAN, 3.6, "iddq", True, "E06"),
    ("IDDQ io", "mA", 0.45, 0.05, NAN, 4.4, "iddq", True, "E05"),
    ("IDD standby", "uA", 35.0, 4.0, NAN, 4.4, "iddq", True, "E06"),
    ("ring oscillator fast", "MHz", 820.0, 12.0, -3.8, NAN, "speed", False, "E06"),
    ("ring oscillator slow", "MHz", 610.0, 10.0, -4.4, NAN, "speed", False, "E01"),
    ("ring oscillator SRAM", "MHz", 540.0, 9.0, -4.4, NAN, "speed", False, "E06"),
    ("critical path delay 1", "ns", 1.250, 0.020, NAN, 3.8, "timing", False, "E06"),
    ("critical path delay 2", "ns", 2.100, 0.035, NAN, 4.4, "timing", False, "E03"),
    ("setup margin", "ns", 0.150, 0.010, -4.4, NAN, "timing", False, "E06"),
    ("Fmax", "MHz", 1450.0, 25.0, -4.2, NAN, "speed", False, "E06"),
    ("poly sheet resistance", "ohm", 250.0, 6.0, -5.0, 5.0, "resistance", False, "E04"),
    ("n-well sheet resistance", "ohm", 950.0, 20.0, -5.0, 5.0, "resistance", False, "E04"),
    ("contact resistance", "ohm", 28.0, 1.2, NAN, 4.4, "resistance", True, "E07"),
    ("via1 resistance", "ohm", 3.20, 0.15, NAN, 4.6, "resistance", True, "E07"),
    ("via2 resistance", "ohm", 2.90, 0.14, NAN, 4.6, "resistance", True, "E07"),
    ("metal1 line resistance", "ohm", 110.0, 3.0, -5.0, 5.0, "resistance", False, "E04"),
    ("bandgap reference", "V", 1.200, 0.004, -4.0, 4.0, "analog", False, "E05"),
    ("LDO output", "V", 0.900, 0.005, -4.6, 4.6, "analog", False, "E05"),
    ("ADC reference", "V", 0.600, 0.003, -4.6, 4.6, "analog", False, "E01"),
    ("bias current reference", "uA", 10.00, 0.15, -4.6, 4.6, "analog", False, "E04"),
    ("oscillator frequency", "MHz", 32.00, 0.25, -4.6, 4.6, "analog", False, "E08"),
    ("gate capacitance", "fF", 850.0, 10.0, -5.0, 5.0, "analog", False, "E08"),
    ("MIM capacitance", "fF", 1000.0, 12.0, -5.0, 5.0, "analog", False, "E08"),
    ("SRAM cell Vt", "V", 0.420, 0.010, -4.6, 4.6, "vt", False, "E02"),
    ("SRAM read current", "mA", 0.280, 0.008, -4.6, 4.6, "drive", False, "E03"),
    ("SRAM leakage", "uA", 8.00, 0.80, NAN, 4.4, "leakage", True, "E06"),
    ("temperature sensor offset", "degC", 0.0, 0.8, -4.6, 4.6, "analog", False, "E05"),
    ("ADC DNL", "LSB", 0.0, 0.08, -4.6, 4.6, "analog", True, "E08"),
    ("supply droop", "mV", 35.0, 3.0, NAN, 4.4, "timing", False, "E06"),
])}

# Class-probe (scribe-line) parameters: name -> (description, unit, center, scale).
ETESTS = {
    "E01": ("scribe Vtn", "V", 0.330, 0.006),
    "E02": ("scribe Vtp", "V", -0.360, 0.007),
    "E03": ("scribe Idsat n", "mA", 0.600, 0.012),
    "E04": ("scribe poly Rs", "ohm", 248.0, 4.0),
    "E05": ("gate oxide thickness", "nm", 1.800, 0.020),
    "E06": ("gate length", "nm", 28.0, 0.40),
    "E07": ("scribe contact chain", "ohm", 27.5, 0.9),
    "E08": ("scribe MIM capacitance", "fF", 995.0, 9.0),
}

N_STEPS = 40
STEPS = tuple(f"S{k + 1:02d}" for k in range(N_STEPS))
ROUTES = ("R1", "R2", "R3")
TRACED_STEPS = ("S05", "S14", "S22", "S30", "S37")
TRACE_PARAMETERS = {  # parameter: (baseline, run-to-run sd, within-run noise sd)
    "pressure_mTorr": (35.0, 0.3, 0.15),
    "rf_power_W": (850.0, 4.0, 2.0),
    "esc_temp_C": (60.0, 0.4, 0.08),
}

# Vmin: 3 patterns x 3 temperatures, the features and class-probe parameters of its model.
VMIN_PATTERNS = {"dc": 0.62, "ac": 0.70, "mbist": 0.74}  # V at 25 C
VMIN_TEMPS = {"m45": 0.035, "25": 0.0, "125": 0.015}  # V added at that temperature
VMIN_TESTS = tuple(f"{p}_{t}" for p in VMIN_PATTERNS for t in VMIN_TEMPS)
VMIN_FEATURES = ("T03", "T05", "T14", "T11")  # Vtn sat, Idsat n, fast RO, IDDQ core
VMIN_BASE_WEIGHTS = (0.8, -0.4, -0.0006, -0.04)  # V per unit of each feature
VMIN_ETESTS = ("E05", "E06")  # oxide thickness, gate length
VMIN_ETEST_BASE_COEF = (0.75, 0.03)  # V per nm


def spec_table() -> pd.DataFrame:
    """The 39 tests with unit and spec limits in physical units, indexed by name."""
    df = pd.DataFrame(TESTS.values(), index=pd.Index(list(TESTS), name="test"))
    df["lsl"] = df["center"] + df["scale"] * df["lsl_z"]
    df["usl"] = df["center"] + df["scale"] * df["usl_z"]
    df["sbin"] = [GROUPS[g][0] for g in df["group"]]
    df["hbin"] = [GROUPS[g][1] for g in df["group"]]
    return df


def bin_table() -> pd.DataFrame:
    """Soft bins with their hard bin, name and the tests that fail into them."""
    rows = [{"sbin": 1, "hbin": 1, "name": "pass", "tests": ""}]
    for group, (sbin, hbin) in GROUPS.items():
        tests = [t for t, spec in TESTS.items() if spec.group == group]
        rows.append({"sbin": sbin, "hbin": hbin, "name": group, "tests": ",".join(tests)})
    rows += [{"sbin": s, "hbin": 5, "name": n, "tests": ""} for s, n in FUNCTIONAL.items()]
    df = pd.DataFrame(rows)
    df["hbin_name"] = df["hbin"].map(HBIN_NAMES)
    return df


def feature_index() -> np.ndarray:
    """Positions of the Vmin features among the tests."""
    names = list(TESTS)
    return np.array([names.index(f) for f in VMIN_FEATURES])
