"""The operation model: the work of one elimination step, in multiply-adds and exponentials.

The plan (:mod:`polyth.theory.plan`) prices every candidate step with these functions, and
the cost of a finished plan (:mod:`polyth.theory.cost`) is the sum of its steps' prices:
the model counts what an executor of the step really does.

Per step (``B`` problems, ``C`` channel width and ``D`` feature widths as in
:class:`polyth.theory.factors.Widths`):

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
  ``prefix_stream`` and ``stream_read`` are a prefix sum and the step that consumes
  its message, run together along the threshold's partner (:func:`price_stream`).

``memory`` counts the entries of the arrays a step allocates while it runs, its output
included, as the executors hold them (:func:`held`): a message keeps C columns per entry with
the channel (log domain: the log-normaliser and dv value ratios; linear domain: dv values and
the normaliser), one without. A flash pass (``tree_message``, a single-hyperedge
``contraction``) holds only its output; any other exact loop step materialises the joint
product of its inputs over its loop (log-table and values, plus the largest score table it
evaluates, as a temporary) and a ``prefix_sum`` then scans it into an output of the same size;
an exact ``matmul`` holds both operands and their shifted exponentials; a linear-domain step
holds the product it contracts and its output. :func:`polyth.theory.cost.peak_memory_count`
adds the messages still alive across each step.

A matrix product of an n^a × n^b by an n^b × n^c matrix is priced n^ω(a,b,c)
(:meth:`Terms.product`): n^ω when square, the symbol ω(a, b, c) otherwise, whose best known
value comes from the published rectangular bounds (:mod:`polyth.theory.rectangular`); at
ω = 3 it is the classical count n^(a+b+c) the kernels run. A product with a rank dimension is
priced classically.

Token variables have size n; a rank variable has its table's rank symbol
(``ranks``: position → symbol).

Example::

    >>> from polyth.theory.terms import rank_symbol
    >>> dense((0, 1), {}).expr(), dense((0, 2), {2: rank_symbol(1)}).expr()
    (n**2, n*r_1)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import sympy

from polyth.theory.factors import Widths
from polyth.theory.terms import OMEGA_CLASSICAL, REFERENCE_SIZES, ZERO, Terms, n


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


def tuples(
    loop: Iterable[int], thresholds: Iterable[tuple[int, int]], ranks: Mapping[int, sympy.Symbol]
) -> Terms:
    """Number of index tuples over ``loop`` (token variables of size n, rank variables of size r)
    that satisfy the thresholds ``(child, parent)``: l_child ≤ l_parent."""
    loop = sorted(set(loop))
    tokens = [v for v in loop if v not in ranks]
    position = {v: i for i, v in enumerate(tokens)}
    edges = frozenset(
        (position[c], position[p]) for c, p in thresholds if c in position and p in position and c != p
    )
    return _ordered_tuples(len(tokens), edges) * sympy.Mul(*[ranks[v] for v in loop if v in ranks])


def dense(scope: Iterable[int], ranks: Mapping[int, sympy.Symbol]) -> Terms:
    """Number of entries of a dense array over ``scope``."""
    scope = list(scope)
    tokens = [v for v in scope if v not in ranks]
    return Terms.power(len(tokens), 0, sympy.Mul(*[ranks[v] for v in scope if v in ranks]))


def matrix_product(
    batch: Terms, left: list[int], inner: int, right: list[int], ranks: Mapping[int, sympy.Symbol]
) -> Terms:
    """Multiply-adds of Σ_inner A(batch, left, inner)·B(batch, right, inner).

    Token-only products cost n^ω(a,1,c), a and c the token variables on each side; any rank
    dimension is classical.
    """
    if any(v in ranks for v in [*left, inner, *right]):
        return batch * dense([*left, inner, *right], ranks)
    return batch * Terms.product((len(left), 1, len(right)))


# ----------------------------------------------------------------- step pricing


@dataclass(frozen=True)
class StepWork:
    """The work of one step: multiply-adds, exponentials, and the entries it allocates while it runs."""

    madds: Terms
    exps: Terms
    memory: Terms

    @property
    def total(self) -> Terms:
        return self.madds + self.exps


def held(f, widths: Widths, ranks: Mapping[int, sympy.Symbol], linear: bool) -> Terms:
    """Entries of the arrays an executor keeps for the live factor ``f``.

    A message keeps C columns per entry with the channel, one without: in the log domain its
    log-normaliser and the dv value ratios, in the linear domain the dv values and the
    normaliser's column. Exact (log domain): a score table of support ≥ 2 stays lazy (its
    per-variable features, n·D each); a unary table is one log per position; a value factor
    adds a zero log-table beside the user's V. Linear domain (``linear``): a feature factor is
    dense over (token, rank); a value factor is V with its ones column. Thresholds are never
    stored.
    """
    if f.kind == "threshold":
        return ZERO
    entries = dense(f.scope, ranks) * widths.batch
    if f.kind == "scores" and len(f.scope) >= 2:  # exact only: lazy per-variable features
        return Terms.power(1) * widths.batch * f.width * len(f.scope)
    if f.kind == "value":
        return entries * widths.channel if linear else entries
    if f.kind in ("scores", "features"):
        return entries
    return entries * (widths.channel if f.channel else 1)


def _joint(loop, inputs, widths: Widths, ranks) -> Terms:
    """A materialised product over ``loop`` (C columns with the channel, one without, as a
    message), plus the largest score table evaluated into it, held while it is added (twice
    when it is masked: the mask writes a copy)."""
    entries = dense(loop, ranks) * widths.batch
    channel = any(f.channel for f in inputs)
    tables = [
        dense(f.scope, ranks) * widths.batch * (2 if f.mask else 1)
        for f in inputs
        if f.kind == "scores" and len(f.scope) >= 2
    ]
    temporary = ZERO
    for table in tables:
        temporary = larger(temporary, table) if temporary else table
    return entries * (widths.channel if channel else 1) + temporary


def _table_work(factor, entries: Terms, widths: Widths) -> Terms:
    """Computing a score table's entries (D per entry) or a low-rank factor (one per feature)."""
    if factor.kind == "scores":
        return entries * (widths.batch * factor.width)
    if factor.kind == "features":
        return entries * widths.batch
    return ZERO


