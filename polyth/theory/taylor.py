"""The polynomial method on one factor: Taylor degree, rank and error of exp on [−R, R].

With every entry of every Q(a) bounded by B, the log-table of a support S (monomials m on S
merged) satisfies |L_S| ≤ R_S = |scale| · Σ_{m on S} |c_m| · D_m · B^{deg m}, with D_m = d
(1 in per-channel mode) and scale = 1/d by default (:func:`factor_range`). Replacing exp on
[−R, R] by its Taylor polynomial T_g(x) = Σ_{p ≤ g} x^p / p! with relative error ε, and
expanding (Σ_{i ≤ D} y_i)^p for p ≤ g (y_i = Π_{a∈S} x_{a,i}, D the table's feature width),
writes the factor as a sum of products of per-variable features, one term per multiset of
at most g features: rank C(D + g, g) (:func:`taylor_rank`; Alman & Song 2023 for k = 2,
Alman & Song 2024 for k = 3, Chakrabarti, Pitassi, Alman 2026 in general).

The worst relative error on [−R, R] has a closed form (:func:`max_relative_error`). Write
y = |x| and E(x) = e^{−x}·|Σ_{j>g} x^j/j!|. For x = y ≥ 0, E = P(Poisson(y) > g). For x = −y,
Kummer's transformation of the tail gives

    E(−y) = Σ_{k≥0} y^{g+1+k} / (g!·k!·(g+1+k)) = (1/g!)·∫_0^y u^g e^u du,

a sum of positive terms, increasing in y; and term by term it dominates E(y) =
e^{−y}·Σ_k y^{g+1+k}/(g+1+k)! (because (g+1+k)! ≥ g!·k!·(g+1+k) and e^{−y} ≤ 1). So the
maximum over [−R, R] is E(−R), summed in log space up to k = R + 12√R + 50 (the terms are
Poisson weights in k, negligible beyond). Degrees g ≤ R − 1 never reach ε < 1/2: at x = R the
error is P(Poisson(R) > g) ≥ 1/2 there (the median of Poisson(R) is at least R − ln 2), and
there the bound is reported as infinite. The error decreases in g, so
:func:`taylor_degree` finds the smallest g by doubling from g₀ = ⌈c·R + ln(1/ε)⌉ and then
bisection: O(log g) evaluations of O(R) terms each, for any R; a range that needs more than
MAX_DEGREE is refused at once with the figures. (By Stirling, E(−R) ≈ e^R·R^g/g! falls below
ε once g·ln(g/(e·R)) ≥ R + ln(1/ε): for large R the degree is about c·R, c = 3.5911 the root
of c·ln(c/e) = 1.)

Example::

    >>> taylor_degree(1.0, 1e-3), taylor_rank(2, 6)
    (6, 28)
"""

from __future__ import annotations

import functools
import math
from math import comb

import numpy as np
import sympy

from polyth.errors import BudgetError, InputError
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import Taylor

MAX_DEGREE = 100_000
GROWTH = 3.5911  # the root c of c·ln(c/e) = 1: large ranges need degree ≈ c·R


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


def max_relative_error(g: int, R: float) -> float:
    """max_{|x| ≤ R} |T_g(x) − e^x| / e^x, attained at x = −R (module docstring); inf when
    R ≥ g + 1 (no useful bound there)."""
    if R == 0:
        return 0.0
    if R >= g + 1:
        return math.inf
    k = np.arange(int(R + 12 * math.sqrt(R) + 50), dtype=float)
    log_terms = (g + 1 + k) * math.log(R) - math.lgamma(g + 1) - _lgamma(k + 1) - np.log(g + 1 + k)
    top = float(log_terms.max())
    total = top + math.log(float(np.exp(log_terms - top).sum()))
    return math.exp(total) if total < 700 else math.inf


def _lgamma(x: np.ndarray) -> np.ndarray:
    return np.array([math.lgamma(v) for v in x]) if x.size < 64 else _lgamma_table(int(x[-1]))[: x.size]


@functools.lru_cache(maxsize=8)
def _lgamma_table(top: int) -> np.ndarray:
    """log k! for k = 0 … top, a cumulative sum of logs (exact to rounding)."""
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, top + 1, dtype=float)))])


