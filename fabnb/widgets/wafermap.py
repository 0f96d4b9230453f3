"""``WaferMap``: an interactive wafer map (anywidget) of one wafer's die values or bins.

The kernel slices the contract Dataset and sends the browser only the current wafer,
as binary buffers (little-endian ``float32``/``int32`` bytes, never JSON lists):

- once per dataset: die centres ``x``/``y`` (in their ``units``: "mm", or "die pitch"
  when the tester file gave no die size) and ``col``/``row`` indices;
- on every wafer/test/variable switch: ``values`` (float32, NaN = not measured) and
  ``bins`` (int32 hard bin, -1 = untested) of that wafer.

The front end (``widgets/wafermap.js``) draws the dies on a canvas with the wafer
outline and notch, a colour legend, a hover tooltip, click, box and free-hand lasso
selection (dies whose centres fall inside the drawn shape) and the wafer/test pickers
(the test picker shows each test's number and clean name; a test may be given as anything
:func:`fabnb.summary.resolve_test` accepts: name, number, clean name or a unique part).
Bin colours come from :func:`fabnb.plot.bin_palette` (the ``bin_colors`` trait, one colour
per code of the whole dataset), so the widget, the matplotlib maps and the reports agree.
The only numerics here are the colour limits: robust limits
``[P1, P99]`` of the test's finite values, over all wafers (``scale="test"``, so
wafers are comparable) or over the shown wafer (``scale="wafer"``).

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
"""

from __future__ import annotations

import warnings

import anywidget
import numpy as np
import traitlets
import xarray as xr

from fabnb import summary
from fabnb._params import Integral, Interval, StrOptions, check_params
from fabnb.errors import FabDataError, FabParameterError
from fabnb.plot import bin_hex

from ._image import static_png
from ._static import static_file

VARIABLES = ("value", "hbin")
SCALES = ("test", "wafer")
SELECT_MODES = ("box", "lasso")
VIEW_TRAITS = ("wafer", "test", "var", "scale")
DIE_COORDS = ("x", "y", "col", "row")
#: percentiles of the finite values that set the colour limits (robust to outliers)
COLOR_PERCENTILES = (1.0, 99.0)


class FabWidgetWarning(UserWarning):
    """A widget got input it cannot show; the widget displays the same message."""


def _f32(a) -> bytes:
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def _i32(a) -> bytes:
    return np.ascontiguousarray(a, dtype="<i4").tobytes()


def decode_f32(buf: bytes) -> np.ndarray:
    """Decode a float32 buffer trait (e.g. ``WaferMap.values``) to a numpy array."""
    return np.frombuffer(bytes(buf), dtype="<f4")


def decode_i32(buf: bytes) -> np.ndarray:
    """Decode an int32 buffer trait (e.g. ``WaferMap.bins``) to a numpy array."""
    return np.frombuffer(bytes(buf), dtype="<i4")


