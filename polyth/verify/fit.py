"""Fits of measured running times against the cost engine's predictions.

Two least-squares fits, both by :func:`scipy.stats.linregress`:

* the **log-log fit** ``log T(n) = α · log n + log c``: the slope α is the measured
  runtime exponent, compared with the plan's predicted exponent (the leading power
  of n of its cost, :func:`polyth.cost.exponent_value`);
* the **count fit** ``T(n) = κ · N(n) + T₀`` of the time against the predicted
  operation count N(n) (:func:`polyth.cost.operation_count`): κ is the measured time
  per operation, T₀ the fixed overhead, and R² says how much of the variation in time
  the operation count explains.

A measured exponent *agrees* with the prediction when ``|α − α_pred| ≤ band``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from polyth.errors import InputError

DEFAULT_BAND = 0.25


@dataclass(frozen=True)
class ExponentFit:
    """``log T = exponent · log n + intercept``; ``stderr`` is the slope's standard error."""

    exponent: float
    intercept: float
    r_squared: float
    stderr: float

    def predict(self, n) -> np.ndarray:
        """The fitted time at sizes ``n``."""
        return np.exp(self.intercept) * np.asarray(n, dtype=float) ** self.exponent

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CountFit:
    """``T = seconds_per_operation · N + overhead_seconds`` over the predicted counts N."""

    seconds_per_operation: float
    overhead_seconds: float
    r_squared: float

    def to_dict(self) -> dict:
        return asdict(self)


def _positive_series(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise InputError(f"{name} must be a one-dimensional sequence, got shape {array.shape}")
    if not (np.isfinite(array).all() and (array > 0).all()):
        raise InputError(f"{name} must be finite and positive, got {list(values)}")
    return array


def _pair(sizes, seconds, size_name: str) -> tuple[np.ndarray, np.ndarray]:
    x = _positive_series(size_name, sizes)
    y = _positive_series("the times", seconds)
    if len(x) != len(y):
        raise InputError(f"{len(x)} {size_name} but {len(y)} times: give one time per size")
    if len(np.unique(x)) < 2:
        raise InputError(f"a fit needs at least two distinct {size_name}, got {list(sizes)}")
    return x, y


def fit_exponent(sizes, seconds) -> ExponentFit:
    """Least-squares slope of log(time) against log(n): the measured runtime exponent."""
    from scipy import stats

    x, y = _pair(sizes, seconds, "sizes")
    result = stats.linregress(np.log(x), np.log(y))
    return ExponentFit(
        float(result.slope), float(result.intercept), _r_squared(result.rvalue), float(result.stderr)
    )


def fit_operation_count(operations, seconds) -> CountFit:
    """Least-squares line of time against the predicted operation count (constant and R²)."""
    from scipy import stats

    x, y = _pair(operations, seconds, "operation counts")
    result = stats.linregress(x, y)
    return CountFit(float(result.slope), float(result.intercept), _r_squared(result.rvalue))


def _r_squared(r: float) -> float:
    return float(r * r) if math.isfinite(r) else float("nan")


def agrees(measured: float, predicted: float, band: float = DEFAULT_BAND) -> bool:
    """Whether a measured exponent is within ``band`` of the predicted one."""
    check_band(band)
    return abs(measured - predicted) <= band


def check_band(band) -> float:
    """``band`` as a positive finite float, else an InputError."""
    if isinstance(band, bool) or not isinstance(band, (int, float)) or not (0 < band < math.inf):
        raise InputError(f"the pass band must be a positive number (exponent units), got {band!r}")
    return float(band)
