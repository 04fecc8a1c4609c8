"""The cost of a plan: symbolic in n, d, dv, ω (and r), and exact counts for concrete sizes.

The plan (:mod:`polyth.plan`) is the single source of truth: every figure here is
a sum over the plan's steps, priced by the operation model below, which counts
what an executor of the step really does.

Operation model (per step; ``B`` = independent problems: 1, or d in per-channel
mode; ``C`` = channel width: dv + 1 value columns with the denominator's ones
column, or 2 per channel in per-channel mode; ``D`` = a score table's feature
width: d per merged monomial, 1 per channel in per-channel mode):

* ``madds`` counts multiply-adds: one per score feature per table entry (an
  order-k inner product Σ_c Π_a Q(a)[l_a, c] counts D per entry: its partial
  products are hoisted out of the innermost loop), one per log-domain addition of
  two factors, one per product of two factors' entries (times C when the product
  carries the channel), one per accumulation into an output entry (times C), one
  per feature of a low-rank factor per token, one per normalising division.
* ``exps`` counts exponentials of score entries.
* Not counted: the log-sum-exp bookkeeping (running maxima, rescaling, logs of
  normalisers) and the O(n·d) preparation of the inputs (coefficient·scale,
  powers). Unary factors on the query cancel in the normalisation and are never
  computed.
* Loop steps (``tree_message``, ``prefix_sum``, ``contraction``) visit only the
  tuples that the step's causal thresholds allow. Factors on the eliminated
  variable alone are first combined per key (a bias and a weight). A ``matmul``
  materialises both operands densely (masks become zeros) and runs one GEMM.

Matrix products use ω symbolically through the square-block bound
``MM(n^a, n^b, n^c) ≤ n^(a+b+c−3m) · n^(ω·m)`` with ``m = min(a, b, c)`` (split
into n^m × n^m blocks); at ω = 3 it is the classical count the kernels run, so
``cost(plan)`` at ω = 3 equals ``operation_count(plan, …).total`` exactly. A
product with a rank dimension r is priced classically.

ω = 2.371339: Alman, Duan, Vassilevska Williams, Xu, Xu, Zhou 2024 (arXiv:2404.16349).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import sympy

from polyth.errors import InputError

if TYPE_CHECKING:
    from polyth.mechanism import Mechanism
    from polyth.theory.plan import Plan

n, d, dv, omega, r = sympy.symbols("n d dv omega r", positive=True)

OMEGA_BEST = 2.371339
OMEGA_BEST_SOURCE = "Alman, Duan, Vassilevska Williams, Xu, Xu, Zhou 2024 (arXiv:2404.16349)"
OMEGA_CLASSICAL = 3
REFERENCE_SIZES = {"n": 1024, "d": 64, "dv": 64, "r": 64}
_TOLERANCE = 1e-9


class Terms:
    """A cost ``Σ coef · n^(α + β·ω)`` with integer α, β and coefficients in d, dv, r.

    Keeping the power of n apart from the coefficient makes the leading exponent and
    the comparison of plans exact and cheap; :meth:`expr` gives the sympy expression.
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
        """The cost as a sympy expression in n, d, dv, omega, r."""
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

    def evaluate(self, sizes: Mapping[str, int], omega_value: float = OMEGA_CLASSICAL):
        """The value for concrete sizes (``n``, ``d``, ``dv``, ``r``): exact when ω = 3."""
        key = (tuple(sorted(sizes.items())), omega_value)
        if key not in self._cache:
            total = 0
            for (alpha, beta), coef in self._items.items():
                c = _coefficient_value(coef, sizes.get("d"), sizes.get("dv"), sizes.get("r"))
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
def _coefficient_value(coef: sympy.Expr, d_value, dv_value, r_value):
    replacements = {}
    for symbol, value in ((d, d_value), (dv, dv_value), (r, r_value)):
        if symbol in coef.free_symbols:
            if value is None:
                raise InputError(f"a concrete value for {symbol} is needed to count this plan's operations")
            replacements[symbol] = sympy.Integer(value)
    value = coef.xreplace(replacements)
    if value.is_Integer:
        return int(value)
    if value.is_Rational:
        return value
    return float(value)


