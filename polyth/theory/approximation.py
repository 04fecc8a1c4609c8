"""The approximate algorithm of a mechanism: the polynomial method on every factor, as a plan.

With every entry of every Q(a) bounded by B, each score table S of support ≥ 2 has range
R_S (:func:`polyth.theory.taylor.factor_range`); its exponential is replaced by the Taylor
polynomial of degree g_S (the smallest with relative error ≤ ε on [−R_S, R_S], or a degree
given), a factor of rank r_S = C(D_S + g_S, g_S) (:mod:`polyth.theory.taylor`). The low-rank
plan (:func:`polyth.theory.plan.low_rank_plan`) eliminates over token variables of size n and
rank variables of size r_S: its cost is n · poly(r), i.e. n^{1+o(1)} when every r_S = n^{o(1)},
which holds when g = o(log n), i.e. B = o((log n)^{1/k}) with d = O(log n) and k the total
degree (Alman & Song 2023 for k = 2, Alman & Song 2024 for k = 3, Chakrabarti, Pitassi,
Alman 2026 in general).

:class:`Approximation` is what ``polyth.attention(method="approx")`` executes: its plan, and
for each table its degree and rank. Nothing else derives a degree, a range or a rank.

Error bound. Table S is within relative ε_S, so every weight (a product over the s tables)
is within relative δ = Π_S (1 + ε_S) − 1 (≤ (1 + ε)^s − 1). The output is a ratio N/D of
the weighted sum N = Σ w·v and the sum of weights D. With every weight within relative δ,
D̃ ∈ [(1 − δ)D, (1 + δ)D] and |Ñ − N| ≤ δ · Σ w |v| ≤ δ · D · max|v|, so

    |Ñ/D̃ − N/D| ≤ |Ñ − N|/D̃ + |N| · |1/D̃ − 1/D| ≤ δ/(1−δ) · max|v| + max|v| · δ/(1−δ)
                = (2δ/(1−δ)) · max|v|,

and for non-negative values the output is within relative (1 + δ)/(1 − δ) − 1 = 2δ/(1−δ).
Both need δ < 1.

Example::

    >>> from polyth.mechanism import zoo
    >>> a = approximate(zoo.self_attention(), B=1.0, eps=1e-3, d=2)
    >>> [(f.degree, f.rank) for f in a.factors], a.output_error < 3e-3
    ([(6, 28)], True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import sympy

from polyth.errors import InputError
from polyth.mechanism import Mechanism
from polyth.theory import cost as _cost
from polyth.theory.factors import Widths
from polyth.theory.plan import Plan, exact_plan, low_rank_plan
from polyth.theory.taylor import (
    check_eps,
    expansion_terms,
    factor_range,
    max_relative_error,
    taylor_degree,
    taylor_rank,
)
from polyth.theory.terms import d as d_symbol

MAX_ENUMERATED_RANK = 2000
CROSSOVER_CAP = 2**62


@dataclass(frozen=True)
class FactorApproximation:
    """One approximated table: its support, range R, Taylor degree, feature width, rank and error.

    ``symbol`` names the table's rank variable in the plan (``r_1``, ``r_2``, …); ``error`` is
    the relative error ε of T_degree on [−R, R] (inf where R ≥ degree + 1).
    """

    support: tuple[str, ...]
    monomials: tuple[int, ...]
    symbol: str
    R: float
    degree: int
    width: int
    rank: int
    error: float
    rank_checked: bool | None  # True: the expansion's terms were counted and match; None: too many


@dataclass(frozen=True)
class Approximation:
    """The approximate algorithm for entry bound B and head dimension d: the low-rank plan and,
    per table, the degree chosen for error ``eps`` (or the ``degree`` given) and its rank."""

    mechanism: Mechanism
    B: float
    eps: float | None
    d: int
    dv: int
    causal: str | None
    factors: tuple[FactorApproximation, ...]
    plan: Plan
    polynomial: str = "Taylor series of exp at 0"

    @property
    def degree(self) -> int:
        """The largest degree over the tables."""
        return max((f.degree for f in self.factors), default=0)

    @property
    def rank(self) -> int:
        """The largest rank over the tables."""
        return max((f.rank for f in self.factors), default=1)

    @property
    def ranks(self) -> dict[str, int]:
        """Rank symbol name → the table's rank: what the plan's costs are evaluated with."""
        return {f.symbol: f.rank for f in self.factors}

    @property
    def cost(self) -> sympy.Expr:
        """The low-rank plan's cost with each table at its own rank."""
        return _cost.cost(self.plan, ranks=self.ranks)

    @property
    def weight_error(self) -> float:
        """Relative error bound of every weight: Π_S (1 + ε_S) − 1 over the approximated tables."""
        return math.prod(1 + f.error for f in self.factors) - 1

    @property
    def output_error(self) -> float:
        """Bound 2δ/(1 − δ) on the output error (relative to max|V| product; see the module docstring)."""
        delta = self.weight_error
        return math.inf if delta >= 1 else 2 * delta / (1 - delta)

    @property
    def over_eps(self) -> list[FactorApproximation]:
        """The tables whose error at this B exceeds eps (a degree given beside eps), or is infinite."""
        target = math.inf if self.eps is None else self.eps
        return [f for f in self.factors if f.error > target or math.isinf(f.error)]

    @property
    def threshold_exponent(self) -> sympy.Rational:
        return threshold_exponent(self.mechanism)

    def operation_count(self, n: int) -> int:
        return _cost.operation_count(self.plan, n, self.d, self.dv, self.ranks).total

    @cached_property
    def crossover_n(self) -> int | None:
        """The smallest n where the approximate plan's count (ω = 3) is below the exact plan's; None if
        not below 2^62."""
        exact = exact_plan(self.mechanism, self.causal)
        return crossover(exact, self.plan, self.d, self.dv, self.ranks)


