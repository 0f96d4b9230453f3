"""fabnb.io._grid_centre: the wafer centre of a die grid when the file gives none.

One far-out die (a test structure, a corrupted coordinate that is still a valid
integer) must not drag the centre: every other die keeps its x/y, the reader warns
naming the die, and the die stays in the Dataset.  A gap-free grid is centred exactly
as by the plain bounding-box midpoint.  Nor must it blow up a wafer size the reader
derives (the file giving none): the size is the bulk's, the far die lies outside the
wafer, the Dataset validates, the warning says so, and maps draw the die beyond the
outline; a gap-free grid gets the size it always got.  Checked on the rules themselves
and through every reader that centres a grid: STDF (synthetic and the real sample),
long tables, G85.
"""

import re
import struct
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, make_dataset
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

import fabnb.io as fio
from fabnb import plot, schema, summary
from fabnb.geometry import die_grid
from fabnb.io._grid_centre import ASIDE_SHARE, grid_centre, grid_diameter
from fabnb.io.e142 import E142Warning, read_e142
from fabnb.io.stdf import read_stdf, write_stdf
from fabnb.widgets import WaferMap

FAR = 200  # a column far beyond every grid below (the brief's 60-column wafer example)
PRR = (5, 20)


def _midpoint(index):
    """The old rule: the middle of the bounding box."""
    return (index.min() + index.max()) / 2


def _grid(diameter=200, die=10.0):
    g = die_grid(diameter, die_width_mm=die, die_height_mm=die)
    return g["col"].values, g["row"].values


def _every_die_diameter(ds):
    """The old size rule: the smallest circle about the centre holding *every* die whole."""
    w, h = ds.attrs["die_width_mm"], ds.attrs["die_height_mm"]
    x, y = ds["x"].values, ds["y"].values
    return 2 * np.max(np.hypot(np.abs(x) + w / 2, np.abs(y) + h / 2))


def _assert_far_die_outside_the_same_wafer(clean, far, moved, warned, derived):
    """With the far die ``moved``, the wafer is the clean file's (derived from the bulk,
    or the file's own size); the far die lies outside it, zoned "edge", and the warning
    says where the size came from and that the die lies outside."""
    diameter = far.attrs["wafer_diameter_mm"]
    np.testing.assert_allclose(diameter, clean.attrs["wafer_diameter_mm"], rtol=1e-12, atol=0)
    schema.validate(far)
    r = far["r"].values
    assert moved.sum() == 1 and r[moved][0] > diameter / 2  # kept, outside the wafer
    assert (r[~moved] <= diameter / 2).all()
    assert far["zone"].values[moved][0] == "edge"  # the outermost of the balanced rings
    source = "derived from the bulk too" if derived else "the file's"
    assert re.search(rf"wafer_diameter_mm {re.escape(f'{diameter:g}')} is {source}[^;]*: 1 of "
                     rf"the dies set aside lie\(s\) outside that wafer \(r > "
                     rf"{re.escape(f'{diameter / 2:g}')}\)", warned), warned


