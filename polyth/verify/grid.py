"""The sizes a runtime check measures, chosen by a time budget (docs/design.md §6).

A per-run cap stops a grid early for the costly mechanisms (an n³ plan at n ≤ 512, where a
fixed overhead per call still dominates); a budget per check lets every mechanism go as far as
its time allows. :func:`choose_grid`:

1. **probe**: from :func:`start_size` (10⁵ predicted operations), n doubles; each size runs
   three times (a warm-up, where numba compiles, and two timed runs; the faster is kept);
2. **model**: after every probe, T̂(n) = a + κ·N(n) is fitted to the probes so far
   (:func:`polyth.verify.fit.fit_operation_count`; one probe: T̂ ∝ N);
3. **stop** doubling when the next probe plus the measurement of a grid topped there would
   exceed the budget, or at n = 2²²;
4. **grid**: the largest top size n_max on a √2 lattice whose measurement fits the rest of the
   budget (at least half of it: a probe slower than modelled must not shrink the grid to
   nothing), and ``points`` sizes n_max·2^(−j/2) below it (7 by default: n_max / 8 … n_max).

The measurement of a grid costs (repeats + 1) · Σ_j T̂(n_j): a warm-up and the repeats at every
size. The budget is modelled time (probes and measurement as timed), so compile time does not
count against it.

Example::

    >>> grid = choose_grid(lambda n: n**2, lambda n: 1e-3 + 1e-9 * n**2, budget=10.0, repeats=5)
    >>> grid.sizes[-1] // grid.sizes[0], grid.stopped_by
    (8, 'budget')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from polyth.errors import PolyError
from polyth.verify.fit import fit_operation_count

MIN_START_OPERATIONS = 1e5
SMALLEST_N, LARGEST_N = 8, 1 << 22
GRID_POINTS = 7
GRID_RATIO = 2**0.5
PROBE_RUNS = 3  # warm-up and two timed runs


@dataclass(frozen=True)
class Grid:
    """The chosen sizes, the probes behind them and what stopped the growth."""

    sizes: tuple[int, ...]
    budget: float
    probes: tuple[tuple[int, float], ...]
    stopped_by: str  # "budget", "largest n", or "refused at n = …: why"
    planned_seconds: float  # modelled probe and measurement time

    def to_dict(self) -> dict:
        return asdict(self)


def start_size(count: Callable[[int], float], operations: float = MIN_START_OPERATIONS) -> int:
    """The smallest power of two ≥ 8 whose predicted operation count reaches ``operations``."""
    n = SMALLEST_N
    while n < LARGEST_N and count(n) < operations:
        n *= 2
    return n


def _lattice(n: float) -> int:
    return int(round(n)) if n < 64 else 8 * int(round(n / 8))


def grid_below(top: int, points: int = GRID_POINTS) -> list[int]:
    """``points`` sizes top·2^(−j/2), rounded (to multiples of 8 from 64 on), ascending, ≥ 8."""
    sizes = {_lattice(top / GRID_RATIO**j) for j in range(points)}
    return sorted(n for n in sizes if n >= SMALLEST_N)


def _model(count: Callable[[int], float], probes: list[tuple[int, float]]) -> Callable[[int], float]:
    if len(probes) == 1:
        n0, t0 = probes[0]
        return lambda n: t0 * count(n) / count(n0)
    fit = fit_operation_count([count(n) for n, _ in probes], [t for _, t in probes])
    return lambda n: float(fit.predict(count(n)))


def choose_grid(
    count: Callable[[int], float],
    time_once: Callable[[int], float],
    budget: float,
    repeats: int,
    points: int = GRID_POINTS,
) -> Grid:
    """Sizes for a check of about ``budget`` seconds (module docstring). ``count(n)`` is the
    predicted operation count, ``time_once(n)`` the fastest of two timed runs after a warm-up.
    A size the computation refuses (a :class:`polyth.PolyError`, e.g. a budget gate) ends the
    growth; at the first size it is raised."""
    n = start_size(count)
    probes: list[tuple[int, float]] = []
    spent = 0.0
    stopped_by = "largest n"

    def measurement(top: int, model) -> float:
        return (repeats + 1) * sum(model(size) for size in grid_below(top, points))

    while True:
        try:
            seconds = time_once(n)
        except PolyError as exc:
            if not probes:
                raise
            stopped_by = f"refused at n = {n}: {exc}"
            n //= 2
            break
        probes.append((n, seconds))
        spent += PROBE_RUNS * seconds
        if 2 * n > LARGEST_N:
            break
        model = _model(count, probes)
        if spent + PROBE_RUNS * model(2 * n) + measurement(2 * n, model) > budget:
            stopped_by = "budget"
            break
        n *= 2
    model = _model(count, probes)
    # A probe can take longer than modelled (a load spike): the measurement keeps at least half
    # the budget, so that one slow probe does not shrink the grid to nothing.
    left = max(budget - spent, budget / 2)
    top = n
    if 2 * n <= LARGEST_N and stopped_by == "budget" and measurement(_lattice(n * GRID_RATIO), model) <= left:
        top = _lattice(n * GRID_RATIO)
    while top > probes[0][0] and measurement(top, model) > left:
        top = _lattice(top / GRID_RATIO)
    sizes = grid_below(top, points)
    return Grid(tuple(sizes), budget, tuple(probes), stopped_by, spent + measurement(top, model))
