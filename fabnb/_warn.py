"""Warnings from fabnb point at the user's call, not at fabnb's source lines."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent)  # the fabnb package folder


def user_stacklevel() -> int:
    """``stacklevel`` for a ``warnings.warn`` made by the caller of this function that
    names the first frame outside fabnb (the user's cell or script), however deep inside
    fabnb (``fabnb.io.read``, a report's ``load_dataset``) the warning is raised.

    Example
    -------
    >>> import warnings
    >>> def reader():                      # imagine this inside fabnb
    ...     warnings.warn("stale PCR", UserWarning, stacklevel=user_stacklevel())
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_ROOT):
        frame, level = frame.f_back, level + 1
    return level
