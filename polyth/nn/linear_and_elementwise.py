"""Torch modules with autograd: :class:`LinearAttention` and :class:`ElementwiseAttention`.

Torch is an optional extra (``pip install polyth[torch]``): this module imports it, and
``import polyth`` never imports this module.

Linear attention (Katharopoulos et al. 2020), φ = elu + 1:

    out_i = φ(q_i)ᵀ S_i / (φ(q_i)ᵀ z_i + eps),  S_i = Σ_{j ∈ J(i)} φ(k_j) v_jᵀ,  z_i = Σ_{j ∈ J(i)} φ(k_j).

The causal numerator N_i = Σ_{j ≤ i} (φq_i·φk_j) v_j is :class:`CausalDotProduct`, whose
forward and backward passes sweep the sequence in chunks of T rows keeping one d × dv
state, and save only their inputs: the memory beyond the O(n·(d + dv)) inputs and
outputs is O(T² + T·(d + dv) + d·dv), flat in n. The gradients are the paper's
cumulative sums (its eqs. 13–15), with g_i = ∂L/∂N_i:

    ∂L/∂φq_i = Σ_{j ≤ i} φk_j (v_j · g_i)           (a forward sweep, state S = Σ φk vᵀ)
    ∂L/∂φk_j = Σ_{i ≥ j} φq_i (g_i · v_j)           (a backward sweep, state R = Σ φq gᵀ)
    ∂L/∂v_j  = Σ_{i ≥ j} (φq_i · φk_j) g_i

Element-wise attention (Feng 2025) per channel: the Taylor form of order t
(exp(−k²) exact, exp(2qk) expanded, moments by cumulative sums: O(t·n·D)) or the
exact per-channel softmax of −(q − k)² (O(n²·D), for comparison).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from polyth import limits
from polyth.errors import InputError
from polyth.nn.checks import (
    allocator_refusals,
    check_budget,
    check_layer_input,
    flag,
    heads_and_width,
    positive_float,
    positive_int,
)

CHUNK = 64


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = elu(x) + 1 > 0 (Katharopoulos et al. 2020)."""
    return F.elu(x) + 1


class CausalDotProduct(torch.autograd.Function):
    """N_i = Σ_{j ≤ i} (a_i · b_j) v_j for a, b (…, n, d), v (…, n, dv), in chunks; memory flat in n."""

    @staticmethod
    def forward(ctx, a, b, v, chunk: int = CHUNK):
        ctx.save_for_backward(a, b, v)
        ctx.chunk = chunk
        n = a.shape[-2]
        out = torch.empty(*a.shape[:-1], v.shape[-1], dtype=a.dtype, device=a.device)
        state = a.new_zeros(*a.shape[:-2], a.shape[-1], v.shape[-1])
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            ac, bc, vc = a[..., lo:hi, :], b[..., lo:hi, :], v[..., lo:hi, :]
            inside = torch.tril(ac @ bc.transpose(-1, -2))
            out[..., lo:hi, :] = inside @ vc + ac @ state
            state = state + bc.transpose(-1, -2) @ vc
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, v = ctx.saved_tensors
        chunk = ctx.chunk
        n = a.shape[-2]
        grad = grad.contiguous()
        grad_a, grad_b, grad_v = torch.empty_like(a), torch.empty_like(b), torch.empty_like(v)
        state = a.new_zeros(*a.shape[:-2], a.shape[-1], v.shape[-1])  # S = Σ_{j < chunk} b_j v_jᵀ
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            bc, vc, gc = b[..., lo:hi, :], v[..., lo:hi, :], grad[..., lo:hi, :]
            grad_a[..., lo:hi, :] = torch.tril(gc @ vc.transpose(-1, -2)) @ bc + gc @ state.transpose(-1, -2)
            state = state + bc.transpose(-1, -2) @ vc
        state = a.new_zeros(*a.shape[:-2], a.shape[-1], v.shape[-1])  # R = Σ_{i > chunk} a_i g_iᵀ
        for hi in range(n, 0, -chunk):
            lo = max(0, hi - chunk)
            ac, bc, vc, gc = a[..., lo:hi, :], b[..., lo:hi, :], v[..., lo:hi, :], grad[..., lo:hi, :]
            grad_b[..., lo:hi, :] = torch.triu(vc @ gc.transpose(-1, -2)) @ ac + vc @ state.transpose(-1, -2)
            grad_v[..., lo:hi, :] = torch.triu(bc @ ac.transpose(-1, -2)) @ gc + bc @ state
            state = state + ac.transpose(-1, -2) @ gc
        return grad_a, grad_b, grad_v, None


