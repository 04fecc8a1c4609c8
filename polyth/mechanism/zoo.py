"""Named attention mechanisms from the literature (docs/design.md §2).

Each builder returns a named :class:`~polyth.Mechanism` whose attention polynomial
is the one of its source paper, with x1 the query:

=================  ====================================  ==============================================
builder            h                                     source
=================  ====================================  ==============================================
self_attention()   x1·x2                                 Vaswani et al. 2017
tensor(k)          x1·x2·…·xk                            Sanford, Hsu, Telgarsky 2023; Alman & Song 2024
strassen()         x1·x2 + x2·x3 + x3·x1                 Kozachinskiy et al. 2025
path(t)            x1·x2 + x2·x3 + … + x(t-1)·xt         Chakrabarti, Pitassi, Alman 2026
star(k)            x1·x2 + x1·x3 + … + x1·xk             Chakrabarti, Pitassi, Alman 2026
tree(edges)        Σ over the tree's edges xa·xb         Chakrabarti, Pitassi, Alman 2026
cycle(k)           x1·x2 + … + x(k-1)·xk + xk·x1         for exploration
clique(k)          Σ over all pairs a < b of xa·xb       for exploration
linear()           x1·x2, sim = φ(q)·φ(k), φ = elu + 1   Katharopoulos et al. 2020
elementwise(t)     −(x1 − x2)², per channel, Taylor t    Feng 2025
=================  ====================================  ==============================================

:func:`from_spec` turns a command-line spec (``strassen``, ``path:4``,
``tree:1-2,2-3,2-4``) or else a polynomial string into a mechanism.
"""

from __future__ import annotations

import difflib
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from polyth.errors import PolyError
from polyth.mechanism import MAX_VARIABLES, Mechanism
from polyth.mechanism.similarity import FEATURE_MAPS, FeatureMap, Taylor


def _size(value, what: str, smallest: int) -> int:
    """``value`` as an integer in ``smallest … MAX_VARIABLES``, else a PolyError naming ``what``."""
    if isinstance(value, bool):
        raise PolyError(f"{what} must be an integer, got {value!r}")
    try:
        size = operator.index(value)
    except TypeError:
        raise PolyError(f"{what} must be an integer, got {value!r}") from None
    if not smallest <= size <= MAX_VARIABLES:
        raise PolyError(f"{what} must be between {smallest} and {MAX_VARIABLES}, got {size}")
    return size


def self_attention() -> Mechanism:
    """Self-attention, ``h = x1·x2`` (Vaswani et al. 2017): softmax(Q K^T / d) V."""
    return Mechanism.from_hypergraph([(1, 2)], name="self-attention")


def tensor(k: int = 3) -> Mechanism:
    """k-tensor attention, ``h = x1·x2·…·xk``: one monomial of degree k.

    Sanford, Hsu, Telgarsky 2023 (3-tensor attention solves Match3); Alman & Song 2024
    (its complexity and approximation threshold). ``k ≥ 2``; ``tensor(2)`` is self-attention.
    """
    k = _size(k, "the tensor order k", 2)
    return Mechanism.from_hypergraph([tuple(range(1, k + 1))], name=f"tensor({k})")


def strassen() -> Mechanism:
    """Strassen attention, ``h = x1·x2 + x2·x3 + x3·x1`` (Kozachinskiy et al. 2025).

    Exact time n^(ω+o(1)): summing out x2 and x3 is a matrix product.
    """
    return Mechanism.from_hypergraph([(1, 2), (2, 3), (3, 1)], name="strassen")


def path(t: int = 3) -> Mechanism:
    """Path attention, ``h = x1·x2 + x2·x3 + … + x(t-1)·xt`` (Chakrabarti, Pitassi, Alman 2026).

    A tree polynomial on ``t ≥ 2`` variables: quadratic time, and with one head it
    performs (t−1)-fold function composition. ``path(2)`` is self-attention.
    """
    t = _size(t, "the number of path variables t", 2)
    return Mechanism.from_hypergraph([(a, a + 1) for a in range(1, t)], name=f"path({t})")


def star(k: int = 3) -> Mechanism:
    """Star attention, ``h = x1·x2 + x1·x3 + … + x1·xk`` (Chakrabarti, Pitassi, Alman 2026).

    The tree of depth 1 with the query at its centre, ``k ≥ 2`` variables.
    """
    k = _size(k, "the number of star variables k", 2)
    return Mechanism.from_hypergraph([(1, a) for a in range(2, k + 1)], name=f"star({k})")


