"""fabnb.report: parameter checks before any kernel, execution, HTML, failures."""

import ast
import uuid

import nbformat
import papermill
import pytest
from _templates import write_template

from fabnb import FabDataError
from fabnb.report import (
    ReportError,
    ReportExecutionError,
    list_templates,
    lot_output,
    parse_value,
    read_parameters,
    run,
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


ANALYSIS_TEMPLATES = ["lot_report", "doe_tutorial", "killer_tool", "metrology_vm", "r2r_control",
                      "spc_fdc", "virtual_probe_study", "vmin_study", "yield_study"]


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
