"""Approximation check: measured error of ``method="approx"`` against the predicted bound.

With every entry of every Q(a) in [−B, B], the polynomial method (docs/design.md §3,
:func:`polyth.theory.approximation.approximate`) replaces each table's exp(L_S) by its Taylor
polynomial of degree g_S, relative error ε_S on [−R_S, R_S]; every weight is then within
δ = Π_S (1 + ε_S) − 1 and the output within

    |Att̃ − Att| ≤ 2δ/(1 − δ) · Π_{a ∈ values} max|V(a)|.

:func:`check_approx` takes the degree from ε (``eps``) or fixes it (``degree``; a Taylor(g)
similarity fixes it to g), and measures ``max |Att̃ − Att| / Π max|V(a)|`` on two kinds of
input, each against an exact float64 oracle (the brute force :func:`polyth.reference.attention`
when b · n^t · d ≤ 10⁸, else the exact plan in float64; a Taylor mechanism is compared with its
exp form):

* ``trials`` random instances, Q uniform in [−B, B] and V standard normal;
* the adversarial family of :mod:`polyth.verify.adversarial` (40 instances, entries at ±B with
  aligned signs, so that every range R_S is attained).

It reports measured ÷ bound: a bound is useful when it is within 100× of the worst case found.
At a fixed degree the error rises with B and crosses ε near the B where the theory's bound does
(:func:`crossing_B`); with ``eps`` the degree, the rank r = C(D + g, g) and the crossover n grow
with B^k and blow up past B* = (ln n)^{1/k} (:func:`threshold_curves`; Alman & Song 2023 for
k = 2, 2024 for k = 3; Chakrabarti, Pitassi, Alman 2026 in general).

Example::

    >>> from polyth.mechanism import zoo
    >>> c = check_approx(zoo.self_attention(), B=1.0, degree=6, n=16, trials=1)
    >>> c.degree, c.rank, c.passed, 0.1 < c.ratio < 1
    (6, 210, True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from polyth.errors import InputError, NumericalError
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import Exp, FeatureMap, Taylor
from polyth.verify import defaults
from polyth.verify.adversarial import adversarial_inputs
from polyth.verify.verdict import RESOLVABLE_BOUND, ROUNDOFF

DEFAULT_TRIALS = 3
# The oracle is the brute force when b · n^t · d tuple-coordinates stay below this.
REFERENCE_BUDGET = 10**8
# Larger ranks are reported from the cost engine but not run.
MAX_RUN_RANK = 600


@dataclass(frozen=True)
class ApproxCheck:
    """Predicted degree, rank and error bound at one B, and the worst measured errors."""

    mechanism: str
    B: float
    eps: float | None  # None: the degree was fixed
    n: int
    d: int
    dv: int
    k: int
    trials: int
    instances: int  # adversarial instances
    degree: int
    rank: int
    predicted: dict  # the theory's degree, rank, range and error per table
    executed: dict | None  # the degree and rank that ran (from the run's step records); None: not run
    crossover_n: int | None
    weight_error: float
    predicted_error: float  # bound on |approx − exact| / Π max|V|
    measured_random: float | None
    measured_adversarial: float | None  # None: not run (rank above the cap, or refused)
    oracle: str

    @property
    def measured_error(self) -> float | None:
        """The worst error found, random or adversarial."""
        found = [e for e in (self.measured_random, self.measured_adversarial) if e is not None]
        return max(found) if found else None

    @property
    def ratio(self) -> float | None:
        """Adversarial error ÷ bound, where the bound is finite and above float64 rounding."""
        if self.measured_adversarial is None or not RESOLVABLE_BOUND <= self.predicted_error < math.inf:
            return None
        return self.measured_adversarial / self.predicted_error

    @property
    def threshold(self) -> float:
        """B* = (ln n)^{1/k} for this n."""
        return threshold_B(self.n, self.k)

    @property
    def passed(self) -> bool | None:
        if self.measured_error is None:
            return None
        return self.measured_error <= self.predicted_error + ROUNDOFF

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(
            measured_error=self.measured_error,
            ratio=self.ratio,
            threshold=self.threshold,
            passed=self.passed,
            predicted_error=_json_number(self.predicted_error),
            weight_error=_json_number(self.weight_error),
        )
        return out


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else "inf"


def _json_value(value):
    if isinstance(value, tuple):
        return list(value)
    return _json_number(value) if isinstance(value, float) else value


def threshold_B(n: int, k: int) -> float:
    """The entry bound B* = (ln n)^{1/k} past which no almost-linear algorithm exists (SETH)."""
    return math.log(n) ** (1.0 / k)


def _check_positive_int(name: str, value, low: int = 1, high: int = 10**6) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(f"{name} must be an integer between {low} and {high}, got {value!r}")
    return int(value)


def exp_form(m: Mechanism) -> Mechanism:
    """The mechanism whose exp weights the approximation approximates (a Taylor(g) one's exp form)."""
    if isinstance(m.similarity, FeatureMap):
        raise InputError(
            "a feature-map mechanism is computed exactly in linear time: there is nothing to approximate"
        )
    return m.replace(similarity=Exp()) if isinstance(m.similarity, Taylor) else m


def approximation(m: Mechanism, B: float, eps=None, degree=None, d: int = defaults.D, causal=None, dv=None):
    """The theory's approximation of ``m`` at B (``eps`` or ``degree``; a Taylor(g) similarity
    fixes the degree to g) and the options that make ``polyth.attention`` run it."""
    from polyth.theory.approximation import approximate

    exact = exp_form(m)
    if isinstance(m.similarity, Taylor):
        order = m.similarity.order
        if eps is not None or degree not in (None, order):
            raise InputError(f"the Taylor order of {m.name or 'this mechanism'} fixes the degree to {order}")
        return approximate(exact, B, degree=order, d=d, causal=causal, dv=dv), {}
    options = {"B": B, "eps": eps} if degree is None else {"B": B, "degree": degree}
    return approximate(exact, B, eps, d=d, causal=causal, dv=dv, degree=degree), options


def reference_degree(m: Mechanism, d: int = defaults.D) -> int:
    """The fixed degree of the sharp check: what the theory picks at B = 1, ε = 10⁻³ (the
    similarity's order for a Taylor(g) mechanism)."""
    if isinstance(m.similarity, Taylor):
        return m.similarity.order
    return approximation(m, defaults.REFERENCE_B, eps=defaults.EPS, d=d)[0].degree


def _oracle(m: Mechanism, Q, V, causal, d: int):
    from polyth import reference

    b, n = Q[0].shape[:2]
    if b * n**m.t * d <= REFERENCE_BUDGET:
        return reference.attention(m, Q, V, causal=causal), "brute-force reference (float64)"
    from polyth.compute.front import attention

    return attention(m, Q, V, method="exact", causal=causal, dtype=np.float64), "exact plan (float64)"


def _worst(m: Mechanism, Q, V, causal, d, backend, options) -> tuple[float, str, list]:
    """The largest per-instance error / Π max|V(a)| over a batch, the oracle and the tables that ran."""
    from polyth.compute.front import attention

    run = attention(m, Q, V, method="approx", causal=causal, backend=backend, return_timings=True, **options)
    exact, oracle = _oracle(exp_form(m), Q, V, causal, d)
    error = np.abs(run.output - exact).reshape(len(exact), -1).max(axis=1)
    peaks = np.prod([np.abs(v).reshape(len(v), -1).max(axis=1) for v in V.values()], axis=0)
    return float((error / peaks).max()), oracle, run.tables


def check_approx(
    m: Mechanism,
    B: float,
    eps: float | None = None,
    n: int = defaults.SWEEP_N,
    d: int = defaults.D,
    dv: int | None = None,
    trials: int = DEFAULT_TRIALS,
    causal: str | None = None,
    backend: str = "cpu",
    seed: int = 0,
    label: str | None = None,
    max_run_rank: int = MAX_RUN_RANK,
    degree: int | None = None,
    skip: str | None = None,
) -> ApproxCheck:
    """The theory's bound at B (degree from ``eps``, or ``degree``) and the worst measured errors;
    ``skip``: run nothing and say why (the prediction is still reported)."""
    if not isinstance(m, Mechanism):
        raise InputError(f"expected a polyth Mechanism, got {type(m).__name__}")
    n = _check_positive_int("n", n, 2, 1 << 16)
    d = _check_positive_int("d", d, 1, 64)
    dv = d if m.per_channel or dv is None else _check_positive_int("dv", dv, 1, 64)
    trials = _check_positive_int("trials", trials, 1, 100)
    a, options = approximation(m, B, eps, degree, d, causal, dv)
    random_error = adversarial_error = executed = None
    oracle, instances = f"not run: {skip or 'rank above the cap'}", 0
    if skip is None and a.rank <= max_run_rank:
        rng = np.random.default_rng(seed)
        Q = [rng.uniform(-B, B, (trials, n, d)) for _ in m.input_slots]
        V = {v + 1: rng.standard_normal((trials, n, dv)) for v in m.values}
        try:
            random_error, oracle, tables = _worst(m, Q, V, causal, d, backend, options)
            Q, V = adversarial_inputs(m, n, d, float(B), dv)
            instances = len(Q[0])
            adversarial_error, oracle, tables = _worst(m, Q, V, causal, d, backend, options)
            executed = _degrees_and_ranks(tables)
        except NumericalError as exc:
            oracle = f"not run: the approximate run was refused ({exc})"
    return ApproxCheck(
        mechanism=label or m.name or str(m.polynomial),
        B=float(B),
        eps=None if eps is None else float(eps),
        n=n,
        d=d,
        dv=dv,
        k=m.k,
        trials=trials,
        instances=instances,
        degree=a.degree,
        rank=a.rank,
        predicted=_degrees_and_ranks(
            [
                {"support": f.support, "degree": f.degree, "rank": f.rank, "R": f.R, "error": f.error}
                for f in a.factors
            ]
        ),
        executed=executed,
        crossover_n=a.crossover_n,
        weight_error=a.weight_error,
        predicted_error=a.output_error,
        measured_random=random_error,
        measured_adversarial=adversarial_error,
        oracle=oracle,
    )


def _degrees_and_ranks(tables) -> dict:
    """The largest degree and rank, and each table's row (support, degree, rank, …)."""
    rows = [{key: _json_value(value) for key, value in t.items()} for t in tables]
    return {
        "degree": max((t["degree"] for t in rows), default=0),
        "rank": max((t["rank"] for t in rows), default=1),
        "tables": rows,
    }


SATURATED = 1.0  # an error ≥ max|V| product: the output says nothing any more


def sweep_B(
    m: Mechanism, Bs: Sequence[float], eps: float | None = None, degree: int | None = None, **options
) -> list[ApproxCheck]:
    """:func:`check_approx` for every B (ascending). Once the adversarial error has reached
    Π max|V(a)| where no bound holds (δ ≥ 1), larger B are predicted but not run: the error can
    only grow towards its ceiling 2 there, and there is no bound left to test."""
    if not Bs:
        raise InputError("give at least one value of B to sweep")
    checks: list[ApproxCheck] = []
    skip = None
    for B in sorted(Bs):
        checks.append(check_approx(m, B, eps, degree=degree, skip=skip, **options))
        last = checks[-1]
        if (
            skip is None
            and (last.measured_adversarial or 0) >= SATURATED
            and math.isinf(last.predicted_error)
        ):
            skip = f"the error reached {last.measured_adversarial:.2g} at B = {last.B:g}"
    return checks


def crossing_B(Bs: Sequence[float], errors: Sequence[float | None], level: float) -> float | None:
    """The B at which ``errors`` first reach ``level``, interpolated linearly in log(error);
    None when they never do. An infinite error counts as above any level."""
    previous = None
    for B, error in zip(Bs, errors):
        if error is None:
            continue
        if error >= level:
            if previous is None or not (math.isfinite(error) and previous[1] > 0):
                return float(B)
            (B0, e0), (B1, e1) = previous, (B, error)
            return float(B0 + (B1 - B0) * math.log(level / e0) / math.log(e1 / e0))
        previous = (B, error)
    return None


def threshold_curves(m: Mechanism, Bs: Sequence[float], eps: float = defaults.EPS, d: int = defaults.D):
    """The theory's degree, rank and crossover n at each B for relative error ``eps`` per table."""
    from polyth.theory.approximation import approximate

    rows = []
    for B in Bs:
        a = approximate(exp_form(m), float(B), eps, d=d)
        rows.append({"B": float(B), "degree": a.degree, "rank": a.rank, "crossover_n": a.crossover_n})
    return rows


def degree_curve(k: int, Bs: Sequence[float], eps: float, d: int) -> list[int]:
    """The Taylor degree k-tensor attention x1·…·xk needs at each B: R = scale·d·B^k (= B^k at 1/d)."""
    from polyth.mechanism import zoo
    from polyth.theory.taylor import factor_range, taylor_degree

    m = zoo.self_attention() if k == 2 else zoo.tensor(k)
    return [taylor_degree(factor_range(m, (0,), float(B), d), eps) for B in Bs]
