"""Every small mechanism of the paper's class, once per isomorphism class (docs/design.md §9).

A **family** (t, e) holds the multilinear mechanisms with coefficients 1 on exactly t
variables whose monomials (hyperedges) have size 2 … e and whose largest hyperedge has size
exactly e: (t, 2) are the graphs on t vertices, (t, 3) the hypergraphs with at least one
3-edge. Every variable lies on some hyperedge (a mechanism has no unused variable), the query
x1 included. Two hypergraphs are one mechanism when a renaming of x2 … xt maps one onto the
other; equality is :class:`~polyth.mechanism.Mechanism`'s, a canonical labelling by BLISS
(igraph) with the query coloured apart.

How the classes are found: the labelled hypergraphs are bit masks over the candidate
hyperedges (2-subsets first, then 3-subsets, each in lexicographic order). A mask is kept as a
candidate only when every vertex is covered and the vertex degrees (2-edges, then 3-edges)
of x2 … xt are non-increasing; every class has such a member (sort its non-query vertices by
degree), so no class is lost, and the filter leaves about one labelled member in (t−1)! of
each class to BLISS. The representative of a class is its candidate whose list of hyperedges
comes first lexicographically (``x1*x2 + x3*x4``, not ``x1*x4 + x2*x3``), so it does not
depend on the labelling BLISS chooses. Families are listed by number of hyperedges, then by
that list.

Example::

    >>> [m.polynomial for m in family(3, 2)]
    ['x1*x2 + x1*x3', 'x1*x2 + x2*x3', 'x1*x2 + x1*x3 + x2*x3']

Counts (checked by tests/test_atlas_enumeration.py): graphs 1, 3, 12, 63, 431, 4430 for
t = 2 … 7 (rooted graphs without isolated vertices, from OEIS A000666 and A000088) and
hypergraphs (t, 3) 0, 6, 210, 48015 for t = 2 … 5.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from polyth.errors import PolyError
from polyth.mechanism import Mechanism

#: the largest t enumerated per largest hyperedge size: 2^(candidate hyperedges) labelled
#: hypergraphs are filtered, 2^28 for graphs at t = 8 and 2^20 for hypergraphs at t = 5
#: (2^35 at t = 6 is out of reach of this enumeration)
MAX_T = {2: 8, 3: 5}
_BLOCK = 1 << 18  # masks filtered per numpy block
_MONOMIAL = re.compile(r"x[1-9][0-9]?(\*x[1-9][0-9]?)+")


@dataclass(frozen=True)
class Member:
    """One class of a family: the representative's hyperedges and the mechanism they stand for."""

    edges: tuple[tuple[int, ...], ...]  # 1-based hyperedges, x1 the query

    @property
    def polynomial(self) -> str:
        """The mechanism as polyth parses it, e.g. ``x1*x2 + x2*x3``."""
        return " + ".join("*".join(f"x{v}" for v in edge) for edge in self.edges)

    def mechanism(self) -> Mechanism:
        return Mechanism.from_hypergraph(self.edges)

    @classmethod
    def from_polynomial(cls, text: str) -> Member:
        """The member an atlas row names (``x1*x2 + x2*x3``): read without sympy, 30× faster
        than parsing the polynomial, for questions that run over every row."""
        monomials = str(text).split(" + ")
        if not all(_MONOMIAL.fullmatch(mono) for mono in monomials):
            raise PolyError(f"{text!r} is not an atlas row's polynomial (monomials x1*x2 joined by ' + ')")
        return cls(tuple(tuple(int(v[1:]) for v in mono.split("*")) for mono in monomials))


def check_family(t: int, hyperedges: int) -> None:
    """PolyError unless (t, hyperedges) is a family this enumeration can list."""
    if hyperedges not in MAX_T:
        raise PolyError(f"hyperedges must be 2 (graphs) or 3 (hyperedges of size 2 or 3), got {hyperedges!r}")
    limit = MAX_T[hyperedges]
    if isinstance(t, bool) or not isinstance(t, int) or not 2 <= t <= limit:
        raise PolyError(
            f"t must be an integer from 2 to {limit} for hyperedges of size ≤ {hyperedges} "
            f"(got {t!r}): the enumeration filters all 2^(candidate hyperedges) labelled hypergraphs"
        )


def candidate_edges(t: int, hyperedges: int) -> tuple[tuple[int, ...], ...]:
    """The hyperedges a mask chooses from: 2-subsets of 1 … t, then 3-subsets (up to ``hyperedges``)."""
    return tuple(
        e for size in range(2, hyperedges + 1) for e in itertools.combinations(range(1, t + 1), size)
    )


def _candidates(t: int, hyperedges: int) -> Iterator[int]:
    """The masks that pass the filter of the module docstring, in increasing order."""
    edges = candidate_edges(t, hyperedges)
    count = len(edges)
    incidence = np.zeros((count, t), dtype=np.int64)
    for i, edge in enumerate(edges):
        incidence[i, [v - 1 for v in edge]] = 1
    # vertex invariant: (number of 2-edges, number of 3-edges) as one integer
    weight = np.array([(len(e) == 2) * (count + 1) + (len(e) == 3) for e in edges], dtype=np.int64)
    first_large = sum(len(e) == 2 for e in edges)
    shifts = np.arange(count, dtype=np.int64)
    for start in range(0, 1 << count, _BLOCK):
        masks = np.arange(start, min(start + _BLOCK, 1 << count), dtype=np.int64)
        bits = ((masks[:, None] >> shifts) & 1).astype(np.int64)
        degree = bits @ incidence
        invariant = (bits * weight) @ incidence
        keep = (degree > 0).all(axis=1) & (np.diff(invariant[:, 1:], axis=1) <= 0).all(axis=1)
        if hyperedges == 3:
            keep &= bits[:, first_large:].any(axis=1)
        yield from (int(mask) for mask in masks[keep])


def family(t: int, hyperedges: int = 2) -> list[Member]:
    """One :class:`Member` per isomorphism class of the family (t, hyperedges), in atlas order."""
    check_family(t, hyperedges)
    edges = candidate_edges(t, hyperedges)
    seen: dict[Mechanism, Member] = {}
    for mask in _candidates(t, hyperedges):
        member = Member(tuple(edges[i] for i in range(len(edges)) if mask >> i & 1))
        mechanism = member.mechanism()
        if mechanism not in seen or member.edges < seen[mechanism].edges:
            seen[mechanism] = member
    return sorted(seen.values(), key=lambda m: (len(m.edges), m.edges))


def families(t: int, hyperedges: int = 2) -> list[tuple[int, int]]:
    """The families an atlas up to t variables and hyperedges of size ≤ ``hyperedges`` holds."""
    check_family(t, hyperedges)
    return [(size, e) for size in range(2, t + 1) for e in range(2, hyperedges + 1) if e <= size]
