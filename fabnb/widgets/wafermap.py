"""``WaferMap``: an interactive wafer map (anywidget) of one wafer's die values or bins.

The kernel slices the contract Dataset and sends the browser only the current wafer.
Die data are NumPy arrays in Python (``m.values`` is a ``float32`` array) held by
:class:`ArrayTrait`, which sends each as one binary buffer of little-endian bytes
(never a JSON list):

- once per dataset: die centres ``x``/``y`` (in their ``units``: "mm", or "die pitch"
  when the tester file gave no die size) and ``col``/``row`` indices;
- on every wafer/test/variable switch: ``values`` (float32, NaN = not measured),
  ``bins`` (int32 hard bin, -1 = untested) and, with a screening result attached,
  ``screen_rule`` (int32: which rule screened the die out, -1 = none) of that wafer.

The front end (``widgets/wafermap.js``) draws the dies on a canvas with the wafer
outline and notch (the canvas spans the wafer and every die, also one outside the
outline), a colour legend, a hover tooltip, click, box and free-hand lasso
selection (dies whose centres fall inside the drawn shape) and the wafer/test pickers
(the test picker shows each test's number and clean name; a test may be given as anything
:func:`fabnb.summary.resolve_test` accepts: name, number, clean name or a unique part).
Bin colours come from :func:`fabnb.plot.bin_palette` (the ``bin_colors`` trait, one colour
per code of the whole dataset), so the widget, the matplotlib maps and the reports agree.
The header gives the shown wafer's yield and its lot's (:func:`fabnb.summary.yield_by_wafer`,
:func:`fabnb.summary.yield_by_lot`: passing / tested dies, hard bin 1 = pass).

A screening result (:func:`fabnb.screen.screen`) is shown as a layer: each die a rule
took out is filled with the rule's colour (``fabnb.plot.screen.RULE_COLORS``, the
colours of :func:`fabnb.plot.screen_map`), the legend counts the dies per rule on the
shown wafer, and the tooltip says why (the first failing test and its value against
the PAT limit, the residual against the neighbours, the bad-neighbour count, the
location's fail rate in the lot).
The colour scale is :func:`fabnb.plot.color_scale.color_scale`, the one the matplotlib
maps use: robust limits (the values inside Tukey's outer fences, so a few outliers cannot
saturate it) over all wafers of the test (``scale="test"``, so wafers are comparable) or
over the shown wafer (``scale="wafer"``), the test's spec limits (``scale="spec"``), or
fixed limits (``clim``).  Python sends the limits, the scale's label, the under/over
colours and the shown wafer's under/over die counts; the front end draws the dies beyond
the scale in those colours and shows the label under the colour bar.

Bad data (no die coordinates, unknown test or wafer, all-NaN wafer) never raises
from the widget: the ``message`` trait carries a readable explanation that the front
end shows in place of (or over) the map, and a warning is issued in Python.  A bad
option given to the constructor (``var``, ``scale``, ``size``, ``clim``) is the caller's
mistake, not the data's: it raises :class:`~fabnb.errors.FabParameterError`.

Example
-------
>>> import fabnb
>>> from fabnb.widgets import WaferMap
>>> ds = fabnb.synth.fab("small", seed=0)
>>> m = WaferMap(ds, test="T01")
>>> m.selected = [0, 1]
>>> m.selected_dies().sizes["die"]
2
>>> str(m.values.dtype), m.values.shape == (ds.sizes["die"],)
('float32', True)
>>> m.show_screen(fabnb.screen.screen(ds))
>>> m.screen_rules[:2]
['static_pat', 'dynamic_pat']
"""

from __future__ import annotations

import os
import warnings

import anywidget
import numpy as np
import traitlets
import xarray as xr

from fabnb import summary
from fabnb._params import Integral, Interval, StrOptions, check_params
from fabnb.errors import FabDataError, FabParameterError
from fabnb.geometry import corner_radius
from fabnb.plot import bin_hex
from fabnb.plot.color_scale import OVER_COLOR, UNDER_COLOR, color_scale, dataset_scale
from fabnb.plot.screen import RULE_COLORS, RULE_LABELS
from fabnb.plot.screen import _check_result as _check_screen_result

from ._image import static_png
from ._static import static_file
from .._warn import user_stacklevel

VARIABLES = ("value", "hbin")
#: colour scales: robust over the test's wafers, robust over the shown wafer, spec limits
SCALES = ("test", "wafer", "spec")
#: what the scale picker shows for each of SCALES
SCALE_NAMES = ("robust, all wafers", "robust, this wafer", "spec limits")
SELECT_MODES = ("box", "lasso")
VIEW_TRAITS = ("wafer", "test", "var", "scale")
DIE_COORDS = ("x", "y", "col", "row")
#: environment variable that turns the front end's test hooks on (the browser tests'
#: JupyterLab sets it); the ``debug`` trait does the same for one map
DEBUG_ENV = "FABNB_WIDGET_DEBUG"


