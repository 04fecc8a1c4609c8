"""The exact plan of any mechanism in torch operations, with autograd: :func:`plan_attention`.

The unnormalised weight of a tuple l factorises over the plan's factors (docs/design.md §3;
Chakrabarti, Pitassi, Alman 2026): exp(S(l)) · ⊙_a V(a)[l_a] = Π_F exp(λ_F) · μ_F, one score
table per monomial support (λ = L_S, the log-table), one factor per value variable (λ = 0,
μ = V(a)) and one threshold factor per causal mask pair (λ = 0 where l_child ≤ l_parent,
−∞ elsewhere; a mask on a table's own pair is added to that table). Every live factor is
a log-table λ over its token variables and, if it carries the value channel, a *normalised*
message μ over the same variables and the channel (B, n, …, n, C).

Eliminating variable b (the plan's order, :func:`polyth.theory.plan.exact_plan`) combines the
factors that contain it and sums l_b out in the log domain:

    λ'(u) = logsumexp_b Σ_i λ_i(u, b),     μ'(u, c) = Σ_b softmax_b(Σ_i λ_i)(u, b) · Π_i μ_i(u, b, c)

and after the last step the output at the query is the product of the μ left there (their
normalisers are the denominator). Weights are ≤ 1 and |μ| ≤ Π_a max |V(a)|, so no score
range overflows; a row that a mask empties gets λ' = −∞ and μ' = 0 (and zero gradient).

How each step type runs:

* ``tree_message`` and ``contraction``: the joint log-table over the union of the scopes
  (n² for a tree edge, the n^|S| table itself for a hyperedge) and one ``torch.einsum`` of
  the softmax weights with the value messages (a batched matrix product for a tree edge).
* ``matmul``: the two groups meeting in b are exponentiated separately, each shifted by
  its own maximum over b, and multiplied with ``torch.einsum`` (a batched GEMM; value
  messages on either side or on b). A product can underflow when the two maxima sit at
  different b; that is detected (a reachable entry whose sum is below tiny^0.7 of the
  dtype, so that every dropped term is below its rounding error) and the step then runs
  as the joint log-domain table instead.
* ``prefix_sum`` (a causal threshold [l_b ≤ l_p] whose partner p is in no other factor):
  a blocked log-domain scan along b (blocks of about sqrt(n): n^1.5 work per other index
  where the plan's sequential scan has n, and no Python loop over positions). A
  ``prefix_stream`` runs the same way: torch keeps its message over (p, u) and the
  ``stream_read`` step contracts it like any other, so this module holds the n² message the
  numpy engine streams (the memory :func:`memory_entries` prices).

Batches whose largest joint table would exceed ``max_entries`` run in chunks, each under
``torch.utils.checkpoint`` so that the memory kept for the backward pass is one chunk's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
from torch.utils.checkpoint import checkpoint

from polyth.errors import InputError, NumericalError, PolyError
from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import FeatureMap
from polyth.nn.checks import check_budget
from polyth.theory.cost import operation_count
from polyth.theory.factors import CAUSAL_MODES
from polyth.theory.plan import Plan, cached_exact_plan, written_form

MAX_ENTRIES = 2**27  # joint-table entries held at once (0.5 GB in float32) before the batch is chunked
_BATCH, _CHANNEL, _COORD = 0, 50, 51  # einsum sublist labels; token variable a is label a + 1


class Message(NamedTuple):
    """A live factor: exp(log) · value over ``scope`` (sorted positions); None = 0 or 1."""

    scope: tuple[int, ...]
    log: torch.Tensor | None  # (B or 1, n, …, n)
    value: torch.Tensor | None  # (B, n, …, n, C)


# ----------------------------------------------------------------- public entry


def plan_attention(
    m: Mechanism | str,
    Q: Sequence[torch.Tensor],
    V: Mapping,
    causal: str | None = None,
    plan: Plan | None = None,
    max_entries: int = MAX_ENTRIES,
    max_memory: float | None = None,
    max_seconds: float | None = None,
) -> torch.Tensor:
    """Poly-attention of ``m`` by its exact plan in torch operations (differentiable).

    ``Q``: one tensor (…, n, d) per input slot (``m.input_slots``: x1 … xt, or one per
    (monomial, variable) when untied); ``V``: value variable (1-based index or name) →
    (…, n, dv). The leading dims (batch, heads) must agree. Returns (…, n, dv) in the
    inputs' common dtype. ``causal``: None, ``"prefix"`` or ``"nested"``; ``plan``: a plan
    of ``m`` from :func:`polyth.theory.plan.exact_plan` or :func:`polyth.theory.plan.plan_with_order`
    (default: the exact plan, cached). Scale: ``m.scale_for(d)`` (1/d unless set).

    A Taylor similarity is computed in the exact exp form it approximates (as the reference
    does); a feature-map similarity is refused (use :class:`polyth.nn.LinearAttention`).
    Raises :class:`~polyth.InputError` for bad inputs, :class:`~polyth.BudgetError` before
    allocating when :func:`memory_entries` (times the dtype's bytes) exceeds the memory this
    process can still allocate or ``max_memory``, or the plan's operation count at this
    machine's rate exceeds ``max_seconds``, and :class:`~polyth.NumericalError` if a score or
    the output is not finite.
    """
    if isinstance(m, str):
        from polyth.mechanism import zoo

        m = zoo.from_spec(m)
    if not isinstance(m, Mechanism):
        raise InputError(f"expected a polyth Mechanism or a spec string, got {type(m).__name__}")
    if isinstance(m.similarity, FeatureMap):
        raise InputError(
            "a feature-map similarity is linear attention, not softmax: use polyth.nn.LinearAttention"
        )
    plan = resolve_plan(m, causal, plan)
    q, v, lead = _check_inputs(m, Q, V)
    n, d = q[0].shape[-2], q[0].shape[-1]
    scale = m.scale_for(d)
    count = operation_count(plan, n, d, next(iter(v.values())).shape[-1])  # per batch entry
    samples = q[0].shape[0]
    if m.per_channel:  # channel c is its own d = 1 problem: fold it into the batch
        q = [_fold(x) for x in q]
        v = {a: _fold(x) for a, x in v.items()}
    channels = next(iter(v.values())).shape[-1]
    batch = q[0].shape[0]
    per_sample = _entries_per_sample(plan, n, channels)
    chunk = max(1, int(max_entries) // per_sample)
    check_budget(
        f"plan_attention of {m.name or m.polynomial} at {samples} × n = {n:,}, d = {d}, dv = {channels}",
        memory_entries(per_sample, batch, chunk) + sum(x.numel() for x in (*q, *v.values())),
        samples * count.madds,
        samples * count.exps,
        q[0].element_size(),
        max_memory,
        max_seconds,
    )
    run = _Runner(plan, scale, n)
    if chunk >= batch:
        out = run(*q, *v.values())
    else:
        keys = list(v)
        parts = []
        for lo in range(0, batch, chunk):
            part = [x[lo : lo + chunk] for x in (*q, *(v[a] for a in keys))]
            parts.append(checkpoint(run, *part, use_reentrant=False))
        out = torch.cat(parts)
    if not torch.isfinite(out).all():
        raise NumericalError(
            "plan_attention produced a non-finite output: a score overflowed the dtype "
            "(|S| beyond its range) or the product of the value rows did; rescale Q or V, or use float64"
        )
    if m.per_channel:
        out = out.reshape(-1, d, n).transpose(1, 2)
    return out.reshape(*lead, n, out.shape[-1])


# ----------------------------------------------------------------- plans and inputs


def resolve_plan(m: Mechanism, causal: str | None, plan: Plan | None = None) -> Plan:
    """``plan`` checked against ``m`` and ``causal``, or (None) the exact plan, searched once per
    mechanism as written and causal mode."""
    if causal not in CAUSAL_MODES:
        raise InputError(f'causal must be None, "prefix" or "nested", got {causal!r}')
    if plan is None:
        try:
            return cached_exact_plan(m, causal)
        except PolyError as exc:
            raise InputError(str(exc)) from None
    if not isinstance(plan, Plan) or plan.low_rank:
        raise InputError("plan must be an exact polyth.theory.plan.Plan (exact_plan or plan_with_order)")
    if (written_form(plan.mechanism), plan.causal) != (written_form(m), causal):
        raise InputError(
            f"the plan was made for {plan.mechanism!r} with causal={plan.causal!r}, "
            f"not for {m!r} with causal={causal!r}"
        )
    return plan


def _check_inputs(m: Mechanism, Q, V):
    """Q and V flattened to one batch axis (B, n, ·), V keyed by 0-based position; the lead shape."""
    slots = m.input_slots
    if not isinstance(Q, (list, tuple)) or len(Q) != len(slots):
        raise InputError(
            f"Q must be a list of {len(slots)} tensors (…, n, d), one per input slot "
            f"({'untied: per monomial and variable' if m.untied else 'x1 … xt'})"
        )
    if not isinstance(V, Mapping):
        raise InputError("V must be a dict: value variable (1-based index or name) → (…, n, dv) tensor")
    values = {}
    for key, x in V.items():
        if isinstance(key, str) and key in m.variables:
            a = m.variables.index(key)
        elif isinstance(key, int) and not isinstance(key, bool) and 1 <= key <= m.t:
            a = key - 1
        else:
            raise InputError(f"V key {key!r} is not a variable name or a 1-based index 1..{m.t}")
        if a in values:
            raise InputError(f"V gives variable {m.variables[a]} twice")
        values[a] = x
    if set(values) != set(m.values):
        expected = [a + 1 for a in m.values]
        raise InputError(f"V's keys must be exactly the value variables (1-based) {expected}, got {list(V)}")
    tensors = list(Q) + [values[a] for a in m.values]
    for x in tensors:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2:
            raise InputError("every Q and V entry must be a floating-point torch tensor of shape (…, n, ·)")
    shape = Q[0].shape
    if any(x.shape != shape for x in Q):
        raise InputError(f"every Q tensor needs the same shape (…, n, d); got {[tuple(x.shape) for x in Q]}")
    dv = values[m.values[0]].shape[-1]
    for a in m.values:
        if values[a].shape[:-1] != shape[:-1] or values[a].shape[-1] != dv:
            raise InputError(
                f"V[{a + 1}] has shape {tuple(values[a].shape)}; expected {(*shape[:-1], dv)}: Q's leading "
                "dims and n, and one dv for every value (they are multiplied element-wise)"
            )
    n, d = shape[-2], shape[-1]
    if n < 1 or d < 1 or dv < 1:
        raise InputError(f"empty inputs: n = {n}, d = {d}, dv = {dv}")
    if m.per_channel and dv != d:
        raise InputError(f"per-channel mode needs dv = d; got dv = {dv}, d = {d}")
    dtype = tensors[0].dtype
    for x in tensors[1:]:
        dtype = torch.promote_types(dtype, x.dtype)
    lead = tuple(shape[:-2])
    q = [x.to(dtype).reshape(-1, n, d) for x in Q]
    v = {a: values[a].to(dtype).reshape(-1, n, dv) for a in m.values}
    return q, v, lead


def _fold(x: torch.Tensor) -> torch.Tensor:
    b, n, d = x.shape
    return x.transpose(1, 2).reshape(b * d, n, 1)


def memory_entries(per_sample: int, batch: int, chunk: int) -> int:
    """Entries held at the peak: a chunk of ``min(batch, chunk)`` samples of the largest joint
    table with the copies a step keeps (:func:`_entries_per_sample`, which autograd saves from
    the forward pass; chunks run under a checkpoint that keeps only their inputs)."""
    return min(batch, chunk) * per_sample


def _entries_per_sample(plan: Plan, n: int, channels: int) -> int:
    """The largest joint table a step holds per batch entry, times the copies it keeps."""
    scopes = {f.id: f.scope for f in plan.factors}
    channel = {f.id: f.channel for f in plan.factors}
    peak = 1
    for step in plan.steps:
        scopes[step.output.id], channel[step.output.id] = step.output.scope, step.output.channel
        if step.kind == "normalize":
            continue
        if step.kind == "matmul":
            sides = [set().union(*(scopes[i] for i in g)) for g in step.groups]
            size = max(n ** len(s) for s in sides) * (channels + 2) + n ** len(step.output.scope) * channels
        elif step.kind in ("prefix_sum", "prefix_stream"):
            rest = set().union(*(scopes[i] for i in step.inputs)) - {step.partner}
            size = n ** (len(rest) - 1) * (math.isqrt(n) + 2) * (4 + channels)
        else:
            union = set().union(*(scopes[i] for i in step.inputs))
            carriers = sum(channel[i] for i in step.inputs)
            size = n ** len(union) * (4 + (channels if carriers > 1 else 0))
        peak = max(peak, size)
    return peak


# ----------------------------------------------------------------- execution


def _labels(scope, channel: bool = False) -> list[int]:
    return [_BATCH] + [a + 1 for a in scope] + ([_CHANNEL] if channel else [])


def _expand(x: torch.Tensor, scope, union, channel: bool = False) -> torch.Tensor:
    """``x`` over ``scope`` viewed on the axes of ``union`` (size 1 where absent); both sorted."""
    shape = [x.shape[0]] + [x.shape[1 + scope.index(a)] if a in scope else 1 for a in union]
    return x.reshape(shape + ([x.shape[-1]] if channel else []))


def _threshold(pair, scope, n: int, dtype, device) -> torch.Tensor:
    """0 where l_child ≤ l_parent, −∞ elsewhere, over ``scope`` (batch axis of size 1)."""
    child, parent = pair
    index = torch.arange(n, device=device)
    allowed = _expand(index.view(1, n), (child,), scope) <= _expand(index.view(1, n), (parent,), scope)
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(allowed, zero, zero - math.inf)


def _log_sum_exp(joint: torch.Tensor, axis: int):
    """(logsumexp over ``axis``, the shifted exponentials, their sum) for a softmax over ``axis``.

    The softmax weights are ``exps / total`` (divided after the contraction with the values,
    which is n times smaller). The shift is detached (log Σ exp(x − c) + c is exact for any
    constant c); an all-masked row gets log −∞, zero weights and a total of 1, so no NaN
    reaches the backward pass.
    """
    peak = joint.detach().amax(axis, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    exps = torch.exp(joint - peak)
    total = exps.sum(axis, keepdim=True)
    nonempty = total > 0
    safe = torch.where(nonempty, total, torch.ones_like(total))
    log = torch.where(nonempty, torch.log(safe) + peak, -math.inf)
    return log.squeeze(axis), exps, safe.squeeze(axis)


def _scan_mask(size: int, inclusive: bool, like: torch.Tensor) -> torch.Tensor:
    """(size, size) log-mask: 0 where column ≤ row (``inclusive``) or column < row, else −∞."""
    index = torch.arange(size, device=like.device)
    allowed = index[None, :] <= index[:, None] if inclusive else index[None, :] < index[:, None]
    zero = torch.zeros((), dtype=like.dtype, device=like.device)
    return torch.where(allowed, zero, zero - math.inf)


class _Runner:
    """Runs a plan's steps on one batch chunk: ``run(*Q, *V)`` → (B, n, C)."""

    def __init__(self, plan: Plan, scale: float, n: int):
        self.plan, self.scale, self.n = plan, scale, n
        self.m = plan.mechanism
        self.slots = len(self.m.input_slots)
        self.thresholds = {f.id: f.threshold for f in plan.factors if f.kind == "threshold"}

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        Q, V = tensors[: self.slots], dict(zip(self.m.values, tensors[self.slots :]))
        self.batch = Q[0].shape[0]
        live = self.initial(Q, V)
        for step in self.plan.steps:
            inputs = {i: live.pop(i) for i in step.inputs}
            if step.kind == "normalize":
                return self.normalize(list(inputs.values()))
            result = None
            if step.kind == "matmul":
                result = self.matmul(step, inputs)
            elif step.kind in ("prefix_sum", "prefix_stream"):  # torch keeps the message: no stream
                result = self.prefix(step, inputs)
            if result is None:
                result = self.eliminate(list(inputs.values()), step.eliminated)
            live[step.output.id] = result
        raise AssertionError("a plan ends with its normalize step")

    # ------------------------------------------------------------- factors
    def initial(self, Q, V) -> dict[int, Message]:
        m, n = self.m, self.n
        tables = dict(m.support_groups)
        slot = {s: i for i, s in enumerate(m.input_slots)}
        live = {}
        for f in self.plan.factors:
            if f.kind == "scores":
                log = self.score_table(f.scope, tables[f.scope], Q, slot)
                for pair in f.mask:
                    log = log + _threshold(pair, f.scope, n, log.dtype, log.device)
                live[f.id] = Message(f.scope, log, None)
            elif f.kind == "value":
                live[f.id] = Message(f.scope, None, V[f.scope[0]])
            elif f.kind == "threshold":
                mask = _threshold(f.threshold, f.scope, n, Q[0].dtype, Q[0].device)
                live[f.id] = Message(f.scope, mask, None)
            else:
                raise AssertionError(f"an exact plan has no initial {f.kind} factor")
        return live

    def score_table(self, support, monomials, Q, slot) -> torch.Tensor:
        """L_S(l_S) = scale · Σ_j c_j Σ_k Π_{a∈S} Q(j, a)[l_a, k]^p_{j,a}: one einsum over the
        coordinates k of per-variable features (the monomials' blocks side by side)."""
        m = self.m
        operands = []
        for position, a in enumerate(support):
            blocks = []
            for j in monomials:
                mono = m.monomials[j]
                x = Q[slot[(j if m.untied else None, a)]]
                x = x if mono.powers[a] == 1 else x ** mono.powers[a]
                blocks.append(x * (self.scale * mono.value) if position == 0 else x)
            operands += [torch.cat(blocks, -1), [_BATCH, a + 1, _COORD]]
        return torch.einsum(*operands, _labels(support))

    def joint(self, factors, union) -> torch.Tensor:
        """Σ of the factors' log-tables on the axes of ``union``, full size (B, n, …, n)."""
        total = None
        for f in factors:
            if f.log is not None:
                x = _expand(f.log, f.scope, union)
                total = x if total is None else total + x
        shape = (self.batch,) + (self.n,) * len(union)
        if total is None:
            return torch.zeros(shape, dtype=self.dtype(factors), device=self.device(factors))
        return total.expand(shape)

    @staticmethod
    def dtype(factors):
        return next(x for f in factors for x in (f.log, f.value) if x is not None).dtype

    @staticmethod
    def device(factors):
        return next(x for f in factors for x in (f.log, f.value) if x is not None).device

    # ------------------------------------------------------------- steps
    def eliminate(self, factors: list[Message], b: int) -> Message:
        """Sum l_b out of the product of ``factors`` through their joint log-table."""
        union = tuple(sorted(set().union(*(f.scope for f in factors))))
        out = tuple(a for a in union if a != b)
        log, exps, total = _log_sum_exp(self.joint(factors, union), 1 + union.index(b))
        carriers = [f for f in factors if f.value is not None]
        if not carriers:
            return Message(out, log, None)
        if any(f.scope == union for f in carriers):  # no matrix product inside: multiply and sum
            weighted = exps.unsqueeze(-1) * self.values(carriers, union)
            return Message(out, log, weighted.sum(1 + union.index(b)) / total.unsqueeze(-1))
        operands = [exps, _labels(union)]
        for f in carriers:
            operands += [f.value, _labels(f.scope, True)]
        return Message(out, log, torch.einsum(*operands, _labels(out, True)) / total.unsqueeze(-1))

    def matmul(self, step, inputs: dict[int, Message]) -> Message | None:
        """Σ_b exp(A(u1, b)) · exp(B(u2, b)) as a GEMM of max-shifted exponentials, with the
        value messages on either side or on b; None when the shifted product underflows."""
        b = step.eliminated
        group1, group2 = ([inputs[i] for i in g] for g in step.groups)
        grouped = set(step.groups[0]) | set(step.groups[1])
        unary = [f for i, f in inputs.items() if i not in grouped]
        scope1 = tuple(sorted(set().union(*(f.scope for f in group1 + unary))))
        scope2 = tuple(sorted(set().union(*(f.scope for f in group2))))
        out = tuple(sorted((set(scope1) | set(scope2)) - {b}))
        A, B = self.joint(group1 + unary, scope1), self.joint(group2, scope2)
        exps, shifts = [], []
        for table, scope in ((A, scope1), (B, scope2)):
            axis = 1 + scope.index(b)
            peak = table.detach().amax(axis, keepdim=True)
            peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
            exps.append(torch.exp(table - peak))
            rest = tuple(a for a in scope if a != b)
            shifts.append(_expand(peak.squeeze(axis), rest, out))
        total = torch.einsum(exps[0], _labels(scope1), exps[1], _labels(scope2), _labels(out))
        tiny = torch.finfo(total.dtype).tiny ** 0.7
        small = total < tiny
        if small.any():
            if torch.isfinite(A).all() and torch.isfinite(B).all():
                return None
            reach = [torch.isfinite(x).to(total.dtype) for x in (A, B)]
            reachable = torch.einsum(reach[0], _labels(scope1), reach[1], _labels(scope2), _labels(out)) > 0
            if (small & reachable).any():
                return None
        nonempty = total > 0
        safe = torch.where(nonempty, total, torch.ones_like(total))
        log = torch.where(nonempty, torch.log(safe) + shifts[0] + shifts[1], -math.inf)
        sides = [self.values(group1, scope1), self.values(group2, scope2)]
        on_b = self.values(unary, (b,))
        if sides[0] is None and sides[1] is None and on_b is None:
            return Message(out, log, None)
        if on_b is not None:  # onto a side that carries values already (one GEMM operand fewer)
            k = 0 if sides[0] is not None else 1
            scope = (scope1, scope2)[k]
            on_scope = _expand(on_b, (b,), scope, channel=True)
            sides[k] = on_scope if sides[k] is None else sides[k] * on_scope
        operands = []
        for e, value, scope in ((exps[0], sides[0], scope1), (exps[1], sides[1], scope2)):
            operands += [e if value is None else e.unsqueeze(-1) * value, _labels(scope, value is not None)]
        numerator = torch.einsum(*operands, _labels(out, True))
        return Message(out, log, numerator / safe.unsqueeze(-1))

    def prefix(self, step, inputs: dict[int, Message]) -> Message:
        """Σ over l_b ≤ l_p (threshold (b, p)) or l_b ≥ l_p (threshold (p, b)), p in no other factor:
        a blocked scan along b. Blocks of T ≈ sqrt(n) positions: inclusive prefixes inside a
        block (T × T masked), exclusive prefixes of the block totals (K × K masked, K = n / T),
        then one log-domain merge of the two: n·(T + 2) + K² work per other index instead of n²."""
        b, p = step.eliminated, step.partner
        (mask,) = [i for i in inputs if self.thresholds.get(i) in ((b, p), (p, b))]
        rest = [f for i, f in inputs.items() if i != mask]
        union = tuple(sorted(set().union(*(f.scope for f in rest))))
        axis = 1 + union.index(b)
        J = self.joint(rest, union).movedim(axis, -1)  # (B, U…, n_b)
        P = self.values(rest, union)
        if P is not None:
            P = P.movedim(axis, -2).expand(*J.shape, P.shape[-1])  # (B, U…, n_b, C)
        suffix = self.thresholds[mask] == (p, b)
        if suffix:
            J, P = J.flip(-1), (None if P is None else P.flip(-2))
        n = self.n
        T = math.isqrt(n - 1) + 1 if n > 1 else 1
        K = -(-n // T)
        J = torch.nn.functional.pad(J, (0, K * T - n), value=-math.inf).unflatten(-1, (K, T))
        if P is not None:
            P = torch.nn.functional.pad(P, (0, 0, 0, K * T - n)).unflatten(-2, (K, T))
        inside, outside = _scan_mask(T, True, J), _scan_mask(K, False, J)
        log_in, e_in, total_in = _log_sum_exp(J.unsqueeze(-2) + inside, -1)  # (B, U…, K, T)
        log_ex, e_ex, total_ex = _log_sum_exp(log_in[..., -1].unsqueeze(-2) + outside, -1)  # (B, U…, K)
        both = torch.stack([log_ex.unsqueeze(-1).expand_as(log_in), log_in], -1)
        log, e, total = _log_sum_exp(both, -1)
        value = None
        if P is not None:
            mu_in = (e_in @ P) / total_in.unsqueeze(-1)  # (B, U…, K, T, C)
            mu_ex = (e_ex @ mu_in[..., -1, :]) / total_ex.unsqueeze(-1)  # (B, U…, K, C)
            value = (e[..., :1] * mu_ex.unsqueeze(-2) + e[..., 1:] * mu_in) / total.unsqueeze(-1)
            value = value.flatten(-3, -2)[..., :n, :]
        log = log.flatten(-2)[..., :n]
        if suffix:
            log, value = log.flip(-1), (None if value is None else value.flip(-2))
        current = tuple(a for a in union if a != b) + (p,)
        out = tuple(sorted(current))
        order = [0] + [1 + current.index(a) for a in out]
        log = log.permute(order)
        return Message(out, log, None if value is None else value.permute(order + [len(order)]))

    def values(self, factors, scope) -> torch.Tensor | None:
        """The product of the factors' value messages on ``scope`` (None if none carries one)."""
        product = None
        for f in factors:
            if f.value is not None:
                x = _expand(f.value, f.scope, scope, channel=True)
                product = x if product is None else product * x
        return product

    def normalize(self, factors: list[Message]) -> torch.Tensor:
        """The product of the μ left on the query (their normalisers are the denominator)."""
        product = None
        for f in factors:
            if f.value is None:
                continue
            if f.scope not in ((0,), ()):
                raise AssertionError(f"factor on {f.scope} left after elimination")
            x = f.value if f.scope == (0,) else f.value.unsqueeze(1)
            product = x if product is None else product * x
        return product.expand(self.batch, self.n, product.shape[-1])