def threshold_exponent(m: Mechanism) -> sympy.Rational:
    """The exponent 1/k of the entry-bound threshold B* ~ (log n)^(1/k) (k the total degree)."""
    return sympy.Rational(1, m.k)


def approximate(
    m: Mechanism,
    B: float,
    eps: float | None = None,
    d: int = 64,
    causal: str | None = None,
    dv: int | None = None,
    degree: int | None = None,
) -> Approximation:
    """The approximate algorithm: per-table Taylor degree (for ``eps``, or ``degree`` for every
    table), rank and error at entry bound ``B``, and the low-rank plan.

    With both, ``degree`` is used and ``eps`` is only the target its errors are held against
    (:attr:`Approximation.over_eps`)."""
    if not isinstance(m, Mechanism):
        raise InputError(f"expected a polyth Mechanism, got {type(m).__name__}")
    if isinstance(B, bool) or not isinstance(B, (int, float)) or not (B > 0 and math.isfinite(B)):
        raise InputError(f"B (the bound on every entry of Q) must be a positive finite number, got {B!r}")
    if eps is None and degree is None:
        raise InputError("give eps (the relative error per table) or degree (the Taylor degree)")
    if eps is not None:
        check_eps(eps)
    if degree is not None and (isinstance(degree, bool) or not isinstance(degree, int) or degree < 0):
        raise InputError(f"degree must be a non-negative integer, got {degree!r}")
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise InputError(f"d must be a positive integer, got {d!r}")
    dv = d if dv is None or m.per_channel else dv
    plan = low_rank_plan(m, causal)
    factors = []
    for symbol, monos in plan.tables.items():
        support = m.monomials[monos[0]].support
        R = factor_range(m, monos, float(B), d)
        g = taylor_degree(R, eps) if degree is None else degree
        width = int(Widths.feature_width(m, monos).xreplace({d_symbol: d}))
        rank = taylor_rank(width, g)
        checked = None
        if rank <= MAX_ENUMERATED_RANK:
            powers = tuple(m.monomials[monos[0]].powers[a] for a in support)
            checked = expansion_terms(width, g, powers) == rank
        factors.append(
            FactorApproximation(
                tuple(m.variables[a] for a in support),
                monos,
                symbol.name,
                R,
                g,
                width,
                rank,
                max_relative_error(g, R),
                checked,
            )
        )
    return Approximation(
        m, float(B), None if eps is None else float(eps), d, dv, causal, tuple(factors), plan
    )


def crossover(exact: Plan, approx: Plan, d: int, dv: int, ranks) -> int | None:
    """Smallest n with approx count < exact count (ω = 3), by doubling then bisection; None if none ≤ 2^62.

    ``ranks``: the approximate plan's ranks (one int, or per table as in
    :func:`polyth.theory.cost.operation_count`)."""

    def better(size: int) -> bool:
        a = _cost.operation_count(approx, size, d, dv, ranks).total
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
