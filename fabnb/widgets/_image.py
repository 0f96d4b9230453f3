"""Static images of widgets: what exported HTML and GitHub show without a kernel.

>>> from fabnb.widgets._image import static_png
>>> static_png(lambda fig: fig.add_subplot().plot([0, 1]), (2, 2), "demo")[:4]
'iVBO'
"""

from __future__ import annotations

import base64
import io
import warnings

from .._warn import user_stacklevel


def static_png(draw, figsize, what: str) -> str | None:
    """Base64 PNG of a matplotlib Figure filled by ``draw(fig)``; None with a warning
    (naming ``what``) when drawing fails, so the live widget still displays."""
    from matplotlib.figure import Figure

    from .wafermap import FabWidgetWarning

    try:
        fig = Figure(figsize=figsize, dpi=80, layout="constrained")
        draw(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
    except Exception as err:  # noqa: BLE001  (whatever went wrong, the live widget must still display)
        warnings.warn(f"{what} static image unavailable: {err}", FabWidgetWarning, stacklevel=user_stacklevel())
        return None
    return base64.b64encode(buf.getvalue()).decode("ascii")
