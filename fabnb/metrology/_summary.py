"""Plain-text and HTML rendering of the Minitab-style tables of a gauge study.

A :class:`Summary` is what ``summary()`` returns: it prints as aligned text (``print``,
``str``) and renders as HTML tables in a notebook (``_repr_html_``), as statsmodels'
``Summary`` does.  Every data-derived string is escaped in the HTML.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd


def _fmt(value, spec):
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""  # a cell that has no value in the table (e.g. F of the error row)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return format(float(value), spec)


class Summary:
    """Titled tables plus notes; ``str()`` is the text report, ``_repr_html_`` the HTML.

    ``tables`` is a list of ``(title, frame, formats)``; ``formats`` maps a column to a
    format spec (default ``".5g"``).  Tables stay available as DataFrames in
    ``tables``.
    """

    def __init__(self, title: str, tables: list, notes: list[str]):
        self.title = title
        self.tables = tables
        self.notes = notes

    def _cells(self, frame, formats):
        return frame.apply(lambda col: [_fmt(v, formats.get(col.name, ".5g")) for v in col])

    def __str__(self) -> str:
        out = [self.title, "=" * len(self.title)]
        for title, frame, formats in self.tables:
            out += ["", title, self._cells(frame, formats).to_string()]
        out += [""] + self.notes if self.notes else []
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        parts = [f"<h4>{html.escape(self.title)}</h4>"]
        for title, frame, formats in self.tables:
            cells = self._cells(frame, formats)
            cells.index = cells.index.map(str)
            parts.append(f"<p><b>{html.escape(title)}</b></p>")
            parts.append(cells.to_html(escape=True))
        parts += [f"<p>{html.escape(n)}</p>" for n in self.notes]
        return "\n".join(parts)


def pct_table(components: pd.DataFrame, k: float, tolerance: float | None) -> pd.DataFrame:
    """Minitab's "Gage Evaluation" table: StdDev, Study Var (k × SD), %Study Var and,
    with a tolerance, %Tolerance = 100 · k·SD / tolerance."""
    out = pd.DataFrame({"StdDev (SD)": components["sd"],
                        f"Study Var ({k:g} × SD)": k * components["sd"],
                        "%Study Var (%SV)": components["pct_study_var"]})
    if tolerance is not None:
        out["%Tolerance (SV/Toler)"] = 100 * k * components["sd"] / tolerance
    return out
