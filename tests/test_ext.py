"""``%load_ext fabnb`` in a real IPython kernel: the Dataset summary and the magics."""

import re

import nbformat
import pytest
import xarray as xr
from _templates import write_template
from conftest import make_dataset
from dask.callbacks import Callback
from nbclient import NotebookClient

import fabnb
from fabnb.ext import dataset_html

TINY = 'title = "Tiny"\nn = 1\n'
TINY_BODY = 'from IPython.display import Markdown, display\ndisplay(Markdown(f"# {title} n={n!r}"))'


def _without_images(html):
    return re.sub(r'src="data:image/png;base64,[^"]+"', 'src=""', html)


def _outputs(cell):
    return [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")]


def _without_ids(html):
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "", html)


def test_dataset_html_falls_back_for_non_contract_datasets():
    plain = xr.Dataset({"a": ("x", [1, 2])})
    assert _without_ids(dataset_html(plain)) == _without_ids(plain._repr_html_())


def test_dataset_html_summarises_contract_datasets_but_not_lazy_ones():
    ds = make_dataset(n_wafers=2)
    assert _without_images(dataset_html(ds)) == _without_images(ds.fab._repr_html_())
    lazy = ds.chunk({"wafer": 1})
    computes = []
    with Callback(start=lambda dsk: computes.append(len(dsk))):
        shown = dataset_html(lazy)
    assert computes == []  # displaying a lazy dataset computes nothing
    assert _without_ids(shown) == _without_ids(lazy._repr_html_())


@pytest.mark.timeout(300)
def test_extension_in_a_real_kernel(tmp_path):
    ds = fabnb.synth.fab("small", seed=0)
    store = tmp_path / "fab.zarr"
    fabnb.io.write_zarr(ds, store)
    template = write_template(tmp_path / "tiny.ipynb", TINY, TINY_BODY)
    out = tmp_path / "out" / "tiny.html"

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in (
        "%load_ext fabnb",
        f"%fab_open {store} -o fab",
        'fab.sizes["wafer"]',
        'import xarray as xr\nxr.Dataset({"a": ("x", [1, 2])})',
        f"report = %fab_report {template} title=Ext-report n=5 -o {out}\nreport.html.name",
        f"try:\n    %fab_report {template} colour=red\nexcept ValueError as err:\n    print(type(err).__name__, err)",
    )]
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    opened, size, plain, report, refused = nb.cells[1:]

    shown = _outputs(opened)[0]["data"]["text/html"]
    expected = ds.fab._repr_html_()  # the accessor's summary of the same data, read back
    assert _without_images(shown) == _without_images(expected)
    assert "xr-wrap" not in shown  # the fab summary, not xarray's repr
    for lot in ("L0001", "L0002", "L0003"):
        assert lot in shown
    assert re.search(r'<img[^>]+src="data:image/png;base64,', shown)  # the mini map
    assert _outputs(size)[0]["data"]["text/plain"] == str(ds.sizes["wafer"])

    assert "xr-wrap" in _outputs(plain)[0]["data"]["text/html"]  # xarray's own repr

    assert _outputs(report)[0]["data"]["text/plain"] == "'tiny.html'"
    assert "Ext-report n=5" in out.read_text()
    assert out.with_suffix(".ipynb").exists()

    printed = "".join(o.get("text", "") for o in refused.outputs)
    assert "ReportError" in printed and "'colour'" in printed


def test_fab_open_takes_a_folder_a_glob_and_several_paths(tmp_path):
    """``%fab_open`` reads what fabnb.io.read reads: a lot folder, a glob, several files."""
    from IPython.core.interactiveshell import InteractiveShell

    from fabnb.ext import FabMagics

    shell = InteractiveShell.instance()
    shell.register_magics(FabMagics)
    ds = make_dataset(n_wafers=3)
    lot = tmp_path / "lot"
    lot.mkdir()
    for k in range(3):
        fabnb.io.write_netcdf(ds.isel(wafer=[k]), lot / f"w{k + 1}.nc")
    want = list(ds["wafer"].values)
    by_folder = shell.run_line_magic("fab_open", f"{lot} -o by_folder")
    assert list(by_folder["wafer"].values) == want
    assert shell.user_ns["by_folder"] is by_folder
    by_glob = shell.run_line_magic("fab_open", f'"{lot}/w*.nc"')
    several = shell.run_line_magic("fab_open", f"{lot / 'w1.nc'} {lot / 'w3.nc'}")
    assert by_glob.identical(by_folder)
    assert list(several["wafer"].values) == [want[0], want[2]]
    with pytest.raises(fabnb.FabDataError, match="no file matches"):
        shell.run_line_magic("fab_open", f"{lot}/*.stdf")
