"""Where the widgets' front-end files (ES modules and CSS) live.

A wheel carries the top-level ``widgets/`` folder as ``fabnb/_static`` (see
pyproject's ``force-include``); an editable install reads the repository's
``widgets/`` folder directly.

Example
-------
>>> from fabnb.widgets._static import static_file
>>> static_file("wafermap.js").name
'wafermap.js'
"""

from __future__ import annotations

from pathlib import Path

import fabnb
from fabnb.errors import FabDataError

_PACKAGE_DIR = Path(fabnb.__file__).resolve().parent
CANDIDATES = (_PACKAGE_DIR / "_static", _PACKAGE_DIR.parent / "widgets")


def static_dir() -> Path:
    """The folder holding the front-end files: wheel location first, then the repo's."""
    for folder in CANDIDATES:
        if (folder / "wafermap.js").is_file():
            return folder
    raise FabDataError(
        "fabnb's widget front-end files are missing: looked for wafermap.js in "
        + " and ".join(str(f) for f in CANDIDATES)
        + "; reinstall fabnb (pip install -e . from the repository, or the wheel)"
    )


def static_file(name: str) -> Path:
    """Path of one front-end file, e.g. ``static_file("wafermap.css")``."""
    path = static_dir() / name
    if not path.is_file():
        raise FabDataError(f"widget front-end file {name!r} is missing from {path.parent}")
    return path
