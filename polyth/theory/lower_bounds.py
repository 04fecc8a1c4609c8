"""The registry of known lower bounds, and the bounds a mechanism inherits by reduction (§3).

Each :class:`LowerBound` holds the structure class its source proves it for (a predicate, and
whether the class lies in the paper's class), the bound (an exponent of n, a sympy expression in
ω and the structure's t), the hypothesis, the source and the source's own conditions, quoted
where the paper's text could be read and otherwise marked as not verified. Every class is stated
for Definition 2.2 of Chakrabarti, Pitassi, Alman 2026: softmax (exp) attention over whole
vectors, tied inputs, values on x2 … xt (a value on the query is allowed: setting it to 1 gives
the plain mechanism), any non-zero scale. Theorem numbers are not recorded: the papers' text
could not be checked here, so each is cited as a whole.

A mechanism M inherits an exact-time bound of the registry from every target M′ that M
simulates (:mod:`polyth.theory.reductions`: M′'s output is M's on inputs built in O(n·d) time,
with d multiplied by a constant): an algorithm for M faster than the bound would compute M′ that
fast. :func:`inherited` searches the registry targets reachable from M and keeps, per entry, the
strongest bound with the shortest chain. Under a causal mask the unmasked bounds hold when
:class:`~polyth.theory.reductions.Unmasking` applies; otherwise they are listed as unmasked only.

Approximation thresholds (``kind = "approximate"``): each entry states what its source proves
about the entry bound B (with d = O(log n)); the ``exponent`` field is 1/k, the threshold's
exponent of log n. They are shown only for the structure each source covers.

Example::

    >>> from polyth.mechanism import Mechanism
    >>> best = max(inherited(Mechanism.from_polynomial("x1*x2*x3 + x3*x4"))[0], key=lambda b: b.rank)
    >>> best.exponent(), best.chain
    (3, 'set Q(x4) = 0, V(x4) = 1')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import sympy

from polyth.mechanism import Mechanism
from polyth.mechanism.similarity import Exp
from polyth.theory.plan import written_form
from polyth.theory.rectangular import OMEGA_BEST, omega
from polyth.theory.reductions import Reduction, Unmasking, candidates

CPA_2026 = "Chakrabarti, Pitassi, Alman 2026 (poly-attention, ICLR 2026; arXiv:2602.02422)"
KELES_2023 = (
    'Keles, Wijewardena, Hegde 2023, "On the computational complexity of self-attention", arXiv:2209.04881'
)
ALMAN_SONG_2023 = 'Alman & Song 2023, "Fast attention requires bounded entries", arXiv:2302.13214'
ALMAN_SONG_2024 = (
    'Alman & Song 2024, "How to capture higher-order correlations? Generalizing matrix softmax '
    'attention to Kronecker computation", arXiv:2310.04064'
)
NOT_VERIFIED = "as stated in the paper (its text could not be checked here)"


@dataclass(frozen=True)
class LowerBound:
    """One known result: where it applies, what it says, under which hypothesis, from where."""

    id: str
    kind: str  # "exact" (time n^exponent) or "approximate" (threshold B ~ (log n)^exponent)
    structure: str
    applies: Callable[[Mechanism], bool]
    bound: Callable[[Mechanism], sympy.Expr | None]
    statement: str
    hypothesis: str
    source: str
    conditions: str = NOT_VERIFIED
    paper_class: bool = True  # the structure class lies inside the paper's class
    covers_masks: bool = False
    strict: bool = False  # the exponent is strictly above ``bound`` (no exact value recorded)

    def exponent(self, m: Mechanism) -> sympy.Expr | None:
        return self.bound(m)

    def to_dict(self, m: Mechanism) -> dict:
        value = self.exponent(m)
        return {
            "id": self.id,
            "kind": self.kind,
            "structure": self.structure,
            "paper_class": self.paper_class,
            "exponent": None if value is None else str(value),
            "strict": self.strict,
            "statement": self.statement,
            "hypothesis": self.hypothesis,
            "conditions": self.conditions,
            "source": self.source,
        }


def _supports(m: Mechanism) -> set[frozenset[int]]:
    return {frozenset(s) for s in m.supports}


def _definition(m: Mechanism) -> bool:
    """Definition 2.2's options: exp, whole vectors, tied inputs, values on every non-query variable."""
    return (
        isinstance(m.similarity, Exp)
        and not m.per_channel
        and not m.untied
        and m.scale != 0
        and set(range(1, m.t)) <= set(m.values)
    )


def in_class(m: Mechanism) -> bool:
    """The paper's class (multilinear, degree ≥ 2, coefficients 1) with Definition 2.2's options."""
    return m.in_paper_class and _definition(m)


def is_self_attention(m: Mechanism) -> bool:
    """h = x1·x2 (one multilinear monomial, coefficient 1)."""
    return in_class(m) and m.t == 2 and _supports(m) == {frozenset({0, 1})} and len(m.monomials) == 1


def is_tree_in_class(m: Mechanism) -> bool:
    """A connected tree polynomial of the paper's class."""
    return in_class(m) and m.is_tree and m.is_connected