def tree(edges: Iterable[Sequence[int]]) -> Mechanism:
    """Tree attention, ``h = Σ_{(a,b) ∈ edges} xa·xb`` (Chakrabarti, Pitassi, Alman 2026).

    ``edges`` are pairs of 1-based variable indices forming a tree that contains the
    query 1, e.g. ``[(1, 2), (2, 3), (2, 4)]``. Tree polynomials are exactly the
    mechanisms computable in quadratic time.
    """
    try:
        pairs = [tuple(edge) for edge in edges]
    except TypeError:
        raise PolyError("tree edges must be pairs of variable indices, e.g. [(1, 2), (2, 3)]") from None
    for edge in pairs:
        if len(edge) != 2:
            raise PolyError(f"tree edge {edge} must join exactly two variables, e.g. (1, 2)")
    label = ",".join(f"{a}-{b}" for a, b in pairs)
    m = Mechanism.from_hypergraph(pairs, name=f"tree({label})")
    if len(set(map(frozenset, pairs))) != len(pairs) or not (m.is_tree and m.is_connected):
        raise PolyError(
            f"edges {label} do not form a tree: it must be connected and without cycles or repeated "
            "edges; use Mechanism.from_hypergraph for other graphs"
        )
    return m


def cycle(k: int = 4) -> Mechanism:
    """Cycle attention, ``h = x1·x2 + … + x(k-1)·xk + xk·x1`` on ``k ≥ 3`` variables (exploration).

    ``cycle(3)`` is Strassen attention; longer cycles are the simplest non-tree graphs.
    """
    k = _size(k, "the cycle length k", 3)
    return Mechanism.from_hypergraph([(a, a % k + 1) for a in range(1, k + 1)], name=f"cycle({k})")


def clique(k: int = 4) -> Mechanism:
    """Clique attention, ``h = Σ_{1 ≤ a < b ≤ k} xa·xb`` on ``k ≥ 2`` variables (exploration).

    ``clique(3)`` is Strassen attention.
    """
    k = _size(k, "the clique size k", 2)
    return Mechanism.from_hypergraph(list(itertools.combinations(range(1, k + 1), 2)), name=f"clique({k})")


def linear(feature_map: str = "elu+1", eps: float = 1e-6) -> Mechanism:
    """Linear attention (Katharopoulos et al. 2020): h = x1·x2 with sim(q, k) = φ(q)·φ(k).

    out_i = Σ_j φ(q_i)·φ(k_j) v_j / (Σ_j φ(q_i)·φ(k_j) + eps); ``feature_map`` names φ
    (``"elu+1"``, the paper's; :data:`polyth.similarity.FEATURE_MAPS` lists the known maps).
    The score table is exactly a rank-d factor, so the exact cost is O(n·d·dv) and the causal
    form is a recurrence with an O(d·dv) state.
    """
    return Mechanism.from_hypergraph(
        [(1, 2)], name=f"linear({feature_map})", similarity=FeatureMap(feature_map, eps)
    )


def elementwise(order: int = 6, allow_odd: bool = False) -> Mechanism:
    """Element-wise attention (Feng 2025): per channel c, weight exp(−(q_c − k_c)²), scale 1.

    exp(−(q − k)²) = exp(−q²) · exp(2qk) · exp(−k²): exp(−q²) cancels in the normalisation,
    exp(−k²) stays exact and the approximate form expands exp(2qk) to Taylor order ``order``
    (rank order + 1 per channel: O(t·n·D) time, O(t·D) per decoded token). Odd orders can make
    a denominator zero and need ``allow_odd=True``. The exact form (method="exact") is the
    per-channel softmax.
    """
    similarity = Taylor(_size_order(order), allow_odd=allow_odd)
    return Mechanism.from_polynomial(
        "-(x1 - x2)**2", per_channel=True, scale=1, name=f"elementwise({order})", similarity=similarity
    )


def _size_order(order) -> int:
    if isinstance(order, bool):
        raise PolyError(f"the Taylor order must be a positive integer, got {order!r}")
    try:
        return operator.index(order)
    except TypeError:
        raise PolyError(f"the Taylor order must be a positive integer, got {order!r}") from None


# ------------------------------------------------------------------ specs
def _no_argument(name: str, text: str | None) -> None:
    if text is not None:
        raise PolyError(f"zoo mechanism {name!r} takes no argument; write just {name}")


