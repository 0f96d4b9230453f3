"""fabnb.plot.yield_trend (issue 21: the lot report's yield trend as a plot function),
checked on the real STDF wafers against fabnb.summary and an independent count of bins."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

import fabnb  # noqa: E402
from fabnb import FabParameterError, summary  # noqa: E402
from fabnb.plot import yield_trend  # noqa: E402
from fabnb.plot.trend import BOUNDARY_GID, FIRST_PASS_GID, LOT_GID, WAFER_GID  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def lines(ax, gid):
    return [line for line in ax.lines if line.get_gid() == gid]


def counted_yield(bins):
    """Yield per wafer counted straight from a (wafer, die) bin array: bin 1 over bin != -1."""
    bins = np.asarray(bins)
    return (bins == 1).sum(axis=1) / (bins != -1).sum(axis=1)


def bins_only(ds):
    """``ds`` without its (wafer, die, test) arrays: cheap to copy into many wafers."""
    return ds[[v for v in ("hbin", "sbin", "hbin_first", "sbin_first", "touchdowns") if v in ds]]


def lot_of_copies(one, lots, wafers_per_lot, wafer_id="{lot}-{k:02d}", slots=True):
    """Wafer ``one`` copied into ``lots`` x ``wafers_per_lot`` wafers in processing order;
    wafer k of each lot gets slot k (or slot 1 throughout when ``slots`` is False)."""
    parts, seq = [], 0
    for lot in lots:
        for k in range(1, wafers_per_lot + 1):
            parts.append(one.assign_coords(wafer=[wafer_id.format(lot=lot, k=k)], lot=("wafer", [lot]),
                                           slot=("wafer", [k if slots else 1]), seq=("wafer", [seq])))
            seq += 1
    return xr.concat(parts, "wafer")


def test_real_wafer_final_and_first_pass_yield_are_the_counted_ones(lot2):
    """lot2.stdf (GAL-LOT-02): 113 die sites retested, so first pass and final differ; the
    dots are the final yield and the rings the first-pass yield, each equal to the bins
    counted directly and to fabnb.summary.first_pass_yield; the lot line is yield_by_lot."""
    ax = yield_trend(lot2)
    [final], [first], [lot_line] = (lines(ax, gid) for gid in (WAFER_GID, FIRST_PASS_GID, LOT_GID))
    table = summary.first_pass_yield(lot2)
    np.testing.assert_allclose(final.get_ydata(), counted_yield(lot2["hbin"].values), rtol=1e-12)
    np.testing.assert_allclose(first.get_ydata(), counted_yield(lot2["hbin_first"].values), rtol=1e-12)
    np.testing.assert_allclose(final.get_ydata(), table["yield"], rtol=1e-12)
    np.testing.assert_allclose(first.get_ydata(), table["first_pass_yield"], rtol=1e-12)
    assert first.get_ydata()[0] < final.get_ydata()[0]  # the retests recovered dies
    np.testing.assert_allclose(lot_line.get_ydata(), summary.yield_by_lot(lot2).loc["GAL-LOT", "yield"],
                               rtol=1e-12)
    shown = ax.yaxis.get_major_formatter()(0.925, 0)  # percentages on the axis
    assert shown.endswith("%") and float(shown[:-1]) == pytest.approx(92.5)
    assert not lines(ax, BOUNDARY_GID)  # one lot: no boundary
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2"]  # its slot (WIR/MIR)


def test_real_folder_two_lots_in_processing_order(shared_data):
    """The folder of both real files: two lots of one wafer each, in processing order
    (seq), a boundary between them, each lot's id under its wafer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the files' known notes: tested with the reader
        ds = fabnb.io.read(shared_data / "stdf", progress=False)
    ax = yield_trend(ds)
    order = [str(w) for w in ds["wafer"].values[np.argsort(ds["seq"].values, kind="stable")]]
    final = lines(ax, WAFER_GID)
    np.testing.assert_allclose([line.get_ydata()[0] for line in final],
                               counted_yield(ds["hbin"].sel(wafer=order).values), rtol=1e-12)
    np.testing.assert_allclose([line.get_xdata()[0] for line in final], [0, 1])
    assert [line.get_label() for line in final] == [str(ds["lot"].sel(wafer=w).values) for w in order]
    [boundary] = lines(ax, BOUNDARY_GID)
    assert boundary.get_xdata()[0] == pytest.approx(0.5)
    [lot_axis] = ax.child_axes
    assert [t.get_text() for t in lot_axis.get_xticklabels()] == [line.get_label() for line in final]


