"""A small pre-norm transformer over any attention mechanism, for the expressivity experiments.

    h_0 = embed(x) + P[position]                          (learned positional embedding P)
    h_ℓ = h'_ℓ + MLP(LN(h'_ℓ)),  h'_ℓ = h_{ℓ−1} + Attn(LN(h_{ℓ−1}))      ℓ = 1 … layers
    logits = W_head LN(h_L)                               (one classification at every position)

``embed`` is a linear map of the token features (b, n, feature_dim) or, with ``tokens=True``,
an embedding of integer tokens (b, n) from a vocabulary of size ``feature_dim``. The MLP is
dim → mlp_ratio·dim → dim with GELU. Composition tasks read the last position's logits,
Match3 every position's.

Attention: ``mechanism`` a :class:`~polyth.Mechanism` or spec (``"path:3"``, ``"self"``,
``"strassen"``, ``"tensor:3"``) runs :class:`~polyth.poly_attention.PolyAttention` (the exact
plan in torch); ``"torch-self"`` runs :class:`~polyth.poly_attention.TorchSelfAttention`
(torch's fused kernel) with the same parameter layout as ``"self"``. Scales: a mechanism's
own (1/head_dim by default) and torch's 1/sqrt(head_dim) for ``"torch-self"``, unless
``attention_scale`` sets one scale for either. The two self-attention models with the same
scale and state dict compute the same function.
"""

from __future__ import annotations

import torch
from torch import nn

from polyth.errors import InputError
from polyth.mechanism import Mechanism
from polyth.nn.poly_attention import PolyAttention, TorchSelfAttention, as_mechanism

TORCH_SELF = "torch-self"


class Block(nn.Module):
    """One pre-norm residual block: attention, then an MLP."""

    def __init__(self, attention: nn.Module, dim: int, mlp_ratio: int):
        super().__init__()
        self.norm1, self.attention = nn.LayerNorm(dim), attention
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.attention(self.norm1(h))
        return h + self.mlp(self.norm2(h))


class Transformer(nn.Module):
    """Pre-norm transformer with one attention mechanism in every layer; logits at every position.

    ``forward(x)``: x (b, n, feature_dim) float (or (b, n) integer tokens with ``tokens=True``),
    n ≤ ``n_positions`` → (b, n, n_classes).
    """

    def __init__(
        self,
        mechanism: Mechanism | str,
        feature_dim: int,
        dim: int,
        heads: int = 1,
        layers: int = 1,
        n_positions: int = 64,
        n_classes: int = 2,
        causal: str | None = None,
        tokens: bool = False,
        mlp_ratio: int = 4,
        head_dim: int | None = None,
        attention_scale: float | None = None,
    ):
        super().__init__()
        for name, value in (
            ("feature_dim", feature_dim),
            ("dim", dim),
            ("layers", layers),
            ("n_positions", n_positions),
            ("n_classes", n_classes),
            ("mlp_ratio", mlp_ratio),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        self.tokens, self.n_positions = tokens, n_positions
        self.embed = nn.Embedding(feature_dim, dim) if tokens else nn.Linear(feature_dim, dim)
        self.positions = nn.Embedding(n_positions, dim)
        if isinstance(mechanism, str) and mechanism.strip().lower() == TORCH_SELF:

            def attention():
                return TorchSelfAttention(dim, heads, causal, head_dim, scale=attention_scale)

        else:
            m = as_mechanism(mechanism)
            if attention_scale is not None:
                m = m.replace(scale=attention_scale)

            def attention():
                return PolyAttention(m, dim, heads, causal, head_dim)

        self.blocks = nn.ModuleList(Block(attention(), dim, mlp_ratio) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    @property
    def mechanism(self) -> Mechanism:
        """The mechanism every layer computes (with its scale in force for the torch baseline)."""
        return self.blocks[0].attention.mechanism

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.tokens == x.is_floating_point():
            want = "integer tokens (b, n)" if self.tokens else "float features (b, n, feature_dim)"
            raise InputError(f"this model takes {want}, got a {x.dtype} tensor of shape {tuple(x.shape)}")
        n = x.shape[1]
        if n > self.n_positions:
            raise InputError(f"sequence length {n} exceeds n_positions = {self.n_positions}")
        h = self.embed(x) + self.positions.weight[:n]
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))
