"""Errors raised by fabnb.

Both are :class:`ValueError` subclasses so that code catching ``ValueError`` keeps
working; the message always names *what* is wrong and *where* (variable, wafer, die,
file offset, ...).
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
