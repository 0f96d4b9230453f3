"""Run a report template: check parameters, execute with papermill, convert to HTML.

A run has three stages and never leaves a half-written file behind:

1. **check**, before any kernel starts: the template exists, every parameter is declared
   in its ``parameters`` cell with the default's type, a ``dataset`` path exists;
2. **execute** with papermill into ``<output>.ipynb`` (kernel start timeout, per-cell
   timeout, a dead kernel stops the run at once; widget state is stored in the
   notebook); a failed run still writes the partial notebook, then raises
   :class:`ReportExecutionError` naming the cell;
3. **convert** with nbconvert to ``<output>.html``: inputs hidden, images embedded, widget
   state embedded; widgets that carry a static image are shown as that image, so the
   page reads offline (:func:`static_widgets`).

Both files are written under a temporary name and renamed into place
(:func:`fabnb.io.atomic_path`); an existing folder at either path is refused, not replaced.

Example
-------
>>> from fabnb.report import run
>>> report = run("lot_report", {"preset": "small", "title": "Lot L0001"},
...              output="out/lot.html")                              # doctest: +SKIP
>>> report.html, report.notebook                                     # doctest: +SKIP
(PosixPath('out/lot.html'), PosixPath('out/lot.ipynb'))
"""

from __future__ import annotations

import copy
import re
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .._params import Integral, Interval, Real, check_params
from ..io.store import atomic_path, check_replaceable
from .params import ReportError, check_parameters, read_parameters

#: notebook templates inside an installed wheel (force-included from notebooks/)
_WHEEL_TEMPLATES = Path(__file__).resolve().parents[1] / "_notebooks"
#: notebook templates in a source checkout
_REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "notebooks"


#: seconds to wait for a kernel to start and for a cell to finish
_TIMEOUTS = {name: [Interval(Real, 0, None, closed="neither")]
             for name in ("start_timeout", "execution_timeout")}


class ReportExecutionError(RuntimeError):
    """A report's notebook failed while running (cell error, dead kernel, timeout).

    Attributes: ``notebook`` (path of the partial executed notebook, or None),
    ``cell_index`` (index of the failing cell in the template, or None), ``ename`` and
    ``evalue`` (the exception raised in the kernel).
    """

    def __init__(self, message, notebook=None, cell_index=None, ename=None, evalue=None):
        super().__init__(message)
        self.notebook = notebook
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue


@dataclass
class Report:
    """What a successful run wrote."""

    html: Path
    notebook: Path
    parameters: dict = field(default_factory=dict)
    seconds: float = 0.0


def templates_dir() -> Path:
    """The folder holding the report templates (wheel copy first, then the checkout's)."""
    return _WHEEL_TEMPLATES if _WHEEL_TEMPLATES.is_dir() else _REPO_TEMPLATES


def list_templates() -> list[str]:
    """Names of the available report templates.

    Example
    -------
    >>> "lot_report" in list_templates()
    True
    """
    folder = templates_dir()
    return sorted(p.stem for p in folder.glob("*.ipynb")) if folder.is_dir() else []


def template_path(template) -> Path:
    """Resolve a template name (``"lot_report"``) or a path to any ``.ipynb`` notebook."""
    path = Path(template).expanduser()
    if path.suffix == ".ipynb" and path.is_file():
        return path.resolve()
    if len(path.parts) > 1:
        raise ReportError(f"no notebook at {str(template)!r}")
    candidate = templates_dir() / f"{path.stem if path.suffix == '.ipynb' else template}.ipynb"
    if candidate.is_file():
        return candidate
    available = ", ".join(list_templates()) or "none"
    raise ReportError(f"unknown report template {str(template)!r}; available: {available}")


def _output_paths(output) -> tuple[Path, Path]:
    """The HTML and notebook paths of ``output``, refused before any kernel starts when
    either is something a report does not replace (a folder: :func:`check_replaceable`)."""
    html = Path(output).expanduser()
    if html.suffix == ".ipynb":
        raise ReportError(f"output {str(output)!r} must be the HTML path; the notebook goes next to it")
    notebook = html.with_suffix(".ipynb")
    check_replaceable(html)
    check_replaceable(notebook)
    return html, notebook


def _failing_cell(nb, cell_index: int) -> tuple[int, str]:
    """Template index and first source line of executed cell ``cell_index``."""
    injected = sum(
        "injected-parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells[:cell_index]
    )
    source = nb.cells[cell_index].source.strip().splitlines() if cell_index < len(nb.cells) else []
    return cell_index - injected, (source[0] if source else "")


