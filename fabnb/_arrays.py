"""Array input shared by every estimator: dense real numbers, or a FabDataError."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array


def real_array(values, what: str, min_features: int = 1) -> np.ndarray:
    """``values`` as a float array of any shape; sparse, complex (a cast would drop the
    imaginary part) and non-numeric input raise :class:`~fabnb.FabDataError` naming
    ``what``, in scikit-learn's words.  ``min_features`` (0 to allow none) applies to
    2-D input.

    >>> real_array([[1, 2]], "X").dtype
    dtype('float64')
    """
    from .errors import FabDataError

    try:
        return np.asarray(check_array(values, accept_sparse=False, dtype=None, ensure_all_finite=False,
                                      ensure_2d=False, allow_nd=True, ensure_min_samples=0,
                                      ensure_min_features=min_features), dtype=float)
    except (TypeError, ValueError) as err:
        raise FabDataError(f"{what} is not a dense array of real numbers: {err}") from None
