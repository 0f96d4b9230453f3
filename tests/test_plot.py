"""fabnb.plot: the maps draw one rectangle per die with the right colours, labels and
legends; numbers shown equal fabnb.summary's; images are not blank."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import xarray as xr
import pytest
from conftest import make_dataset, name_of_test_number
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

import fabnb
from fabnb import FabDataError, plot, summary
from fabnb.errors import FabParameterError
from fabnb.plot import _draw
from fabnb.plot.color_scale import OVER_COLOR, UNDER_COLOR, color_scale, dataset_scale
from matplotlib.cbook import boxplot_stats


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


def _finite(values):
    v = np.asarray(values, dtype=float).ravel()
    return v[np.isfinite(v)]


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


def test_wafer_map_spec_scale_and_zones(holey):
    """scale="spec": LSL–USL is the colour range, the dies out of spec are the dies in the
    under/over colours, counted in the legend; the colour bar names the scale and has
    both extension triangles."""
    ax = plot.wafer_map(holey, "T01", wafer="L0001-02", scale="spec", zones=True, ax=axes())
    value = holey["value"].sel(test="T01", wafer="L0001-02").values
    below, above = value < -2, value > 2
    assert below.any() and above.any()  # both sides are exercised
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == [f"below LSL -2 ({below.sum()})", f"above USL 2 ({above.sum()})"]
    dies = dies_of(ax)
    dies.update_scalarmappable()
    faces = dies.get_facecolor()
    for mask, color in ((below, UNDER_COLOR), (above, OVER_COLOR)):
        painted = np.all(np.isclose(faces, to_rgba(color), rtol=0, atol=1e-9), axis=1)
        np.testing.assert_array_equal(painted, mask)
    cbar = ax.figure.axes[-1]
    assert cbar.get_ylabel() == "T01 [mV]\nspec limits LSL -2 – USL 2 mV"
    assert ax.collections[0].colorbar.extend == "both"
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
    expected = {f"1 PASS · pass ({counts[codes == 1][0]})", f"6 LEAK · fail ({counts[codes == 6][0]})",
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
    # the robust scale over all shown wafers: the box plot's whisker ends with whis=3
    stats = boxplot_stats(_finite(small["value"].sel(test="T03", wafer=wafers).values), whis=3.0)[0]
    np.testing.assert_allclose(fig.axes[-1].get_ylim(), (stats["whislo"], stats["whishi"]), rtol=1e-12)
    note = [t.get_text() for t in fig.texts if t.get_gid() == "fabnb-scale-label"]
    assert note[0].startswith("colour scale: robust (Tukey fences, 3 IQR) over 8 wafers")
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
    np.testing.assert_allclose(dies_of(ax).get_array(), summary.fail_rate_by_die(holey).values,
                               rtol=1e-12)
    assert ax.figure.axes[-1].get_ylabel().split("\n")[0] == "fail rate"


def test_bin_pareto_bars_match_counts(holey):
    table = summary.bin_counts(holey)
    assert len(table) == 2  # a top that leaves one bin over draws it, not an "other" of one
    for top in (1, None):
        ax = plot.bin_pareto(holey, ax=axes(), top=top)
        assert [p.get_height() for p in ax.patches] == list(table["count"])
        line = ax.cum_ax.get_lines()[0]
        np.testing.assert_allclose(line.get_ydata(), 100 * table["cumulative_share"], rtol=1e-12)
        assert ax.get_xticklabels()[0].get_text().startswith(str(table["bin"][0]))


def many_bins(n_bins=13, seed=4):
    """A dataset failing in ``n_bins`` bins of distinct counts (more than a Pareto's top 10)."""
    ds = make_dataset(n_wafers=4, n_tests=1, die_mm=8.0)
    rng = np.random.default_rng(seed)
    shape = (ds.sizes["wafer"], ds.sizes["die"])
    codes = np.arange(2, 2 + n_bins)
    weights = np.r_[30.0, 1.0 / np.arange(1, n_bins + 1)]  # mostly pass, fails Pareto-like
    ds["hbin"] = (("wafer", "die"), rng.choice(np.r_[1, codes], size=shape, p=weights / weights.sum()))
    return ds


def test_bin_pareto_other_bar_holds_the_remaining_bins():
    ds = many_bins()
    failing = int(((ds["hbin"] != 1) & (ds["hbin"] != -1)).sum())
    table = summary.bin_counts(ds)
    assert len(table) == 13
    ax = plot.bin_pareto(ds, ax=axes())  # top=10: ten bins and "other"
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 11 and sum(heights) == failing
    assert heights[:10] == list(table["count"][:10])
    assert heights[10] == table["count"][10:].sum()
    assert ax.get_xticklabels()[-1].get_text() == "other\n3 bins"
    assert ax.patches[-1].get_facecolor() == to_rgba(_draw.OTHER_COLOR)
    cumulative = ax.cum_ax.get_lines()[0].get_ydata()
    assert cumulative[-1] == pytest.approx(100.0, rel=1e-12)  # was 99.x without "other"
    np.testing.assert_allclose(cumulative[:10], 100 * table["cumulative_share"][:10], rtol=1e-12)
    with_pass = plot.bin_pareto(ds, ax=axes(), top=3, include_pass=True)
    assert sum(p.get_height() for p in with_pass.patches) == int((ds["hbin"] != -1).sum())


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


@pytest.mark.parametrize("call, name", [
    (lambda ds: plot.wafer_gallery(ds, ncols=0), "ncols"),
    (lambda ds: plot.wafer_gallery(ds, panel_size=-1.0), "panel_size"),
    (lambda ds: plot.wafer_gallery(ds, vmin=np.nan), "vmin"),
    (lambda ds: plot.wafer_map(ds, vmax="high", ax=axes()), "vmax"),
    (lambda ds: plot.wafer_map(ds, scale="p99", ax=axes()), "scale"),
    (lambda ds: plot.wafer_gallery(ds, scale="test"), "scale"),
    (lambda ds: plot.stacked_map(ds, scale="spec", ax=axes()), "scale"),
    (lambda ds: plot.bin_pareto(ds, top=0, ax=axes()), "top"),
    (lambda ds: plot.bin_pareto(ds, top=-3, ax=axes()), "top"),
    (lambda ds: plot.bin_pareto(ds, kind="xbin", ax=axes()), "kind"),
    (lambda ds: plot.bin_map(ds, kind="xbin", ax=axes()), "kind"),
    (lambda ds: plot.radial_profile(ds, "T01", n_rings=0, ax=axes()), "n_rings"),
    (lambda ds: plot.radial_profile(ds, "T01", legend_max=-1, ax=axes()), "legend_max"),
])
def test_bad_parameters_raise_the_parameter_error_naming_them(holey, call, name):
    with pytest.raises(FabParameterError, match=f"'{name}' parameter"):
        call(holey)


def test_crossed_colour_limits_are_refused(holey):
    # matplotlib raised its own ValueError only when drawing; now the call says why
    with pytest.raises(FabParameterError, match="vmin=2.0 must be below vmax=1.0"):
        plot.wafer_map(holey, vmin=2.0, vmax=1.0, ax=axes())
    with pytest.raises(FabParameterError, match="wafer_gallery"):
        plot.wafer_gallery(holey, vmin=1.0, vmax=1.0)


def test_plot_options_of_the_analysis_figures_are_checked():
    import pandas as pd

    import fabnb.doe as doe
    from fabnb.plot import causal as cplot, density as dens, doe as dplot, spc as splot

    d = doe.full_factorial(["A", "B", "C"])
    d["y"] = 3 * d["A"] - 2 * d["B"] + d["A"] * d["C"]
    result = doe.analyze(d, "y", model="main")
    ax = dplot.contour_plot(result, "A", "B", hold={"C": 0.5}, ax=axes())
    assert ax.get_xlabel() == "A (coded)"
    for kwargs, name in [(dict(x="Q", y="B"), "'x' parameter"), (dict(x="A", y="A"), "'y' parameter"),
                         (dict(x="A", y="B", hold={"c": 1.0}), "unknown factor.*'c'"),
                         (dict(x="A", y="B", extent=(1.0, -1.0)), "'extent' parameter")]:
        with pytest.raises(FabParameterError, match=name):
            dplot.contour_plot(result, ax=axes(), **kwargs)
    ranking = pd.DataFrame({"step": ["S1"], "tool": ["S1-C1"], "effect": [-0.05], "ci_low": [-0.07],
                            "ci_high": [-0.03], "naive": [-0.06], "q_value": [0.01]})
    with pytest.raises(FabParameterError, match="'top' parameter of forest"):
        cplot.forest(ranking, top=0, ax=axes())
    contributions = pd.DataFrame({"t2": [1.0, 2.0], "q": [0.5, 0.1]}, index=["s1", "s2"])
    scored = pd.DataFrame({"statistic": [0.1, 2.0], "ucl": [1.0, 1.0], "lcl": [-1.0, -1.0],
                           "alarm": [False, True]})
    with pytest.raises(FabParameterError, match="'stat' parameter of control_chart"):
        splot.control_chart(scored, stat="ewma", ax=axes())
    with pytest.raises(FabParameterError, match="'which' parameter of contribution_chart"):
        splot.contribution_chart(contributions, which="spe", ax=axes())
    with pytest.raises(FabParameterError, match="'n_grid' parameter of pdf_cdf_plot"):
        dens.pdf_cdf_plot(np.arange(10.0), {}, n_grid=1, axes=(axes(), axes()))
    study = pd.DataFrame({"test": ["T1"], "method": ["kde"], "abs_yield_error": [0.01], "ks": [0.1]})
    with pytest.raises(FabParameterError, match="'value' parameter of study_error_plot"):
        dens.study_error_plot(study, value="yield_error", ax=axes())


# --------------------------------------------------------------------------- real tester data


# --------------------------------------------------------------------------- bin palette


def _alike(a, b):
    return np.linalg.norm(np.subtract(to_rgba(a)[:3], to_rgba(b)[:3])) < 0.1


@pytest.mark.parametrize("codes", [
    [-1, 1, 2, 7, 8, 16, 17, 20],  # the widget's old code-mod-9 collisions: 2/20, 8/17, 7/16
    list(range(-1, 41)),
    [1, 2, 20, 164, 1001, 1002, 2045, 32767],
])
def test_bin_palette_gives_every_bin_of_a_map_its_own_colour(codes):
    palette = plot.bin_palette(codes)
    assert sorted(palette) == sorted(set(codes))
    colours = list(palette.values())
    assert not [(a, b) for i, a in enumerate(colours) for b in colours[i + 1:] if _alike(a, b)]
    assert len(set(plot.bin_hex(codes).values())) == len(codes)
    assert palette[1] == to_rgba(_draw.PASS_COLOR)
    assert plot.bin_palette([-1])[-1] == to_rgba(_draw.UNTESTED_COLOR)


def test_bin_palette_is_keyed_on_the_code():
    one, two = plot.bin_palette([1, 2, 10, 15]), plot.bin_palette([-1, 1, 3, 4, 10, 20, 99])
    assert one[10] == two[10] and one[1] == two[1]
    assert plot.bin_palette([10])[10] == one[10]  # alone, too
    for code in (0, 18, 164, 1001, 32767):  # codes beyond the table: their colour stays theirs too
        assert plot.bin_palette([code])[code] == plot.bin_palette([-1, 1, 2, 3, code])[code]
    assert plot.bin_palette([0, 2])[2] == plot.bin_palette([2])[2]  # a table colour never moves


def test_bin_maps_of_two_bin_sets_colour_a_code_alike(lot2, holey):
    """A real wafer and a synthetic one share bin 2 (and pass): same colours on both maps."""
    colours = {}
    for ds in (lot2, holey.assign(hbin=xr.where(holey["hbin"] == 6, 44, holey["hbin"]))):
        wafer = str(ds.wafer.values[0])
        ax = plot.bin_map(ds, wafer=wafer, ax=axes())
        faces = dies_of(ax).get_facecolor()
        codes = ds["hbin"].sel(wafer=wafer).values
        palette = plot.bin_palette(np.unique(codes))
        np.testing.assert_allclose(faces, [palette[c] for c in codes])
        for code in np.unique(codes):
            colours.setdefault(int(code), set()).add(tuple(faces[codes == code][0]))
    assert all(len(seen) == 1 for seen in colours.values())
    assert {1, 2}.issubset(colours)


def test_bin_legend_says_pass_or_fail(lot2):
    ax = plot.bin_map(lot2, ax=axes())
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    codes, counts = np.unique(lot2["hbin"].values, return_counts=True)
    assert f"1 · pass ({counts[codes == 1][0]})" in texts
    assert f"8 · fail ({counts[codes == 8][0]})" in texts


# --------------------------------------------------------------------------- histogram


def test_limits_histogram_of_a_real_test_by_number(lot2):
    name = name_of_test_number(lot2, 1460)
    ax = plot.limits_histogram(lot2, 1460, ax=axes())
    v = lot2["value"].sel(test=name).values.ravel()
    lsl, usl = float(lot2.lsl.sel(test=name)), float(lot2.usl.sel(test=name))
    measured = v[np.isfinite(v)]
    assert sum(p.get_height() for p in ax.patches) == measured.size
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == [f"LSL {lsl:g} ({(measured < lsl).sum()} of {measured.size} dies below)",
                     f"USL {usl:g} ({(measured > usl).sum()} of {measured.size} dies above)"]
    assert [ln.get_xdata()[0] for ln in ax.get_lines()] == pytest.approx([lsl, usl])
    assert ax.get_xlabel() == "Rds on <> RDS_ON [ohm]"
    assert f"{v.size - measured.size} dies not measured" in ax.get_title()


def test_limits_histogram_keeps_the_limits_readable_beside_far_outliers(lot2):
    # "Lkg Mos <> LK_PWR": limits -60..2, readings near -28, six far below down to -800
    name = lot2["test"].values[[("LK_PWR" in str(t)) for t in lot2["test"].values]][0]
    ax = plot.limits_histogram(lot2, "LK_PWR", ax=axes())
    v = lot2["value"].sel(test=name).values.ravel()
    v = v[np.isfinite(v)]
    lsl, usl = float(lot2.lsl.sel(test=name)), float(lot2.usl.sel(test=name))
    left, right = ax.get_xlim()
    assert left < lsl and right > usl and right - left < 2 * (usl - lsl)  # not -800..0
    q1, q3 = np.quantile(v, [0.25, 0.75])
    beyond = int((v < min(q1 - 3 * (q3 - q1), lsl) - 0.05 * (usl - lsl)).sum())
    assert beyond > 0 and [t.get_text().split(" ")[0] for t in ax.texts] == [str(beyond)]
    assert sum(p.get_height() for p in ax.patches) == v.size  # the far ones sit in the end bar


def test_limits_histogram_shows_the_failing_dies_in_their_own_bars():
    ds = make_dataset(n_wafers=2, n_tests=1, seed=5)  # limits ±2 on standard normal values
    ax = plot.limits_histogram(ds, "T01", wafer=["L0001-01", "L0001-02"], ax=axes(), bins=30)
    v = ds["value"].sel(test="T01").values.ravel()
    below, inside, above = (ax.containers[k] for k in range(3))
    assert sum(p.get_height() for p in below) == (v < -2).sum()
    assert sum(p.get_height() for p in above) == (v > 2).sum()
    assert len(below) == 30
    assert ax.get_title().endswith("2 wafers")
    with pytest.raises(FabParameterError, match="'bins'"):
        plot.limits_histogram(ds, "T01", bins=0, ax=axes())


# --------------------------------------------------------------------------- units


def test_die_pitch_units_label_every_axis(lot2):
    assert lot2["x"].attrs["units"] == "die pitch"
    ax = plot.wafer_map(lot2, 1590, ax=axes())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x [die pitch]", "y [die pitch]")
    assert ax.figure.axes[-1].get_ylabel().splitlines() == [
        "Svrr <> EA_SVRR [db]", "robust (Tukey fences, 3 IQR) over the wafer"]
    assert plot.bin_map(lot2, ax=axes()).get_xlabel() == "x [die pitch]"
    assert plot.stacked_map(lot2, ax=axes()).get_ylabel() == "y [die pitch]"
    assert plot.radial_profile(lot2, "RDS_ON", ax=axes()).get_xlabel() == "radius [die pitch]"


def test_mm_units_by_default(small):
    assert plot.wafer_map(small, ax=axes()).get_xlabel() == "x [mm]"
    assert plot.radial_profile(small, "T01", ax=axes()).get_xlabel() == "radius [mm]"


# --------------------------------------------------------------------------- colour scales


def _real_tests(ds, min_dies=100):
    """Tests of the real wafer with at least ``min_dies`` readings and a spread (IQR > 0)."""
    out = []
    for name in ds["test"].values:
        v = _finite(ds["value"].sel(test=name).values)
        if v.size >= min_dies and np.subtract(*np.quantile(v, [0.75, 0.25])) > 0:
            out.append(str(name))
    return out


def test_robust_scale_is_the_box_plot_whisker_range_on_every_real_test(lot2):
    """Reference: matplotlib's ``boxplot_stats`` (whiskers at the most extreme values within
    Q1 − whis·IQR, Q3 + whis·IQR) with whis = 3, Tukey's outer fences."""
    names = _real_tests(lot2)
    assert len(names) > 40
    for name in names:
        v = _finite(lot2["value"].sel(test=name).values)
        stats = boxplot_stats(v, whis=3.0)[0]
        scale = color_scale(v)
        np.testing.assert_allclose([scale.vmin, scale.vmax], [stats["whislo"], stats["whishi"]],
                                   rtol=1e-12, err_msg=name)
        assert scale.n_under == (v < scale.vmin).sum() and scale.n_over == (v > scale.vmax).sum()


@pytest.mark.parametrize("side", [1, -1, 0])  # 8 above, 8 below, 4 each side
def test_eight_outliers_cannot_saturate_the_robust_scale(lot2, side):
    """8 extreme readings injected into every test of the real 730-die wafer: the robust
    limits stay inside the clean readings' range (the old P1–P99 scale went past it on
    every test when the 8 sit on one side: its P99 is an outlier) and the 8 dies are
    counted as under/over."""
    rng = np.random.default_rng(8)
    moved = 0
    for name in _real_tests(lot2):
        clean = _finite(lot2["value"].sel(test=name).values)
        span = clean.max() - clean.min()
        dirty = clean.copy()
        hit = rng.choice(clean.size, 8, replace=False)
        signs = np.full(8, side) if side else np.r_[np.ones(4), -np.ones(4)]
        dirty[hit] = np.where(signs > 0, clean.max(), clean.min()) + signs * 1e3 * span
        scale = color_scale(dirty)
        # the limits are clean readings (values inside the fences), never an outlier
        assert clean.min() <= scale.vmin < scale.vmax <= clean.max(), name
        assert scale.n_under >= (signs < 0).sum() and scale.n_over >= (signs > 0).sum()
        p1, p99 = np.percentile(dirty, [1, 99])
        moved += bool(p99 > clean.max() or p1 < clean.min())
    if side:  # 8 on one side (> 1 % of 730 dies): P1–P99 reaches an outlier on every test
        assert moved == len(_real_tests(lot2))


def test_spec_scale_counts_equal_a_direct_count_on_the_real_wafer(lot2):
    checked = 0
    for name in lot2["test"].values:
        v = _finite(lot2["value"].sel(test=name).values)
        lsl, usl = float(lot2["lsl"].sel(test=name)), float(lot2["usl"].sel(test=name))
        if not (v.size and np.isfinite(lsl) and np.isfinite(usl)):
            continue
        unit = str(lot2["unit"].sel(test=name).values)
        scale = dataset_scale(lot2, str(name), v, "spec")
        assert (scale.vmin, scale.vmax) == (lsl, usl)  # the limits themselves, read from the file
        assert (scale.n_under, scale.n_over) == ((v < lsl).sum(), (v > usl).sum())
        assert scale.label == f"spec limits LSL {lsl:g} – USL {usl:g}" + (f" {unit}" if unit else "")
        checked += 1
    assert checked > 60
    # "Ref aft zap" (1190): 6 dies above USL 3.385 v, drawn and counted on the map
    ax = plot.wafer_map(lot2, 1190, scale="spec", ax=axes())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "below LSL 3.34 (0)", "above USL 3.385 (6)"]