def _integer_argument(name: str, text: str | None) -> int:
    if text is None or not re.fullmatch(r"\s*[0-9]{1,3}\s*", text):
        raise PolyError(f"zoo mechanism {name!r} needs an integer size, as in {name}:4")
    return int(text)


def _edges_argument(name: str, text: str | None) -> list[tuple[int, int]]:
    pair = r"\s*[0-9]{1,3}\s*-\s*[0-9]{1,3}\s*"
    if text is None or not re.fullmatch(rf"{pair}(,{pair})*", text):
        raise PolyError(f"zoo mechanism {name!r} needs its edges, as in {name}:1-2,2-3,2-4")
    return [tuple(int(v) for v in edge.split("-")) for edge in text.split(",")]


def _feature_map_argument(name: str, text: str | None) -> str | None:
    if text is None:
        return None
    if text.strip() not in FEATURE_MAPS:
        raise PolyError(
            f"zoo mechanism {name!r} takes a feature map ({', '.join(FEATURE_MAPS)}), as in {name}:elu+1"
        )
    return text.strip()


@dataclass(frozen=True)
class ZooEntry:
    """A zoo name: how to build it, how to read its argument, an example spec, its source."""

    build: Callable[..., Mechanism]
    argument: Callable[[str, str | None], object]
    example: str
    source: str


_TREES = "Chakrabarti, Pitassi, Alman 2026"
ZOO: dict[str, ZooEntry] = {
    "self": ZooEntry(self_attention, _no_argument, "self", "Vaswani et al. 2017"),
    "tensor": ZooEntry(
        tensor, _integer_argument, "tensor:3", "Sanford, Hsu, Telgarsky 2023; Alman & Song 2024"
    ),
    "strassen": ZooEntry(strassen, _no_argument, "strassen", "Kozachinskiy et al. 2025"),
    "path": ZooEntry(path, _integer_argument, "path:4", _TREES),
    "star": ZooEntry(star, _integer_argument, "star:5", _TREES),
    "tree": ZooEntry(tree, _edges_argument, "tree:1-2,2-3,2-4", _TREES),
    "cycle": ZooEntry(cycle, _integer_argument, "cycle:5", "for exploration"),
    "clique": ZooEntry(clique, _integer_argument, "clique:4", "for exploration"),
    "linear": ZooEntry(linear, _feature_map_argument, "linear", "Katharopoulos et al. 2020"),
    "elementwise": ZooEntry(elementwise, _integer_argument, "elementwise:6", "Feng 2025"),
}

_ZOO_SPEC = re.compile(r"(?P<name>[A-Za-z][A-Za-z_-]*)(?::(?P<argument>.*))?\Z", re.DOTALL)


def names() -> list[str]:
    """The zoo names that :func:`from_spec` accepts (``self``, ``strassen``, ``path``, …)."""
    return list(ZOO)


def examples() -> list[str]:
    """One example spec per zoo name (``self``, ``tensor:3``, ``path:4``, …)."""
    return [entry.example for entry in ZOO.values()]


def source(spec: str) -> str | None:
    """The source of a zoo spec (``"path:4"`` → Chakrabarti, Pitassi, Alman 2026); None otherwise."""
    match = _ZOO_SPEC.match(spec.strip()) if isinstance(spec, str) else None
    entry = ZOO.get(match["name"].lower()) if match else None
    return entry.source if entry else None


def from_spec(spec: str) -> Mechanism:
    """The mechanism a spec names: a zoo name with its argument, or else a polynomial.

    Zoo specs: ``self``, ``strassen``, ``tensor:K``, ``path:T``, ``star:K``, ``cycle:K``,
    ``clique:K``, ``tree:A-B,C-D,…``, ``linear`` (or ``linear:elu+1``), ``elementwise:T``.
    Anything else is parsed (never executed) as an attention polynomial, e.g.
    ``"x1*x2 + x2*x3"``. Raises :class:`PolyError` for an unknown name, listing the zoo.
    """
    if not isinstance(spec, str):
        raise PolyError(f"a mechanism spec is text, got {type(spec).__name__}")
    text = spec.strip()
    match = _ZOO_SPEC.match(text)
    if match is None:
        return Mechanism.from_polynomial(text)
    name = match["name"].lower()
    entry = ZOO.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(ZOO), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PolyError(
            f"unknown mechanism {match['name']!r}{hint}: give a zoo name ({', '.join(examples())}) "
            "or a polynomial such as 'x1*x2 + x2*x3'"
        )
    argument = entry.argument(name, match["argument"])
    return entry.build() if argument is None else entry.build(argument)
