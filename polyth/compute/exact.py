"""Execute an exact elimination order with the kernels: log-domain variable elimination.

The unnormalised weight of a tuple factorises over the monomial supports (docs/design.md §3):
``exp(S(l)) = Π_S exp(L_S(l_S))``; value variables add unary factors ``V(a)[l_a]`` and
causal masks add threshold factors ``[l_child ≤ l_parent]``. Every live factor is kept as

    F(l_scope, c) = exp(L(l_scope)) · W(l_scope, c)

with ``W`` the *ratio* of the value channel to the normaliser (absent for factors that carry
no value). Eliminating a variable b multiplies the factors that contain it and sums l_b out:

    L'(u) = log Σ_b exp(Σ_i L_i(u, b)),   W'(u, c) = Σ_b softmax_b(Σ_i L_i) · Π_i W_i(u, b, c)

so the attention output is the product of the W of the factors left on the query. The
plan's step kind picks the kernel:

- ``tree_message``: one pairwise score table {a, b} (maybe masked) plus factors on {b}:
  :func:`polyth_kernels.edge_pass` (a flash pass with the child's bias and value message);
- ``contraction`` of one hyperedge table (support ≥ 3) plus factors on {b}:
  :func:`polyth_kernels.hyperedge_pass` (online reduction, the n^s scores are never stored);
- ``prefix_sum``: a threshold [l_b ≤ l_p] (or ≥) with p in no other factor:
  :func:`polyth_kernels.prefix_scan`;
- ``prefix_stream`` then ``stream_read``: the prefix sum of b and the elimination of u that
  reads it, one pass along p by :func:`polyth_kernels.stream_pass` (the scan's message is
  never stored: the scan step only hands its table and factors to the read);
- ``matmul``: two groups meeting in b and batch variables: :func:`polyth_kernels.lse_matmul`;
- ``contraction`` otherwise: materialise the product over the union, :func:`polyth_kernels.reduce_lse`.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from dataclasses import dataclass

import numpy as np

import polyth_kernels
from polyth.compute.inputs import Inputs, fold_channels, unfold_channels
from polyth.compute.records import StepRecord
from polyth.compute.tables import SupportTable, materialize, support_tables
from polyth.errors import NumericalError, PolyError
from polyth.mechanism import Mechanism
from polyth.theory.plan import Plan, cached_exact_plan
from polyth_kernels import broadcast_batch, combine, full, is_device, reverse_rows, to_device, to_host


@dataclass
class LiveFactor:
    """A live factor. ``table`` set: a lazy score table (features); else ``L`` is dense.

    ``threshold`` (child, parent) marks the mask [l_child ≤ l_parent]: alone it is a pure
    threshold factor, attached to a table of the same scope it masks that table.
    """

    scope: tuple[int, ...]
    L: np.ndarray | None = None
    W: np.ndarray | None = None
    table: SupportTable | None = None
    threshold: tuple[int, int] | None = None
    streamed: tuple | None = None  # a prefix_stream's message: (b, its table, its factors on b)

    @property
    def is_lazy_table(self) -> bool:
        return self.table is not None


class Elimination:
    """Run a plan's elimination steps over live factors (keyed by the plan's factor ids)."""

    def __init__(self, factors: dict[int, LiveFactor], n: int, backend: str, dtype: np.dtype):
        self.live = factors
        self.n = n
        self.backend = backend
        self.dtype = dtype
        self.records: list[StepRecord] = []

    # ----------------------------------------------------------- materialising
    def dense(self, f: LiveFactor) -> tuple[np.ndarray, np.ndarray | None]:
        """The log-table (b, n, …) over ``f.scope`` and its W, masks applied as −inf."""
        if f.table is not None:
            L = materialize(f.table, f.scope)
        elif f.L is not None:
            L = f.L
        else:
            L = np.zeros((1,) + (self.n,) * len(f.scope), dtype=self.dtype)
        if f.threshold is not None:
            child, parent = f.threshold
            idx = np.arange(self.n)
            allowed = idx[:, None] <= idx[None, :]  # axes (child, parent)
            shape = [1] * (1 + len(f.scope))
            shape[1 + f.scope.index(child)] = self.n
            shape[1 + f.scope.index(parent)] = self.n
            if f.scope.index(child) > f.scope.index(parent):
                allowed = allowed.T
            L = np.where(allowed.reshape(shape), L, -np.inf).astype(self.dtype, copy=False)
        return L, f.W

    def expand(self, f: LiveFactor, union: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray | None]:
        """``f``'s L and W broadcast onto the axes of ``union`` (size-1 where absent)."""
        L, W = self.dense(f)
        order = sorted(range(len(f.scope)), key=lambda i: union.index(f.scope[i]))
        L = L.transpose([0] + [1 + i for i in order])
        shape = [L.shape[0]] + [self.n if v in f.scope else 1 for v in union]
        L = L.reshape(shape)
        if W is not None:
            W = W.transpose([0] + [1 + i for i in order] + [W.ndim - 1])
            W = W.reshape([W.shape[0]] + shape[1:] + [W.shape[-1]])
        return L, W

    # ------------------------------------------------------------- the steps
    def run_step(self, step, inputs: list[LiveFactor]) -> tuple[LiveFactor, StepRecord]:
        """Run one plan step (kind, eliminated variable, groups, partner) on its input factors."""
        b = step.eliminated
        start = time.perf_counter()
        unary = [f for f in inputs if f.scope == (b,)]
        others = [f for f in inputs if f.scope != (b,)]
        extra = {}
        if step.kind == "tree_message":
            kernel, result = "edge_pass", self._edge(b, others[0], unary)
        elif step.kind == "prefix_sum":
            kernel, result = "prefix_scan", self._prefix(b, step.partner, inputs)
        elif step.kind == "prefix_stream":  # runs inside the next step's stream_pass
            kernel, result = "stream_pass (with the next step)", self._defer(b, step.partner, inputs)
        elif step.kind == "stream_read":
            kernel, result = "stream_pass", self._stream(b, others, unary)
        elif step.kind == "matmul":
            kernel = "lse_matmul"
            result, extra["recomputed"] = self._matmul(b, step, unary)
        elif len(others) == 1 and others[0].is_lazy_table and others[0].threshold is None:
            kernel, result = "hyperedge_pass", self._hyperedge(b, others[0], unary)
        else:
            kernel, result = "reduce_lse", self._contract(b, inputs)
        record = StepRecord(b, step.kind, kernel, time.perf_counter() - start, result.scope, extra)
        self.records.append(record)
        return result, record

    def _unary_bias_and_values(self, b: int, unary: list[LiveFactor]):
        """The sum of the log-factors on b (None: all 0) and the product of their values."""
        bias, W = None, None
        for f in unary:
            if f.L is not None or f.table is not None or f.threshold is not None:
                L, _ = self.dense(f)
                bias = L if bias is None else combine(bias, L, "add")
            if f.W is not None:
                W = f.W if W is None else combine(W, f.W, "mul")
        if W is not None and not is_device(W) and not polyth_kernels.all_finite(W):
            raise NumericalError(
                "the product of the value vectors overflowed; rescale V or compute in float64"
            )
        return bias, W

    def _edge(self, b: int, table: LiveFactor, unary: list[LiveFactor]) -> LiveFactor:
        (a,) = [v for v in table.scope if v != b]
        A, K = table.table.features[a], table.table.features[b]
        bias, W = self._unary_bias_and_values(b, unary)
        causal, reverse = False, False
        if table.threshold is not None:
            causal = True
            reverse = table.threshold == (a, b)  # [l_a ≤ l_b]: keys at or above the query
        on_device = is_device(K)
        values = W if W is not None else full(tuple(K.shape[:2]) + (1,), 1, K.dtype, on_device)
        if reverse:
            A, K, values = reverse_rows(A), reverse_rows(K), reverse_rows(values)
            bias = None if bias is None else reverse_rows(bias)
        bias = None if bias is None else broadcast_batch(bias, K.shape[0])
        logz, out = polyth_kernels.edge_pass(A, K, values, bias=bias, causal=causal, backend=self.backend)
        if reverse:
            logz, out = reverse_rows(logz), reverse_rows(out)
        return LiveFactor((a,), L=logz, W=out if W is not None else None)

    def _hyperedge(self, b: int, table: LiveFactor, unary: list[LiveFactor]) -> LiveFactor:
        rest = tuple(v for v in table.scope if v != b)
        K = table.table.features[b]
        bias, W = self._unary_bias_and_values(b, unary)
        values = W if W is not None else np.ones(K.shape[:2] + (1,), dtype=K.dtype)
        bias = None if bias is None else np.broadcast_to(bias, K.shape[:2])
        logz, out = polyth_kernels.hyperedge_pass(
            [table.table.features[a] for a in rest], K, values, bias=bias, backend=self.backend
        )
        return LiveFactor(rest, L=logz, W=out if W is not None else None)

    def _product(self, factors: list[LiveFactor], union: tuple[int, ...]):
        """Σ of the factors' log-tables and Π of their values on ``union``: one new array each,
        accumulated in place (a factor's own arrays are never written)."""
        L_total, W_total = None, None
        own_L = own_W = False  # whether the running sum and product are arrays made here
        for f in factors:
            L, W = self.expand(f, union)
            if L_total is None:
                L_total = L
            else:
                L_total, own_L = _accumulate(L_total, L, np.add, own_L), True
            if W is not None:
                if W_total is None:
                    W_total = W
                else:
                    W_total, own_W = _accumulate(W_total, W, np.multiply, own_W), True
        batch = max(x.shape[0] for x in [L_total] + ([W_total] if W_total is not None else []))
        L_total = np.broadcast_to(L_total, (batch,) + (self.n,) * len(union))
        if W_total is not None:
            W_total = np.broadcast_to(W_total, (batch,) + (self.n,) * len(union) + W_total.shape[-1:])
        return L_total, W_total

    def _reduce_last(self, L, W, scan: bool):
        """Reduce (or scan) the last token axis of L (b, …, n) with W (b, …, n, C)."""
        lead = L.shape[:-1]
        L2 = np.ascontiguousarray(L.reshape((lead[0], -1, self.n)), dtype=self.dtype)
        W2 = None
        if W is not None:
            W2 = np.ascontiguousarray(W.reshape((lead[0], -1, self.n, W.shape[-1])), dtype=self.dtype)
        run = polyth_kernels.prefix_scan if scan else polyth_kernels.reduce_lse
        logz, out = run(L2, W2, backend=self.backend)
        shape = lead + ((self.n,) if scan else ())
        return logz.reshape(shape), (None if out is None else out.reshape(shape + (W.shape[-1],)))

    def _contract(self, b: int, touching: list[LiveFactor]) -> LiveFactor:
        union = tuple(sorted({v for f in touching for v in f.scope} - {b})) + (b,)
        L, W = self._product(touching, union)
        logz, out = self._reduce_last(L, W, scan=False)
        return LiveFactor(union[:-1], L=logz, W=out)

    def _prefix(self, b: int, p: int, inputs: list[LiveFactor]) -> LiveFactor:
        """Σ over l_b ≤ l_p (threshold (b, p)) or l_b ≥ l_p (threshold (p, b)) as a running scan."""
        threshold = next(f for f in inputs if f.table is None and f.L is None and set(f.scope) == {b, p})
        rest = [f for f in inputs if f is not threshold]
        union = tuple(sorted({v for f in rest for v in f.scope} - {b})) + (b,)
        L, W = self._product(rest, union)
        suffix = threshold.threshold == (p, b)
        if suffix:
            L, W = L[..., ::-1], (None if W is None else W[..., ::-1, :])
        logz, out = self._reduce_last(L, W, scan=True)
        if suffix:
            logz, out = logz[..., ::-1], (None if out is None else out[..., ::-1, :])
        return LiveFactor(union[:-1] + (p,), L=np.ascontiguousarray(logz), W=out)

    def _defer(self, b: int, p: int, inputs: list[LiveFactor]) -> LiveFactor:
        """The message of a ``prefix_stream`` step: its table {u, b} and factors on b, kept for
        :meth:`_stream` (nothing is computed here)."""
        (table,) = [f for f in inputs if f.table is not None]
        (u,) = [v for v in table.scope if v != b]
        unary = [f for f in inputs if f.scope == (b,)]
        return LiveFactor(tuple(sorted((u, p))), streamed=(b, table, unary))

    def _stream(self, u: int, others: list[LiveFactor], unary: list[LiveFactor]) -> LiveFactor:
        """``stream_read``: eliminate u and the streamed b in one pass along p."""
        (message,) = [f for f in others if f.streamed is not None]
        (table,) = [f for f in others if f.table is not None]
        b, inner, inner_unary = message.streamed
        (p,) = [v for v in table.scope if v != u]
        nb, n = table.table.features[p].shape[:2]

        def full(bias):
            return None if bias is None else np.broadcast_to(bias, (nb, n))

        bias_u, Wu = self._unary_bias_and_values(u, unary)
        bias_b, Wb = self._unary_bias_and_values(b, inner_unary)
        logz, out = polyth_kernels.stream_pass(
            table.table.features[p],
            table.table.features[u],
            inner.table.features[u],
            inner.table.features[b],
            Wu=None if Wu is None else np.broadcast_to(Wu, (nb, n, Wu.shape[-1])),
            Wb=None if Wb is None else np.broadcast_to(Wb, (nb, n, Wb.shape[-1])),
            bias_u=full(bias_u),
            bias_b=full(bias_b),
            masked=table.threshold == (u, p),
            backend=self.backend,
        )
        return LiveFactor((p,), L=logz, W=out if Wu is not None or Wb is not None else None)

    def _matmul(self, b: int, step, unary: list[LiveFactor]):
        """out(batch, U1, U2) = Σ_b A(batch, U1, b) · B(batch, U2, b): the batch variables fold into
        the kernel's batch axis, U1 and U2 into its rows and columns; channels may sit on either
        side (WA, WB) or on b (W)."""
        group1, group2 = ([self.live[i] for i in g] for g in step.groups)
        batch_vars = tuple(step.batch)
        u1 = tuple(sorted({v for f in group1 for v in f.scope} - {b} - set(batch_vars)))
        u2 = tuple(sorted({v for f in group2 for v in f.scope} - {b} - set(batch_vars)))
        bias, W = self._unary_bias_and_values(b, unary)
        A, WA = self._product(group1, batch_vars + u1 + (b,))
        B, WB = self._product(group2, batch_vars + u2 + (b,))
        if bias is not None:
            A = A + bias.reshape((bias.shape[0],) + (1,) * (len(batch_vars) + len(u1)) + (self.n,))
        bb = max(x.shape[0] for x in (A, B) + tuple(w for w in (W, WA, WB) if w is not None))
        nb = self.n ** len(batch_vars)

        def rows(X, lead, channel=False):
            if X is None:
                return None
            X = np.broadcast_to(X, (bb,) + X.shape[1:])
            shape = (bb * nb, self.n ** len(lead), self.n) + ((X.shape[-1],) if channel else ())
            return np.ascontiguousarray(X.reshape(shape), dtype=self.dtype)

        values = None
        if W is not None:
            values = np.broadcast_to(W, (bb,) + W.shape[1:])
            values = np.ascontiguousarray(
                np.broadcast_to(values[:, None], (bb, nb) + values.shape[1:]).reshape(
                    (bb * nb,) + values.shape[1:]
                ),
                dtype=self.dtype,
            )
        sides = {key: rows(w, u, True) for key, w, u in (("WA", WA, u1), ("WB", WB, u2)) if w is not None}
        logz, out, recomputed = polyth_kernels.lse_matmul(
            rows(A, u1), rows(B, u2), values, backend=self.backend, **sides
        )
        shape = (bb,) + (self.n,) * (len(batch_vars) + len(u1) + len(u2))
        result = LiveFactor(
            batch_vars + u1 + u2,
            L=logz.reshape(shape),
            W=None if out is None else out.reshape(shape + (out.shape[-1],)),
        )
        return result, int(recomputed)

    # ------------------------------------------------------------- the output
    def run(self, plan) -> np.ndarray:
        """Execute every step of ``plan`` and return the normalised output (b, n, C)."""
        for step in plan.steps:
            if step.kind == "normalize":
                return self.output([self.live.pop(i) for i in step.inputs])
            inputs = [self.live[i] for i in step.inputs]
            result, _ = self.run_step(step, inputs)
            for i in step.inputs:
                del self.live[i]
            self.live[step.output.id] = result
        raise AssertionError("a plan ends with its normalize step")

    def output(self, factors: list[LiveFactor], query: int = 0) -> np.ndarray:
        """The product of the value ratios W of the factors left (all on the query or empty)."""
        result = None
        for f in factors:
            if f.W is None:
                continue
            if f.scope not in ((query,), ()):
                raise AssertionError(f"factor on {f.scope} left after elimination")
            W = f.W if f.scope == (query,) else to_host(f.W)[:, None, :]
            result = W if result is None else combine(result, W, "mul")
        return result


