"""Every notebook in notebooks/ runs with papermill on the small synthetic fab; the lot
report's HTML has its headings and embedded figures and renders in headless Chromium."""

import base64
import re
from html.parser import HTMLParser
import shutil
import subprocess
import uuid
import warnings

import nbformat
import numpy as np
import pytest
from _templates import markdown_sections, section_texts

import fabnb
from fabnb import summary
from fabnb.report import read_parameters, run, templates_dir

pytestmark = pytest.mark.notebook

NOTEBOOKS = sorted(templates_dir().glob("*.ipynb"))
TITLE = f"fabnb CI report {uuid.uuid4().hex[:8]}"
#: what every notebook gets, when its parameters cell declares the name
PRESET = {"preset": "small", "seed": 0, "title": TITLE}
#: the lot report's sections in order; the MULTI_WAFER ones only when there are several wafers
LOT_REPORT_HEADINGS = ("Lot summary", "Yield trend by wafer and lot", "Bin Pareto", "Test-fail Pareto",
                       "Capability", "Wafer maps", "Lowest and highest yield wafer", "Stacked map",
                       "Yield by zone", "Radial and azimuthal signatures")
MULTI_WAFER = {"Yield trend by wafer and lot", "Lowest and highest yield wafer", "Stacked map"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run each notebook at most once per session: name -> Report."""
    folder = tmp_path_factory.mktemp("notebooks")
    reports = {}

    def get(path):
        if path.stem not in reports:
            declared = read_parameters(path)
            parameters = {k: v for k, v in PRESET.items() if k in declared}
            reports[path.stem] = run(path, parameters, output=folder / f"{path.stem}.html")
        return reports[path.stem]

    return get


def test_every_notebook_has_a_parameters_cell_with_preset():
    assert NOTEBOOKS, f"no notebooks in {templates_dir()}"
    for path in NOTEBOOKS:
        assert "preset" in read_parameters(path), f"{path.name}: no 'preset' in its parameters cell"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_without_error(executed, path):
    report = executed(path)  # raises ReportExecutionError naming the cell on any error
    nb = nbformat.read(str(report.notebook), as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert nb.metadata["papermill"]["parameters"].get("preset", "small") == "small"
    assert report.html.stat().st_size > 0


#: the widgets tour is checked by the widget tests; these are the report templates
REPORTS = [p for p in NOTEBOOKS if p.stem != "widgets_tour"]
MIN_EXPLANATION_WORDS = 15


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", REPORTS, ids=[p.stem for p in REPORTS])
def test_every_section_heading_is_explained_in_the_html(executed, path):
    """A reader sees every section heading of the template with prose under it saying what
    the section shows and how to read it, and no code."""
    html = executed(path).html.read_text(encoding="utf-8")
    sections = section_texts(html)
    expected = markdown_sections(nbformat.read(str(path), as_version=4))
    assert len(sections) == len(expected) >= 2, (list(sections), list(expected))
    short = {h: len(words) for h, words in sections.items() if len(words) < MIN_EXPLANATION_WORDS}
    assert not short, f"headings without an explanation: {short}"
    assert "Traceback" not in html and "import " not in html.split("</h1>", 1)[-1].split("<script")[0]


@pytest.mark.timeout(600)
def test_virtual_probe_study_explains_the_paper_ordering(executed):
    html = executed(templates_dir() / "virtual_probe_study.ipynb").html.read_text(encoding="utf-8")
    assert not re.search(r"holds:\s*(True|False)", html)
    pairs = re.findall(r"(does not hold|holds): (GP(?:-\w+)*) \((\d+\.\d\d) %\) (&gt;|≤) (GP(?:-\w+)*) \((\d+\.\d\d) %\)", html)
    assert sorted((a, b) for _, a, _, _, b, _ in pairs) == [("GP", "GP-PS"), ("GP-PS", "GP-ST"), ("GP-ST", "GP-ST-PS")]
    for verdict, _, left, sign, _, right in pairs:  # each verdict agrees with its own (rounded) numbers
        assert (verdict == "holds") == (sign == "&gt;")
        assert float(left) >= float(right) if verdict == "holds" else float(left) <= float(right)
    assert not re.search(r"<td>\d+\.\d{5,}</td>", html)  # ε tables rounded


def _lot_report():
    return templates_dir() / "lot_report.ipynb"


@pytest.mark.timeout(600)
def test_lot_report_html_has_headings_numbers_and_figures(executed):
    html = executed(_lot_report()).html.read_text(encoding="utf-8")
    assert re.search(r"<h1[^>]*>\s*" + re.escape(TITLE), html), "title heading missing"
    for heading in LOT_REPORT_HEADINGS:
        assert re.search(r"<h2[^>]*>\s*" + re.escape(heading), html), f"heading {heading!r} missing"

    images = re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', html)
    # trend, Pareto, histograms, 2 galleries, lowest/highest bin maps, stacked map, radial profiles
    assert len(images) >= 8
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for data in images)
    assert not re.search(r'<img[^>]+src="(?!data:)', html)  # self-contained: nothing linked

    # the headline numbers are the library's numbers on the same synthetic fab
    ds = fabnb.synth.fab("small", seed=0)
    per_wafer = summary.yield_by_wafer(ds)
    assert f"{summary.overview(ds)['yield']:.1%}" in html
    worst = per_wafer["yield"].idxmin()
    assert f"{worst} ({per_wafer.loc[worst, 'yield']:.1%})" in html
    for lot in np.unique(ds["lot"].values):
        assert str(lot) in html
    assert "summary.yield_by_wafer(" not in html  # no code in the report
    assert "tagged `remove-cell`" not in html and "tagged <code>remove-cell" not in html
    assert "Traceback" not in html


@pytest.mark.timeout(600)
def test_lot_report_renders_in_headless_chromium(executed, tmp_path):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not shutil.which(chromium):
        pytest.skip("chromium is not installed (make browser installs it)")
    html = executed(_lot_report()).html
    shot = tmp_path / "lot_report.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400",
         "--hide-scrollbars", f"--screenshot={shot}", html.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))[..., :3]
    assert pixels.shape[:2] == (2400, 1200)
    ink = (pixels < 0.9).any(axis=2).mean()  # share of pixels that are not (near) white
    colour = (np.ptp(pixels, axis=2) > 0.2).mean()  # share of clearly coloured pixels (maps)
    assert ink > 0.05 and colour > 0.01, (ink, colour)


class ReportPage(HTMLParser):
    """A report page parsed: its ``<h2>`` headings (id, text) in order, the in-page links,
    every element id, the bin colour chips (code -> CSS colour), the data-notes box's text,
    and its tables (heading they sit under, folded in ``<details>`` or not, rows of cell
    texts with the index label first)."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.headings, self.links, self.ids, self.chips = [], [], set(), {}
        self.tables, self.notes = [], None
        self._heading = self._row = self._cell = None
        self._details = self._notes_depth = 0
        self._thead = False
        self._div_depth = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "div":
            self._div_depth += 1
            if "fab-data-notes" in (attrs.get("class") or ""):
                self._notes_depth, self.notes = self._div_depth, ""
        elif tag == "h2":
            self._heading = [attrs.get("id"), ""]
        elif tag == "a" and (attrs.get("href") or "").startswith("#") and attrs.get("class") != "anchor-link":
            self.links.append(attrs["href"][1:])
        elif tag == "span" and "fab-bin" in (attrs.get("class") or ""):
            colour = re.search(r"background:\s*(#[0-9a-fA-F]{6})", attrs.get("style", "")).group(1)
            self.chips[int(attrs["data-bin"])] = colour
        elif tag == "details":
            self._details += 1
        elif tag == "table":
            under = self.headings[-1][1] if self.headings else None
            self.tables.append({"section": under, "folded": self._details > 0, "head": [], "rows": []})
        elif tag == "thead":
            self._thead = True
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "div":
            if self._notes_depth == self._div_depth:
                self._notes_depth = 0
            self._div_depth -= 1
        elif tag == "h2" and self._heading is not None:
            self._heading[1] = self._heading[1].replace("¶", "").strip()
            self.headings.append(tuple(self._heading))
            self._heading = None
        elif tag == "details":
            self._details -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1]["head" if self._thead else "rows"].append(self._row)
            self._row = None
        elif tag == "thead":
            self._thead = False

    def handle_data(self, data):
        if self._heading is not None:
            self._heading[1] += data
        if self._cell is not None:
            self._cell += data
        if self._notes_depth:
            self.notes += data

    def section_tables(self, heading, folded=False):
        """The tables under section ``heading`` (folded in ``<details>`` or not)."""
        return [t for t in self.tables if t["section"] == heading and t["folded"] == folded]


