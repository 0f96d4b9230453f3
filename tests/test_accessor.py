"""``ds.fab`` delegates to fabnb.summary / fabnb.plot and renders a notebook summary."""

import matplotlib

matplotlib.use("Agg")

import base64
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import fabnb
from fabnb import FabDataError, summary


@pytest.fixture(scope="module")
def small():
    return fabnb.synth.fab("small", seed=0)


def test_numbers_delegate_to_summary(small):
    pd.testing.assert_frame_equal(small.fab.yield_by_wafer(), summary.yield_by_wafer(small))
    pd.testing.assert_frame_equal(small.fab.yield_by_lot(), summary.yield_by_lot(small))
    pd.testing.assert_frame_equal(small.fab.zones("T02"), summary.zone_stats(small, "T02"))
    pd.testing.assert_frame_equal(small.fab.zones(), summary.yield_by_zone(small))
    pd.testing.assert_frame_equal(small.fab.bin_counts(), summary.bin_counts(small))
    xr.testing.assert_identical(small.fab.fail_rate(), summary.fail_rate_by_die(small))
    wafer = str(small.wafer.values[4])
    xr.testing.assert_identical(small.fab.radial("T07", wafer),
                                summary.radial_signature(small, "T07", wafer))
    assert small.fab.summary() == summary.overview(small)


def test_summary_counts(small):
    info = small.fab.summary()
    passed = int((small.hbin == 1).sum())
    tested = int((small.hbin != -1).sum())
    assert info["lots"] == len(set(small.lot.values.tolist()))
    assert (info["wafers"], info["dies"], info["tests"]) == (
        small.sizes["wafer"], small.sizes["die"], small.sizes["test"])
    assert info["yield"] == pytest.approx(passed / tested)


def test_lot_subset(small):
    lots = list(dict.fromkeys(small.lot.values.astype(str)))
    one = small.fab.lot(lots[1])
    assert set(one.lot.values.astype(str)) == {lots[1]}
    assert one.sizes["wafer"] == int((small.lot == lots[1]).sum())
    two = small.fab.lot(lots[:2])
    assert two.sizes["wafer"] == int(small.lot.isin(lots[:2]).sum())
    with pytest.raises(FabDataError, match=rf"unknown lot.*NOPE.*{lots[0]}"):
        small.fab.lot("NOPE")
    with pytest.raises(FabDataError, match="no lots selected"):
        small.fab.lot([])
    with pytest.raises(FabDataError, match=r"unknown lot\(s\) 7"):  # was a TypeError
        small.fab.lot(7)


def test_validate_returns_the_dataset(small):
    assert small.fab.validate() is small
    with pytest.raises(FabDataError, match="notch"):
        small.assign_attrs(notch="sideways").fab.validate()


def test_plots_delegate(small):
    import matplotlib.pyplot as plt

    for method, args in [("wafer_map", ("T03",)), ("bin_map", ()), ("stacked_map", ()),
                         ("bin_pareto", ()), ("radial_profile", ("T03",))]:
        ax = getattr(small.fab, method)(*args, ax=Figure().add_subplot())
        assert isinstance(ax, Axes), method
    gallery = small.fab.gallery("T03", wafers=list(small.wafer.values[:4]))
    assert isinstance(gallery, Figure) and len(gallery.axes) == 5
    plt.close("all")


def test_repr_html_summarises_the_dataset(small):
    html = small.fab._repr_html_()
    for lot in set(small.lot.values.astype(str)):
        assert lot in html
    assert f"{small.sizes['wafer']} wafers" in html
    for rate in summary.yield_by_lot(small)["yield"]:
        assert f"{100 * rate:.1f} %" in html
    found = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert found, "no inline PNG"
    assert base64.b64decode(found.group(1))[:8] == b"\x89PNG\r\n\x1a\n"


def test_repr_html_without_bins(small):
    html = small.drop_vars(["hbin", "sbin"]).fab._repr_html_()
    assert "no bins" in html and "<img" in html


def test_unknown_test_names_the_choices(small):
    with pytest.raises(FabDataError, match=r"unknown test 'T99'.*T01"):
        small.fab.wafer_map("T99")
    with pytest.raises(FabDataError, match=r"unknown test 'T99'"):
        small.fab.zones("T99")
    with pytest.raises(FabDataError, match=r"unknown test 'T99'"):
        small.fab.radial("T99")


def test_import_fabnb_stays_light():
    code = ("import sys, fabnb; "
            "print(sorted(m for m in ('matplotlib', 'fabnb.summary', 'fabnb.plot') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_accessor_on_a_lot_matches_filtering_by_hand(small):
    lot = str(small.lot.values[-1])
    by_hand = summary.yield_by_wafer(small)
    np.testing.assert_array_equal(
        small.fab.lot(lot).fab.yield_by_wafer()["passed"], by_hand[by_hand["lot"] == lot]["passed"]
    )
