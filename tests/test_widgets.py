"""The WaferMap widget model, kernel side: traits <-> Dataset, binary buffers, the comm
protocol in both directions (mocked comm), linked selection, bad-input messages and the
static fallback.  The front end itself is tested in tests/browser/."""

from __future__ import annotations

import base64
import json
import re
import warnings
from pathlib import Path

import ipywidgets.comm
import nbformat
import numpy as np
import pytest
import traitlets
from conftest import make_dataset, name_of_test_number
from matplotlib.cbook import boxplot_stats
from nbclient import NotebookClient

from fabnb.errors import FabDataError, FabParameterError
from fabnb.widgets import FabWidgetWarning, WaferMap, _static
from fabnb.widgets.wafermap import decode_f32, decode_i32

TESTS_DIR = Path(__file__).resolve().parent


class RecordingComm:
    """Stands in for the kernel's comm: records what the widget sends and lets the test
    deliver front-end messages to the widget's handler."""

    kernel = "a kernel"
    comm_id = "test-comm"

    def __init__(self, **open_args):
        self.opened = open_args
        self.sent = []
        self.handler = None

    def on_msg(self, callback):
        self.handler = callback

    def send(self, data=None, buffers=None, **kw):
        self.sent.append((data, buffers or []))

    def close(self, *args, **kwargs):
        pass

    def deliver(self, state):
        """A front-end ``update`` message, as JupyterLab's widget manager sends it."""
        self.handler({"content": {"data": {"method": "update", "state": state,
                                           "buffer_paths": []}}, "buffers": []})


@pytest.fixture
def comms(monkeypatch):
    made = []

    def create_comm(**kwargs):
        made.append(RecordingComm(**kwargs))
        return made[-1]

    monkeypatch.setattr(ipywidgets.comm, "create_comm", create_comm)
    return made


@pytest.fixture
def ds():
    d = make_dataset(n_wafers=4, n_tests=3, seed=2)
    d["value"][1, :5, 0] = np.nan  # some unmeasured dies on wafer 1, test T01
    return d


def _whiskers(values):
    """Reference robust limits: matplotlib's box-plot whisker ends with whis = 3."""
    v = np.asarray(values, dtype=float).ravel()
    stats = boxplot_stats(v[np.isfinite(v)], whis=3.0)[0]
    return stats["whislo"], stats["whishi"]


def _quiet(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FabWidgetWarning)  # a good map must not warn
        return WaferMap(**kw)


def test_buffers_hold_the_current_wafer_as_float32_and_int32(ds):
    m = _quiet(ds=ds, test="T02", wafer="L0001-03")
    np.testing.assert_array_equal(decode_f32(m.x), ds["x"].values.astype(np.float32))
    np.testing.assert_array_equal(decode_f32(m.y), ds["y"].values.astype(np.float32))
    np.testing.assert_array_equal(decode_i32(m.col), ds["col"].values)
    np.testing.assert_array_equal(decode_i32(m.row), ds["row"].values)
    expected = ds["value"].sel(wafer="L0001-03", test="T02").values
    np.testing.assert_allclose(decode_f32(m.values), expected, rtol=1e-6)  # float32 precision
    np.testing.assert_array_equal(decode_i32(m.bins), ds["hbin"].sel(wafer="L0001-03").values)
    assert m.message == "" and m.data_wafer == "L0001-03"
    assert m.geometry["n_die"] == ds.sizes["die"] == decode_f32(m.values).size


def test_nan_survives_the_round_trip(ds):
    m = _quiet(ds=ds, test="T01", wafer=1)
    got = decode_f32(m.values)
    want = ds["value"].isel(wafer=1).sel(test="T01").values
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[:5]).all()
    np.testing.assert_allclose(got[5:], want[5:], rtol=1e-6)


def test_python_side_switches_resend_only_that_wafer(ds, comms):
    m = _quiet(ds=ds, test="T01")
    comm = comms[-1]
    for k, wafer in enumerate(m.wafers):
        comm.sent.clear()
        m.wafer = wafer
        np.testing.assert_allclose(
            decode_f32(m.values), ds["value"].isel(wafer=k).sel(test="T01").values, rtol=1e-6)
        np.testing.assert_array_equal(decode_i32(m.bins), ds["hbin"].isel(wafer=k).values)
        if k == 0:
            continue  # wafer 0 is already shown: nothing to send
        # one message; the die data travel as binary buffers, never as JSON lists
        assert len(comm.sent) == 1
        data, buffers = comm.sent[0]
        assert data["method"] == "update"
        assert data["state"]["wafer"] == data["state"]["data_wafer"] == wafer
        assert ["values"] in data["buffer_paths"] and ["bins"] in data["buffer_paths"]
        assert "x" not in data["state"]  # geometry is sent once, not on every switch
        sizes = sorted(memoryview(b).nbytes for b in buffers)
        # values and bins; the int8 under/over flags too when they changed
        assert sizes in ([4 * ds.sizes["die"]] * 2, [ds.sizes["die"]] + [4 * ds.sizes["die"]] * 2)
        json.dumps(data)  # what is left is plain JSON