def _accumulate(total: np.ndarray, x: np.ndarray, op, owned: bool) -> np.ndarray:
    """op(total, x), into ``total`` when this product owns it and its shape holds the result."""
    if owned and total.flags.writeable and np.broadcast_shapes(total.shape, x.shape) == total.shape:
        return op(total, x, out=total)
    return op(total, x)


def live_factors(plan: Plan, Q: tuple[np.ndarray, ...], V: dict[int, np.ndarray], scale: float):
    """The plan's initial factors as arrays: lazy score tables (features), values, thresholds.

    Per-channel mechanisms must have been folded (:func:`polyth.compute.inputs.fold_channels`) first.
    """
    tables = {t.support: t for t in support_tables(plan.mechanism, Q, scale, per_channel=False)}
    factors = {}
    for f in plan.factors:
        if f.kind == "scores":
            table = tables[tuple(f.scope)]
            if len(f.scope) == 1:
                factors[f.id] = LiveFactor(f.scope, L=table.features[f.scope[0]].sum(axis=-1))
            else:
                factors[f.id] = LiveFactor(f.scope, table=table, threshold=f.mask[0] if f.mask else None)
        elif f.kind == "value":
            (a,) = f.scope
            factors[f.id] = LiveFactor(f.scope, W=V[a])  # L None: log-factor 0
        elif f.kind == "threshold":
            factors[f.id] = LiveFactor(f.scope, threshold=f.threshold)
        else:
            raise AssertionError(f"an exact plan has no initial {f.kind} factor")
    return factors