# ----------------------------------------------------------------- sizes of loops


@lru_cache(maxsize=1024)
def _ordered_tuples(count: int, edges: frozenset[tuple[int, int]]) -> Terms:
    """Number of tuples in [n]^count with ``l_child ≤ l_parent`` for each edge (a forest)."""
    x = sympy.Symbol("x", integer=True, positive=True)
    y = sympy.Symbol("y", integer=True, positive=True)
    children: dict[int, list[int]] = {v: [] for v in range(count)}
    has_parent = set()
    for child, parent in edges:
        children[parent].append(child)
        has_parent.add(child)

    def below(v: int) -> sympy.Expr:
        """Number of assignments of v's subtree with l_v = x."""
        total = sympy.Integer(1)
        for c in children[v]:
            total *= sympy.summation(below(c).subs(x, y), (y, 1, x))
        return sympy.expand(total)

    total = sympy.Integer(1)
    for v in range(count):
        if v not in has_parent:
            total *= sympy.summation(below(v), (x, 1, n))
    poly = sympy.Poly(sympy.expand(total), n)
    return Terms({(int(monom[0]), 0): coef for monom, coef in poly.terms()})


def tuples(loop: Iterable[int], thresholds: Iterable[tuple[int, int]], is_rank) -> Terms:
    """Number of index tuples over ``loop`` (token variables of size n, rank variables of size r)
    that satisfy the thresholds ``(child, parent)``: l_child ≤ l_parent."""
    loop = sorted(set(loop))
    tokens = [v for v in loop if not is_rank(v)]
    ranks = len(loop) - len(tokens)
    position = {v: i for i, v in enumerate(tokens)}
    edges = frozenset(
        (position[c], position[p]) for c, p in thresholds if c in position and p in position and c != p
    )
    return _ordered_tuples(len(tokens), edges) * (r**ranks)


def dense(scope: Iterable[int], is_rank) -> Terms:
    """Number of entries of a dense array over ``scope``."""
    scope = list(scope)
    ranks = sum(1 for v in scope if is_rank(v))
    return Terms.power(len(scope) - ranks, 0, r**ranks)


def matrix_product(batch: Terms, left: list[int], inner: int, right: list[int], is_rank) -> Terms:
    """Multiply-adds of Σ_inner A(batch, left, inner)·B(batch, right, inner).

    Token-only products use the square-block bound with ω; any rank dimension is classical.
    """
    if any(is_rank(v) for v in [*left, inner, *right]):
        return batch * dense([*left, inner, *right], is_rank)
    a, c = len(left), len(right)
    m = min(a, 1, c)
    return batch * Terms.power(a + 1 + c - 3 * m, m)


# ----------------------------------------------------------------- step pricing


@dataclass(frozen=True)
class Widths:
    """The widths that multiply a step's work: problems B, channel C, feature widths per table."""

    batch: sympy.Expr
    channel: sympy.Expr

    @classmethod
    def for_mechanism(cls, m: Mechanism) -> Widths:
        if m.per_channel:
            return cls(batch=d, channel=sympy.Integer(2))
        return cls(batch=sympy.Integer(1), channel=dv + 1)

    def feature_width(self, m: Mechanism, monomials: Iterable[int]) -> sympy.Expr:
        """D of a score table merging ``monomials``: d per monomial (1 per channel per monomial)."""
        count = len(tuple(monomials))
        return sympy.Integer(count) if m.per_channel else d * count


@dataclass(frozen=True)
class Price:
    """The work of one step: multiply-adds, exponentials, and the largest array it holds."""

    madds: Terms
    exps: Terms
    memory: Terms

    @property
    def total(self) -> Terms:
        return self.madds + self.exps


def _table_work(factor, entries: Terms, widths: Widths) -> Terms:
    """Computing a score table's entries (D per entry) or a low-rank factor (one per feature)."""
    if factor.kind == "scores":
        return entries * (widths.batch * factor.width)
    if factor.kind == "features":
        return entries * widths.batch
    return ZERO


