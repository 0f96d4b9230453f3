"""fabnb.io.read_e142 / write_e142 on the SEMI G85 samples and on synthetic maps."""

import json
import re
import warnings

import numpy as np
import pytest
from conftest import make_dataset

from fabnb.errors import FabDataError
from fabnb.io.e142 import E142Warning, read_e142, write_e142


def _rows(path):
    """The raw rows of a sample, read with a regex (independent of the XML reader)."""
    return re.findall(r"<!\[CDATA\[(.*?)\]\]>", path.read_text())


@pytest.fixture
def samples(shared_data):
    folder = shared_data / "g85"
    if not folder.is_dir():
        pytest.skip(f"shared G85 samples absent ({folder})")
    return folder / "ex.xml", folder / "ex2.xml"


def test_both_layouts_read_the_same_map(samples):
    ex, ex2 = samples
    with pytest.warns(E142Warning, match=r"BinCode='X'> says BinCount=255 but the map holds 256"):
        a = read_e142(ex)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ex2's summaries agree with its map: no warning
        b = read_e142(ex2)
    rows = _rows(ex)
    assert len(rows) == 35 and {len(r) for r in rows} == {40}
    chars = "".join(rows)
    for ds in (a, b):
        assert ds.sizes["die"] == len(chars) - chars.count("0")  # null bin "0": no die
        assert ds["col"].values.max() == 39 and ds["row"].values.max() == 34
        assert int((ds["hbin"] == 1).sum()) == chars.count("G") == 830
        assert int((ds["hbin"] == 2).sum()) == chars.count("X")
        assert json.loads(ds.attrs["e142_bin_codes"]) == {"G": 1, "X": 2}
        assert json.loads(ds.attrs["e142_reference_device"]) == [27, 34]
        assert ds.attrs["die_width_mm"] == 4.8006 and ds.attrs["wafer_diameter_mm"] == 200.0
        assert ds["wafer"].values[0] == "123456705F2" and ds["lot"].values[0] == "0050000"
    np.testing.assert_array_equal(a["hbin"].values, b["hbin"].values)
    np.testing.assert_array_equal(a["col"].values, b["col"].values)
    # OriginLocation 2: X counts columns from the left, Y rows from the top
    top = a.isel(die=a["row"].values == 0)
    assert "".join("G" if v == 1 else "X" for v in top["hbin"].values[0]) == rows[0].strip("0")
    assert top["col"].values.min() == rows[0].index(rows[0].strip("0")[0])


def test_sample_round_trip(samples, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", E142Warning)
        ds = read_e142(samples[1])
    back = read_e142(write_e142(ds, tmp_path / "m.xml"))
    for name in ("hbin", "col", "row", "x", "y", "wafer", "lot"):
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    for attr in ("die_width_mm", "die_height_mm", "wafer_diameter_mm", "notch",
                 "e142_reference_device", "product"):
        assert back.attrs[attr] == ds.attrs[attr]


def test_synthetic_round_trip_with_untested_dies(tmp_path):
    ds = make_dataset(n_wafers=3)
    ds["hbin"][0, :5] = -1
    ds["hbin"][1, 3] = 17
    ds["hbin"][2, 4] = 0
    path = write_e142(ds, tmp_path / "lot.xml")
    back = read_e142(path)
    np.testing.assert_array_equal(back["hbin"].values, ds["hbin"].values)
    for name in ("col", "row", "x", "y", "slot", "wafer"):
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    one = read_e142(write_e142(ds, tmp_path / "w2.xml", wafer="L0001-02"))
    np.testing.assert_array_equal(one["hbin"].values[0], ds["hbin"].values[1])


G85 = """<?xml version="1.0"?>
<Map SubstrateId="W1"><Device Rows="2" Columns="3" BinType="{bt}" NullBin="{null}"
  DeviceSizeX="1000" DeviceSizeY="1000"
  OriginLocation="{origin}" Orientation="{orient}">
 <Bin BinCode="{p}" BinQuality="Pass"/>
 <Row>{r0}</Row><Row>{r1}</Row></Device></Map>"""


@pytest.mark.parametrize("origin, first_xy", [(1, (2, 0)), (2, (0, 0)), (3, (0, 1)), (4, (2, 1))])
def test_origin_location(tmp_path, origin, first_xy):
    path = tmp_path / "o.xml"
    path.write_text(G85.format(bt="ASCII", null=".", origin=origin, orient=90, p="P",
                               r0="AP.", r1="PPP"))
    ds = read_e142(path)
    first = ds.isel(die=int(np.argmax(ds["hbin"].values[0] == 2)))  # the 'A' drawn top left
    assert (int(first["col"]), int(first["row"])) == first_xy
    assert first["x"] < 0 and first["y"] > 0 and ds.attrs["notch"] == "left"
    assert ds.sizes["die"] == 5


def test_hex_codes_and_bad_rows(tmp_path):
    path = tmp_path / "h.xml"
    path.write_text(G85.format(bt="HexaDecimal", null="FF", origin=2, orient=0, p="01",
                               r0="01 1FFF", r1="0A0B01"))
    with pytest.raises(FabDataError, match="row 1"):
        read_e142(path)
    path.write_text(G85.format(bt="HexaDecimal", null="FF", origin=2, orient=0, p="01",
                               r0="011FFF", r1="0A0B01"))
    ds = read_e142(path)
    assert sorted(ds["hbin"].values[0].tolist()) == [1, 1, 10, 11, 31]
