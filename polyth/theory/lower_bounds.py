"""The registry of known lower bounds (docs/design.md §3, plus reading the input).

Each entry holds a structural predicate on the mechanism, the bound (an exponent of n,
a sympy expression in ω and the mechanism's t), the hypothesis it rests on and its
source. Entries are stated for the unmasked problem; only the trivial bound is claimed
under a causal mask (``covers_masks``). Where a result is proved for the paper's class
(multilinear monomials of degree ≥ 2 with coefficients in {0, 1}), the predicate checks
:attr:`Mechanism.in_paper_class`. Theorem numbers are not recorded; the
Chakrabarti–Pitassi–Alman paper is cited as a whole (arXiv:2602.02422, ICLR 2026).

Approximation thresholds (``kind = "approximate"``): an almost-linear approximation
exists iff every entry bound B = o((log n)^{1/k}) (with d = O(log n)); the ``exponent``
field is then 1/k, the threshold's exponent of log n.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy

from polyth.mechanism import Mechanism
from polyth.theory.cost import omega

CPA_2026 = "Chakrabarti, Pitassi, Alman 2026 (poly-attention, ICLR 2026; arXiv:2602.02422)"
KELES_2023 = (
    'Keles, Wijewardena, Hegde 2023, "On the computational complexity of self-attention", arXiv:2209.04881'
)
ALMAN_SONG_2023 = 'Alman & Song 2023, "Fast attention requires bounded entries", arXiv:2302.13214'
ALMAN_SONG_2024 = (
    'Alman & Song 2024, "How to capture higher-order correlations? Generalizing matrix softmax '
    'attention to Kronecker computation", arXiv:2310.04064'
)


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
            "exponent": None if value is None else str(value),
            "strict": self.strict,
            "statement": self.statement,
            "hypothesis": self.hypothesis,
            "source": self.source,
        }


def _supports(m: Mechanism) -> set[frozenset[int]]:
    return {frozenset(s) for s in m.supports}


def is_self_attention(m: Mechanism) -> bool:
    """h = x1·x2 (paper class: one multilinear monomial, coefficient 1)."""
    return m.in_paper_class and m.t == 2 and _supports(m) == {frozenset({0, 1})} and len(m.monomials) == 1


def is_tree_in_class(m: Mechanism) -> bool:
    """A connected tree polynomial of the paper's class."""
    return m.in_paper_class and m.is_tree and m.is_connected


def is_non_tree_in_class(m: Mechanism) -> bool:
    """A connected polynomial of the paper's class whose hypergraph is not a tree."""
    return m.in_paper_class and m.is_connected and not m.is_tree


def is_triangle(m: Mechanism) -> bool:
    """Strassen: x1x2 + x2x3 + x3x1 up to renaming (paper class)."""
    triangle = {frozenset({0, 1}), frozenset({1, 2}), frozenset({0, 2})}
    return m.in_paper_class and m.t == 3 and len(m.monomials) == 3 and _supports(m) == triangle


def is_full_tensor(m: Mechanism) -> bool:
    """t-tensor, t ≥ 3: the single monomial x1·x2·…·xt (paper class)."""
    return m.in_paper_class and m.t >= 3 and len(m.monomials) == 1 and _supports(m) == {frozenset(range(m.t))}


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
        covers_masks=True,
    ),
    LowerBound(
        "self-attention-seth",
        "exact",
        "self-attention x1·x2",
        is_self_attention,
        lambda m: sympy.Integer(2),
        "exact self-attention needs n^{2-o(1)} time",
        "SETH",
        KELES_2023,
    ),
    LowerBound(
        "tree-quadratic",
        "exact",
        "connected tree polynomial (paper class)",
        is_tree_in_class,
        lambda m: sympy.Integer(2),
        "tree polynomials need n^{2-o(1)} time (and only these are quadratic)",
        "SETH",
        CPA_2026,
    ),
    LowerBound(
        "non-tree-superquadratic",
        "exact",
        "connected non-tree polynomial (paper class)",
        is_non_tree_in_class,
        lambda m: sympy.Integer(2),
        "only tree polynomials are computable in quadratic time: exponent > 2 (value not recorded)",
        "as stated in the paper (not recorded here)",
        CPA_2026,
        strict=True,
    ),
    LowerBound(
        "strassen-max2sat",
        "exact",
        "Strassen triangle x1x2 + x2x3 + x3x1 (paper class)",
        is_triangle,
        lambda m: omega,
        "Strassen attention needs n^{ω-o(1)} time",
        "Max-2SAT conjecture",
        CPA_2026,
    ),
    LowerBound(
        "tensor-seth",
        "exact",
        "t-tensor x1·…·xt, one hyperedge on all t variables (paper class)",
        is_full_tensor,
        lambda m: sympy.Integer(m.t),
        "t-tensor attention needs n^{t-o(1)} time",
        "SETH",
        CPA_2026,
    ),
    LowerBound(
        "approx-self-attention",
        "approximate",
        "self-attention x1·x2",
        is_self_attention,
        lambda m: sympy.Rational(1, 2),
        "almost-linear approximation iff B = o(sqrt(log n)) (d = O(log n))",
        "SETH",
        ALMAN_SONG_2023,
    ),
    LowerBound(
        "approx-3-tensor",
        "approximate",
        "3-tensor x1·x2·x3",
        lambda m: is_full_tensor(m) and m.t == 3,
        lambda m: sympy.Rational(1, 3),
        "almost-linear approximation iff B = o((log n)^{1/3}) (d = O(log n))",
        "SETH",
        ALMAN_SONG_2024,
    ),
    LowerBound(
        "approx-degree-k",
        "approximate",
        "any polynomial of total degree k (paper class)",
        lambda m: m.in_paper_class,
        lambda m: sympy.Rational(1, m.k),
        "almost-linear approximation iff B = o((log n)^{1/k}); "
        "B = Ω((log n)^{1/k}) forces superquadratic time",
        "SETH",
        CPA_2026,
    ),
)


def applicable(m: Mechanism, kind: str = "exact", causal: str | None = None) -> list[LowerBound]:
    """The registry entries of ``kind`` whose predicate holds for ``m`` (and that cover the mask)."""
    return [
        entry
        for entry in REGISTRY
        if entry.kind == kind and entry.applies(m) and (causal is None or entry.covers_masks)
    ]


def stated_without_mask(m: Mechanism, kind: str = "exact") -> list[LowerBound]:
    """Entries that hold for the unmasked mechanism but are not claimed under a mask."""
    return [entry for entry in REGISTRY if entry.kind == kind and entry.applies(m) and not entry.covers_masks]