def _combine_unary(unary: list, keep_log: bool, widths: Widths, is_rank) -> tuple[Terms, Terms, int, int]:
    """Combine the factors on the eliminated variable alone into one bias and one weight.

    Returns (madds, exps, number of log items left, number of channel/linear items left).
    A bias is kept in the log domain when the loop has other log items, else it is
    exponentiated once per key and folded into the weight.
    """
    keys = Terms.power(1) * widths.batch
    madds = ZERO
    exps = ZERO
    for f in unary:
        if f.kind == "scores":
            madds = madds + _table_work(f, Terms.power(1), widths)
    logs = sum(1 for f in unary if f.log)
    scalars = sum(1 for f in unary if f.linear and not f.channel)
    channels = sum(1 for f in unary if f.channel)
    if logs >= 2:
        madds = madds + keys * (logs - 1)
    # scalars are multiplied together first, then into the channel vectors
    if scalars >= 2:
        madds = madds + keys * (scalars - 1)
    if channels:
        madds = madds + keys * widths.channel * (channels if scalars else channels - 1)
    parts = scalars + channels
    if logs and not keep_log:
        exps = exps + keys
        if parts:
            madds = madds + keys * (widths.channel if channels else 1)
        parts_left = 1
        logs_left = 0
    else:
        parts_left = 1 if parts else 0
        logs_left = 1 if logs else 0
    return madds, exps, logs_left, parts_left


def _entry_work(logs: int, scalars: int, channels: int, widths: Widths) -> tuple[sympy.Expr, int]:
    """Per-entry multiply-adds and exps of forming exp(Σ logs) · Π scalars · Π channel vectors."""
    madds = sympy.Integer(max(logs - 1, 0))
    weight = (1 if logs else 0) + scalars
    madds += max(weight - 1, 0)
    if channels:
        madds += widths.channel * (channels if weight else channels - 1)
    return madds, (1 if logs else 0)


def price_loop(
    inputs: list, eliminated: int, loop: Iterable[int], thresholds, output, widths, is_rank
) -> Price:
    """A loop step: visit every allowed tuple of ``loop``, multiply the inputs and accumulate.

    Inputs on ``eliminated`` alone are combined per key first; tables whose scope is the
    whole loop are evaluated on the fly over the allowed tuples, smaller ones are
    materialised densely. Per tuple: the log additions, one exp, the products with the
    linear and channel parts, and the accumulation (C columns, or 1 without channel).
    """
    loop = sorted(set(loop))
    unary = [f for f in inputs if tuple(f.scope) == (eliminated,)]
    others = [f for f in inputs if tuple(f.scope) != (eliminated,)]
    keep_log = any(f.log for f in others)
    madds, exps, bias, weight = _combine_unary(unary, keep_log, widths, is_rank)
    count = tuples(loop, thresholds, is_rank) * widths.batch
    memory = dense(output.scope, is_rank) * widths.batch * (widths.channel if output.channel else 1)
    for f in others:
        if f.kind in ("scores", "features"):
            if sorted(f.scope) == loop:
                madds = madds + _table_work(f, tuples(loop, thresholds, is_rank), widths)
            else:
                entries = dense(f.scope, is_rank)
                madds = madds + _table_work(f, entries, widths)
                memory = _larger(memory, entries * widths.batch)
    logs = sum(1 for f in others if f.log) + bias
    channels = sum(1 for f in others if f.channel) + (1 if weight and _unary_channel(unary) else 0)
    scalars = sum(1 for f in others if f.linear and not f.channel) + (
        1 if weight and not _unary_channel(unary) else 0
    )
    # per tuple: the log additions, one exp, the scalar products, the channel vectors'
    # products, then acc += s · w (C fused multiply-adds), or acc += s without channel
    weight_items = (1 if logs else 0) + scalars
    per_entry = max(logs - 1, 0) + max(weight_items - 1, 0)
    per_entry += widths.channel * channels if channels else 1
    madds = madds + count * per_entry
    exps = exps + count * (1 if logs else 0)
    return Price(madds, exps, memory)


def _unary_channel(unary: list) -> bool:
    return any(f.channel for f in unary)