def color_limits(values: np.ndarray) -> tuple[float, float]:
    """Robust colour limits ``(P1, P99)`` of the finite ``values``; ``(nan, nan)`` if none.

    A constant map gets a unit-wide window around its value so it still draws.

    >>> color_limits(np.array([0.0, 1.0, np.nan]))
    (0.01, 0.99)
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = (float(v) for v in np.percentile(finite, COLOR_PERCENTILES))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return round(lo, 12), round(hi, 12)


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
    scale : {"test", "wafer"}
        Colour limits from all wafers of the test (comparable maps) or the shown wafer.
    clim : (float, float), optional
        Fixed colour limits instead (e.g. shared by maps that must compare).
    size : int
        Canvas size in CSS pixels.

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
    test_labels : list of str
        What the test picker shows, parallel to ``tests``: ``"<number> <clean name>"``.
    bin_colors : dict
        ``{"<code>": "#rrggbb"}`` for every hard bin code of the dataset
        (:func:`fabnb.plot.bin_hex`); the front end colours bins with it.
    bin_names : dict
        ``{"<code>": name}`` of the bins the dataset names (:func:`fabnb.summary.bin_names`).
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
    x = traitlets.Bytes(b"").tag(sync=True)
    y = traitlets.Bytes(b"").tag(sync=True)
    col = traitlets.Bytes(b"").tag(sync=True)
    row = traitlets.Bytes(b"").tag(sync=True)
    values = traitlets.Bytes(b"").tag(sync=True)
    bins = traitlets.Bytes(b"").tag(sync=True)
    geometry = traitlets.Dict().tag(sync=True)
    unit = traitlets.Unicode("").tag(sync=True)
    lsl = traitlets.Float(None, allow_none=True).tag(sync=True)
    usl = traitlets.Float(None, allow_none=True).tag(sync=True)
    vmin = traitlets.Float(None, allow_none=True).tag(sync=True)
    vmax = traitlets.Float(None, allow_none=True).tag(sync=True)

    def __init__(self, ds, test=None, wafer=None, var="value", scale="test", size=420,
                 clim=None, **kwargs):
        check_params("WaferMap", self._parameter_constraints, {"var": var, "scale": scale, "size": size})
        if not isinstance(ds, xr.Dataset):
            raise FabDataError(f"WaferMap needs an xarray.Dataset, got {type(ds).__name__}")
        super().__init__(size=size, **kwargs)
        self.clim = _check_clim(clim)
        self._refreshing = True  # one refresh at the end, not one per trait
        self._load(ds)
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
            self._refresh()

    def _load(self, ds: xr.Dataset) -> None:
        """Take ``ds``: die geometry, the wafer/test/variable choices."""
        self._ds = ds
        self._test_limits = {}
        self._geometry_problems = self._load_geometry(ds)
        self.tests = [str(t) for t in ds["test"].values] if "test" in ds.coords else []
        self.test_labels = summary.test_labels(ds) if self.tests else []
        codes = np.unique(ds["hbin"].values) if "hbin" in ds else np.array([], dtype=int)
        # untested and pass always present: the front end may show them before any data
        self.bin_colors = {str(k): v for k, v in bin_hex(np.union1d(codes, [-1, 1])).items()}
        self.bin_names = {str(k): v for k, v in summary.bin_names(ds).items()} if "hbin" in ds else {}
        self.wafers = [str(w) for w in ds["wafer"].values] if "wafer" in ds.coords else []
        self.variables = [v for v in VARIABLES if v in ds.data_vars]

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
        reach = float(np.max(np.hypot(np.abs(x) + die_w / 2, np.abs(y) + die_h / 2))) if x.size else 1.0
        self.geometry = {
            "diameter": float(ds.attrs.get("wafer_diameter_mm") or 2 * reach),
            "die_w": die_w,
            "die_h": die_h,
            "notch": str(ds.attrs.get("notch", "down")),
            "units": str(ds["x"].attrs.get("units") or "mm"),
            "n_die": int(ds.sizes["die"]),
        }
        self.x, self.y = _f32(x), _f32(y)
        self.col, self.row = _i32(ds["col"].values), _i32(ds["row"].values)
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
            warnings.warn(self.message, FabWidgetWarning, stacklevel=3)

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
            self.values, self.bins = _f32(empty), _i32(np.full(n_die, -1))
            self.data_wafer = ""
            return problems
        bins = ds["hbin"].sel(wafer=self.wafer).values if "hbin" in ds else np.full(n_die, -1)
        self.bins = _i32(bins)
        values = empty
        unit, lsl, usl, lims = "", None, None, (float("nan"), float("nan"))
        if "value" in ds:
            if self._find_test(problems):
                values = ds["value"].sel(wafer=self.wafer, test=self.test).values.astype(float)
                unit = str(ds["unit"].sel(test=self.test).values) if "unit" in ds.coords else ""
                lsl, usl = (self._limit(name) for name in ("lsl", "usl"))
                lims = self._color_limits(values)
                if self.var == "value" and not np.isfinite(values).any():
                    problems.append(
                        f"Wafer {self.wafer} has no measured '{self.test}' values (all NaN): "
                        "nothing to colour. Pick another wafer or test."
                    )
        self.values = _f32(values)
        self.data_wafer = self.wafer
        self.unit, self.lsl, self.usl = unit, lsl, usl
        self.vmin, self.vmax = (v if np.isfinite(v) else None for v in lims)
        return problems

    def _color_limits(self, values: np.ndarray) -> tuple[float, float]:
        """Fixed ``clim``, or limits of the shown wafer, or of the whole test (computed
        once per test)."""
        if self.clim is not None:
            return self.clim
        if self.scale == "wafer":
            return color_limits(values)
        if self.test not in self._test_limits:
            pool = np.asarray(self._ds["value"].sel(test=self.test).values, dtype=float)
            self._test_limits[self.test] = color_limits(pool)
        return self._test_limits[self.test]

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

    def selected_dies(self) -> xr.Dataset:
        """The selected dies of the dataset, ``ds.isel(die=selected)``.

        Raises FabDataError when nothing is selected (the map says so too).
        """
        if not self.selected:
            raise FabDataError(
                "no dies are selected: click a die or drag a box or lasso on the wafer map first"
            )
        return self._ds.isel(die=list(self.selected))

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
        ``fabnb.plot.bin_map`` for bins, same colour limits as the live map); returns
        the Axes.  This is what exported HTML and GitHub show without a kernel.
        """
        if self.message:
            raise FabDataError(self.message)
        from fabnb import plot

        if self.var == "hbin":
            return plot.bin_map(self._ds, self.wafer, ax=ax)
        return plot.wafer_map(self._ds, self.test, self.wafer, ax=ax, vmin=self.vmin, vmax=self.vmax)

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
