"""The approximate algorithm: the polynomial method on each factor (DESIGN.md §3).

With every entry of every Q(a) bounded by B, the log-table of a support S (monomials
m on S merged) satisfies |L_S| ≤ R_S = scale · Σ_{m on S} |c_m| · d · B^{deg m} (no
factor d in per-channel mode; scale = 1/d by default). Replacing exp on [−R, R] by
its Taylor polynomial T_g(x) = Σ_{p ≤ g} x^p / p! with relative error ε, and
expanding (Σ_{i ≤ D} y_i)^p for p ≤ g (y_i = Π_{a∈S} x_{a,i}, D the table's feature
width), writes the factor as Σ_ρ Π_{a∈S} Φ_a(l_a, ρ) with one term per multiset of at
most g features: rank r = C(D + g, g). The low-rank plan (:func:`polyth.plan.low_rank_plan`)
eliminates over token variables of size n and rank variables of size r: its cost is
n · poly(r), i.e. n^{1+o(1)} when r = n^{o(1)}, which holds when g = o(log n), i.e.
B = o((log n)^{1/k}) with d = O(log n) and k the total degree (Alman & Song 2023 for
k = 2, Alman & Song 2024 for k = 3, Chakrabarti, Pitassi, Alman 2026 in general).

Error bound. Each of the s approximated factors is within relative ε, so every weight
(a product of s factors) is within relative δ = (1 + ε)^s − 1. The output is a ratio
N/D of the weighted sum N = Σ w·v and the sum of weights D. With every weight within
relative δ, D̃ ∈ [(1 − δ)D, (1 + δ)D] and |Ñ − N| ≤ δ · Σ w |v| ≤ δ · D · max|v|, so

    |Ñ/D̃ − N/D| ≤ |Ñ − N|/D̃ + |N| · |1/D̃ − 1/D| ≤ δ/(1−δ) · max|v| + max|v| · δ/(1−δ)
                = (2δ/(1−δ)) · max|v|,

and for non-negative values the output is within relative (1 + δ)/(1 − δ) − 1 = 2δ/(1−δ)
(a ratio of two sums each within relative δ). Both need δ < 1.

The Taylor degree is found by computation: the relative error e^{−x}·|Σ_{j>g} x^j/j!|
is evaluated on 4097 evenly spaced points of [−R, R] (both endpoints included) with
the tail summed in floating point from its first term (stable because g + 1 > |x|:
the terms then shrink geometrically); degrees g ≤ R − 1 are skipped because for
x = R the error is P(Poisson(R) > g) ≥ 1/2 > ε there (the median of Poisson(R) is at
least R − ln 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from math import comb

import numpy as np
import sympy

from polyth.errors import InputError
from polyth.mechanism import Mechanism
from polyth.theory import cost as _cost
from polyth.theory.plan import Plan, exact_plan, low_rank_plan

GRID_POINTS = 4097
MAX_DEGREE = 100_000
MAX_ENUMERATED_RANK = 2000
CROSSOVER_CAP = 2**62


def taylor_relative_error(g: int, x) -> np.ndarray:
    """|T_g(x) − e^x| / e^x at the points x (requires g + 1 > max |x|)."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    if np.max(np.abs(x), initial=0.0) >= g + 1:
        raise InputError(f"the stable tail needs g + 1 > |x|; got g = {g}, max |x| = {np.max(np.abs(x))}")
    out = np.zeros_like(x)
    nonzero = x != 0
    xs = x[nonzero]
    log_first = (g + 1) * np.log(np.abs(xs)) - math.lgamma(g + 2)
    sign = np.where(xs < 0, (-1.0) ** (g + 1), 1.0)
    series = np.ones_like(xs)
    term = np.ones_like(xs)
    for i in range(1, 10_000):
        term = term * xs / (g + 1 + i)
        series = series + term
        if np.max(np.abs(term), initial=0.0) < 1e-18:
            break
    out[nonzero] = np.exp(-xs + log_first) * np.abs(sign * series)
    return out


def taylor_degree(R: float, eps: float) -> int:
    """The smallest Taylor degree g with relative error ≤ eps on [−R, R] (found on a grid)."""
    _check_eps(eps)
    if not (R >= 0 and math.isfinite(R)):
        raise InputError(f"the score range R must be a finite non-negative number, got {R}")
    if R == 0:
        return 0
    grid = np.linspace(-R, R, GRID_POINTS)
    g = math.floor(R)
    while g <= MAX_DEGREE:
        if float(np.max(taylor_relative_error(g, grid))) <= eps:
            return g
        g += 1
    raise InputError(f"no Taylor degree up to {MAX_DEGREE} reaches eps = {eps} on [-{R}, {R}]; lower B")


def taylor_rank(width: int, g: int) -> int:
    """C(D + g, g): the number of multisets of at most g of the D features."""
    return comb(width + g, g)


def expansion_terms(width: int, g: int, powers: tuple[int, ...] = (1, 1)) -> int:
    """Distinct monomials of Σ_{p ≤ g} (Σ_{i ≤ D} y_i)^p, y_i = Π_a x_{a,i}^{powers[a]} (sympy expand)."""
    xs = [[sympy.Symbol(f"x{a}_{i}") for i in range(width)] for a in range(len(powers))]
    ys = [sympy.Mul(*[xs[a][i] ** p for a, p in enumerate(powers)]) for i in range(width)]
    total = sympy.expand(sum((sympy.Add(*ys) ** p for p in range(g + 1)), sympy.Integer(0)))
    return len(sympy.Add.make_args(total))