def is_non_tree_in_class(m: Mechanism) -> bool:
    """A connected polynomial of the paper's class whose hypergraph is not a tree."""
    return in_class(m) and m.is_connected and not m.is_tree


def is_triangle(m: Mechanism) -> bool:
    """Strassen: x1x2 + x2x3 + x3x1 up to renaming (paper class)."""
    triangle = {frozenset({0, 1}), frozenset({1, 2}), frozenset({0, 2})}
    return in_class(m) and m.t == 3 and len(m.monomials) == 3 and _supports(m) == triangle


def is_full_tensor(m: Mechanism) -> bool:
    """t-tensor, t ≥ 3: the single monomial x1·x2·…·xt (paper class)."""
    return in_class(m) and m.t >= 3 and len(m.monomials) == 1 and _supports(m) == {frozenset(range(m.t))}


def _degree(k: int) -> Callable[[Mechanism], bool]:
    return lambda m: in_class(m) and (m.k == k if k == 2 else m.k >= k)


REGISTRY: tuple[LowerBound, ...] = (
    LowerBound(
        "input",
        "exact",
        "any mechanism",
        lambda m: True,
        lambda m: sympy.Integer(1),
        "every algorithm reads the n·d inputs: n^1",
        "none (unconditional)",
        "trivial",
        conditions="none",
        paper_class=False,
        covers_masks=True,
    ),
    LowerBound(
        "self-attention-seth",
        "exact",
        "self-attention x1·x2 (Definition 2.2)",
        is_self_attention,
        lambda m: sympy.Integer(2),
        "exact self-attention needs n^{2−o(1)} time",
        "SETH",
        KELES_2023,
        conditions="the abstract: 'the time complexity of self-attention is necessarily quadratic in the "
        "input length, unless SETH is false'; its dimension and entry conditions could not be checked here",
    ),
    LowerBound(
        "tree-quadratic",
        "exact",
        "connected tree polynomial of the paper's class",
        is_tree_in_class,
        lambda m: sympy.Integer(2),
        "tree polynomials need n^{2−o(1)} time (and only these are quadratic)",
        "SETH",
        CPA_2026,
    ),
    LowerBound(
        "non-tree-superquadratic",
        "exact",
        "connected non-tree polynomial of the paper's class",
        is_non_tree_in_class,
        lambda m: sympy.Integer(2),
        "only tree polynomials are computable in quadratic time: exponent > 2 (value not recorded)",
        NOT_VERIFIED,
        CPA_2026,
        strict=True,
    ),
    LowerBound(
        "strassen-max2sat",
        "exact",
        "Strassen triangle x1x2 + x2x3 + x3x1 of the paper's class",
        is_triangle,
        lambda m: omega,
        "Strassen attention needs n^{ω−o(1)} time",
        "Max-2SAT conjecture",
        CPA_2026,
    ),
    LowerBound(
        "tensor-seth",
        "exact",
        "t-tensor x1·…·xt, t ≥ 3, one hyperedge on all t variables (paper class)",
        is_full_tensor,
        lambda m: sympy.Integer(m.t),
        "t-tensor attention needs n^{t−o(1)} time",
        "SETH",
        f"{ALMAN_SONG_2024} (t = 3); {CPA_2026}",
        conditions="t = 3, the abstract of Alman & Song 2024: 'if the entries of the input matrices may be "
        "as large as Ω(∛log n), then there is no algorithm that runs faster than n^{3−o(1)}', and the "
        f"results 'naturally generalize to higher-order tensors'; t ≥ 4: {NOT_VERIFIED}",
    ),
    LowerBound(
        "approx-self-attention",
        "approximate",
        "self-attention x1·x2 (Definition 2.2)",
        is_self_attention,
        lambda m: sympy.Rational(1, 2),
        "d = O(log n), B = o(√log n): an n^{1+o(1)} algorithm with 1/poly(n) additive error; "
        "d = O(log n), B = Θ(√log n): no truly subquadratic n^{2−Ω(1)} algorithm",
        "SETH",
        ALMAN_SONG_2023,
        conditions="quoted from the abstract",
    ),
    LowerBound(
        "approx-3-tensor",
        "approximate",
        "3-tensor x1·x2·x3 (paper class)",
        lambda m: is_full_tensor(m) and m.t == 3,
        lambda m: sympy.Rational(1, 3),
        "entries o(∛log n): an n^{1+o(1)} approximation; entries as large as Ω(∛log n): "
        "no algorithm faster than n^{3−o(1)}",
        "SETH",
        ALMAN_SONG_2024,
        conditions="quoted from the abstract",
    ),
    LowerBound(
        "approx-degree-2",
        "approximate",
        "polynomial of total degree 2 (paper class)",
        _degree(2),
        lambda m: sympy.Rational(1, 2),
        "almost-linear approximation iff B = o(√log n) (d = O(log n)); above the threshold no truly "
        "subquadratic n^{2−Ω(1)} algorithm, which is not superquadratic time (trees are exact in n^{2+o(1)})",
        "SETH",
        CPA_2026,
    ),
    LowerBound(
        "approx-degree-k",
        "approximate",
        "polynomial of total degree k ≥ 3 (paper class)",
        _degree(3),
        lambda m: sympy.Rational(1, m.k),
        "almost-linear approximation iff B = o((log n)^{1/k}) (d = O(log n)); the time needed above "
        "the threshold is stated in the paper, not recorded here",
        "SETH",
        CPA_2026,
    ),
)

