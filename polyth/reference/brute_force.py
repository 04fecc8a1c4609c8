"""The brute-force reference: poly-attention by definition, over every tuple, in float64.

For a mechanism with attention polynomial ``h = Σ_m c_m Π_a x_a^(e_{m,a})`` over
variables x1 … xt (x1 the query), the score of a tuple ``l = (l1, …, lt)`` is
(Chakrabarti, Pitassi, Alman 2026, Definition 2.2; docs/design.md §1)

    S(l) = scale · Σ_m c_m Σ_{c=1..d} Π_a Q(a)[l_a, c]^(e_{m,a})

(untied weights: ``Q(m, a)`` in place of ``Q(a)``), and the output for query ``l1`` is

    Att[l1] = Σ_{l2..lt} exp(S(l)) ⊙_{a ∈ values} V(a)[l_a]  /  Σ_{l2..lt} exp(S(l)),

the sums running over the tuples the causal mask allows (``"prefix"``: every
``l_a ≤ l1``; ``"nested"``: ``l_child ≤ l_parent`` on each edge of a tree
polynomial directed away from x1). In per-channel mode output channel c uses
``S_c(l) = scale · h(Q(1)[l1,c], …, Q(t)[lt,c])`` and ``V(a)[l_a, c]``.

This module is the independent oracle the fast algorithms are checked against: it
materialises the score tensor over all ``n^t`` tuples (no factorisation), stabilised
by subtracting the per-query maximum before exponentiating. It validates its inputs
itself (:mod:`polyth.reference.inputs`), prices its own arrays before allocating them
(:func:`reference_price`, refused by :mod:`polyth.limits`) and imports neither
``polyth.compute`` nor ``polyth_kernels``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence

import numpy as np
import opt_einsum

import polyth.limits as limits
from polyth.errors import BudgetError, InputError, NumericalError
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import FeatureMap
from polyth.reference.feature_map import feature_map_attention
from polyth.reference.inputs import check

DEFAULT_MAX_WORK = 10**8
# Score tensors are built for a block of query positions at a time, about this many entries.
BLOCK_ENTRIES = 2**22

_TOKEN = string.ascii_lowercase[:16]  # one einsum letter per variable (t ≤ 16)
_BATCH, _COORD, _CHANNEL = "z", "y", "x"


def attention(
    m: Mechanism,
    Q: Sequence,
    V: Mapping,
    causal: str | None = None,
    max_work: int = DEFAULT_MAX_WORK,
    max_memory: float | None = None,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Poly-attention of ``m`` computed by brute force over all ``n^(t-1)`` tuples per query.

    ``Q``: one ``(n, d)`` or ``(b, n, d)`` array per input slot (``m.input_slots``:
    per variable x1 … xt, or per (monomial, variable) pair when untied). ``V``: dict
    from value variable (1-based index or name) to an ``(n, dv)`` or ``(b, n, dv)``
    array. ``causal``: ``None``, ``"prefix"`` or ``"nested"``. Returns the float64
    output, ``(n, dv)`` or ``(b, n, dv)`` like the inputs.

    Refuses, with :class:`~polyth.BudgetError`, more than ``max_work`` tuple-coordinates
    ``b · n^t · d``, and, before allocating, a call whose arrays (:func:`reference_price`, its
    own estimate) exceed the memory this process can still allocate or ``max_memory`` (bytes),
    or whose predicted time exceeds ``max_seconds`` (:mod:`polyth.limits`); raises
    :class:`~polyth.NumericalError` if a score or the output is not finite in float64.

    Similarity: a feature map φ (linear attention) is computed by its own definition
    (:func:`polyth.reference.feature_map_attention`; on h = x1·x2 the nested mask is the
    prefix mask); a Taylor similarity is the approximate form of the exp definition, so the
    reference computes the exact exp form it approximates.

    >>> import numpy as np
    >>> m = Mechanism.from_polynomial("x1*x2")
    >>> q = np.zeros((3, 2))                       # equal scores: the mean of the allowed values
    >>> attention(m, [q, q], {2: np.arange(6.0).reshape(3, 2)}, causal="prefix")
    array([[0., 1.],
           [1., 2.],
           [2., 3.]])
    """
    inputs = check(m, Q, V, causal)
    if isinstance(m.similarity, FeatureMap):
        # the nested orientation of x1·x2 is {x2 → x1}: l2 ≤ l1, the prefix mask
        mask = None if inputs.causal is None else "prefix"
        (value,) = inputs.V.values()
        return inputs.unbatch(
            feature_map_attention(
                m.similarity, inputs.Q[0], inputs.Q[1], value, mask, max_memory, max_seconds
            )
        )
    _check_budget(m, inputs.b, inputs.n, inputs.d, max_work)
    limits.check(reference_price(m, inputs), max_memory, max_seconds)
    scale = m.scale_for(inputs.d)
    slot_of = {slot: i for i, slot in enumerate(m.input_slots)}

    def attend(coords: slice, channels: slice) -> np.ndarray:
        return _attend(
            m,
            [q[..., coords] for q in inputs.Q],
            {a: v[..., channels] for a, v in inputs.V.items()},
            slot_of,
            scale,
            inputs.causal,
            inputs.parents,
        )

    if m.per_channel:
        out = np.empty((inputs.b, inputs.n, inputs.d))
        for c in range(inputs.d):
            out[..., c : c + 1] = attend(slice(c, c + 1), slice(c, c + 1))
    else:
        out = attend(slice(None), slice(None))
    if not np.isfinite(out).all():
        raise NumericalError(
            "the reference output is not finite in float64: the product of the value rows "
            "overflows; rescale V"
        )
    return inputs.unbatch(out)


