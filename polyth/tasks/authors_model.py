"""The model of the poly-attention authors' experiment, re-implemented from reading their code.

Chakrabarti, Pitassi, Alman 2026 publish their composition experiment in the repository
sayaksc/tree_attention_simple (commit 0f9f6727): ``src/tree_att_nan_seed.py`` (tree attention),
``src/transformer_seed.py`` (self-attention), ``src/train_vocab_seed.py`` (the wrapper and the
loop), ``model/training_config.yaml``. What they compute, for d_model = d = 8, one head
(d_h = d), token features of width 27 (:mod:`polyth.tasks.authors_protocol`):

    h_0 = x E + PE                        E ∈ ℝ^{27×d}, PE the sinusoidal encoding (sin even, cos odd)
    h_ℓ = LN₂(u + FFN(u)),  u = LN₁(h_{ℓ−1} + Attn(h_{ℓ−1}))          (post-norm, ℓ = 1 … L)
    p   = softmax(min(h_L W + b, 50))     W ∈ ℝ^{d×27}; "the output probabilities as the code computes them"

The code writes p = exp(z − max z) / max(Σ exp(z − max z), 10⁻¹⁰) with z the logits capped at 50;
the sum is ≥ 1 (its largest term is e⁰), so the floor never acts and p is the softmax of the
capped logits. Attention, with Q_a = h W_a + b_a and V_a = h U_a + c_a (d × d maps with biases):

* **tree** (tree_att_nan_seed.py): s12 = clamp(Q1 Q2ᵀ / (2√d_h), ±20), s23 = clamp(Q2 Q3ᵀ / (2√d_h), ±20),
  out_i = V2[i] ⊙ Σ_{j,k} e^{s12[i,j] + s23[j,k]} V3[k] / max(Σ_{j,k} e^{s12[i,j] + s23[j,k]}, 10⁻⁹).
  The first value is read at the query position i. FFN: d → 1024 → d with LeakyReLU (slope 0.01).
* **self** (transformer_seed.py): softmax(Q Kᵀ / √d_h) V; FFN d → 1024 → d with ReLU.

**Where polyth computes the same function.** Without the clamp and the floor, the tree is the
mechanism x1·x2 + x2·x3 with values {x1, x3} and scale 1/(2√d_h) (docs/design.md §1), and the
self-attention is x1·x2 at scale 1/√d_h: polyth's :func:`polyth.nn.elimination.plan_attention`
runs both. A tree batch whose pairwise scores all lie in [−20, 20] and whose denominators are
all ≥ 10⁻⁹ (forward value and gradient equal the code's there) runs through polyth; any other
batch runs the code's clamped arithmetic (:func:`clamped_tree_attention`), and the layer counts
those calls (``clamped_calls``). ``semantics="definition-2.2"`` swaps in polyth's Definition 2.2
(values on the summed positions x2, x3 for the tree, x2 for self; scale 1/d_h; no clamp) and
keeps everything else, parameters and initialisation included, so that only the semantics differ.

**Initialisation**, as the authors' files draw it: tree projections N(0, 0.01²) except W_Q2
~ U(−0.01, 0.01), FFN weights N(0, 0.01²); self-attention and its FFN Xavier-uniform; all
biases 0; E and W ~ N(0, 0.02²) from generators seeded seed + 1000 and seed + 1001. The
authors' config has no ``seed`` key, so their layers are drawn from torch's unseeded global
generator: the same weights for every run seed (torch's default seed, 67280421310721, in a
fresh process). Here the layers come from a generator seeded with that number, layer after
layer; the draws are not bit-identical to theirs (the order of draws differs).

    >>> model = authors_model("tree-1L", seed=61)
    >>> model(torch.zeros(2, 25, 27)).shape
    torch.Size([2, 25, 27])
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from polyth.errors import InputError
from polyth.mechanism import Mechanism, zoo
from polyth.nn.elimination import plan_attention, resolve_plan

SEMANTICS = ("authors", "definition-2.2")
ARCHITECTURES = {"tree-1L": ("tree", 1), "self-1L": ("self", 1), "self-2L": ("self", 2)}
D_MODEL, D_FF, VOCAB = 8, 1024, 27  # model/training_config.yaml; 27 = 3 kinds + 12 values + 12 positions
SCORE_CLAMP = 20.0  # |pairwise score| bound of the tree code
DENOMINATOR_FLOOR = 1e-9  # the tree code's floor on the normaliser
LOGIT_CAP = 50.0  # train_vocab_seed.py caps the logits from above
LAYER_INIT_SEED = 67280421310721  # torch's default seed: the authors' layers are drawn unseeded
FFN_CHUNK_ROWS = 800  # rows per FFN chunk (800 · 1024 floats = 3.2 MB of activations)


def attention_mechanism(kind: str, semantics: str, head_dim: int) -> Mechanism:
    """The polyth mechanism an attention layer computes (for the tree under the authors'
    semantics: when the clamp and the floor are inactive)."""
    if semantics not in SEMANTICS:
        raise InputError(f"semantics must be one of {', '.join(SEMANTICS)}, got {semantics!r}")
    if kind == "tree":
        if semantics == "authors":
            return Mechanism.from_polynomial(
                "x1*x2 + x2*x3", values=("x1", "x3"), scale=1 / (2 * math.sqrt(head_dim)), name="tree (code)"
            )
        return zoo.path(3)
    if kind == "self":
        m = zoo.self_attention()
        return m.replace(scale=1 / math.sqrt(head_dim)) if semantics == "authors" else m
    raise InputError(f"attention kind must be 'tree' or 'self', got {kind!r}")


def clamped_tree_attention(Q1, Q2, Q3, V1, V3, scale: float) -> torch.Tensor:
    """The tree code's arithmetic: clamped pairwise scores, the first value at the query, the floor.

    out_i = V1[i] ⊙ Σ_{j,k} e^{s12[i,j] + s23[j,k]} V3[k] / max(Σ_{j,k} e^{s12[i,j] + s23[j,k]}, 10⁻⁹),
    s12 = clamp(scale · Q1 Q2ᵀ, ±20), s23 = clamp(scale · Q2 Q3ᵀ, ±20); tensors (…, n, d).
    """
    e12 = torch.exp((scale * Q1 @ Q2.transpose(-2, -1)).clamp(-SCORE_CLAMP, SCORE_CLAMP))
    e23 = torch.exp((scale * Q2 @ Q3.transpose(-2, -1)).clamp(-SCORE_CLAMP, SCORE_CLAMP))
    denominator = (e12 @ e23.sum(-1, keepdim=True)).clamp(min=DENOMINATOR_FLOOR)
    return V1 * (e12 @ (e23 @ V3)) / denominator


class AuthorsAttention(nn.Module):
    """One head of tree or self-attention with the authors' projections (d × d, with biases).

    ``mechanism`` is what polyth runs (:func:`attention_mechanism`); for the tree under the
    authors' semantics a batch that the clamp or the floor would change runs
    :func:`clamped_tree_attention` instead and ``clamped_calls`` counts it.
    """

    def __init__(self, kind: str, semantics: str, dim: int):
        super().__init__()
        self.kind, self.semantics = kind, semantics
        self.mechanism = attention_mechanism(kind, semantics, dim)
        self.plan = resolve_plan(self.mechanism, None)
        self.heads, self.head_dim, self.causal = 1, dim, None
        self.slots = nn.ModuleList(nn.Linear(dim, dim) for _ in self.mechanism.input_slots)
        self.values = nn.ModuleList(nn.Linear(dim, dim) for _ in self.mechanism.values)
        self.clamped_calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        Q = [proj(x) for proj in self.slots]
        V = [proj(x) for proj in self.values]
        if self.kind == "tree" and self.semantics == "authors" and self._clamp_acts(*Q):
            self.clamped_calls += 1
            return clamped_tree_attention(*Q, V[0], V[1], self.mechanism.scale_for(self.head_dim))
        V_by_variable = {a + 1: v for a, v in zip(self.mechanism.values, V)}
        return plan_attention(self.mechanism, Q, V_by_variable, plan=self.plan)

    def _clamp_acts(self, Q1, Q2, Q3) -> bool:
        """Would the clamp or the floor change this batch (a score beyond ±20, a sum below 10⁻⁹)?"""
        with torch.no_grad():
            scale = self.mechanism.scale_for(self.head_dim)
            s12 = scale * Q1 @ Q2.transpose(-2, -1)
            s23 = scale * Q2 @ Q3.transpose(-2, -1)
            if s12.abs().amax() > SCORE_CLAMP or s23.abs().amax() > SCORE_CLAMP:
                return True
            inner = torch.logsumexp(s23, -1)  # log Σ_k e^{s23[j,k]}
            return bool(torch.logsumexp(s12 + inner.unsqueeze(-2), -1).amin() < math.log(DENOMINATOR_FLOOR))

    def extra_repr(self) -> str:
        return f"{self.kind}, semantics={self.semantics}, mechanism={self.mechanism!r}"


class AuthorsLayer(nn.Module):
    """Post-norm layer: u = LN₁(h + Attn(h)), out = LN₂(u + FFN(u))."""

    def __init__(self, kind: str, semantics: str, dim: int, d_ff: int):
        super().__init__()
        self.attention = AuthorsAttention(kind, semantics, dim)
        activation = nn.LeakyReLU() if kind == "tree" else nn.ReLU()
        self.ffn = nn.Sequential(nn.Linear(dim, d_ff), activation, nn.Linear(d_ff, dim))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, h: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """``last_only``: the output at the last position alone (the attention still reads every key)."""
        u = h + self.attention(h)
        u = self.norm1(u[..., -1:, :] if last_only else u)
        return self.norm2(u + self._feed_forward(u))

    def _feed_forward(self, u: torch.Tensor) -> torch.Tensor:
        """The FFN; under autograd on many rows, in chunks recomputed in the backward pass
        (torch.utils.checkpoint), so that the d_ff-wide activations of a chunk stay in cache
        instead of b·n·d_ff of them going through memory (the same function and gradient)."""
        rows = u.shape[:-1].numel()
        if not torch.is_grad_enabled() or rows <= FFN_CHUNK_ROWS:
            return self.ffn(u)
        flat = u.reshape(rows, -1)
        parts = [checkpoint(self.ffn, part, use_reentrant=False) for part in flat.split(FFN_CHUNK_ROWS)]
        return torch.cat(parts).reshape(u.shape)


def sinusoidal_encoding(n: int, dim: int) -> torch.Tensor:
    """PE[p, 2i] = sin(p · 10000^{−2i/dim}), PE[p, 2i+1] = cos(p · 10000^{−2i/dim}); (n, dim), dim even."""
    position = torch.arange(n, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(n, dim)
    pe[:, 0::2] = torch.sin(position * frequency)
    pe[:, 1::2] = torch.cos(position * frequency)
    return pe


class AuthorsModel(nn.Module):
    """Features (b, n, 27) → output probabilities (b, n, 27), the authors' wrapper around L layers.

    ``last_only``: compute the output at the last position alone, (b, 1, 27). The loss reads
    nothing else, so the loss and its gradient are the same functions: the last layer's
    residual, layer norms and FFN and the readout skip the other positions (the code computes
    them and discards them), which removes most of the work of a one-layer model.
    """

    def __init__(
        self,
        kind: str,
        layers: int,
        semantics: str,
        n: int,
        dim: int = D_MODEL,
        d_ff: int = D_FF,
        last_only: bool = False,
    ):
        super().__init__()
        self.last_only = last_only
        if dim % 2:
            raise InputError(f"the sinusoidal encoding needs an even d_model, got {dim}")
        self.embed = nn.Linear(VOCAB, dim, bias=False)  # x E, as a map so that its work is counted
        self.register_buffer("positions", sinusoidal_encoding(n, dim), persistent=False)
        self.layers = nn.ModuleList(AuthorsLayer(kind, semantics, dim, d_ff) for _ in range(layers))
        self.readout = nn.Linear(dim, VOCAB)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.positions[: x.shape[-2]]
        for i, layer in enumerate(self.layers):
            h = layer(h, last_only=self.last_only and i == len(self.layers) - 1)
        return torch.softmax(self.readout(h).clamp(max=LOGIT_CAP), dim=-1)

    @property
    def clamped_calls(self) -> int:
        """Forward calls in which the tree's clamp or floor was active (all layers)."""
        return sum(layer.attention.clamped_calls for layer in self.layers)


