"""Runtime verification: time a mechanism over a geometric grid of n and fit the exponent.

For each n the computation (:func:`polyth.attention` with ``return_timings=True``) runs
once to warm up (numba compiles there), then ``repeats`` (≥ 5) times; the median wall
time of the computation (input validation excluded) and the median of every step's
time are kept. The medians are fitted (:mod:`polyth.verify.fit`) by

* ``log T = α log n + c`` against the predicted exponent of *what actually runs*:
  ``exact``: the exact plan's leading exponent at ω = 3 (the kernels multiply
  matrices classically; :func:`polyth.cost.exponent_value`), ``naive``: the exponent of
  the brute force over all tuples (t without a mask), ``approx``: the low-rank plan's
  (1 for a tree: n · poly(r) with the rank r fixed by B, eps and d);
* ``T = κ · N(n) + T₀`` with N(n) the predicted operation count of the same algorithm
  (:func:`polyth.cost.operation_count`, :func:`polyth.cost.naive_terms`).

The measured exponent passes when it is within ``band`` (default ±0.25) of the prediction.
Inputs: standard normal entries (``approx``: uniform in [−B, B], as its bound assumes).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from polyth.errors import InputError
from polyth.mechanism import Mechanism, notation
from polyth.theory import cost as _cost
from polyth.verify.fit import (
    DEFAULT_BAND,
    CountFit,
    ExponentFit,
    check_band,
    fit_exponent,
    fit_operation_count,
)

METHODS = ("exact", "naive", "approx")
MIN_REPEATS = 5
DEFAULT_D = 32
APPROX_B, APPROX_EPS, APPROX_D = 1.0, 1e-3, 4
# Default grids (choose_sizes): doubling from a size with this many predicted operations,
# up to one run of at most DEFAULT_MAX_SECONDS.
MIN_START_OPERATIONS = 1e5
DEFAULT_MAX_SECONDS = 0.5
DEFAULT_POINTS = 4
OVERHEAD_FRACTION = 20  # sizes faster than max_seconds / this are taken as overhead-dominated
SMALLEST_N, LARGEST_N = 8, 1 << 20


@dataclass(frozen=True)
class Prediction:
    """What the cost engine predicts for the algorithm that runs: exponent and operation counts."""

    method: str
    exponent: float
    basis: str  # how the exponent was obtained, in words
    count: Callable[[int], int] = field(repr=False, compare=False)
    rank: int | None = None


def predict(
    m: Mechanism, method: str, d: int, dv: int, causal: str | None = None, B=None, eps=None
) -> Prediction:
    """The predicted exponent and the operation count N(n) of ``method`` on ``m`` (ω = 3)."""
    if method == "exact":
        from polyth.theory.plan import exact_plan

        plan = exact_plan(m, causal)
        omega_note = " (ω = 3: classical matrix products, what the kernels run)" if _has_matmul(plan) else ""
        return Prediction(
            method,
            _cost.exponent_value(plan, _cost.OMEGA_CLASSICAL),
            f"exact plan, cost {notation.text(_cost.cost(plan))}{omega_note}",
            lambda n: _cost.operation_count(plan, n, d, dv).total,
        )
    if method == "naive":
        terms = _cost.naive_terms(m, causal)
        return Prediction(
            method,
            terms.exponent_at(_cost.OMEGA_CLASSICAL),
            f"brute force over all tuples, cost {notation.text(terms.expr())}",
            lambda n: int(terms.evaluate({"n": n, "d": d, "dv": dv, "r": None})),
        )
    if method == "approx":
        from polyth.theory.approximation import approximate

        a = approximate(m, B, eps, d=d, causal=causal, dv=dv)
        return Prediction(
            method,
            _cost.exponent_value(a.plan, _cost.OMEGA_CLASSICAL),
            f"low-rank plan (Taylor degree {a.degree}, rank r = {a.rank}), cost {notation.text(a.cost)}",
            a.operation_count,
            rank=a.rank,
        )
    raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def _has_matmul(plan) -> bool:
    return any(step.kind == "matmul" for step in plan.steps)


def start_size(prediction: Prediction, operations: float = MIN_START_OPERATIONS) -> int:
    """The smallest power of two ≥ 8 whose predicted operation count reaches ``operations``."""
    n = SMALLEST_N
    while n < LARGEST_N and prediction.count(n) < operations:
        n *= 2
    return n


def choose_sizes(
    prediction: Prediction,
    time_once: Callable[[int], float],
    max_seconds: float = DEFAULT_MAX_SECONDS,
    points: int = DEFAULT_POINTS,
) -> list[int]:
    """Doubling sizes where the work dominates and one run takes at most ``max_seconds``.

    From :func:`start_size`, n doubles while the time of one run (``time_once(n)``, after a
    warm-up) extrapolated by the predicted operation count stays below ``max_seconds``;
    the last ``points`` sizes are kept, dropping those faster than ``max_seconds / 20``
    (overhead-dominated) while at least three remain.
    """
    n = start_size(prediction)
    probed = [(n, time_once(n))]
    while n < LARGEST_N:
        expected = probed[-1][1] * prediction.count(2 * n) / prediction.count(n)
        if expected > max_seconds:
            break
        n *= 2
        probed.append((n, time_once(n)))
    kept = [size for size, seconds in probed if seconds >= max_seconds / OVERHEAD_FRACTION]
    if len(kept) < min(3, len(probed)):
        kept = [size for size, _ in probed[-3:]]
    if len(kept) < 2:
        kept = [n // 2, n] if n // 2 >= 2 else [n, 2 * n]
    return kept[-points:]


@dataclass(frozen=True)
class Point:
    """One size: the median time, every repeat, per-step medians and the predicted count."""

    n: int
    seconds: float
    repeats: tuple[float, ...]
    steps: tuple[tuple[str, float], ...]  # (step label, median seconds)
    operations: int

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "seconds": self.seconds,
            "repeats": list(self.repeats),
            "steps": [{"step": label, "seconds": s} for label, s in self.steps],
            "operations": self.operations,
        }


@dataclass(frozen=True)
class RuntimeVerification:
    """The measured points, both fits and the verdict for one mechanism and method."""

    mechanism: str
    method: str
    backend: str
    causal: str | None
    d: int
    dv: int
    dtype: str
    prediction: Prediction
    points: tuple[Point, ...]
    fit: ExponentFit
    count_fit: CountFit
    band: float

    @property
    def measured_exponent(self) -> float:
        return self.fit.exponent

    @property
    def predicted_exponent(self) -> float:
        return self.prediction.exponent

    @property
    def grid_exponent(self) -> float:
        """The slope of log N(n) over the measured sizes: the predicted exponent at these n."""
        return fit_exponent(self.sizes, [p.operations for p in self.points]).exponent

    @property
    def passed(self) -> bool:
        return abs(self.measured_exponent - self.predicted_exponent) <= self.band

    @property
    def sizes(self) -> list[int]:
        return [p.n for p in self.points]

    def rows(self) -> list[dict]:
        """One row per size: n, median ms, predicted operations, ns per operation, steps."""
        return [
            {
                "n": p.n,
                "median_ms": 1e3 * p.seconds,
                "operations": p.operations,
                "ns_per_operation": 1e9 * p.seconds / p.operations,
                "steps": ", ".join(f"{label} {1e3 * s:.3g} ms" for label, s in p.steps),
            }
            for p in self.points
        ]

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{self.mechanism} {self.method} on {self.backend}: measured exponent "
            f"{self.measured_exponent:.2f} (R² {self.fit.r_squared:.3f}) vs predicted "
            f"{self.predicted_exponent:g} ± {self.band:g}: {verdict} (operation count's slope on this "
            f"grid {self.grid_exponent:.2f}); time vs operation count: "
            f"{1e9 * self.count_fit.seconds_per_operation:.3g} ns/op, R² {self.count_fit.r_squared:.3f}"
        )

    def to_dict(self) -> dict:
        return {
            "mechanism": self.mechanism,
            "method": self.method,
            "backend": self.backend,
            "causal": self.causal,
            "d": self.d,
            "dv": self.dv,
            "dtype": self.dtype,
            "predicted_exponent": self.predicted_exponent,
            "prediction_basis": self.prediction.basis,
            "rank": self.prediction.rank,
            "grid_exponent": self.grid_exponent,
            "measured_exponent": self.measured_exponent,
            "fit": self.fit.to_dict(),
            "count_fit": self.count_fit.to_dict(),
            "band": self.band,
            "passed": self.passed,
            "points": [p.to_dict() for p in self.points],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    checked = []
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= n <= LARGEST_N:
            raise InputError(f"every size n must be an integer between 2 and {LARGEST_N}, got {n!r}")
        checked.append(int(n))
    if len(set(checked)) < 2:
        raise InputError(f"give at least two distinct sizes n to fit an exponent, got {list(sizes)}")
    return sorted(set(checked))


def _check_int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(f"{name} must be an integer between {low} and {high}, got {value!r}")
    return int(value)


def random_inputs(m: Mechanism, n: int, d: int, dv: int, dtype, rng, B: float | None = None):
    """Q (one array per input slot) and V for ``m``: normal entries, or uniform in [−B, B] with B."""
    dv = d if m.per_channel else dv

    def draw(columns: int) -> np.ndarray:
        x = rng.uniform(-B, B, (n, columns)) if B is not None else rng.standard_normal((n, columns))
        return x.astype(dtype)

    Q = [draw(d) for _ in m.input_slots]
    V = {a + 1: rng.standard_normal((n, dv)).astype(dtype) for a in m.values}
    return Q, V


def _step_label(record) -> str:
    return record.kernel if record.variable < 0 else f"{record.kind}[x{record.variable + 1}]:{record.kernel}"


def time_attention(
    m: Mechanism, Q, V, repeats: int, on_repeat=None, warm_up: bool = True, **options
) -> Point:
    """Warm up once (unless ``warm_up=False``: compiled already), then run ``repeats`` times:
    the medians (total and per step); n from Q."""
    from polyth.compute.front import attention

    if warm_up:
        attention(m, Q, V, **options)
    totals, per_step = [], {}
    for _ in range(repeats):
        timed = attention(m, Q, V, return_timings=True, **options)
        totals.append(timed.seconds)
        for record in timed.steps:
            per_step.setdefault(_step_label(record), []).append(record.seconds)
        if on_repeat is not None:
            on_repeat()
    steps = tuple((label, statistics.median(values)) for label, values in per_step.items())
    return Point(len(Q[0]), statistics.median(totals), tuple(totals), steps, 0)


def verify_runtime(
    m: Mechanism,
    method: str = "exact",
    sizes: Sequence[int] | None = None,
    d: int | None = None,
    dv: int | None = None,
    backend: str = "cpu",
    causal: str | None = None,
    repeats: int = MIN_REPEATS,
    band: float = DEFAULT_BAND,
    dtype=np.float32,
    B: float | None = None,
    eps: float | None = None,
    max_seconds: float | None = None,
    points: int = DEFAULT_POINTS,
    seed: int = 0,
    progress: bool = False,
    label: str | None = None,
    max_memory: float | None = None,
) -> RuntimeVerification:
    """Time ``m`` with ``method`` over ``sizes`` and fit the exponent and the count constant.

    Without ``sizes`` the grid is chosen by :func:`choose_sizes` (``points`` doublings, one
    run ≤ ``max_seconds``, default 0.5 s). With ``sizes``, the largest is priced before any
    run (:func:`polyth.compute.front.admit`) and refused with :class:`polyth.BudgetError` when it
    cannot fit in memory (or ``max_memory``), or, if ``max_seconds`` is given, when its
    predicted time exceeds it. ``d`` defaults to 32 (``approx``: 4, so that ranks stay small);
    ``dv`` to ``d``. ``approx`` uses ``B`` and ``eps`` (defaults 1 and 1e-3) and inputs in [−B, B].
    """
    from polyth.compute.front import admit

    if not isinstance(m, Mechanism):
        raise InputError(f"expected a polyth Mechanism, got {type(m).__name__}")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    band = check_band(band)
    repeats = _check_int("repeats", repeats, MIN_REPEATS, 1000)
    points = _check_int("points", points, 2, 12)
    limit = DEFAULT_MAX_SECONDS if max_seconds is None else max_seconds
    if isinstance(limit, bool) or not (isinstance(limit, (int, float)) and 0 < limit <= 600):
        raise InputError(f"max_seconds must be a number of seconds in (0, 600], got {max_seconds!r}")
    if method == "approx":
        B = APPROX_B if B is None else B
        eps = APPROX_EPS if eps is None else eps
    elif B is not None or eps is not None:
        raise InputError("B and eps are only used with method 'approx'")
    d = _check_int("d", (APPROX_D if method == "approx" else DEFAULT_D) if d is None else d, 1, 4096)
    dv = d if dv is None or m.per_channel else _check_int("dv", dv, 1, 4096)
    backend = _backend_name(backend)
    prediction = predict(m, method, d, dv, causal, B, eps)
    options = {"method": method, "backend": backend, "causal": causal, "max_memory": max_memory}
    if method == "approx":
        options.update(B=B, eps=eps)
    if sizes is not None:  # every run bounded by max_seconds (if given); the largest priced now
        options["max_seconds"] = max_seconds
    rng = np.random.default_rng(seed)
    value_bound = B if method == "approx" else None

    def inputs(n: int):
        return random_inputs(m, n, d, dv, dtype, rng, value_bound)

    probed: set[int] = set()  # sizes run once already: compiled, no second warm-up needed

    def time_once(n: int) -> float:
        probed.add(n)
        return min(time_attention(m, *inputs(n), 2, **options).repeats)  # the faster: spikes skew less

    if sizes is None:
        sizes = choose_sizes(prediction, time_once, limit, points)
    else:
        sizes = _check_sizes(sizes)
        admit(
            m,
            *random_inputs(m, max(sizes), d, dv, dtype, np.random.default_rng(seed), value_bound),
            **options,
        )
    name = label or m.name or str(m.polynomial)
    bar = _progress_bar(len(sizes) * repeats, f"{name} {method}", progress)
    measured = []
    try:
        for n in sizes:
            point = time_attention(
                m, *inputs(n), repeats, on_repeat=bar.update, warm_up=n not in probed, **options
            )
            measured.append(replace(point, operations=int(prediction.count(n))))
    finally:
        bar.close()
    seconds = [p.seconds for p in measured]
    return RuntimeVerification(
        mechanism=name,
        method=method,
        backend=backend,
        causal=causal,
        d=d,
        dv=dv,
        dtype=np.dtype(dtype).name,
        prediction=prediction,
        points=tuple(measured),
        fit=fit_exponent(sizes, seconds),
        count_fit=fit_operation_count([p.operations for p in measured], seconds),
        band=band,
    )


def _backend_name(backend: str) -> str:
    from polyth.compute.backend import resolve

    return resolve(backend)


def _progress_bar(total: int, description: str, enabled: bool):
    """A tqdm bar on stderr, shown only when ``enabled`` and stderr is a terminal."""
    import sys

    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=description,
        unit="run",
        file=sys.stderr,
        leave=False,
        disable=not (enabled and sys.stderr.isatty()),
    )


def nan_safe(value: float) -> float | None:
    """``value`` or None when it is not finite (JSON has no NaN)."""
    return value if math.isfinite(value) else None