def test_test_and_var_switches(ds):
    m = _quiet(ds=ds, test="T01", wafer=2)
    m.test = "T03"
    np.testing.assert_allclose(decode_f32(m.values), ds["value"].isel(wafer=2).sel(test="T03"), rtol=1e-6)
    # robust scale: the box plot's whisker ends (whis = 3, Tukey's outer fences) of every
    # wafer of the test, then of the shown wafer
    np.testing.assert_allclose([m.vmin, m.vmax], _whiskers(ds["value"].sel(test="T03").values), rtol=1e-12)
    assert m.scale_label == "robust (Tukey fences, 3 IQR) over all wafers of the test"
    m.scale = "wafer"
    one = ds["value"].isel(wafer=2).sel(test="T03").values
    np.testing.assert_allclose([m.vmin, m.vmax], _whiskers(one), rtol=1e-12)
    assert m.scale_label == "robust (Tukey fences, 3 IQR) over the shown wafer"
    assert (m.unit, m.lsl, m.usl) == ("V", -2.0, 2.0)
    m.var = "hbin"
    assert m.message == ""


def test_front_end_updates_reach_python(ds, comms):
    m = _quiet(ds=ds, test="T01")
    comm = comms[-1]
    comm.deliver({"selected": [7, 3, 3]})
    assert m.selected == [3, 7]
    comm.sent.clear()
    comm.deliver({"wafer": "L0001-04"})  # the wafer picker
    assert m.wafer == "L0001-04" and m.data_wafer == "L0001-04"
    np.testing.assert_allclose(decode_f32(m.values), ds["value"].isel(wafer=3).sel(test="T01"), rtol=1e-6)
    answers = [d for d, _ in comm.sent if d["method"] == "update" and "data_wafer" in d["state"]]
    assert len(answers) == 1  # the kernel answered with the new wafer's data
    assert ["values"] in answers[0]["buffer_paths"] and ["bins"] in answers[0]["buffer_paths"]


def test_select_mode_from_the_front_end_and_bad_modes_refused(ds, comms):
    m = _quiet(ds=ds)
    assert m.select_mode == "box"
    comm = comms[-1]
    comm.sent.clear()
    comm.deliver({"select_mode": "lasso"})  # the map's "select" button
    assert m.select_mode == "lasso"
    # a mode change needs no new wafer data: at most ipywidgets' echo of the change
    assert [d["method"] for d, _ in comm.sent] in ([], ["echo_update"])
    assert all(buffers == [] for _, buffers in comm.sent)
    m.select_mode = "box"  # and from Python, to the browser
    assert comm.sent[-1][0]["state"] == {"select_mode": "box"}
    with pytest.raises(traitlets.TraitError, match="lasso"):
        m.select_mode = "polygon"


def test_linked_selection_both_ways(ds, comms):
    a = _quiet(ds=ds, test="T01")
    b = _quiet(ds=ds, var="hbin")
    link = a.link_selection(b)
    a.selected = [4, 2]
    assert b.selected == [2, 4]
    comms[-1].deliver({"selected": [9]})  # a click in b's view
    assert a.selected == [9]
    link.unlink()
    a.selected = []
    assert b.selected == [9]


def test_link_refuses_maps_of_different_grids(ds):
    other = make_dataset(n_wafers=1, die_mm=10.0)
    with pytest.raises(FabDataError, match="dies"):
        _quiet(ds=ds).link_selection(_quiet(ds=other))


def test_selection_outside_the_grid_and_empty_selection(ds):
    m = _quiet(ds=ds)
    with pytest.raises(FabDataError, match="outside"):
        m.selected = [ds.sizes["die"]]
    with pytest.raises(FabDataError, match="no dies are selected"):
        m.selected_dies()
    m.selected = [5, 1]
    sub = m.selected_dies()
    np.testing.assert_array_equal(sub["x"].values, ds["x"].values[[1, 5]])


