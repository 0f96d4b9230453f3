"""fabnb.plot: the maps draw one rectangle per die with the right colours, labels and
legends; numbers shown equal fabnb.summary's; images are not blank."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from conftest import make_dataset
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

import fabnb
from fabnb import FabDataError, plot, summary
from fabnb.plot import _draw


@pytest.fixture(scope="module")
def small():
    return fabnb.synth.fab("small", seed=0)


@pytest.fixture
def holey():
    """make_dataset with NaN dies on the first wafer, untested dies and named bins."""
    ds = make_dataset(n_wafers=3, n_tests=2, die_mm=16.0)
    value = ds["value"].values.copy()
    value[0, :7, 0] = np.nan
    ds["value"] = (("wafer", "die", "test"), value)
    ds = ds.assign_coords(unit=("test", ["mV", "A"]))
    bins = ds["hbin"].values.copy()
    bins[0, :5] = -1
    bins[0, 10:14] = 6
    ds["hbin"] = (("wafer", "die"), bins)
    return ds.assign_attrs(hbin_names={1: "PASS", 2: "PARAM", 6: "LEAK"})


def axes():
    return Figure(figsize=(5, 4)).add_subplot()


def dies_of(ax):
    found = [c for c in ax.collections if c.get_gid() == _draw.DIES_GID]
    assert len(found) == 1
    return found[0]


def ink(fig):
    """Share of pixels that differ from the figure background after an Agg draw."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return np.mean(np.any(rgba[..., :3] != rgba[0, 0, :3], axis=-1))


def test_wafer_map_one_rectangle_per_die(small):
    ax = plot.wafer_map(small, "T05", wafer=str(small.wafer.values[2]), ax=axes())
    dies = dies_of(ax)
    assert len(dies.get_paths()) == small.sizes["die"]
    corners = dies.get_paths()[0].vertices
    assert np.ptp(corners[:, 0]) == pytest.approx(small.attrs["die_width_mm"])
    assert np.ptp(corners[:, 1]) == pytest.approx(small.attrs["die_height_mm"])
    assert corners[:, 0].mean() == pytest.approx(float(small.x[0]), abs=small.attrs["die_width_mm"])
    expected = small["value"].sel(test="T05", wafer=small.wafer.values[2]).values
    np.testing.assert_array_equal(dies.get_array(), expected)
    colorbar_label = ax.figure.axes[-1].get_ylabel()
    assert "T05" in colorbar_label and str(small.unit.sel(test="T05").values) in colorbar_label
    assert ax.get_aspect() == 1.0
    assert 0.1 < ink(ax.figure) < 0.9


def test_wafer_map_defaults_to_first_wafer_and_test(small):
    ax = plot.wafer_map(small, ax=axes())
    first = small["value"].isel(test=0, wafer=0).values
    np.testing.assert_array_equal(dies_of(ax).get_array(), first)
    assert small.wafer.values[0] in ax.get_title()


def test_wafer_map_hatches_nan_dies(holey):
    ax = plot.wafer_map(holey, "T01", wafer="L0001-01", ax=axes())
    dies = dies_of(ax)
    assert len(dies.get_paths()) == holey.sizes["die"]
    missing = np.ma.getmaskarray(np.ma.masked_invalid(dies.get_array()))
    np.testing.assert_array_equal(missing, np.arange(holey.sizes["die"]) < 7)
    hatched = [c for c in ax.collections if c.get_hatch()]
    assert len(hatched) == 1 and len(hatched[0].get_paths()) == 7
    assert "[mV]" in ax.figure.axes[-1].get_ylabel()
    assert ink(ax.figure) > 0.1
    grey = np.all(np.isclose(dies.get_facecolor(), to_rgba(_draw.MISSING_COLOR)), axis=1)
    np.testing.assert_array_equal(grey, missing)


def test_wafer_map_spec_limits_and_zones(holey):
    ax = plot.wafer_map(holey, "T01", wafer="L0001-02", spec_limits=True, zones=True, ax=axes())
    value = holey["value"].sel(test="T01", wafer="L0001-02").values
    below, above = int((value < -2).sum()), int((value > 2).sum())
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == [f"below LSL ({below})", f"above USL ({above})"]
    painted = {to_rgba(_draw.BELOW_COLOR): below, to_rgba(_draw.ABOVE_COLOR): above}
    for coll in ax.collections:
        face = coll.get_facecolor()
        if len(face) and tuple(face[0]) in painted and coll.get_gid() != _draw.DIES_GID:
            assert len(coll.get_paths()) == painted[tuple(face[0])]
    zone_lines = [c for c in ax.collections if c.__class__.__name__ == "LineCollection"]
    assert len(zone_lines) == 1 and len(zone_lines[0].get_segments()) > 0


def test_zone_boundaries_separate_different_zones(small):
    """Every boundary segment is the shared edge of two adjacent dies in different zones."""
    ax = axes()
    lines = _draw.zone_boundaries(ax, small)
    x, y, zone = small.x.values, small.y.values, small.zone.values
    w, h = small.attrs["die_width_mm"], small.attrs["die_height_mm"]
    for (x0, y0), (x1, y1) in lines.get_segments():
        mid = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        normal = np.array([w / 2, 0.0]) if x0 == x1 else np.array([0.0, h / 2])
        sides = [np.flatnonzero(np.hypot(x - p[0], y - p[1]) < 1e-6)
                 for p in (mid - normal, mid + normal)]
        assert all(len(s) == 1 for s in sides)
        assert zone[sides[0][0]] != zone[sides[1][0]]


