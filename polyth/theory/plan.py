"""Elimination plans: the executable algorithm of a mechanism, and the single source of truth.

A :class:`Plan` is the initial factors of a mechanism (:mod:`polyth.theory.factors`) and an
ordered list of typed steps, each eliminating one non-query variable
(:mod:`polyth.theory.order`), then a final ``normalize`` step that multiplies the channel
factors left on the query and divides by the ones column. Every step carries its price
(:mod:`polyth.theory.pricing`); the cost of the plan is the sum (:mod:`polyth.theory.cost`),
and the executors of :mod:`polyth.compute` run exactly these steps.

* :func:`exact_plan`: the exact algorithm (log-domain variable elimination over the score
  tables; docs/design.md §3, Chakrabarti, Pitassi, Alman 2026), searched exhaustively for
  t ≤ 8 (``exhaustive=True``), otherwise a heuristic order and the cost an upper bound.
* :func:`low_rank_plan`: the polynomial method's plan, every table of support ≥ 2 replaced by
  a rank variable ρ_S of size r_S and feature factors Φ_a(l_a, ρ_S); the same engine
  eliminates token and rank variables.

The similarity kernel (:mod:`polyth.mechanism.similarity`) fixes the ranks when it is part of
the mechanism: a feature map φ makes the bilinear table exactly Σ_ρ φ(q)_ρ φ(k)_ρ, so the
*exact* plan of a feature-map mechanism is the low-rank plan with r = d_φ; a Taylor(g)
similarity gives each table of feature width D the rank C(D + g, g) (g + 1 per channel in
per-channel mode). :attr:`Plan.fixed_ranks` records them; otherwise each table's rank is a
free symbol, displayed as ``r``.

Example::

    >>> from polyth.mechanism import zoo
    >>> print(exact_plan(zoo.path(3)).describe())   # doctest: +NORMALIZE_WHITESPACE
    tree_message  eliminate x3     → (x2)  ...
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy

from polyth.errors import PolyError
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import FeatureMap, Taylor
from polyth.theory.factors import Factor, Widths, initial_factors
from polyth.theory.order import (
    EXHAUSTIVE_LIMIT,
    einsum_order,
    exhaustive_order,
    same,
    step_options,
    stream_options,
    treewidth_order,
)
from polyth.theory.pricing import StepWork, dense, price_normalize
from polyth.theory.terms import Terms, d, r


@dataclass(frozen=True)
class Step:
    """One elimination (or the final normalisation), with what an executor needs.

    ``loop``: the variables the step iterates over (for a matmul, all its indices);
    ``groups``/``batch``: a matmul's two operand groups (factor ids) and batch
    variables; ``partner``: the prefix sum's threshold partner p; ``price``: its work.
    """

    kind: str
    eliminated: int | None
    inputs: tuple[int, ...]
    output: Factor
    loop: tuple[int, ...]
    groups: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    batch: tuple[int, ...] = ()
    partner: int | None = None
    price: StepWork = field(default=None, compare=False, repr=False)
    size_terms: Terms = field(default=None, compare=False, repr=False)

    @property
    def madds(self) -> sympy.Expr:
        return self.price.madds.expr()

    @property
    def exps(self) -> sympy.Expr:
        return self.price.exps.expr()

    @property
    def cost(self) -> sympy.Expr:
        return self.price.total.expr()

    @property
    def size(self) -> sympy.Expr:
        """Entries of the output intermediate: n^|scope| · (C if it carries the channel) · B."""
        return self.size_terms.expr()

    @property
    def memory(self) -> sympy.Expr:
        """Entries of the largest array the step holds."""
        return self.price.memory.expr()


@dataclass(frozen=True)
class Plan:
    """An executable elimination plan: initial factors, ordered steps, and whether the order is optimal.

    ``exhaustive`` is True when every elimination order was searched (the cost is the
    best this engine finds), False when a heuristic chose it (an upper bound).
    """

    mechanism: Mechanism
    causal: str | None
    order: tuple[int, ...]
    factors: tuple[Factor, ...]
    steps: tuple[Step, ...]
    exhaustive: bool
    low_rank: bool
    variables: tuple[str, ...]
    ranks: dict[int, tuple[sympy.Symbol, tuple[int, ...]]]  # rank variable → (symbol, its table)
    fixed_ranks: dict[sympy.Symbol, sympy.Expr] = field(default_factory=dict)  # set by the similarity

    def is_rank(self, v: int) -> bool:
        return v in self.ranks

    @property
    def rank_symbols(self) -> dict[int, sympy.Symbol]:
        """Rank variable position → its rank symbol r_k."""
        return {v: symbol for v, (symbol, _) in self.ranks.items()}

    @property
    def tables(self) -> dict[sympy.Symbol, tuple[int, ...]]:
        """Rank symbol → the monomial indices of its low-rank table."""
        return {symbol: monos for symbol, monos in self.ranks.values()}

    @property
    def rank(self) -> sympy.Expr | None:
        """The rank every low-rank table has when the similarity fixes one common value (else None)."""
        values = {self.fixed_ranks.get(symbol) for symbol, _ in self.ranks.values()}
        return values.pop() if len(values) == 1 and None not in values else None

    def with_ranks(self, expr: sympy.Expr) -> sympy.Expr:
        """``expr`` with each rank symbol replaced by its fixed value, or by the common symbol r."""
        if not self.ranks:
            return expr
        values = {symbol: self.fixed_ranks.get(symbol, r) for symbol, _ in self.ranks.values()}
        return sympy.expand(expr.xreplace(values))

    def name(self, v: int | None) -> str | None:
        return None if v is None else self.variables[v]

    def _scope(self, scope) -> list[str]:
        return [self.variables[v] for v in scope]

    def factor_dict(self, f: Factor) -> dict:
        out = {"id": f.id, "kind": f.kind, "scope": self._scope(f.scope), "channel": f.channel}
        if f.kind in ("scores", "features"):
            out["monomials"] = list(f.monomials)
        if f.kind == "scores":
            out["width"] = str(f.width)
        if f.mask:
            out["mask"] = [self._scope(pair) for pair in f.mask]
        if f.threshold:
            out["threshold"] = self._scope(f.threshold)
        return out

    def to_dict(self) -> dict:
        """JSON-ready description: variables, order, initial factors and typed steps with costs."""
        steps = []
        for s in self.steps:
            row = {
                "kind": s.kind,
                "eliminated": self.name(s.eliminated),
                "inputs": list(s.inputs),
                "output": self.factor_dict(s.output),
                "loop": self._scope(s.loop),
                "madds": str(s.madds),
                "exps": str(s.exps),
                "size": str(s.size),
                "memory": str(s.memory),
            }
            if s.groups:
                row["groups"] = [list(g) for g in s.groups]
                row["batch"] = self._scope(s.batch)
            if s.partner is not None:
                row["partner"] = self.name(s.partner)
            steps.append(row)
        return {
            "causal": self.causal,
            "low_rank": self.low_rank,
            "rank": None if self.rank is None else str(self.rank),
            "ranks": {
                self.variables[v]: str(self.fixed_ranks.get(symbol, symbol))
                for v, (symbol, _) in self.ranks.items()
            },
            "exhaustive": self.exhaustive,
            "variables": list(self.variables),
            "order": self._scope(self.order),
            "factors": [self.factor_dict(f) for f in self.factors],
            "steps": steps,
        }

    def describe(self) -> str:
        """One line per step: kind, eliminated variable, output scope and cost."""
        lines = []
        for s in self.steps:
            what = f"eliminate {self.name(s.eliminated)}" if s.eliminated is not None else "normalise"
            scope = ",".join(self._scope(s.output.scope)) or "∅"
            lines.append(f"{s.kind:<13} {what:<16} → ({scope})  {sympy.sstr(self.with_ranks(s.cost))}")
        return "\n".join(lines)


# ----------------------------------------------------------------- building plans


def _build(m: Mechanism, causal, low_rank: bool, start, order, chosen, exhaustive: bool) -> Plan:
    widths = Widths.for_mechanism(m)
    ranks = {v: symbol for v, (symbol, _) in start.ranks.items()}
    current = list(start.factors)
    next_id = len(current)
    steps = []
    reading = None  # the read half of a streamed pair, once its scan is placed
    for b in order:
        options, output = step_options(tuple(current), b, widths, ranks, low_rank)
        option = chosen[b] if chosen is not None else min(options, key=lambda o: o.key)
        if option.kind == "prefix_stream":
            pair = next(p for p in stream_options(tuple(current), b, widths, ranks) if same(p.scan, option))
            option, reading = pair.scan, pair.read
        elif option.kind == "stream_read":
            option, reading = reading, None
        elif chosen is not None:
            option = next(o for o in options if same(o, option))
        output = replace(output, id=next_id)
        next_id += 1
        ids = tuple(current[i].id for i in option.inputs)
        groups = None
        if option.groups:
            groups = tuple(tuple(current[i].id for i in g) for g in option.groups)
        size = dense(output.scope, ranks) * widths.batch * (widths.channel if output.channel else 1)
        steps.append(
            Step(
                option.kind,
                b,
                ids,
                output,
                option.loop,
                groups,
                option.batch,
                option.partner,
                option.price,
                size,
            )
        )
        current = [f for f in current if b not in f.scope] + [output]
    final = Factor(next_id, "output", (0,), channel=True)
    price = price_normalize(current, widths)
    size = dense((0,), ranks) * widths.batch * widths.channel
    steps.append(
        Step("normalize", None, tuple(f.id for f in current), final, (0,), price=price, size_terms=size)
    )
    return Plan(
        m,
        causal,
        tuple(order),
        start.factors,
        tuple(steps),
        exhaustive,
        low_rank,
        start.names,
        dict(start.ranks),
        similarity_ranks(m, start.ranks) if low_rank else {},
    )


def similarity_ranks(m: Mechanism, ranks) -> dict[sympy.Symbol, sympy.Expr]:
    """The rank of each low-rank table that the mechanism's similarity kernel fixes (none for exp).

    Feature map: d_φ. Taylor(g): C(D + g, g), D the table's feature width.
    """
    similarity = m.similarity
    if isinstance(similarity, FeatureMap):
        return {symbol: similarity.rank(d) for symbol, _ in ranks.values()}
    if isinstance(similarity, Taylor):
        return {symbol: similarity.rank(Widths.feature_width(m, monos)) for symbol, monos in ranks.values()}
    return {}


def _check(m) -> None:
    if not isinstance(m, Mechanism):
        raise PolyError(f"expected a polyth Mechanism, got {type(m).__name__}")


def _plan(m: Mechanism, causal: str | None, low_rank: bool) -> Plan:
    _check(m)
    start = initial_factors(m, causal, low_rank)
    eliminable = [v for v in range(len(start.names)) if v != 0]
    ranks = {v: symbol for v, (symbol, _) in start.ranks.items()}
    if len(eliminable) <= EXHAUSTIVE_LIMIT:
        order, chosen = exhaustive_order(start.factors, eliminable, Widths.for_mechanism(m), ranks, low_rank)
        return _build(m, causal, low_rank, start, order, chosen, True)
    if low_rank:
        order = einsum_order(start.factors, eliminable, ranks)
    else:
        order = treewidth_order(start.factors, eliminable)
    return _build(m, causal, low_rank, start, order, None, False)


def exact_plan(m: Mechanism, causal: str | None = None) -> Plan:
    """The best exact plan this engine finds for ``m`` (exhaustive for t ≤ 8).

    For a feature-map similarity the exact computation *is* the low-rank plan (r = d_φ).
    """
    _check(m)
    return _plan(m, causal, low_rank=isinstance(m.similarity, FeatureMap))


def low_rank_plan(m: Mechanism, causal: str | None = None) -> Plan:
    """The plan with every table of support ≥ 2 replaced by a rank-r_S factor (the polynomial method)."""
    return _plan(m, causal, low_rank=True)


def plan_with_order(m: Mechanism, order, causal: str | None = None, low_rank: bool = False) -> Plan:
    """The plan that eliminates the non-query variables in ``order`` (positions), each step priced
    by its cheapest type. ``exhaustive`` is False: the order was given, not searched."""
    _check(m)
    start = initial_factors(m, causal, low_rank)
    order = tuple(order)
    if sorted(order) != list(range(1, len(start.names))):
        raise PolyError(f"order must list every non-query variable position 1..{len(start.names) - 1} once")
    return _build(m, causal, low_rank, start, order, None, False)


def written_form(m: Mechanism) -> tuple:
    """The mechanism *as written* (variable order, monomials, options): mechanism equality is
    only up to renaming, but a plan names variables, so plan caches key on this."""
    monomials = tuple((str(mono.coefficient), mono.powers) for mono in m.monomials)
    return (m.variables, monomials, m.values, m.untied, m.scale, m.per_channel, repr(m.similarity))


_EXACT_PLANS: dict[tuple, Plan] = {}


def cached_exact_plan(m: Mechanism, causal: str | None = None) -> Plan:
    """:func:`exact_plan`, searched once per mechanism as written and causal mode."""
    key = (written_form(m), causal)
    if key not in _EXACT_PLANS:
        if len(_EXACT_PLANS) > 256:
            _EXACT_PLANS.clear()
        _EXACT_PLANS[key] = exact_plan(m, causal=causal)
    return _EXACT_PLANS[key]