class FabWidgetWarning(UserWarning):
    """A widget got input it cannot show; the widget displays the same message."""


class ArrayTrait(traitlets.TraitType):
    """A 1-d NumPy array of one dtype, synced to the front end as one binary buffer.

    Python sees an array (``m.values[:3]``); the comm carries its little-endian bytes as
    a message buffer (ipywidgets sends ``memoryview`` values as buffers), which the
    front end views as a ``Float32Array``/``Int32Array`` without copying.  Values are
    copied in and made read-only: an in-place edit would never reach the browser, so
    it is refused; assign a new array instead.  Assigning an equal array sends nothing.

    >>> import traitlets
    >>> class T(traitlets.HasTraits):
    ...     a = ArrayTrait("f4")
    >>> T(a=[1, 2]).a
    array([1., 2.], dtype=float32)
    """

    info_text = "a 1-d array"

    def __init__(self, dtype, **kwargs):
        self.dtype = np.dtype(dtype).newbyteorder("<")
        super().__init__(self._frozen(np.zeros(0, self.dtype)), **kwargs)
        self.tag(sync=True, to_json=self._to_json, from_json=self._from_json)

    @staticmethod
    def _frozen(a: np.ndarray) -> np.ndarray:
        a.flags.writeable = False
        return a

    def validate(self, obj, value):
        try:
            a = np.array(value, dtype=self.dtype)
        except (TypeError, ValueError):
            self.error(obj, value)
        if a.ndim != 1:
            self.error(obj, value, info=f"a 1-d array (got {a.ndim} dimensions)")
        return self._frozen(a)

    def set(self, obj, value):
        new = self._validate(obj, value)
        old = obj._trait_values.get(self.name, self.default_value)
        obj._trait_values[self.name] = new
        # traitlets compares with ==, which is elementwise (and ambiguous) for arrays
        if not np.array_equal(old, new, equal_nan=new.dtype.kind == "f"):
            obj._notify_trait(self.name, old, new)

    @staticmethod
    def _to_json(value, widget):
        return memoryview(np.ascontiguousarray(value))

    def _from_json(self, value, widget):
        return np.frombuffer(bytes(value), dtype=self.dtype)


def decode_f32(buf) -> np.ndarray:
    """A float32 array from a buffer trait's bytes (e.g. a saved widget state)."""
    return np.frombuffer(bytes(buf), dtype="<f4")


def decode_i32(buf) -> np.ndarray:
    """An int32 array from a buffer trait's bytes (e.g. a saved widget state)."""
    return np.frombuffer(bytes(buf), dtype="<i4")


def color_limits(values: np.ndarray) -> tuple[float, float]:
    """The robust colour limits of the finite ``values`` (the widget's default scale,
    :func:`fabnb.plot.color_scale.color_scale`); ``(nan, nan)`` if there are none.

    >>> color_limits(np.array([0.0, 1.0, 2.0, 3.0, 100.0, np.nan]))
    (0.0, 3.0)
    """
    scale = color_scale(values)
    return scale.vmin, scale.vmax


def _num(v: float, unit: str = "", sign: bool = False) -> str:
    """``v`` to 4 significant digits with its unit (the tooltip's number format)."""
    text = f"{v:+.4g}" if sign else f"{v:.4g}"
    return f"{text} {unit}" if unit else text


def _check_clim(clim) -> tuple[float, float] | None:
    """``clim`` as ``(low, high)`` floats, finite with ``low < high`` (or None)."""
    if clim is None:
        return None
    try:
        lo, hi = (float(v) for v in clim)
    except (TypeError, ValueError):
        lo = hi = float("nan")
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise FabParameterError(f"The 'clim' parameter of WaferMap must be None or finite "
                                f"(low, high) with low < high. Got {clim!r} instead.")
    return lo, hi


def _die_pitch(coord: np.ndarray) -> float:
    """Smallest spacing between distinct die centres along one axis (for datasets
    without ``die_width_mm``/``die_height_mm`` attributes)."""
    steps = np.diff(np.unique(np.round(coord, 6)))
    return float(steps.min()) if steps.size else 1.0


