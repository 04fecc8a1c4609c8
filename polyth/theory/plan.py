"""The exact (and low-rank) plan of a mechanism: variable elimination over log-domain factors.

The unnormalised weight of a tuple l factorises over the hypergraph (DESIGN.md §3;
Chakrabarti, Pitassi, Alman 2026):

    exp(S(l)) · ⊙_a V(a)[l_a] = Π_F F(l restricted to scope F),   F = exp(L_F) · W_F,

with one *score table* per distinct monomial support (monomials on the same support
merged: L_S = scale · Σ_{m on S} c_m Σ_c Π_a Q(a)[l_a, c]^p), one *value* factor per
value variable (it carries the channel: dv value columns and a ones column that
becomes the denominator), and causal *threshold* factors ``[l_child ≤ l_parent]``
(prefix: every non-query variable below the query; nested: every tree edge directed
away from x1). A threshold on the same pair as a table masks that table.

Each step eliminates one non-query variable b: it multiplies the factors whose scope
contains b and sums l_b out, leaving a message on the union of their scopes minus b.
Steps are typed by how they run:

* ``tree_message``: one pairwise table on {a, b} (maybe masked) plus factors on {b}
  alone: a flash-attention pass with a per-key bias and per-key values; O(n·C) memory.
* ``matmul``: the inputs split into two groups sharing only b and batch variables:
  a (batched, rectangular) matrix product.
* ``prefix_sum``: a threshold [l_b ≤ l_p] (or ≥) whose partner p appears in no other
  input: a cumulative log-domain scan along b.
* ``contraction``: anything else: loop over the allowed tuples of the union scope.

A final ``normalize`` step multiplies the channel factors left on the query and
divides by the ones column. The order is searched exhaustively (dynamic programming
over the set of eliminated variables) when at most 7 variables are eliminated
(t ≤ 8), minimising the leading exponent of n at ω = 2.371339, then at ω = 3, then
the operation count at n = 1024, d = dv = 64; beyond that a library heuristic gives
the order and the plan is labelled an upper bound (``exhaustive=False``).

The *low-rank* plan (the polynomial method, :mod:`polyth.approx`) replaces each table
of support ≥ 2 by a rank variable ρ of size r and one feature factor Φ(a, ρ) per
variable of its support: F(l_S) ≈ Σ_ρ Π_a Φ_a(l_a, ρ). The same engine eliminates
token and rank variables.

The similarity kernel (:mod:`polyth.similarity`) fixes the rank when it is part of the
mechanism: a feature map φ makes the bilinear table exactly Σ_ρ φ(q)_ρ φ(k)_ρ, so the
*exact* plan of a feature-map mechanism is the low-rank plan with r = d_φ (no Taylor
error); a Taylor(g) similarity gives the low-rank plan r = C(D + g, g) (g + 1 per channel
in per-channel mode), while its exact plan stays the exp plan. ``Plan.rank`` records that
r, and the cost functions substitute it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from functools import cache

import networkx as nx
import opt_einsum
import sympy

from polyth.errors import PolyError
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import FeatureMap, Taylor
from polyth.theory import cost as _cost
from polyth.theory.cost import OMEGA_BEST, OMEGA_CLASSICAL, REFERENCE_SIZES, Price, Terms, Widths

CAUSAL_MODES = (None, "prefix", "nested")
EXHAUSTIVE_LIMIT = 7  # eliminated variables: t ≤ 8 for the exact plan
MAX_MATMUL_INPUTS = 10  # beyond this many inputs no bipartition is tried
_TOLERANCE = 1e-9


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
    price: Price = field(default=None, compare=False, repr=False)
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
    ranks: frozenset[int]
    rank: sympy.Expr | None = None  # r fixed by the similarity kernel (None: a free symbol r)

    def is_rank(self, v: int) -> bool:
        return v in self.ranks

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
            lines.append(f"{s.kind:<13} {what:<16} → ({scope})  {sympy.sstr(s.cost)}")
        return "\n".join(lines)


# ----------------------------------------------------------------- initial factors


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


def support_groups(m: Mechanism) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(support, monomial indices) per distinct support, in order of first appearance."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, mono in enumerate(m.monomials):
        groups.setdefault(mono.support, []).append(i)
    return [(support, tuple(ids)) for support, ids in groups.items()]


def _initial(m: Mechanism, causal: str | None, low_rank: bool):
    """The initial factors, the variable names and the set of rank variables."""
    widths = Widths.for_mechanism(m)
    thresholds = causal_thresholds(m, causal)
    names = list(m.variables)
    ranks: set[int] = set()
    factors: list[Factor] = []
    attached: set[tuple[int, int]] = set()
    for support, monos in support_groups(m):
        if low_rank and len(support) >= 2:
            rho = len(names)
            names.append("ρ(" + ",".join(m.variables[a] for a in support) + ")")
            ranks.add(rho)
            for a in support:
                factors.append(Factor(len(factors), "features", (a, rho), linear=True, monomials=monos))
            continue
        mask = tuple(pair for pair in thresholds if set(pair) == set(support))
        attached.update(mask)
        width = widths.feature_width(m, monos)
        factors.append(
            Factor(len(factors), "scores", support, log=True, monomials=monos, mask=mask, width=width)
        )
    for a in m.values:
        factors.append(Factor(len(factors), "value", (a,), channel=True))
    for pair in thresholds:
        if pair not in attached:
            factors.append(Factor(len(factors), "threshold", tuple(sorted(pair)), threshold=pair))
    return tuple(factors), tuple(names), frozenset(ranks)


def exact_plan_factors(m: Mechanism, causal: str | None = None) -> tuple[Factor, ...]:
    """The initial factors of the exact plan (score tables, values, thresholds)."""
    return _initial(m, causal, low_rank=False)[0]


# ----------------------------------------------------------------- one elimination


@dataclass(frozen=True)
class _Option:
    kind: str
    inputs: tuple[int, ...]  # positions in the current factor list
    loop: tuple[int, ...]
    groups: tuple[tuple[int, ...], tuple[int, ...]] | None
    batch: tuple[int, ...]
    partner: int | None
    price: Price
    key: tuple[float, float, float]
    signature: tuple = ()  # the option independent of factor positions and ids


def _key(price: Price) -> tuple[float, float, float]:
    total = price.total
    return (
        total.exponent_at(OMEGA_BEST),
        total.exponent_at(OMEGA_CLASSICAL),
        float(total.evaluate(REFERENCE_SIZES)),
    )


def _thresholds_of(factors) -> list[tuple[int, int]]:
    return [pair for f in factors for pair in (*f.mask, *([f.threshold] if f.threshold else []))]


def _message(inputs, b: int) -> Factor:
    """The message left by eliminating b from ``inputs`` (id assigned later)."""
    scope = tuple(sorted({v for f in inputs for v in f.scope} - {b}))
    others = [f for f in inputs if tuple(f.scope) != (b,)]
    log = any(f.log for f in others)
    channel = any(f.channel for f in inputs)
    return Factor(-1, "message", scope, channel=channel, log=log, linear=not log and not channel)


def _options(factors: tuple[Factor, ...], b: int, widths: Widths, is_rank) -> tuple[list[_Option], Factor]:
    """Every way this engine can eliminate b from the current factors, priced."""
    positions = [i for i, f in enumerate(factors) if b in f.scope]
    inputs = [factors[i] for i in positions]
    output = _message(inputs, b)
    union = tuple(sorted({v for f in inputs for v in f.scope}))
    others = [i for i in positions if tuple(factors[i].scope) != (b,)]
    unary = [i for i in positions if tuple(factors[i].scope) == (b,)]
    options = []

    def add(kind, loop, groups=None, batch=(), partner=None, price=None):
        sides = tuple(tuple(sorted(_factor_key(factors[i]) for i in g)) for g in groups) if groups else ()
        signature = (kind, tuple(loop), partner, tuple(sorted(sides)))  # the two sides are unordered
        options.append(
            _Option(
                kind,
                tuple(positions),
                tuple(loop),
                groups,
                tuple(batch),
                partner,
                price,
                _key(price),
                signature,
            )
        )

    thresholds = _thresholds_of(inputs)
    loop_price = _cost.price_loop(inputs, b, union, thresholds, output, widths, is_rank)
    is_tree_message = (
        len(union) == 2
        and len(others) == 1
        and factors[others[0]].kind == "scores"
        and tuple(sorted(factors[others[0]].scope)) == union
    )
    add("tree_message" if is_tree_message else "contraction", union, price=loop_price)

    for i in others:
        pair = factors[i].threshold
        if pair is None or b not in pair:
            continue
        p = pair[0] if pair[1] == b else pair[1]
        rest = [factors[j] for j in positions if j != i]
        if any(p in f.scope for f in rest):
            continue
        loop = [v for v in union if v != p]
        price = _cost.price_loop(rest, b, loop, _thresholds_of(rest), output, widths, is_rank)
        add("prefix_sum", loop, partner=p, price=price)

    if 2 <= len(others) <= MAX_MATMUL_INPUTS:
        first, *rest = others
        for assignment in itertools.product((0, 1), repeat=len(rest)):
            group1 = [first] + [i for i, side in zip(rest, assignment) if side == 0]
            group2 = [i for i, side in zip(rest, assignment) if side == 1]
            if not group2 or not all(
                any(factors[i].kind != "threshold" for i in g) for g in (group1, group2)
            ):
                continue
            scope1 = {v for i in group1 for v in factors[i].scope}
            scope2 = {v for i in group2 for v in factors[i].scope}
            batch = sorted((scope1 & scope2) - {b})
            if not (scope1 - scope2) or not (scope2 - scope1):
                continue
            price = _cost.price_matmul(
                [factors[i] for i in group1],
                [factors[i] for i in group2],
                [factors[i] for i in unary],
                b,
                batch,
                output,
                widths,
                is_rank,
            )
            add("matmul", union, groups=(tuple(group1), tuple(group2)), batch=batch, price=price)
    return options, output


def _after(factors: tuple[Factor, ...], b: int, output: Factor) -> tuple[Factor, ...]:
    return tuple(f for f in factors if b not in f.scope) + (output,)


# ----------------------------------------------------------------- order search


def _exhaustive(initial, eliminable, widths, is_rank) -> tuple[tuple[int, ...], dict]:
    """The best order: minimise the max exponent at ω_best, then at ω = 3, then the total count.

    Dynamic programming over the set of eliminated variables (the factor set after a set
    is eliminated does not depend on the order), in three exact stages.
    """
    full = frozenset(eliminable)

    @cache
    def state(done: frozenset) -> tuple[Factor, ...]:
        if not done:
            return initial
        b = min(done)
        factors = state(done - {b})
        return _after(factors, b, options(done - {b}, b)[1])

    @cache
    def options(done: frozenset, b: int):
        return _options(state(done), b, widths, is_rank)

    def stage(best, allowed, combine, start):
        @cache
        def value(done: frozenset):
            if done == full:
                return start, None
            result = (float("inf"), None)
            for b in sorted(full - done):
                rest = value(done | {b})[0]
                for option in options(done, b)[0]:
                    if not allowed(option):
                        continue
                    candidate = combine(best(option), rest)
                    if candidate < result[0] - _TOLERANCE:
                        result = (candidate, (b, option))
            return result

        return value

    first = stage(lambda o: o.key[0], lambda o: True, max, float("-inf"))(frozenset())[0]
    second = stage(lambda o: o.key[1], lambda o: o.key[0] <= first + _TOLERANCE, max, float("-inf"))(
        frozenset()
    )[0]
    third = stage(
        lambda o: o.key[2],
        lambda o: o.key[0] <= first + _TOLERANCE and o.key[1] <= second + _TOLERANCE,
        lambda a, b: a + b,
        0.0,
    )
    order, chosen, done = [], {}, frozenset()
    while done != full:
        b, option = third(done)[1]
        order.append(b)
        chosen[b] = option
        done = done | {b}
    return tuple(order), chosen


def _treewidth_order(initial, eliminable) -> tuple[int, ...]:
    """An order from networkx's min-fill-in tree decomposition of the factors' primal graph.

    The decomposition is rooted at a bag holding the query; visiting bags children
    first, each bag eliminates its variables that its parent bag does not hold.
    """
    graph = nx.Graph()
    graph.add_nodes_from([0, *eliminable])
    for f in initial:
        graph.add_edges_from(itertools.combinations(f.scope, 2))
    _, decomposition = nx.algorithms.approximation.treewidth_min_fill_in(graph)
    root = next(bag for bag in decomposition if 0 in bag)
    parent = dict(nx.bfs_predecessors(decomposition, root))
    order: list[int] = []
    seen: set[int] = set()
    for bag in nx.dfs_postorder_nodes(decomposition, root):
        keep = set(parent[bag]) if bag in parent else set()
        for v in sorted(bag - keep):
            if v != 0 and v not in seen:
                order.append(v)
                seen.add(v)
    order.extend(v for v in sorted(eliminable) if v not in seen)
    return tuple(order)


def _einsum_order(initial, eliminable, is_rank) -> tuple[int, ...]:
    """An order from opt_einsum's greedy path on the factor network with concrete sizes.

    Token indices get size 2^20, rank indices 64 and the channel 65, so that the path
    prefers contracting tokens through rank variables.
    """
    letters = {v: opt_einsum.get_symbol(i) for i, v in enumerate([0, *sorted(eliminable)])}
    channel = opt_einsum.get_symbol(len(letters))
    size = {letters[v]: (64 if is_rank(v) else 2**20) for v in letters}
    size[channel] = 65
    operands = ["".join(letters[v] for v in f.scope) + (channel if f.channel else "") for f in initial]
    output = letters[0] + channel
    shapes = [tuple(size[c] for c in term) for term in operands]
    path, _ = opt_einsum.contract_path(
        ",".join(operands) + "->" + output, *shapes, shapes=True, optimize="greedy"
    )
    terms = [set(term) for term in operands]
    back = {c: v for v, c in letters.items()}
    order: list[int] = []
    for contraction in path:
        merged = set().union(*(terms[i] for i in contraction))
        terms = [t for i, t in enumerate(terms) if i not in contraction]
        gone = {c for c in merged if c not in output and not any(c in t for t in terms)}
        order.extend(sorted(back[c] for c in gone))
        terms.append(merged - gone)
    order.extend(v for v in sorted(eliminable) if v not in order)
    return tuple(order)


# ----------------------------------------------------------------- building plans


def _build(m, causal, low_rank, initial, names, ranks, order, chosen, exhaustive) -> Plan:
    widths = Widths.for_mechanism(m)

    def is_rank(v):
        return v in ranks

    current = list(initial)
    next_id = len(initial)
    steps = []
    for b in order:
        options, output = _options(tuple(current), b, widths, is_rank)
        option = chosen[b] if chosen is not None else min(options, key=lambda o: o.key)
        if chosen is not None:
            option = next(o for o in options if _same(o, option))
        output = replace(output, id=next_id)
        next_id += 1
        ids = tuple(current[i].id for i in option.inputs)
        groups = None
        if option.groups:
            groups = tuple(tuple(current[i].id for i in g) for g in option.groups)
        size = _cost.dense(output.scope, is_rank) * widths.batch * (widths.channel if output.channel else 1)
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
    price = _cost.price_normalize(current, widths)
    size = _cost.dense((0,), is_rank) * widths.batch * widths.channel
    steps.append(
        Step("normalize", None, tuple(f.id for f in current), final, (0,), price=price, size_terms=size)
    )
    rank = similarity_rank(m) if low_rank else None
    return Plan(
        m, causal, tuple(order), tuple(initial), tuple(steps), exhaustive, low_rank, names, ranks, rank
    )


def similarity_rank(m: Mechanism) -> sympy.Expr | None:
    """The rank r that the mechanism's similarity kernel fixes for its low-rank tables, or None (exp).

    Feature map: d_φ. Taylor(g): C(D + g, g) for the widest table (D its feature width).
    """
    similarity = m.similarity
    if isinstance(similarity, FeatureMap):
        return similarity.rank(_cost.d)
    if isinstance(similarity, Taylor):
        widths = Widths.for_mechanism(m)
        tables = [monos for support, monos in support_groups(m) if len(support) >= 2]
        if not tables:
            return None
        widest = max(tables, key=len)
        return similarity.rank(widths.feature_width(m, widest))
    return None


def _same(a: _Option, b: _Option) -> bool:
    return a.signature == b.signature


def _factor_key(f: Factor) -> str:
    """A factor's identity without its id (the same factor reached by two orders)."""
    return repr(replace(f, id=-1))