def _read(reader, path, **kw):
    """A reader's Dataset and its warnings, joined into one string."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = reader(path, **kw)
    return ds, " | ".join(str(w.message) for w in caught)


def _same_place_for_shared_dies(got, want):
    """Every die of ``want`` also in ``got`` sits at the same x/y (two reads of two files:
    compared within rounding)."""
    at = {cr: k for k, cr in enumerate(zip(got["col"].values.tolist(), got["row"].values.tolist()))}
    mine = [k for k, cr in enumerate(zip(want["col"].values.tolist(), want["row"].values.tolist()))
            if cr in at]
    assert len(mine) >= want.sizes["die"] - 1  # at most the moved die's old site is gone
    theirs = [at[cr] for cr in zip(want["col"].values[mine].tolist(),
                                   want["row"].values[mine].tolist())]
    for name in ("x", "y"):
        np.testing.assert_allclose(got[name].values[theirs], want[name].values[mine],
                                   rtol=1e-12, atol=1e-12, err_msg=name)


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("diameter, die", [(200, 10.0), (300, 3.5), (150, 7.0), (100, 30.0)])
def test_a_gap_free_grid_is_centred_on_its_bounding_box(diameter, die):
    col, row = _grid(diameter, die)
    centre = grid_centre(col, row)
    assert not centre.aside.any()
    np.testing.assert_allclose([centre.col, centre.row], [_midpoint(col), _midpoint(row)],
                               rtol=0, atol=1e-12)


def test_sparse_samples_and_split_maps_keep_the_bounding_box():
    """Every 3rd column and row (a lattice of step 3: gaps are the step, no outlier), a few
    dies sampled from a small wafer with one 6 columns and rows away (a gap, but one die of
    six is no isolated outlier) and a wafer probed in two halves with a wide gap (each half
    far above the share) are no far-out dies."""
    col, row = _grid(300, 3.5)
    lattice = (col % 3 == 0) & (row % 3 == 0)
    sample_c, sample_r = np.array([0, 1, 2, 3, 4, 10]), np.array([0, 2, 1, 3, 4, 10])
    halves = np.abs(col - _midpoint(col)) > 8
    for c, r in ((col[lattice], row[lattice]), (sample_c, sample_r), (col[halves], row[halves])):
        centre = grid_centre(c, r)
        assert not centre.aside.any()
        np.testing.assert_allclose([centre.col, centre.row], [_midpoint(c), _midpoint(r)],
                                   rtol=0, atol=1e-12)


def test_far_out_dies_are_set_aside_on_either_side_and_axis():
    col, row = _grid()
    # far right, far left, far below, and one only 2 columns out but 200 rows away: a die
    # out on one axis is out of the other axis's range too
    far_c = np.r_[col, col.max() + FAR, col.min() - FAR, col[0], col.max() + 2]
    far_r = np.r_[row, row[0], row[0], row.max() + FAR, row.max() + FAR]
    centre = grid_centre(far_c, far_r)
    np.testing.assert_array_equal(np.flatnonzero(centre.aside), col.size + np.arange(4))
    np.testing.assert_allclose([centre.col, centre.row], [_midpoint(col), _midpoint(row)],
                               rtol=0, atol=1e-12)


def test_more_far_dies_than_the_share_are_no_outliers():
    """Past the share, far dies are part of the map: the bounding box is kept."""
    col, row = _grid()
    k = int(np.floor(ASIDE_SHARE * col.size / (1 - ASIDE_SHARE))) + 1  # just past the share
    far_c, far_r = np.r_[col, np.full(k, FAR)], np.r_[row, np.arange(k) % (row.max() + 1)]
    assert not grid_centre(far_c, far_r).aside.any()
    fewer = grid_centre(far_c[:-1], far_r[:-1])
    assert fewer.aside.sum() == k - 1 and fewer.col == pytest.approx(_midpoint(col), abs=1e-12)


def test_a_drawn_frame_keeps_its_margins_except_beyond_far_dies():
    """G85 centres the drawn array: null margins count, but an edge drawn out to a far-out
    die moves in to the bulk."""
    col, row = _grid()
    frame = ((-2, col.max()), (row.min(), row.max() + 3))  # 2 null columns left, 3 rows below
    plain = grid_centre(col, row, frame=frame)
    assert (plain.col, plain.row) == pytest.approx(((col.max() - 2) / 2, _midpoint(row) + 1.5))
    far = grid_centre(np.r_[col, FAR], np.r_[row, row[0]], frame=((-2, FAR), frame[1]))
    assert (far.col, far.row) == pytest.approx((plain.col, plain.row), abs=1e-12)
    assert far.aside.sum() == 1


@pytest.mark.parametrize("diameter, die", [(200, 10.0), (300, 3.5), (150, 7.0), (100, 30.0)])
def test_a_gap_free_grid_gets_the_size_of_every_die(diameter, die):
    g = die_grid(diameter, die_width_mm=die, die_height_mm=0.8 * die, edge_exclusion_mm=0)
    centre = grid_centre(g["col"].values, g["row"].values)
    got = grid_diameter(g["x"].values, g["y"].values, die, 0.8 * die, centre.aside)
    np.testing.assert_allclose(got, _every_die_diameter(g), rtol=1e-12, atol=0)
    assert got <= diameter + 1e-9  # die_grid's dies fit on its wafer


def test_the_dies_set_aside_do_not_size_the_wafer():
    col, row = _grid()
    far_c, far_r = np.r_[col, FAR], np.r_[row, row[0]]
    centre = grid_centre(far_c, far_r)
    x, y = (far_c - centre.col) * 10.0, (centre.row - far_r) * 10.0
    bulk = grid_diameter(x[:-1], y[:-1], 10.0, 10.0)
    np.testing.assert_allclose(grid_diameter(x, y, 10.0, 10.0, centre.aside), bulk,
                               rtol=1e-12, atol=0)
    assert grid_diameter(x, y, 10.0, 10.0) > 10 * bulk  # every die: the far one's reach


# --------------------------------------------------------------------------- the readers


def _prr_offsets(data):
    """Byte offsets of the PRRs of a big-endian STDF file (walked record by record)."""
    out, pos = [], 0
    while pos + 4 <= len(data):
        if (data[pos + 2], data[pos + 3]) == PRR:
            out.append(pos)
        pos += 4 + struct.unpack_from(">H", data, pos)[0]
    return out


def _move_prr(data, at, x):
    """A copy of an STDF file with the PRR at byte ``at`` moved to X_COORD ``x``."""
    bad = bytearray(data)
    y = struct.unpack_from(">h", bad, at + 4 + 9 + 2)[0]  # header 4, HEAD..SOFT_BIN 9, X 2
    struct.pack_into(">h", bad, at + 4 + 9, x)
    return bytes(bad), y


def _assert_far_stdf_die_kept_apart(clean, far, warned, y, at, name):
    """The other dies in place, the far die (col FAR, row ``y``) kept and named with its
    PRR's offset in the warning; returns which die it is."""
    _same_place_for_shared_dies(far, clean)
    assert far.sizes["die"] >= clean.sizes["die"]  # the far die is kept, nothing dropped
    moved = (far["col"].values == FAR) & (far["row"].values == y)
    assert moved.sum() == 1 and int(far["touchdowns"].values[0, moved][0]) >= 1
    assert re.search(rf"1 die\(s\) far from the bulk of the grid, at \(col, row\) \({FAR}, {y}\)",
                     warned)
    assert f"first PRR is in {name} at byte offset {at}" in warned
    return moved


