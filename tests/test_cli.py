"""The ``fabnb`` command line: listing, parameters, exit codes, one report per lot."""

import subprocess
import sys
from pathlib import Path

import papermill
import pytest
from _templates import write_template

from fabnb.cli import EXIT_FAILED, EXIT_USAGE, main

LOT_PARAMETERS = 'title = "Lots"\nlot = None\nn = 1\nratio = 0.5\nflag = False\n'
LOT_BODY = """\
from IPython.display import Markdown, display
display(Markdown(f"# {title} for {lot}"))
print(f"lot={lot!r} n={n!r} ratio={ratio!r} flag={flag!r}")
"""


def fabnb_command():
    """The installed console script, else the module."""
    script = Path(sys.executable).with_name("fabnb")
    return [str(script)] if script.exists() else [sys.executable, "-m", "fabnb.cli"]


@pytest.fixture
def no_kernel(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a kernel was started although the parameters were bad")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)


def test_console_script_lists_and_refuses_bad_parameters(tmp_path):
    listed = subprocess.run(fabnb_command() + ["report", "--list"], capture_output=True, text=True, check=False)
    assert listed.returncode == 0
    assert "lot_report" in listed.stdout.split()

    bad = subprocess.run(
        fabnb_command() + ["report", "lot_report", "-p", "colour", "red", "-o", str(tmp_path / "r.html")],
        capture_output=True, text=True, check=False,
    )
    assert bad.returncode == EXIT_USAGE
    assert "'colour'" in bad.stderr and "preset" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "arguments, words",
    [
        (["report", "nope"], ["'nope'", "lot_report"]),
        (["report", "lot_report", "-p", "seed", "abc"], ["'seed'", "expects int", "'abc'"]),
        (["report", "lot_report", "-p", "dataset", "nowhere/fab.zarr"], ["nowhere/fab.zarr", "does not exist"]),
        (["report", "lot_report", "--lots", "L1,L1"], ["duplicated"]),
        (["report", "lot_report", "--lots", "L1", "--workers", "0"], ["workers"]),
        (["report"], ["TEMPLATE"]),
        (["report", "lot_report", "--workers", "2"], ["--workers needs --lots"]),
        (["report", "lot_report", "--timeout", "-1"], ["'execution_timeout'", "range"]),
    ],
)
def test_bad_arguments_exit_2_before_any_kernel(tmp_path, capsys, no_kernel, arguments, words):
    code = main(arguments + ["-o", str(tmp_path / "out" / "r.html")])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    for word in words:
        assert word in err
    assert not (tmp_path / "out").exists()


def test_lots_in_parallel_with_typed_parameters(tmp_path, capsys):
    template = write_template(tmp_path / "lots.ipynb", LOT_PARAMETERS, LOT_BODY)
    out = tmp_path / "out" / "lot.html"
    code = main(["report", str(template), "--lots", "LA,LB", "--workers", "2",
                 "-p", "title", "2024", "-p", "n", "7", "-p", "ratio", "3", "-p", "flag", "true",
                 "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    for lot in ("LA", "LB"):
        html = (out.parent / f"lot_{lot}.html").read_text()
        assert f"2024 for {lot}" in html  # a str default keeps "2024" a string
        assert f"lot='{lot}' n=7 ratio=3 flag=True" in html
        assert (out.parent / f"lot_{lot}.ipynb").exists()
    assert not out.exists()
    printed = capsys.readouterr().out
    assert "LA:" in printed and "LB:" in printed


def test_failing_cell_exits_1_and_names_the_cell(tmp_path, capsys):
    template = write_template(tmp_path / "fails.ipynb", LOT_PARAMETERS,
                              'print("ok")', '1 / 0  # the failing cell', 'print("never")')
    out = tmp_path / "fails.html"
    assert main(["report", str(template), "-o", str(out)]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "cell 3" in err and "1 / 0  # the failing cell" in err and "ZeroDivisionError" in err
    assert str(out.with_suffix(".ipynb")) in err
    assert out.with_suffix(".ipynb").exists() and not out.exists()


@pytest.mark.timeout(600)
def test_demo_writes_store_figures_tables_and_report(tmp_path, capsys):
    import pandas as pd

    from fabnb import io, summary, synth

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--preset", "small", "--seed", "3"]) == 0
    printed = capsys.readouterr().out

    ds = synth.fab("small", seed=3)
    stored = io.read(out / "fab.zarr")
    assert stored.sizes == ds.sizes
    expected = summary.yield_by_wafer(ds)
    written = pd.read_csv(out / "yield_by_wafer.csv", index_col="wafer")
    assert list(written.index) == list(expected.index)
    assert written["yield"].to_numpy() == pytest.approx(expected["yield"].to_numpy())
    zones = pd.read_csv(out / "zone_stats.csv", index_col="zone")
    assert zones["yield"].to_numpy() == pytest.approx(summary.zone_stats(ds)["yield"].to_numpy())
    for name in ("wafer_gallery.png", "bin_pareto.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "lot_report.html").read_text()
    assert "Lot report: synthetic fab (small)" in html
    assert "HVM yield from early silicon" in (out / "yield_study.html").read_text()
    overall = f"{summary.overview(ds)['yield']:.1%}"
    assert overall in html and overall in printed
    worst = expected["yield"].idxmin()
    assert f"worst wafer: {worst}" in printed


def test_output_onto_an_existing_folder_exits_2_and_keeps_it(tmp_path, capsys, no_kernel):
    """Issue 25: ``fabnb report ... -o existing_folder`` replaced the folder."""
    folder = tmp_path / "existing_folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    assert main(["report", "lot_report", "-o", str(folder)]) == EXIT_USAGE
    assert f"cannot write {folder}: it is a folder" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["existing_folder"]
    assert (folder / "keep.txt").read_text() == "mine"


@pytest.mark.timeout(600)
def test_report_takes_a_test_number_on_the_real_stdf_file(tmp_path, capsys, shared_data):
    """Issue 21: ``fabnb report lot_report -p tests 1590`` raised TypeError in the kernel
    (the template looked tests up one string at a time). Test 1590 of the real file is
    "Svrr <> EA_SVRR": its maps, zone table and radial signature are in the report."""
    from fabnb import io, summary

    stdf = shared_data / "stdf" / "lot2.stdf"
    out = tmp_path / "lot2.html"
    code = main(["report", "lot_report", "-p", "dataset", str(stdf), "-p", "tests", "1590", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    with pytest.warns(UserWarning):  # the real file's stale RTST_CNT: a data note in the report
        [name] = summary.resolve_tests(io.read(stdf), 1590)
    assert summary.clean_test_name(name) == "Svrr <> EA_SVRR"
    html = out.read_text(encoding="utf-8")
    assert html.count(name.replace("<", "&lt;").replace(">", "&gt;")) >= 2  # zone and signature tables