def _combine_unary(unary: list, keep_log: bool, widths: Widths) -> tuple[Terms, Terms, int, int]:
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
    inputs: list,
    eliminated: int,
    loop: Iterable[int],
    thresholds,
    output,
    widths,
    ranks,
    materialise: bool = True,
    linear: bool = False,
) -> StepWork:
    """A loop step: visit every allowed tuple of ``loop``, multiply the inputs and accumulate.

    Inputs on ``eliminated`` alone are combined per key first; tables whose scope is the
    whole loop are evaluated on the fly over the allowed tuples, smaller ones are
    materialised densely. Per tuple: the log additions, one exp, the products with the
    linear and channel parts, and the accumulation (C columns, or 1 without channel).
    Memory: the output, and the joint product over the loop when the executor materialises
    it (``materialise``; a flash pass does not); a prefix scan's output is as large again.
    """
    loop = sorted(set(loop))
    unary = [f for f in inputs if tuple(f.scope) == (eliminated,)]
    others = [f for f in inputs if tuple(f.scope) != (eliminated,)]
    keep_log = any(f.log for f in others)
    madds, exps, bias, weight = _combine_unary(unary, keep_log, widths)
    count = tuples(loop, thresholds, ranks) * widths.batch
    memory = held(output, widths, ranks, linear)
    if materialise:
        memory = memory + _joint(loop, inputs, widths, ranks)
    for f in others:
        if f.kind in ("scores", "features"):
            if sorted(f.scope) == loop:
                madds = madds + _table_work(f, tuples(loop, thresholds, ranks), widths)
            else:
                entries = dense(f.scope, ranks)
                madds = madds + _table_work(f, entries, widths)
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
    return StepWork(madds, exps, memory)


