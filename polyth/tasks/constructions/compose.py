"""Function composition by one head of path or Strassen attention: explicit weights.

Task (:func:`polyth.tasks.composition`): tokens 0 … r·m − 1 hold the tables of
f_1, …, f_r (token (k−1)·m + j: symbol f_k(j), index j, kind k − 1), the last token
holds x (kind r); the answer, read at the last token, is f_r(…f_1(x)…).

Constructions (Chakrabarti, Pitassi, Alman 2026 for the path; Kozachinskiy et al.
2025 for Strassen attention), both run with scale 1 (``Mechanism.replace(scale=1)``),
so a score is S(l) = Σ_c h(Q(1)[l1,c], …, Q(t)[lt,c]) with no 1/d:

* **path** h = x1x2 + x2x3 + … + x_r·x_{r+1} (``zoo.path(r + 1)``), r-fold composition.
  The query x1 is the last token. For each edge (a, a+1), a = 1 … r, the channels
  carry two terms of the edge's monomial:

  - *match* (m channels): Q(a) = B·onehot(symbol), Q(a+1) = B·onehot(index): the
    term is B²·[symbol(l_a) = index(l_{a+1})];
  - *kind* (1 channel): Q(a) = B (the constant feature), Q(a+1) = B·[kind = a − 1]:
    the term is B²·[l_{a+1} lies in f_a's table].

  Embedding dimension d = r·(m + 1) = n − 1 + r.
* **Strassen** h = x1x2 + x2x3 + x3x1 (``zoo.strassen()``), 2-fold composition: the
  edge x1x2 carries match(1→2) and kind(2 in f_1's table), x2x3 carries match(2→3),
  and x3x1 carries kind(3 in f_2's table) (Q(1) = B, Q(3) = B·[kind = 1]).
  d = 2m + 2 = n + 1.

Every channel is nonzero on the two variables of one monomial only, so each
monomial sees just its own terms. Each Q(a) is ``features @ W[a]`` with the fixed
matrix W[a] of :func:`path_weights` / :func:`strassen_weights` on the features
one-hot(symbol, m) ⊕ one-hot(index, m) ⊕ one-hot(kind, r + 1) ⊕ 1
(:func:`token_features`); every entry is 0 or B. Values: V(t) = onehot(symbol(l_t))
on the last variable, V = 1 on the other value variables (they leave the product
unchanged); the readout is the argmax of the output at the last token.

**Why B = sqrt(r·ln n + 1) suffices (100% accuracy).** A tuple l = (l1 = last token,
l2, …) scores B² times the number of its 2r indicator terms that hold. All 2r hold
exactly on the chain l* (l2 the f_1 token of index x, l3 the f_2 token of index
f_1(x), …): by induction each match + kind pair pins l_{a+1} given l_a. So every
other tuple scores at most S(l*) − B², and the softmax weight off l* is at most
W/(1 + W) with W = (n^r − 1)·exp(−B²). The output at the last token is
(1 − ε)·onehot(answer) + (a vector of mass ε), so argmax is right once ε < 1/2,
i.e. W < 1, i.e. B² > ln(n^r − 1). The default B = sqrt(r·ln n + 1) gives
W < e^{−1} (margin 1 in B²). Strassen (r = 2 tables, n² tuples) has the same bound.
The needed B grows like sqrt(log n), the almost-linear-approximation threshold of a
degree-2 mechanism (docs/design.md §3).
"""

from __future__ import annotations

import math

import numpy as np

from polyth.errors import InputError
from polyth.mechanism import Mechanism, zoo
from polyth.tasks.constructions.base import Attend, Construction, Footprint
from polyth.tasks.generators import TaskBatch

#: r for which the path construction is registered (any r ≥ 1 works; r = 1 is self-attention
#: reading f_1(x) off the table, and these are the r of ``polyth tasks predict``)
PATH_FOLDS = (1, 2, 3, 4)


def token_features(batch: TaskBatch) -> np.ndarray:
    """(b, n, 2m + r + 2) float64: onehot(symbol, m) ⊕ onehot(index, m) ⊕ onehot(kind, r + 1) ⊕ 1."""
    m, kinds = batch.domain, batch.kinds
    blocks = [
        batch.symbols[..., None] == np.arange(m),
        batch.index[..., None] == np.arange(m),
        batch.kind[..., None] == np.arange(kinds),
        np.ones(batch.symbols.shape + (1,), dtype=bool),
    ]
    return np.concatenate(blocks, axis=-1).astype(np.float64)


class _Layout:
    """Rows of the feature vector and a growing list of channels for the W matrices."""

    def __init__(self, t: int, r: int, m: int, B: float):
        self.m, self.B = m, B
        self.symbol = np.arange(m)
        self.index = m + np.arange(m)
        self.kind = 2 * m + np.arange(r + 1)
        self.one = 2 * m + r + 1
        self.columns: list[list[tuple[int, int]]] = [[] for _ in range(t)]  # per variable: (row, channel)
        self.d = 0

    def match(self, source: int, target: int) -> None:
        """m channels: B²·[symbol(l_source) = index(l_target)] (0-based variables)."""
        for c in range(self.m):
            self.columns[source].append((self.symbol[c], self.d + c))
            self.columns[target].append((self.index[c], self.d + c))
        self.d += self.m

    def kind_is(self, constant: int, flagged: int, kind: int) -> None:
        """One channel: B²·[kind(l_flagged) = kind], the constant feature on ``constant``."""
        self.columns[constant].append((self.one, self.d))
        self.columns[flagged].append((self.kind[kind], self.d))
        self.d += 1

    def weights(self) -> list[np.ndarray]:
        features = self.one + 1
        out = []
        for entries in self.columns:
            w = np.zeros((features, self.d))
            for row, channel in entries:
                w[row, channel] = self.B
            out.append(w)
        return out


