"""Reductions: mechanism M simulates mechanism M′ on cheaply transformed inputs (docs/design.md §3).

A :class:`Reduction` from a *source* M to a *target* M′ is a concrete input map: for any inputs
(Q′, V′) of M′ of width d′, :meth:`Reduction.lift` builds inputs (Q, V) of M of width E·d′ with

    polyth.reference.attention(M, Q, V) == polyth.reference.attention(M′, Q′, V′)

(equal in exact arithmetic; in float64 up to rounding), in O(n·E·d′) time. E is
:attr:`Reduction.blocks`, the factor by which d grows. It is built from five elementary moves:

* **rename**: target variable b is read as source variable φ(b) (φ injective, query → query);
* **delete** a source variable a outside φ's image: its projections are 0, so every monomial
  through it adds 0 to every score, and its values are 1, so the sum over l_a cancels between
  numerator and denominator;
* **fix** coordinates to a constant: inside a host monomial, a variable outside the image gets
  the constant coordinate 1 (x1·x2·x3 with x3 ≡ 1 is x1·x2 on those channels);
* **blocks**: target monomial j gets its own block of d′ channels, where only its host monomial
  h(j) of M is non-zero (its image variables carry Q′, the rest the constant 1); one projection
  per block is scaled by κ_j with κ_j^p = scale′·c′_j / (scale·c_h(j)) (p its power, odd when
  the ratio is negative), which absorbs any non-zero coefficient and the scale.

* **signs**: with tied inputs, a monomial f of M is non-zero on block j exactly when supp f ⊆
  supp h(j). If f meets the image only in the query it adds a function of l1 alone, which
  cancels in the softmax. Otherwise block j is repeated once per sign vector σ ∈ {±1}^Σ for a
  set Σ of the host's variables: a ∈ Σ is multiplied by σ_a and, where needed, one more host
  variable c (the carrier) by Π_Σ σ_a (p_g(c) = 0 below when there is none). Summed over the
  2^|Σ| copies, a monomial g gets the factor Σ_σ Π_{a∈Σ} σ_a^{p_g(a) + p_g(c)}, which is 2^|Σ|
  when every exponent is even and 0 otherwise; Σ and c are chosen so that the host keeps 2^|Σ|
  (absorbed by κ_j) and every such f gets 0. For multilinear monomials Σ = supp h(j) ∖ {c}
  always works, so in the paper's class any monomial whose support contains a target monomial's
  image can host it (x1·x2·x3 + x1·x2 simulates x1·x2·x3 on 2 blocks, σ on x3 and on x1).

A host's powers on the image equal the target monomial's. With untied inputs the other
monomials' projections are simply 0, and no signs are needed. One block suffices (E = 1) when
the target monomials have distinct hosts and either the inputs are untied or M restricted to
the image *is* the target (same monomials, coefficients and scale); otherwise E is the number
of blocks, Σ_j 2^|Σ_j|.

**What transfers, and in which direction** (M simulates M′; every source's own conditions
apply, with d multiplied by the constant E and the entries by constants κ_j^{±1}, which
asymptotic conditions such as d = O(log n) or B = Θ(√log n) absorb):

* a **time lower bound** proved for M′ holds for M: an algorithm for M, run on the lifted
  inputs, computes M′ with O(n·d) extra work (:func:`reachable` lists the registry targets);
* an **algorithm** for M gives one for M′, and a **positive construction** for M′ (a head of
  M′ that solves a task) lifts to M;
* a **head lower bound** proved for M (it needs n^{1−o(1)} heads for a task) carries to every M′
  that M simulates: H heads of M′ solving the task would give H heads of M. The lift uses the
  constant coordinate 1 (values 1, fixed coordinates), so this reads the source's model as
  allowing a constant input coordinate, as polyth's constructions do.

A causal mask is reduced to the unmasked problem by :class:`Unmasking`: M under the mask at
length (D+1)·n, with one more value column, computes M unmasked at length n (D = 1 for the
prefix mask, the tree's depth for the nested one), so unmasked time lower bounds hold masked.

Example::

    >>> from polyth.mechanism import Mechanism, zoo
    >>> k4_minus_edge = Mechanism.from_polynomial("x1*x2 + x1*x3 + x1*x4 + x2*x3 + x2*x4")
    >>> print(reduction(k4_minus_edge, zoo.strassen()).describe())
    set Q(x4) = 0, V(x4) = 1
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import networkx as nx
import numpy as np
import sympy

from polyth.errors import InputError
from polyth.mechanism import Mechanism, Monomial
from polyth.mechanism.similarity import Exp

SEARCH_LIMIT = 64  # complete maps compared by :func:`reduction`


def why_not(m: Mechanism) -> str | None:
    """Why the moves above do not apply to ``m`` (None when they do)."""
    if not isinstance(m.similarity, Exp):
        return f"reductions are for softmax (exp) attention, not {m.similarity.describe()}"
    if m.per_channel:
        return "reductions need attention over whole vectors, not per-channel mode"
    if m.scale == 0:
        return "scale 0 makes every score 0 (uniform attention)"
    return None


@dataclass(frozen=True)
class Move:
    """One elementary step of a reduction: ``kind`` is rename, delete, fix or blocks (sign blocks
    are described within the blocks move)."""

    kind: str
    text: str


@dataclass(frozen=True)
class Reduction:
    """``source`` simulates ``target`` (module docstring): φ, a host per target monomial, its
    sign blocks, E blocks in all."""

    source: Mechanism
    target: Mechanism
    mapping: tuple[int, ...]  # target variable position → source variable position
    hosts: tuple[int, ...]  # target monomial → source monomial
    blocks: int  # E: d grows by this factor
    signs: tuple[Signs, ...]  # target monomial → (carrier, Σ) of its sign blocks

    @property
    def d_factor(self) -> int:
        return self.blocks

    @cached_property
    def moves(self) -> tuple[Move, ...]:
        """The elementary steps, in the order rename, delete, fix, blocks."""
        src, tgt = self.source, self.target
        names = src.variables
        out = []
        renamed = [(tgt.variables[b], names[a]) for b, a in enumerate(self.mapping)]
        if any(old != new for old, new in renamed):
            pairs = ", ".join(f"{old} as {new}" for old, new in renamed if old != new)
            out.append(Move("rename", f"read {pairs}"))
        image = set(self.mapping)
        fixed: dict[int, list[str]] = {}
        for j, h in enumerate(self.hosts):
            carried = {self.mapping[b] for b in tgt.monomials[j].support}
            where = _term(src, src.monomials[h])
            if self.blocks > 1:
                mono = tgt.monomials[j]
                carried_term = _product((names[self.mapping[b]], mono.powers[b]) for b in mono.support)
                where += f" on the block carrying {carried_term}"
            for a in src.monomials[h].support:
                if a not in carried:
                    fixed.setdefault(a, []).append(where)
        deleted = [a for a in range(src.t) if a not in image and a not in fixed]
        if deleted:
            parts = [f"Q({names[a]}) = 0" + (f", V({names[a]}) = 1" * (a in src.values)) for a in deleted]
            out.append(Move("delete", "set " + "; ".join(parts)))
        for a, places in fixed.items():
            values = f" (V({names[a]}) = 1)" if a in src.values and a not in image else ""
            out.append(Move("fix", f"set {names[a]} ≡ 1 within {', '.join(dict.fromkeys(places))}{values}"))
        inverse = {a: b for b, a in enumerate(self.mapping)}
        unused = [names[a] for a in src.values if a in inverse and inverse[a] not in tgt.values]
        if unused:
            out.append(Move("fix", "set " + ", ".join(f"V({name}) = 1" for name in unused)))
        hosted = set(self.hosts)
        supports = _support_sets(src)
        signed_blocks, cancelled = [], set()
        for j, (h, (carrier, signed)) in enumerate(zip(self.hosts, self.signs)):
            if signed:
                image = frozenset(self.mapping[b] for b in tgt.monomials[j].support)
                clashing = _clashing(supports, h, image)
                cancelled.update(clashing)
                terms = [_term(src, src.monomials[i]) for i in clashing]
                signs = "σ = ±1" if len(signed) == 1 else f"signs σ ∈ {{±1}}^{len(signed)}"
                product = "σ" if len(signed) == 1 else "their product"
                carried = "" if carrier is None else f" and {names[carrier]} times {product}"
                signed_blocks.append(
                    f"{_term(src, src.monomials[h])} on {2 ** len(signed)} blocks, "
                    f"{', '.join(names[a] for a in signed)} times {signs}{carried}, "
                    f"so {', '.join(terms)} {'cancels' if len(terms) == 1 else 'cancel'}"
                )
        dropped = [_term(src, mono) for i, mono in enumerate(src.monomials) if i not in hosted | cancelled]
        if self.blocks > 1:
            per = "per monomial and sign" if signed_blocks else "per monomial"
            what = (
                "its coefficient, the scale and the host's 2^|Σ| copies"
                if signed_blocks
                else "its coefficient and the scale"
            )
            text = (
                f"one block of channels {per} (d × {self.blocks}), one projection per block "
                f"scaled to absorb {what}"
            )
            if signed_blocks:
                text += "; " + "; ".join(signed_blocks)
            if dropped:
                text += f"; {', '.join(dropped)} vanish on every block"
            out.append(Move("blocks", text))
        elif self._absorbs:
            text = "scale one projection per monomial to absorb its coefficient and the scale"
            out.append(Move("blocks", text))
        if src.untied and not tgt.untied:
            out.append(Move("blocks", "untied inputs: each host monomial gets the target's projections"))
        return tuple(out)

    @property
    def _absorbs(self) -> bool:
        """Whether a projection is scaled (a coefficient or the scale differs)."""
        return self.blocks > 1 or any(
            self.source.scale != self.target.scale
            or self.source.monomials[h].coefficient != self.target.monomials[j].coefficient
            for j, h in enumerate(self.hosts)
        )

    def describe(self) -> str:
        """The chain of moves, or "as it stands" when there is none."""
        return "; ".join(move.text for move in self.moves) or "as it stands"

    def scalings(self, width: int) -> tuple[tuple[int, float], ...]:
        """Per target monomial j: the target variable whose projection is scaled on block j (the
        pivot, power p) and κ_j, with κ_j^p = scale′·c′_j / (scale·c_h(j)·2^|Σ_j|) at target width
        ``width`` (the source's width is E·width; the host counts once per sign block)."""
        scale = self.source.scale_for(self.blocks * width)
        return tuple(
            _root(
                mono,
                self.target.scale_for(width)
                * mono.value
                / (scale * self.source.monomials[h].value * 2 ** len(signed)),
            )
            for mono, h, (_, signed) in zip(self.target.monomials, self.hosts, self.signs)
        )

    def entry_bound(self, B: float, width: int) -> float:
        """A bound on every entry of :meth:`lift`'s Q when every entry of the target's Q is at most B.

        On block j a carried variable keeps its entries (≤ B), the pivot's are multiplied by
        |κ_j| (≤ |κ_j|·B), a fixed variable's are the constant 1 and everything else is 0, so
        the bound is the largest of |κ_j|·B, B (where a monomial carries two variables or more) and
        1 (where a host has a fixed variable). Example: with coefficients 1 and a scale s on both
        sides, κ_j = 1 and the bound is B (max(B, 1) when a variable is fixed); with the scale
        1/d on both sides and E blocks, κ_j = (E/2^|Σ_j|)^{1/p} (the source's d is E times larger,
        and the host counts once per sign copy).
        """
        bound = 0.0
        for (_, kappa), mono, h in zip(self.scalings(width), self.target.monomials, self.hosts):
            bound = max(bound, abs(kappa) * B, B if len(mono.support) > 1 else 0.0)
            if len(self.source.monomials[h].support) > len(mono.support):
                bound = max(bound, 1.0)
        return bound

    def lift(self, Q: Sequence, V: Mapping) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
        """Inputs of ``source`` whose attention output equals ``target``'s on ``Q``, ``V``.

        ``Q``: one ``(…, n, d′)`` array per slot of ``target.input_slots``; ``V``: the target's
        value variables (1-based index) to ``(…, n, dv)`` arrays. Returns one ``(…, n, E·d′)``
        array per slot of ``source.input_slots`` and the source's values (1-based index).
        """
        src, tgt = self.source, self.target
        Q = [np.asarray(q, dtype=np.float64) for q in Q]
        if len(Q) != len(tgt.input_slots):
            raise InputError(f"the target takes {len(tgt.input_slots)} projected inputs, got {len(Q)}")
        lead, width = Q[0].shape[:-1], Q[0].shape[-1]
        columns = self.blocks * width
        slot_of = {slot: i for i, slot in enumerate(tgt.input_slots)}
        inverse = {a: b for b, a in enumerate(self.mapping)}
        lifted = {slot: np.zeros(lead + (columns,)) for slot in src.input_slots}
        scalings = self.scalings(width)
        offset = 0
        for j, (mono, h, (pivot, root), (carrier, signed)) in enumerate(
            zip(tgt.monomials, self.hosts, scalings, self.signs)
        ):
            host = src.monomials[h]
            for sigma in itertools.product((1.0, -1.0), repeat=len(signed)):
                block = slice(offset * width, (offset + 1) * width) if self.blocks > 1 else slice(0, width)
                offset += 1
                factor = dict(zip(signed, sigma))
                if carrier is not None:
                    factor[carrier] = math.prod(sigma)
                for a in host.support:
                    b = inverse.get(a)
                    if b is None or b not in mono.support:
                        part = np.ones(lead + (width,))
                    else:
                        part = Q[slot_of[(j if tgt.untied else None, b)]]
                        part = part * root if b == pivot else part
                    lifted[(h if src.untied else None, a)][..., block] = part * factor.get(a, 1.0)
        values = {}
        some = np.asarray(next(iter(V.values())), dtype=np.float64)
        for a in src.values:
            b = inverse.get(a)
            values[a + 1] = np.asarray(V[b + 1], dtype=np.float64) if b in tgt.values else np.ones(some.shape)
        return [lifted[slot] for slot in src.input_slots], values


def _product(factors) -> str:
    """x1·x2^2 from (name, power) pairs."""
    return "·".join(name + (f"^{p}" if p > 1 else "") for name, p in factors if p)


def _term(m: Mechanism, mono: Monomial) -> str:
    return _product(zip(m.variables, mono.powers))


def _root(mono: Monomial, ratio: float) -> tuple[int | None, float]:
    """The target variable whose projection is scaled, and by what: κ^p = ratio, p its power."""
    pivot = _pivot(mono, ratio)
    if pivot is None:
        raise InputError("no projection can absorb this coefficient (all powers even, ratio negative)")
    p = mono.powers[pivot]
    return pivot, float(np.sign(ratio) * abs(ratio) ** (1.0 / p))


def _pivot(mono: Monomial, ratio: float) -> int | None:
    """A variable of ``mono`` with power 1, else an odd power, else any when ``ratio`` > 0."""
    for want in (lambda p: p == 1, lambda p: p % 2 == 1, lambda p: ratio > 0):
        for b in mono.support:
            if want(mono.powers[b]):
                return b
    return None


def _sign(m: Mechanism) -> int:
    return 1 if (m.scale is None or m.scale > 0) else -1


def _admissible(
    src: Mechanism, supports, h: int, mono: Monomial, carried: Mapping[int, int], sign: int
) -> bool:
    """Can source monomial h (``supports``: the source's, as sets) host target monomial ``mono``
    carried on ``carried`` (b → a)?"""
    host = src.monomials[h]
    image = frozenset(carried.values())
    if not image <= supports[h] or any(host.powers[a] != mono.powers[b] for b, a in carried.items()):
        return False
    if _pivot(mono, sign * float(mono.coefficient) * float(host.coefficient)) is None:
        return False
    return _signs(src, supports, h, image) is not None


def _clashing(supports, h: int, image: frozenset[int]) -> list[int]:
    """The source monomials other than h that are non-zero on h's block (tied inputs) and meet
    the image outside the query, so do not cancel in the softmax by themselves."""
    return [i for i, f in enumerate(supports) if i != h and f <= supports[h] and not f & image <= {0}]


Signs = tuple[int | None, tuple[int, ...]]  # (carrier c, signed variables Σ), source positions
NO_SIGNS: Signs = (None, ())


def _signs(src: Mechanism, supports, h: int, image: frozenset[int]) -> Signs | None:
    """The fewest sign blocks that cancel, on host h's block, every other monomial f with
    supp f ⊆ supp h that meets ``image`` outside the query (module docstring, **signs**); None
    when no Σ and carrier separate them from the host by parity.

    Example: in x1·x2·x3 + x1·x2 hosting x1·x2·x3, x1·x2 meets the image in x2; Σ = {x3} with
    carrier x1 gives x1·x2 the factor Σ_σ σ = 0 and the host Σ_σ σ² = 2.
    """
    if src.untied:
        return NO_SIGNS
    clashing = tuple(_clashing(supports, h, image))
    if not clashing:
        return NO_SIGNS
    return _sign_search(tuple(mono.powers for mono in src.monomials), h, clashing)


@functools.lru_cache(maxsize=65536)
def _sign_search(powers: tuple[tuple[int, ...], ...], h: int, clashing: tuple[int, ...]) -> Signs | None:
    """Smallest Σ ⊆ supp h, with a carrier c ∈ supp h ∖ Σ or none, such that the host's exponents
    p(a) + p(c) are even on Σ and every clashing monomial has an odd one."""
    host = powers[h]
    support = [a for a, p in enumerate(host) if p]

    def odd(p: tuple[int, ...], a: int, c: int | None) -> bool:
        return (p[a] + (p[c] if c is not None else 0)) % 2 == 1

    for size in range(1, len(support) + 1):
        for c in (None, *support):
            for signed in itertools.combinations([a for a in support if a != c], size):
                if not any(odd(host, a, c) for a in signed) and all(
                    any(odd(powers[i], a, c) for a in signed) for i in clashing
                ):
                    return c, signed
    return None


def _support_sets(m: Mechanism) -> tuple[frozenset[int], ...]:
    return tuple(frozenset(s) for s in m.supports)


def _hosts(
    src: Mechanism, tgt: Mechanism, mapping: Sequence[int]
) -> tuple[tuple[int, ...], tuple[Signs, ...]] | None:
    """A host per target monomial (fewest sign blocks, then fewest fixed variables) and its
    signs, or None."""
    sign = _sign(src) * _sign(tgt)
    supports = _support_sets(src)
    hosts, signs = [], []
    for mono in tgt.monomials:
        carried = {b: mapping[b] for b in mono.support}
        image = frozenset(carried.values())
        admissible = {
            h: _signs(src, supports, h, image)
            for h in range(len(supports))
            if _admissible(src, supports, h, mono, carried, sign)
        }
        if not admissible:
            return None
        host = min(admissible, key=lambda h: (len(admissible[h][1]), len(supports[h])))
        hosts.append(host)
        signs.append(admissible[host])
    return tuple(hosts), tuple(signs)


def _one_block(
    src: Mechanism, tgt: Mechanism, mapping: Sequence[int], hosts: Sequence[int], signs: Sequence[Signs]
) -> bool:
    if len(set(hosts)) != len(hosts):
        return False
    if src.untied or (len(hosts) == 1 and signs[0] == NO_SIGNS):
        return True
    if tgt.untied or src.scale != tgt.scale:
        return False
    image = set(mapping)
    inside = {
        i for i, mono in enumerate(src.monomials) if set(mono.support) <= image and mono.support != (0,)
    }
    return inside == set(hosts) and all(
        src.monomials[h].coefficient == tgt.monomials[j].coefficient
        and {a: p for a, p in enumerate(src.monomials[h].powers) if p}
        == {mapping[b]: p for b, p in enumerate(tgt.monomials[j].powers) if p}
        for j, h in enumerate(hosts)
    )


def _compatible(src: Mechanism, tgt: Mechanism) -> bool:
    return why_not(src) is None and why_not(tgt) is None and tgt.t <= src.t


def build(source: Mechanism, target: Mechanism, mapping: Sequence[int]) -> Reduction | None:
    """The reduction of ``target`` to ``source`` along ``mapping`` (target position → source
    position), or None when no admissible host exists for some target monomial."""
    mapping = tuple(mapping)
    if not _compatible(source, target) or len(mapping) != target.t or mapping[0] != 0:
        return None
    if len(set(mapping)) != len(mapping) or any(mapping[b] not in source.values for b in target.values):
        return None
    found = _hosts(source, target, mapping)
    if found is None:
        return None
    hosts, signs = found
    if _one_block(source, target, mapping, hosts, signs):
        blocks, signs = 1, (NO_SIGNS,) * len(hosts)  # nothing clashes: M on the image is the target
    else:
        blocks = sum(2 ** len(signed) for _, signed in signs)
    return Reduction(source, target, mapping, hosts, blocks, signs)


def reduction(source: Mechanism, target: Mechanism) -> Reduction | None:
    """A reduction showing that ``source`` simulates ``target`` (fewest blocks, then fewest
    moves), searched over injective maps with the query fixed, or None.

    Depth-first over the target's variables in breadth-first order from the query, pruning as
    soon as a target monomial's variables are placed and it has no admissible host; the best of
    the first :data:`SEARCH_LIMIT` complete maps is returned.
    """
    if not _compatible(source, target):
        return None
    order = [0]
    for b in order:
        for support in target.supports:
            if b in support:
                order += [c for c in support if c not in order]
    order += [c for c in range(target.t) if c not in order]
    rank = {b: i for i, b in enumerate(order)}
    checks: dict[int, list[Monomial]] = {}
    for mono in target.monomials:
        checks.setdefault(max(rank[b] for b in mono.support), []).append(mono)
    sign = _sign(source) * _sign(target)
    supports = _support_sets(source)
    best: list[Reduction] = []
    mapping = {0: 0}

    def hosted(mono: Monomial) -> bool:
        carried = {b: mapping[b] for b in mono.support}
        return any(_admissible(source, supports, h, mono, carried, sign) for h in range(len(supports)))

    def place(depth: int) -> None:
        if not all(hosted(mono) for mono in checks.get(depth - 1, ())):
            return
        if depth == target.t:
            found = build(source, target, [mapping[b] for b in range(target.t)])
            if found is not None:
                best.append(found)
            return
        b = order[depth]
        for a in range(1, source.t):
            if a in mapping.values() or (b in target.values and a not in source.values):
                continue
            mapping[b] = a
            place(depth + 1)
            del mapping[b]
            if len(best) >= SEARCH_LIMIT:
                return

    if 0 in target.values and 0 not in source.values:
        return None
    place(1)
    return min(best, key=lambda r: (r.blocks, len(r.moves), r.mapping), default=None)


# ------------------------------------------------------------------ registry targets
FULL_SEARCH = 10  # non-query value variables up to which every set U is tried


def _variable_sets(m: Mechanism) -> Iterator[tuple[int, ...]]:
    """The sets U (query first) :func:`candidates` tries, each once."""
    others = [a for a in range(1, m.t) if a in m.values]
    if len(others) <= FULL_SEARCH:
        families = (itertools.combinations(others, size) for size in range(1, len(others) + 1))
    else:
        supports = (tuple(a for a in support if a in others) for support in m.supports)
        families = (
            itertools.combinations(others, 1),
            itertools.combinations(others, 2),
            supports,
            [tuple(others)],
        )
    seen = set()
    for rest in itertools.chain.from_iterable(families):
        if rest and rest not in seen:
            seen.add(rest)
            yield (0, *rest)


def _paper_target(size: int, supports: Sequence[Sequence[int]]) -> Mechanism:
    """The paper-class mechanism on x1 … x_size with these supports (coefficients 1, tied)."""
    names = [f"x{i + 1}" for i in range(size)]
    monomials = [Monomial(sympy.Integer(1), tuple(1 if a in s else 0 for a in range(size))) for s in supports]
    return Mechanism(names, monomials)


def candidates(m: Mechanism) -> Iterator[Reduction]:
    """Reductions from ``m`` to paper-class targets that the lower-bound registry may cover.

    For a set U of variables (the query and value variables), the target monomials are
    restrictions supp(f) ∩ U of m's monomials that are multilinear on U with at least two
    variables: each one alone when it covers U (a tensor, or self-attention), the triangle when
    |U| = 3 and all three pairs occur, and all of them together (a tree or a non-tree). Every U is
    tried when m has at most :data:`FULL_SEARCH` non-query value variables; beyond that, the
    pairs and triples with the query, each monomial's variables and all of them.
    """
    if why_not(m) is not None:
        return
    for U in _variable_sets(m):
        where = {a: i for i, a in enumerate(U)}
        found: dict[frozenset[int], None] = {}
        for mono in m.monomials:
            inside = [a for a in mono.support if a in where]
            if len(inside) >= 2 and all(mono.powers[a] == 1 for a in inside):
                found.setdefault(frozenset(where[a] for a in inside))
        supports = list(found)
        targets = [[s] for s in supports if len(s) == len(U)]
        pairs = {frozenset(p) for p in itertools.combinations(range(3), 2)}
        if len(U) == 3 and pairs <= set(supports):
            targets.append(sorted(pairs, key=sorted))
        if set().union(*supports) == set(range(len(U))) and len(supports) > 1:
            targets.append(supports)
        for chosen in targets:
            if not any(0 in s for s in chosen):
                continue
            target = _paper_target(len(U), [sorted(s) for s in chosen])
            if nx.is_connected(target.primal_graph):
                built = build(m, target, U)
                if built is not None:
                    yield built


# ------------------------------------------------------------------ causal masks
@dataclass(frozen=True)
class Unmasking:
    """M under a causal mask at length (D+1)·n computes M unmasked at length n.

    Variable a's rows sit in segment s(a) of length n (the query in the last, s(child) <
    s(parent) along the mask's constraints), so every tuple with each variable in its own
    segment is allowed. Rows outside a variable's segment get values 0, and one more value
    column, 1 inside the segment, counts the tuples with every variable in place: dividing the
    value columns by it gives the unmasked output (:meth:`read_out`). It needs every non-query
    variable to be a value variable (otherwise the misplaced tuples cannot be switched off).
    """

    mechanism: Mechanism
    causal: str
    segments: tuple[int, ...]

    @classmethod
    def of(cls, m: Mechanism, causal: str) -> Unmasking | None:
        if m.per_channel or not set(range(1, m.t)) <= set(m.values):
            return None
        if causal == "prefix":
            return cls(m, causal, (1,) + (0,) * (m.t - 1))
        if causal == "nested":
            depth = nx.single_source_shortest_path_length(m.primal_graph, m.variables[0])
            deepest = max(depth.values())
            return cls(m, causal, tuple(deepest - depth[v] for v in m.variables))
        return None

    @property
    def length_factor(self) -> int:
        return max(self.segments) + 1

    def describe(self) -> str:
        mask = "the prefix mask" if self.causal == "prefix" else "the nested mask"
        return (
            f"{mask} at length {self.length_factor}·n: each variable's rows in its own segment "
            "(the query's last), values 0 elsewhere, one extra all-ones value column to divide by"
        )

    def lift(self, Q: Sequence, V: Mapping) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
        """Masked inputs of length (D+1)·n (one more value column) from unmasked ones of length n."""
        m = self.mechanism
        Q = [np.asarray(q, dtype=np.float64) for q in Q]
        n = Q[0].shape[-2]
        length = self.length_factor * n

        def place(a: int, x: np.ndarray) -> np.ndarray:
            out = np.zeros(x.shape[:-2] + (length, x.shape[-1]))
            out[..., self.segments[a] * n : (self.segments[a] + 1) * n, :] = x
            return out

        lifted = [place(a, q) for (_, a), q in zip(m.input_slots, Q)]
        values = {}
        for a in m.values:
            v = np.asarray(V[a + 1], dtype=np.float64)
            values[a + 1] = place(a, np.concatenate([v, np.ones(v.shape[:-1] + (1,))], axis=-1))
        return lifted, values

    def read_out(self, out: np.ndarray) -> np.ndarray:
        """The unmasked output from the masked one: the query's segment, value columns / last."""
        n = out.shape[-2] // self.length_factor
        rows = out[..., self.segments[0] * n : (self.segments[0] + 1) * n, :]
        return rows[..., :-1] / rows[..., -1:]


__all__ = [
    "Move",
    "Reduction",
    "Unmasking",
    "build",
    "candidates",
    "reduction",
    "why_not",
]
