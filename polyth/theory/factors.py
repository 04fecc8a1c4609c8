"""The factors of a mechanism: what an elimination plan starts from.

The unnormalised weight of a tuple l factorises over the hypergraph (docs/design.md §3;
Chakrabarti, Pitassi, Alman 2026):

    exp(S(l)) · ⊙_a V(a)[l_a] = Π_F F(l restricted to scope F),   F = exp(L_F) · W_F,

with one *score table* per distinct monomial support (monomials on the same support
merged: L_S = scale · Σ_{m on S} c_m Σ_c Π_a Q(a)[l_a, c]^p), one *value* factor per
value variable (it carries the channel: dv value columns and a ones column that becomes
the denominator), and causal *threshold* factors ``[l_child ≤ l_parent]`` (prefix: every
non-query variable below the query; nested: every tree edge directed away from x1). A
threshold on the same pair as a table masks that table.

The *low-rank* form (the polynomial method) replaces each table S of support ≥ 2 by a
rank variable ρ_S of size r_S and one feature factor Φ_a(l_a, ρ_S) per variable a of S:
F(l_S) ≈ Σ_ρ Π_a Φ_a(l_a, ρ). Each table has its own rank symbol
(:func:`polyth.theory.terms.rank_symbol`).

Example::

    >>> from polyth.mechanism import zoo
    >>> [f.kind for f in initial_factors(zoo.path(3), None, low_rank=False).factors]
    ['scores', 'scores', 'value', 'value']
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import sympy

from polyth.errors import PolyError
from polyth.mechanism import Mechanism
from polyth.theory.terms import d, dv, rank_symbol

CAUSAL_MODES = (None, "prefix", "nested")


@dataclass(frozen=True)
class Factor:
    """A factor exp(L) · W over ``scope`` (variable positions; rank variables follow the tokens).

    ``kind``: ``scores`` (a log table of merged ``monomials``, feature width ``width``,
    maybe ``mask``ed by thresholds (child, parent) on the same pair), ``features`` (a
    low-rank factor Φ(a, ρ) of the table of ``monomials``), ``value`` (V(a) with its
    ones column), ``threshold`` ([l_child ≤ l_parent], ``threshold`` = (child, parent)),
    ``message`` (a step's output) or ``output``. ``log``: has a log part; ``channel``:
    carries the value channel; ``linear``: a scalar linear part (low-rank).
    """

    id: int
    kind: str
    scope: tuple[int, ...]
    channel: bool = False
    log: bool = False
    linear: bool = False
    monomials: tuple[int, ...] = ()
    mask: tuple[tuple[int, int], ...] = ()
    threshold: tuple[int, int] | None = None
    width: sympy.Expr = sympy.Integer(0)

    @property
    def masked(self) -> bool:
        return bool(self.mask)


@dataclass(frozen=True)
class Widths:
    """The widths that multiply a step's work: problems B, channel C, feature widths per table.

    ``B`` = independent problems: 1, or d in per-channel mode; ``C`` = channel width: dv + 1
    value columns with the denominator's ones column, or 2 per channel in per-channel mode;
    a score table's feature width D: d per merged monomial, 1 per channel in per-channel mode.
    """

    batch: sympy.Expr
    channel: sympy.Expr

    @classmethod
    def for_mechanism(cls, m: Mechanism) -> Widths:
        if m.per_channel:
            return cls(batch=d, channel=sympy.Integer(2))
        return cls(batch=sympy.Integer(1), channel=dv + 1)

    @staticmethod
    def feature_width(m: Mechanism, monomials) -> sympy.Expr:
        """D of a score table merging ``monomials``: d per monomial (1 per channel per monomial)."""
        count = len(tuple(monomials))
        return sympy.Integer(count) if m.per_channel else d * count


@dataclass(frozen=True)
class InitialFactors:
    """The factors a plan starts from, the names of its variables (tokens, then rank variables
    ρ(…)), and each rank variable's table: position → (rank symbol, monomial indices)."""

    factors: tuple[Factor, ...]
    names: tuple[str, ...]
    ranks: dict[int, tuple[sympy.Symbol, tuple[int, ...]]]


def causal_thresholds(m: Mechanism, causal: str | None) -> list[tuple[int, int]]:
    """The threshold pairs (child, parent) meaning l_child ≤ l_parent of a causal mode."""
    if causal not in CAUSAL_MODES:
        raise PolyError(f"causal must be one of None, 'prefix', 'nested'; got {causal!r}")
    if causal is None:
        return []
    if causal == "prefix":
        return [(a, 0) for a in range(1, m.t)]
    if not (m.is_tree and m.is_connected):
        raise PolyError(
            "causal='nested' needs a connected tree polynomial (each child below its parent); "
            "use causal='prefix' for this mechanism"
        )
    position = {name: a for a, name in enumerate(m.variables)}
    graph = nx.relabel_nodes(m.primal_graph, position)
    return [(child, parent) for parent, child in nx.bfs_edges(graph, 0)]


def initial_factors(m: Mechanism, causal: str | None, low_rank: bool) -> InitialFactors:
    """The initial factors: score tables (or, ``low_rank``, feature factors per table of
    support ≥ 2), values, and the thresholds no table absorbs."""
    thresholds = causal_thresholds(m, causal)
    names = list(m.variables)
    ranks: dict[int, tuple[sympy.Symbol, tuple[int, ...]]] = {}
    factors: list[Factor] = []
    attached: set[tuple[int, int]] = set()
    for support, monos in m.support_groups:
        if low_rank and len(support) >= 2:
            rho = len(names)
            names.append("ρ(" + ",".join(m.variables[a] for a in support) + ")")
            ranks[rho] = (rank_symbol(len(ranks) + 1), monos)
            for a in support:
                factors.append(Factor(len(factors), "features", (a, rho), linear=True, monomials=monos))
            continue
        mask = tuple(pair for pair in thresholds if set(pair) == set(support))
        attached.update(mask)
        width = Widths.feature_width(m, monos)
        factors.append(
            Factor(len(factors), "scores", support, log=True, monomials=monos, mask=mask, width=width)
        )
    for a in m.values:
        factors.append(Factor(len(factors), "value", (a,), channel=True))
    for pair in thresholds:
        if pair not in attached:
            factors.append(Factor(len(factors), "threshold", tuple(sorted(pair)), threshold=pair))
    return InitialFactors(tuple(factors), tuple(names), ranks)


def thresholds_of(factors) -> list[tuple[int, int]]:
    """Every threshold pair the factors carry (as masks or as threshold factors)."""
    return [pair for f in factors for pair in (*f.mask, *([f.threshold] if f.threshold else []))]
