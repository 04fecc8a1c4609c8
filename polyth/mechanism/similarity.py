"""The similarity kernel of a mechanism: what turns a score into an attention weight (docs/design.md §1).

* :class:`Exp` (the default, softmax): weight = exp(S(l)).
* :class:`Taylor` ``(g)``: exp replaced by its degree-g Taylor polynomial T_g. Every
  score table of support ≥ 2 then has low rank: the engine's rank for degree g,
  C(D + g, g) for a table of feature width D (g + 1 per channel in per-channel mode).
  Tables on one variable (such as exp(−k²) in element-wise attention) stay exact.
  T_g(x) > 0 for every real x when g is even (T_g has its minimum where T_{g−1} = 0,
  and there T_g = x^g/g! > 0); for odd g, T_g(x) < 0 for x below its real root, so a
  denominator can reach zero: odd orders need ``allow_odd=True`` (Feng 2025).
* :class:`FeatureMap` ``(name, eps)``: for the bilinear h = x1·x2 the weight is
  sim(q, k) = φ(q)·φ(k) with an explicit feature map φ (linear attention,
  Katharopoulos et al. 2020: φ = elu + 1); the output is
  Σ_j φ(q_i)·φ(k_j) v_j / (Σ_j φ(q_i)·φ(k_j) + eps). The score table is then exactly a
  rank-d_φ factor: no approximation and no scale.

The brute-force definition of feature-map attention (the n × n weight matrix), the oracle
for linear attention, is :func:`polyth.reference.feature_map_attention`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy

from polyth.errors import PolyError


@dataclass(frozen=True)
class Exp:
    """exp(S): softmax attention (the default)."""

    def describe(self) -> str:
        return "exp"

    @property
    def low_rank(self) -> bool:
        return False


@dataclass(frozen=True)
class Taylor:
    """exp replaced by its degree-``order`` Taylor polynomial (odd orders only with ``allow_odd``)."""

    order: int
    allow_odd: bool = False

    def __post_init__(self):
        if isinstance(self.order, bool) or not isinstance(self.order, int) or self.order < 1:
            raise PolyError(f"the Taylor order must be a positive integer, got {self.order!r}")
        if self.order % 2 and not self.allow_odd:
            raise PolyError(
                f"Taylor order {self.order} is odd: T_{self.order}(x) < 0 for large negative scores, "
                "so a softmax denominator can reach zero; use an even order, or pass allow_odd=True "
                "to accept that risk (the computation then raises NumericalError if it happens)"
            )

    def describe(self) -> str:
        return f"taylor({self.order}{', odd allowed' if self.allow_odd else ''})"

    @property
    def low_rank(self) -> bool:
        return True

    def rank(self, width: sympy.Expr) -> sympy.Expr:
        """C(D + g, g): the features of a table of width D expanded to degree g."""
        return sympy.expand(sympy.expand_func(sympy.binomial(width + self.order, self.order)))


def _elu_plus_one(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))


# name → (φ in numpy, feature dimension d_φ as a function of d, φ > 0 everywhere)
FEATURE_MAPS = {
    "elu+1": (_elu_plus_one, lambda d: d, True),
}


@dataclass(frozen=True)
class FeatureMap:
    """sim(q, k) = φ(q)·φ(k) for a named feature map (``elu+1``: elu(x) + 1 > 0), ``eps`` added to
    the denominator."""

    name: str = "elu+1"
    eps: float = 1e-6

    def __post_init__(self):
        if self.name not in FEATURE_MAPS:
            raise PolyError(f"unknown feature map {self.name!r}; choose one of {', '.join(FEATURE_MAPS)}")
        eps = self.eps
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (0 <= eps < math.inf):
            raise PolyError(f"the feature map's eps must be a finite number ≥ 0, got {eps!r}")
        if eps == 0 and not FEATURE_MAPS[self.name][2]:
            raise PolyError(f"feature map {self.name!r} can be 0, so eps must be > 0")
        object.__setattr__(self, "eps", float(eps))

    def describe(self) -> str:
        return f"feature map φ = {self.name}, eps = {self.eps:g}"

    @property
    def low_rank(self) -> bool:
        return True

    def rank(self, d: sympy.Expr) -> sympy.Expr:
        """The feature dimension d_φ (d for the element-wise maps)."""
        return FEATURE_MAPS[self.name][1](d)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """φ(x) row-wise, in numpy (the definition)."""
        return FEATURE_MAPS[self.name][0](x)


def check_similarity(similarity, mechanism) -> None:
    """Raise PolyError unless ``similarity`` is a similarity kernel that fits ``mechanism``."""
    if not isinstance(similarity, (Exp, Taylor, FeatureMap)):
        raise PolyError(
            f"similarity must be polyth.similarity.Exp(), Taylor(order) or FeatureMap(name), "
            f"got {similarity!r}"
        )
    if isinstance(similarity, FeatureMap):
        monos = mechanism.monomials
        if not (
            mechanism.t == 2
            and len(monos) == 1
            and monos[0].powers == (1, 1)
            and monos[0].coefficient == 1
            and not mechanism.per_channel
        ):
            raise PolyError(
                "a feature map needs the bilinear mechanism h = x1·x2 (not per-channel): "
                "sim(q, k) = φ(q)·φ(k) is defined for it only"
            )
        if mechanism.scale not in (None, 1.0):
            raise PolyError("a feature-map mechanism has no scale (sim = φ(q)·φ(k)); leave scale unset")


__all__ = [
    "FEATURE_MAPS",
    "Exp",
    "FeatureMap",
    "Taylor",
    "check_similarity",
]