def _far_stdf(ds, tmp_path, k=7):
    """Read ``ds`` written as STDF, and again with its ``k``-th PRR moved to X = FAR:
    ``(clean, clean's warnings, far, far's warnings, the moved PRR's Y, its offset)``."""
    data = write_stdf(ds, tmp_path / "ok.stdf", byteorder=">").read_bytes()
    at = _prr_offsets(data)[k]
    bad, y = _move_prr(data, at, FAR)
    (tmp_path / "far.stdf").write_bytes(bad)
    clean, warned_clean = _read(read_stdf, tmp_path / "ok.stdf", progress=False)
    far, warned = _read(read_stdf, tmp_path / "far.stdf", progress=False)
    return clean, warned_clean, far, warned, y, at


def test_stdf_far_prr_leaves_the_other_dies_and_the_wafer_size_in_place(tmp_path):
    """The WCR gives the wafer size (200 mm) but no whole centre index: the size is kept."""
    clean, warned_clean, far, warned, y, at = _far_stdf(make_dataset(n_wafers=1, die_mm=10.0),
                                                        tmp_path)
    assert far.attrs["stdf_geometry"] == "coordinate grid"  # no whole centre index in WCR
    assert "far from the bulk" not in warned_clean
    moved = _assert_far_stdf_die_kept_apart(clean, far, warned, y, at, "far.stdf")
    assert far.attrs["wafer_diameter_mm"] == 200.0  # WAFR_SIZ as written, not derived
    _assert_far_die_outside_the_same_wafer(clean, far, moved, warned, derived=False)


