"""Fits of measured running times against the cost engine's predictions (docs/design.md §6).

The runtime estimator, :func:`estimate`, from the k timed repeats at each size n:

1. **The time of a size is the minimum of its repeats.** Interference (another process, a
   thread waiting for its core, a page fault) only ever adds time, so the fastest repeat is
   the least contaminated; a median is contaminated as soon as half the repeats are.
2. **Overhead** a: from the free fit T(n) = a + c·n^α (c ≥ 0, least squares on log T, α
   profiled over [0.5, 8]), with 0 ≤ a ≤ the fastest call seen (an overhead per call cannot
   exceed a whole call; the probes at smaller n give the tightest cap). It uses no prediction, so
   a wrong prediction cannot pull the exponent towards itself.
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
count N (non-negative least squares on log T, :func:`fit_operation_count`) gives
the time per operation κ and says (R²) how well the prediction's count explains the times; and
:func:`fit_exponent` is the plain log-log slope (:func:`scipy.stats.linregress`).

Example::

    >>> sizes = [1024, 2048, 4096, 8192]
    >>> e = estimate(sizes, [[1e-3 + 1e-9 * n**2] * 5 for n in sizes], [n**2 for n in sizes])
    >>> round(e.exponent, 4), round(1e3 * e.overhead, 4), e.fitted_sizes
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
    """``T = a′ + κ·N`` with a′, κ ≥ 0, least squares on log T (the count fit)."""
    x, y = _pair(operations, seconds, "operation counts")
    (overhead, per_operation), _ = _log_fit(x, y)
    predicted = overhead + per_operation * x
    total = float(((y - y.mean()) ** 2).sum())
    r_squared = 1.0 - float(((y - predicted) ** 2).sum()) / total if total > 0 else float("nan")
    return CountFit(per_operation, overhead, r_squared)


def _log_fit(
    column: np.ndarray, times: np.ndarray, cap: float = math.inf
) -> tuple[tuple[float, float], float]:
    """(a, c), 0 ≤ a ≤ cap and c ≥ 0, minimising Σ (log(a + c·column) − log T)²
    (:func:`scipy.optimize.least_squares` from the relative least-squares solution of
    :func:`scipy.optimize.nnls`), and that sum. Timing errors are multiplicative, so residuals are
    taken in log T: unlike relative residuals (a + c·x)/T − 1, they weigh a fit twice too high and
    one twice too low alike."""
    from scipy.optimize import least_squares, nnls

    scale = column.max()
    x, log_t = column / scale, np.log(times)
    start, _ = nnls(np.column_stack([np.ones_like(x), x]) / times[:, None], np.ones_like(times))
    start[0] = min(start[0], cap)

    def residuals(p):
        return np.log(np.maximum(p[0] + p[1] * x, 1e-300)) - log_t

    def jacobian(p):
        return np.column_stack([np.ones_like(x), x]) / np.maximum(p[0] + p[1] * x, 1e-300)[:, None]

    inside = np.clip(start, 1e-12 * times.min(), [cap * (1 - 1e-9), np.inf])
    fit = least_squares(residuals, inside, jac=jacobian, bounds=([0.0, 0.0], [cap, np.inf]),
                        x_scale=times.max(), xtol=1e-12, ftol=1e-12)  # fmt: skip
    # the solver stops just inside a bound; the start is exact where the data are (a = 0, no noise)
    best = min((start, fit.x), key=lambda p: float((residuals(p) ** 2).sum()))
    return (float(best[0]), float(best[1] / scale)), float((residuals(best) ** 2).sum())


def _r_squared(r: float) -> float:
    return float(r * r) if math.isfinite(r) else float("nan")


# Every mechanism reads its n·d inputs, so no exponent is below 1; from 0.5 the constant a stays
# separable from c·n^α (at α = 0 they are the same column).
ALPHA_RANGE = (0.5, 8.0)
NEGLIGIBLE = 1e-6  # an overhead under this fraction of the fastest time is none


def free_overhead(sizes: np.ndarray, times: np.ndarray, cap: float = math.inf) -> float:
    """Step 2: a of the least-squares fit log T ≈ log(a + c·n^α) (0 ≤ a ≤ cap, c ≥ 0), α profiled
    over [0.5, 8]: a grid of step 0.25, then :func:`scipy.optimize.minimize_scalar` between the
    best grid point's neighbours."""
    from scipy.optimize import minimize_scalar

    relative = sizes / sizes.max()

    def profile(alpha: float) -> float:
        return _log_fit(relative**alpha, times, cap)[1]

    grid = np.arange(ALPHA_RANGE[0], ALPHA_RANGE[1] + 1e-9, 0.25)
    i = int(np.argmin([profile(alpha) for alpha in grid]))
    bracket = (grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)])
    alpha = minimize_scalar(profile, bounds=bracket, method="bounded", options={"xatol": 1e-9}).x
    overhead = _log_fit(relative**alpha, times, cap)[0][0]
    return overhead if overhead > NEGLIGIBLE * times.min() else 0.0  # the solver's 10⁻²⁵ s is a 0


def estimate(
    sizes: Sequence[int],
    repeats: Sequence[Sequence[float]],
    operations: Sequence[float],
    fastest_call: float = math.inf,
) -> Estimate:
    """The runtime estimator of the module docstring on ``repeats[i]``, the timed runs at ``sizes[i]``.

    The overhead per call is at most the fastest call seen: ``fastest_call`` (e.g. a probe at a
    smaller size) or the fastest repeat here."""
    from scipy import stats

    n = _positive_series("sizes", sizes)
    ops = _positive_series("operation counts", operations)
    samples = [_positive_series("the times", r) for r in repeats]
    if not len(n) == len(ops) == len(samples):
        raise InputError(f"{len(n)} sizes, {len(ops)} operation counts, {len(samples)} series of repeats")
    if len(np.unique(n)) != len(n) or len(n) < 2:
        raise InputError(f"give at least two distinct sizes, got {list(sizes)}")
    times = np.array([s.min() for s in samples])
    overhead = free_overhead(n, times, min(fastest_call, float(times.min())))
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