def taylor_degree(R: float, eps: float) -> int:
    """The smallest Taylor degree g with relative error ≤ eps on [−R, R]: doubling, then bisection."""
    check_eps(eps)
    if not (R >= 0 and math.isfinite(R)):
        raise InputError(f"the score range R must be a finite non-negative number, got {R}")
    if R == 0:
        return 0
    failing = max(math.ceil(R) - 2, -1)  # degrees g ≤ R − 1 have error ≥ 1/2 > eps
    working = min(max(failing + 1, math.ceil(GROWTH * R + math.log(1 / eps))), MAX_DEGREE)
    while max_relative_error(working, R) > eps:
        if working >= MAX_DEGREE:
            raise BudgetError(
                f"no Taylor degree up to {MAX_DEGREE:,} reaches eps = {eps:g} on [−R, R] with R = {R:.4g} "
                f"(the error of degree {MAX_DEGREE:,} is {max_relative_error(MAX_DEGREE, R):.3g}; the degree "
                f"needed grows like {GROWTH}·R ≈ {GROWTH * R:.3g}): lower B (R grows like B^k) or raise eps"
            )
        failing, working = working, min(2 * working, MAX_DEGREE)
    while working - failing > 1:
        middle = (working + failing) // 2
        if max_relative_error(middle, R) <= eps:
            working = middle
        else:
            failing = middle
    return working


def taylor_rank(width: int, g: int) -> int:
    """C(D + g, g): the number of multisets of at most g of the D features."""
    return comb(width + g, g)


def expansion_terms(width: int, g: int, powers: tuple[int, ...] = (1, 1)) -> int:
    """Distinct monomials of Σ_{p ≤ g} (Σ_{i ≤ D} y_i)^p, y_i = Π_a x_{a,i}^{powers[a]} (sympy expand):
    an independent count of the rank."""
    xs = [[sympy.Symbol(f"x{a}_{i}") for i in range(width)] for a in range(len(powers))]
    ys = [sympy.Mul(*[xs[a][i] ** p for a, p in enumerate(powers)]) for i in range(width)]
    total = sympy.expand(sum((sympy.Add(*ys) ** p for p in range(g + 1)), sympy.Integer(0)))
    return len(sympy.Add.make_args(total))


def factor_range(m: Mechanism, monomials, B: float, d: int) -> float:
    """R = |scale| · Σ |c_m| · (d, or 1 per channel) · B^{deg m} for a table merging ``monomials``."""
    scale = abs(m.scale_for(d))
    width = 1 if m.per_channel else d
    return scale * width * sum(abs(m.monomials[i].value) * B ** m.monomials[i].degree for i in monomials)


def taylor_error(m: Mechanism, B: float, d: int = 1) -> tuple[float, float]:
    """The error of a Taylor(g) mechanism's form against its exact (exp) form, entries of Q in [−B, B].

    Each table of support ≥ 2 has |score| ≤ R (:func:`factor_range`); its weight factor T_g(x) is
    within relative ε = max_{|x| ≤ R} |T_g(x) − e^x| / e^x of exp (:func:`max_relative_error`).
    Returns (δ = (1 + ε)^s − 1 over all s tables, the bound on every weight; the output bound
    2δ/(1 − δ) relative to max|V|), inf when δ ≥ 1 or R ≥ g + 1, where no useful bound holds.
    """
    similarity = m.similarity
    if not isinstance(similarity, Taylor):
        raise InputError(f"taylor_error needs a Taylor similarity, got {similarity.describe()}")
    if isinstance(B, bool) or not isinstance(B, (int, float)) or not (0 < B < math.inf):
        raise InputError(f"B must be a positive finite number, got {B!r}")
    tables = [monos for support, monos in m.support_groups if len(support) >= 2]
    worst = max(
        (max_relative_error(similarity.order, factor_range(m, monos, float(B), d)) for monos in tables),
        default=0.0,
    )
    if math.isinf(worst):
        return math.inf, math.inf
    delta = (1 + worst) ** len(tables) - 1
    return delta, (math.inf if delta >= 1 else 2 * delta / (1 - delta))


def check_eps(eps) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (0 < eps < 0.5):
        raise InputError(f"eps (the relative error per factor) must be in (0, 0.5), got {eps!r}")