def price_matmul(
    group1: list, group2: list, unary: list, eliminated: int, batch_vars, output, widths, is_rank
):
    """A matrix product: materialise each group's product densely, then one (batched) GEMM.

    The combined unary factors are folded into the group with the smaller scope (ties: the
    lexicographically smaller scope).
    """
    scope1 = sorted({v for f in group1 for v in f.scope})
    scope2 = sorted({v for f in group2 for v in f.scope})
    into_first = (len(scope1), scope1) <= (len(scope2), scope2)  # independent of the groups' order
    keep_log = any(f.log for f in (group1 if into_first else group2))
    madds, exps, bias, weight = _combine_unary(unary, keep_log, widths, is_rank)
    memory = dense(output.scope, is_rank) * widths.batch * (widths.channel if output.channel else 1)
    carries_channel = False
    for group, scope, folded in ((group1, scope1, into_first), (group2, scope2, not into_first)):
        entries = dense(scope, is_rank)
        for f in group:
            madds = madds + _table_work(f, dense(f.scope, is_rank), widths)
        logs = sum(1 for f in group if f.log) + (bias if folded else 0)
        channels = sum(1 for f in group if f.channel) + (
            1 if folded and weight and _unary_channel(unary) else 0
        )
        scalars = sum(1 for f in group if f.linear and not f.channel) + (
            1 if folded and weight and not _unary_channel(unary) else 0
        )
        carries_channel = carries_channel or channels > 0
        per_entry, per_exp = _entry_work(logs, scalars, channels, widths)
        madds = madds + entries * widths.batch * per_entry
        exps = exps + entries * widths.batch * per_exp
        memory = _larger(memory, entries * widths.batch * (widths.channel if channels else 1))
    batch_terms = dense(batch_vars, is_rank) * widths.batch * (widths.channel if carries_channel else 1)
    left = [v for v in scope1 if v != eliminated and v not in batch_vars]
    right = [v for v in scope2 if v != eliminated and v not in batch_vars]
    madds = madds + matrix_product(batch_terms, left, eliminated, right, is_rank)
    return Price(madds, exps, memory)


def price_normalize(remaining: list, widths: Widths) -> Price:
    """The output: multiply the channel factors left on the query, divide by the ones column."""
    channels = sum(1 for f in remaining if f.channel)
    per_query = widths.channel * max(channels - 1, 0) + (widths.channel - 1)
    keys = Terms.power(1) * widths.batch
    return Price(keys * per_query, ZERO, keys * widths.channel)


def _larger(a: Terms, b: Terms) -> Terms:
    """The larger of two sizes: by the power of n, then at the reference sizes."""
    ka = (a.exponent_at(OMEGA_CLASSICAL), a.evaluate(REFERENCE_SIZES))
    kb = (b.exponent_at(OMEGA_CLASSICAL), b.evaluate(REFERENCE_SIZES))
    return a if ka >= kb else b


# ----------------------------------------------------------------- public API


def _total(plan: Plan) -> Terms:
    total = ZERO
    for step in plan.steps:
        total = total + step.price.total
    return total