def _moved(f: LiveFactor, move) -> LiveFactor:
    """``f`` with every array it holds passed through ``move`` (to_device or to_host)."""
    table = f.table
    if table is not None:
        table = dataclasses.replace(table, features={a: move(x) for a, x in table.features.items()})
    L = None if f.L is None else move(f.L)
    W = None if f.W is None else move(f.W)
    return dataclasses.replace(f, L=L, W=W, table=table)


_PLANS: dict[int, tuple[weakref.ref, dict]] = {}


def plan_of(m: Mechanism, causal: str | None) -> Plan:
    """The exact plan of this mechanism object, looked up by identity: the theory's cache keys on
    the mechanism as written, which prints its sympy coefficients on every call."""
    entry = _PLANS.get(id(m))
    if entry is None or entry[0]() is not m:
        key = id(m)
        # The callback holds the dict itself: at interpreter exit the module global may be None.
        entry = (weakref.ref(m, lambda _, key=key, plans=_PLANS: plans.pop(key, None)), {})
        _PLANS[key] = entry
    plans = entry[1]
    if causal not in plans:
        plans[causal] = cached_exact_plan(m, causal)
    return plans[causal]


def run_exact(m: Mechanism, inputs: Inputs, backend: str, options: dict):
    """``method="exact"``: the exact plan's steps, log-domain, with the kernels.

    On cuda/cudasim a plan of tree steps only (edge passes) runs on the device: the initial
    factors are copied there once, the steps hand their messages to each other there, and the
    output is copied back once. Other plans run on host arrays, each kernel copying its own."""
    plan = plan_of(m, inputs.causal)
    Q, V = (inputs.Q, dict(inputs.V))
    if m.per_channel:
        Q, V = fold_channels(inputs)
    factors = live_factors(plan, Q, V, m.scale_for(inputs.d))
    if backend != "cpu" and {s.kind for s in plan.steps} <= {"tree_message", "normalize"}:
        factors = {i: _moved(f, to_device) for i, f in factors.items()}
    run = Elimination(factors, inputs.n, backend, inputs.dtype)
    try:
        out = to_host(run.run(plan))
    except FloatingPointError as exc:
        raise NumericalError(str(exc)) from None
    except ValueError as exc:  # a kernel refusing its arrays is a bug here, not bad user input
        raise PolyError(f"kernel refused the plan's arrays: {exc}") from exc
    if m.per_channel:
        out = unfold_channels(out, inputs)
    return out, run.records