def _check_budget(m: Mechanism, b: int, n: int, d: int, max_work) -> None:
    if isinstance(max_work, bool) or not isinstance(max_work, (int, np.integer)) or max_work < 1:
        raise InputError(f"max_work must be a positive integer, got {max_work!r}")
    work = b * n**m.t * d
    if work > max_work:
        raise BudgetError(
            f"the brute-force reference would touch b·n^t·d = {b}·{n}^{m.t}·{d} = {work:,} "
            f"tuple-coordinates, above max_work = {int(max_work):,}; use "
            'polyth.attention(..., method="exact") for this size, or raise max_work'
        )


def reference_price(m: Mechanism, inputs) -> limits.Price:
    """This oracle's own estimate of its arrays and work (independent of the compute layer's).

    Query positions go in blocks whose score tensor has E = b·q·n^(t−1) entries (q ≥ 1
    positions, about BLOCK_ENTRIES entries when n^(t−1) allows). A block holds, in float64:
    the scores, a monomial's table and its scaled copy, the masked scores, the shifted scores
    and their exponentials (five arrays of at most E entries, counted as E), two boolean masks
    (E bytes each) and the value contraction's largest intermediate (opt_einsum's path);
    beside them the float64 inputs and the output. Work: per tuple, D per monomial and the
    products of the values (multiply-adds), and one exponential.
    """
    b, n, d, dv, t = inputs.b, inputs.n, inputs.d, inputs.dv, m.t
    rows = n ** (t - 1)
    block = max(1, min(n, BLOCK_ENTRIES // (b * rows)))
    entries = b * block * rows
    largest = 0
    if entries < 2**50:  # beyond, the five score arrays alone are over 40 PiB
        subscripts = [_BATCH + _TOKEN[:t]] + [_BATCH + _TOKEN[a] + _CHANNEL for a in inputs.V]
        shapes = [(b, block) + (n,) * (t - 1)] + [(b, block if a == 0 else n, dv) for a in inputs.V]
        expression = ",".join(subscripts) + "->" + _BATCH + _TOKEN[0] + _CHANNEL
        largest = int(opt_einsum.contract_path(expression, *shapes, shapes=True)[1].largest_intermediate)
    inputs_entries = b * n * (len(m.input_slots) * d + (len(m.values) + 1) * dv)
    tuples = b * n**t
    per_tuple = sum(d * len(mono.support) for mono in m.monomials) + dv * len(m.values)
    return limits.Price(
        f"the brute-force reference for {m.name or m.polynomial} at b = {b}, n = {n:,}, d = {d}, dv = {dv} "
        f"({tuples:.3g} tuples, in float64)",
        8 * (5 * entries + largest + inputs_entries) + 2 * entries,
        tuples * per_tuple,
        tuples,
        lambda: (
            ('polyth.attention(..., method="exact") for this size', "a smaller --n"),
            ("a smaller n", "a smaller --n"),
        ),
    )


def _attend(m, Q, V, slot_of, scale, causal, parents) -> np.ndarray:
    """Output ``(b, n, dv)`` for inputs already validated; Q and V are float64, batched."""
    b, n, _ = Q[0].shape
    dv = next(iter(V.values())).shape[2]
    t = m.t
    block = max(1, min(n, BLOCK_ENTRIES // (b * n ** (t - 1))))
    out = np.empty((b, n, dv))
    for start in range(0, n, block):
        queries = slice(start, min(n, start + block))
        with np.errstate(over="ignore", invalid="ignore"):
            scores = _scores(m, Q, slot_of, scale, queries)
        allowed = _mask(t, n, queries, causal, parents)
        bad = ~np.isfinite(scores)
        if allowed is not None:
            bad &= allowed
            scores = np.where(allowed, scores, -np.inf)
        if bad.any():
            raise NumericalError(
                "a score S(l) overflows float64 (|S| > 1.8e308); the inputs or coefficients are too large"
            )
        others = tuple(range(2, t + 1))
        peak = scores.max(axis=others, keepdims=True)
        assert np.isfinite(peak).all(), "every query keeps the tuple l_a = l1 under both causal masks"
        weights = np.exp(scores - peak)
        total = weights.sum(axis=others)
        operands = [weights]
        subscripts = [_BATCH + _TOKEN[:t]]
        for a, v in V.items():
            operands.append(v[:, queries] if a == 0 else v)
            subscripts.append(_BATCH + _TOKEN[a] + _CHANNEL)
        expression = ",".join(subscripts) + "->" + _BATCH + _TOKEN[0] + _CHANNEL
        with np.errstate(over="ignore", invalid="ignore"):
            out[:, queries] = opt_einsum.contract(expression, *operands) / total[..., None]
    return out


def _scores(m, Q, slot_of, scale, queries: slice) -> np.ndarray:
    """``S`` of shape ``(b, q, n, …, n)`` for the query positions in ``queries``.

    Each monomial contributes ``scale · c_m · Σ_c Π_{a ∈ supp m} Q(a)[l_a, c]^(e_{m,a})``,
    a table over its support (an einsum over the coordinates), broadcast to all t axes.
    """
    b, n, _ = Q[0].shape
    t = m.t
    q = len(range(n)[queries])
    scores = np.zeros((b, q) + (n,) * (t - 1))
    for i, mono in enumerate(m.monomials):
        operands, subscripts = [], []
        for a in mono.support:
            x = Q[slot_of[(i if m.untied else None, a)]]
            if a == 0:
                x = x[:, queries]
            power = mono.powers[a]
            operands.append(x if power == 1 else x**power)
            subscripts.append(_BATCH + _TOKEN[a] + _COORD)
        output = _BATCH + "".join(_TOKEN[a] for a in mono.support)
        table = opt_einsum.contract(",".join(subscripts) + "->" + output, *operands)
        shape = [b] + [(q if a == 0 else n) if a in mono.support else 1 for a in range(t)]
        scores += (scale * mono.value) * table.reshape(shape)
    return scores


def _mask(t: int, n: int, queries: slice, causal, parents) -> np.ndarray | None:
    """Boolean ``(q, n, …, n)`` of the tuples the causal mask keeps (``None``: all)."""
    if causal is None:
        return None
    positions = []
    for a in range(t):
        index = np.arange(n)[queries] if a == 0 else np.arange(n)
        shape = [1] * t
        shape[a] = index.size
        positions.append(index.reshape(shape))
    edges = [(a, 0) for a in range(1, t)] if causal == "prefix" else list(parents.items())
    allowed = np.ones(np.broadcast_shapes(*[p.shape for p in positions]), dtype=bool)
    for child, parent in edges:
        allowed &= positions[child] <= positions[parent]
    return allowed