def test_spec_scale_without_a_limit_marks_nothing_on_that_side(lot2):
    name = name_of_test_number(lot2, 1300)  # "Uvlo hysteresis": USL 1, no LSL
    v = _finite(lot2["value"].sel(test=name).values)
    scale = dataset_scale(lot2, name, v, "spec")
    assert scale.vmin == v.min() and scale.vmax == 1.0 and scale.n_under == 0
    assert scale.label == f"spec limits min {v.min():.4g} – USL 1 (no LSL)"
    assert scale.extend == "max"  # the USL side: a spec limit, even with no die beyond
    bare = color_scale(v, "spec", unit="V", where="the wafer")
    assert bare.label.startswith("range over the wafer (no spec limits)")


def test_fixed_and_partly_fixed_scales_say_so(holey):
    ax = plot.wafer_map(holey, "T02", wafer="L0001-01", vmin=-1.0, vmax=1.0, ax=axes())
    v = holey["value"].sel(test="T02").isel(wafer=0).values
    assert ax.figure.axes[-1].get_ylabel() == "T02 [A]\nfixed -1 – 1 A (vmin/vmax)"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == [f"below -1 ({(v < -1).sum()})", f"above 1 ({(v > 1).sum()})"]
    half = color_scale(v, vmin=0.0, where="the wafer")
    assert half.vmin == 0.0 and half.vmax == pytest.approx(color_scale(v).vmax, rel=1e-12)
    assert half.label == "robust (Tukey fences, 3 IQR) over the wafer, vmin fixed at 0 (vmin/vmax)"
    with pytest.raises(FabParameterError, match="'scale' parameter of color_scale"):
        color_scale(v, "p1-p99")


