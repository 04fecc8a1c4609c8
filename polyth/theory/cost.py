"""What a finished plan costs: symbolic in n, d, dv, ω (and the ranks), and exact counts.

The plan (:mod:`polyth.theory.plan`) is the single source of truth: every figure here is a
sum over the plan's steps of the prices the operation model gave them
(:mod:`polyth.theory.pricing`). At ω = 3, :func:`cost` equals
``operation_count(plan, …).total`` exactly: that is the count of what the kernels run.

Ranks: a plan's low-rank tables each have a rank symbol; :func:`cost` shows the ranks the
similarity fixes, or the common symbol r; :func:`operation_count` takes one concrete rank
for every table or a rank per table (``{rank symbol: value}``), as the approximate algorithm
chooses them (:mod:`polyth.theory.approximation`).

Example::

    >>> from polyth.mechanism import zoo
    >>> from polyth.theory.plan import exact_plan
    >>> exponent(exact_plan(zoo.strassen()))
    omega
    >>> operation_count(exact_plan(zoo.self_attention()), 4, 2, 2).total
    104
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy

from polyth.errors import InputError
from polyth.mechanism import Mechanism
from polyth.theory.factors import Widths, initial_factors, thresholds_of
from polyth.theory.plan import Plan
from polyth.theory.pricing import held, larger, tuples
from polyth.theory.rectangular import OMEGA_BEST, OMEGA_BEST_SOURCE, best_known
from polyth.theory.terms import (
    OMEGA_CLASSICAL,
    REFERENCE_SIZES,
    ZERO,
    Terms,
    d,
    dv,
    n,
    omega,
    r,
)


def _total(plan: Plan) -> Terms:
    total = ZERO
    for step in plan.steps:
        total = total + step.price.total
    return total


def cost(plan: Plan, ranks: Mapping[str, int] | None = None) -> sympy.Expr:
    """The plan's work (multiply-adds + exps) as a sympy expression in n, d, dv, omega.

    Low-rank tables take the rank in ``ranks`` (rank symbol name → int, as an approximation
    chooses them), else the rank the similarity kernel fixes (:attr:`Plan.fixed_ranks`), else
    the common symbol r.
    """
    expr = _total(plan).expr()
    if ranks:
        expr = expr.xreplace({symbol: ranks[symbol.name] for symbol in plan.tables if symbol.name in ranks})
    return plan.with_ranks(expr)


def exponent(plan: Plan) -> sympy.Expr:
    """The leading exponent of n in the plan's cost, as a sympy expression in omega and the
    rectangular exponents ω(a, b, c) of its unbalanced products.

    d, dv and r are treated as constants (poly-logarithmic in n in the papers' regime).
    """
    return _total(plan).leading_exponent()


def exponent_value(plan: Plan, omega_value: float | None = None) -> float:
    """The leading exponent of n as a number.

    ``None`` (default): the best known value, ω = 2.371339 and each ω(a, b, c) from the
    published rectangular bounds. A number: ω = ``omega_value`` with every product split into
    square blocks; 3 is what the kernels run.
    """
    total = _total(plan)
    return total.exponent_best() if omega_value is None else total.exponent_at(omega_value)


def rectangular_products(plan: Plan) -> list[dict]:
    """The unbalanced products ω(a, b, c) in the plan's cost, with their best known bounds."""
    out = []
    for shape in sorted(_total(plan).shapes):
        best = best_known(shape)
        out.append(
            {
                "shape": list(shape),
                "best_known": best.value,
                "derivation": best.derivation,
                "sources": list(best.sources),
            }
        )
    return out


_MEMORY: dict[int, tuple[Plan, list[Terms]]] = {}  # id(plan) → (the plan, kept alive; its memory)


def memory_per_step(plan: Plan) -> list[Terms]:
    """The entries held while each step runs: what the step allocates (its price's memory, its
    output included) plus every factor still alive from before it (the initial factors'
    arrays, :func:`polyth.theory.pricing.held`, and earlier messages not yet consumed).
    Computed once per plan (every priced call asks).

    A ``prefix_stream`` message is never stored: its ``stream_read`` consumes it row by row.
    """
    if id(plan) not in _MEMORY:
        if len(_MEMORY) > 256:
            _MEMORY.clear()
        _MEMORY[id(plan)] = (plan, _memory_per_step(plan))
    return _MEMORY[id(plan)][1]


def _memory_per_step(plan: Plan) -> list[Terms]:
    widths = Widths.for_mechanism(plan.mechanism)
    ranks = plan.rank_symbols
    live = {f.id: held(f, widths, ranks, plan.low_rank) for f in plan.factors}
    during = []
    for step in plan.steps:
        total = step.price.memory
        for entries in live.values():
            total = total + entries
        during.append(total)
        for i in step.inputs:
            live.pop(i, None)
        live[step.output.id] = (
            ZERO if step.kind == "prefix_stream" else held(step.output, widths, ranks, plan.low_rank)
        )
    return during


def peak_memory(plan: Plan) -> sympy.Expr:
    """The entries held at the plan's peak (:func:`memory_per_step`), as a sympy expression: per
    problem, so times the batch b and the bytes per entry for bytes."""
    largest = ZERO
    for entries in memory_per_step(plan):
        largest = larger(largest, entries) if largest else entries
    return plan.with_ranks(largest.expr())


def peak_memory_count(plan: Plan, n: int, d: int, dv: int, r=None) -> int:
    """The entries held at the plan's peak for concrete sizes (``r`` as in :func:`operation_count`):
    per problem, so the bytes are this times the batch b and the dtype's size."""
    sizes = _sizes(plan, n, d, dv, r)
    return max(int(entries.evaluate(sizes)) for entries in memory_per_step(plan))


@dataclass(frozen=True)
class OperationCount:
    """Exact multiply-adds and exps per step (classical matrix products) for concrete sizes."""

    sizes: dict
    steps: tuple[dict, ...]

    @property
    def madds(self) -> int:
        return sum(s["madds"] for s in self.steps)

    @property
    def exps(self) -> int:
        return sum(s["exps"] for s in self.steps)

    @property
    def total(self) -> int:
        return self.madds + self.exps


def operation_count(plan: Plan, n: int, d: int, dv: int, r=None) -> OperationCount:
    """The exact operation counts of the plan's steps for concrete sizes (ω = 3, what runs).

    ``r``: one rank for every low-rank table (an int), or a rank per table (a mapping from the
    rank symbol, or its name, to an int); tables it leaves out take the rank the plan's
    similarity kernel fixes (:attr:`Plan.fixed_ranks`) at this d.
    """
    sizes = _sizes(plan, n, d, dv, r)
    rows = []
    for step in plan.steps:
        madds = step.price.madds.evaluate(sizes)
        exps = step.price.exps.evaluate(sizes)
        rows.append(
            {"kind": step.kind, "eliminated": step.eliminated, "madds": int(madds), "exps": int(exps)}
        )
    return OperationCount(sizes, tuple(rows))


def _sizes(plan: Plan, n_value, d_value, dv_value, r_value) -> dict:
    for name, value in (("n", n_value), ("d", d_value), ("dv", dv_value)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    per_table: dict[str, int] = {}
    for symbol, _ in plan.ranks.values():
        if isinstance(r_value, Mapping):
            value = r_value.get(symbol, r_value.get(symbol.name))
        else:
            value = r_value
        if value is None and symbol in plan.fixed_ranks:
            value = int(plan.fixed_ranks[symbol].xreplace({d: d_value}))
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"the rank {symbol} must be a positive integer, got {value!r}")
        per_table[symbol.name] = value
    return {"n": n_value, "d": d_value, "dv": dv_value, "ranks": per_table}


def naive_terms(m: Mechanism, causal: str | None = None) -> Terms:
    """Brute force over every allowed tuple, in the same operation model.

    Per tuple: D per score table, the log additions, one exp, and the product of the
    value vectors accumulated (C per value variable); then the normalisation.
    """
    widths = Widths.for_mechanism(m)
    factors = initial_factors(m, causal, low_rank=False).factors
    count = tuples(range(m.t), thresholds_of(factors), {}) * widths.batch
    tables = [f for f in factors if f.kind == "scores"]
    width = sum((f.width for f in tables), sympy.Integer(0))
    per_tuple = width + max(len(tables) - 1, 0) + widths.channel * len(m.values)
    normalise = Terms.power(1) * widths.batch * (widths.channel - 1)
    return count * per_tuple + count + normalise


def naive_operation_count(m: Mechanism, n: int, d: int, dv: int, causal: str | None = None) -> OperationCount:
    """:func:`naive_terms` for concrete sizes, split into multiply-adds and exps (one per tuple)."""
    sizes = {"n": n, "d": d, "dv": dv, "ranks": {}}
    widths = Widths.for_mechanism(m)
    factors = initial_factors(m, causal, low_rank=False).factors
    exps = int((tuples(range(m.t), thresholds_of(factors), {}) * widths.batch).evaluate(sizes))
    total = int(naive_terms(m, causal).evaluate(sizes))
    return OperationCount(
        sizes, ({"kind": "naive", "eliminated": None, "madds": total - exps, "exps": exps},)
    )


def naive_cost(m: Mechanism, causal: str | None = None) -> sympy.Expr:
    """The brute-force cost (all n^t tuples) as a sympy expression, for comparison."""
    return naive_terms(m, causal).expr()


@dataclass(frozen=True)
class RecurrentForm:
    """A causal plan whose every step loops over one token: a constant-size state per token."""

    state_size: sympy.Expr
    per_token: sympy.Expr


def recurrent_form(plan: Plan) -> RecurrentForm | None:
    """The decoding form of a prefix-causal plan, when one exists.

    It exists when every step loops over exactly one token variable (the eliminated
    token itself for a ``prefix_sum`` into the query, the query for the read-outs of
    rank variables): the prefix sums are then running states updated once per token.
    State size: the prefix sums' outputs per query position; per-token cost: the
    plan's cost divided by n.
    """
    if plan.causal != "prefix":
        return None
    state = ZERO
    for step in plan.steps:
        tokens = [v for v in step.loop if not plan.is_rank(v)]
        if len(tokens) != 1:
            return None
        if step.kind == "prefix_sum":
            if step.partner != 0:
                return None
            state = state + step.size_terms * Terms.power(-1)
    if not state:
        return None
    per_token = _total(plan) * Terms.power(-1)
    return RecurrentForm(plan.with_ranks(state.expr()), plan.with_ranks(per_token.expr()))


def amortised_per_token(plan: Plan) -> sympy.Expr:
    """The plan's cost divided by n: the amortised work per query position (decoding with a cache)."""
    return plan.with_ranks(sympy.expand((_total(plan) * Terms.power(-1)).expr()))


def last_token_cost(plan: Plan) -> sympy.Expr:
    """Work of the n-th query position of a causal plan: cost(n) − cost(n − 1).

    For softmax with a KV cache this is the decoding cost of one new token (the last row of
    the causal plan: n keys read), O(n·d); for a recurrent (low-rank) plan it is constant.
    """
    total = plan.with_ranks(_total(plan).expr())
    return sympy.expand(total - total.subs(n, n - 1))


__all__ = [  # with the symbols and constants the costs are written in
    "OMEGA_BEST",
    "OMEGA_BEST_SOURCE",
    "OMEGA_CLASSICAL",
    "REFERENCE_SIZES",
    "OperationCount",
    "RecurrentForm",
    "Terms",
    "amortised_per_token",
    "cost",
    "d",
    "dv",
    "exponent",
    "exponent_value",
    "last_token_cost",
    "n",
    "naive_cost",
    "naive_operation_count",
    "naive_terms",
    "omega",
    "operation_count",
    "memory_per_step",
    "peak_memory",
    "peak_memory_count",
    "r",
    "rectangular_products",
    "recurrent_form",
]