_BY_ID = {entry.id: entry for entry in REGISTRY}


def applicable(m: Mechanism, kind: str = "exact", causal: str | None = None) -> list[LowerBound]:
    """The registry entries of ``kind`` whose predicate holds for ``m`` itself (and cover the mask)."""
    return [
        entry
        for entry in REGISTRY
        if entry.kind == kind and entry.applies(m) and (causal is None or entry.covers_masks)
    ]


# ------------------------------------------------------------------ inheritance
@dataclass(frozen=True)
class Inherited:
    """A registry entry that holds for a mechanism through a chain: a reduction to ``target``
    (None: the entry holds for the mechanism as it stands) and, under a mask, an unmasking."""

    entry: LowerBound
    target: Mechanism
    reduction: Reduction | None = None
    unmasking: Unmasking | None = None

    id = property(lambda self: self.entry.id)
    kind = property(lambda self: self.entry.kind)
    structure = property(lambda self: self.entry.structure)
    statement = property(lambda self: self.entry.statement)
    hypothesis = property(lambda self: self.entry.hypothesis)
    source = property(lambda self: self.entry.source)
    conditions = property(lambda self: self.entry.conditions)
    strict = property(lambda self: self.entry.strict)

    def exponent(self, m: Mechanism | None = None) -> sympy.Expr:
        """The bound's exponent, evaluated on the structure the entry is proved for."""
        return self.entry.exponent(self.target)

    @cached_property
    def rank(self) -> tuple:
        """Strength first (exponent at ω_best, then ω = 3; "> e" over "≥ e"), then the shortest chain."""
        value = self.exponent()
        blocks = self.reduction.blocks if self.reduction else 1
        moves = len(self.reduction.moves) if self.reduction else 0
        return (
            float(value.subs(omega, OMEGA_BEST)),
            float(value.subs(omega, 3)),
            self.strict,
            -blocks,
            -moves,
        )

    @property
    def chain(self) -> str:
        """The moves from the mechanism to the structure, or "" when it is that structure."""
        parts = [self.unmasking.describe()] if self.unmasking else []
        if self.reduction is not None and self.reduction.moves:
            parts.append(self.reduction.describe())
        return "; then ".join(parts)

    def to_dict(self) -> dict:
        out = self.entry.to_dict(self.target)
        out["target"] = str(self.target.polynomial)
        out["chain"] = self.chain
        out["d_factor"] = self.reduction.blocks if self.reduction else 1
        out["length_factor"] = self.unmasking.length_factor if self.unmasking else 1
        return out


_ENTRIES: dict[tuple, tuple[LowerBound, ...]] = {}
_SEARCHED: dict[tuple, tuple[Inherited, ...]] = {}


def _entries(target: Mechanism) -> tuple[LowerBound, ...]:
    """The exact entries whose structure ``target`` is (cached: targets recur across mechanisms)."""
    key = written_form(target)
    if key not in _ENTRIES:
        if len(_ENTRIES) > 4096:
            _ENTRIES.clear()
        _ENTRIES[key] = tuple(e for e in REGISTRY[1:] if e.kind == "exact" and e.applies(target))
    return _ENTRIES[key]


def _unmasked(m: Mechanism) -> tuple[Inherited, ...]:
    key = written_form(m)
    if key not in _SEARCHED:
        best: dict[str, Inherited] = {}
        for found in candidates(m):
            for entry in _entries(found.target):
                candidate = Inherited(entry, found.target, found)
                if entry.id not in best or candidate.rank > best[entry.id].rank:
                    best[entry.id] = candidate
        # An entry whose structure m already has holds through no chain at all, where the search
        # missed it (candidates tries only some variable sets beyond FULL_SEARCH value variables).
        for entry in _entries(m):
            best.setdefault(entry.id, Inherited(entry, m))
        if len(_SEARCHED) > 4096:
            _SEARCHED.clear()
        _SEARCHED[key] = tuple(sorted(best.values(), key=lambda b: b.rank, reverse=True))
    return _SEARCHED[key]


def inherited(m: Mechanism, causal: str | None = None) -> tuple[list[Inherited], list[Inherited]]:
    """The exact-time bounds that hold for ``m`` under ``causal``, strongest first, and those that
    hold only without the mask. The input bound n^1 always holds."""
    claimed = [Inherited(_BY_ID["input"], m)]
    found = _unmasked(m)
    if causal is None:
        return list(found) + claimed, []
    unmasking = Unmasking.of(m, causal)
    if unmasking is None:
        return claimed, list(found)
    return [Inherited(b.entry, b.target, b.reduction, unmasking) for b in found] + claimed, []
