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
    np.testing.assert_allclose(dies_of(ax).get_array(), summary.fail_rate_by_die(holey).values,
                               rtol=1e-12)
    assert ax.figure.axes[-1].get_ylabel() == "fail rate"


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
    assert ax.figure.axes[-1].get_ylabel() == "Svrr <> EA_SVRR [db]"
    assert plot.bin_map(lot2, ax=axes()).get_xlabel() == "x [die pitch]"
    assert plot.stacked_map(lot2, ax=axes()).get_ylabel() == "y [die pitch]"
    assert plot.radial_profile(lot2, "RDS_ON", ax=axes()).get_xlabel() == "radius [die pitch]"


def test_mm_units_by_default(small):
    assert plot.wafer_map(small, ax=axes()).get_xlabel() == "x [mm]"
    assert plot.radial_profile(small, "T01", ax=axes()).get_xlabel() == "radius [mm]"