class WaferMap(anywidget.AnyWidget):
    """Interactive map of one wafer of a contract Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A contract Dataset (``fabnb.schema``): die coordinates ``x``, ``y``, ``col``,
        ``row`` and ``value`` (wafer, die, test) and/or ``hbin`` (wafer, die).
    test : str or int, optional
        Test to show (name, test number, clean name or a unique part of the name, see
        :func:`fabnb.summary.resolve_test`); default the first test.
    wafer : str or int, optional
        Wafer id (or position along ``wafer``); default the first wafer.
    var : {"value", "hbin"}
        Show the test's values or the hard bins.
    scale : {"test", "wafer", "spec"}
        Colour limits (:func:`fabnb.plot.color_scale.color_scale`): robust limits of
        all wafers of the test (comparable maps), robust limits of the shown wafer, or
        the test's LSL–USL (dies out of spec in the over/under colours).
    clim : (float, float), optional
        Fixed colour limits instead (e.g. shared by maps that must compare); settable
        later as ``m.clim``.
    size : int
        Canvas size in CSS pixels.
    screen : xarray.Dataset, optional
        A screening result of ``ds`` (:func:`fabnb.screen.screen`) to show as a layer;
        see :meth:`show_screen`.
    debug : bool, optional
        Expose the front end's test hooks (die positions, render timings) on the root
        element; default from the ``FABNB_WIDGET_DEBUG`` environment variable (the
        browser tests set it).  Nothing a user needs.

    Traits
    ------
    selected : list of int
        Selected dies as positions along the ``die`` dim; set by clicking (shift/ctrl
        toggles) or dragging a box or a lasso in the browser (shift adds), or from Python.
    select_mode : {"box", "lasso"}
        What a drag draws: a rectangle, or a free-hand polygon selecting the dies whose
        centres fall inside it.  Toggled by the map's "select" button.
    wafer, test, var, scale
        What is shown; settable from Python or the pickers (``test`` also by number or
        clean name: it is resolved to the dataset's test name).
    vmin, vmax, scale_label, extend
        The colour scale in use: its limits (None when nothing can be coloured), its
        label (what the legend says, e.g. ``"spec limits LSL 1.2 – USL 1.8 V"``) and
        matplotlib's ``extend`` (the colour bar's sides with dies beyond).
    under_color, over_color, n_under, n_over, under_label, over_label
        The colours of the dies below/above the scale (``fabnb.plot.color_scale``'s
        palette), how many of the shown wafer's dies are drawn in them and the legend's
        words for them (``"above USL 1.8 (5)"``).
    test_labels : list of str
        What the test picker shows, parallel to ``tests``: ``"<number> <clean name>"``.
    bin_colors : dict
        ``{"<code>": "#rrggbb"}`` for every hard bin code of the dataset
        (:func:`fabnb.plot.bin_hex`); the front end colours bins with it.
    bin_names : dict
        ``{"<code>": name}`` of the bins the dataset names (:func:`fabnb.summary.bin_names`).
    values, bins, beyond, x, y, col, row : numpy.ndarray
        The shown wafer's values (float32), hard bins (int32) and side of the colour
        scale (int8: -1 below, +1 above, 0 inside), the die centres (float32) and
        indices (int32): read-only arrays, synced as binary buffers.
    yields : dict
        The header's numbers: ``wafer``/``lot`` ids, ``wafer_yield``, ``wafer_passed``,
        ``wafer_tested``, ``lot_yield``, ``lot_passed``, ``lot_tested``, ``lot_wafers``
        (empty without hard bins).
    screen_rules, rule_colors, rule_labels, screen_rule, screen_reasons, screen_layer
        The screening layer (:meth:`show_screen`): the result's rules in order, their
        colours and names, per die of the shown wafer the position in ``screen_rules``
        of the rule that screened it out (-1 = kept), ``{"<die>": why}`` for those
        dies, and whether the layer is drawn (the map's "screen" checkbox).
    message
        Readable explanation of bad input, shown in the widget ("" when all is well).

    Example
    -------
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> a, b = WaferMap(ds, test="T01"), WaferMap(ds, var="hbin")
    >>> link = a.link_selection(b)
    >>> a.selected = [3]
    >>> b.selected
    [3]
    """

    _parameter_constraints = {
        "var": [StrOptions(set(VARIABLES))],
        "scale": [StrOptions(set(SCALES))],
        "size": [Interval(Integral, 1, None, closed="left")],
    }
    _esm = static_file("wafermap.js")
    _css = static_file("wafermap.css")

    wafer = traitlets.Unicode("").tag(sync=True)
    test = traitlets.Unicode("").tag(sync=True)
    var = traitlets.Unicode("value").tag(sync=True)
    scale = traitlets.Unicode("test").tag(sync=True)
    wafers = traitlets.List(traitlets.Unicode()).tag(sync=True)
    tests = traitlets.List(traitlets.Unicode()).tag(sync=True)
    test_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    bin_colors = traitlets.Dict().tag(sync=True)
    bin_names = traitlets.Dict().tag(sync=True)
    variables = traitlets.List(traitlets.Unicode()).tag(sync=True)
    #: the scale picker's choices (SCALES) and what it shows for them (SCALE_NAMES)
    scales = traitlets.List(traitlets.Unicode(), default_value=list(SCALES)).tag(sync=True)
    scale_names = traitlets.List(traitlets.Unicode(), default_value=list(SCALE_NAMES)).tag(sync=True)
    selected = traitlets.List(traitlets.Int()).tag(sync=True)
    select_mode = traitlets.Enum(SELECT_MODES, default_value="box").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    #: the wafer whose die data the buffers hold ("" when none): lets the front end
    #: tell the kernel's answer to a wafer switch from its own picker change
    data_wafer = traitlets.Unicode("").tag(sync=True)
    size = traitlets.Int(420).tag(sync=True)
    #: show the wafer/test/variable pickers (composites that drive the map hide them)
    controls = traitlets.Bool(True).tag(sync=True)

    # binary payload: die geometry (once) and the current wafer (on every switch)
    x = ArrayTrait("f4")
    y = ArrayTrait("f4")
    col = ArrayTrait("i4")
    row = ArrayTrait("i4")
    values = ArrayTrait("f4")
    bins = ArrayTrait("i4")
    #: per die of the shown wafer: -1 below the colour scale, +1 above, 0 inside (Python
    #: decides, so the dies drawn in the under/over colours are exactly the counted ones)
    beyond = ArrayTrait("i1")
    yields = traitlets.Dict().tag(sync=True)
    # screening layer (show_screen)
    screen_rules = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rule_colors = traitlets.Dict().tag(sync=True)
    rule_labels = traitlets.Dict().tag(sync=True)
    screen_rule = ArrayTrait("i4")
    screen_reasons = traitlets.Dict().tag(sync=True)
    screen_layer = traitlets.Bool(True).tag(sync=True)
    debug = traitlets.Bool(False).tag(sync=True)
    geometry = traitlets.Dict().tag(sync=True)
    unit = traitlets.Unicode("").tag(sync=True)
    lsl = traitlets.Float(None, allow_none=True).tag(sync=True)
    usl = traitlets.Float(None, allow_none=True).tag(sync=True)
    vmin = traitlets.Float(None, allow_none=True).tag(sync=True)
    vmax = traitlets.Float(None, allow_none=True).tag(sync=True)
    scale_label = traitlets.Unicode("").tag(sync=True)
    extend = traitlets.Unicode("neither").tag(sync=True)
    under_color = traitlets.Unicode(UNDER_COLOR).tag(sync=True)
    over_color = traitlets.Unicode(OVER_COLOR).tag(sync=True)
    n_under = traitlets.Int(0).tag(sync=True)
    n_over = traitlets.Int(0).tag(sync=True)
    #: legend rows of the under/over dies, e.g. "above USL 1.8 (5)"
    under_label = traitlets.Unicode("").tag(sync=True)
    over_label = traitlets.Unicode("").tag(sync=True)
    #: every trait the front end draws from, defined once (the traits above): the front
    #: end redraws when any of them changes
    synced = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, ds, test=None, wafer=None, var="value", scale="test", size=420,
                 clim=None, screen=None, debug=None, **kwargs):
        check_params("WaferMap", self._parameter_constraints, {"var": var, "scale": scale, "size": size})
        if not isinstance(ds, xr.Dataset):
            raise FabDataError(f"WaferMap needs an xarray.Dataset, got {type(ds).__name__}")
        if debug is None:
            debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
        super().__init__(size=size, debug=bool(debug), **kwargs)
        self.synced = sorted(WaferMap.class_own_traits(sync=True))
        self._clim = _check_clim(clim)
        self._scale = None  # the shown test's ColorScale (fabnb.plot.color_scale)
        self._screen = None
        self._refreshing = True  # one refresh at the end, not one per trait
        self._load(ds)
        if screen is not None:
            self._attach_screen(screen)
        problems = []
        if isinstance(wafer, (int, np.integer)) and not isinstance(wafer, bool):
            if not 0 <= wafer < len(self.wafers):
                problems.append(f"Wafer position {wafer} is out of range (0..{len(self.wafers) - 1}).")
                wafer = None
            else:
                wafer = self.wafers[wafer]
        self.var = var if (var in ds.data_vars or not self.variables) else self.variables[0]
        self.test = str(test) if test is not None else (self.tests[0] if self.tests else "")
        self.wafer = str(wafer) if wafer is not None else (self.wafers[0] if self.wafers else "")
        self.scale = scale
        self._refresh(problems)

    def update_dataset(self, ds: xr.Dataset) -> None:
        """Show another Dataset on the same map (e.g. new predictions), keeping the wafer,
        test and variable when they still exist and the selection when the grid matches.

        >>> import fabnb
        >>> ds = fabnb.synth.fab("small", seed=0)
        >>> m = WaferMap(ds, test="T02", wafer=5)
        >>> m.update_dataset(ds.isel(wafer=[0, 1]))
        >>> m.test, m.wafers == [str(w) for w in ds.wafer.values[:2]]
        ('T02', True)
        """
        if not isinstance(ds, xr.Dataset):
            raise FabDataError(f"WaferMap needs an xarray.Dataset, got {type(ds).__name__}")
        n_before = self.geometry.get("n_die")
        self._refreshing = True
        with self.hold_sync():
            self._load(ds)
            if self.geometry.get("n_die") != n_before:
                self.selected = []
            if self.wafer not in self.wafers and self.wafers:
                self.wafer = self.wafers[0]
            if self.test not in self.tests and self.tests:
                self.test = self.tests[0]
            if self.var not in ds.data_vars and self.variables:
                self.var = self.variables[0]
            if self._screen is not None and self._screen.sizes.get("die") != self.geometry.get("n_die"):
                warnings.warn("the screening layer no longer matches the map's die grid: removed; "
                              "run fabnb.screen.screen on the new dataset and call show_screen",
                              FabWidgetWarning, stacklevel=user_stacklevel())
                self._attach_screen(None)
            self._refresh()

    def _load(self, ds: xr.Dataset) -> None:
        """Take ``ds``: die geometry, the wafer/test/variable choices."""
        self._ds = ds
        self._test_scales = {}
        self._geometry_problems = self._load_geometry(ds)
        self.tests = [str(t) for t in ds["test"].values] if "test" in ds.coords else []
        self.test_labels = summary.test_labels(ds) if self.tests else []
        codes = np.unique(ds["hbin"].values) if "hbin" in ds else np.array([], dtype=int)
        # untested and pass always present: the front end may show them before any data
        self.bin_colors = {str(k): v for k, v in bin_hex(np.union1d(codes, [-1, 1])).items()}
        self.bin_names = {str(k): v for k, v in summary.bin_names(ds).items()} if "hbin" in ds else {}
        self.wafers = [str(w) for w in ds["wafer"].values] if "wafer" in ds.coords else []
        self.variables = [v for v in VARIABLES if v in ds.data_vars]
        self._yields = self._yield_tables(ds)

    @staticmethod
    def _yield_tables(ds: xr.Dataset):
        """Per wafer and per lot yield (the header), or None without bins or lots."""
        if "hbin" not in ds or not {"lot", "slot"} <= set(ds.coords):
            return None
        return summary.yield_by_wafer(ds), summary.yield_by_lot(ds)

    def _wafer_yields(self) -> dict:
        """The header's numbers for the shown wafer (JSON: None where nothing was tested)."""
        if self._yields is None or self.wafer not in self.wafers:
            return {}
        by_wafer, by_lot = self._yields
        w = by_wafer.loc[self.wafer]
        lot = by_lot.loc[w["lot"]]

        def share(v):
            return float(v) if np.isfinite(v) else None

        return {"wafer": self.wafer, "lot": str(w["lot"]), "wafer_yield": share(w["yield"]),
                "wafer_passed": int(w["passed"]), "wafer_tested": int(w["tested"]),
                "lot_yield": share(lot["yield"]), "lot_passed": int(lot["passed"]),
                "lot_tested": int(lot["tested"]), "lot_wafers": int(lot["wafers"])}

    def _find_test(self, problems: list) -> bool:
        """Resolve ``test`` to the dataset's name (:func:`fabnb.summary.resolve_test`:
        a number or clean name becomes the name); an unknown or ambiguous test stays as
        given and is explained in ``problems``.  True when the test is known."""
        if self.test not in self.tests:
            try:
                self.test = summary.resolve_test(self._ds, self.test)
            except FabDataError as err:
                problems.append(f"Cannot show test {self.test!r}: {err}. Pick a test above.")
                return False
        return True

    # ------------------------------------------------------------------ data
    def _load_geometry(self, ds: xr.Dataset) -> list[str]:
        """Send the die coordinates once; return problems that prevent drawing."""
        missing = [c for c in DIE_COORDS if c not in ds.coords]
        if "die" not in ds.dims or missing:
            if "die" not in ds.dims:
                what = "no 'die' dimension"
            else:
                what = f"no die coordinate(s) {', '.join(map(repr, missing))}"
            message = (
                f"Cannot draw a wafer map: the dataset has {what}. A contract dataset needs "
                "x, y (mm from the wafer centre), col and row on the 'die' dimension "
                "(see fabnb.schema)."
            )
            return [message]
        x, y = ds["x"].values.astype(float), ds["y"].values.astype(float)
        die_w = float(ds.attrs.get("die_width_mm") or _die_pitch(x))
        die_h = float(ds.attrs.get("die_height_mm") or _die_pitch(y))
        reach = float(corner_radius(x, y, die_w, die_h).max()) if x.size else 1.0
        diameter = float(ds.attrs.get("wafer_diameter_mm") or 2 * reach)
        self.geometry = {
            "diameter": diameter,
            # the canvas spans the wafer and every die: a die outside the outline (one a
            # reader set aside as far from the bulk of the grid) is drawn, not cut off
            "extent": max(diameter, 2 * reach),
            "die_w": die_w,
            "die_h": die_h,
            "notch": str(ds.attrs.get("notch", "down")),
            "units": str(ds["x"].attrs.get("units") or "mm"),
            "n_die": int(ds.sizes["die"]),
        }
        self.x, self.y = x, y
        self.col, self.row = ds["col"].values, ds["row"].values
        return []

    def notify_change(self, change):
        """A change of what is shown goes to the browser in one message with its data."""
        if change["name"] in VIEW_TRAITS and not getattr(self, "_refreshing", True):
            with self.hold_sync():
                super().notify_change(change)
                self._refresh()
        else:
            super().notify_change(change)

    def _refresh(self, problems=()) -> None:
        """Slice the current wafer and send it, or explain in ``message`` why not."""
        self._refreshing = True
        try:
            with self.hold_sync():  # one message: data, colour limits and message together
                problems = [*self._geometry_problems, *problems]
                if not self._geometry_problems:
                    problems += self._send_wafer()
                self.message = " ".join(problems)
        finally:
            self._refreshing = False
        if self.message:
            warnings.warn(self.message, FabWidgetWarning, stacklevel=user_stacklevel())

    def _send_wafer(self) -> list[str]:
        ds, n_die = self._ds, self.geometry["n_die"]
        empty = np.full(n_die, np.nan)
        problems = []
        if self.var not in VARIABLES:
            problems.append(f"var={self.var!r} is not one of {VARIABLES}.")
        elif self.var not in ds.data_vars:
            problems.append(f"The dataset has no '{self.var}' variable to show.")
        if self.scale not in SCALES:
            problems.append(f"scale={self.scale!r} is not one of {SCALES}; using 'test'.")
        if self.wafer not in self.wafers:
            problems.append(
                f"Wafer {self.wafer!r} is not in the dataset "
                f"({len(self.wafers)} wafers: {', '.join(self.wafers[:4])}{', ...' if len(self.wafers) > 4 else ''})."
            )
            self.values, self.bins, self.beyond = empty, np.full(n_die, -1), np.zeros(n_die)
            self.screen_rule, self.screen_reasons, self.yields = np.full(n_die, -1), {}, {}
            self.data_wafer = ""
            return problems
        self.bins = ds["hbin"].sel(wafer=self.wafer).values if "hbin" in ds else np.full(n_die, -1)
        self.yields = self._wafer_yields()
        problems += self._send_screen()
        values = empty
        unit, lsl, usl, scale = "", None, None, None
        if "value" in ds:
            if self._find_test(problems):
                values = ds["value"].sel(wafer=self.wafer, test=self.test).values.astype(float)
                unit = str(ds["unit"].sel(test=self.test).values) if "unit" in ds.coords else ""
                lsl, usl = (self._limit(name) for name in ("lsl", "usl"))
                scale = self._color_scale(values)
                if self.var == "value" and not np.isfinite(values).any():
                    problems.append(
                        f"Wafer {self.wafer} has no measured '{self.test}' values (all NaN): "
                        "nothing to colour. Pick another wafer or test."
                    )
        self.values = values
        self.data_wafer = self.wafer
        self.unit, self.lsl, self.usl = unit, lsl, usl
        self._scale = scale
        self._send_scale(scale, values)
        return problems

    def _send_scale(self, scale, values) -> None:
        """The colour scale's traits and the shown wafer's under/over dies (None: no test
        to colour, nothing to say)."""
        self.beyond = np.zeros(values.size, dtype=np.int8) if scale is None else scale.side(values)
        if scale is None or not scale.finite:
            self.vmin = self.vmax = None
            self.scale_label = "" if scale is None else scale.label
            self.n_under = self.n_over = 0
            self.extend, self.under_label, self.over_label = "neither", "", ""
            return
        self.vmin, self.vmax = scale.vmin, scale.vmax
        self.scale_label, self.extend = scale.label, scale.extend
        self.under_color, self.over_color = scale.under_color, scale.over_color
        self.n_under, self.n_over = scale.n_under, scale.n_over
        self.under_label, self.over_label = scale.under_text(), scale.over_text()

    # ------------------------------------------------------------ screening
    def show_screen(self, result: xr.Dataset | None) -> None:
        """Show a screening result of this map's dataset as a layer (None removes it).

        ``result`` is what :func:`fabnb.screen.screen` returns for the map's dataset
        (same die grid; its wafers are looked up by id).  On every wafer the dies a rule
        took out (``first_rule``) are filled with the rule's colour
        (``fabnb.plot.screen.RULE_COLORS``, as in :func:`fabnb.plot.screen_map`), the
        legend counts them per rule and the tooltip says why: for PAT the first test
        outside its limits, its value and the limit; for NNR the residual against the
        neighbours' median; for GDBN the (weighted) count of bad neighbours; for Z-PAT
        the location's fail rate in the lot.  The map's "screen" checkbox (the
        ``screen_layer`` trait) hides the layer without removing it.

        >>> import fabnb
        >>> ds = fabnb.synth.fab("small", seed=0)
        >>> m = WaferMap(ds, var="hbin")
        >>> m.show_screen(fabnb.screen.screen(ds, rules="gdbn"))
        >>> m.screen_rules, m.rule_colors["gdbn"]
        (['gdbn'], '#1f77b4')
        """
        with self.hold_sync():
            self._attach_screen(result)
            self._refresh()

    def _attach_screen(self, result) -> None:
        if result is not None:
            if not isinstance(result, xr.Dataset):
                raise FabDataError(f"show_screen needs the Dataset fabnb.screen.screen() returns, "
                                   f"got {type(result).__name__}")
            _check_screen_result(result)
            n_die = self.geometry.get("n_die")
            if result.sizes.get("die") != n_die:
                raise FabDataError(f"the screening result has {result.sizes.get('die')} dies, the map's dataset "
                                   f"{n_die}: screen the dataset the map shows")
        self._screen = result
        rules = [str(r) for r in result.attrs["rules"]] if result is not None else []
        self.screen_rules = rules
        self.rule_colors = {r: RULE_COLORS[r] for r in rules}
        self.rule_labels = {r: RULE_LABELS[r] for r in rules}

    def _send_screen(self) -> list[str]:
        """The shown wafer's screening layer: rule per die and the reasons."""
        n_die = self.geometry["n_die"]
        res = self._screen
        if res is None or self.wafer not in set(map(str, res["wafer"].values)):
            self.screen_rule, self.screen_reasons = np.full(n_die, -1), {}
            if res is None:
                return []
            return [f"Wafer {self.wafer} is not in the screening result: no screen layer on it."]
        one = res.sel(wafer=self.wafer)
        first = one["first_rule"].values.astype(str)
        rule = np.full(n_die, -1)
        for k, name in enumerate(self.screen_rules):
            rule[first == name] = k
        self.screen_rule = rule
        flagged = np.flatnonzero(first != "")
        self.screen_reasons = {str(d): self._screen_reason(one, int(d)) for d in flagged}
        return []

    def _screen_reason(self, one: xr.Dataset, die: int) -> str:
        """Why the rules flagged ``die`` on the wafer ``one`` (one line per rule, the rule
        that set the PAT bin first)."""
        attrs = self._screen.attrs
        lines = []
        for rule in self.screen_rules:
            if not bool(one[rule].values[die]):
                continue
            label = RULE_LABELS[rule]
            if rule in ("static_pat", "dynamic_pat", "nnr"):
                fails = np.flatnonzero(one[f"{rule}_fail"].values[die])
                test = str(one["test"].values[fails[0]])
                more = f" (+{fails.size - 1} more tests)" if fails.size > 1 else ""
                unit = str(self._ds["unit"].sel(test=test).values) if "unit" in self._ds.coords else ""
                name = summary.clean_test_name(test)
                if rule == "nnr":
                    r = float(one["nnr_residual"].values[die, fails[0]])
                    lines.append(f"{label}: {name} residual {_num(r, unit, sign=True)} from its neighbours' "
                                 f"median, beyond {attrs['nnr_k']:g} robust σ{more}")
                    continue
                value = float(self._ds["value"].sel(wafer=self.wafer, test=test).values[die])
                prefix = "pat" if rule == "static_pat" else "dpat"
                lo, hi = (float(one[f"{prefix}_{side}"].sel(test=test)) for side in ("lsl", "usl"))
                side = (f"< {prefix.upper()} LSL {_num(lo, unit)}" if value < lo
                        else f"> {prefix.upper()} USL {_num(hi, unit)}")
                lines.append(f"{label}: {name} = {_num(value, unit)} {side}{more}")
            elif rule == "gdbn":
                lines.append(f"{label}: {float(one['bad_neighbours'].values[die]):g} bad neighbours "
                             f"(flagged at ≥ {attrs['min_bad']:g})")
            elif rule == "zpat":
                rate = float(one["location_fail_rate"].values[die])
                lines.append(f"{label}: this location fails on {100 * rate:.0f} % of the lot's wafers "
                             f"(flagged at ≥ {100 * attrs['zpat_threshold']:.0f} %)")
            else:  # gdbn_cluster: the result keeps no size per die
                lines.append(f"{label}: inside a cluster of failing dies")
        return "\n".join(lines)

    @property
    def color_scale(self):
        """The shown test's :class:`~fabnb.plot.color_scale.ColorScale` (limits, label,
        under/over colours and counts on the shown wafer), None without a test to colour;
        ``fabnb.plot.wafer_map(..., scale=m.color_scale)`` draws it."""
        return self._scale

    @property
    def clim(self) -> tuple[float, float] | None:
        """Fixed colour limits ``(low, high)``, or None for the ``scale`` trait's scale;
        setting it redraws the map."""
        return self._clim

    @clim.setter
    def clim(self, value) -> None:
        new = _check_clim(value)
        if new != self._clim:
            self._clim = new
            if not getattr(self, "_refreshing", True):
                self._refresh()

    def _color_scale(self, values: np.ndarray):
        """:func:`fabnb.plot.color_scale.color_scale` of the shown test: fixed ``clim``,
        spec limits, robust over the shown wafer, or robust over every wafer of the test
        (computed once per test, recounted on the shown wafer)."""
        ds, test = self._ds, self.test
        if self.clim is not None:
            return dataset_scale(ds, test, values, vmin=self.clim[0], vmax=self.clim[1],
                                 fixed_by="clim", owner="WaferMap")
        if self.scale in ("wafer", "spec"):
            return dataset_scale(ds, test, values, "spec" if self.scale == "spec" else "robust",
                                 where="the shown wafer", owner="WaferMap")
        if test not in self._test_scales:  # "test", or a bad value (explained in the message)
            pool = ds["value"].sel(test=test).values
            self._test_scales[test] = dataset_scale(ds, test, pool, where="all wafers of the test",
                                                    owner="WaferMap")
        return self._test_scales[test].recount(values)

    def _limit(self, name: str):
        if name not in self._ds.coords:
            return None
        v = float(self._ds[name].sel(test=self.test).values)
        return v if np.isfinite(v) else None

    @traitlets.validate("selected")
    def _check_selected(self, proposal):
        picked = [int(i) for i in proposal["value"]]
        n_die = self.geometry.get("n_die", 0)
        bad = [i for i in picked if not 0 <= i < n_die]
        if bad:
            raise FabDataError(
                f"selected die position(s) {bad[:5]} are outside 0..{n_die - 1} (the 'die' dim)"
            )
        return sorted(set(picked))

    # ------------------------------------------------------------------ API
    @property
    def dataset(self) -> xr.Dataset:
        """The Dataset this map shows (not a copy)."""
        return self._ds

    def selected_dies(self, all_wafers: bool = False) -> xr.Dataset:
        """The selected dies of the shown wafer, ``ds.sel(wafer=wafer).isel(die=selected)``
        (the ``wafer`` dimension becomes a scalar coordinate), or of every wafer with
        ``all_wafers=True``.

        Raises FabDataError when nothing is selected (the map says so too).

        >>> import fabnb
        >>> ds = fabnb.synth.fab("small", seed=0)
        >>> m = WaferMap(ds, wafer=2)
        >>> m.selected = [4, 9]
        >>> str(m.selected_dies()["wafer"].values) == m.wafer, m.selected_dies(all_wafers=True).sizes["wafer"]
        (True, 18)
        """
        check_params("selected_dies", {"all_wafers": ["boolean"]}, {"all_wafers": all_wafers})
        if not self.selected:
            raise FabDataError(
                "no dies are selected: click a die or drag a box or lasso on the wafer map first"
            )
        picked = self._ds.isel(die=list(self.selected))
        if all_wafers:
            return picked
        if self.wafer not in self.wafers:
            raise FabDataError(f"the map shows no wafer of the dataset ({self.wafer!r}); pick a wafer "
                               "or ask for selected_dies(all_wafers=True)")
        return picked.sel(wafer=self.wafer)

    def link_selection(self, other: WaferMap) -> traitlets.link:
        """Keep ``selected`` in sync with another map of the same die grid (both ways).

        Returns the ``traitlets.link``; call ``.unlink()`` on it to stop.
        """
        if other.geometry.get("n_die") != self.geometry.get("n_die"):
            raise FabDataError(
                f"cannot link selections: maps have {self.geometry.get('n_die')} and "
                f"{other.geometry.get('n_die')} dies"
            )
        return traitlets.link((self, "selected"), (other, "selected"))

    # ---------------------------------------------------------- static image
    def to_image(self, ax=None):
        """Draw the current view with matplotlib (``fabnb.plot.wafer_map`` for values,
        ``fabnb.plot.bin_map`` for bins, the live map's colour scale and its label);
        returns the Axes.  This is what exported HTML and GitHub show without a kernel.
        """
        if self.message:
            raise FabDataError(self.message)
        from fabnb import plot

        if self.var == "hbin":
            return plot.bin_map(self._ds, self.wafer, ax=ax)
        return plot.wafer_map(self._ds, self.test, self.wafer, ax=ax, scale=self.color_scale)

    def _png(self) -> str | None:
        """Base64 PNG of :meth:`to_image`, or None when there is nothing to draw."""
        if self.message:
            return None
        return static_png(lambda fig: self.to_image(ax=fig.add_subplot()), (4.5, 4.5), "WaferMap")

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        if self.message:
            data["text/plain"] = f"WaferMap: {self.message}"
        png = self._png()
        if png is not None:
            data["image/png"] = png
        return data, metadata