def linear_attention(
    q, k, v, causal: bool = False, eps: float = 1e-6, chunk: int = CHUNK, max_memory=None, max_seconds=None
):
    """Linear attention of q, k (…, n, d) and v (…, n, dv) with φ = elu + 1, differentiable.

    Priced before it runs (:class:`polyth.BudgetError` above the free memory, ``max_memory`` or
    ``max_seconds``): φ(q), φ(k), the numerator, the normaliser and the output, O(n·(d + dv))
    entries, and about 2·n·d·dv multiply-adds."""
    _check(q, k, v, "linear_attention")
    rows, d, dv = q.numel() // q.shape[-1], q.shape[-1], v.shape[-1]
    check_budget(
        f"linear attention at {rows:,} positions, d = {d}, dv = {dv}",
        rows * (2 * d + 3 * dv + 2),
        2 * rows * d * (dv + 1),
        0,
        q.element_size(),
        max_memory,
        max_seconds,
    )
    with allocator_refusals():
        phi_q, phi_k = elu_feature_map(q), elu_feature_map(k)
        if causal:
            num = CausalDotProduct.apply(phi_q, phi_k, v, chunk)
            den = (phi_q * torch.cumsum(phi_k, dim=-2)).sum(-1, keepdim=True)
        else:
            num = phi_q @ (phi_k.transpose(-1, -2) @ v)
            den = phi_q @ phi_k.sum(-2, keepdim=True).transpose(-1, -2)
        return num / (den + eps)


def elementwise_attention(
    q, k, v, order: int | None = 6, causal: bool = False, max_memory=None, max_seconds=None
):
    """Element-wise attention of q, k, v (…, n, D), differentiable.

    ``order`` t: the Taylor form Σ_p a_p q^p M_p / Σ_p a_p q^p N_p (a_p = 2^p/p!, moments
    M_p = Σ_j e^{−k_j² + s} k_j^p v_j over J(i), shifted by s = min k² per channel), O(t·n·D).
    ``order=None``: the exact per-channel softmax of −(q_i − k_j)², O(n²·D). Priced before it
    runs (:class:`polyth.BudgetError` above the free memory, ``max_memory`` or ``max_seconds``):
    the Taylor form holds four (…, n, D, t + 1) tensors, the exact form three (…, n, n, D).
    """
    _check(q, k, v, "elementwise_attention")
    if v.shape != q.shape:
        raise InputError(f"element-wise attention is per channel: v must have q's shape {tuple(q.shape)}")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int) or order < 0):
        raise InputError(f"order must be a non-negative integer or None (exact), got {order!r}")
    n, entries = q.shape[-2], q.numel()
    per_entry = 3 * n if order is None else 4 * (order + 1)
    check_budget(
        f"element-wise attention (order {order}) at n = {n:,}, {entries // n:,} channels",
        entries * (per_entry + 4),
        entries * per_entry,
        entries * (n if order is None else 1),
        q.element_size(),
        max_memory,
        max_seconds,
    )
    with allocator_refusals():
        return _elementwise(q, k, v, order, causal, n)


def _elementwise(q, k, v, order, causal, n):
    if order is None:
        scores = -((q.unsqueeze(-2) - k.unsqueeze(-3)) ** 2)  # (…, i, j, D)
        if causal:
            mask = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
            scores = scores.masked_fill(mask.unsqueeze(-1), -math.inf)
        return (torch.softmax(scores, dim=-2) * v.unsqueeze(-3)).sum(-2)
    k2 = k * k
    shift = k2.detach().amin(dim=-2, keepdim=True)
    weight = torch.exp(shift - k2)
    powers = torch.stack([k**p for p in range(order + 1)], dim=-1)  # (…, n, D, t+1)
    N = weight.unsqueeze(-1) * powers
    M = N * v.unsqueeze(-1)
    if causal:
        N, M = torch.cumsum(N, dim=-3), torch.cumsum(M, dim=-3)
    else:
        N, M = N.sum(-3, keepdim=True), M.sum(-3, keepdim=True)
    coef = torch.tensor(
        [2.0**p / math.factorial(p) for p in range(order + 1)], dtype=q.dtype, device=q.device
    )
    qp = torch.stack([q**p for p in range(order + 1)], dim=-1) * coef
    return (qp * M).sum(-1) / (qp * N).sum(-1)


