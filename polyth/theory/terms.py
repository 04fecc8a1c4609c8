"""Cost polynomials ``Σ coef · n^(α + β·ω + Σ ω(a,b,c))`` and the size symbols they are written in.

Every cost in polyth is such a sum: n the sequence length, ω the matrix-multiplication
exponent, ω(a, b, c) the exponent of a rectangular product n^a × n^b by n^b × n^c
(:mod:`polyth.theory.rectangular`; a term holds at most a few of them), and coefficients
polynomial in the head dimension d, the value width dv and the ranks of low-rank tables.
Keeping the power of n apart from the coefficient makes the leading exponent and the comparison
of two plans exact and cheap.

Each exponent is read three ways: symbolically (:meth:`Terms.leading_exponent`), at the best
known values (:meth:`Terms.exponent_best`: ω = 2.371339 and the published rectangular bounds)
and at a given ω with every rectangular product split into square blocks
(:meth:`Terms.exponent_at`; at ω = 3 that is the classical count the kernels run).

Ranks: each low-rank table S of a plan has its own rank symbol r_S (:func:`rank_symbol`),
so that tables approximated to different degrees are priced each at its own rank; a
plan whose ranks are not fixed displays them all as the one symbol ``r``.

ω = 2.371339: Alman, Duan, Vassilevska Williams, Xu, Xu, Zhou 2025 (arXiv:2404.16349).

Example::

    >>> cost = Terms.power(2, 0, d) + Terms.power(0, 1)     # d·n² + n^ω
    >>> cost.exponent_at(OMEGA_BEST), cost.evaluate({"n": 10, "d": 4})
    (2.371339, 1400)
    >>> product = Terms.product((1, 1, 2))                  # n^ω(1,1,2)
    >>> product.leading_exponent(), product.exponent_best(), product.exponent_at(3)
    (omega(1, 1, 2), 3.25164, 4)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from functools import cache, lru_cache

import sympy

from polyth.errors import InputError
from polyth.theory import rectangular
from polyth.theory.rectangular import OMEGA_BEST, RectangularOmega, omega

n, d, dv, r = sympy.symbols("n d dv r", positive=True)

OMEGA_CLASSICAL = 3
REFERENCE_SIZES = {"n": 1024, "d": 64, "dv": 64, "r": 64}

_RANK_PREFIX = "r_"


@cache
def rank_symbol(index: int) -> sympy.Symbol:
    """The rank of the ``index``-th low-rank table of a plan (1-based): ``r_1``, ``r_2``, …"""
    return sympy.Symbol(f"{_RANK_PREFIX}{index}", positive=True)


def is_rank_symbol(symbol: sympy.Symbol) -> bool:
    return symbol.name.startswith(_RANK_PREFIX)


Key = tuple[int, int, tuple[tuple[int, int, int], ...]]  # (α, β, rectangular shapes), n^(α + βω + Σ ω(s))


def _key(key: tuple) -> Key:
    """(α, β) or (α, β, shapes), the shapes sorted (each shape sorted too)."""
    alpha, beta, *rest = key
    shapes = tuple(sorted(rectangular.normalise(s) for s in (rest[0] if rest else ())))
    return (alpha, beta, shapes)


class Terms:
    """A cost ``Σ coef · n^(α + β·ω + Σ ω(a,b,c))`` with integer α, β, coefficients in d, dv and the ranks.

    :meth:`expr` gives the sympy expression; :meth:`leading_exponent` the leading power of n as a
    symbol, :meth:`exponent_best` its best known value, :meth:`exponent_at` its value at a given ω
    with square blocks; :meth:`evaluate` the number for concrete sizes.
    """

    __slots__ = ("_items", "_cache")

    def __init__(self, items: Mapping[tuple, sympy.Expr] | None = None):
        merged: dict[Key, sympy.Expr] = {}
        for key, coef in (items or {}).items():
            key = _key(key)
            merged[key] = merged.get(key, sympy.Integer(0)) + sympy.sympify(coef)
        self._items = {key: coef for key, coef in merged.items() if coef != 0}
        self._cache: dict = {}

    @classmethod
    def power(cls, alpha: int, beta: int = 0, coef: object = 1) -> Terms:
        """The single term ``coef · n^(alpha + beta·ω)``."""
        return cls({(alpha, beta): sympy.sympify(coef)})

    @classmethod
    def product(cls, shape, coef: object = 1) -> Terms:
        """``coef · n^ω(a,b,c)``: a product of an n^a × n^b by an n^b × n^c matrix.

        A square shape (m, m, m) is n^(m·ω); a shape with a zero is a vector-matrix product,
        n^(a+b+c); any other keeps the symbol ω(a, b, c).
        """
        a, b, c = rectangular.normalise(shape)
        if a == c:
            return cls.power(0, a, coef)
        if a == 0:
            return cls.power(b + c, 0, coef)
        return cls({(0, 0, ((a, b, c),)): sympy.sympify(coef)})

    @property
    def items(self) -> dict[Key, sympy.Expr]:
        return dict(self._items)

    @property
    def shapes(self) -> set[tuple[int, int, int]]:
        """The rectangular shapes ω(a, b, c) this cost contains."""
        return {s for _, _, shapes in self._items for s in shapes}

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
            out: dict[Key, sympy.Expr] = {}
            for (a1, b1, s1), c1 in self._items.items():
                for (a2, b2, s2), c2 in other._items.items():
                    key = _key((a1 + a2, b1 + b2, s1 + s2))
                    out[key] = out[key] + c1 * c2 if key in out else c1 * c2
            return Terms(out)
        coef = sympy.sympify(other)
        return Terms({key: c * coef for key, c in self._items.items()})

    __rmul__ = __mul__

    @staticmethod
    def _symbol(key: Key) -> sympy.Expr:
        alpha, beta, shapes = key
        return alpha + beta * omega + sympy.Add(*[RectangularOmega(*s) for s in shapes])

    def expr(self) -> sympy.Expr:
        """The cost as a sympy expression in n, d, dv, omega, ω(a,b,c) and the rank symbols."""
        return sympy.Add(*[coef * n ** self._symbol(key) for key, coef in self._items.items()])

    def exponent_at(self, omega_value: float) -> float:
        """The leading power of n at ω = ``omega_value``, every rectangular product in square
        blocks (at ω = 3 the classical count); −inf for zero."""
        if not self._items:
            return float("-inf")
        return max(_value(key, omega_value, rectangular.square_block) for key in self._items)

    def exponent_best(self) -> float:
        """The leading power of n at the best known values: ω = 2.371339 and ω(a, b, c) from
        :func:`polyth.theory.rectangular.best_known`."""
        if not self._items:
            return float("-inf")
        return max(
            _value(key, OMEGA_BEST, lambda s, _: rectangular.best_known(s).value) for key in self._items
        )

    def leading_exponent(self) -> sympy.Expr:
        """The leading power of n as a sympy expression in ω and the ω(a, b, c).

        One exponent dominates another when it is at least as large wherever the symbols can be:
        ω ∈ [2, 3] and max(a+b, b+c, a+c, m·ω) ≤ ω(a, b, c) ≤ a+b+c−3m+m·ω
        (:mod:`polyth.theory.rectangular`). Both are linear in the symbols on a polytope, so
        comparing them at its vertices decides it; the non-dominated exponents form a ``Max``.
        """
        if not self._items:
            return sympy.Integer(0)
        keys = sorted(self._items)
        corners = _corners(self.shapes)
        values = {key: [_corner_value(key, corner) for corner in corners] for key in keys}

        def dominated(key: Key) -> bool:
            mine = values[key]
            for other in keys:
                theirs = values[other]
                if other == key or any(b < a - 1e-12 for a, b in zip(mine, theirs)):
                    continue
                if any(b > a + 1e-12 for a, b in zip(mine, theirs)) or other < key:
                    return True  # strictly above somewhere, or equal everywhere and listed first
            return False

        return sympy.Max(*[self._symbol(key) for key in keys if not dominated(key)])

    def evaluate(self, sizes: Mapping[str, object], omega_value: float = OMEGA_CLASSICAL):
        """The value for concrete sizes: ``n``, ``d``, ``dv``, ``r`` (every rank) and ``ranks``
        (a mapping from a rank symbol's name to its value, overriding ``r``); exact at ω = 3.
        Rectangular products are split into square blocks at ``omega_value``."""
        ranks = tuple(sorted((sizes.get("ranks") or {}).items()))
        small = tuple(sorted((k, v) for k, v in sizes.items() if k in ("d", "dv", "r")))
        key = (sizes["n"], small, ranks, omega_value)
        if key not in self._cache:
            total = 0
            for term, coef in self._items.items():
                c = _coefficient_value(coef, small, ranks)
                power = _value(term, omega_value, rectangular.square_block)
                if isinstance(power, int) or float(power).is_integer():
                    total += c * sizes["n"] ** int(power)
                else:
                    total += float(c) * float(sizes["n"]) ** power
            self._cache[key] = total
        return self._cache[key]

    def __repr__(self) -> str:
        return f"Terms({self.expr()})"


def _value(key: Key, omega_value: float, rectangular_value) -> float:
    alpha, beta, shapes = key
    return alpha + beta * omega_value + sum(rectangular_value(s, omega_value) for s in shapes)


def _corners(shapes) -> list[tuple[float, dict]]:
    """Vertices of the region of (ω, ω(s) for each s) allowed by the facts above."""
    shapes = sorted(shapes)
    omegas = {2.0, 3.0}
    for s in shapes:  # where the lower bound m·ω overtakes b + c, or meets the square-block bound
        a, b, c = s
        if a:
            omegas.update(w for w in ((b + c) / a,) if 2 < w < 3)
    corners = []
    for w in sorted(omegas):
        ranges = [(rectangular.lower(s, w), rectangular.square_block(s, w)) for s in shapes]
        for choice in itertools.product(*ranges):
            corners.append((w, dict(zip(shapes, choice))))
    return corners


def _corner_value(key: Key, corner) -> float:
    w, rect = corner
    alpha, beta, shapes = key
    return alpha + beta * w + sum(rect[s] for s in shapes)


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