def with_rank(plan: Plan, expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with r replaced by the rank the plan's similarity kernel fixes (if it fixes one)."""
    rank = getattr(plan, "rank", None)
    return expr if rank is None else sympy.expand(expr.xreplace({r: rank}))


def cost(plan: Plan) -> sympy.Expr:
    """The plan's work (multiply-adds + exps) as a sympy expression in n, d, dv, omega (and r, unless
    the similarity kernel fixes it: :attr:`Plan.rank`)."""
    return with_rank(plan, _total(plan).expr())


def exponent(plan: Plan) -> sympy.Expr:
    """The leading exponent of n in the plan's cost, as a sympy expression in omega.

    d, dv and r are treated as constants (poly-logarithmic in n in the papers' regime).
    """
    return _total(plan).leading_exponent()


def exponent_value(plan: Plan, omega_value: float = OMEGA_BEST) -> float:
    """The leading exponent of n with ω = ``omega_value`` (default 2.371339; 3 is what kernels run)."""
    return _total(plan).exponent_at(omega_value)


def peak_memory(plan: Plan) -> sympy.Expr:
    """The largest array any step holds (entries), as a sympy expression."""
    largest = ZERO
    for step in plan.steps:
        largest = _larger(largest, step.price.memory) if largest else step.price.memory
    return with_rank(plan, largest.expr())


def peak_memory_count(plan: Plan, n: int, d: int, dv: int, r: int | None = None) -> int:
    """The largest array any step holds, in entries, for concrete sizes."""
    sizes = _sizes(n, d, dv, _fixed_rank(plan, d, r))
    return max(int(step.price.memory.evaluate(sizes)) for step in plan.steps)


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


def operation_count(plan: Plan, n: int, d: int, dv: int, r: int | None = None) -> OperationCount:
    """The exact operation counts of the plan's steps for concrete sizes (ω = 3, what runs).

    ``r`` defaults to the rank the plan's similarity kernel fixes (:attr:`Plan.rank`) at this d.
    """
    sizes = _sizes(n, d, dv, _fixed_rank(plan, d, r))
    rows = []
    for step in plan.steps:
        madds = step.price.madds.evaluate(sizes)
        exps = step.price.exps.evaluate(sizes)
        rows.append(
            {"kind": step.kind, "eliminated": step.eliminated, "madds": int(madds), "exps": int(exps)}
        )
    return OperationCount(sizes, tuple(rows))


def _fixed_rank(plan: Plan, d_value, r_value):
    rank = getattr(plan, "rank", None)
    if r_value is not None or rank is None or isinstance(d_value, bool) or not isinstance(d_value, int):
        return r_value
    return int(rank.xreplace({d: d_value}))


def _sizes(n_value, d_value, dv_value, r_value) -> dict:
    for name, value in (("n", n_value), ("d", d_value), ("dv", dv_value)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if r_value is not None and (isinstance(r_value, bool) or not isinstance(r_value, int) or r_value < 1):
        raise InputError(f"r must be a positive integer, got {r_value!r}")
    return {"n": n_value, "d": d_value, "dv": dv_value, "r": r_value}


def naive_terms(m: Mechanism, causal: str | None = None) -> Terms:
    """Brute force over every allowed tuple, in the same operation model.

    Per tuple: D per score table, the log additions, one exp, and the product of the
    value vectors accumulated (C per value variable); then the normalisation.
    """
    from polyth.theory.plan import exact_plan_factors  # the factor list the plan starts from

    widths = Widths.for_mechanism(m)
    factors = exact_plan_factors(m, causal)
    thresholds = [pair for f in factors for pair in (*f.mask, *([f.threshold] if f.threshold else []))]
    count = tuples(range(m.t), thresholds, lambda v: False) * widths.batch
    tables = [f for f in factors if f.kind == "scores"]
    width = sum((f.width for f in tables), sympy.Integer(0))
    per_tuple = width + max(len(tables) - 1, 0) + widths.channel * len(m.values)
    normalise = Terms.power(1) * widths.batch * (widths.channel - 1)
    return count * per_tuple + count + normalise


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
            state = state + step.price.memory * Terms.power(-1)
    if not state:
        return None
    per_token = _total(plan) * Terms.power(-1)
    return RecurrentForm(with_rank(plan, state.expr()), with_rank(plan, per_token.expr()))


def amortised_per_token(plan: Plan) -> sympy.Expr:
    """The plan's cost divided by n: the amortised work per query position (decoding with a cache)."""
    return with_rank(plan, sympy.expand((_total(plan) * Terms.power(-1)).expr()))


def last_token_cost(plan: Plan) -> sympy.Expr:
    """Work of the n-th query position of a causal plan: cost(n) − cost(n − 1).

    For softmax with a KV cache this is the decoding cost of one new token (the last row of
    the causal plan: n keys read), O(n·d); for a recurrent (low-rank) plan it is constant.
    """
    total = with_rank(plan, _total(plan).expr())
    return sympy.expand(total - total.subs(n, n - 1))


def numeric(value: sympy.Expr, omega_value: float) -> float:
    """A numeric exponent from a sympy expression in omega."""
    result = float(sympy.sympify(value).subs(omega, omega_value))
    if math.isnan(result):
        raise InputError(f"exponent {value} has no numeric value")
    return result
