"""Match3 and Match2 by one layer of 3-tensor, Strassen and self-attention: explicit weights.

Task (:func:`polyth.tasks.match3`, :func:`polyth.tasks.match2`): x ∈ Z_M^n; output i is 1
iff some j, k (any positions) have x_i + x_j + x_k ≡ 0 (mod M) (Match2: some j with
x_i + x_j ≡ 0). Every Q(a) and V(a) below is a table ``W[a] ∈ R^{M×d}`` read at the token's
symbol, i.e. ``onehot(symbol, M) @ W[a]`` (:func:`onehot_features`): a fixed linear map of
the features, constants included (a one-hot sums to 1). All three run with polyth's default
scale 1/d (``scale=None``), the convention of the approximation threshold (Alman & Song:
exp(Q Kᵀ/d) with entries bounded by B), so that B here is the B of that theorem.

**Several frequencies.** With θ = 2π/M and frequencies f_1 … f_L ∈ [1, M), let
g(s) = (1/L) Σ_l cos(θ f_l s). Then g(0) = 1 and, for the frequencies chosen by
:func:`frequencies` (greedy, deterministic per M, about 2·ln M of them), g(s) ≤ 1/2 for every
s ≢ 0 (the gap δ(M) = 1 − max_{s≢0} g(s) ≥ 1/2 is computed exactly over Z_M, see
:func:`frequency_gap`). One frequency would give the gap 1 − cos θ ≈ 2π²/M², and with the
default M = Θ(n²) of Match3 an entry bound polynomial in n; L = O(log M) = O(log n)
frequencies keep d = O(log n) and B = Θ((log n)^(1/k)). cos(θf(a_1 + … + a_k)) is the real
part of Π_a e^{iθf·a_a}: a sum of 2^(k−1) products of one cos or sin per variable
(:func:`phase_tables`; k = 3: cos a cos b cos c − cos a sin b sin c − sin a cos b sin c −
sin a sin b cos c), so Σ_c Π_a T_a[x_a, c] = L·g(x_1 + … + x_k) with 2^(k−1)·L channels and
|T| ≤ 1.

**Readout** (3-tensor and self-attention). Values V(a) = T_a on every variable (the query
x1 included), so the output channels summed and divided by L are
r_i = Σ_{j,k} w_ijk g(x_i + x_j + x_k), the attention-weighted average of g. Predict 1 iff
r_i > 3/4.
If no match exists every term has g ≤ 1/2, so r_i ≤ 1/2. If one exists and the weight off
the matching tuples is ε < 1/8, then r_i ≥ (1 − ε) − ε > 3/4. So accuracy is 100% once
ε < 1/8 for every query, which each construction's B guarantees:

* **3-tensor attention** h = x1x2x3, one head (Sanford, Hsu, Telgarsky 2023: a 3-tensor unit
  solves Match3 with a cos/sin embedding of x_i; here with L frequencies). Q(a) = B·T_a,
  d = 4L: S(i,j,k) = (1/d)·B³·L·g = B³·g(x_i + x_j + x_k)/4. A matching pair (j, k) scores
  B³/4, every other at most B³/8, so ε ≤ n²·exp(−B³/8) < 1/8 once B³ > 8·ln(8n²).
  Default B = (8·(ln(8n²) + 1))^(1/3).
* **self-attention** h = x1x2 on Match2, one head (the pairwise control; the same idea
  with k = 2): d = 2L, S(i,j) = B²·g(x_i + x_j)/2, ε ≤ n·exp(−B²/4) < 1/8 once
  B² > 4·ln(8n). Default B = sqrt(4·(ln(8n) + 1)).
* **Strassen attention** h = x1x2 + x2x3 + x3x1 on Match3, two heads. Kozachinskiy et al.
  2025 show one layer with 2 heads and d = 8 suffices; their weights were not at hand, so
  this two-head split is polyth's own. No pairwise score f(a,b) + g(b,c) + h(c,a) ranks
  every matching (b, c) above every non-matching one for every query symbol a when M ≥ 3:
  with D(s) the sum of g over the anti-diagonal b + c ≡ s, the 2×2 minors at (b, c),
  (b+1, c−1) give 2·D(s) > D(s−1) + D(s+1) for every s, and summing over s gives 0 < 0.
  On integers it can: with ã = (−a) mod M, a + b + c ≡ 0 iff b + c ∈ {ã, ã + M}
  (b + c ≤ 2M − 2), one head per case.
  Head s ∈ {0, 1} scores the quadratic penalty −λ·P, P = (b + c − t_s)², t_s = ã + sM,
  which is 0 on its matches and ≤ −λ elsewhere. Centred (b' = b − (M−1)/2, c' likewise,
  t' = t_s − (M − 1), so b + c − t_s = b' + c' − t'), −P =
  −b'² − c'² − t'² − 2b'c' + 2t'b' + 2t'c' is split over 6 channels, each non-zero on the
  two variables of one monomial only: (t', 2b', 0), (t', 0, 2c'), (0, √2b', −√2c'),
  (0, −2b'²/M, M/2), (0, M/2, −2c'²/M), (−t'²/M, M, 0) for (Q1, Q2, Q3), every entry ≤ M in
  absolute value (|t'| ≤ M). Scaled by B/M: Q entries ≤ B, d = 6 per head, and
  S = −λ·P with λ = (B/M)²/6. The values are the same six terms as products over the three
  variables ((t', 2b', 1), (t', 1, 2c'), (1, b', −2c'), (1, −b'², 1), (1, 1, −c'²),
  (−t'², 1, 1)), so a head's output channels sum to E_w[−P]; predict 1 iff the larger of
  the two heads' sums exceeds −1/2. No match: P ≥ 1 on every tuple, the sum ≤ −1. A match
  in head s: the matching tuple has weight e⁰ against Z ≥ 1, and P·e^{−λP} ≤ e^{−λ} for
  P ≥ 1 once λ ≥ 1, so E_w[P] < n²·e^{−λ} < 1/2 once λ > ln(2n²). Default
  B = M·sqrt(6·(ln(2n²) + 1)): linear in M, so polynomial in n at the default M = Θ(n²)
  (the integers must be resolved one apart on a line of length ≈ 2M); B/M grows like
  sqrt(log n).

Embedding dimensions: 4L(M) (3-tensor), 2L(M) (self), 6 per head (Strassen, values 6 too).
"""