@pytest.mark.parametrize("make, words", [
    (lambda d: WaferMap(d, test="T99"), ["'T99'", "unknown test", "T01"]),
    (lambda d: WaferMap(d.drop_vars(["x", "y"])), ["no die coordinate(s) 'x', 'y'"]),
    (lambda d: WaferMap(d, wafer="L0009-01"), ["'L0009-01'", "not in the dataset"]),
    (lambda d: WaferMap(d, wafer=10), ["position 10", "out of range"]),
    (lambda d: WaferMap(d.drop_vars("hbin"), var="hbin", test="T01"), []),
])
def test_bad_input_gives_a_widget_with_a_message(ds, make, words):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = make(ds)
    for w in words:
        assert w in m.message
    if words:
        assert any(issubclass(c.category, FabWidgetWarning) for c in caught)
    else:  # missing hbin falls back to the values, no message
        assert m.var == "value" and m.message == ""


def test_all_nan_wafer_message_and_recovery(ds):
    ds["value"][2] = np.nan
    m = _quiet(ds=ds, test="T02", wafer=0)
    with pytest.warns(FabWidgetWarning, match="all NaN"):
        m.wafer = "L0001-03"
    assert "L0001-03" in m.message and np.isnan(decode_f32(m.values)).all()
    m.wafer = "L0001-01"
    assert m.message == ""


def test_bad_test_then_good_test_clears_the_message(ds):
    with pytest.warns(FabWidgetWarning):
        m = WaferMap(ds, test="nope")
    m.test = "T02"
    assert m.message == ""
    np.testing.assert_allclose(decode_f32(m.values), ds["value"].isel(wafer=0).sel(test="T02"), rtol=1e-6)


@pytest.mark.parametrize("kwargs, name", [
    (dict(var="valu"), "var"),  # was silently shown as "value"
    (dict(scale="global"), "scale"),  # was a message and the test scale
    (dict(size=0), "size"),
    (dict(size=2.5), "size"),  # was silently truncated to 2
    (dict(clim=(1.0, 0.0)), "clim"),
    (dict(clim=(0.0, np.nan)), "clim"),
    (dict(clim="wide"), "clim"),
    (dict(scale="p1-p99"), "scale"),
])
def test_bad_constructor_options_raise_the_parameter_error(ds, kwargs, name):
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of WaferMap"):
        WaferMap(ds, **kwargs)


def test_non_dataset_input_raises():
    with pytest.raises(FabDataError, match="xarray.Dataset"):
        WaferMap({"x": [1, 2]})


