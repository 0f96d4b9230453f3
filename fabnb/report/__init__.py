"""Reports: papermill templates from ``notebooks/`` executed into HTML without code.

>>> import fabnb.report
>>> "lot_report" in fabnb.report.list_templates()
True
>>> fabnb.report.run("lot_report", {"preset": "small"}, output="out/lot.html")  # doctest: +SKIP
Report(html=PosixPath('out/lot.html'), notebook=PosixPath('out/lot.ipynb'), ...)
"""

from .data import describe_dataset, load_dataset, simulator_truth
from .escape import html_table, md_escape
from .notes import data_notes_html
from .params import ReportError, parse_value, read_parameters
from .runner import (
    Report,
    ReportExecutionError,
    list_templates,
    lot_output,
    run,
    run_lots,
    template_path,
    templates_dir,
)

__all__ = [
    "Report", "ReportError", "ReportExecutionError", "data_notes_html", "describe_dataset", "html_table",
    "list_templates", "load_dataset", "lot_output", "md_escape", "parse_value", "read_parameters",
    "run", "run_lots",
    "simulator_truth", "template_path", "templates_dir",
]