def _execution_error(err, template: str, executed, notebook: Path):
    """Translate a papermill/nbclient failure into a :class:`ReportExecutionError`."""
    from papermill.exceptions import PapermillExecutionError

    where = f"; partial notebook: {notebook}" if notebook.exists() else ""
    if isinstance(err, PapermillExecutionError):
        index, first_line = _failing_cell(executed, err.cell_index) if executed else (err.cell_index, "")
        return ReportExecutionError(
            f"report '{template}' failed in cell {index} (In [{err.exec_count}]: {first_line!r}): "
            f"{err.ename}: {err.evalue}{where}; no HTML written",
            notebook=notebook if where else None, cell_index=index,
            ename=err.ename, evalue=err.evalue,
        )
    return ReportExecutionError(
        f"report '{template}' stopped: {type(err).__name__}: {err}{where}; no HTML written",
        notebook=notebook if where else None, ename=type(err).__name__, evalue=str(err),
    )


#: a live ipywidget view in an output bundle
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: static renderings a widget may put next to its view (fabnb's widgets add a PNG)
STATIC_IMAGES = ("image/png", "image/svg+xml", "image/jpeg")


def static_widgets(nb):
    """A copy of notebook ``nb`` whose widget outputs show their static image.

    nbconvert's templates prefer a widget view over every other type of an output bundle
    and draw it with widget-manager JavaScript fetched from a CDN, so offline the image
    next to it never shows and the page has a blank box.  Here every output that carries
    a view *and* an image keeps only the image; views without an image (a plain slider)
    stay live.  When no view is left, the widget state is dropped as well, so the page
    loads no widget script at all.

    Example
    -------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(metadata={"widgets": {}})
    >>> cell = nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
    ...     "display_data", {WIDGET_VIEW: {"model_id": "m"}, "image/png": "iVBOR", "text/plain": "W"})])
    >>> nb.cells = [cell]
    >>> out = static_widgets(nb)
    >>> sorted(out.cells[0].outputs[0].data), "widgets" in out.metadata
    (['image/png', 'text/plain'], False)
    """
    nb = copy.deepcopy(nb)
    live = False
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            if any(kind in data for kind in STATIC_IMAGES):
                del data[WIDGET_VIEW]
            else:
                live = True
    if not live:
        nb.metadata.pop("widgets", None)
    return nb


def _to_html(nb, title: str) -> str:
    """Reader-facing HTML: no code, no prompts, images and widget state embedded; cells
    tagged ``remove-cell`` (notes for the template's author) are left out; widgets with
    a static image show that image (:func:`static_widgets`), so the page needs no network."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={"remove-cell"}), enabled=True)
    body, _ = exporter.from_notebook_node(static_widgets(nb), resources={"metadata": {"name": title}})
    return body


def run(
    template,
    parameters=None,
    output="out/report.html",
    kernel_name=None,
    start_timeout=60,
    execution_timeout=600,
    progress=False,
) -> Report:
    """Run report ``template`` with ``parameters`` into ``output`` (HTML) and its ``.ipynb``.

    Parameters
    ----------
    template
        A name from :func:`list_templates` or a path to any notebook with a
        ``parameters``-tagged cell.
    parameters
        Values for names declared in the template's ``parameters`` cell; checked (name,
        type, ``dataset`` path) before a kernel starts.
    output
        HTML path; the executed notebook is written next to it with suffix ``.ipynb``.
    kernel_name
        Jupyter kernel; default: the notebook's own kernelspec, else ``python3``.
    start_timeout, execution_timeout
        Seconds to wait for the kernel to start and for each cell to finish.
    progress
        Show papermill's per-cell progress bar.

    Returns
    -------
    Report
        ``html``, ``notebook``, the injected ``parameters`` and the run time in ``seconds``.

    Raises
    ------
    ReportError, fabnb.FabDataError
        Bad template, parameter name, parameter type or dataset path (no kernel started).
    ReportExecutionError
        A cell raised, the kernel died or timed out; the partial notebook is written and
        no HTML is.

    Example
    -------
    >>> run("lot_report", {"title": "Lot A"}, output="out/a.html").html  # doctest: +SKIP
    PosixPath('out/a.html')
    """
    started = time.perf_counter()
    check_params("run", _TIMEOUTS,
                 {"start_timeout": start_timeout, "execution_timeout": execution_timeout})
    path = template_path(template)
    name = path.stem
    declared = read_parameters(path)
    parameters = check_parameters(declared, parameters, name)
    html, notebook = _output_paths(output)

    import nbformat  # heavy imports only once the parameters are known to be good
    import papermill

    source = nbformat.read(str(path), as_version=4)
    kernel_name = kernel_name or source.metadata.get("kernelspec", {}).get("name") or "python3"

    notebook.parent.mkdir(parents=True, exist_ok=True)
    failure = None
    with atomic_path(notebook) as partial:
        try:
            executed = papermill.execute_notebook(
                str(path), str(partial), parameters=parameters, kernel_name=kernel_name,
                start_timeout=start_timeout, execution_timeout=execution_timeout,
                progress_bar=progress, store_widget_state=True,
            )
        except Exception as err:  # keep the partial notebook, then report the failing cell
            if not partial.exists():  # the kernel never ran a cell: nothing to keep
                raise _execution_error(err, name, None, notebook) from err
            failure = err
    if failure is not None:
        executed = _without_error_markers(nbformat.read(str(notebook), as_version=4))
        raise _execution_error(failure, name, executed, notebook) from failure

    title = str(parameters.get("title") or declared.get("title") or name)
    with atomic_path(html) as page:
        page.write_text(_to_html(executed, title), encoding="utf-8")
    return Report(html=html, notebook=notebook, parameters=parameters,
                  seconds=time.perf_counter() - started)


def _without_error_markers(nb):
    """The executed notebook without the two error-marker cells papermill inserts."""
    nb.cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    return nb


def lot_output(output, lot) -> Path:
    """``out/report.html`` -> ``out/report_<lot>.html`` (lot id made file-name safe).

    Example
    -------
    >>> lot_output("out/report.html", "L0001")
    PosixPath('out/report_L0001.html')
    """
    output = Path(output)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(lot))
    return output.with_name(f"{output.stem}_{safe}{output.suffix}")


def run_lots(template, lots, parameters=None, output="out/report.html", workers=2,
             progress=False, **run_kwargs) -> dict:
    """One report per lot, ``workers`` at a time, each with its own kernel.

    ``template`` must declare a ``lot`` parameter; each run gets ``lot=<id>`` and writes
    :func:`lot_output` (``report_<lot>.html`` + ``.ipynb``). All parameters are checked
    before the first kernel starts. Lots that fail do not stop the others; afterwards a
    :class:`ReportExecutionError` lists them.

    Returns
    -------
    dict
        lot id -> :class:`Report`.

    Example
    -------
    >>> run_lots("lot_report", ["L0001", "L0002"], output="out/lot.html")  # doctest: +SKIP
    {'L0001': Report(html=PosixPath('out/lot_L0001.html'), ...), ...}
    """
    from tqdm.auto import tqdm

    lots = [str(lot) for lot in lots]
    if not lots:
        raise ReportError("no lots given")
    if len(set(lots)) != len(lots):
        raise ReportError(f"duplicated lot ids in {lots}")
    check_params("run_lots", {"workers": [Interval(Integral, 1, None, closed="left")]}, {"workers": workers})
    path = template_path(template)
    declared = read_parameters(path)
    if "lot" not in declared:
        raise ReportError(f"template '{path.stem}' has no 'lot' parameter, so it cannot run per lot")
    base = dict(parameters or {})
    for lot in lots:
        check_parameters(declared, {**base, "lot": lot}, path.stem)
    _output_paths(output)

    reports, failures = {}, {}
    # Threads suffice: each run drives its own kernel process, the work happens there.
    with ThreadPoolExecutor(max_workers=int(workers)) as pool:
        futures = {
            pool.submit(run, str(path), {**base, "lot": lot}, str(lot_output(output, lot)),
                        **run_kwargs): lot
            for lot in lots
        }
        for future in tqdm(as_completed(futures), total=len(futures), disable=not progress,
                           desc="lot reports"):
            lot = futures[future]
            try:
                reports[lot] = future.result()
            except Exception as err:  # noqa: BLE001 -- keep going: the other lots' reports are still useful
                failures[lot] = err
    if failures:
        detail = "\n".join(f"  {lot}: {err}" for lot, err in sorted(failures.items()))
        raise ReportExecutionError(f"{len(failures)} of {len(lots)} lot reports failed:\n{detail}")
    return {lot: reports[lot] for lot in lots}
