"""Finite-input checks in one pass without a temporary array.

``np.isfinite(X).all()`` writes an n-element boolean array and reads it again. A sum is
NaN or ±inf whenever some entry is (inf + finite = inf, inf − inf = NaN, NaN propagates),
so a finite sum proves every entry finite; only when the sum is not finite (a non-finite
entry, or finite entries whose sum overflows) is the exact element-wise check run.

Example::

    >>> import numpy as np
    >>> all_finite(np.array([1.0, 2.0])), all_finite(np.array([1.0, np.nan]))
    (True, False)
"""

from __future__ import annotations

import numpy as np


def all_finite(X: np.ndarray) -> bool:
    """Whether every entry of the float array X is finite (NaN and ±inf are not)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(X)):
            return True
    return bool(np.isfinite(X).all())
