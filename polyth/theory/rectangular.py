"""Rectangular matrix multiplication: the exponent ω(a, b, c) and its published upper bounds.

Multiplying an n^a × n^b matrix by an n^b × n^c matrix takes n^{ω(a,b,c)+o(1)} arithmetic
operations; ω(1, 1, 1) = ω. Facts used here (standard; e.g. Huang & Pan 1998, §2):

* symmetry: ω(a, b, c) is invariant under permuting (a, b, c), so shapes are kept sorted;
* homogeneity and the square-block bound: splitting into n^m × n^m blocks, m = min(a, b, c),
  gives ω(a, b, c) ≤ a + b + c − 3m + m·ω (exact when a = b = c; a + b + c at ω = 3, the
  classical algorithm the kernels run; b + c when a = 0);
* subadditivity: ω(a₁+a₂, b₁+b₂, c₁+c₂) ≤ ω(a₁, b₁, c₁) + ω(a₂, b₂, c₂) (tensor products of
  matrix-multiplication tensors), so a published bound for one shape bounds larger shapes;
* lower bounds: ω(a, b, c) ≥ max(a + b, b + c, a + c) (reading the inputs, writing the output)
  and ω(a, b, c) ≥ m·ω (monotonicity).

:data:`PUBLISHED` holds the published upper bounds polyth uses, each with its source;
:func:`best_known` combines them with the square-block bound at ω = 2.371339 and
subadditivity. In a cost polynomial the exponent appears as the symbol :class:`RectangularOmega`
(printed ω(a, b, c)); substituting ω = 3 turns it into a + b + c, the classical count, so that
``cost(plan).subs(omega, 3)`` stays the operation count of what runs.

Example::

    >>> best_known((2, 1, 1)).value
    3.25164
    >>> sympy.sstr(RectangularOmega(2, 1, 1)), RectangularOmega(1, 2, 1).subs(omega, 3)
    ('omega(1, 1, 2)', 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations

import sympy

omega = sympy.Symbol("omega", positive=True)

OMEGA_BEST = 2.371339
OMEGA_BEST_SOURCE = (
    "Alman, Duan, Vassilevska Williams, Xu, Xu, Zhou, 'More asymmetry yields faster matrix "
    "multiplication', SODA 2025 (arXiv:2404.16349)"
)


@dataclass(frozen=True)
class PublishedBound:
    """ω(shape) ≤ value, from ``source``."""

    shape: tuple[int, int, int]
    value: float
    source: str


# Only bounds whose source is named. The LGU18 figure is recalled from the literature: the paper's
# table could not be read where this was written, so check its last digits before relying on them.
# Later analyses (Le Gall 2024, arXiv:2307.06535; Vassilevska Williams, Xu, Xu, Zhou 2024; Alman et
# al. 2025) improve ω(1, 1, 2) slightly; their figures are not recorded here.
PUBLISHED: tuple[PublishedBound, ...] = (
    PublishedBound((1, 1, 1), OMEGA_BEST, OMEGA_BEST_SOURCE),
    PublishedBound(
        (1, 1, 2),
        3.251640,
        "Le Gall & Urrutia, 'Improved rectangular matrix multiplication using powers of the "
        "Coppersmith-Winograd tensor', SODA 2018 (arXiv:1708.05622)",
    ),
)


def normalise(shape) -> tuple[int, int, int]:
    """The shape sorted (ω is symmetric in its three arguments)."""
    a, b, c = sorted(int(x) for x in shape)
    return (a, b, c)


def square_block(shape, omega_value: float) -> float:
    """a + b + c − 3m + m·ω, m = min(a, b, c): the bound that follows from ω alone."""
    a, b, c = normalise(shape)
    return a + b + c - 3 * a + a * omega_value


def lower(shape, omega_value: float) -> float:
    """max(a + b, b + c, a + c, m·ω): what every algorithm needs, given ω."""
    a, b, c = normalise(shape)
    return max(b + c, a * omega_value)


@dataclass(frozen=True)
class Best:
    """The best upper bound polyth knows on ω(shape): its value, how it follows, and from where."""

    value: float
    derivation: str
    sources: tuple[str, ...]


@lru_cache(maxsize=256)
def best_known(shape) -> Best:
    """The best upper bound on ω(shape) that follows from :data:`PUBLISHED`.

    The minimum of the square-block bound at ω = 2.371339 and, for every published shape p that
    fits inside ``shape`` (after permuting), ω(p) + the best bound on the remainder
    (subadditivity).
    """
    shape = normalise(shape)
    if shape[0] == 0:
        return Best(float(sum(shape)), "a vector-matrix product", ())
    best = Best(square_block(shape, OMEGA_BEST), f"square blocks at ω = {OMEGA_BEST}", (OMEGA_BEST_SOURCE,))
    for entry in PUBLISHED:
        for p in set(permutations(entry.shape)):
            rest = tuple(x - y for x, y in zip(shape, p))
            if min(rest) < 0:
                continue
            if sum(rest) == 0:
                candidate = Best(entry.value, f"ω{entry.shape} ≤ {entry.value:g}", (entry.source,))
            else:
                other = best_known(rest)
                candidate = Best(
                    entry.value + other.value,
                    f"ω{entry.shape} + ω{normalise(rest)} (subadditivity)",
                    tuple(dict.fromkeys((entry.source, *other.sources))),
                )
            if candidate.value < best.value - 1e-12:
                best = candidate
    return best


class RectangularOmega(sympy.Function):
    """The symbol ω(a, b, c) in a cost polynomial (arguments sorted; ω(m, m, m) = m·ω).

    ``.subs(omega, 3)`` gives a + b + c: ω = 3 stands for the classical algorithm, what runs.
    """

    notation_symbol = "omega"  # polyth.mechanism.notation writes it ω(a, b, c)
    is_real = True
    is_positive = True
    is_number = False  # an unknown constant, like ω itself (so that Max and comparisons accept it)

    @classmethod
    def eval(cls, a, b, c):
        args = [sympy.Integer(x) for x in (a, b, c)]
        ordered = sorted(args)
        if ordered[0] == ordered[2]:
            return ordered[0] * omega
        if ordered[0] == 0:
            return ordered[1] + ordered[2]
        if ordered != args:
            return cls(*ordered)
        return None

    def _eval_subs(self, old, new):
        if old == omega and new == 3:
            return sympy.Add(*self.args)
        return None

    def _sympystr(self, printer):
        return "omega(" + ", ".join(str(x) for x in self.args) + ")"

    def _latex(self, printer):
        return r"\omega(" + ", ".join(str(x) for x in self.args) + ")"


__all__ = [
    "OMEGA_BEST",
    "OMEGA_BEST_SOURCE",
    "PUBLISHED",
    "Best",
    "PublishedBound",
    "RectangularOmega",
    "best_known",
    "lower",
    "normalise",
    "omega",
    "square_block",
]
