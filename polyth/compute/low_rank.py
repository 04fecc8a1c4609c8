"""``method="approx"``: the polynomial method, executed.

Every score table ``exp(L_S(l_S))`` with ``L_S = Σ_D Π_{a∈S} F_a[l_a, D]`` (see
:mod:`polyth.features`) is replaced by its degree-g Taylor polynomial, which factors
into per-variable features (:mod:`polyth_kernels.features`):

    exp(L_S) ≈ Σ_{|α| ≤ g} Π_{a∈S} φ_{S,a}[l_a, α],   φ_{S,first}[l, α] = F^α / α!,  φ_{S,a} = F^α

a rank r_S = C(D+g, g) factor (Alman & Song 2023, 2024; Chakrabarti, Pitassi, Alman 2026).
Unary tables stay exact (their exponential is cheap). For even g every weight stays
positive. The low-rank factors are then contracted:

- along a tree (nested masks included) by message passing leaf-first, one
  :func:`polyth_kernels.lowrank_pass` per edge: O(n · r · dv) per edge, never n × n;
- otherwise by one tensor contraction over token and rank indices whose order opt_einsum
  chooses; prefix masks enter as dense 0/1 matrices there (an n² term, stated as such).

The degree comes from ``degree=`` or from the entry bound ``B`` and error ``eps`` via the
cost engine's :func:`polyth.approx.taylor_degree` on ``R = Σ_j |c_j| · scale · d · B^{k_j}``.
"""

from __future__ import annotations

import time

import numpy as np
import opt_einsum
import polyth_kernels

from polyth.compute.exact import StepRecord
from polyth.compute.inputs import Inputs, nested_parents
from polyth.compute.tables import SupportTable, support_tables
from polyth.errors import InputError, NumericalError
from polyth.mechanism import Mechanism


def table_radius(m: Mechanism, monomials: tuple[int, ...], B: float, d: int, scale: float) -> float:
    """R = Σ_j |c_j| · |scale| · d · B^{k_j}: the largest |L_S| when every entry is within [−B, B]."""
    return sum(abs(m.monomials[j].value) * abs(scale) * d * B ** m.monomials[j].degree for j in monomials)


def choose_degree(m, table, B, eps, degree, d, scale) -> int:
    if degree is not None:
        if not isinstance(degree, int) or isinstance(degree, bool) or degree < 0:
            raise InputError(f"degree must be a non-negative integer, got {degree!r}")
        return degree
    if B is None or eps is None:
        raise InputError('method="approx" needs B and eps (entry bound and relative error) or degree=')
    from polyth.theory.approximation import taylor_degree

    return taylor_degree(table_radius(m, table.monomials, B, d, scale), eps)


def low_rank_features(table: SupportTable, g: int, backend: str) -> tuple[dict[int, np.ndarray], int]:
    """Per-variable Taylor features φ_{S,a} (b, n, r) of one table; the 1/α! on its first variable."""
    width = table.width
    alphas = polyth_kernels.multi_indices(width, g)
    weights = polyth_kernels.taylor_weights(alphas)
    feats = {}
    for position, a in enumerate(table.support):
        F = table.features[a]
        w = weights.astype(F.dtype) if position == 0 else None
        try:
            feats[a] = polyth_kernels.monomial_features(F, alphas, w, backend=backend)
        except FloatingPointError as exc:
            raise NumericalError(str(exc)) from None
    return feats, len(alphas)


def approximate_attention(m: Mechanism, inputs: Inputs, backend: str, B=None, eps=None, degree=None):
    """The approximate output (b, n, dv) and the step records (features, contraction)."""
    from polyth.compute.front import fold_channels

    d = inputs.d
    scale = m.scale_for(d)
    if B is not None:
        peak = max(float(np.abs(q).max()) for q in inputs.Q)
        if peak > B:
            raise InputError(
                f"an entry of Q has magnitude {peak:.4g} > B = {B}: the error bound assumes every "
                "entry lies in [−B, B]; pass a larger B"
            )
    Q, V = inputs.Q, dict(inputs.V)
    if m.per_channel:
        Q, V = fold_channels(inputs)
    start = time.perf_counter()
    tables = support_tables(m, Q, scale, per_channel=False)
    biases = {}
    low_rank = []
    ranks = {}
    for table in tables:
        if len(table.support) == 1:
            (a,) = table.support
            biases[a] = biases.get(a, 0) + table.features[a].sum(axis=-1)
            continue
        g = choose_degree(m, table, B, eps, degree, d, scale)
        feats, r = low_rank_features(table, g, backend)
        low_rank.append((table.support, feats))
        ranks[table.support] = (g, r)
    elapsed = time.perf_counter() - start
    records = [StepRecord(-1, "taylor_features", "monomial_features", elapsed, (), {"ranks": ranks})]
    unary = {a: np.exp(x - x.max(axis=1, keepdims=True)) for a, x in biases.items()}
    tree_ok = (
        m.is_tree
        and m.is_connected
        and (
            inputs.causal in (None, "nested")
            or (inputs.causal == "prefix" and all(0 in s for s, _ in low_rank))
        )
    )
    start = time.perf_counter()
    if tree_ok:
        out = _tree_messages(m, low_rank, unary, V, inputs.causal, backend, inputs.n)
        records.append(StepRecord(-1, "lowrank_messages", "lowrank_pass", time.perf_counter() - start, (0,)))
    else:
        out = _contract(m, low_rank, unary, V, inputs.causal, inputs.n)
        records.append(StepRecord(-1, "lowrank_contraction", "opt_einsum", time.perf_counter() - start, (0,)))
    if m.per_channel:
        out = out.reshape(inputs.b, d, inputs.n).transpose(0, 2, 1)
    return out, records


