"""Runtime verification: the measured exponent of what runs against the predicted one.

The prediction is the leading power of n of *the algorithm that runs*, with its operation count
N(n) (:func:`predict`): ``exact``, the exact plan at ω = 3 (the kernels multiply matrices
classically, :func:`polyth.theory.cost.exponent_value`); ``naive``, the brute force over all tuples;
``approx``, the low-rank plan (1 for a tree: n · poly(r), the rank fixed by B, ε and d).

The measurement (:func:`verify_runtime`, docs/design.md §6):

1. sample the load elsewhere and run with the cores it leaves free (:mod:`polyth.verify.load`);
2. choose the sizes by a time budget (:func:`polyth.verify.grid.choose_grid`), or take them;
3. warm up every size once, then time ``repeats`` rounds, each round running every size once
   (interleaved, so that a change of load hits every size alike); the wall time of
   ``polyth.attention(..., return_timings=True)`` (input validation excluded) and of each step;
4. estimate the exponent with its 95% interval (:func:`polyth.verify.fit.estimate`) and give
   the verdict (:func:`polyth.verify.verdict.runtime_verdict`).

Inputs: standard normal entries (``approx``: uniform in [−B, B], as its bound assumes).

Example::

    >>> from polyth.mechanism import zoo
    >>> predict(zoo.strassen(), "exact", d=4, dv=4).exponent   # n^ω at ω = 3: classical GEMM
    3
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from polyth.errors import InputError
from polyth.mechanism import Mechanism, notation
from polyth.theory import cost as _cost
from polyth.verify import defaults
from polyth.verify.fit import CountFit, Estimate, ExponentFit, check_band, estimate, fit_exponent
from polyth.verify.grid import GRID_POINTS, LARGEST_N, Grid, choose_grid
from polyth.verify.load import Load, limited_threads, load_average, probe
from polyth.verify.verdict import PASS, Verdict, runtime_verdict

METHODS = ("exact", "naive", "approx")
MIN_REPEATS = 5


@dataclass(frozen=True)
class RuntimePrediction:
    """What the cost engine predicts for the algorithm that runs: exponent and operation counts."""

    method: str
    exponent: float
    basis: str  # how the exponent was obtained, in words
    count: Callable[[int], int] = field(repr=False, compare=False)
    rank: int | None = None


def predict(
    m: Mechanism, method: str, d: int, dv: int, causal: str | None = None, B=None, eps=None
) -> RuntimePrediction:
    """The predicted exponent and the operation count N(n) of ``method`` on ``m`` (ω = 3)."""
    if method == "exact":
        from polyth.theory.plan import exact_plan

        plan = exact_plan(m, causal)
        omega_note = " (ω = 3: classical matrix products, what the kernels run)" if _has_matmul(plan) else ""
        return RuntimePrediction(
            method,
            _cost.exponent_value(plan, _cost.OMEGA_CLASSICAL),
            f"exact plan, cost {notation.text(_cost.cost(plan))}{omega_note}",
            lambda n: _cost.operation_count(plan, n, d, dv).total,
        )
    if method == "naive":
        terms = _cost.naive_terms(m, causal)
        return RuntimePrediction(
            method,
            terms.exponent_at(_cost.OMEGA_CLASSICAL),
            f"brute force over all tuples, cost {notation.text(terms.expr())}",
            lambda n: int(terms.evaluate({"n": n, "d": d, "dv": dv, "r": None})),
        )
    if method == "approx":
        from polyth.theory.approximation import approximate

        a = approximate(m, B, eps, d=d, causal=causal, dv=dv)
        return RuntimePrediction(
            method,
            _cost.exponent_value(a.plan, _cost.OMEGA_CLASSICAL),
            f"low-rank plan (Taylor degree {a.degree}, rank r = {a.rank}), cost {notation.text(a.cost)}",
            a.operation_count,
            rank=a.rank,
        )
    raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def _has_matmul(plan) -> bool:
    return any(step.kind == "matmul" for step in plan.steps)


@dataclass(frozen=True)
class Point:
    """One size: the fastest repeat, every repeat, each step's fastest time and the predicted count."""

    n: int
    seconds: float
    repeats: tuple[float, ...]
    steps: tuple[tuple[str, float], ...]  # (step label, fastest seconds)
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
    """The measured points, the estimate, the load it ran under and the verdict."""

    mechanism: str
    method: str
    backend: str
    causal: str | None
    d: int
    dv: int
    dtype: str
    prediction: RuntimePrediction
    points: tuple[Point, ...]
    estimate: Estimate
    verdict: Verdict
    band: float
    load: Load | None = None
    grid: Grid | None = None

    @property
    def fit(self) -> ExponentFit:
        """The uncorrected log-log fit of the per-size minima (shown beside the estimate)."""
        return fit_exponent(self.sizes, [p.seconds for p in self.points])

    @property
    def count_fit(self) -> CountFit:
        return self.estimate.count

    @property
    def measured_exponent(self) -> float:
        """The overhead-corrected exponent (NaN where fewer than 3 sizes ran above the overhead)."""
        return self.estimate.exponent

    @property
    def predicted_exponent(self) -> float:
        return self.prediction.exponent

    @property
    def grid_exponent(self) -> float:
        """The slope of log N(n) over the measured sizes: the predicted exponent at these n."""
        return fit_exponent(self.sizes, [p.operations for p in self.points]).exponent

    @property
    def passed(self) -> bool:
        return self.verdict.status == PASS

    @property
    def sizes(self) -> list[int]:
        return [p.n for p in self.points]

    def rows(self) -> list[dict]:
        """One row per size: n, fastest and slowest ms, predicted operations, ns per operation, steps."""
        return [
            {
                "n": p.n,
                "min_ms": 1e3 * p.seconds,
                "max_ms": 1e3 * max(p.repeats),
                "operations": p.operations,
                "ns_per_operation": 1e9 * p.seconds / p.operations,
                "steps": ", ".join(f"{label} {1e3 * s:.3g} ms" for label, s in p.steps),
            }
            for p in self.points
        ]

    def summary(self) -> str:
        said = self.load is None or self.load.shared  # a busy machine's verdict describes the load already
        conditions = "" if said else f"; {self.load.describe()}"
        fit = self.count_fit
        return (
            f"{self.mechanism} {self.method} on {self.backend}: {self.verdict.line()} "
            f"(n = {self.sizes[0]} … {self.sizes[-1]}, fastest of {len(self.points[0].repeats)} runs per "
            f"size; overhead a = {1e3 * self.estimate.overhead:.3g} ms; operation count's slope on this "
            f"grid {self.grid_exponent:.2f}; T = a′ + κN: κ = {1e9 * fit.seconds_per_operation:.3g} ns/op, "
            f"R² {fit.r_squared:.3f}{conditions})"
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
            "measured_exponent": nan_safe(self.measured_exponent),
            "estimate": self.estimate.to_dict(),
            "fit": self.fit.to_dict(),
            "count_fit": self.count_fit.to_dict(),
            "band": self.band,
            "verdict": self.verdict.status,
            "reason": self.verdict.reason,
            "passed": self.passed,
            "load": self.load.to_dict() if self.load else None,
            "grid": self.grid.to_dict() if self.grid else None,
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


class _Timer:
    """Runs the computation at each size on inputs drawn once per size; keeps every repeat."""

    def __init__(self, m: Mechanism, inputs: Callable[[int], tuple], options: dict):
        self.m, self.inputs, self.options = m, inputs, options
        self.drawn: dict[int, tuple] = {}
        self.totals: dict[int, list[float]] = {}
        self.steps: dict[int, dict[str, list[float]]] = {}

    def run(self, n: int, keep: bool = True) -> float:
        from polyth.compute.front import attention

        if n not in self.drawn:
            self.drawn[n] = self.inputs(n)
        timed = attention(self.m, *self.drawn[n], return_timings=True, **self.options)
        if keep:
            self.totals.setdefault(n, []).append(timed.seconds)
            for record in timed.steps:
                self.steps.setdefault(n, {}).setdefault(_step_label(record), []).append(record.seconds)
        return timed.seconds

    def fastest_of_two(self, n: int) -> float:
        """A probe: a warm-up (numba compiles there), then the faster of two runs."""
        self.run(n, keep=False)
        return min(self.run(n, keep=False), self.run(n, keep=False))

    def point(self, n: int, operations: int) -> Point:
        totals = self.totals[n]
        steps = tuple((label, min(values)) for label, values in self.steps.get(n, {}).items())
        return Point(n, min(totals), tuple(totals), steps, operations)


def verify_runtime(
    m: Mechanism,
    method: str = "exact",
    sizes: Sequence[int] | None = None,
    d: int | None = None,
    dv: int | None = None,
    backend: str = "cpu",
    causal: str | None = None,
    repeats: int = defaults.REPEATS,
    band: float = defaults.BAND,
    dtype=np.float32,
    B: float | None = None,
    eps: float | None = None,
    budget: float = defaults.BUDGET_SECONDS,
    points: int = GRID_POINTS,
    seed: int = 0,
    progress: bool = False,
    label: str | None = None,
    threads: int | None = None,
    quick: bool = False,
    max_seconds: float | None = None,
    max_memory: float | None = None,
) -> RuntimeVerification:
    """Time ``m`` with ``method`` and judge the measured exponent (module docstring).

    Without ``sizes`` the grid is chosen by a time budget of ``budget`` seconds. With ``sizes``,
    the largest is priced before any run (:func:`polyth.compute.front.admit`) and refused with
    :class:`polyth.BudgetError` when it cannot fit in memory (or ``max_memory``), or, if
    ``max_seconds`` is given, when its predicted time exceeds it. ``d`` defaults to
    :data:`polyth.verify.defaults.D`, ``dv`` to ``d``; ``approx`` uses ``B`` and ``eps``
    (defaults 1 and 10⁻³) and inputs in [−B, B]. ``threads`` (default one,
    :mod:`polyth.verify.load`) runs with more; ``quick`` marks a CI-sized run, which never refutes.
    """
    from polyth.compute.front import admit

    if not isinstance(m, Mechanism):
        raise InputError(f"expected a polyth Mechanism, got {type(m).__name__}")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    band = check_band(band)
    repeats = _check_int("repeats", repeats, MIN_REPEATS, 1000)
    points = _check_int("points", points, 3, 12)
    if threads is not None:
        threads = _check_int("threads", threads, 1, 1024)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget <= 3600:
        raise InputError(f"budget must be a number of seconds in (0, 3600], got {budget!r}")
    if method == "approx":
        B = defaults.REFERENCE_B if B is None else B
        eps = defaults.EPS if eps is None else eps
    elif B is not None or eps is not None:
        raise InputError("B and eps are only used with method 'approx'")
    d = _check_int("d", defaults.D if d is None else d, 1, 4096)
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
    timer = _Timer(m, lambda n: random_inputs(m, n, d, dv, dtype, rng, value_bound), options)
    if sizes is not None:
        sizes = _check_sizes(sizes)
        admit(
            m,
            *random_inputs(m, max(sizes), d, dv, dtype, np.random.default_rng(seed), value_bound),
            **options,
        )
    name = label or m.name or str(m.polynomial)
    load = probe(threads)
    grid = None
    with limited_threads(load.threads):
        if sizes is None:
            grid = choose_grid(prediction.count, timer.fastest_of_two, budget, repeats, points)
            sizes = list(grid.sizes)
        for n in sizes:
            if not grid or n not in dict(grid.probes):
                timer.run(n, keep=False)
        bar = _progress_bar(len(sizes) * repeats, f"{name} {method}", progress)
        try:
            for _ in range(repeats):
                for n in sizes:
                    timer.run(n)
                    load.sample()
                    bar.update()
        finally:
            bar.close()
    load.average_at_end = load_average()
    measured = tuple(timer.point(n, int(prediction.count(n))) for n in sizes)
    fastest_probe = min((seconds for _, seconds in grid.probes), default=math.inf) if grid else math.inf
    result = estimate(sizes, [p.repeats for p in measured], [p.operations for p in measured], fastest_probe)
    if grid is None:
        note = "; larger sizes would help"
    elif grid.stopped_by == "budget":
        note = f"; the time budget of {budget:g} s did not allow larger n"
    else:
        note = f"; the grid stopped: {grid.stopped_by}"
    return RuntimeVerification(
        mechanism=name,
        method=method,
        backend=backend,
        causal=causal,
        d=d,
        dv=dv,
        dtype=np.dtype(dtype).name,
        prediction=prediction,
        points=measured,
        estimate=result,
        verdict=runtime_verdict(result, prediction.exponent, band, load, quick, note),
        band=band,
        load=load,
        grid=grid,
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