def body_rows(table):
    """Body rows of a one-level-index pandas Styler table as dicts keyed by its column
    labels, the row label under ``"index"``."""
    names = table["head"][0][1:]
    return [dict(zip(["index", *names], r)) for r in table["rows"]]


def assert_contents_resolve(page):
    """The table of contents lists exactly the page's sections, in order, and every link
    lands on a heading."""
    headings = [text for _, text in page.headings]
    ids = [h for h, _ in page.headings]
    assert page.links == ids  # the heading's own "¶" links left out
    assert all(link in page.ids for link in page.links)
    return headings


def assert_bin_chips(page, ds):
    """Every bin of the Pareto table carries the colour of the one bin palette."""
    expected = fabnb.plot.bin_hex(np.unique(summary.bin_codes(ds).values))
    assert page.chips, "no bin colour chips in the page"
    assert list(page.chips) == [int(b) for b in summary.bin_counts(ds)["bin"]]
    for code, colour in page.chips.items():
        assert colour.lower() == expected[code].lower(), (code, colour, expected[code])


@pytest.mark.timeout(600)
def test_lot_report_sections_contents_capability_and_bin_colours(executed):
    """Issue 21 on the small synthetic fab (several lots): every section, a table of contents
    whose links resolve, the capability table worst Cpk first, bin chips in bin_hex colours,
    the per-wafer table folded under the trend chart, no data notes."""
    page = ReportPage(executed(_lot_report()).html.read_text(encoding="utf-8"))
    ds = fabnb.synth.fab("small", seed=0)
    assert assert_contents_resolve(page) == list(LOT_REPORT_HEADINGS)

    cap = summary.capability(ds).sort_values("cpk", na_position="last", kind="stable")
    [shown] = page.section_tables("Capability")
    rows = body_rows(shown)
    assert [r["index"] for r in rows] == list(cap.index[:len(rows)]) and len(rows) == 15
    cpk = [float(r["cpk"].replace("−", "-")) for r in rows]
    assert cpk == sorted(cpk)
    np.testing.assert_allclose(cpk, cap["cpk"].to_numpy()[:15], atol=0.005)  # shown to 2 decimals
    [folded] = page.section_tables("Capability", folded=True)
    assert len(body_rows(folded)) == ds.sizes["test"]

    assert_bin_chips(page, ds)
    [per_wafer] = page.section_tables("Yield trend by wafer and lot", folded=True)
    assert sorted(r["index"] for r in body_rows(per_wafer)) == sorted(map(str, ds["wafer"].values))
    assert page.notes is None


