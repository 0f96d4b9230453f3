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
        assert ds.attrs["die_width_mm"] == pytest.approx(4.8006, rel=1e-12)
        assert ds.attrs["wafer_diameter_mm"] == 200.0
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
    for name in ("hbin", "col", "row", "wafer", "lot"):
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    for name in ("x", "y"):
        np.testing.assert_allclose(back[name].values, ds[name].values, rtol=1e-12, atol=1e-12)
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
    for name in ("col", "row", "slot", "wafer"):
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    for name in ("x", "y"):  # die_grid's and the reader's: two code paths
        np.testing.assert_allclose(back[name].values, ds[name].values, rtol=1e-12, atol=1e-12)
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


# --------------------------------------------------------------------------- bad files


def g85(path, rows=("AP.", "PPP"), bin_type="ASCII", null=".", pass_code="P", **attrs):
    """A small G85 map file; ``attrs`` override or add <Device> attributes (None drops one)."""
    device = {"Rows": str(len(rows)), "Columns": str(len(rows[0]) if rows else 3),
              "BinType": bin_type, "NullBin": null, "DeviceSizeX": "1000",
              "DeviceSizeY": "1000", "WaferSize": "10", "OriginLocation": "2", "Orientation": "0"}
    slot = attrs.pop("SlotNumber", None)
    device.update(attrs)
    text = " ".join(f'{k}="{v}"' for k, v in device.items() if v is not None)
    body = "".join(f"<Row>{r}</Row>" for r in rows)
    slot = f' SlotNumber="{slot}"' if slot is not None else ""
    path.write_text(f'<?xml version="1.0"?><Map SubstrateId="W1"{slot}><Device {text}>'
                    f'<Bin BinCode="{pass_code}" BinQuality="Pass"/>{body}</Device></Map>')
    return path


@pytest.mark.parametrize("change, message", [
    ({"rows": ("...", "...")}, "no die on any map"),
    ({"rows": (), "WaferSize": None}, "no die on any map"),
    ({"Orientation": "nan"}, "Orientation=nan"),
    ({"Orientation": "inf"}, "Orientation=inf"),
    ({"SlotNumber": "99999999999999999999"}, "SlotNumber='99999999999999999999' is outside"),
    ({"SlotNumber": "-1"}, "SlotNumber='-1' is outside"),
    ({"bin_type": "Decimal", "null": "9", "pass_code": "1",
      "rows": ("1 99999999999999999999 9", "1 1 1"), "Columns": "3"},
     "bin code '99999999999999999999' is beyond"),
    ({"DeviceSizeX": "0"}, "DeviceSizeX='0' must be a finite size above 0"),
    ({"DeviceSizeY": "-1000"}, "DeviceSizeY='-1000' must be"),
    ({"DeviceSizeX": "NaN"}, "DeviceSizeX='NaN' must be"),
    ({"DeviceSizeX": "Infinity"}, "DeviceSizeX='Infinity' must be"),
    ({"WaferSize": "-200"}, "WaferSize='-200' must be"),
    ({"WaferSize": "nan"}, "WaferSize='nan' must be"),
    ({"WaferSize": "0"}, "WaferSize='0' must be"),
    ({"Rows": "-2"}, "Rows='-2' is outside"),
    ({"Columns": "3.5"}, "Columns='3.5' is not a number"),
])
def test_bad_attributes_raise_fab_data_error_naming_file_and_attribute(tmp_path, change, message):
    path = g85(tmp_path / "bad_map.xml", **change)
    with pytest.raises(FabDataError, match=re.escape(message)) as err:
        read_e142(path)
    assert "bad_map.xml" in str(err.value)


def test_a_map_of_untested_dies_names_the_file(tmp_path):
    path = g85(tmp_path / "untested.xml", rows=("UU.", "UUU"))
    path.write_text(path.read_text().replace('<Bin BinCode="P" BinQuality="Pass"/>',
                                             '<Bin BinCode="U" BinQuality="Untested"/>'))
    with pytest.raises(FabDataError, match="untested.xml: wafers with no data: wafer W1"):
        read_e142(path)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE Map [
 <!ENTITY lol "lol">
""" + "".join(f' <!ENTITY lol{k} "{("&lol" + (str(k - 1) if k > 1 else "") + ";") * 10}">\n'
              for k in range(1, 10)) + """]>