def test_constant_and_empty_values_still_get_a_scale():
    flat = color_scale(np.full(20, 0.86), unit="V")
    assert flat.vmin < 0.86 < flat.vmax and flat.n_under == flat.n_over == 0
    assert flat.label.endswith("(all values 0.86 V)")
    empty = color_scale(np.full(5, np.nan), where="the wafer")
    assert not empty.finite and empty.label == "no measured values over the wafer"
    assert (empty.norm().vmin, empty.norm().vmax) == (0.0, 1.0)


def test_under_and_over_colours_stand_apart_from_the_colour_map_and_the_bins():
    reference = np.vstack([
        matplotlib.colormaps["viridis"](np.linspace(0, 1, 256))[:, :3],
        [c[:3] for c in plot.bin_palette(np.arange(-1, 60)).values()],
        [to_rgba(c)[:3] for c in (_draw.MISSING_COLOR, _draw.UNTESTED_COLOR, "white")],
    ])
    for color in (UNDER_COLOR, OVER_COLOR):
        gap = np.linalg.norm(reference - np.array(to_rgba(color)[:3]), axis=1).min()
        assert gap > 0.3, color
    assert UNDER_COLOR != OVER_COLOR


def test_stacked_map_and_gallery_name_their_scale(holey):
    ax = plot.stacked_map(holey, ax=axes())
    rate = summary.fail_rate_by_die(holey).values
    assert ax.figure.axes[-1].get_ylabel().splitlines() == [
        "fail rate", "range over the dies of 3 wafers, vmin fixed at 0 (vmin/vmax)"]
    assert dies_of(ax).norm.vmin == 0.0 and dies_of(ax).norm.vmax == rate.max()
    v = holey["value"].sel(test="T01").values.copy()
    fig = plot.wafer_gallery(holey, "T01", scale="spec")
    note = [t.get_text() for t in fig.texts if t.get_gid() == "fabnb-scale-label"][0]
    below, above = (v < -2).sum(), (v > 2).sum()
    assert note == (f"colour scale: spec limits LSL -2 – USL 2 mV · below LSL -2 ({below})"
                    f" · above USL 2 ({above})")
