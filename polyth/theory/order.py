"""Ways to eliminate one variable, and the search for the best elimination order.

Each step eliminates one non-query variable b: it multiplies the factors whose scope
contains b and sums l_b out, leaving a message on the union of their scopes minus b
(docs/design.md §3). :func:`step_options` lists every typed way this engine can do it,
priced by :mod:`polyth.theory.pricing`:

* ``tree_message``: one pairwise table on {a, b} (maybe masked) plus factors on {b}
  alone: a flash-attention pass with a per-key bias and per-key values; O(n·C) memory.
* ``matmul``: the inputs split into two groups sharing only b and batch variables:
  a (batched, rectangular) matrix product.
* ``prefix_sum``: a threshold [l_b ≤ l_p] (or ≥) whose partner p appears in no other
  input: a cumulative scan along b.
* ``contraction``: anything else: loop over the allowed tuples of the union scope.

:func:`stream_options` adds, for the exact (log-domain) engine, a pair of steps that
eliminates two variables at once: ``prefix_stream`` (a prefix sum of b under [l_b ≤ l_p]
with one pairwise table {u, b}) whose message M(l_p, u) is read, one position l_p at a
time, by ``stream_read`` (eliminating u with a pairwise table {p, u}): the same work as the
prefix sum and the contraction, in O(n·C) memory instead of the n² message.

The order is searched exhaustively (:func:`exhaustive_order`: dynamic programming over
the set of eliminated variables) when at most 7 variables are eliminated, minimising the
leading exponent of n at the best known values (ω = 2.371339 and the published rectangular
bounds), then at ω = 3, then the operation count at n = 1024, d = dv = r = 64, then the
peak memory of the steps at those sizes (so that a streamed pair replaces a dense prefix
sum at equal work), then the count at dv = d/2 (a tie at d = dv must not be broken by the
variables' names). Beyond that a library heuristic gives the order: networkx's min-fill-in
tree decomposition for exact plans (:func:`treewidth_order`), opt_einsum's greedy path for
low-rank ones (:func:`einsum_order`).

Example::

    >>> from polyth.mechanism import zoo
    >>> from polyth.theory.factors import Widths, initial_factors
    >>> start = initial_factors(zoo.path(3), None, low_rank=False)
    >>> sorted({o.kind for o in step_options(start.factors, 2, Widths.for_mechanism(zoo.path(3)), {})[0]})
    ['tree_message']
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from functools import cache

import networkx as nx
import opt_einsum

from polyth.theory.factors import Factor, Widths, thresholds_of
from polyth.theory.pricing import StepWork, dense, price_loop, price_matmul, price_stream
from polyth.theory.terms import OMEGA_CLASSICAL, REFERENCE_SIZES

EXHAUSTIVE_LIMIT = 7  # eliminated variables: t ≤ 8 for the exact plan
MAX_MATMUL_INPUTS = 10  # beyond this many inputs no bipartition is tried
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Option:
    kind: str
    inputs: tuple[int, ...]  # positions in the current factor list
    loop: tuple[int, ...]
    groups: tuple[tuple[int, ...], tuple[int, ...]] | None
    batch: tuple[int, ...]
    partner: int | None
    price: StepWork
    key: tuple[float, float, float, float, float]
    signature: tuple = ()  # the option independent of factor positions and ids


# Ties at the reference sizes (d = dv) are broken at unequal widths, so that renaming the
# variables cannot change which of two plans is chosen.
_UNEQUAL_WIDTHS = {**REFERENCE_SIZES, "dv": REFERENCE_SIZES["d"] // 2}


def _key(price: StepWork) -> tuple[float, float, float, float, float]:
    total = price.total
    return (
        total.exponent_best(),
        total.exponent_at(OMEGA_CLASSICAL),
        float(total.evaluate(REFERENCE_SIZES)),
        float(price.memory.evaluate(REFERENCE_SIZES)),
        float(total.evaluate(_UNEQUAL_WIDTHS)),
    )


@dataclass(frozen=True)
class StreamPair:
    """``prefix_stream`` of b then ``stream_read`` of u: two eliminations run as one pass along p."""

    scan: Option
    u: int
    read: Option

    @property
    def key(self) -> tuple[float, float, float, float, float]:
        a, b = self.scan.key, self.read.key
        return (max(a[0], b[0]), max(a[1], b[1]), a[2] + b[2], max(a[3], b[3]), a[4] + b[4])


def _message(inputs, b: int) -> Factor:
    """The message left by eliminating b from ``inputs`` (id assigned later)."""
    scope = tuple(sorted({v for f in inputs for v in f.scope} - {b}))
    others = [f for f in inputs if tuple(f.scope) != (b,)]
    log = any(f.log for f in others)
    channel = any(f.channel for f in inputs)
    return Factor(-1, "message", scope, channel=channel, log=log, linear=not log and not channel)


def step_options(
    factors: tuple[Factor, ...], b: int, widths: Widths, ranks, linear: bool = False
) -> tuple[list[Option], Factor]:
    """Every way this engine can eliminate b from the current factors, priced (``linear``: the
    low-rank engine's linear-domain executor, whose arrays differ, :func:`polyth.theory.pricing.held`)."""
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
            Option(
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

    thresholds = thresholds_of(inputs)
    single_table = (
        len(others) == 1
        and factors[others[0]].kind == "scores"
        and tuple(sorted(factors[others[0]].scope)) == union
    )
    is_tree_message = single_table and len(union) == 2
    # the exact engine runs one unmasked table (plus factors on b) as a flash pass; the
    # linear-domain engine contracts with einsum: neither materialises the joint product
    flash = linear or (single_table and not factors[others[0]].mask) or is_tree_message
    loop_price = price_loop(inputs, b, union, thresholds, output, widths, ranks, not flash, linear)
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
        price = price_loop(rest, b, loop, thresholds_of(rest), output, widths, ranks, True, linear)
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
            price = price_matmul(
                [factors[i] for i in group1],
                [factors[i] for i in group2],
                [factors[i] for i in unary],
                b,
                batch,
                output,
                widths,
                ranks,
                linear,
            )
            add("matmul", union, groups=(tuple(group1), tuple(group2)), batch=batch, price=price)
    return options, output


def stream_options(factors: tuple[Factor, ...], b: int, widths: Widths, ranks) -> list[StreamPair]:
    """The streamed pairs that start by eliminating b (exact engine only).

    b qualifies when its inputs are a threshold [l_b ≤ l_p] whose partner p is in no other
    input, exactly one unmasked pairwise score table {u, b}, and factors on b alone; the read
    step then eliminates u, whose inputs must be the scan's message over (p, u), exactly one
    pairwise score table {p, u} (unmasked, or masked by [l_u ≤ l_p]) and factors on u alone,
    leaving a message on p alone.
    """
    if ranks:
        return []
    positions = [i for i, f in enumerate(factors) if b in f.scope]
    pairs = []
    for i in positions:
        pair = factors[i].threshold
        if factors[i].kind != "threshold" or pair is None or pair[0] != b:
            continue
        p = pair[1]
        rest = [factors[j] for j in positions if j != i]
        tables = [f for f in rest if tuple(f.scope) != (b,)]
        if any(p in f.scope for f in rest) or len(tables) != 1:
            continue
        table = tables[0]
        if table.kind != "scores" or len(table.scope) != 2 or table.mask:
            continue
        (u,) = [v for v in table.scope if v != b]
        options, message = step_options(factors, b, widths, ranks)
        scan = next(o for o in options if o.kind == "prefix_sum" and o.partner == p)
        middle = after(factors, b, message)
        readers = [f for f in middle if u in f.scope]
        read_tables = [f for f in readers if tuple(f.scope) != (u,) and f.kind != "message"]
        if (
            [f for f in readers if f.kind == "message"] != [middle[-1]]  # the scan's message alone
            or len(read_tables) != 1
            or read_tables[0].kind != "scores"
            or tuple(sorted(read_tables[0].scope)) != tuple(sorted((p, u)))
            or read_tables[0].mask not in ((), ((u, p),))
        ):
            continue
        read_options, read_output = step_options(middle, u, widths, ranks)
        if tuple(read_output.scope) != (p,):
            continue
        read = next(o for o in read_options if o.kind == "contraction")
        flash = price_loop(
            [middle[j] for j in read.inputs],
            u,
            read.loop,
            thresholds_of([middle[j] for j in read.inputs]),
            read_output,
            widths,
            ranks,
            materialise=False,
        )
        # per u: the running max and sum, and the dv = C − 1 value columns of the message
        state = dense((u,), ranks) * widths.batch * (1 + (widths.channel if message.channel else 1))
        scan_price, read_price = price_stream(scan.price, flash, state)
        pairs.append(
            StreamPair(
                replace(
                    scan,
                    kind="prefix_stream",
                    price=scan_price,
                    key=_key(scan_price),
                    signature=("prefix_stream", *scan.signature[1:]),
                ),
                u,
                replace(
                    read,
                    kind="stream_read",
                    price=read_price,
                    key=_key(read_price),
                    signature=("stream_read", *read.signature[1:]),
                ),
            )
        )
    return pairs


def after(factors: tuple[Factor, ...], b: int, output: Factor) -> tuple[Factor, ...]:
    return tuple(f for f in factors if b not in f.scope) + (output,)


# ----------------------------------------------------------------- order search


def exhaustive_order(
    initial, eliminable, widths, ranks, linear: bool = False
) -> tuple[tuple[int, ...], dict]:
    """The best order: minimise the max best-known exponent, then at ω = 3, then the total
    count, then the largest step memory.

    Dynamic programming over the set of eliminated variables (the factor set after a set
    is eliminated does not depend on the order, nor on whether a pair of eliminations was
    streamed), in three exact stages; the count stage breaks its ties by memory. A move
    eliminates one variable, or two by a :class:`StreamPair`.
    """
    full = frozenset(eliminable)

    @cache
    def state(done: frozenset) -> tuple[Factor, ...]:
        if not done:
            return initial
        b = min(done)
        factors = state(done - {b})
        return after(factors, b, options(done - {b}, b)[1])

    @cache
    def options(done: frozenset, b: int):
        return step_options(state(done), b, widths, ranks, linear)

    @cache
    def moves(done: frozenset) -> list[tuple[int, object]]:
        """(the variable eliminated first, an option or a pair) for every move from ``done``."""
        found = []
        for b in sorted(full - done):
            found += [(b, option) for option in options(done, b)[0]]
            found += [
                (b, pair) for pair in stream_options(state(done), b, widths, ranks) if pair.u in full - done
            ]
        return found

    def eliminated(b: int, move) -> frozenset:
        return frozenset({b, move.u}) if isinstance(move, StreamPair) else frozenset({b})

    def stage(best, allowed, combine, start, better):
        @cache
        def value(done: frozenset):
            if done == full:
                return start, None
            result = (None, None)  # None: no allowed move completes the order from here
            for b, move in moves(done):
                rest = value(done | eliminated(b, move))[0] if allowed(move) else None
                if rest is None:
                    continue
                candidate = combine(best(move), rest)
                if result[0] is None or better(candidate, result[0]):
                    result = (candidate, (b, move))
            return result

        return value

    def lower(a, b):
        return a < b - _TOLERANCE

    def cheaper(a, b):  # (count, memory, count at unequal widths), each up to rounding
        for x, y in zip(a, b):
            if abs(x - y) > 1e-12 * max(abs(x), abs(y), 1.0):
                return x < y
        return False

    first = stage(lambda o: o.key[0], lambda o: True, max, float("-inf"), lower)(frozenset())[0]
    second = stage(lambda o: o.key[1], lambda o: o.key[0] <= first + _TOLERANCE, max, float("-inf"), lower)(
        frozenset()
    )[0]
    third = stage(
        lambda o: o.key[2:],
        lambda o: o.key[0] <= first + _TOLERANCE and o.key[1] <= second + _TOLERANCE,
        lambda a, b: (a[0] + b[0], max(a[1], b[1]), a[2] + b[2]),
        (0.0, 0.0, 0.0),
        cheaper,
    )
    order, chosen, done = [], {}, frozenset()
    while done != full:
        b, move = third(done)[1]
        if isinstance(move, StreamPair):
            order += [b, move.u]
            chosen[b], chosen[move.u] = move.scan, move.read
        else:
            order.append(b)
            chosen[b] = move
        done = done | eliminated(b, move)
    return tuple(order), chosen


def treewidth_order(initial, eliminable) -> tuple[int, ...]:
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


def einsum_order(initial, eliminable, ranks) -> tuple[int, ...]:
    """An order from opt_einsum's greedy path on the factor network with concrete sizes.

    Token indices get size 2^20, rank indices 64 and the channel 65, so that the path
    prefers contracting tokens through rank variables.
    """
    letters = {v: opt_einsum.get_symbol(i) for i, v in enumerate([0, *sorted(eliminable)])}
    channel = opt_einsum.get_symbol(len(letters))
    size = {letters[v]: (64 if v in ranks else 2**20) for v in letters}
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


def same(a: Option, b: Option) -> bool:
    """Whether two options are the same step, whatever the factor positions and ids."""
    return a.signature == b.signature


def _factor_key(f: Factor) -> str:
    """A factor's identity without its id (the same factor reached by two orders)."""
    return repr(replace(f, id=-1))
