"""Every notebook in notebooks/ runs with papermill on the small synthetic fab; the lot
report's HTML has its headings and embedded figures and renders in headless Chromium."""

import base64
import re
import shutil
import subprocess
import uuid

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
LOT_REPORT_HEADINGS = ("Headline numbers", "Wafer maps", "Bin maps", "Bin Pareto", "Yield by wafer",
                       "Yield by zone", "Radial and azimuthal signatures", "Stacked map")


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
    assert len(images) >= 8  # 2 galleries, bin maps, Pareto, 3 radial profiles, stacked map
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
