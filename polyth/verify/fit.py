"""Fits of measured running times against the cost engine's predictions (docs/design.md §6).

The runtime estimator, :func:`estimate`, from the k timed repeats at each size n:

1. **The time of a size is the minimum of its repeats.** Interference (another process, a
   thread waiting for its core, a page fault) only ever adds time, so the fastest repeat is
   the least contaminated; a median is contaminated as soon as half the repeats are.
2. **Overhead** a: from the free fit T(n) = a + c·n^α (a ≥ 0; least squares on relative
   residuals, α profiled on a grid of step 0.005 in [0.5, 8], a and c solved exactly for each α).
   It uses no prediction, so a wrong prediction cannot pull the exponent towards itself.
3. **Exponent** α: least-squares slope of log(T − a) against log n over the sizes whose time is
   at least twice the overhead (the overhead-corrected times; below, T − a is mostly the error
   of a).
4. **95% confidence interval** of α: the slope's t interval α ± t₀.₉₇₅,ₘ₋₂ · stderr over the m
   fitted sizes (:func:`scipy.stats.linregress`, :data:`scipy.stats.t`). It widens with the
   scatter of the minima about a power law, whether from noise or from a curve that is not one.
   A bootstrap over the repeats is not used: resampling a minimum is unreliable (an extreme
   order statistic), and with heavy-tailed interference it widens the interval whenever most
   repeats of one size were slowed, even when their fastest one was clean.

Beside it, the **count fit** ``T(n) = a′ + κ · N(n)`` against the plan's predicted operation
count N (non-negative least squares on relative residuals, :func:`fit_operation_count`) gives
the time per operation κ and says (R²) how well the prediction's count explains the times; and
:func:`fit_exponent` is the plain log-log slope (:func:`scipy.stats.linregress`).

Example::

    >>> sizes = [1024, 2048, 4096, 8192]
    >>> e = estimate(sizes, [[1e-3 + 1e-9 * n**2] * 5 for n in sizes], [n**2 for n in sizes])
    >>> round(e.exponent, 6), round(1e3 * e.overhead, 6), e.fitted_sizes
    (2.0, 1.0, (1024, 2048, 4096, 8192))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from polyth.errors import InputError

DEFAULT_BAND = 0.25
CONFIDENCE = 0.95
# A size enters the exponent fit when its time is at least this multiple of the fitted overhead.
CORRECTED_FROM = 2.0
STATISTIC = "minimum"


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

    def predict(self, operations) -> np.ndarray:
        return self.overhead_seconds + self.seconds_per_operation * np.asarray(operations, dtype=float)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Estimate:
    """The estimator's result (module docstring): per-size minima, the count fit, and the
    overhead-corrected exponent with its 95% interval (NaN where fewer than 3 sizes qualify)."""

    sizes: tuple[int, ...]
    operations: tuple[float, ...]
    times: tuple[float, ...]  # the minimum of each size's repeats
    count: CountFit
    overhead: float  # a of the free fit a + c·n^α
    fitted_sizes: tuple[int, ...]  # the sizes of the exponent fit (time ≥ 2 × overhead)
    exponent: float
    stderr: float
    interval: tuple[float, float]

    @property
    def work_to_overhead(self) -> float:
        """(T − a) / a at the largest size: how far the largest run is from overhead-dominated."""
        return math.inf if self.overhead <= 0 else (self.times[-1] - self.overhead) / self.overhead

    @property
    def half_width(self) -> float:
        low, high = self.interval
        return (high - low) / 2

    def to_dict(self) -> dict:
        return {
            "statistic": f"{STATISTIC} of the repeats",
            "times": list(self.times),
            "count_fit": self.count.to_dict(),
            "overhead": self.overhead,
            "fitted_sizes": list(self.fitted_sizes),
            "exponent": _finite(self.exponent),
            "stderr": _finite(self.stderr),
            "interval": [_finite(x) for x in self.interval],
            "work_to_overhead": _finite(self.work_to_overhead),
        }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


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
    """``T = a′ + κ·N`` with a′, κ ≥ 0, least squares on relative residuals (the count fit)."""
    x, y = _pair(operations, seconds, "operation counts")
    overhead, per_operation = _count_fit(x, y)
    predicted = overhead + per_operation * x
    total = float(((y - y.mean()) ** 2).sum())
    r_squared = 1.0 - float(((y - predicted) ** 2).sum()) / total if total > 0 else float("nan")
    return CountFit(per_operation, overhead, r_squared)


def _count_fit(operations: np.ndarray, seconds: np.ndarray) -> tuple[float, float]:
    from scipy.optimize import nnls

    design = np.column_stack([np.ones_like(operations), operations]) / seconds[:, None]
    scale = np.linalg.norm(design, axis=0)
    scale[scale == 0] = 1.0
    solution, _ = nnls(design / scale, np.ones_like(seconds))
    overhead, per_operation = solution / scale
    return float(overhead), float(per_operation)


def _r_squared(r: float) -> float:
    return float(r * r) if math.isfinite(r) else float("nan")


# Every mechanism reads its n·d inputs, so no exponent is below 1; from 0.5 the constant a stays
# separable from c·n^α (at α = 0 they are the same column).
ALPHAS = np.arange(0.5, 8.0 + 1e-9, 0.005)


def free_overhead(sizes: np.ndarray, times: np.ndarray) -> float:
    """Step 2: a of the least-squares fit T = a + c·n^α (a, c ≥ 0) on relative residuals.

    For every α on the grid, the best non-negative (a, c) is the best of three candidates: the
    unconstrained solution when both are ≥ 0, a alone (c = 0) and c alone (a = 0)."""
    u = 1.0 / times  # the a column, relative
    v = sizes[None, :] ** ALPHAS[:, None] / times  # the c column for every α
    uu, uv, vv = u @ u, v @ u, (v * v).sum(axis=1)
    u1, v1 = u.sum(), v.sum(axis=1)
    det = uu * vv - uv * uv
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (u1 * vv - v1 * uv) / det
        c = (uu * v1 - uv * u1) / det
    feasible = np.isfinite(a) & np.isfinite(c) & (a >= 0) & (c >= 0)
    candidates = [
        (np.where(feasible, a, 0.0), np.where(feasible, c, 0.0), feasible),
        (np.full_like(vv, u1 / uu), np.zeros_like(vv), np.ones_like(feasible)),  # a alone
        (np.zeros_like(vv), v1 / vv, np.ones_like(feasible)),  # c·n^α alone
    ]
    best, best_residual = 0.0, math.inf
    for a_k, c_k, ok in candidates:
        residual = np.where(ok, ((a_k[:, None] * u + c_k[:, None] * v - 1.0) ** 2).sum(axis=1), np.inf)
        i = int(np.argmin(residual))
        if residual[i] < best_residual:
            best, best_residual = float(a_k[i]), float(residual[i])
    return best


def estimate(
    sizes: Sequence[int], repeats: Sequence[Sequence[float]], operations: Sequence[float]
) -> Estimate:
    """The runtime estimator of the module docstring on ``repeats[i]``, the timed runs at ``sizes[i]``."""
    from scipy import stats

    n = _positive_series("sizes", sizes)
    ops = _positive_series("operation counts", operations)
    samples = [_positive_series("the times", r) for r in repeats]
    if not len(n) == len(ops) == len(samples):
        raise InputError(f"{len(n)} sizes, {len(ops)} operation counts, {len(samples)} series of repeats")
    if len(np.unique(n)) != len(n) or len(n) < 2:
        raise InputError(f"give at least two distinct sizes, got {list(sizes)}")
    times = np.array([s.min() for s in samples])
    overhead = free_overhead(n, times)
    keep = times >= CORRECTED_FROM * overhead
    slope = stderr = math.nan
    interval = (math.nan, math.nan)
    if keep.sum() >= 3:
        line = stats.linregress(np.log(n[keep]), np.log(times[keep] - overhead))
        slope, stderr = float(line.slope), float(line.stderr)
        spread = float(stats.t.ppf(0.5 + CONFIDENCE / 2, int(keep.sum()) - 2)) * stderr
        interval = (slope - spread, slope + spread)
    return Estimate(
        sizes=tuple(int(x) for x in n),
        operations=tuple(float(x) for x in ops),
        times=tuple(float(x) for x in times),
        count=fit_operation_count(ops, times),
        overhead=overhead,
        fitted_sizes=tuple(int(x) for x in n[keep]),
        exponent=slope,
        stderr=stderr,
        interval=interval,
    )


def agrees(measured: float, predicted: float, band: float = DEFAULT_BAND) -> bool:
    """Whether a measured exponent is within ``band`` of the predicted one."""
    check_band(band)
    return abs(measured - predicted) <= band


def check_band(band) -> float:
    """``band`` as a positive finite float, else an InputError."""
    if isinstance(band, bool) or not isinstance(band, (int, float)) or not (0 < band < math.inf):
        raise InputError(f"the pass band must be a positive number (exponent units), got {band!r}")
    return float(band)
