"""fabnb.report: parameter checks before any kernel, execution, HTML, failures."""

import ast
import html as H
import json
import re
import uuid
import warnings
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest
import xarray as xr
from _templates import markdown_sections, write_template

import fabnb
from fabnb import FabDataError, FabParameterError
from fabnb.report import (
    ReportError,
    ReportExecutionError,
    data_notes_html,
    describe_dataset,
    html_table,
    list_templates,
    load_dataset,
    lot_output,
    md_escape,
    parse_value,
    read_parameters,
    run,
    run_lots,
    simulator_truth,
    template_path,
)

TINY_PARAMETERS = """\
title = "Tiny"
n = 1
ratio = 0.5
flag = False
lot = None
dataset = "synthetic"
"""

SHOW = """\
from IPython.display import Markdown, display
display(Markdown(f"# {title}"))
print(f"n={n!r} ratio={ratio!r} flag={flag!r} lot={lot!r} dataset={dataset!r}")
"""

WIDGET = """\
import ipywidgets
ipywidgets.IntSlider(value=n, description="n")
"""

PLOT = """\
import matplotlib.pyplot as plt
plt.plot([0, 1], [1, 0])
plt.show()
"""


@pytest.fixture
def no_kernel(monkeypatch):
    """Make any attempt to execute a notebook fail the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a kernel was started although the parameters were bad")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)


def test_lot_report_is_listed_and_resolves():
    assert "lot_report" in list_templates()
    assert template_path("lot_report").name == "lot_report.ipynb"
    assert template_path("lot_report.ipynb") == template_path("lot_report")


def test_declared_parameters_agree_with_papermill():
    path = template_path("lot_report")
    ours = read_parameters(path)
    theirs = papermill.inspect_notebook(str(path))
    assert set(ours) == set(theirs)
    assert {"dataset", "preset", "seed", "lot", "tests", "title"} <= set(ours)
    for name, default in ours.items():  # papermill keeps the default's source text
        assert ast.literal_eval(theirs[name]["default"]) == default


@pytest.mark.parametrize(
    "text, default, expected",
    [
        ("7", 0, 7), ("-2.5", 0.0, -2.5), ("true", False, True), ("None", None, None),
        ("null", 0, None), ("[T01, T02]", None, ["T01", "T02"]), ("L0001", None, "L0001"),
        ("2024", "title", "2024"), ("none", "title", "none"),
    ],
)
def test_parse_value(text, default, expected):
    assert parse_value(text, default) == expected


@pytest.mark.parametrize(
    "template, parameters, error, words",
    [
        ("no_such_report", {}, ReportError, ["no_such_report", "lot_report"]),
        ("elsewhere/lot_report.ipynb", {}, ReportError, ["no notebook at", "elsewhere"]),
        ("lot_report", {"colour": "red"}, ReportError, ["'colour'", "preset", "seed", "title"]),
        ("lot_report", {"seed": "3"}, ReportError, ["'seed'", "expects int", "str"]),
        ("lot_report", {"seed": 2.5}, ReportError, ["'seed'", "expects int", "float"]),
        ("lot_report", {"preset": 1}, ReportError, ["'preset'", "expects str"]),
        ("lot_report", {"dataset": "missing/fab.zarr"}, FabDataError, ["missing/fab.zarr", "does not exist"]),
    ],
)
def test_bad_input_is_refused_before_any_kernel(tmp_path, no_kernel, template, parameters, error, words):
    with pytest.raises(error) as caught:
        run(template, parameters, output=tmp_path / "out" / "report.html")
    for word in words:
        assert word in str(caught.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_existing_folder_as_output_is_refused_before_any_kernel(tmp_path, no_kernel):
    """Issue 25: ``-o existing_folder`` replaced the folder."""
    folder = tmp_path / "existing_folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(FabDataError, match="existing_folder: it is a folder"):
        run("lot_report", {}, output=folder)
    (tmp_path / "r.ipynb").mkdir()
    with pytest.raises(FabDataError, match="r.ipynb: it is a folder"):
        run("lot_report", {}, output=tmp_path / "r.html")
    assert (folder / "keep.txt").read_text() == "mine" and (tmp_path / "r.ipynb").is_dir()


def test_bad_timeouts_and_workers_are_parameter_errors(tmp_path, no_kernel):
    for name in ("start_timeout", "execution_timeout"):
        with pytest.raises(FabParameterError, match=f"'{name}' parameter of run"):
            run("lot_report", {}, output=tmp_path / "r.html", **{name: 0})
    with pytest.raises(FabParameterError, match="'workers' parameter of run_lots"):
        run_lots("lot_report", ["L0001"], output=tmp_path / "r.html", workers=0)


def test_wrong_type_in_a_tiny_template(tmp_path, no_kernel):
    path = write_template(tmp_path / "tiny.ipynb", TINY_PARAMETERS, SHOW)
    for bad in ({"flag": 1}, {"n": True}, {"title": None}, {"ratio": "0.5"}):
        with pytest.raises(ReportError, match=next(iter(bad))):
            run(path, bad, output=tmp_path / "r.html")
    with pytest.raises(ReportError, match="must be the HTML path"):
        run(path, {}, output=tmp_path / "r.ipynb")


def test_parameters_reach_the_notebook_and_html(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text("wafer\n")
    title = f"Report-{uuid.uuid4().hex[:10]}"
    path = write_template(tmp_path / "tiny.ipynb", TINY_PARAMETERS, SHOW, PLOT, WIDGET)
    report = run(path, {"title": title, "n": 7, "ratio": 2, "flag": True, "lot": "L0003",
                        "dataset": "data.csv"}, output="out/tiny.html")

    assert report.html == tmp_path.joinpath("out", "tiny.html").relative_to(tmp_path)
    html = (tmp_path / report.html).read_text()
    assert f">{title}<" in html  # the heading, and the page title
    assert f"<title>{title}</title>" in html
    assert f"n=7 ratio=2 flag=True lot='L0003' dataset='{tmp_path / 'data.csv'}'" in html
    assert "data:image/png;base64," in html  # the figure is embedded
    assert "display(Markdown" not in html and "plt.plot" not in html  # inputs hidden
    # the slider's state travels with the page, so it renders without a kernel
    assert 'application/vnd.jupyter.widget-state+json' in html
    assert '"description": "n"' in html and '"value": 7' in html

    executed = nbformat.read(str(tmp_path / report.notebook), as_version=4)
    assert executed.metadata["papermill"]["parameters"]["title"] == title
    assert executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert not [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
                if o.output_type == "error"]
    assert not list((tmp_path / "out").glob(".tmp-*"))  # no temporary files left


def test_failing_cell_keeps_partial_notebook_and_names_the_cell(tmp_path):
    path = write_template(
        tmp_path / "fails.ipynb", TINY_PARAMETERS,
        'print("before-the-failure")',
        'raise ValueError(f"boom-{n}")\nprint("same cell")',
        'print("never-run")',
    )
    with pytest.raises(ReportExecutionError) as caught:
        run(path, {"n": 42}, output=tmp_path / "out" / "fails.html")
    err = caught.value
    message = str(err)
    assert err.cell_index == 3  # markdown, parameters, print, raise
    assert "cell 3" in message and 'raise ValueError(f"boom-{n}")' in message
    assert "ValueError: boom-42" in message
    assert err.notebook == tmp_path / "out" / "fails.ipynb"
    assert str(err.notebook) in message
    assert not (tmp_path / "out" / "fails.html").exists()

    partial = nbformat.read(str(err.notebook), as_version=4)
    texts = [o.get("text", "") for c in partial.cells if c.cell_type == "code" for o in c.outputs]
    assert any("before-the-failure" in t for t in texts)
    assert not any("never-run" in t for t in texts)
    errors = [o for c in partial.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert [(e.ename, e.evalue) for e in errors] == [("ValueError", "boom-42")]


@pytest.mark.timeout(180)
def test_dead_kernel_stops_the_run(tmp_path):
    path = write_template(tmp_path / "dies.ipynb", TINY_PARAMETERS, 'print("alive")',
                          "import os\nos._exit(1)", 'print("never-run")')
    with pytest.raises(ReportExecutionError, match="DeadKernel|died") as caught:
        run(path, {}, output=tmp_path / "dies.html", execution_timeout=120)
    assert not (tmp_path / "dies.html").exists()
    assert caught.value.notebook is None or caught.value.notebook.exists()


def test_lot_output_names():
    assert lot_output("out/r.html", "L0001").as_posix() == "out/r_L0001.html"
    assert lot_output("r.html", "A/B 1").as_posix() == "r_A_B_1.html"


ANALYSIS_TEMPLATES = ["lot_report", "doe_tutorial", "killer_tool", "metrology_vm", "pat_screen", "r2r_control",
                      "spc_fdc", "virtual_probe_study", "vmin_study", "yield_study"]
#: templates that simulate their own process instead of analysing a contract Dataset
SELF_SIMULATING = {"doe_tutorial", "r2r_control"}
#: words of prose a section heading needs under it to tell a reader what they see
MIN_EXPLANATION_WORDS = 15


@pytest.mark.parametrize("name", ANALYSIS_TEMPLATES)
def test_each_analysis_notebook_is_a_report_template(name):
    """Listed by `fabnb report --list`, takes the synthetic preset and seed as parameters,
    and reads without code: a title and section headings in markdown."""
    assert name in list_templates()
    declared = read_parameters(template_path(name))
    assert {"preset", "seed"} <= set(declared), f"{name}: parameters cell lacks preset/seed"
    nb = nbformat.read(str(template_path(name)), as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert markdown and nb.cells[0].cell_type == "markdown" and markdown[0].startswith("# ")
    assert sum(line.startswith("## ") for text in markdown for line in text.splitlines()) >= 2
    if name not in SELF_SIMULATING:
        assert declared.get("dataset") == "synthetic", f"{name}: no dataset parameter defaulting to 'synthetic'"
    short = {h: len(w) for h, w in markdown_sections(nb).items() if len(w) < MIN_EXPLANATION_WORDS}
    assert not short, f"{name}: section headings without an explanation under them: {short}"


def test_r2r_control_says_what_preset_does():
    nb = nbformat.read(str(template_path("r2r_control")), as_version=4)
    assert "preset" in nb.cells[0].source and "dataset" in nb.cells[0].source
    assert read_parameters(template_path("r2r_control"))["n_runs"] is None  # from preset unless given


WAFER_MAPS = """\
import fabnb
from fabnb.widgets import WaferMap
ds = fabnb.synth.fab("small", seed=0)
"""

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts" / "report"


@pytest.fixture(scope="module")
def widget_report(tmp_path_factory):
    """Two WaferMaps (values, bins) and a slider run through the report runner."""
    folder = tmp_path_factory.mktemp("widgets")
    path = write_template(folder / "maps.ipynb", TINY_PARAMETERS, WAFER_MAPS,
                          'WaferMap(ds, test="T01")', 'WaferMap(ds, var="hbin", size=300)', WIDGET)
    return run(path, {"n": 5}, output=folder / "maps.html")


def test_widgets_with_a_static_image_are_shown_as_that_image(widget_report):
    executed = nbformat.read(str(widget_report.notebook), as_version=4)
    bundles = [o.data for c in executed.cells if c.cell_type == "code" for o in c.outputs
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    with_image = [b for b in bundles if "image/png" in b]
    assert len(bundles) == 3 and len(with_image) == 2  # the notebook keeps the live views

    html = widget_report.html.read_text(encoding="utf-8")
    for bundle in with_image:  # each map's PNG is on the page, not hidden behind a widget view
        assert f'src="data:image/png;base64,{bundle["image/png"]}' in html
    views = re.findall(r'<script type="application/vnd.jupyter.widget-view\+json">\s*(\{.*?\})\s*</script>',
                       html, flags=re.S)
    # only the slider (no image) stays a live widget; no blank widget box for the maps
    assert [json.loads(v)["model_id"] for v in views] == [
        b["application/vnd.jupyter.widget-view+json"]["model_id"] for b in bundles if "image/png" not in b]
    assert html.count('class="jupyter-widgets jp-OutputArea-output') == 1


def test_widget_only_report_needs_no_widget_script(tmp_path):
    path = write_template(tmp_path / "map.ipynb", TINY_PARAMETERS, WAFER_MAPS, 'WaferMap(ds, test="T02")')
    html = run(path, {}, output=tmp_path / "map.html").html.read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 1
    assert "widget-view+json" not in html and "embed-amd.js" not in html  # nothing from a CDN


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (make browser installs it)")
def browse_offline(html, profile, look, viewport=(1200, 1600)):
    """Open ``html`` in headless Chromium with the network blocked: ``(look(page),
    blocked)``, what ``look`` read off the page and the requests that were refused.

    In a thread of its own: the browser tests' session-wide Playwright keeps an event
    loop running in the main thread, and the sync API refuses to start inside one.
    """
    from playwright.sync_api import sync_playwright

    blocked = []

    def offline(route):
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            blocked.append((route.request.resource_type, route.request.url))
            route.abort()

    def open_page():
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                str(profile), executable_path=str(CHROMIUM), headless=True,
                args=CHROMIUM_ARGS, viewport={"width": viewport[0], "height": viewport[1]})
            try:
                page = context.new_page()
                page.route("**/*", offline)
                page.goto(Path(html).resolve().as_uri(), wait_until="load")
                return look(page)
            finally:
                context.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(open_page).result(), blocked


def test_widget_report_renders_offline_in_headless_chromium(widget_report, tmp_path):
    shots = ARTIFACTS / "widget_report"
    shots.mkdir(parents=True, exist_ok=True)

    def look(page):
        page.screenshot(path=str(shots / "maps.png"), full_page=True)
        return page.eval_on_selector_all(
            'img[src^="data:image/png"]', "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")

    widths, blocked = browse_offline(widget_report.html, tmp_path / "profile", look)
    assert len(widths) == 2 and all(w > 0 for w in widths), widths
    assert (shots / "maps.png").stat().st_size > 0
    # what the page would fetch online is script only (MathJax, require.js, the slider's
    # widget manager): no image, style or font the figures need
    assert {kind for kind, _ in blocked} <= {"script"}, blocked


def renamed_fab(lot="L0002", markup=False):
    """The small synthetic fab with lot ``lot`` renamed to a fresh id: (Dataset, new id).

    ``markup``: the new lot id, its wafer ids and the product are HTML that would run
    script if a report pasted them into the page unescaped.
    """
    ds = fabnb.synth.fab("small", seed=0)
    new = f"LOT-{uuid.uuid4().hex[:6].upper()}"
    if markup:
        new = f"<img src=x onerror=alert('{new}')>"
        ds = ds.assign_coords(wafer=("wafer", [str(w).replace(lot, new) for w in ds["wafer"].values]))
        ds.attrs["product"] = PRODUCT_MARKUP
    lots = np.asarray(ds["lot"].values, dtype=object)
    assert (lots == lot).any()
    return ds.assign_coords(lot=("wafer", np.where(lots == lot, new, lots).astype(str))), new


PRODUCT_MARKUP = "<script>alert(8)</script>"


class _Page(HTMLParser):
    """A report page parsed: ``live`` lists elements that would run data as script (an
    ``on*`` attribute, an image or frame not embedded as ``data:``, a script calling
    ``alert``); ``text`` is what the page shows."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.live, self._text, self._script = [], [], None
        self.feed(html)
        self.close()
        self.text = "".join(self._text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if any(name.startswith("on") for name in attrs):
            self.live.append((tag, attrs))
        elif tag in ("img", "iframe", "object", "embed") and not (attrs.get("src") or "data:").startswith("data:"):
            self.live.append((tag, attrs))
        if tag == "script":
            self._script = []

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            if "alert(" in "".join(self._script):
                self.live.append(("script", "".join(self._script)))
            self._script = None

    def handle_data(self, data):
        (self._script if self._script is not None else self._text).append(data)


def assert_data_shown_as_text(html, *strings) -> str:
    """No element of the page comes from data, and each string shows as text; returns
    the page's text."""
    page = _Page(html)
    assert page.live == []
    for string in strings:
        assert string in page.text, string
    return page.text


def test_md_escape_and_html_table_keep_markup_out():
    from nbconvert.filters import markdown2html

    nasty = "<img src=x onerror=alert(7)> *a* _b_ [c](javascript:d) `e`\n# f"
    rendered = markdown2html(f"Lot {md_escape(nasty)}")
    assert_data_shown_as_text(rendered, "<img src=x onerror=alert(7)> *a* _b_ [c](javascript:d) `e` # f")
    assert "<em>" not in rendered and "<a " not in rendered and "<code>" not in rendered
    frame = pd.DataFrame({"yield": [0.5], "<b onclick=x()>name</b>": ["<img src=y onerror=alert(1)>"]},
                         index=pd.Index(["<svg onload=alert(2)>"], name="<i onclick=z()>w</i>"))
    table = html_table(frame, {"yield": "{:.1%}"}, caption="<img src=c onerror=alert(3)>").to_html()
    assert_data_shown_as_text(table, "<img src=y onerror=alert(1)>", "<svg onload=alert(2)>", "50.0%",
                              "<b onclick=x()>name</b>", "<i onclick=z()>w</i>",
                              "<img src=c onerror=alert(3)>")


@pytest.mark.timeout(600)
def test_lot_report_shows_markup_in_data_and_title_as_text(tmp_path):
    """Issue 25: a lot id ``<img src=x onerror=alert(7)>`` became live markup in the page.
    Here lot, wafer and test ids, product and title are markup; the page shows them as text."""
    ds, new = renamed_fab(markup=True)
    ds = ds.assign_coords(test=("test", ["<svg onload=alert(10)>", *ds["test"].values[1:]]))
    path = tmp_path / "fab.nc"
    fabnb.io.write_netcdf(ds, path)
    title = "<b onmouseover=alert(9)>Lot</b> *report*"
    report = run("lot_report", {"dataset": str(path), "title": title}, output=tmp_path / "lot.html")
    text = assert_data_shown_as_text(report.html.read_text(encoding="utf-8"), new, PRODUCT_MARKUP, title,
                                     "<svg onload=alert(10)>")
    assert any(str(w) in text for w in ds["wafer"].values[ds["lot"].values == new])  # per-wafer tables


@pytest.mark.parametrize("writer, name", [("write_zarr", "fab.zarr"), ("write_netcdf", "fab.nc")])
def test_load_dataset_reads_and_validates_a_file(tmp_path, writer, name):
    ds, new = renamed_fab()
    getattr(fabnb.io, writer)(ds, tmp_path / name)
    loaded = load_dataset(str(tmp_path / name), preset="default", seed=5, n_lots=1)  # preset/overrides: synthetic only
    xr.testing.assert_identical(loaded, fabnb.io.read(tmp_path / name))
    assert new in set(loaded["lot"].values) and loaded.sizes["wafer"] == ds.sizes["wafer"]
    assert md_escape(tmp_path / name) in describe_dataset(loaded, str(tmp_path / name))
    assert md_escape(new) in describe_dataset(loaded, str(tmp_path / name))


def test_load_dataset_builds_the_synthetic_fab_and_refuses_bad_files(tmp_path):
    xr.testing.assert_identical(load_dataset("synthetic", "small", 3, wafers_per_lot=None),
                                fabnb.synth.fab("small", seed=3))
    assert load_dataset("synthetic", "small", 0, n_lots=2).sizes["wafer"] == 12
    with pytest.raises(FabDataError, match="does not exist"):
        load_dataset(str(tmp_path / "missing.zarr"))
    (tmp_path / "junk.nc").write_bytes(b"not a netcdf file")
    with pytest.raises(FabDataError):
        load_dataset(str(tmp_path / "junk.nc"))
    assert simulator_truth(fabnb.synth.fab("small", seed=0)) is not None


@pytest.mark.timeout(600)
def test_spc_report_on_a_netcdf_file_shows_that_file(tmp_path):
    """A non-lot template run by the report runner on a real file: its lots and numbers."""
    ds, new = renamed_fab(markup=True)
    path = tmp_path / "fab.nc"
    fabnb.io.write_netcdf(ds, path)
    report = run("spc_fdc", {"dataset": str(path), "n_seeds": 2}, output=tmp_path / "out" / "spc.html")
    html = report.html.read_text(encoding="utf-8")
    assert_data_shown_as_text(html, new, PRODUCT_MARKUP, str(path))  # the file's lot ids and product, as text
    assert "L0002" not in html and "synthetic fab (preset" not in html  # not the synthetic ones
    executed = nbformat.read(str(report.notebook), as_version=4)
    assert executed.metadata["papermill"]["parameters"]["dataset"] == str(path)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("template, parameters", [
    ("vmin_study", {}),
    ("killer_tool", {"n_bootstrap": 20}),
    ("pat_screen", {}),
])
def test_truth_using_templates_run_on_a_file_without_simulator_truth(tmp_path, template, parameters):
    """A fab's own file has no simulator behind it: the template leaves the truth out and
    still reports on the file."""
    ds, new = renamed_fab(markup=True)
    ds.attrs.pop("synth")
    path = tmp_path / "own_fab.zarr"
    fabnb.io.write_zarr(ds, path)
    assert simulator_truth(fabnb.io.read(path)) is None
    report = run(template, {"dataset": str(path), **parameters}, output=tmp_path / f"{template}.html")
    html = report.html.read_text(encoding="utf-8")
    assert_data_shown_as_text(html, new, PRODUCT_MARKUP, str(path))
    assert "The simulator's truth:" not in html and "true drivers" not in html


def test_reader_warnings_point_at_the_callers_line(shared_data):
    """Issue 21 ("data notes"): the warnings a report turns into data notes point at the
    user's call (here this test), not at a line inside fabnb, also through load_dataset."""
    with pytest.warns(UserWarning) as caught:
        load_dataset(str(shared_data / "stdf" / "lot2.stdf"))
    package = str(Path(fabnb.__file__).resolve().parent)
    assert {w.filename for w in caught} == {__file__}, [(w.filename, w.lineno) for w in caught]
    assert not any(w.filename.startswith(package) for w in caught)


def notes_box(html):
    """The data-notes box parsed (it is well-formed XML: a parse error is an escaping
    bug): ``(heading, shown, folded)``, the heading text, the notes a reader sees (text
    outside closed ``<details>``, fold summaries included) and the folded notes."""
    box = ET.fromstring(html)
    assert box.tag == "div" and box.get("class") == "fab-data-notes"

    def visible(element):
        if element.tag == "details":
            return "".join(element.find("summary").itertext()) + (element.tail or "")
        return (element.text or "") + "".join(visible(child) for child in element) + (element.tail or "")

    heading = (box.text or "") + "".join(box.find("b").itertext()) + (box.find("b").tail or "")
    shown = [visible(li) for li in box.find("ul").findall("li")]
    fold = box.find("details")
    folded = [] if fold is None else ["".join(li.itertext()) for li in fold.find("ul").findall("li")]
    return heading, shown, folded


def record(*messages):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for message in messages:
            warnings.warn(message, UserWarning)
    return caught


def test_data_notes_fold_a_long_list_count_repeats_and_escape_markup():
    """Issue 21: more than five notes show the first three and fold the rest under a
    summary giving their number; a repeated note is listed once with its count; every
    note is escaped (a file name with markup shows as text)."""
    markup = "<img src=x onerror=alert(4)> in file <b>W07.stdf</b>"
    notes = record(markup, *(f"note {k}" for k in range(6)), "note 2", "note 2")
    html = data_notes_html(notes)
    heading, shown, folded = notes_box(html)
    assert heading.startswith("Data notes (9)")  # every note counted, repeats included
    assert shown[:3] == [f"UserWarning: {markup}", "UserWarning: note 0", "UserWarning: note 1"]
    assert len(shown) == 3 and html.count("<summary>4 more notes</summary>") == 1
    assert folded == ["UserWarning (×3): note 2", "UserWarning: note 3", "UserWarning: note 4",
                      "UserWarning: note 5"]
    assert_data_shown_as_text(html, markup)
    # five notes or fewer: all listed, nothing folded
    heading, shown, folded = notes_box(data_notes_html(record(*(f"n{k}" for k in range(5)))))
    assert (heading.startswith("Data notes (5)"), len(shown), folded) == (True, 5, [])
    assert data_notes_html([]) == ""
    with pytest.raises(FabParameterError, match="'fold_after' parameter of data_notes_html"):
        data_notes_html(notes, fold_after=0)


def test_data_notes_fold_the_long_note_of_the_real_folder(shared_data):
    """The real folder's reader notes: its "STDF data disagrees with itself" note has a
    line per disagreement (21 lines for two files, 181 for a lot of 25); the box shows
    its first three lines and folds the rest under "18 more lines", every line kept."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fabnb.io.read(shared_data / "stdf", progress=False)
    html = data_notes_html(caught)
    heading, shown, folded = notes_box(html)
    assert heading.startswith(f"Data notes ({len(caught)})") and len(shown) == len(caught) and not folded
    [long] = [w for w in caught if str(w.message).startswith("STDF data disagrees with itself")]
    lines = str(long.message).splitlines()
    assert len(lines) == 21
    [seen] = [n for n in shown if "disagrees with itself" in n]
    assert seen == f"StdfWarning: {chr(10).join(lines[:3])}18 more lines"
    box = ET.fromstring(html)
    [fold] = [d for d in box.iter("details")]
    assert "".join(fold.itertext()) == "18 more lines" + "\n".join(lines[3:])  # RTST_CNT 0 is in there
    assert "RTST_CNT 0" in "".join(fold.itertext())


def test_load_dataset_shows_no_progress_bar(shared_data, monkeypatch):
    """A report's page carries no progress bar: tqdm's bar (delay=2 s, so only on a
    slow read, as in the 25-wafer benchmark) became a widget or stderr text in the page."""
    calls = []
    read = fabnb.io.read
    monkeypatch.setattr(fabnb.io, "read", lambda path, **kw: calls.append(kw) or read(path, **kw))
    with pytest.warns(UserWarning):
        load_dataset(str(shared_data / "stdf" / "lot2.stdf"))
    assert calls == [{"progress": False}]


def test_lot_report_template_draws_through_fabnb_plot():
    """Issue 21: the yield trend was drawn inline in the template; every chart of the lot
    report now comes from a fabnb.plot function (the same one a user calls), so the
    template's code holds no matplotlib drawing calls of its own."""
    nb = nbformat.read(str(template_path("lot_report")), as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    drawing = re.findall(r"\bax\.(?:plot|hlines|vlines|bar|scatter|set_xticks|legend)\(", code)
    assert not drawing, drawing
    assert "plot.yield_trend(ds)" in code


def table_rows(html):
    """Cell texts of each row of the first HTML table in ``html`` (header rows first)."""
    return [[H.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
             for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)]


@pytest.mark.timeout(600)
def test_yield_study_shows_units_percentages_and_checked_orderings(tmp_path):
    """Issue 21: "Same for yield_study: no debug lines, units and percentages in tables".
    Every output is a table, a figure or prose (no print, no stray repr such as
    ``Text(0.5, 1.0, ...)``); the per-test table has the unit column and percentages; the
    overview gives percentages in its cells (not a "(%)" header over "0.41 %"), whole
    tests won, and the paper's orderings as verdicts that agree with its numbers."""
    tests = ["T01", "T02", "T03", "T04"]
    report = run("yield_study", {"tests": tests, "n_synthetic": 20_000, "ks_test": "T02"},
                 output=tmp_path / "yield_study.html")
    nb = nbformat.read(str(report.notebook), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type in ("stream", "error")]
    assert all(set(o.data) & {"text/html", "text/markdown", "image/png"} for o in outputs), \
        [o.data.get("text/plain") for o in outputs]
    html_outputs = [o.data["text/html"] for o in outputs if "text/html" in o.data]
    per_test, overview = (table_rows(h) for h in html_outputs)

    ds = fabnb.synth.fab("small", seed=0)
    assert per_test[0][1] == "unit" and [r[0] for r in per_test[2:]] == tests
    assert [r[1] for r in per_test[2:]] == [str(ds["unit"].sel(test=t).values) for t in tests]
    assert all(re.fullmatch(r"\d+\.\d\d%", cell) for r in per_test[2:] for cell in r[2:6])

    head, rows = overview[0], {r[0]: dict(zip(overview[0][1:], r[1:])) for r in overview[1:]}
    assert not [h for h in head if "(%)" in h] and "tests won (of 4)" in head
    for row in rows.values():
        for column in ("mean |yield error|", "paper", "mean signed error"):
            assert re.fullmatch(r"-?\d+\.\d\d %", row[column]), (column, row[column])
        assert re.fullmatch(r"\d", row["tests won (of 4)"])
    assert sum(int(r["tests won (of 4)"]) for r in rows.values()) >= len(tests)  # ties count for each
    assert {m: rows[m]["paper"] for m in rows} == {"hist-rs": "1.16 %", "hist-gp-st-ps": "0.63 %",
                                                    "kde-rs": "0.61 %", "kde-gp-st-ps": "0.21 %"}

    error = {m.upper(): r["mean |yield error|"].split()[0] for m, r in rows.items()}
    method = r"([A-Z\\-]+) \((\d+\.\d\d) %\)"
    verdicts = re.findall(rf"(does not hold|holds): {method} (<|≥) {method}",
                          "\n".join(o.data.get("text/markdown", "") for o in outputs))
    pairs = {(a.replace("\\", ""), b.replace("\\", "")) for _, a, _, _, b, _ in verdicts}
    assert pairs == {("HIST-GP-ST-PS", "HIST-RS"), ("KDE-GP-ST-PS", "KDE-RS"),
                     ("KDE-RS", "HIST-RS"), ("KDE-GP-ST-PS", "HIST-GP-ST-PS")}
    for verdict, a, left, sign, b, right in verdicts:  # each agrees with the table's numbers
        assert (left, right) == (error[a.replace("\\", "")], error[b.replace("\\", "")])
        assert (verdict == "holds") == (sign == "<")
        if left != right:  # two numbers equal to 2 decimals may still be ordered
            assert (verdict == "holds") == (float(left) < float(right))


#: sections of the lot report, in order (the report on several wafers has them all)
LOT_REPORT_SECTIONS = ["Lot summary", "Yield trend by wafer and lot", "Bin Pareto", "Test-fail Pareto",
                       "Capability", "Wafer maps", "Lowest and highest yield wafer", "Stacked map",
                       "Yield by zone", "Radial and azimuthal signatures"]


@pytest.mark.timeout(600)
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (make browser installs it)")
def test_lot_report_on_the_real_stdf_folder_in_chromium_offline(shared_data, tmp_path):
    """Issue 21: the lot report on the folder of real STDF files (two wafers, two lots),
    opened in headless Chromium with the network blocked. Each section is screenshotted
    (tests/_artifacts/report/real_folder/) and checked: its heading shows, its figures
    decoded, it has ink; the contents' links land on the headings; the data-notes box
    shows; the bin chips are drawn in the colours of fabnb.plot.bin_hex."""
    folder = shared_data / "stdf"
    report = run("lot_report", {"dataset": str(folder)}, output=tmp_path / "real_folder.html")
    with pytest.warns(UserWarning):
        ds = fabnb.io.read(folder)
    expected_colours = fabnb.plot.bin_hex(np.unique(fabnb.summary.bin_codes(ds).values))
    shots = ARTIFACTS / "real_folder"
    shots.mkdir(parents=True, exist_ok=True)

    def look(page):
        page.screenshot(path=str(shots / "full.png"), full_page=True)
        seen = {"headings": [h.replace("¶", "").strip() for h in page.locator("h2").all_inner_texts()],
                "links": page.eval_on_selector_all(
                    "a[href^='#']:not(.anchor-link)", "as => as.map(a => a.getAttribute('href').slice(1))"),
                "ids": page.eval_on_selector_all("h2", "hs => hs.map(h => h.id)"),
                "notes": page.locator(".fab-data-notes").inner_text(),
                "folded notes": page.locator(".fab-data-notes details").all_text_contents(),
                "chips": page.eval_on_selector_all(
                    ".fab-bin", "cs => cs.map(c => [c.dataset.bin, getComputedStyle(c).backgroundColor])"),
                "sections": {}}
        tops = page.eval_on_selector_all(
            "h2", "hs => hs.map(h => h.getBoundingClientRect().top + window.scrollY)")
        height = page.evaluate("document.documentElement.scrollHeight")
        for k, heading in enumerate(seen["headings"]):
            top, bottom = tops[k], tops[k + 1] if k + 1 < len(tops) else height
            png = shots / f"{k:02d}_{heading.replace(' ', '_')}.png"
            page.screenshot(path=str(png), full_page=True,
                            clip={"x": 0, "y": top, "width": 1200, "height": min(bottom - top, 4000)})
            widths = page.evaluate(
                """([top, bottom]) => [...document.images].filter(i => {
                       const y = i.getBoundingClientRect().top + window.scrollY;
                       return y >= top && y < bottom; }).map(i => i.complete ? i.naturalWidth : 0)""",
                [top, bottom])
            seen["sections"][heading] = (png, widths)
        return seen

    seen, blocked = browse_offline(report.html, tmp_path / "profile", look, viewport=(1200, 900))

    import matplotlib.image

    assert seen["headings"] == LOT_REPORT_SECTIONS
    assert seen["links"] == seen["ids"] == [h.replace(" ", "-") for h in LOT_REPORT_SECTIONS]
    assert seen["notes"].startswith("Data notes") and "18 more lines" in seen["notes"]
    assert "RTST_CNT 0" not in seen["notes"] and any("RTST_CNT 0" in t for t in seen["folded notes"])
    assert [int(code) for code, _ in seen["chips"]] == [int(b) for b in fabnb.summary.bin_counts(ds)["bin"]]
    for code, rgb in seen["chips"]:
        hexcode = expected_colours[int(code)]
        assert rgb == "rgb({}, {}, {})".format(*(int(hexcode[i:i + 2], 16) for i in (1, 3, 5))), (code, rgb)
    with_figures = {"Yield trend by wafer and lot", "Bin Pareto", "Capability", "Wafer maps",
                    "Lowest and highest yield wafer", "Stacked map", "Radial and azimuthal signatures"}
    maps = {"Bin Pareto", "Wafer maps", "Lowest and highest yield wafer", "Stacked map"}
    for heading, (png, widths) in seen["sections"].items():
        pixels = matplotlib.image.imread(str(png))[..., :3]
        ink = (pixels < 0.9).any(axis=2).mean()
        assert ink > 0.02, (heading, ink)
        if heading in with_figures:
            assert widths and all(w > 0 for w in widths), (heading, widths)
        if heading in maps:  # bars and maps drawn in colour
            assert (np.ptp(pixels, axis=2) > 0.2).mean() > 0.005, heading
    assert {kind for kind, _ in blocked} <= {"script"}, blocked  # figures and styles need no network