@dataclass(frozen=True)
class FactorApproximation:
    """One approximated table: its support, range R, Taylor degree, feature width and rank."""

    support: tuple[str, ...]
    monomials: tuple[int, ...]
    R: float
    degree: int
    width: int
    rank: int
    rank_checked: bool | None  # True: the expansion's terms were counted and match; None: too many to count


@dataclass(frozen=True)
class Approximation:
    """The approximate algorithm for entry bound B, error eps and head dimension d."""

    mechanism: Mechanism
    B: float
    eps: float
    d: int
    dv: int
    causal: str | None
    factors: tuple[FactorApproximation, ...]
    plan: Plan
    polynomial: str = "Taylor series of exp at 0"

    @property
    def degree(self) -> int:
        return max((f.degree for f in self.factors), default=0)

    @property
    def rank(self) -> int:
        """The rank used in the cost: the largest factor's (an upper bound for the others)."""
        return max((f.rank for f in self.factors), default=1)

    @property
    def cost(self) -> sympy.Expr:
        """The low-rank plan's cost with r replaced by :attr:`rank`."""
        return _cost.cost(self.plan).subs(_cost.r, self.rank)

    @property
    def weight_error(self) -> float:
        """Relative error bound of every weight: (1 + eps)^s − 1 for s approximated factors."""
        return (1 + self.eps) ** len(self.factors) - 1

    @property
    def output_error(self) -> float:
        """Bound 2δ/(1 − δ) on the output error (relative to max|V| product; see the module docstring)."""
        delta = self.weight_error
        return float("inf") if delta >= 1 else 2 * delta / (1 - delta)

    @property
    def threshold_exponent(self) -> sympy.Rational:
        return threshold_exponent(self.mechanism)

    def operation_count(self, n: int) -> int:
        return _cost.operation_count(self.plan, n, self.d, self.dv, self.rank).total

    @cached_property
    def crossover_n(self) -> int | None:
        """The smallest n where the approximate plan's count (ω = 3) is below the exact plan's; None if
        not below 2^62."""
        exact = exact_plan(self.mechanism, self.causal)
        return crossover(exact, self.plan, self.d, self.dv, self.rank)


def threshold_exponent(m: Mechanism) -> sympy.Rational:
    """The exponent 1/k of the entry-bound threshold B* ~ (log n)^{1/k} (k the total degree)."""
    return sympy.Rational(1, m.k)


def factor_range(m: Mechanism, monomials, B: float, d: int) -> float:
    """R = scale · Σ |c_m| · (d, or 1 per channel) · B^{deg m} for a table merging ``monomials``."""
    scale = abs(m.scale_for(d))
    width = 1 if m.per_channel else d
    return scale * width * sum(abs(m.monomials[i].value) * B ** m.monomials[i].degree for i in monomials)


def approximate(m: Mechanism, B: float, eps: float, d: int = 64, causal: str | None = None, dv=None):
    """The approximate algorithm: per-factor Taylor degree and rank, low-rank plan, errors."""
    if not isinstance(m, Mechanism):
        raise InputError(f"expected a polyth Mechanism, got {type(m).__name__}")
    if isinstance(B, bool) or not isinstance(B, (int, float)) or not (B > 0 and math.isfinite(B)):
        raise InputError(f"B (the bound on every entry of Q) must be a positive finite number, got {B!r}")
    _check_eps(eps)
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise InputError(f"d must be a positive integer, got {d!r}")
    dv = d if dv is None or m.per_channel else dv
    plan = low_rank_plan(m, causal)
    factors = []
    for f in plan.factors:
        if f.kind != "features" or any(g.monomials == f.monomials for g in factors):
            continue
        support = m.monomials[f.monomials[0]].support
        R = factor_range(m, f.monomials, float(B), d)
        g = taylor_degree(R, eps)
        width = len(f.monomials) * (1 if m.per_channel else d)
        rank = taylor_rank(width, g)
        checked = None
        if rank <= MAX_ENUMERATED_RANK:
            powers = tuple(m.monomials[f.monomials[0]].powers[a] for a in support)
            checked = expansion_terms(width, g, powers) == rank
        factors.append(
            FactorApproximation(
                tuple(m.variables[a] for a in support), f.monomials, R, g, width, rank, checked
            )
        )
    return Approximation(m, float(B), float(eps), d, dv, causal, tuple(factors), plan)


def crossover(exact: Plan, approx: Plan, d: int, dv: int, rank: int) -> int | None:
    """Smallest n with approx count < exact count (ω = 3), by doubling then bisection; None if none ≤ 2^62."""

    def better(size: int) -> bool:
        a = _cost.operation_count(approx, size, d, dv, rank).total
        e = _cost.operation_count(exact, size, d, dv).total
        return a < e

    low, high = 1, 2
    if better(1):
        return 1
    while not better(high):
        low, high = high, high * 2
        if high > CROSSOVER_CAP:
            return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if better(middle) else (middle, high)
    return high


def _check_eps(eps) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (0 < eps < 0.5):
        raise InputError(f"eps (the relative error per factor) must be in (0, 0.5), got {eps!r}")


__all__ = [
    "Approximation",
    "FactorApproximation",
    "approximate",
    "crossover",
    "expansion_terms",
    "factor_range",
    "taylor_degree",
    "taylor_rank",
    "taylor_relative_error",
    "threshold_exponent",
]