def overlaps(labels, renderer) -> list:
    """Pairs of neighbouring, non-empty tick labels whose drawn boxes overlap."""
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels if t.get_text()]
    boxes.sort(key=lambda b: b[1].x0)
    return [(a, b) for (a, p), (b, q) in zip(boxes, boxes[1:]) if p.x1 > q.x0]


@pytest.mark.parametrize("lots, per_lot, wafer_id, slots", [
    (["LOT25"], 25, "{lot}-{k:02d}", True),  # one lot of 25: slots 1..25
    ([f"GAL-LOT-{k}" for k in range(12)], 10, "{lot}-{k:02d}", True),  # 120 wafers, 12 lots
    ([f"W1188{k:02d}" for k in range(3)], 12, "{lot}-wafer-{k:02d}", False),  # slots repeat: ids
])
def test_wafer_and_lot_labels_stay_readable(lot2, lots, per_lot, wafer_id, slots):
    """Issue 21: wafer labels readable at 25+ wafers: every label is drawn and no two
    neighbouring wafer or lot labels overlap, however many wafers."""
    ds = lot_of_copies(bins_only(lot2), lots, per_lot, wafer_id, slots)
    ax = yield_trend(ds)
    figure = ax.figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    wafer_labels = [t.get_text() for t in ax.get_xticklabels()]
    n = ds.sizes["wafer"]
    if n <= 60:  # every wafer labelled: by slot, or by id when slots repeat inside a lot
        assert wafer_labels == ([str(k) for _ in lots for k in range(1, per_lot + 1)] if slots
                                else [str(w) for w in ds["wafer"].values])
    else:
        assert 0 < len(wafer_labels) <= 60
    assert not overlaps(ax.get_xticklabels(), renderer)
    [lot_axis] = ax.child_axes
    assert [t.get_text() for t in lot_axis.get_xticklabels()] == lots
    assert not overlaps(lot_axis.get_xticklabels(), renderer)
    assert len(lines(ax, BOUNDARY_GID)) == len(lots) - 1
    # the lot ids sit below the wafer labels, not on top of them
    lowest_wafer_label = min(t.get_window_extent(renderer).y0 for t in ax.get_xticklabels())
    assert max(t.get_window_extent(renderer).y1 for t in lot_axis.get_xticklabels()) <= lowest_wafer_label


def test_a_wafer_without_tested_dies_is_marked_not_dropped(lot2):
    """No silent gap: a wafer whose dies are all untested has no yield and is marked ×."""
    ds = lot_of_copies(bins_only(lot2), ["LOT3"], 3)
    ds["hbin"][1] = -1
    ds["hbin_first"][1] = -1
    ax = yield_trend(ds)
    [final] = lines(ax, WAFER_GID)
    assert np.isnan(final.get_ydata()[1]) and np.isfinite(final.get_ydata()[[0, 2]]).all()
    marks = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [1]
    assert "no tested die" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_synthetic_fab_without_first_touchdown_bins_draws_no_rings():
    ds = fabnb.synth.fab("small", seed=0)
    ax = yield_trend(ds)
    assert not lines(ax, FIRST_PASS_GID)
    per_wafer = summary.yield_by_wafer(ds)
    final = lines(ax, WAFER_GID)
    assert len(final) == 3 and sum(len(line.get_xdata()) for line in final) == ds.sizes["wafer"]
    for line in final:  # each lot's dots are its wafers' yields, in processing order
        lot = per_wafer[per_wafer["lot"] == line.get_label()]
        order = np.argsort(ds["seq"].sel(wafer=list(lot.index)).values, kind="stable")
        np.testing.assert_allclose(line.get_ydata(), lot["yield"].to_numpy()[order], rtol=1e-12)


@pytest.mark.parametrize("options, name", [
    ({"kind": "bin"}, "kind"), ({"first_pass": "yes"}, "first_pass"), ({"lot_yield": 1}, "lot_yield"),
])
def test_bad_options_are_parameter_errors(lot2, options, name):
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of yield_trend"):
        yield_trend(lot2, **options)
