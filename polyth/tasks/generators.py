"""Seeded generators for the polyadic tasks of the expressivity experiments.

Every generator returns a :class:`TaskBatch` of ``b`` independent instances: integer
token attributes (``symbols``, ``index``, ``kind``), the targets, and
:meth:`TaskBatch.features` / :meth:`TaskBatch.torch` for a model's input. A seed is
an int or a :class:`numpy.random.Generator`; the same seed gives the same batch.

Tasks (sources as in docs/design.md §3):

* r-fold **function composition** (Kozachinskiy et al. 2025; the poly-attention
  experiment of Chakrabarti, Pitassi, Alman 2026): r random functions
  f_1, …, f_r : [m] → [m] given as value tables, then the query x; the target is
  f_r(…f_1(x)…), read at the last token. ``n = r·m + 1``.
* **Match3** (Sanford, Hsu, Telgarsky 2023): x ∈ Z_M^n; output i is 1 iff some
  j, k ∈ [n] have x_i + x_j + x_k ≡ 0 (mod M).
* **Match2**, the pairwise control: output i is 1 iff some j ∈ [n] has
  x_i + x_j ≡ 0 (mod M).
* **Binary relation composition** (Kozachinskiy et al. 2025): relations
  A, B ⊆ [m] × [m]; output (i, j) is 1 iff some k has (i, k) ∈ A and (k, j) ∈ B.

All indices are 0-based: [m] = {0, …, m − 1}.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from polyth.errors import InputError

COMPOSE_FORMATS = ("kozachinskiy", "paper")
TASK_NAMES = ("compose:R", "match3", "match2", "relations")


@dataclass(frozen=True)
class TaskBatch:
    """A batch of ``b`` instances of one task, ``n`` tokens each.

    ``symbols`` (b, n): the symbol a token carries (a table entry f_k(j), the query x,
    x_i ∈ Z_M, or a relation cell's code); ``index`` (b, n): the token's position
    inside its table (compose: j, the query token 0; other tasks: the position);
    ``kind`` (b, n): the token type (compose: k − 1 for f_k's table, r for the query
    token; other tasks 0); ``targets``: (b,) for compose, (b, n) 0/1 otherwise;
    ``domain``: m (compose, relations) or M (match tasks); ``kinds``: number of token
    types; ``fmt``: "kozachinskiy" or "paper" (compose), "plain" otherwise.
    """

    task: str
    symbols: np.ndarray
    index: np.ndarray
    kind: np.ndarray
    targets: np.ndarray
    domain: int
    kinds: int
    fmt: str

    @property
    def batch(self) -> int:
        return int(self.symbols.shape[0])

    @property
    def n(self) -> int:
        return int(self.symbols.shape[1])

    def features(self) -> np.ndarray:
        """The model input, (b, n, F) float32, a concatenation of one-hot blocks.

        * compose, ``fmt="paper"``: onehot(symbol, m) ⊕ onehot(index, m) ⊕ onehot(kind, r + 1)
          (F = 2m + r + 1; r = 2, m = 12 is the paper's 25 tokens of width 27);
        * compose, ``fmt="kozachinskiy"``: onehot(symbol, m) ⊕ onehot(kind, r + 1)
          (positions are the model's job);
        * match3 / match2: onehot(symbol, M);
        * relations: onehot(symbol, 4) ⊕ onehot(i, m) ⊕ onehot(j, m) for cell (i, j).
        """
        if self.task == "relations":
            m = self.domain
            blocks = [(self.symbols, 4), (self.index // m, m), (self.index % m, m)]
        elif self.task.startswith("compose:"):
            blocks = [(self.symbols, self.domain)]
            if self.fmt == "paper":
                blocks.append((self.index, self.domain))
            blocks.append((self.kind, self.kinds))
        else:
            blocks = [(self.symbols, self.domain)]
        return np.concatenate([_one_hot(values, size) for values, size in blocks], axis=-1)

    def torch(self, device=None):
        """``(features, targets)`` as torch tensors (float32, int64) on ``device``."""
        import torch  # only here: polyth.tasks must not import torch

        x = torch.as_tensor(self.features(), device=device)
        y = torch.as_tensor(self.targets, dtype=torch.int64, device=device)
        return x, y


def _one_hot(values: np.ndarray, size: int) -> np.ndarray:
    return (values[..., None] == np.arange(size)).astype(np.float32)


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise InputError(
            f"seed must be None, a non-negative integer or a numpy Generator, got {seed!r}"
        ) from None


def _positive(value, what: str, smallest: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < smallest:
        raise InputError(f"{what} must be an integer ≥ {smallest}, got {value!r}")
    return int(value)


def composition(r: int, m: int, batch: int, seed=None, fmt: str = "kozachinskiy") -> TaskBatch:
    """r-fold function composition, ``n = r·m + 1`` tokens, target f_r(…f_1(x)…).

    Each f_k is uniform over all maps [m] → [m], x uniform in [m], independently per
    instance. Token layout (both formats): tokens k·m … k·m + m − 1 hold f_{k+1}'s
    value table in order (token k·m + j: symbol f_{k+1}(j), index j, kind k), then the
    last token holds x (symbol x, index 0, kind r). ``fmt`` only changes
    :meth:`TaskBatch.features`: "kozachinskiy" is the format of Kozachinskiy et al.
    2025 (the value tables in order, then x: symbol ⊕ type), "paper" the
    poly-attention experiment's (Chakrabarti, Pitassi, Alman 2026: one-hot(value) ⊕
    one-hot(index) ⊕ 3-way type flag for r = 2; ``composition(2, 12, b, fmt="paper")``
    has n = 25).
    """
    r = _positive(r, "the number of functions r")
    m = _positive(m, "the domain size m")
    batch = _positive(batch, "batch")
    if fmt not in COMPOSE_FORMATS:
        raise InputError(f"unknown composition format {fmt!r}: use one of {', '.join(COMPOSE_FORMATS)}")
    rng = _rng(seed)
    tables = rng.integers(0, m, size=(batch, r, m), dtype=np.int64)
    x = rng.integers(0, m, size=batch, dtype=np.int64)
    value = x.copy()
    rows = np.arange(batch)
    for k in range(r):
        value = tables[rows, k, value]
    symbols = np.concatenate([tables.reshape(batch, r * m), x[:, None]], axis=1)
    index = np.concatenate([np.tile(np.arange(m), r), [0]]).astype(np.int64)
    kind = np.concatenate([np.repeat(np.arange(r), m), [r]]).astype(np.int64)
    return TaskBatch(
        task=f"compose:{r}",
        symbols=symbols,
        index=np.broadcast_to(index, symbols.shape).copy(),
        kind=np.broadcast_to(kind, symbols.shape).copy(),
        targets=value,
        domain=m,
        kinds=r + 1,
        fmt=fmt,
    )


def _matched(row: np.ndarray, M: int, task: str) -> np.ndarray:
    """(n,) bool: is −x_i a residue x_j (match2) or x_j + x_k (match3) of this row?

    The reachable residues are a dense table of M booleans when M is at most n² (an FFT
    convolution for match3), otherwise a sorted membership test, so a huge M costs no memory.
    """
    needed = (-row) % M  # x_i + s ≡ 0  ⇔  s ≡ −x_i
    sums = row if task == "match2" else (row[:, None] + row[None, :]).ravel() % M
    if M > row.size**2:
        return np.isin(needed, sums)
    reachable = np.zeros(M, dtype=bool)
    if task == "match3":
        size = 1 << (2 * M - 1).bit_length()  # linear convolution, then fold modulo M
        present = np.zeros(size)
        present[row] = 1.0
        convolved = np.fft.irfft(np.fft.rfft(present) ** 2, size)[: 2 * M - 1] > 0.5
        reachable[:] = convolved[:M]
        reachable[: M - 1] |= convolved[M:]
    else:
        reachable[sums] = True
    return reachable[needed]


def match_targets(x: np.ndarray, M: int, task: str) -> np.ndarray:
    """Match3 / Match2 targets (b, n) of residues ``x`` (b, n) modulo ``M``:
    target_i = [−x_i is a residue x_j (match2) or x_j + x_k (match3)]. ``task`` is
    "match3" or "match2"."""
    x = np.asarray(x, dtype=np.int64) % M
    return np.stack([_matched(row, M, task) for row in x]).astype(np.int64)


def _match(task: str, n: int, M: int, batch: int, seed) -> TaskBatch:
    n = _positive(n, "the sequence length n")
    M = _positive(M, "the modulus M", smallest=2)
    batch = _positive(batch, "batch")
    x = _rng(seed).integers(0, M, size=(batch, n), dtype=np.int64)
    targets = match_targets(x, M, task)
    zeros = np.zeros_like(x)
    return TaskBatch(
        task=task,
        symbols=x,
        index=np.broadcast_to(np.arange(n, dtype=np.int64), x.shape).copy(),
        kind=zeros,
        targets=targets,
        domain=M,
        kinds=1,
        fmt="plain",
    )


def match3(n: int, M: int, batch: int, seed=None) -> TaskBatch:
    """Match3 (Sanford, Hsu, Telgarsky 2023): x uniform in Z_M^n.

    target_i = 1 iff there exist j, k ∈ [n] (any: equal to i or to each other
    allowed) with x_i + x_j + x_k ≡ 0 (mod M); targets (b, n) int64. Tokens: symbol
    x_i, index i, kind 0.
    """
    return _match("match3", n, M, batch, seed)


def match2(n: int, M: int, batch: int, seed=None) -> TaskBatch:
    """Match2, the pairwise control: x uniform in Z_M^n.

    target_i = 1 iff some j ∈ [n] (j = i allowed) has x_i + x_j ≡ 0 (mod M); targets
    (b, n) int64. Tokens: symbol x_i, index i, kind 0.
    """
    return _match("match2", n, M, batch, seed)


def relation_composition(m: int, batch: int, seed=None, density: float = 0.5) -> TaskBatch:
    """Binary relation composition (Kozachinskiy et al. 2025), n = m² tokens.

    A, B ⊆ [m] × [m] with each pair in each relation independently with probability
    ``density``. Token i·m + j is the cell (i, j): symbol 2·[(i, j) ∈ A] + [(i, j) ∈ B]
    (in {0, 1, 2, 3}), index i·m + j, kind 0. Target (b, n): 1 at cell (i, j) iff some
    k has (i, k) ∈ A and (k, j) ∈ B (the Boolean matrix product A∘B). ``domain`` is m.
    """
    m = _positive(m, "the relation size m")
    batch = _positive(batch, "batch")
    if not 0.0 <= density <= 1.0:
        raise InputError(f"density must lie in [0, 1], got {density!r}")
    rng = _rng(seed)
    a = rng.random((batch, m, m)) < density
    b = rng.random((batch, m, m)) < density
    composed = np.einsum("bik,bkj->bij", a.astype(np.int64), b.astype(np.int64)) > 0
    symbols = (2 * a + b).astype(np.int64).reshape(batch, m * m)
    return TaskBatch(
        task="relations",
        symbols=symbols,
        index=np.broadcast_to(np.arange(m * m, dtype=np.int64), symbols.shape).copy(),
        kind=np.zeros_like(symbols),
        targets=composed.reshape(batch, m * m).astype(np.int64),
        domain=m,
        kinds=1,
        fmt="plain",
    )


def default_modulus(n: int, task: str) -> int:
    """A modulus M at which about half the targets are 1 at size n.

    Criterion: the heuristic P(target_i = 1) ≈ 1 − exp(−N/M) = 1/2, where N is the number
    of candidate partners: N = n for match2 (j ∈ [n]) and N = n²/2 for match3
    (unordered pairs {j, k}); so M = round(N / ln 2), at least 2.
    """
    n = _positive(n, "the sequence length n")
    if task == "match2":
        partners = n
    elif task == "match3":
        partners = n * n / 2
    else:
        raise InputError(f"default_modulus is for 'match2' or 'match3', got {task!r}")
    return max(2, round(partners / math.log(2)))


def domain_of(task: str, n: int) -> int:
    """The domain of ``task``'s instances at sequence length ``n`` (compose:R: m = (n − 1) / R,
    which must be a positive integer; match3 / match2: M = :func:`default_modulus`; relations:
    m = √n, n a square), checked without drawing an instance."""
    n = _positive(n, "the sequence length n")
    compose = re.fullmatch(r"compose:(\d+)", str(task).strip())
    if compose:
        r = _positive(int(compose.group(1)), "R in compose:R")
        if (n - 1) % r or n - 1 < r:
            raise InputError(f"compose:{r} needs n = {r}·m + 1 tokens; n = {n} is not of that form")
        return (n - 1) // r
    if task in ("match3", "match2"):
        return default_modulus(n, task)
    if task == "relations":
        m = math.isqrt(n)
        if m * m != n:
            raise InputError(f"relations needs n = m² tokens; n = {n} is not a square")
        return m
    raise InputError(f"unknown task {task!r}: use one of {', '.join(TASK_NAMES)}")


def generation_entries(task: str, n: int, batch: int) -> int:
    """8-byte entries held at the peak of :func:`generate` (``task``, ``n``, ``batch``): the
    batch's four (b, n) arrays and their temporaries; Match3 adds one row's pair sums (n², when
    M > n²) or its FFT convolution (about 16·M), Match2 a table of M booleans."""
    domain = domain_of(task, n)
    entries = 6 * batch * n
    if task == "match3":
        entries += 3 * n * n if domain > n * n else 16 * domain
    elif task == "match2":
        entries += domain // 8 + n
    return entries


def generate(task: str, n: int, batch: int, seed=None) -> TaskBatch:
    """A batch of ``task`` at sequence length ``n``: compose:R (format "kozachinskiy"), match3,
    match2 or relations, over the domain :func:`domain_of` gives."""
    domain = domain_of(task, n)
    compose = re.fullmatch(r"compose:(\d+)", str(task).strip())
    if compose:
        return composition(int(compose.group(1)), domain, batch, seed)
    if task in ("match3", "match2"):
        make = match3 if task == "match3" else match2
        return make(n, domain, batch, seed)
    return relation_composition(domain, batch, seed)
