"""Approximation check: measured error of ``method="approx"`` against the predicted bound.

With every entry of every Q(a) in [−B, B], the polynomial method (docs/design.md §3,
:mod:`polyth.approx`) replaces each factor exp(L_S) by its Taylor polynomial of degree g,
relative error ε on [−R_S, R_S]; every weight is then within δ = (1 + ε)^s − 1 and the
output within

    |Att̃ − Att| ≤ 2δ/(1 − δ) · Π_{a ∈ values} max|V(a)|

(the bound is relative to the value magnitude). The check draws ``trials`` random
instances with Q uniform in [−B, B] and normal V, computes the approximate output and an
exact float64 oracle (the brute-force :func:`polyth.reference.attention` when the n^t
tuples fit its budget, else the exact plan in float64), and reports the largest
``|Att̃ − Att| / Π max|V(a)|`` beside the bound.

The sweep over B shows where the method stops being almost linear: the degree grows like
B^k (R = scale·d·B^k), the rank r = C(D + g, g) with it, and the size n from which the
low-rank plan beats the exact one (the crossover) explodes once B passes the threshold
B* = (ln n)^{1/k} (Alman & Song 2023 for k = 2, 2024 for k = 3; Chakrabarti, Pitassi,
Alman 2026 in general).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from polyth.errors import InputError
from polyth.mechanism import Mechanism

DEFAULT_N, DEFAULT_D, DEFAULT_DV, DEFAULT_TRIALS = 64, 2, 2, 3
# The oracle is the brute force when b · n^t · d tuple-coordinates stay below this.
REFERENCE_BUDGET = 10**8
# Larger ranks are reported from the cost engine but not run.
MAX_RUN_RANK = 600


@dataclass(frozen=True)
class ApproxCheck:
    """Predicted degree, rank and error bound of one (B, eps) and the measured error."""

    mechanism: str
    B: float
    eps: float
    n: int
    d: int
    dv: int
    k: int
    trials: int
    degree: int
    rank: int
    predicted: dict  # the theory's degree and rank, the largest and per table
    executed: dict | None  # the degree and rank that ran (from the run's step records); None: not run
    crossover_n: int | None
    weight_error: float
    predicted_error: float  # bound on |approx − exact| / Π max|V|
    measured_error: float | None  # None: not run (rank above MAX_RUN_RANK)
    oracle: str

    @property
    def threshold(self) -> float:
        """B* = (ln n)^{1/k} for this n."""
        return threshold_B(self.n, self.k)

    @property
    def passed(self) -> bool | None:
        if self.measured_error is None:
            return None
        return self.measured_error <= self.predicted_error

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(threshold=self.threshold, passed=self.passed)
        return out


def threshold_B(n: int, k: int) -> float:
    """The entry bound B* = (ln n)^{1/k} past which no almost-linear algorithm exists (SETH)."""
    return math.log(n) ** (1.0 / k)


def _check_positive_int(name: str, value, low: int = 1, high: int = 10**6) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(f"{name} must be an integer between {low} and {high}, got {value!r}")
    return int(value)


def _oracle(m: Mechanism, Q, V, causal, n: int, d: int):
    from polyth import reference

    if n**m.t * d <= REFERENCE_BUDGET:
        return reference.attention(m, Q, V, causal=causal), "brute-force reference (float64)"
    from polyth.compute.front import attention

    return attention(m, Q, V, method="exact", causal=causal, dtype=np.float64), "exact plan (float64)"


def check_approx(
    m: Mechanism,
    B: float,
    eps: float,
    n: int = DEFAULT_N,
    d: int = DEFAULT_D,
    dv: int = DEFAULT_DV,
    trials: int = DEFAULT_TRIALS,
    causal: str | None = None,
    backend: str = "cpu",
    seed: int = 0,
    label: str | None = None,
    max_run_rank: int = MAX_RUN_RANK,
) -> ApproxCheck:
    """The predicted bound of ``polyth.bounds(m, B, eps, d)`` and the worst measured error."""
    from polyth.compute.front import attention
    from polyth.theory.bounds import bounds

    if not isinstance(m, Mechanism):
        raise InputError(f"expected a polyth Mechanism, got {type(m).__name__}")
    n = _check_positive_int("n", n, 2, 1 << 16)
    d = _check_positive_int("d", d, 1, 64)
    dv = d if m.per_channel else _check_positive_int("dv", dv, 1, 64)
    trials = _check_positive_int("trials", trials, 1, 100)
    predicted = bounds(m, B=B, eps=eps, d=d, causal=causal).to_dict()["approx"]
    measured, oracle, executed = None, "not run: rank above the cap", None
    if predicted["rank"] <= max_run_rank:
        rng = np.random.default_rng(seed)
        worst = 0.0
        for _ in range(trials):
            Q = [rng.uniform(-B, B, (n, d)) for _ in m.input_slots]
            V = {a + 1: rng.standard_normal((n, dv)) for a in m.values}
            exact, oracle = _oracle(m, Q, V, causal, n, d)
            run = attention(
                m, Q, V, method="approx", B=B, eps=eps, causal=causal, backend=backend, return_timings=True
            )
            value_peak = float(np.prod([np.abs(v).max() for v in V.values()]))
            worst = max(worst, float(np.abs(run.output - exact).max()) / value_peak)
            executed = _degrees_and_ranks(run.tables)
        measured = worst
    return ApproxCheck(
        mechanism=label or m.name or str(m.polynomial),
        B=float(B),
        eps=float(eps),
        n=n,
        d=d,
        dv=dv,
        k=m.k,
        trials=trials,
        degree=predicted["degree"],
        rank=predicted["rank"],
        predicted=_degrees_and_ranks(predicted["factors"]),
        executed=executed,
        crossover_n=predicted["crossover_n"],
        weight_error=predicted["weight_error"],
        predicted_error=predicted["output_error"],
        measured_error=measured,
        oracle=oracle,
    )


def _degrees_and_ranks(tables) -> dict:
    """The largest degree and rank, and each table's (support, degree, rank)."""
    rows = [{"support": list(t["support"]), "degree": t["degree"], "rank": t["rank"]} for t in tables]
    return {
        "degree": max((t["degree"] for t in rows), default=0),
        "rank": max((t["rank"] for t in rows), default=1),
        "tables": rows,
    }


def sweep_B(m: Mechanism, Bs: Sequence[float], eps: float, **options) -> list[ApproxCheck]:
    """:func:`check_approx` for every B (ascending): degree, rank and crossover blow up past B*."""
    if not Bs:
        raise InputError("give at least one value of B to sweep")
    return [check_approx(m, B, eps, **options) for B in sorted(Bs)]


def degree_curve(k: int, Bs: Sequence[float], eps: float, d: int) -> list[int]:
    """The Taylor degree k-tensor attention x1·…·xk needs at each B: R = scale·d·B^k (= B^k at 1/d)."""
    from polyth.mechanism import zoo
    from polyth.theory.taylor import factor_range, taylor_degree

    m = zoo.self_attention() if k == 2 else zoo.tensor(k)
    return [taylor_degree(factor_range(m, (0,), float(B), d), eps) for B in Bs]


def checks_to_json(checks: Sequence[ApproxCheck]) -> str:
    return json.dumps([c.to_dict() for c in checks], indent=2, ensure_ascii=False)
