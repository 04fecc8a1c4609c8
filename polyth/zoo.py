"""Named attention mechanisms from the literature (DESIGN.md §2).

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
=================  ====================================  ==============================================

:func:`from_spec` turns a command-line spec (``strassen``, ``path:4``,
``tree:1-2,2-3,2-4``) or else a polynomial string into a mechanism.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from polyth.errors import PolyError
from polyth.mechanism import MAX_VARIABLES, Mechanism


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
    ``clique:K``, ``tree:A-B,C-D,…``. Anything else is parsed (never executed) as an
    attention polynomial, e.g. ``"x1*x2 + x2*x3"``. Raises :class:`PolyError` for an
    unknown name, listing the zoo.
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
        raise PolyError(
            f"unknown mechanism {match['name']!r}: give a zoo name ({', '.join(examples())}) "
            "or a polynomial such as 'x1*x2 + x2*x3'"
        )
    argument = entry.argument(name, match["argument"])
    return entry.build() if argument is None else entry.build(argument)