@pytest.fixture(scope="module")
def real_lot_report(tmp_path_factory):
    from conftest import SHARED_DATA

    path = SHARED_DATA / "stdf" / "lot2.stdf"
    if not path.exists():
        pytest.skip(f"real STDF sample {path} is absent (the shared data folder sits beside the checkout)")
    report = run("lot_report", {"dataset": str(path), "title": TITLE},
                 output=tmp_path_factory.mktemp("real") / "lot2.html")
    return path, report


@pytest.mark.timeout(600)
def test_lot_report_on_a_real_one_wafer_stdf_file(real_lot_report):
    """Issue 21 on the real tester file (one wafer, GAL-LOT-02): the sections that need
    several wafers are left out (also from the contents), the reader's warnings (stale
    RTST_CNT) are the data notes, bin chips in bin_hex colours, the default tests are the
    most failing ones."""
    path, report = real_lot_report
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = fabnb.io.read(path)
    page = ReportPage(report.html.read_text(encoding="utf-8"))
    assert assert_contents_resolve(page) == [h for h in LOT_REPORT_HEADINGS if h not in MULTI_WAFER]
    assert page.notes is not None and "Data notes (2)" in page.notes and len(caught) == 2
    for warning in caught:  # each reader warning, word for word (whitespace as HTML shows it)
        assert f"{type(warning.message).__name__}: {' '.join(str(warning.message).split())}" in " ".join(page.notes.split())
    assert "RTST_CNT 0" in page.notes
    assert_bin_chips(page, ds)
    fails = summary.test_fail_pareto(ds)
    zone_tables = page.section_tables("Yield by zone")
    names = set(ds["test"].values)
    tests_shown = list(dict.fromkeys(r[0] for r in zone_tables[-1]["rows"] if r and r[0] in names))
    assert tests_shown[0] == fails.index[0] and fails["fails"].iloc[0] > 0
    [headline] = page.section_tables("Lot summary")
    rows = dict(r for r in headline["rows"] if len(r) == 2)
    first_pass = summary.first_pass_yield(ds)
    assert rows["first-pass yield"] == f"{first_pass['passed_first'].sum() / first_pass['tested'].sum():.1%}"
    assert rows["overall yield"] == f"{summary.overview(ds)['yield']:.1%}" and rows["wafers"] == "1"
    assert "worst wafer" not in rows  # one wafer: no worst/best
    cap = summary.capability(ds).sort_values("cpk", na_position="last", kind="stable")
    [shown] = page.section_tables("Capability")
    assert [r["index"] for r in body_rows(shown)] == list(cap.index[:15])
