"""Errors raised by fabnb.

All are :class:`ValueError` subclasses so that code catching ``ValueError`` keeps
working; the message always names *what* is wrong and *where* (variable, wafer, die,
file offset, option, ...).
"""


class FabDataError(ValueError):
    """Input data violates the dataset contract or cannot be read.

    Examples: a missing ``x`` coordinate, duplicated die sites, a wafer with no data,
    a file that is not NetCDF/Zarr/CSV, a truncated STDF record.
    """


class FabFitError(ValueError):
    """A model cannot be fitted to the data it was given.

    Examples: a singular design, fewer samples than parameters, a kernel matrix that
    stays ill-conditioned after jitter escalation, a non-identifiable effect.
    """


class FabParameterError(FabDataError, FabFitError):
    """A parameter or option is outside the rules declared for it.

    Raised by :func:`fabnb._params.check_params` for every estimator and function, so a
    bad option is one exception type across the kit; the message names the parameter,
    its owner, what it must be and what it got.  It subclasses both :class:`FabDataError`
    and :class:`FabFitError` (as scikit-learn's ``InvalidParameterError`` subclasses both
    ``ValueError`` and ``TypeError``) so code written against either keeps working.
    """
