"""fabnb.io._grid_centre: the wafer centre of a die grid when the file gives none.

One far-out die (a test structure, a corrupted coordinate that is still a valid
integer) must not drag the centre: every other die keeps its x/y, the reader warns
naming the die, and the die stays in the Dataset.  A gap-free grid is centred exactly
as by the plain bounding-box midpoint.  Checked on the rule itself and through every
reader that centres a grid: STDF (synthetic and the real sample), long tables, G85.
"""

import re
import struct
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, make_dataset

import fabnb.io as fio
from fabnb.geometry import die_grid
from fabnb.io._grid_centre import ASIDE_SHARE, grid_centre
from fabnb.io.e142 import E142Warning, read_e142
from fabnb.io.stdf import read_stdf, write_stdf

FAR = 200  # a column far beyond every grid below (the brief's 60-column wafer example)
PRR = (5, 20)


def _midpoint(index):
    """The old rule: the middle of the bounding box."""
    return (index.min() + index.max()) / 2


def _grid(diameter=200, die=10.0):
    g = die_grid(diameter, die_width_mm=die, die_height_mm=die)
    return g["col"].values, g["row"].values


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
    _same_place_for_shared_dies(far, clean)
    assert far.sizes["die"] >= clean.sizes["die"]  # the far die is kept, nothing dropped
    moved = (far["col"].values == FAR) & (far["row"].values == y)
    assert moved.sum() == 1 and int(far["touchdowns"].values[0, moved][0]) >= 1
    assert re.search(rf"1 die\(s\) far from the bulk of the grid, at \(col, row\) \({FAR}, {y}\)",
                     warned)
    assert f"first PRR is in {name} at byte offset {at}" in warned


def test_stdf_far_prr_leaves_the_other_dies_in_place(tmp_path):
    ds = make_dataset(n_wafers=1, die_mm=10.0)
    data = write_stdf(ds, tmp_path / "ok.stdf", byteorder=">").read_bytes()
    at = _prr_offsets(data)[7]
    bad, y = _move_prr(data, at, FAR)
    (tmp_path / "far.stdf").write_bytes(bad)
    clean, warned_clean = _read(read_stdf, tmp_path / "ok.stdf", progress=False)
    far, warned = _read(read_stdf, tmp_path / "far.stdf", progress=False)
    assert far.attrs["stdf_geometry"] == "coordinate grid"  # no whole centre index in WCR
    assert "far from the bulk" not in warned_clean
    _assert_far_stdf_die_kept_apart(clean, far, warned, y, at, "far.stdf")


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


def test_real_stdf_far_prr_leaves_the_other_dies_in_place(lot2_bytes, tmp_path):
    at = _prr_offsets(lot2_bytes)[100]
    bad, y = _move_prr(lot2_bytes, at, FAR)
    (tmp_path / "lot2.stdf").write_bytes(lot2_bytes)
    (tmp_path / "far.stdf").write_bytes(bad)
    clean, _ = _read(read_stdf, tmp_path / "lot2.stdf", progress=False)
    far, warned = _read(read_stdf, tmp_path / "far.stdf", progress=False)
    _assert_far_stdf_die_kept_apart(clean, far, warned, y, at, "far.stdf")
    assert int(far["touchdowns"].sum()) == int(clean["touchdowns"].sum())  # every part kept


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
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a centre given is used as given: nothing set aside
        given = fio.from_long_table(_table(np.r_[col, FAR], np.r_[row, far_row]),
                                    geometry={**geo, "center_col": 0, "center_row": 0})
    np.testing.assert_allclose(given["x"].values, given["col"].values * 10.0, rtol=0, atol=1e-12)


G85_MAP = """<?xml version="1.0"?>
<Map SubstrateId="W1"><Device Rows="{rows}" Columns="{cols}" BinType="ASCII" NullBin="."
  DeviceSizeX="5000" DeviceSizeY="5000" OriginLocation="2" Orientation="0">
 <Bin BinCode="P" BinQuality="Pass"/>
{body}</Device></Map>"""


def _g85(path, n=9, margin=2, far=None):
    """An ``n`` x ``n`` map of pass dies drawn after ``margin`` null columns; ``far``: one
    more die at that column of the middle row, the array drawn out to it."""
    cols = (far if far is not None else margin + n - 1) + 1
    rows = []
    for r in range(n):
        cells = ["."] * cols
        cells[margin:margin + n] = "P" * n
        if far is not None and r == n // 2:
            cells[far] = "P"
        rows.append(f" <Row>{''.join(cells)}</Row>")
    path.write_text(G85_MAP.format(rows=n, cols=cols, body="\n".join(rows)))
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
                      rf"grid, at \(col, row\) \({FAR}, 4\).*\(col 5, row 4\)"):
        far = read_e142(_g85(tmp_path / "far.xml", far=FAR))
    _same_place_for_shared_dies(far, clean)
    assert far.sizes["die"] == clean.sizes["die"] + 1