def path_weights(r: int, m: int, B: float) -> list[np.ndarray]:
    """W[a] (a = 0 … r, for x1 … x_{r+1}), each (2m + r + 2, r·(m + 1)): Q(a) = features @ W[a]."""
    layout = _Layout(r + 1, r, m, B)
    for a in range(r):
        layout.match(a, a + 1)
        layout.kind_is(a, a + 1, kind=a)
    return layout.weights()


def strassen_weights(m: int, B: float) -> list[np.ndarray]:
    """W[0], W[1], W[2] for x1, x2, x3, each (2m + 4, 2m + 2): Strassen, 2-fold composition."""
    layout = _Layout(3, 2, m, B)
    layout.match(0, 1)
    layout.kind_is(0, 1, kind=0)
    layout.match(1, 2)
    layout.kind_is(0, 2, kind=1)  # on the x3·x1 monomial
    return layout.weights()


def _check_batch(batch: TaskBatch, r: int) -> None:
    if batch.task != f"compose:{r}" or batch.kinds != r + 1:
        raise InputError(f"expected a compose:{r} batch, got {batch.task!r}")


def run_heads(
    mechanism: Mechanism, weights: list[np.ndarray], batch: TaskBatch, attend: Attend
) -> np.ndarray:
    """One head: Q(a) = features @ W[a], V on the last variable; argmax at the last token."""
    features = token_features(batch)
    Q = [features @ w for w in weights]
    ones = np.ones((batch.batch, batch.n, batch.domain))
    symbol = (batch.symbols[..., None] == np.arange(batch.domain)).astype(np.float64)
    t = mechanism.t
    V = {a + 1: (symbol if a == t - 1 else ones) for a in mechanism.values}
    out = attend(mechanism, Q, V)
    return np.argmax(out[:, -1, :], axis=-1).astype(np.int64)


def compose_footprint(t: int, r: int, channels):
    """The :class:`Footprint` of :func:`run_heads` for t variables and r tables, Q(a) of
    ``channels(m)`` channels: the features (b, n, 2m + r + 2) with their boolean blocks, the t
    weight matrices, and one attention call with values of width m."""

    def footprint(n: int, m: int, b: int) -> Footprint:
        width, d = 2 * m + r + 2, channels(m)
        return Footprint(
            entries=(5 * b * n * width) // 4 + t * width * d + b * n * m // 8, calls=((1, b, d, m),)
        )

    return footprint


def compose_bound(r: int):
    """B(n) = sqrt(r·ln n + 1): the stated entry bound for r tables."""
    return lambda n, domain: math.sqrt(r * math.log(n) + 1.0)


def path_composition(r: int) -> Construction:
    """One head of path attention x1x2 + … + x_r·x_{r+1} solving r-fold composition."""
    mechanism = zoo.path(r + 1).replace(scale=1.0)

    def forward(batch: TaskBatch, B: float, attend: Attend) -> np.ndarray:
        _check_batch(batch, r)
        return run_heads(mechanism, path_weights(r, batch.domain, B), batch, attend)

    return Construction(
        mechanism=mechanism,
        task=f"compose:{r}",
        heads=1,
        embedding_dim=f"{r}·(m + 1) = n + {r - 1}" if r > 1 else "m + 1 = n",
        entry_bound=f"sqrt({r}·ln n + 1)",
        source="Chakrabarti, Pitassi, Alman 2026 (path attention performs r-fold composition); "
        "weights: polyth.tasks.constructions.compose",
        bound=compose_bound(r),
        forward=forward,
        footprint=compose_footprint(r + 1, r, lambda m: r * (m + 1)),
    )


def strassen_composition() -> Construction:
    """One head of Strassen attention x1x2 + x2x3 + x3x1 solving 2-fold composition."""
    mechanism = zoo.strassen().replace(scale=1.0)

    def forward(batch: TaskBatch, B: float, attend: Attend) -> np.ndarray:
        _check_batch(batch, 2)
        return run_heads(mechanism, strassen_weights(batch.domain, B), batch, attend)

    return Construction(
        mechanism=mechanism,
        task="compose:2",
        heads=1,
        embedding_dim="2m + 2 = n + 1",
        entry_bound="sqrt(2·ln n + 1)",
        source="Kozachinskiy et al. 2025 (Strassen attention composes two functions); "
        "weights: polyth.tasks.constructions.compose",
        bound=compose_bound(2),
        forward=forward,
        footprint=compose_footprint(3, 2, lambda m: 2 * m + 2),
    )


REGISTRY = {
    **{(f"path:{r + 1}", f"compose:{r}"): (lambda r=r: path_composition(r)) for r in PATH_FOLDS},
    ("strassen", "compose:2"): strassen_composition,
}