<Map SubstrateId="&lol9;"><Device Rows="1" Columns="1" BinType="ASCII" NullBin=".">
<Row>P</Row></Device></Map>"""


def test_entity_declarations_are_refused_before_any_expansion(tmp_path):
    path = tmp_path / "laughs.xml"
    path.write_text(BILLION_LAUGHS)  # 10**9 "lol"s if expanded
    with pytest.raises(FabDataError, match=r"laughs.xml: the DTD declares entity 'lol' \(line 3\)"):
        read_e142(path)
    # one harmless internal entity is refused too: fabnb, not expat's limits, decides
    g85(path)
    declared = '<?xml version="1.0"?><!DOCTYPE Map [<!ENTITY w "W1">]>'
    path.write_text(path.read_text().replace('<?xml version="1.0"?>', declared))
    with pytest.raises(FabDataError, match="declares entity 'w'"):
        read_e142(path)
    path.write_text('<?xml version="1.0"?><Map><Device')  # malformed: a FabDataError too
    with pytest.raises(FabDataError, match="laughs.xml"):
        read_e142(path)


# --------------------------------------------------------------------------- writing


def test_ids_round_trip_verbatim_and_unrepresentable_ones_are_refused(tmp_path):
    ds = make_dataset(n_wafers=2)
    ds = ds.assign_coords(wafer=("wafer", [" W\t1 ", "W<2>&\"\n"]),
                          lot=("wafer", ["L 1\r", "é😀"]))
    back = read_e142(write_e142(ds, tmp_path / "ids.xml"))
    assert back["wafer"].values.tolist() == ds["wafer"].values.tolist()
    assert back["lot"].values.tolist() == ds["lot"].values.tolist()
    for bad in ("W\x01", "W\x00X", "W\ufffe"):
        target = tmp_path / "bad.xml"
        with pytest.raises(FabDataError, match=r"SubstrateId .* holds character U\+"):
            write_e142(ds.assign_coords(wafer=("wafer", [bad, "W2"])), target)
        assert not target.exists()  # refused before writing: no unreadable file


def test_product_with_a_control_character_is_refused(tmp_path):
    ds = make_dataset(n_wafers=1)
    ds.attrs["product"] = "P\x1b[31m"
    with pytest.raises(FabDataError, match=r"ProductId 'P\\x1b\[31m' holds character U\+001B"):
        write_e142(ds, tmp_path / "p.xml")


# --------------------------------------------------------------------------- large maps


@pytest.mark.parametrize("layout", ["ASCII", "Decimal"])
def test_a_large_map_reads_as_arrays(tmp_path, layout):
    import tracemalloc

    n = 1000
    rng = np.random.default_rng(1)
    grid = rng.integers(0, 4, size=(n, n))  # 0 = no die, 1 pass, 2..3 fail
    if layout == "ASCII":
        rows = ["".join(".PXY"[v] for v in line) for line in grid]
        null, pass_code = ".", "P"
    else:
        rows = [" ".join(f"{v if v else 99:02d}" for v in line) for line in grid]
        null, pass_code = "99", "01"
    path = g85(tmp_path / "big.xml", rows=rows, bin_type=layout, null=null, pass_code=pass_code,
               WaferSize="2000", Columns=str(n))
    tracemalloc.start()
    try:
        ds = read_e142(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 300e6  # 1M positions: ~185 MB as arrays (a str object per die took 424 MB)
    r, c = np.nonzero(grid)  # OriginLocation 2: col = column, row = row, drawn row by row
    np.testing.assert_array_equal(ds["col"].values, c)
    np.testing.assert_array_equal(ds["row"].values, r)
    codes = json.loads(ds.attrs["e142_bin_codes"])
    drawn = ".PXY" if layout == "ASCII" else ["99", "01", "02", "03"]  # by grid value
    expected = np.array([codes.get(code, -99) for code in drawn])[grid[r, c]]
    np.testing.assert_array_equal(ds["hbin"].values[0], expected)
