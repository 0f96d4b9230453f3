"""What every calibration panel shares: controls, a live matplotlib plot, readouts, a
message line for bad input and the static image fallback.

A panel is an ``ipywidgets.VBox``: its controls (public attributes such as
``panel.lam_slider``) call :meth:`CalibrationPanel.refresh` when they change; ``refresh``
asks the subclass to ``_compute`` a result with the public fabnb functions a user would
call, then to ``_draw`` it on a fresh matplotlib ``Figure`` (never pyplot, so nothing
leaks and ``%matplotlib inline`` does not show it twice) and to describe it in
``_readout`` (HTML).  The plot is a PNG display-data item of an ``ipywidgets.Output``,
so an executed notebook keeps it in its widget state.  A ``ValueError`` (``FabDataError``,
``FabFitError``) or ``LinAlgError`` from the model is shown as a message in place, except
that a bad constructor argument raises :class:`~fabnb.errors.FabParameterError`: the
panel's own options are checked against its rules before anything is built, and the
first computation (:meth:`CalibrationPanel._start`) lets the parameter errors of the
fabnb functions it calls through.  Each slider's range is the rule of the argument that
sets it (an ipywidgets slider would silently clamp anything outside).

Example
-------
>>> from fabnb.widgets import R2RTuning
>>> panel = R2RTuning(n_runs=50)
>>> panel.to_image()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import base64
import html
import io
from contextlib import contextmanager

import ipywidgets as W
import numpy as np

from fabnb._params import Interval, Real
from fabnb.errors import FabParameterError


def within(lo, hi) -> list:
    """The rule of an argument that sets a slider over ``[lo, hi]``."""
    return [Interval(Real, lo, hi, closed="both")]


def figure_png(fig) -> bytes:
    """PNG bytes of a matplotlib Figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def message_png(text: str, figsize) -> bytes:
    """A picture of a message, for the static fallback of a panel in its error state."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=80)
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True, color="firebrick")
    return figure_png(fig)


class CalibrationPanel(W.VBox):
    """Base of the calibration panels (see the module docstring).

    Subclasses set ``figsize``, build their controls, call :meth:`_layout` and implement
    ``_compute() -> result``, ``_draw(fig)`` and ``_readout() -> str`` (HTML).

    Attributes
    ----------
    result : the last successful ``_compute`` result (None in the error state)
    error : the message shown for bad input (None when fine)
    readout, message : ipywidgets.HTML;  plot : ipywidgets.Output
    """

    figsize = (9.0, 3.5)

    def _layout(self, controls):
        self.readout = W.HTML()
        self.message = W.HTML()
        self.plot = W.Output()
        self.result, self.error, self._png = None, None, None
        self._held = self._strict = False
        super().__init__(children=[*controls, self.message, self.readout, self.plot])
        self.add_class("fabnb-calibration")

    def _watch(self, *controls):
        for control in controls:
            control.observe(lambda _change: self.refresh(), "value")

    @contextmanager
    def hold(self):
        """Change several controls with one recompute at the end (not one per control).

        >>> from fabnb.widgets import R2RTuning
        >>> panel = R2RTuning(controller="double-ewma", n_runs=50)
        >>> with panel.hold():
        ...     panel.lam_slider.value, panel.lam2_slider.value = 0.5, 0.2
        >>> panel.result.attrs["controller"]
        'DoubleEWMAController'
        """
        held, self._held = self._held, True
        try:
            yield self
        finally:
            self._held = held
        if not held:
            self.refresh()

    def _start(self):
        """The first :meth:`refresh`, from the constructor: a parameter the panel passes
        on (``n_runs``, ``n_synthetic``, ...) that the fabnb function refuses raises its
        :class:`FabParameterError` instead of becoming a message."""
        self._strict = True
        try:
            return self.refresh()
        finally:
            self._strict = False

    def refresh(self):
        """Recompute with the current control values and redraw; returns ``self.result``
        (None when the input is bad, the message then says why).  Inside :meth:`hold`
        it waits for the end of the block."""
        from matplotlib.figure import Figure

        if self._held:
            return self.result
        try:
            self.result = self._compute()
            fig = Figure(figsize=self.figsize, dpi=80, layout="constrained")
            self._draw(fig)
            png = figure_png(fig)
        except (ValueError, np.linalg.LinAlgError) as err:
            if self._strict and isinstance(err, FabParameterError):
                raise
            self._fail(str(err))
            return None
        self.error, self._png = None, png
        self.message.value = ""
        self.readout.value = self._readout()
        # set the Output's content directly: no dependence on a kernel's display hooks,
        # so the same happens in a notebook, a script and a test
        self.plot.outputs = ({"output_type": "display_data", "metadata": {},
                              "data": {"image/png": base64.b64encode(png).decode("ascii"),
                                       "text/plain": f"<{type(self).__name__} plot>"}},)
        return self.result

    def _fail(self, text: str):
        self.result, self.error, self._png = None, text, None
        self.message.value = f"<span class='fabnb-error' style='color:firebrick'>{html.escape(text)}</span>"
        self.readout.value = ""
        self.plot.outputs = ()

    def to_image(self) -> bytes:
        """PNG bytes of the current plot (a picture of the message in the error state)."""
        if self._png is None:
            return message_png(self.error or "nothing to show", self.figsize)
        return self._png

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if data is not None:
            data["image/png"] = base64.b64encode(self.to_image()).decode("ascii")
            data.setdefault("text/plain", f"<{type(self).__name__}>")
        return data