def _check(q, k, v, what: str) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise InputError(f"{what}: {name} must be a floating-point torch tensor")
    if q.shape != k.shape or q.ndim < 2 or v.shape[:-1] != q.shape[:-1]:
        raise InputError(
            f"{what} needs q, k (…, n, d) and v (…, n, dv); got {tuple(q.shape)}, {tuple(k.shape)}, "
            f"{tuple(v.shape)}"
        )


class LinearAttention(nn.Module):
    """Linear attention with projections: out = W_o · LinearAttn(W_q x, W_k x, W_v x), per head.

    x (…, n, dim) → (…, n, dim); ``heads`` heads of size dim // heads; ``causal`` uses the
    memory-flat backward (:class:`CausalDotProduct`). ``max_memory``/``max_seconds``: a forward
    pass predicted above them (or above the free memory) is refused (:func:`linear_attention`).
    """

    def __init__(
        self,
        dim: int,
        heads: int = 1,
        causal: bool = False,
        eps: float = 1e-6,
        chunk: int = CHUNK,
        max_memory: float | None = None,
        max_seconds: float | None = None,
    ):
        super().__init__()
        heads_and_width(dim, heads)
        self.dim, self.heads, self.causal = dim, heads, flag("causal", causal)
        self.eps, self.chunk = positive_float("eps", eps), positive_int("chunk", chunk)
        limits.check_limits(max_memory, max_seconds)
        self.max_memory, self.max_seconds = max_memory, max_seconds
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_layer_input(x, self.dim, self.out.weight)
        with allocator_refusals():
            q, k, v = (_split(t, self.heads) for t in self.qkv(x).chunk(3, dim=-1))
            y = linear_attention(
                q,
                k,
                v,
                self.causal,
                self.eps,
                self.chunk,
                max_memory=self.max_memory,
                max_seconds=self.max_seconds,
            )
            return self.out(_merge(y))


class ElementwiseAttention(nn.Module):
    """Element-wise attention with projections (Feng 2025): x (…, n, dim) → (…, n, dim).

    ``order``: Taylor order t (even keeps every weight positive; ``None`` = the exact softmax
    form). ``max_memory``/``max_seconds``: as for :func:`elementwise_attention`.
    """

    def __init__(
        self,
        dim: int,
        order: int | None = 6,
        causal: bool = False,
        max_memory: float | None = None,
        max_seconds: float | None = None,
    ):
        super().__init__()
        self.dim = positive_int("dim", dim)
        if order is not None:
            if isinstance(order, bool) or not isinstance(order, int) or order < 0:
                raise InputError(f"order must be a non-negative integer or None (exact), got {order!r}")
            if order % 2:
                raise InputError(
                    f"Taylor order {order} is odd: a denominator can reach zero; use an even order"
                )
        self.order, self.causal = order, flag("causal", causal)
        limits.check_limits(max_memory, max_seconds)
        self.max_memory, self.max_seconds = max_memory, max_seconds
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_layer_input(x, self.dim, self.out.weight)
        with allocator_refusals():
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            y = elementwise_attention(
                q, k, v, self.order, self.causal, max_memory=self.max_memory, max_seconds=self.max_seconds
            )
            return self.out(y)


def _split(x: torch.Tensor, heads: int) -> torch.Tensor:
    return x.unflatten(-1, (heads, x.shape[-1] // heads)).transpose(-2, -3)


def _merge(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(-2, -3).flatten(-2)


def saved_bytes(fn, *args) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of ``fn(*args)``: the memory
    a training step holds between its forward and backward passes."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return total