def _check(m) -> None:
    if not isinstance(m, Mechanism):
        raise PolyError(f"expected a polyth Mechanism, got {type(m).__name__}")


def _plan(m: Mechanism, causal: str | None, low_rank: bool) -> Plan:
    _check(m)
    initial, names, ranks = _initial(m, causal, low_rank)
    eliminable = [v for v in range(len(names)) if v != 0]
    widths = Widths.for_mechanism(m)

    def is_rank(v):
        return v in ranks

    if len(eliminable) <= EXHAUSTIVE_LIMIT:
        order, chosen = _exhaustive(initial, eliminable, widths, is_rank)
        return _build(m, causal, low_rank, initial, names, ranks, order, chosen, True)
    order = _einsum_order(initial, eliminable, is_rank) if low_rank else _treewidth_order(initial, eliminable)
    return _build(m, causal, low_rank, initial, names, ranks, order, None, False)


def exact_plan(m: Mechanism, causal: str | None = None) -> Plan:
    """The best exact plan this engine finds for ``m`` (exhaustive for t ≤ 8).

    For a feature-map similarity the exact computation *is* the low-rank plan (r = d_φ).
    """
    _check(m)
    return _plan(m, causal, low_rank=isinstance(m.similarity, FeatureMap))


def low_rank_plan(m: Mechanism, causal: str | None = None) -> Plan:
    """The plan with every table of support ≥ 2 replaced by a rank-r factor (the polynomial method)."""
    return _plan(m, causal, low_rank=True)


def plan_with_order(m: Mechanism, order, causal: str | None = None, low_rank: bool = False) -> Plan:
    """The plan that eliminates the non-query variables in ``order`` (positions), each step priced
    by its cheapest type. ``exhaustive`` is False: the order was given, not searched."""
    _check(m)
    initial, names, ranks = _initial(m, causal, low_rank)
    order = tuple(order)
    if sorted(order) != list(range(1, len(names))):
        raise PolyError(f"order must list every non-query variable position 1..{len(names) - 1} once")
    return _build(m, causal, low_rank, initial, names, ranks, order, None, False)


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
