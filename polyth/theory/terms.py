"""Cost polynomials ``Σ coef · n^(α + β·ω)`` and the size symbols they are written in.

Every cost in polyth is such a sum: n the sequence length, ω the matrix-multiplication
exponent, and coefficients polynomial in the head dimension d, the value width dv and the
ranks of low-rank tables. Keeping the power of n apart from the coefficient makes the
leading exponent and the comparison of two plans exact and cheap.

Ranks: each low-rank table S of a plan has its own rank symbol r_S (:func:`rank_symbol`),
so that tables approximated to different degrees are priced each at its own rank; a
plan whose ranks are not fixed displays them all as the one symbol ``r``.

ω = 2.371339: Alman, Duan, Vassilevska Williams, Xu, Xu, Zhou 2024 (arXiv:2404.16349).

Example::

    >>> cost = Terms.power(2, 0, d) + Terms.power(0, 1)     # d·n² + n^ω
    >>> cost.exponent_at(OMEGA_BEST), cost.evaluate({"n": 10, "d": 4})
    (2.371339, 1400)
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache, lru_cache

import sympy

from polyth.errors import InputError

n, d, dv, omega, r = sympy.symbols("n d dv omega r", positive=True)

OMEGA_BEST = 2.371339
OMEGA_BEST_SOURCE = "Alman, Duan, Vassilevska Williams, Xu, Xu, Zhou 2024 (arXiv:2404.16349)"
OMEGA_CLASSICAL = 3
REFERENCE_SIZES = {"n": 1024, "d": 64, "dv": 64, "r": 64}

_RANK_PREFIX = "r_"


@cache
def rank_symbol(index: int) -> sympy.Symbol:
    """The rank of the ``index``-th low-rank table of a plan (1-based): ``r_1``, ``r_2``, …"""
    return sympy.Symbol(f"{_RANK_PREFIX}{index}", positive=True)


def is_rank_symbol(symbol: sympy.Symbol) -> bool:
    return symbol.name.startswith(_RANK_PREFIX)


class Terms:
    """A cost ``Σ coef · n^(α + β·ω)`` with integer α, β and coefficients in d, dv and the ranks.

    :meth:`expr` gives the sympy expression, :meth:`exponent_at` the leading power of n at a
    value of ω, :meth:`evaluate` the number for concrete sizes.
    """

    __slots__ = ("_items", "_cache")

    def __init__(self, items: Mapping[tuple[int, int], sympy.Expr] | None = None):
        merged: dict[tuple[int, int], sympy.Expr] = {}
        for key, coef in (items or {}).items():
            merged[key] = merged.get(key, sympy.Integer(0)) + sympy.sympify(coef)
        self._items = {key: coef for key, coef in merged.items() if coef != 0}
        self._cache: dict = {}

    @classmethod
    def power(cls, alpha: int, beta: int = 0, coef: object = 1) -> Terms:
        """The single term ``coef · n^(alpha + beta·ω)``."""
        return cls({(alpha, beta): sympy.sympify(coef)})

    @property
    def items(self) -> dict[tuple[int, int], sympy.Expr]:
        return dict(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __add__(self, other: Terms) -> Terms:
        if not isinstance(other, Terms):
            return NotImplemented
        merged = dict(self._items)
        for key, coef in other._items.items():
            merged[key] = merged[key] + coef if key in merged else coef
        return Terms(merged)

    def __mul__(self, other: object) -> Terms:
        if isinstance(other, Terms):
            out: dict[tuple[int, int], sympy.Expr] = {}
            for (a1, b1), c1 in self._items.items():
                for (a2, b2), c2 in other._items.items():
                    key = (a1 + a2, b1 + b2)
                    out[key] = out[key] + c1 * c2 if key in out else c1 * c2
            return Terms(out)
        coef = sympy.sympify(other)
        return Terms({key: c * coef for key, c in self._items.items()})

    __rmul__ = __mul__

    def expr(self) -> sympy.Expr:
        """The cost as a sympy expression in n, d, dv, omega and the rank symbols."""
        return sympy.Add(*[coef * n ** (alpha + beta * omega) for (alpha, beta), coef in self._items.items()])

    def exponent_at(self, omega_value: float) -> float:
        """The leading power of n with ω set to ``omega_value`` (−inf for zero)."""
        if not self._items:
            return float("-inf")
        return max(alpha + beta * omega_value for alpha, beta in self._items)

    def leading_exponent(self) -> sympy.Expr:
        """The leading power of n as a sympy expression in ω (ω ∈ [2, 3]).

        Exponents are linear in ω, so one dominates another on [2, 3] when it is at
        least as large at both ends; the non-dominated ones form a ``Max``.
        """
        if not self._items:
            return sympy.Integer(0)
        keys = set(self._items)
        keep = [
            (a, b)
            for a, b in keys
            if not any(
                (a2, b2) != (a, b) and a2 + 2 * b2 >= a + 2 * b and a2 + 3 * b2 >= a + 3 * b
                for a2, b2 in keys
            )
        ]
        return sympy.Max(*[alpha + beta * omega for alpha, beta in sorted(keep)])

    def evaluate(self, sizes: Mapping[str, object], omega_value: float = OMEGA_CLASSICAL):
        """The value for concrete sizes: ``n``, ``d``, ``dv``, ``r`` (every rank) and ``ranks``
        (a mapping from a rank symbol's name to its value, overriding ``r``); exact at ω = 3."""
        ranks = tuple(sorted((sizes.get("ranks") or {}).items()))
        small = tuple(sorted((k, v) for k, v in sizes.items() if k in ("d", "dv", "r")))
        key = (sizes["n"], small, ranks, omega_value)
        if key not in self._cache:
            total = 0
            for (alpha, beta), coef in self._items.items():
                c = _coefficient_value(coef, small, ranks)
                power = alpha + beta * omega_value
                if isinstance(power, int) or float(power).is_integer():
                    total += c * sizes["n"] ** int(power)
                else:
                    total += float(c) * float(sizes["n"]) ** power
            self._cache[key] = total
        return self._cache[key]

    def __repr__(self) -> str:
        return f"Terms({self.expr()})"


ZERO = Terms()


@lru_cache(maxsize=4096)
def _coefficient_value(coef: sympy.Expr, small: tuple, ranks: tuple):
    values = dict(small)
    named = dict(ranks)
    replacements = {}
    for symbol in coef.free_symbols:
        if is_rank_symbol(symbol):
            value = named.get(symbol.name, values.get("r"))
        else:
            value = values.get(symbol.name)
        if value is None:
            raise InputError(f"a concrete value for {symbol} is needed to count this plan's operations")
        replacements[symbol] = sympy.Integer(value)
    value = coef.xreplace(replacements)
    if value.is_Integer:
        return int(value)
    if value.is_Rational:
        return value
    return float(value)