def test_static_image_fallback(ds):
    m = _quiet(ds=ds, test="T01")
    data, _ = m._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    png = base64.b64decode(data["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    with pytest.warns(FabWidgetWarning):
        bad = WaferMap(ds, test="T99")
    data, _ = bad._repr_mimebundle_()
    assert "image/png" not in data and "T99" in data["text/plain"]


def test_front_end_files_are_found_and_missing_ones_are_named(monkeypatch, tmp_path):
    assert "export default" in _static.static_file("wafermap.js").read_text()
    assert (_static.static_dir() / "wafermap.css").is_file()
    monkeypatch.setattr(_static, "CANDIDATES", (tmp_path / "a", tmp_path / "b"))
    with pytest.raises(FabDataError, match="wafermap.js"):
        _static.static_dir()


def test_executed_notebook_keeps_widget_state(tmp_path):
    """nbclient (what papermill runs) stores the widget state, buffers included, in the
    notebook metadata, so nbconvert HTML can render the widget without a kernel."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r})\n"
        "from conftest import make_dataset\n"
        "from fabnb.widgets import WaferMap\n"
        "WaferMap(make_dataset(n_wafers=2), test='T02', wafer=1)"
    )]
    NotebookClient(nb, kernel_name="python3", timeout=120, store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    maps = [m for m in state.values() if m["state"].get("_anywidget_id", "").endswith("WaferMap")]
    assert len(maps) == 1
    saved = maps[0]
    assert saved["state"]["data_wafer"] == "L0001-02"
    paths = {tuple(b["path"]): b for b in saved["buffers"]}
    values = np.frombuffer(base64.b64decode(paths[("values",)]["data"]), dtype="<f4")
    expected = make_dataset(n_wafers=2)["value"].isel(wafer=1).sel(test="T02").values
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    view = nb.cells[0].outputs[0]["data"]
    assert "image/png" in view and "application/vnd.jupyter.widget-view+json" in view


# ---------------------------------------------------------------- SamplingExplorer
@pytest.fixture
def probe_ds():
    """A smooth radial-plus-tilt field with small noise: what a GP can reconstruct."""
    d = make_dataset(n_wafers=3, n_tests=1, seed=4, die_mm=8.0)
    x, y = d["x"].values, d["y"].values
    field = np.cos(np.hypot(x, y) / 35.0) + y / 120.0
    noise = np.random.default_rng(4).normal(0, 0.01, d["value"].shape[:2])
    d["value"][:, :, 0] = field[None, :] + noise + np.arange(3)[:, None] * 0.05
    return d


def test_explorer_follows_progressive_sampling(probe_ds):
    from fabnb import spatial
    from fabnb.widgets import SamplingExplorer

    ex = SamplingExplorer(probe_ds, test="T01", wafer="L0001-02", method="gp-ps", seed=3)
    xy = np.c_[probe_ds["x"].values, probe_ds["y"].values]
    truth = probe_ds["value"].sel(wafer="L0001-02", test="T01").values
    reference = list(spatial.progressive_states(xy, truth, budget=0.10, step=0.025, seed=3))
    counts = [ex.n_sampled]
    while ex.step_button.disabled is False:
        ex.step()
        counts.append(ex.n_sampled)
    assert counts == [s.n_sampled for s in reference]
    assert ex.n_sampled == ex.progress.value == ex.progress.max == round(0.10 * truth.size)
    last = reference[-1]
    assert ex.maps["measured"].selected == np.flatnonzero(last.sampled).tolist()
    np.testing.assert_allclose(decode_f32(ex.maps["predicted"].values), last.mean, rtol=1e-5, atol=1e-6)
    assert ex.epsilon == pytest.approx(spatial.spec_range_error(truth, last.mean, last.sampled))
    shared = _whiskers(truth)  # measured and predicted on the truth's robust scale
    for name in ("measured", "predicted"):
        np.testing.assert_allclose([ex.maps[name].vmin, ex.maps[name].vmax], shared, rtol=1e-9)
    assert not ex.maps["measured"].controls
    png = base64.b64decode(ex._repr_mimebundle_()["image/png"])  # static fallback
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_explorer_methods_and_manual_samples(probe_ds):
    from fabnb.widgets import SamplingExplorer

    ex = SamplingExplorer(probe_ds, test="T01", method="gp-st-ps")
    first = ex.n_sampled
    ex.step_button.click()
    assert ex.n_sampled > first
    ex.method_pick.value = "gp"  # one shot: the whole budget at random, nothing to step
    assert ex.n_sampled == ex.progress.max and ex.step_button.disabled
    truth = probe_ds["value"].isel(wafer=0).sel(test="T01").values
    fresh = [d for d in range(truth.size) if d not in ex.maps["measured"].selected][:3]
    before = np.abs(decode_f32(ex.maps["predicted"].values)[fresh] - truth[fresh])
    ex.maps["predicted"].selected = [fresh[0]]  # what a click in the browser sends
    ex.add_dies(fresh[1:])
    assert set(fresh) <= set(ex.maps["measured"].selected)
    after = np.abs(decode_f32(ex.maps["predicted"].values)[fresh] - truth[fresh])
    assert after.sum() < before.sum()  # the refit GP passes (near) the added dies


def test_explorer_explains_a_model_it_cannot_fit(probe_ds):
    from fabnb.widgets import SamplingExplorer

    ex = SamplingExplorer(probe_ds, test="T01")
    ex.step_pick.value = 0.005  # a first sample of ~2 dies: too few for a GP
    assert "Cannot sample" in ex.status.value and "too few" in ex.status.value
    assert ex.step_button.disabled
    ex.step_pick.value = 0.025
    assert "dies sampled" in ex.status.value and not ex.step_button.disabled


def test_explorer_static_image_names_the_live_scale(probe_ds):
    from fabnb.widgets import SamplingExplorer

    ex = SamplingExplorer(probe_ds, test="T01", wafer="L0001-02", method="gp-ps", seed=3)
    fig = ex.to_image()
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    for name in ("measured", "predicted"):  # was "fixed ... (vmin/vmax)", not the live label
        assert any(ex.maps[name].color_scale.label in label for label in labels)


@pytest.mark.parametrize("kwargs, name", [
    (dict(method="kriging"), "method"),  # was a FabDataError, not the parameter error
    (dict(budget=2.0), "budget"),  # was silently clamped to the slider's 50 %
    (dict(budget=0.0), "budget"),
    (dict(step=0.5), "step"),
    (dict(size=-1), "size"),
])
def test_explorer_bad_options_raise_the_parameter_error(probe_ds, kwargs, name):
    from fabnb.widgets import SamplingExplorer

    with pytest.raises(FabParameterError, match=f"'{name}' parameter of SamplingExplorer"):
        SamplingExplorer(probe_ds, **kwargs)


def test_explorer_unknown_test_or_wafer_is_named(probe_ds):
    from fabnb.widgets import SamplingExplorer

    # the Dropdowns raised traitlets' "Invalid selection: value not found"
    with pytest.raises(FabDataError, match="unknown test 'T99'"):
        SamplingExplorer(probe_ds, test="T99")
    with pytest.raises(FabDataError, match="unknown wafer.*L0009-01"):
        SamplingExplorer(probe_ds, wafer="L0009-01")


# --------------------------------------------------------------------------- real tester data


def test_wafermap_takes_a_test_by_number_and_shows_number_and_clean_name(lot2):
    m = _quiet(ds=lot2, test=1590)
    assert m.test == name_of_test_number(lot2, 1590) and m.message == ""
    np.testing.assert_allclose(decode_f32(m.values), lot2["value"].sel(test=m.test).values[0], rtol=1e-6)
    assert m.test_labels[m.tests.index(m.test)] == "1590 Svrr <> EA_SVRR"
    assert m.test_labels[m.tests.index(name_of_test_number(lot2, 1470))] == "1470 Imax bef zap <> IMAX"  # tab gone
    m.test = "1460"  # what the picker or a user types
    assert m.test == name_of_test_number(lot2, 1460) and m.unit == "ohm"
    m.test = "RDS_ON"
    assert m.test == name_of_test_number(lot2, 1460)


def test_wafermap_explains_an_ambiguous_test(lot2):
    with pytest.warns(FabWidgetWarning, match="ambiguous"):
        m = WaferMap(lot2, test="sim1")
    assert "1132 sim1 ref <> Simule_1" in m.message and "Pick a test" in m.message
    m.test = "1132"
    assert m.message == "" and m.test == name_of_test_number(lot2, 1132)


def test_wafermap_bin_colours_come_from_the_palette(lot2, ds):
    from fabnb.plot import bin_hex

    m = _quiet(ds=lot2, var="hbin")
    codes = np.union1d(np.unique(lot2["hbin"].values), [-1, 1])
    assert m.bin_colors == {str(k): v for k, v in bin_hex(codes).items()}
    assert len(set(m.bin_colors.values())) == len(m.bin_colors)
    other = _quiet(ds=ds.assign(hbin=ds["hbin"].where(ds["hbin"] != 2, 8)), var="hbin")  # bins 1 and 8
    assert other.bin_colors["8"] == m.bin_colors["8"] and other.bin_colors["1"] == m.bin_colors["1"]


def test_wafermap_units_follow_the_coordinates(lot2, ds):
    assert _quiet(ds=lot2).geometry["units"] == "die pitch"
    assert _quiet(ds=ds).geometry["units"] == "mm"


def test_sampling_explorer_picker_shows_number_and_clean_name(lot2):
    from fabnb.widgets import SamplingExplorer

    ex = SamplingExplorer(lot2, test=1460, budget=0.05, step=0.025, seed=0)
    assert ex.test_pick.value == name_of_test_number(lot2, 1460)
    assert ex.test_pick.label == "1460 Rds on <> RDS_ON"


# ------------------------------------------------- front-end structure (issue 21)


def test_die_data_are_read_only_numpy_arrays_sent_as_binary_buffers(ds, comms):
    m = _quiet(ds=ds, test="T02", wafer=1)
    assert isinstance(m.values, np.ndarray) and m.values.dtype == np.float32
    assert isinstance(m.bins, np.ndarray) and m.bins.dtype == np.int32
    np.testing.assert_allclose(m.values, ds["value"].isel(wafer=1).sel(test="T02"), rtol=1e-6)
    with pytest.raises(ValueError, match="read-only"):
        m.values[0] = 1.0  # an in-place edit would never reach the browser
    with pytest.raises(traitlets.TraitError, match="1-d array"):
        m.values = np.zeros((2, 2))
    # the serialisers: a memoryview (ipywidgets sends it as a buffer) and back
    to_json = m.trait_metadata("values", "to_json")
    from_json = m.trait_metadata("values", "from_json")
    sent = to_json(m.values, m)
    assert isinstance(sent, memoryview) and sent.nbytes == 4 * ds.sizes["die"]
    np.testing.assert_array_equal(from_json(sent, m), m.values)  # the same bytes back
    comm = comms[-1]
    comm.sent.clear()
    m.values = m.values.copy()  # an equal array: nothing to send
    assert comm.sent == []


def test_the_synced_trait_list_is_declared_once_in_python(ds):
    m = _quiet(ds=ds)
    assert m.synced == sorted(WaferMap.class_own_traits(sync=True))
    assert {"values", "bins", "screen_rule", "yields", "selected", "debug"} <= set(m.synced)
    js = _static.static_file("wafermap.js").read_text()
    read = set(re.findall(r'model\.get\("(\w+)"\)', js))
    scalars = re.search(r"for \(const key of \[([^\]]*)\]\)", js).group(1)  # readScene's list
    read |= set(re.findall(r'"(\w+)"', scalars))
    read |= set(re.findall(r"(\w+): (?:Float32|Int32)Array", js))
    assert read and read <= set(m.synced), read - set(m.synced)  # the front end reads only declared traits
    assert "model.on(`change:${k}`, schedule)" in js and 'model.get("synced")' in js


def test_debug_hooks_follow_the_trait_and_the_environment(ds, monkeypatch):
    monkeypatch.delenv("FABNB_WIDGET_DEBUG", raising=False)
    assert _quiet(ds=ds).debug is False
    assert _quiet(ds=ds, debug=True).debug is True
    monkeypatch.setenv("FABNB_WIDGET_DEBUG", "1")
    assert _quiet(ds=ds).debug is True
    assert _quiet(ds=ds, debug=False).debug is False
    js = _static.static_file("wafermap.js").read_text()
    hooks = js[js.index("function debugHooks"):js.index("function renderNow")]
    assert "if (!scene.debug) return;" in hooks  # every hook sits behind the flag
    outside = js.replace(hooks, "")
    for hook in ("fabnbDieClientXY =", "fabnbSelection =", "dataset.renderMs =", "dataset.renders ="):
        assert hook in hooks and hook not in outside


def test_header_shows_wafer_and_lot_yield(fab_small):
    ds = fab_small[0]
    m = _quiet(ds=ds, wafer=4, var="hbin")
    hbin = ds["hbin"].values
    k = 4
    in_lot = ds["lot"].values == ds["lot"].values[k]
    tested, passed = hbin[k] != -1, hbin[k] == 1
    lot_tested, lot_passed = hbin[in_lot] != -1, hbin[in_lot] == 1
    y = m.yields
    assert (y["wafer"], y["lot"]) == (str(ds.wafer.values[k]), str(ds["lot"].values[k]))
    assert (y["wafer_passed"], y["wafer_tested"]) == (passed.sum(), tested.sum())
    assert (y["lot_passed"], y["lot_tested"], y["lot_wafers"]) == (lot_passed.sum(), lot_tested.sum(), in_lot.sum())
    assert y["wafer_yield"] == pytest.approx(passed.sum() / tested.sum(), rel=1e-12)
    assert y["lot_yield"] == pytest.approx(lot_passed.sum() / lot_tested.sum(), rel=1e-12)
    m.wafer = m.wafers[0]
    assert m.yields["wafer"] == m.wafers[0]
    assert _quiet(ds=ds.drop_vars(["hbin", "sbin"])).yields == {}  # no bins: no yield, said so by omission


def test_selected_dies_default_to_the_shown_wafer(ds):
    m = _quiet(ds=ds, wafer="L0001-03")
    m.selected = [5, 1]
    one = m.selected_dies()
    assert one["wafer"].ndim == 0 and str(one["wafer"].values) == "L0001-03"
    assert one["value"].dims == ("die", "test")
    np.testing.assert_array_equal(one["value"].values, ds["value"].sel(wafer="L0001-03").values[[1, 5]])
    every = m.selected_dies(all_wafers=True)
    assert every.sizes == {**ds.sizes, "die": 2}
    with pytest.raises(FabParameterError, match="'all_wafers' parameter of selected_dies"):
        m.selected_dies(all_wafers="yes")


# ------------------------------------------------- screening layer (issue 24)


@pytest.fixture(scope="module")
def screened():
    import fabnb

    ds = fabnb.synth.fab("small", seed=0)
    return ds, fabnb.screen.screen(ds)


def _wafer_with(result, rule):
    first = result["first_rule"].values
    return int(np.flatnonzero((first == rule).any(axis=1))[0])


def test_screen_layer_traits(screened, comms):
    from fabnb.plot.screen import RULE_COLORS, RULE_LABELS

    ds, res = screened
    m = _quiet(ds=ds, test="T01", screen=res)
    assert m.screen_rules == list(res.attrs["rules"])
    assert m.rule_colors == {r: RULE_COLORS[r] for r in res.attrs["rules"]}
    assert m.rule_labels == {r: RULE_LABELS[r] for r in res.attrs["rules"]}
    comm = comms[-1]
    for k in range(ds.sizes["wafer"]):
        comm.sent.clear()
        m.wafer = m.wafers[k]
        first = res["first_rule"].isel(wafer=k).values
        want = np.array([m.screen_rules.index(r) if r else -1 for r in first])
        np.testing.assert_array_equal(m.screen_rule, want)
        assert sorted(map(int, m.screen_reasons)) == np.flatnonzero(first != "").tolist()
        if k and (first != "").any():  # a binary buffer in the wafer's one message
            assert ["screen_rule"] in comm.sent[0][0]["buffer_paths"]
    assert m.message == ""


def test_screen_reasons_name_the_test_value_and_limit(screened):
    ds, res = screened
    k = _wafer_with(res, "static_pat")
    one = res.isel(wafer=k)
    die = int(np.flatnonzero(one["first_rule"].values == "static_pat")[0])
    m = _quiet(ds=ds, wafer=k, screen=res)
    why = m.screen_reasons[str(die)].split("\n")
    test = str(res["test"].values[np.flatnonzero(one["static_pat_fail"].values[die])[0]])
    value = float(ds["value"].isel(wafer=k, die=die).sel(test=test))
    lo, hi = float(res["pat_lsl"].sel(test=test)), float(res["pat_usl"].sel(test=test))
    unit = str(ds["unit"].sel(test=test).values)
    limit = f"< PAT LSL {lo:.4g} {unit}" if value < lo else f"> PAT USL {hi:.4g} {unit}"
    assert why[0] == f"static PAT: {test} = {value:.4g} {unit} {limit}" or why[0].startswith(
        f"static PAT: {test} = {value:.4g} {unit} {limit} (+")
    assert value < lo or value > hi  # the limit really is crossed

    k = _wafer_with(res, "gdbn")
    die = int(np.flatnonzero(res["first_rule"].values[k] == "gdbn")[0])
    m.wafer = m.wafers[k]
    count = float(res["bad_neighbours"].values[k, die])
    assert f"GDBN: {count:g} bad neighbours (flagged at ≥ 5)" in m.screen_reasons[str(die)]
    assert count >= 5

    k = _wafer_with(res, "zpat")
    die = int(np.flatnonzero(res["first_rule"].values[k] == "zpat")[0])
    m.wafer = m.wafers[k]
    rate = float(res["location_fail_rate"].values[k, die])
    assert f"Z-PAT: this location fails on {100 * rate:.0f} % of the lot's wafers" in m.screen_reasons[str(die)]


def test_show_screen_attaches_replaces_and_removes(screened):
    import fabnb

    ds, res = screened
    m = _quiet(ds=ds, var="hbin")
    assert m.screen_rules == [] and (m.screen_rule == -1).all()
    m.show_screen(fabnb.screen.screen(ds, rules="gdbn"))
    assert m.screen_rules == ["gdbn"] and set(np.unique(m.screen_rule)) <= {-1, 0}
    m.show_screen(None)
    assert m.screen_rules == [] and m.screen_reasons == {} and (m.screen_rule == -1).all()


def test_screen_of_another_dataset_is_refused_or_explained(screened, ds):
    fab, res = screened
    with pytest.raises(FabDataError, match="256 dies"):
        WaferMap(ds, screen=res)  # another die grid
    with pytest.raises(FabDataError, match=r"fabnb.screen.screen\(\) returns"):
        WaferMap(fab, screen=fab)  # not a screening result
    with pytest.warns(FabWidgetWarning, match="not in the screening result"):
        m = WaferMap(fab, wafer=1, screen=res.isel(wafer=[0]))
    assert "no screen layer" in m.message and (m.screen_rule == -1).all()
    m = _quiet(ds=fab, screen=res)
    with pytest.warns(FabWidgetWarning, match="no longer matches"):
        m.update_dataset(ds)
    assert m.screen_rules == []


# ---------------------------------------------------------------- colour scale
def test_spec_scale_traits_on_the_real_wafer(lot2, comms):
    """scale="spec" on "Ref aft zap" (1190, LSL 3.34, USL 3.385 v): the limits, the label,
    the colours and the counts the front end draws are Python's, counted directly."""
    from fabnb.plot.color_scale import OVER_COLOR, UNDER_COLOR

    name = name_of_test_number(lot2, 1190)
    v = lot2["value"].sel(test=name).values.ravel()
    m = _quiet(ds=lot2, test=1190, scale="spec")
    assert (m.vmin, m.vmax) == (3.34, 3.385) == (m.lsl, m.usl)  # the file's limits, as read
    assert m.scale_label == "spec limits LSL 3.34 – USL 3.385 v"
    assert (m.n_under, m.n_over) == ((v < 3.34).sum(), (v > 3.385).sum()) == (0, 6)
    assert (m.under_label, m.over_label) == ("below LSL 3.34 (0)", "above USL 3.385 (6)")
    assert (m.under_color, m.over_color, m.extend) == (UNDER_COLOR, OVER_COLOR, "both")
    # the dies the front end paints over/under: Python's per-die call, sent as int8 bytes
    assert m.beyond.dtype == np.int8 and m.beyond.shape == v.shape
    np.testing.assert_array_equal(m.beyond, (v > 3.385).astype(int) - (v < 3.34))
    # the browser gets them: the colours with the widget's state, the scale with the wafer
    assert comms[-1].opened["data"]["state"]["over_color"] == OVER_COLOR
    sent = comms[-1].sent[-1][0]["state"]
    assert (sent["scale_label"], sent["n_over"], sent["vmax"]) == (m.scale_label, 6, 3.385)
    assert {"scale_label", "under_color", "over_color", "n_under", "n_over", "extend"} <= set(m.synced)


def test_clim_label_says_fixed_and_follows_a_later_clim(lot2):
    name = name_of_test_number(lot2, 1590)
    v = lot2["value"].sel(test=name).values.ravel()
    m = _quiet(ds=lot2, test=1590, clim=(82.0, 83.5))
    assert m.scale_label == "fixed 82 – 83.5 db (clim)"  # was "scale: test P1–P99"
    assert (m.vmin, m.vmax) == (82.0, 83.5)
    assert (m.n_under, m.n_over) == ((v < 82).sum(), (v > 83.5).sum())
    m.clim = None  # back to the robust scale of the test, redrawn at once
    assert m.scale_label.startswith("robust") and m.n_under == m.n_over == 0
    np.testing.assert_allclose([m.vmin, m.vmax], _whiskers(v), rtol=1e-12)
    with pytest.raises(FabParameterError, match="'clim' parameter of WaferMap"):
        m.clim = (2.0, 1.0)


def test_eight_outliers_do_not_move_the_widget_scale(lot2):
    """8 extreme dies injected into the real wafer's "Svrr" (1590) readings: the default
    (robust) scale stays inside the clean readings' range; the 8 are drawn over."""
    name = name_of_test_number(lot2, 1590)
    clean = lot2["value"].sel(test=name).values[0].copy()
    measured = np.flatnonzero(np.isfinite(clean))
    dirty = lot2.copy(deep=True)
    k = list(lot2["test"].values).index(name)
    bad = clean.copy()
    bad[measured[::90][:8]] = 1e4
    dirty["value"].values[0, :, k] = bad
    m = _quiet(ds=dirty, test=1590)
    assert np.nanmin(clean) <= m.vmin < m.vmax <= np.nanmax(clean)
    assert m.n_over == 8 and m.over_label.endswith("(8)")
    assert np.nanpercentile(bad, 99) > np.nanmax(clean)  # the old P1–P99 scale was saturated


def test_spec_limit_labels_never_overlap_each_other_or_leave_the_bar(tmp_path):
    """layoutMarks, the front end's pure placement of the LSL/USL labels beside the colour
    bar (their own column, so the tick labels are never under them), run by Node on 300
    random cases (two limits, at times only a pixel apart, anywhere on the bar): labels
    stay in the column, in the limits' order, without overlapping; a label with room is
    centred on its limit."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the front end's pure functions are tested in Chromium only")
    rng = np.random.default_rng(21)
    cases = [sorted(rng.uniform(0, 200, 2) if k % 3 else rng.uniform(0, 200) + rng.uniform(0, 3, 2))
             for k in range(300)] + [[0.0, 200.0], [199.0, 200.0], [0.0, 1.0], [100.0]]
    script = tmp_path / "layout.mjs"
    module = _static.static_file("wafermap.js").as_uri()
    script.write_text(f'import {{ layoutMarks }} from "{module}";\n'
                      f"const cases = {json.dumps([list(map(float, c)) for c in cases])};\n"
                      "console.log(JSON.stringify(cases.map((ys) => layoutMarks(ys, 200, 13))));\n")
    result = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for ys, tops in zip(cases, json.loads(result.stdout)):
        tops = np.asarray(tops)
        assert tops.min() >= 0 and tops.max() <= 200 - 13, (ys, tops)
        assert np.all(np.diff(tops) >= 13 - 1e-9), (ys, tops)  # sorted cases: order kept, no overlap
        for y, top in zip(ys, tops):
            if len(ys) == 1 and 6.5 <= y <= 193.5:
                assert top == pytest.approx(y - 6.5, abs=1e-9)


def test_static_image_has_the_live_maps_scale_and_label(lot2):
    from matplotlib.figure import Figure

    for kwargs in (dict(scale="spec"), dict(scale="test"), dict(clim=(3.3, 3.4))):
        m = _quiet(ds=lot2, test=1190, **kwargs)
        ax = m.to_image(ax=Figure().add_subplot())
        assert ax.figure.axes[-1].get_ylabel().splitlines()[1] == m.scale_label == m.color_scale.label
        dies = [c for c in ax.collections if c.get_gid() == "fabnb-dies"][0]
        assert (dies.norm.vmin, dies.norm.vmax) == (m.vmin, m.vmax)  # the same numbers, passed on
