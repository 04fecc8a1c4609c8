"""The polynomial method on one factor: Taylor degree, rank and error of exp on [−R, R].

With every entry of every Q(a) bounded by B, the log-table of a support S (monomials m on S
merged) satisfies |L_S| ≤ R_S = |scale| · Σ_{m on S} |c_m| · D_m · B^{deg m}, with D_m = d
(1 in per-channel mode) and scale = 1/d by default (:func:`factor_range`). Replacing exp on
[−R, R] by its Taylor polynomial T_g(x) = Σ_{p ≤ g} x^p / p! with relative error ε, and
expanding (Σ_{i ≤ D} y_i)^p for p ≤ g (y_i = Π_{a∈S} x_{a,i}, D the table's feature width),
writes the factor as a sum of products of per-variable features, one term per multiset of
at most g features: rank C(D + g, g) (:func:`taylor_rank`; Alman & Song 2023 for k = 2,
Alman & Song 2024 for k = 3, Chakrabarti, Pitassi, Alman 2026 in general).

The relative error e^{−x}·|Σ_{j>g} x^j/j!| is evaluated on 4097 evenly spaced points of
[−R, R] (both endpoints included), the tail summed in floating point from its first term,
which is stable because g + 1 > |x| (the terms then shrink geometrically). Degrees
g ≤ R − 1 never reach ε < 1/2: at x = R the error is P(Poisson(R) > g) ≥ 1/2 there (the
median of Poisson(R) is at least R − ln 2).

Example::

    >>> taylor_degree(1.0, 1e-3), taylor_rank(2, 6)
    (6, 28)
"""

from __future__ import annotations

import math
from math import comb

import numpy as np
import sympy

from polyth.errors import InputError
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import Taylor

GRID_POINTS = 4097
MAX_DEGREE = 100_000


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
    """max_{|x| ≤ R} |T_g(x) − e^x| / e^x on the grid; inf when R ≥ g + 1 (no useful bound there)."""
    if R == 0:
        return 0.0
    if R >= g + 1:
        return math.inf
    return float(np.max(taylor_relative_error(g, np.linspace(-R, R, GRID_POINTS))))


def taylor_degree(R: float, eps: float) -> int:
    """The smallest Taylor degree g with relative error ≤ eps on [−R, R] (found on a grid)."""
    check_eps(eps)
    if not (R >= 0 and math.isfinite(R)):
        raise InputError(f"the score range R must be a finite non-negative number, got {R}")
    if R == 0:
        return 0
    g = math.floor(R)
    while g <= MAX_DEGREE:
        if max_relative_error(g, R) <= eps:
            return g
        g += 1
    raise InputError(f"no Taylor degree up to {MAX_DEGREE} reaches eps = {eps} on [-{R}, {R}]; lower B")


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
