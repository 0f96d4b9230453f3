"""The "data notes" box of a report: what the reader and the analysis found odd in the data.

A template records the warnings raised while it loads and analyses the data
(``warnings.catch_warnings(record=True)``) and shows them with :func:`data_notes_html`,
so a stale summary record or a skipped record type is in front of the reader instead of
in a log.  A long list is folded: a lot of 25 files can raise a note per file.

Example
-------
>>> import warnings
>>> with warnings.catch_warnings(record=True) as notes:
...     warnings.simplefilter("always")
...     warnings.warn("WRR PART_CNT 10 but 12 parts in <lot.stdf>")
>>> html = data_notes_html(notes)
>>> "Data notes</b> (1)" in html and "&lt;lot.stdf&gt;" in html
True
"""

from __future__ import annotations

import html
import warnings

from .._params import Integral, Interval, check_params

#: more notes than this and the box shows the first :data:`SHOWN_WHEN_FOLDED`, the rest folded
FOLD_AFTER = 5
SHOWN_WHEN_FOLDED = 3
CSS_CLASS = "fab-data-notes"
_STYLE = ("border:1px solid #d9a400;background:#fff8e1;padding:0.4em 1em;margin:0.5em 0;"
          "white-space:pre-wrap")


def _kind_and_text(note) -> tuple[str, str]:
    """(category name, message) of a recorded warning, a Warning, or any other object."""
    if isinstance(note, warnings.WarningMessage):
        return note.category.__name__, str(note.message)
    if isinstance(note, Warning):
        return type(note).__name__, str(note)
    return "note", str(note)


def _fold(rest: list, noun: str, inner: str) -> str:
    """A closed ``<details>`` holding ``inner`` (the ``rest``), its summary counting them;
    ``""`` when nothing is left over."""
    if not rest:
        return ""
    return f"<details><summary>{len(rest)} more {noun}{'s' * (len(rest) != 1)}</summary>{inner}</details>"


def _item(kind: str, text: str, count: int, fold_after: int, shown_when_folded: int) -> str:
    """One note as an escaped ``<li>``; a note of many lines shows its first lines and
    folds the rest (a lot's files can add a line each)."""
    lines = [html.escape(line) for line in text.splitlines()] or [""]
    head = len(lines) if len(lines) <= fold_after else shown_when_folded
    times = f" (×{count})" if count > 1 else ""
    body = "\n".join(lines[:head]) + _fold(lines[head:], "line", "\n".join(lines[head:]))
    return f"<li><b>{html.escape(kind)}</b>{times}: {body}</li>"


def data_notes_html(notes, fold_after=FOLD_AFTER, shown_when_folded=SHOWN_WHEN_FOLDED) -> str:
    """HTML of the data-notes box for ``notes``; ``""`` when there are none.

    ``notes`` are recorded warnings (:class:`warnings.WarningMessage`), Warning instances
    or strings.  Notes with the same category and message are listed once with their
    count (``×25``), so none is lost and none repeats.  Up to ``fold_after`` distinct
    notes are listed; more, and the first ``shown_when_folded`` are listed and the rest
    sit in a ``<details>`` fold whose summary gives their number.  A note of more than
    ``fold_after`` lines likewise shows its first ``shown_when_folded`` lines and folds
    the rest.  The heading counts every note.  Every category and message is
    HTML-escaped: a file name or test name in a message shows as text.

    Example
    -------
    >>> print(data_notes_html(["a", "b", "a"]))                     # doctest: +ELLIPSIS
    <div class="fab-data-notes" ...(3): ...<li><b>note</b> (×2): a</li><li><b>note</b>: b</li></ul></div>
    """
    check_params("data_notes_html", {name: [Interval(Integral, 1, None, closed="left")]
                                     for name in ("fold_after", "shown_when_folded")},
                 {"fold_after": fold_after, "shown_when_folded": shown_when_folded})
    counts: dict[tuple[str, str], int] = {}
    for note in notes:
        key = _kind_and_text(note)
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return ""
    items = [_item(kind, text, n, fold_after, shown_when_folded) for (kind, text), n in counts.items()]
    head = len(items) if len(items) <= fold_after else shown_when_folded
    listed = f"<ul>{''.join(items[:head])}</ul>" + _fold(items[head:], "note", f"<ul>{''.join(items[head:])}</ul>")
    return (f'<div class="{CSS_CLASS}" style="{_STYLE}"><b>Data notes</b> ({sum(counts.values())}): '
            f"what the reader or the analysis found odd in the data; nothing was dropped.{listed}</div>")
