"""Attention layers with projections: :class:`PolyAttention` (any mechanism) and
:class:`TorchSelfAttention` (self-attention through torch's fused kernel, the same parameters).

Both map x (…, n, dim) → (…, n, dim). Per head h and input slot s (``m.input_slots``:
x1 … xt, or one per (monomial, variable) when untied) a linear map gives
Q(s)_h = x W_s,h ∈ R^{n × head_dim}; per value variable a, V(a)_h = x W_a,h; the heads'
outputs ``polyth.torch_plan.plan_attention(m, Q_h, V_h)`` are concatenated and projected
back to dim. The weights live in three fused linear layers, laid out (slot, head, coordinate):

    slots: dim → |slots| · heads · head_dim      values: dim → |values| · heads · head_dim
    out:   heads · head_dim → dim

Scale convention: a mechanism's own scale, 1/d by default (docs/design.md §1, d = head_dim);
torch's ``scaled_dot_product_attention`` uses 1/sqrt(d). :class:`TorchSelfAttention` takes
``scale`` (None = torch's 1/sqrt(d)); with equal scales and the same state dict it computes
the same function as ``PolyAttention(zoo.self_attention().replace(scale=...))``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from polyth import limits
from polyth.errors import InputError
from polyth.mechanism import Mechanism, zoo
from polyth.nn.checks import (
    allocator_refusals,
    check_budget,
    check_layer_input,
    flag,
    heads_and_width,
    positive_float,
)
from polyth.nn.elimination import plan_attention, resolve_plan


def as_mechanism(mechanism) -> Mechanism:
    """A Mechanism, or the one a spec string names (:func:`polyth.zoo.from_spec`)."""
    if isinstance(mechanism, str):
        return zoo.from_spec(mechanism)
    if not isinstance(mechanism, Mechanism):
        raise InputError(
            f"mechanism must be a polyth Mechanism or a spec string, got {type(mechanism).__name__}"
        )
    return mechanism


class PolyAttention(nn.Module):
    """Multi-head poly-attention of any mechanism, by its exact plan (:mod:`polyth.torch_plan`).

    ``mechanism``: a :class:`~polyth.Mechanism` or a spec (``"path:3"``, ``"strassen"``, a
    polynomial). ``values``: value variables (1-based or names) replacing the mechanism's.
    ``causal``: None, ``"prefix"`` or ``"nested"``. ``bias``: biases in the three linear maps.
    ``max_memory`` (bytes) and ``max_seconds``: a forward pass predicted above them, or above the
    memory this process can still allocate, is refused (:func:`polyth.nn.elimination.plan_attention`).
    """

    def __init__(
        self,
        mechanism: Mechanism | str,
        dim: int,
        heads: int = 1,
        causal: str | None = None,
        head_dim: int | None = None,
        values=None,
        bias: bool = False,
        max_memory: float | None = None,
        max_seconds: float | None = None,
    ):
        super().__init__()
        m = as_mechanism(mechanism)
        if values is not None:
            m = m.replace(values=values)
        self.mechanism, self.causal = m, causal
        self.plan = resolve_plan(m, causal, None)
        self.heads, self.head_dim = heads, heads_and_width(dim, heads, head_dim)
        self.dim = dim
        flag("bias", bias)
        limits.check_limits(max_memory, max_seconds)
        self.max_memory, self.max_seconds = max_memory, max_seconds
        inner = heads * self.head_dim
        self.slots = nn.Linear(dim, len(m.input_slots) * inner, bias=bias)
        self.values = nn.Linear(dim, len(m.values) * inner, bias=bias)
        self.out = nn.Linear(inner, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_layer_input(x, self.dim, self.out.weight)
        m = self.mechanism
        with allocator_refusals():
            Q = _per_head(self.slots(x), len(m.input_slots), self.heads)
            V = _per_head(self.values(x), len(m.values), self.heads)
            y = plan_attention(
                m,
                Q,
                {a + 1: v for a, v in zip(m.values, V)},
                self.causal,
                plan=self.plan,
                max_memory=self.max_memory,
                max_seconds=self.max_seconds,
            )
            return self.out(y.transpose(-2, -3).flatten(-2))

    def extra_repr(self) -> str:
        return f"mechanism={self.mechanism.polynomial}, heads={self.heads}, causal={self.causal!r}"


class TorchSelfAttention(nn.Module):
    """Self-attention with :func:`torch.nn.functional.scaled_dot_product_attention` and
    :class:`PolyAttention`'s parameter layout (slots = query x1 and key x2, value on x2).

    ``scale``: None uses torch's 1/sqrt(head_dim); polyth's default for self-attention is
    1/head_dim. ``causal``: None or ``"prefix"`` (``"nested"`` is the same mask for x1·x2).
    ``max_memory``/``max_seconds`` as for :class:`PolyAttention` (torch's fused kernel streams
    the keys: O(n·dim) memory, n²·head_dim·heads multiply-adds).
    """

    def __init__(
        self,
        dim: int,
        heads: int = 1,
        causal: str | None = None,
        head_dim: int | None = None,
        bias: bool = False,
        scale: float | None = None,
        max_memory: float | None = None,
        max_seconds: float | None = None,
    ):
        super().__init__()
        if causal not in (None, "prefix", "nested"):
            raise InputError(f'causal must be None, "prefix" or "nested", got {causal!r}')
        self.heads, self.head_dim = heads, heads_and_width(dim, heads, head_dim)
        self.dim, self.causal, self.scale = dim, causal, scale
        flag("bias", bias)
        if scale is not None:
            positive_float("scale", scale)
        limits.check_limits(max_memory, max_seconds)
        self.max_memory, self.max_seconds = max_memory, max_seconds
        effective = 1 / math.sqrt(self.head_dim) if scale is None else float(scale)
        self.mechanism = zoo.self_attention().replace(scale=effective)
        inner = heads * self.head_dim
        self.slots = nn.Linear(dim, 2 * inner, bias=bias)
        self.values = nn.Linear(dim, inner, bias=bias)
        self.out = nn.Linear(inner, dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_layer_input(x, self.dim, self.out.weight)
        n, inner = x.shape[-2], self.heads * self.head_dim
        rows = x.numel() // self.dim
        check_budget(
            f"TorchSelfAttention at {rows // n} × n = {n:,}, {self.heads} heads of {self.head_dim}",
            rows * (2 * self.dim + 5 * inner),
            (rows // n) * self.heads * n * n * 2 * self.head_dim,
            (rows // n) * self.heads * n * n,
            x.element_size(),
            self.max_memory,
            self.max_seconds,
        )
        with allocator_refusals():
            q, k = _per_head(self.slots(x), 2, self.heads)
            (v,) = _per_head(self.values(x), 1, self.heads)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal is not None, scale=self.scale)
            return self.out(y.transpose(-2, -3).flatten(-2))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, scale={self.mechanism.scale:.4g}, causal={self.causal!r}"


def _per_head(y: torch.Tensor, parts: int, heads: int) -> list[torch.Tensor]:
    """(…, n, parts · heads · hd) → ``parts`` tensors (…, heads, n, hd)."""
    y = y.unflatten(-1, (parts, heads, -1)).movedim(-3, 0)
    return list(y.transpose(-2, -3).unbind(0))