def test_stdf_far_prr_leaves_the_derived_wafer_size_in_place(tmp_path):
    """No die size in the WCR (x/y in die pitches): the wafer size is derived, from the
    bulk; without the far die it is the old rule's, over every die."""
    ds = make_dataset(n_wafers=1, die_mm=10.0)
    for axis in ("x", "y"):
        ds[axis].attrs["units"] = "die pitch"  # write_stdf writes WCR sizes 0
    clean, _, far, warned, y, at = _far_stdf(ds, tmp_path)
    assert clean["x"].attrs["units"] == "die pitch"
    np.testing.assert_allclose(clean.attrs["wafer_diameter_mm"], _every_die_diameter(clean),
                               rtol=1e-12, atol=0)
    moved = _assert_far_stdf_die_kept_apart(clean, far, warned, y, at, "far.stdf")
    _assert_far_die_outside_the_same_wafer(clean, far, moved, warned, derived=True)


@pytest.fixture(scope="module")
def lot2_bytes():
    path = SHARED_DATA / "stdf" / "lot2.stdf"
    if not path.is_file():
        pytest.skip(f"real STDF sample {path} is absent (the shared data folder sits beside "
                    "the checkout)")
    return path.read_bytes()


def test_real_stdf_is_centred_as_before(lot2_bytes, tmp_path):
    """lot2.stdf has no centre or die size in its WCR: gap-free, so the bounding-box
    midpoint (in die pitches) as ever."""
    (tmp_path / "lot2.stdf").write_bytes(lot2_bytes)
    ds, warned = _read(read_stdf, tmp_path / "lot2.stdf", progress=False)
    col, row = ds["col"].values, ds["row"].values
    sx = np.sign(np.corrcoef(col, ds["x"].values)[0, 1])  # WCR POS_X/POS_Y: the axes' sense
    sy = np.sign(np.corrcoef(row, ds["y"].values)[0, 1])
    np.testing.assert_allclose(ds["x"].values, sx * (col - _midpoint(col)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds["y"].values, sy * (row - _midpoint(row)), rtol=0, atol=1e-12)
    assert "far from the bulk" not in warned
    np.testing.assert_allclose(ds.attrs["wafer_diameter_mm"], _every_die_diameter(ds),
                               rtol=1e-12, atol=0)  # no WAFR_SIZ: every die's, as ever


def test_real_stdf_far_prr_leaves_the_other_dies_in_place(lot2_bytes, tmp_path):
    at = _prr_offsets(lot2_bytes)[100]
    bad, y = _move_prr(lot2_bytes, at, FAR)
    (tmp_path / "lot2.stdf").write_bytes(lot2_bytes)
    (tmp_path / "far.stdf").write_bytes(bad)
    clean, _ = _read(read_stdf, tmp_path / "lot2.stdf", progress=False)
    far, warned = _read(read_stdf, tmp_path / "far.stdf", progress=False)
    moved = _assert_far_stdf_die_kept_apart(clean, far, warned, y, at, "far.stdf")
    assert int(far["touchdowns"].sum()) == int(clean["touchdowns"].sum())  # every part kept
    _assert_far_die_outside_the_same_wafer(clean, far, moved, warned, derived=True)


def _table(col, row):
    return pd.DataFrame({"wafer": "W1", "col": col, "row": row, "test": "T01",
                         "value": np.arange(len(col), dtype=float)})


def test_long_table_far_die_leaves_the_other_dies_in_place():
    col, row = _grid()
    geo = {"die_width_mm": 10.0, "die_height_mm": 10.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a gap-free grid: nothing to say
        clean = fio.from_long_table(_table(col, row), geometry=geo)
    np.testing.assert_allclose(clean["x"].values, (clean["col"].values - _midpoint(col)) * 10.0,
                               rtol=0, atol=1e-12)
    far_row = int(row[0])
    with pytest.warns(UserWarning, match=rf"from_long_table: 1 die\(s\) far from the bulk of the "
                      rf"grid, at \(col, row\) \({FAR}, {far_row}\).*center_col") as said:
        far = fio.from_long_table(_table(np.r_[col, FAR], np.r_[row, far_row]), geometry=geo)
    assert said[0].filename == __file__  # points at the caller's line, not fabnb's
    _same_place_for_shared_dies(far, clean)
    assert far.sizes["die"] == clean.sizes["die"] + 1  # the far die is kept
    moved = far["col"].values == FAR
    assert clean.attrs["wafer_diameter_mm"] == 200.0  # die_grid's 200 mm wafer, as ever
    _assert_far_die_outside_the_same_wafer(clean, far, moved, str(said[0].message), derived=True)
    assert "wafer_diameter_mm': ...} to place the centre and size the wafer" in str(said[0].message)
    with pytest.warns(UserWarning, match="far from the bulk") as said:  # a size given is kept
        sized = fio.from_long_table(_table(np.r_[col, FAR], np.r_[row, far_row]),
                                    geometry={**geo, "wafer_diameter_mm": 200.0})
    _assert_far_die_outside_the_same_wafer(clean, sized, moved, str(said[0].message),
                                           derived=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a centre given is used as given: nothing set aside
        given = fio.from_long_table(_table(np.r_[col, FAR], np.r_[row, far_row]),
                                    geometry={**geo, "center_col": 0, "center_row": 0})
    np.testing.assert_allclose(given["x"].values, given["col"].values * 10.0, rtol=0, atol=1e-12)


G85_MAP = """<?xml version="1.0"?>
<Map SubstrateId="W1"><Device Rows="{rows}" Columns="{cols}" BinType="ASCII" NullBin="."
  DeviceSizeX="5000" DeviceSizeY="5000" OriginLocation="2" Orientation="0"{size}>
 <Bin BinCode="P" BinQuality="Pass"/>
{body}</Device></Map>"""


def _g85(path, n=9, margin=2, far=None, size=None):
    """An ``n`` x ``n`` map of pass dies drawn after ``margin`` null columns; ``far``: one
    more die at that column of the middle row, the array drawn out to it; ``size``: the
    WaferSize in mm (default: none, the reader derives it)."""
    cols = (far if far is not None else margin + n - 1) + 1
    rows = []
    for r in range(n):
        cells = ["."] * cols
        cells[margin:margin + n] = "P" * n
        if far is not None and r == n // 2:
            cells[far] = "P"
        rows.append(f" <Row>{''.join(cells)}</Row>")
    size = "" if size is None else f' WaferSize="{size}"'
    path.write_text(G85_MAP.format(rows=n, cols=cols, size=size, body="\n".join(rows)))
    return path


def test_g85_far_die_leaves_the_other_dies_in_place(tmp_path):
    """The null margin on the left still counts (as ever); the array drawn out to the far
    die does not."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", E142Warning)
        clean = read_e142(_g85(tmp_path / "ok.xml"))
    np.testing.assert_allclose(clean["x"].values, (clean["col"].values - 5.0) * 5.0,
                               rtol=0, atol=1e-12)  # array 0..10: centre 5, not the dies' 6
    with pytest.warns(E142Warning, match=rf"far.xml, map 1: 1 die\(s\) far from the bulk of the "
                      rf"grid, at \(col, row\) \({FAR}, 4\).*\(col 5, row 4\)") as said:
        far = read_e142(_g85(tmp_path / "far.xml", far=FAR))
    _same_place_for_shared_dies(far, clean)
    assert far.sizes["die"] == clean.sizes["die"] + 1
    np.testing.assert_allclose(clean.attrs["wafer_diameter_mm"], _every_die_diameter(clean),
                               rtol=1e-12, atol=0)  # no WaferSize: every die's, as ever
    moved = far["col"].values == FAR
    _assert_far_die_outside_the_same_wafer(clean, far, moved, str(said[0].message), derived=True)
    assert "far.xml: wafer_diameter_mm" in str(said[0].message)  # one size for the file


def test_g85_wafer_size_given_is_kept_with_a_far_die(tmp_path):
    clean = read_e142(_g85(tmp_path / "ok.xml", size=80))
    with pytest.warns(E142Warning, match="far from the bulk") as said:
        far = read_e142(_g85(tmp_path / "far.xml", far=FAR, size=80))
    assert clean.attrs["wafer_diameter_mm"] == far.attrs["wafer_diameter_mm"] == 80.0
    _assert_far_die_outside_the_same_wafer(clean, far, far["col"].values == FAR,
                                           str(said[0].message), derived=False)


# --------------------------------------------------------------------------- downstream


def _long_far():
    """A gap-free long-table wafer of 10 mm dies, and the same with one die at col FAR."""
    col, row = _grid()
    geo = {"die_width_mm": 10.0, "die_height_mm": 10.0}
    clean = fio.from_long_table(_table(col, row), geometry=geo)
    with pytest.warns(UserWarning, match="far from the bulk"):
        far = fio.from_long_table(_table(np.r_[col, FAR], np.r_[row, row[0]]), geometry=geo)
    return clean, far


def _far_corner(ds):
    """x of the far die's outer edge."""
    return float(ds["x"].values[ds["col"].values == FAR][0]) + ds.attrs["die_width_mm"] / 2


def test_maps_draw_a_die_outside_the_wafer_beyond_the_outline():
    """The outline is the wafer's; the view widens to the far die (drawn, not cut off);
    a map whose dies are all on the wafer keeps its view."""
    clean, far = _long_far()
    radius = far.attrs["wafer_diameter_mm"] / 2
    ax = plot.wafer_map(clean, "T01", ax=Figure().add_subplot())
    np.testing.assert_allclose(ax.get_xlim(), (-1.04 * radius, 1.04 * radius), rtol=1e-12)
    ax = plot.wafer_map(far, "T01", ax=Figure().add_subplot())
    assert ax.get_xlim()[1] >= _far_corner(far) and ax.get_ylim()[1] == ax.get_xlim()[1]
    outline = max(np.abs(p.get_xy()).max() for p in ax.patches if isinstance(p, Polygon))
    np.testing.assert_allclose(outline, radius, rtol=1e-9)


def test_the_wafer_map_widget_spans_a_die_outside_the_wafer():
    clean, far = _long_far()
    geometry = WaferMap(ds=clean).geometry
    np.testing.assert_allclose(geometry["extent"], geometry["diameter"], rtol=1e-12)
    geometry = WaferMap(ds=far).geometry
    np.testing.assert_allclose(geometry["diameter"], clean.attrs["wafer_diameter_mm"], rtol=1e-12)
    assert geometry["extent"] / 2 >= _far_corner(far)


def test_radial_rings_span_the_wafer_not_a_die_outside_it():
    """A die outside the wafer joins the outermost ring: the rings, and the profile of
    every ring it does not fall in, are those of the wafer without it (before, the 12
    rings stretched to the far die and the whole wafer fell into the first few)."""
    clean, far = _long_far()
    want = summary.radial_signature(clean, "T01", n_rings=12)
    got = summary.radial_signature(far, "T01", n_rings=12)
    np.testing.assert_allclose(got["ring_r"].values, want["ring_r"].values, rtol=1e-12)
    np.testing.assert_allclose(got["profile"].values[:, :-1], want["profile"].values[:, :-1], rtol=1e-12)
    assert np.isfinite(got["radial"].values[:, far["col"].values == FAR]).all()  # the far die is kept