from __future__ import annotations

import functools
import math
from itertools import combinations

import numpy as np

from polyth.errors import InputError
from polyth.mechanism import Mechanism, zoo
from polyth.tasks.constructions.base import Attend, Construction, Footprint
from polyth.tasks.generators import TaskBatch

#: every g(s), s ≢ 0 (mod M), is at most this (the gap δ ≥ 1/2)
SIDE_LOBE = 0.5
#: predict a match iff the attention-weighted average of g exceeds this
READOUT_THRESHOLD = 0.75
#: candidates tried per greedy step of :func:`frequencies`
_CANDIDATES = 64
#: at most this many instances·n^(t−1) score entries per attention call (memory)
_TUPLES_PER_CALL = 1 << 24


@functools.lru_cache(maxsize=64)
def frequencies(M: int) -> tuple[int, ...]:
    """Frequencies f_1 … f_L ∈ [1, M) with max_{s≢0} g(s) ≤ 1/2, g(s) = mean_l cos(2π f_l s / M).

    Greedy and deterministic (seeded by M): each step adds, of 64 random candidates, the one
    that makes the largest side lobe max_{s≢0} g(s) smallest, until it is ≤ :data:`SIDE_LOBE`.
    At most about 2·ln M frequencies (M = 46: 4, M = 3000: 13, M = 20000: 19).
    """
    M = int(M)
    if M < 2:
        raise InputError(f"the modulus M must be at least 2, got {M}")
    rng = np.random.default_rng(M)
    shifts = np.arange(1, M)
    total = np.zeros(M - 1)
    chosen: list[int] = []
    for _ in range(16 * max(1, math.ceil(math.log(M))) + 16):
        candidates = rng.integers(1, M, size=_CANDIDATES)
        lobes = total + np.cos(2 * np.pi * np.outer(candidates, shifts) / M)
        best = int(np.argmin(lobes.max(axis=1)))
        total = lobes[best]
        chosen.append(int(candidates[best]))
        if total.max() <= SIDE_LOBE * len(chosen) + 1e-12:
            return tuple(chosen)
    raise RuntimeError(f"no frequency set with side lobes ≤ {SIDE_LOBE} for M = {M}")  # pragma: no cover


def frequency_gap(M: int) -> float:
    """δ(M) = 1 − max_{s≢0 (mod M)} g(s) for :func:`frequencies` (M): at least 1/2."""
    f = np.array(frequencies(M))
    shifts = np.arange(1, M)
    lobes = np.cos(2 * np.pi * np.outer(shifts, f) / M).mean(axis=1)
    return float(1.0 - lobes.max())