def _tree_messages(m, low_rank, unary, V, causal, backend, n):
    """Leaf-first low-rank message passing: weights D_a (max-normalised) and value ratios W_a."""
    parents = nested_parents(m)
    depth = {0: 0}
    for child in sorted(parents, key=lambda c: len(_path_to_root(c, parents))):
        depth[child] = depth[parents[child]] + 1
    batch = next(iter(V.values())).shape[0]
    weight = {a: unary.get(a, np.ones((batch, n))) for a in range(m.t)}
    ratio = {a: V.get(a) for a in range(m.t)}
    by_pair = {frozenset(s): f for s, f in low_rank}
    for child in sorted(parents, key=lambda c: -depth[c]):
        parent = parents[child]
        feats = by_pair[frozenset((child, parent))]
        Phi, Psi = feats[parent], feats[child] * weight[child][..., None].astype(feats[child].dtype)
        values = ratio[child] if ratio[child] is not None else np.ones((batch, n, 1), dtype=Phi.dtype)
        try:
            z, out = polyth_kernels.lowrank_pass(Phi, Psi, values, causal=causal is not None, backend=backend)
        except ValueError as exc:
            raise NumericalError(
                f"approximate weights lost positivity ({exc}); use an even Taylor degree"
            ) from None
        weight[parent] = weight[parent] * (z / z.max(axis=1, keepdims=True))
        if ratio[child] is not None:
            ratio[parent] = out if ratio[parent] is None else ratio[parent] * out
    return ratio[0]


def _path_to_root(c, parents):
    path = [c]
    while path[-1] in parents:
        path.append(parents[path[-1]])
    return path


def _contract(m, low_rank, unary, V, causal, n):
    """One opt_einsum contraction of every low-rank factor, value and mask."""
    token = {a: opt_einsum.get_symbol(a) for a in range(m.t)}
    batch_sym, channel = opt_einsum.get_symbol(m.t), opt_einsum.get_symbol(m.t + 1)
    next_symbol = m.t + 2
    operands, subscripts = [], []
    for support, feats in low_rank:
        rank = opt_einsum.get_symbol(next_symbol)
        next_symbol += 1
        for a in support:
            operands.append(feats[a])
            subscripts.append(batch_sym + token[a] + rank)
    for a, w in unary.items():
        operands.append(w)
        subscripts.append(batch_sym + token[a])
    for a, values in V.items():
        ones = np.ones(values.shape[:2] + (1,), dtype=values.dtype)
        operands.append(np.concatenate([values, ones], axis=-1))
        subscripts.append(batch_sym + token[a] + channel)
    thresholds = []
    if causal == "prefix":
        thresholds = [(a, 0) for a in range(1, m.t)]
    elif causal == "nested":
        thresholds = list(nested_parents(m).items())
    allowed = np.tril(np.ones((n, n)))  # [child index ≤ parent index], axes (parent, child)
    for child, parent in thresholds:
        operands.append(allowed.astype(operands[0].dtype))
        subscripts.append(token[parent] + token[child])
    expr = ",".join(subscripts) + "->" + batch_sym + token[0] + channel
    total = opt_einsum.contract(expr, *operands, optimize="auto")
    den = total[..., -1]
    if not (np.isfinite(total).all() and (den > 0).all()):
        raise NumericalError(
            "the approximate normaliser is not positive and finite for some query; "
            "use an even Taylor degree or a smaller B"
        )
    return total[..., :-1] / den[..., None]
