"""Data strings on their way into a report's HTML: shown as text, never as markup.

A lot id, product, wafer, test or tool id, a file path or a title comes from a file or a
user, and a report pastes it into Markdown (``display(Markdown(...))``) or into a pandas
``Styler`` table, both of which pass HTML through as it is: a lot id
``<img src=x onerror=alert(7)>`` would become a live element of the page.  Every
template therefore sends every data-derived string through :func:`md_escape` (Markdown)
or :func:`html_table` (tables).  Plain DataFrames (pandas escapes them), ``print``
output and figures need nothing.

Example
-------
>>> md_escape("<img src=x onerror=alert(7)>")
'&lt;img src=x onerror=alert\\\\(7\\\\)&gt;'
>>> md_escape("L0001_07 *hot*")
'L0001\\\\_07 \\\\*hot\\\\*'
"""

from __future__ import annotations

import html
import re

#: CommonMark punctuation that can start markup (emphasis, links, code, headings,
#: lists, tables, math); after :func:`html.escape` there is no ``<`` or ``>`` left
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")


def md_escape(value) -> str:
    """``str(value)`` as literal Markdown text, safe inside any Markdown a template writes.

    ``&``, ``<``, ``>`` become HTML entities; CommonMark punctuation gets a backslash; runs
    of whitespace (newlines included, which could start a heading or a list) become
    one space.  The rendered page shows the original characters.

    Example
    -------
    >>> from IPython.display import Markdown
    >>> Markdown(f"Report on lot {md_escape('L<01>')}")            # doctest: +SKIP
    """
    text = " ".join(str(value).split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def html_table(frame, formats=None, caption=None, **format_kwargs):
    """A pandas ``Styler`` of DataFrame ``frame`` with every string escaped for HTML.

    ``Styler`` does not escape: cells, index and column labels, their names and the
    caption would reach the page as markup.  Here cells are formatted with ``formats``
    (as ``Styler.format``: a format string, a callable or a dict per column) and
    ``format_kwargs`` (``na_rep``, ``precision``, ...), all escaped; labels, label names
    and ``caption`` are escaped too.

    Example
    -------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"yield": [0.9]}, index=pd.Index(["<b>W1</b>"], name="wafer"))
    >>> "&lt;b&gt;W1&lt;/b&gt;" in html_table(table, {"yield": "{:.1%}"}).to_html()
    True
    """
    frame = frame.rename_axis(index=_escaped_names(frame.index), columns=_escaped_names(frame.columns))
    style = frame.style.format(formats, escape="html", **format_kwargs)
    style = style.format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    return style if caption is None else style.set_caption(html.escape(str(caption)))


def _escaped_names(index) -> list:
    return [None if name is None else html.escape(str(name)) for name in index.names]