def _initialise_layer(layer: AuthorsLayer, kind: str, generator: torch.Generator) -> None:
    linears = [*layer.attention.slots, *layer.attention.values, layer.ffn[0], layer.ffn[2]]
    with torch.no_grad():
        for i, linear in enumerate(linears):
            if kind == "self":
                nn.init.xavier_uniform_(linear.weight, generator=generator)
            elif i == 1:  # W_Q2 of the tree code
                nn.init.uniform_(linear.weight, -0.01, 0.01, generator=generator)
            else:
                nn.init.normal_(linear.weight, 0.0, 0.01, generator=generator)
            nn.init.zeros_(linear.bias)


def authors_model(
    name: str, seed: int, semantics: str = "authors", n: int = 25, last_only: bool = False
) -> AuthorsModel:
    """The model ``name`` (tree-1L, self-1L, self-2L) initialised as the authors' code does for
    ``seed``; ``last_only``: see :class:`AuthorsModel`."""
    if name not in ARCHITECTURES:
        raise InputError(
            f"unknown model {name!r} for the authors' protocol: choose one of {', '.join(ARCHITECTURES)}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    kind, layers = ARCHITECTURES[name]
    model = AuthorsModel(kind, layers, semantics, n, last_only=last_only)
    layer_stream = torch.Generator().manual_seed(LAYER_INIT_SEED)
    for layer in model.layers:
        _initialise_layer(layer, kind, layer_stream)
    with torch.no_grad():
        embedding = torch.empty(VOCAB, model.embed.out_features)  # the code's (27, d) embedding table
        nn.init.normal_(embedding, 0.0, 0.02, generator=torch.Generator().manual_seed(seed + 1000))
        model.embed.weight.copy_(embedding.T)
        nn.init.normal_(model.readout.weight, 0.0, 0.02, generator=torch.Generator().manual_seed(seed + 1001))
        nn.init.zeros_(model.readout.bias)
    return model


def binary_cross_entropy_loss(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The code's loss: binary cross-entropy of the last position's 27 probabilities against
    one-hot(target), averaged over the batch and the 27 entries (torch bounds each log below by −100)."""
    last = probabilities[:, -1, :]
    return F.binary_cross_entropy(last, F.one_hot(targets, last.shape[-1]).to(last.dtype))
