"""``ds.fab``: the fluent front door on a contract Dataset.

Every method delegates to a public function (:mod:`fabnb.summary` for numbers,
:mod:`fabnb.plot` for figures), so ``ds.fab.yield_by_wafer()`` is exactly
``fabnb.summary.yield_by_wafer(ds)``.  ``import fabnb`` imports this module, so it stays
light: pandas, matplotlib and the analysis code load inside the methods.

Example
-------
>>> import fabnb
>>> ds = fabnb.synth.fab("small", seed=0)
>>> ds.fab.summary()["wafers"] == ds.sizes["wafer"]
True
>>> ds.fab.test("t02"), list(ds.fab.capability().columns[:3])
('T02', ['unit', 'lsl', 'usl'])
>>> lot = ds.fab.lot(str(ds.lot.values[0]))
>>> set(lot.lot.values.tolist()) == {str(ds.lot.values[0])}
True
"""

import xarray as xr


@xr.register_dataset_accessor("fab")
class FabAccessor:
    """Wafer maps, yield tables and the notebook summary of a contract Dataset."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    # ------------------------------------------------------------------ contract

    def validate(self) -> xr.Dataset:
        """Check the Dataset against the contract (:func:`fabnb.schema.validate`); returns it."""
        from .schema import validate

        return validate(self._ds)

    def lot(self, lot_id) -> xr.Dataset:
        """The wafers of one lot (or of a list of lots) as a subset Dataset.

        >>> import fabnb
        >>> ds = fabnb.synth.fab("small", seed=0)
        >>> ds.fab.lot("nope")
        Traceback (most recent call last):
        ...
        fabnb.errors.FabDataError: unknown lot(s) nope; available lots: ...
        """
        from collections.abc import Iterable

        import numpy as np

        from .errors import FabDataError
        from .summary import _listing

        one = isinstance(lot_id, str) or not isinstance(lot_id, Iterable)  # a lot id, or a list
        wanted = [str(lot_id)] if one else [str(v) for v in lot_id]
        lots = self._ds["lot"].values.astype(str)
        known = list(dict.fromkeys(lots))
        missing = [v for v in wanted if v not in known]
        if missing or not wanted:
            what = f"unknown lot(s) {_listing(missing)}" if missing else "no lots selected"
            raise FabDataError(f"{what}; available lots: {_listing(known)}")
        return self._ds.isel(wafer=np.flatnonzero(np.isin(lots, wanted)))

    # ------------------------------------------------------------------ numbers

    def yield_by_wafer(self, kind="hbin"):
        """:func:`fabnb.summary.yield_by_wafer` of this Dataset."""
        from .summary import yield_by_wafer

        return yield_by_wafer(self._ds, kind=kind)

    def yield_by_lot(self, kind="hbin"):
        """:func:`fabnb.summary.yield_by_lot` of this Dataset."""
        from .summary import yield_by_lot

        return yield_by_lot(self._ds, kind=kind)

    def zones(self, test=None, by_wafer=False, kind="hbin"):
        """Yield and (for ``test``) value statistics per radial zone
        (:func:`fabnb.summary.zone_stats`)."""
        from .summary import zone_stats

        return zone_stats(self._ds, test=test, by_wafer=by_wafer, kind=kind)

    def bin_counts(self, kind="hbin", include_pass=False, include_untested=False):
        """Bin Pareto table (:func:`fabnb.summary.bin_counts`)."""
        from .summary import bin_counts

        return bin_counts(self._ds, kind=kind, include_pass=include_pass,
                          include_untested=include_untested)

    def fail_rate(self, kind="hbin"):
        """Per-die fail rate across wafers (:func:`fabnb.summary.fail_rate_by_die`)."""
        from .summary import fail_rate_by_die

        return fail_rate_by_die(self._ds, kind=kind)

    def radial(self, test, wafer=None, **kw):
        """Radial profile and azimuthal residual (:func:`fabnb.summary.radial_signature`)."""
        from .summary import radial_signature

        return radial_signature(self._ds, test, wafer=wafer, **kw)

    def test_fails(self, by_wafer=False):
        """Test-fail Pareto: fails per test and by first failing test
        (:func:`fabnb.summary.test_fail_pareto`)."""
        from .summary import test_fail_pareto

        return test_fail_pareto(self._ds, by_wafer=by_wafer)

    def capability(self):
        """Cp, Cpk, Pp, Ppk, mean, sd and fails per test (:func:`fabnb.summary.capability`)."""
        from .summary import capability

        return capability(self._ds)

    def first_pass_yield(self, kind="hbin"):
        """First-pass and final yield per wafer, retest recovery
        (:func:`fabnb.summary.first_pass_yield`)."""
        from .summary import first_pass_yield

        return first_pass_yield(self._ds, kind=kind)

    def test(self, test):
        """The dataset's name of ``test`` given by name, number, clean name or a unique part
        (:func:`fabnb.summary.resolve_test`)."""
        from .summary import resolve_test

        return resolve_test(self._ds, test)

    def summary(self) -> dict:
        """Product, number of lots, wafers, tests and dies, overall yield
        (:func:`fabnb.summary.overview`)."""
        from .summary import overview

        return overview(self._ds)

    # ------------------------------------------------------------------ plots

    def wafer_map(self, test=None, wafer=None, **kw):
        """Parametric wafer map (:func:`fabnb.plot.wafer_map`); returns the Axes."""
        from .plot import wafer_map

        return wafer_map(self._ds, test=test, wafer=wafer, **kw)

    def bin_map(self, wafer=None, **kw):
        """Categorical bin map (:func:`fabnb.plot.bin_map`); returns the Axes."""
        from .plot import bin_map

        return bin_map(self._ds, wafer=wafer, **kw)

    def gallery(self, test=None, wafers=None, **kw):
        """Small multiples of every wafer (:func:`fabnb.plot.wafer_gallery`); returns the Figure."""
        from .plot import wafer_gallery

        return wafer_gallery(self._ds, test=test, wafers=wafers, **kw)

    def stacked_map(self, **kw):
        """Per-die fail rate map (:func:`fabnb.plot.stacked_map`); returns the Axes."""
        from .plot import stacked_map

        return stacked_map(self._ds, **kw)

    def bin_pareto(self, **kw):
        """Bin Pareto chart (:func:`fabnb.plot.bin_pareto`); returns the Axes."""
        from .plot import bin_pareto

        return bin_pareto(self._ds, **kw)

    def histogram(self, test, wafer=None, **kw):
        """Histogram of a test against its limits (:func:`fabnb.plot.limits_histogram`);
        returns the Axes."""
        from .plot import limits_histogram

        return limits_histogram(self._ds, test, wafer=wafer, **kw)

    def radial_profile(self, test, wafers=None, **kw):
        """Radial profile chart (:func:`fabnb.plot.radial_profile`); returns the Axes."""
        from .plot import radial_profile

        return radial_profile(self._ds, test, wafers=wafers, **kw)

    # ------------------------------------------------------------------ notebook

    def _thumbnail_png(self) -> bytes:
        """A small PNG: the stacked fail-rate map, or the first wafer's first test without bins."""
        import io

        from matplotlib.figure import Figure

        from .plot import stacked_map, wafer_map

        fig = Figure(figsize=(2.2, 2.2), dpi=72)  # not pyplot: nothing left open
        ax = fig.add_axes((0.02, 0.02, 0.96, 0.86))
        if "hbin" in self._ds:
            stacked_map(self._ds, ax=ax, colorbar=False, title="fail rate")
        else:
            wafer_map(self._ds, ax=ax, colorbar=False)
        ax.set_axis_off()
        ax.title.set_fontsize(8)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def _repr_html_(self) -> str:
        """Compact HTML: counts, yield by lot and a thumbnail map (for ``%load_ext fabnb``)."""
        import base64
        import html
        import math

        from .errors import FabDataError
        from .summary import overview, yield_by_lot

        info = overview(self._ds)
        overall = "n/a" if info["yield"] is None else f"{100 * info['yield']:.1f} %"
        head = (
            f"<b>fabnb dataset</b> {html.escape(info['product'])}: {info['lots']} lots, "
            f"{info['wafers']} wafers, {info['tests']} tests, {info['dies']} dies, "
            f"yield {overall}"
        )
        if "hbin" in self._ds:
            table = yield_by_lot(self._ds).reset_index()
            table["yield"] = ["n/a" if math.isnan(v) else f"{100 * v:.1f} %" for v in table["yield"]]
            lots_html = table.to_html(index=False, border=0, classes="fabnb-lots")
        else:
            lots_html = "<p>lots: " + html.escape(", ".join(dict.fromkeys(
                self._ds["lot"].values.astype(str)))) + " (no bins, no yield)</p>"
        try:
            png = base64.b64encode(self._thumbnail_png()).decode("ascii")
            img = f'<img src="data:image/png;base64,{png}" alt="fabnb map" style="width:160px"/>'
        except FabDataError as err:  # a partial dataset still gets its tables
            img = f"<p>(no map: {html.escape(str(err))})</p>"
        return (
            f'<div class="fabnb-summary"><p>{head}</p>'
            f'<div style="display:flex;gap:1em;align-items:flex-start">'
            f"<div>{lots_html}</div><div>{img}</div></div></div>"
        )
