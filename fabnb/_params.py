"""One contract for parameters: declared once, checked where the work starts.

Estimators declare ``_parameter_constraints`` (a dict, parameter name → list of
constraints) exactly as scikit-learn's estimators do and call
``self._validate_params()`` first thing in ``fit`` (the :class:`CheckedParams` mixin
provides it); plain functions call :func:`check_params` with their own dict.  The rules
are scikit-learn's (:class:`Interval`, :class:`StrOptions`, :class:`Options`, types,
``None``, ``"boolean"``, ``"array-like"``, ...), so the messages read the same as
scikit-learn's, but every violation raises :class:`fabnb.FabParameterError`.

scikit-learn keeps these rules in a private module; importing them here, in one place,
means a future move costs one edit.

Example
-------
>>> from numbers import Real
>>> check_params("ShewhartChart", {"L": [Interval(Real, 0, None, closed="neither")]}, {"L": -3})
Traceback (most recent call last):
...
fabnb.errors.FabParameterError: The 'L' parameter of ShewhartChart must be a float in the range (0.0, inf). Got -3 instead.
"""

from __future__ import annotations

from numbers import Integral, Real  # noqa: F401  (re-exported for declarations)

from sklearn.utils._param_validation import (  # noqa: F401  (re-exported)
    HasMethods,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

from .errors import FabParameterError

__all__ = ["CheckedParams", "HasMethods", "Integral", "Interval", "Options", "Real",
           "StrOptions", "check_params", "check_option"]


def check_params(owner: str, constraints: dict, params: dict) -> None:
    """Check ``params`` against ``constraints``; raise :class:`FabParameterError` naming
    the parameter and ``owner`` (the estimator or function) on the first violation.

    Only the names present in both dicts are checked, as in scikit-learn.
    """
    try:
        validate_parameter_constraints(constraints, params, caller_name=owner)
    except InvalidParameterError as err:
        raise FabParameterError(str(err)) from None


def check_option(owner: str, name: str, value, allowed) -> None:
    """Raise :class:`FabParameterError` unless ``value`` is one of ``allowed``.

    The one-line form of a :class:`StrOptions`/:class:`Options` rule for functions with
    a single option to check.

    >>> check_option("virtual_probe", "method", "gp", ("gp", "gp-ps"))
    """
    allowed = tuple(allowed)
    try:
        ok = value in allowed
    except TypeError:  # unhashable or incomparable value
        ok = False
    if not ok:
        raise FabParameterError(
            f"The {name!r} parameter of {owner} must be one of {list(allowed)}. Got {value!r} instead."
        )


class CheckedParams:
    """Mixin for estimators: ``_validate_params()`` checks ``get_params(deep=False)``
    against the class's ``_parameter_constraints`` and raises :class:`FabParameterError`.

    Put it before scikit-learn's ``BaseEstimator`` in the bases; call
    ``self._validate_params()`` at the top of ``fit``.
    """

    _parameter_constraints: dict = {}

    def _validate_params(self) -> None:
        check_params(type(self).__name__, self._parameter_constraints, self.get_params(deep=False))