def _unary_channel(unary: list) -> bool:
    return any(f.channel for f in unary)


def price_matmul(
    group1: list,
    group2: list,
    unary: list,
    eliminated: int,
    batch_vars,
    output,
    widths,
    ranks,
    linear: bool = False,
):
    """A matrix product: materialise each group's product densely, then one (batched) GEMM.

    The combined unary factors are folded into the group with the smaller scope (ties: the
    lexicographically smaller scope). Memory: the output and both operands. Linear domain: each
    side's product (C columns where it carries the channel; the factors on b join the first
    side). Log domain: each side's log-table and its shifted exponential, dv = C − 1 value
    columns where a message on that side carries them (values on b stay a vector over b), and
    the larger side once more, the difference L − max taken before its exponential.
    """
    scope1 = sorted({v for f in group1 for v in f.scope})
    scope2 = sorted({v for f in group2 for v in f.scope})
    into_first = (len(scope1), scope1) <= (len(scope2), scope2)  # independent of the groups' order
    keep_log = any(f.log for f in (group1 if into_first else group2))
    madds, exps, bias, weight = _combine_unary(unary, keep_log, widths)
    memory = held(output, widths, ranks, linear)
    carries_channel = False
    transient = ZERO
    sides = ((group1, scope1, into_first), (group2, scope2, not into_first))
    for k, (group, scope, folded) in enumerate(sides):
        entries = dense(scope, ranks)
        for f in group:
            madds = madds + _table_work(f, dense(f.scope, ranks), widths)
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
        if linear:
            side_channel = any(f.channel for f in group) or (k == 0 and _unary_channel(unary))
            copies = widths.channel if side_channel else 1
        else:
            copies = 2 + (widths.channel - 1 if any(f.channel for f in group) else 0)
            side = entries * widths.batch
            transient = larger(transient, side) if transient else side
        memory = memory + entries * widths.batch * copies
    memory = memory + transient
    batch_terms = dense(batch_vars, ranks) * widths.batch * (widths.channel if carries_channel else 1)
    left = [v for v in scope1 if v != eliminated and v not in batch_vars]
    right = [v for v in scope2 if v != eliminated and v not in batch_vars]
    madds = madds + matrix_product(batch_terms, left, eliminated, right, ranks)
    return StepWork(madds, exps, memory)


def price_stream(scan: StepWork, read: StepWork, state: Terms) -> tuple[StepWork, StepWork]:
    """A ``prefix_sum`` whose message is read by the next step in the partner's order, streamed.

    The scan eliminates b under [l_b ≤ l_p]: visiting the positions l_p in increasing order,
    it adds the key l_b = l_p to a running log-sum-exp per remaining index u, so the message
    M(l_p, u) exists one l_p at a time, and the read step consumes that row at once. The work
    of both steps is unchanged (every (u, l_b) pair is added once, every allowed (l_p, u) pair
    read once); the memory is the running ``state`` (over u, with its channel) and the output,
    never the dense message over (p, u).
    """
    return StepWork(scan.madds, scan.exps, state), StepWork(read.madds, read.exps, read.memory)


def price_normalize(remaining: list, widths: Widths) -> StepWork:
    """The output: multiply the channel factors left on the query, divide by the ones column."""
    channels = sum(1 for f in remaining if f.channel)
    per_query = widths.channel * max(channels - 1, 0) + (widths.channel - 1)
    keys = Terms.power(1) * widths.batch
    return StepWork(keys * per_query, ZERO, keys * widths.channel)


def larger(a: Terms, b: Terms) -> Terms:
    """The larger of two sizes: by the power of n, then at the reference sizes."""
    ka = (a.exponent_at(OMEGA_CLASSICAL), a.evaluate(REFERENCE_SIZES))
    kb = (b.exponent_at(OMEGA_CLASSICAL), b.evaluate(REFERENCE_SIZES))
    return a if ka >= kb else b