def test_bin_map_legend_lists_bins_present(holey):
    ax = plot.bin_map(holey, wafer="L0001-01", ax=axes())
    codes, counts = np.unique(holey["hbin"].sel(wafer="L0001-01").values, return_counts=True)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == len(codes)
    expected = {f"1 PASS ({counts[codes == 1][0]})", f"6 LEAK ({counts[codes == 6][0]})",
                f"untested ({counts[codes == -1][0]})"}
    assert expected <= set(texts)
    dies = dies_of(ax)
    assert len(dies.get_paths()) == holey.sizes["die"]
    face = dies.get_facecolor()
    passed = holey["hbin"].sel(wafer="L0001-01").values == 1
    assert np.allclose(face[passed], to_rgba(_draw.PASS_COLOR))
    assert not np.allclose(face[~passed][:, :3], to_rgba(_draw.PASS_COLOR)[:3])
    assert ink(ax.figure) > 0.1


def test_bin_colours_agree_across_wafers(small):
    one, two = (plot.bin_map(small, wafer=str(w), ax=axes()) for w in small.wafer.values[:2])
    palette = {}
    for ax, wafer in ((one, small.wafer.values[0]), (two, small.wafer.values[1])):
        for code, face in zip(small.hbin.sel(wafer=wafer).values, dies_of(ax).get_facecolor()):
            assert palette.setdefault(int(code), tuple(face)) == tuple(face)
    assert len(set(palette.values())) == len(palette)


@pytest.mark.parametrize("raster", [False, True])
def test_gallery_panels_share_one_scale(small, raster):
    wafers = list(small.wafer.values[:8])
    fig = plot.wafer_gallery(small, "T03", wafers=wafers, ncols=3, raster=raster)
    assert len(fig.axes) == len(wafers) + 1
    assert [ax.get_title() for ax in fig.axes[:-1]] == wafers
    assert "T03" in fig.axes[-1].get_ylabel()
    lo, hi = np.percentile(small["value"].sel(test="T03", wafer=wafers).values, [1, 99])
    assert fig.axes[-1].get_ylim() == pytest.approx((lo, hi))
    for ax in fig.axes[:-1]:
        drawn = ax.images if raster else [dies_of(ax)]
        assert len(drawn) == 1 and isinstance(drawn[0], AxesImage) == raster
    assert ink(fig) > 0.05


def test_gallery_raster_and_collections_show_the_same_colours(small):
    """The image panel puts each die's colour in the die's lattice cell."""
    wafer = [str(small.wafer.values[0])]
    image = plot.wafer_gallery(small, "T01", wafers=wafer, raster=True).axes[0].images[0]
    faces = dies_of(plot.wafer_gallery(small, "T01", wafers=wafer, raster=False).axes[0])
    cells = np.asarray(image.get_array())[small.row.values, small.col.values]
    np.testing.assert_allclose(cells, faces.get_facecolor())


def test_gallery_of_bins(holey):
    fig = plot.wafer_gallery(holey, bins=True)
    assert len(fig.axes) == holey.sizes["wafer"]
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(texts) == np.unique(holey.hbin.values).size
    assert ink(fig) > 0.05


def test_stacked_map_shows_fail_rate(holey):
    ax = plot.stacked_map(holey, ax=axes())
    np.testing.assert_array_equal(dies_of(ax).get_array(), summary.fail_rate_by_die(holey).values)
    assert ax.figure.axes[-1].get_ylabel() == "fail rate"


def test_bin_pareto_bars_match_counts(holey):
    ax = plot.bin_pareto(holey, ax=axes(), top=1)
    table = summary.bin_counts(holey)
    assert [p.get_height() for p in ax.patches] == list(table["count"][:1])
    line = ax.cum_ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), 100 * table["cumulative_share"][:1])
    ax = plot.bin_pareto(holey, ax=axes())
    assert len(ax.patches) == len(table)
    assert ax.get_xticklabels()[0].get_text().startswith(str(table["bin"][0]))


def test_radial_profile_lines(small):
    wafers = list(small.wafer.values[:3])
    ax = plot.radial_profile(small, "T05", wafers=wafers, ax=axes())
    sig = summary.radial_signature(small, "T05", wafer=wafers)
    lines = [ln for ln in ax.get_lines() if ln.get_label() in wafers]
    assert len(lines) == 3
    for line, wafer in zip(lines, wafers):
        profile = sig["profile"].sel(wafer=wafer).values
        np.testing.assert_allclose(line.get_ydata(), profile[np.isfinite(profile)])
    assert "[mA]" in ax.get_ylabel()


def test_new_figures_come_from_pyplot_and_can_be_closed(holey):
    import matplotlib.pyplot as plt

    ax = plot.wafer_map(holey)
    assert plt.fignum_exists(ax.figure.number)
    plt.close(ax.figure)


def test_bad_input(holey):
    with pytest.raises(FabDataError, match=r"unknown test 'T99'.*T01, T02"):
        plot.wafer_map(holey, "T99", ax=axes())
    with pytest.raises(FabDataError, match="unknown wafer"):
        plot.bin_map(holey, wafer="X", ax=axes())
    with pytest.raises(FabDataError, match="no 'hbin'"):
        plot.stacked_map(holey.drop_vars("hbin"), ax=axes())
    with pytest.raises(FabDataError, match="ncols"):
        plot.wafer_gallery(holey, ncols=0)