def phase_tables(M: int, k: int) -> list[np.ndarray]:
    """T_1 … T_k, each (M, 2^(k−1)·L): Σ_c Π_a T_a[x_a, c] = Σ_l cos(2π f_l (x_1 + … + x_k) / M).

    Channel (l, S) for each even-sized subset S of the k variables: T_a is sin(θ f_l x) for
    a ∈ S, cos(θ f_l x) otherwise, and T_1 carries the sign (−1)^(|S|/2) (the real part of
    Π_a (cos φ_a + i sin φ_a)). Every entry is at most 1 in absolute value.
    """
    f = np.array(frequencies(M), dtype=np.float64)
    phase = 2 * np.pi * np.outer(np.arange(M), f) / M  # (M, L)
    cos, sin = np.cos(phase), np.sin(phase)
    subsets = [set(s) for size in range(0, k + 1, 2) for s in combinations(range(k), size)]
    tables = []
    for a in range(k):
        blocks = []
        for S in subsets:
            block = sin if a in S else cos
            blocks.append(block * (-1) ** (len(S) // 2) if a == 0 else block)
        tables.append(np.concatenate(blocks, axis=1))
    return tables


def strassen_tables(M: int, head: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(Q tables, V tables) of head ``head`` ∈ {0, 1} of the Strassen Match3 construction.

    Each is (W1, W2, W3), (M, 6). Q: Σ_c (W1[a]W2[b] + W2[b]W3[c] + W3[c]W1[a])[c] =
    −(b + c − t)², t = ((−a) mod M) + head·M, every entry at most M in absolute value;
    V: Σ_c W1[a, c]·W2[b, c]·W3[c, c] = −(b + c − t)² (module docstring).
    """
    centred = np.arange(M, dtype=np.float64) - (M - 1) / 2
    t = (-np.arange(M)) % M + head * M - (M - 1.0)
    zero, one = np.zeros(M), np.ones(M)
    half, root2 = M / 2, math.sqrt(2)
    # channels: 2t'b', 2t'c', −2b'c', −b'², −c'², −t'²
    q1 = np.stack([t, t, zero, zero, zero, -(t**2) / M], axis=1)
    q2 = np.stack([2 * centred, zero, root2 * centred, -(centred**2) / half, half * one, M * one], axis=1)
    q3 = np.stack([zero, 2 * centred, -root2 * centred, half * one, -(centred**2) / half, zero], axis=1)
    v1 = np.stack([t, t, one, one, one, -(t**2)], axis=1)
    v2 = np.stack([2 * centred, one, centred, -(centred**2), one, one], axis=1)
    v3 = np.stack([one, 2 * centred, -2 * centred, one, -(centred**2), one], axis=1)
    return [q1, q2, q3], [v1, v2, v3]


def onehot_features(batch: TaskBatch) -> np.ndarray:
    """(b, n, M) float64: onehot(symbol, M), the match tasks' features; Q(a) = features @ W[a]."""
    return (batch.symbols[..., None] == np.arange(batch.domain)).astype(np.float64)


def _check_batch(batch: TaskBatch, task: str) -> None:
    if batch.task != task:
        raise InputError(f"expected a {task} batch, got {batch.task!r}")


def _read(tables: list[np.ndarray], symbols: np.ndarray, factor: float = 1.0) -> list[np.ndarray]:
    """Each table read at the tokens' symbols (= onehot(symbol) @ table), times ``factor``."""
    return [factor * w[symbols] for w in tables]


def _chunk_size(n: int, arity: int) -> int:
    """Instances per attention call: at most _TUPLES_PER_CALL score entries, at least one."""
    return max(1, _TUPLES_PER_CALL // n ** (arity - 1))


def _chunks(batch: TaskBatch, arity: int):
    """Slices of the batch's instances small enough for one attention call."""
    size = _chunk_size(batch.n, arity)
    for start in range(0, batch.batch, size):
        yield slice(start, min(start + size, batch.batch))


def _average_g(mechanism: Mechanism, Q, symbols, M: int, k: int, attend: Attend) -> np.ndarray:
    """One head: r_i = (1/L)·Σ_c Att[i, c] with V(a) = T_a (the weighted average of g)."""
    values = _read(phase_tables(M, k), symbols)
    V = {a + 1: values[a] for a in range(k)}
    out = attend(mechanism, Q, V)
    return out.sum(axis=-1) / len(frequencies(M))


def _calls(n: int, b: int, arity: int, heads: int, d: int) -> tuple[tuple[int, int, int, int], ...]:
    """The attention calls of a batch: ``heads`` per chunk of :func:`_chunk_size` instances."""
    size = min(b, _chunk_size(n, arity))
    return ((heads * math.ceil(b / size), size, d, d),)


def _phase_footprint(k: int):
    """The :class:`Footprint` of :func:`_phase_forward`: the frequency search (about 3·64·M
    entries at once, L·64·M cosines), the k phase tables (M, 2^(k−1)·L) and the read Q of
    one call, with L ≤ 2·ln M + 2 frequencies (:func:`frequencies`)."""

    def footprint(n: int, M: int, b: int) -> Footprint:
        L = math.ceil(2 * math.log(M)) + 2
        d = 2 ** (k - 1) * L
        calls = _calls(n, b, k, 1, d)
        held = max(3 * _CANDIDATES * M, k * M * d + 3 * M * L) + calls[0][1] * n * d + b * n
        return Footprint(entries=held, calls=calls, exps=L * _CANDIDATES * M)

    return footprint


def _strassen_footprint(n: int, M: int, b: int) -> Footprint:
    """The :class:`Footprint` of the Strassen Match3 forward: two heads' tables (12 of (M, 6)
    and their columns) and one call's read Q, d = dv = 6."""
    calls = _calls(n, b, 3, 2, 6)
    return Footprint(entries=2 * 120 * M + calls[0][1] * n * 6 + 3 * b * n, calls=calls)


def _phase_forward(mechanism: Mechanism, task: str, k: int):
    def forward(batch: TaskBatch, B: float, attend: Attend) -> np.ndarray:
        _check_batch(batch, task)
        M = batch.domain
        tables = phase_tables(M, k)
        predictions = np.empty(batch.symbols.shape, dtype=np.int64)
        for part in _chunks(batch, k):
            symbols = batch.symbols[part]
            r = _average_g(mechanism, _read(tables, symbols, B), symbols, M, k, attend)
            predictions[part] = r > READOUT_THRESHOLD
        return predictions

    return forward


def tensor_match3() -> Construction:
    """One head of 3-tensor attention x1x2x3 solving Match3 (module docstring)."""
    mechanism = zoo.tensor(3).replace(values=[1, 2, 3], scale=None)
    return Construction(
        mechanism=mechanism,
        task="match3",
        heads=1,
        embedding_dim="4·L(M), L(M) ≈ 2·ln M frequencies (values: the same 4·L(M))",
        entry_bound="(8·(ln(8n²) + 1))^(1/3)",
        source="Sanford, Hsu, Telgarsky 2023 (3-tensor attention solves Match3 with a cos/sin "
        "embedding); several frequencies and weights: polyth.tasks.constructions.match",
        bound=lambda n, M: (8.0 * (math.log(8.0 * n * n) + 1.0)) ** (1.0 / 3.0),
        forward=_phase_forward(mechanism, "match3", 3),
        footprint=_phase_footprint(3),
    )


def self_match2() -> Construction:
    """One head of self-attention x1x2 solving Match2, the pairwise control (module docstring)."""
    mechanism = zoo.self_attention().replace(values=[1, 2], scale=None)
    return Construction(
        mechanism=mechanism,
        task="match2",
        heads=1,
        embedding_dim="2·L(M), L(M) ≈ 2·ln M frequencies (values: the same 2·L(M))",
        entry_bound="sqrt(4·(ln(8n) + 1))",
        source="pairwise control of Sanford, Hsu, Telgarsky 2023's Match3 construction "
        "(cos/sin embedding, several frequencies); weights: polyth.tasks.constructions.match",
        bound=lambda n, M: math.sqrt(4.0 * (math.log(8.0 * n) + 1.0)),
        forward=_phase_forward(mechanism, "match2", 2),
        footprint=_phase_footprint(2),
    )


def strassen_match3() -> Construction:
    """Two heads of Strassen attention x1x2 + x2x3 + x3x1 solving Match3 (module docstring)."""
    mechanism = zoo.strassen().replace(values=[1, 2, 3], scale=None)

    def forward(batch: TaskBatch, B: float, attend: Attend) -> np.ndarray:
        _check_batch(batch, "match3")
        M = batch.domain
        heads = [strassen_tables(M, s) for s in (0, 1)]
        predictions = np.empty(batch.symbols.shape, dtype=np.int64)
        for part in _chunks(batch, 3):
            symbols = batch.symbols[part]
            penalties = []
            for q_tables, v_tables in heads:
                V = dict(enumerate(_read(v_tables, symbols), start=1))
                Q = _read(q_tables, symbols, B / M)
                out = attend(mechanism, Q, V)
                penalties.append(out.sum(axis=-1))  # E_w[−(b + c − t_s)²]
            predictions[part] = np.maximum(*penalties) > -0.5
        return predictions

    return Construction(
        mechanism=mechanism,
        task="match3",
        heads=2,
        embedding_dim="6 per head (values: 6)",
        entry_bound="M·sqrt(6·(ln(2n²) + 1))",
        source="Kozachinskiy et al. 2025 (one layer of Strassen attention with 2 heads solves "
        "Match3); this two-head quadratic-penalty split: polyth.tasks.constructions.match",
        bound=lambda n, M: M * math.sqrt(6.0 * (math.log(2.0 * n * n) + 1.0)),
        forward=forward,
        footprint=_strassen_footprint,
    )


REGISTRY = {
    ("tensor:3", "match3"): tensor_match3,
    ("strassen", "match3"): strassen_match3,
    ("self", "match2"): self_match2,
}
