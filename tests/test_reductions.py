"""Reductions (polyth.theory.reductions) and what they carry: lower bounds, masks, negatives.

Every chain is checked the same way: the target's inputs are lifted and the brute-force
reference of the source on the lifted inputs must equal the reference of the target. Expected
bounds come from the literature (the registry's sources), not from the engine's output.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import polyth
from polyth import Mechanism, Monomial, reference, zoo
from polyth.errors import PolyError
from polyth.tasks.predict import predict
from polyth.theory import cost as C
from polyth.theory import lower_bounds as L
from polyth.theory.plan import exact_plan
from polyth.theory.rectangular import OMEGA_BEST, RectangularOmega, best_known
from polyth.theory.reductions import Unmasking, build, candidates, reduction, why_not


def _inputs(m: Mechanism, seed: int, n: int = 4, d: int = 2, dv: int = 2):
    rng = np.random.default_rng(seed)
    Q = [rng.normal(size=(n, d)) for _ in m.input_slots]
    V = {a + 1: rng.normal(size=(n, dv)) for a in m.values}
    return Q, V


def assert_simulates(r, seed: int = 0) -> None:
    """The reduction is real: source on lifted inputs == target, by brute force, in float64."""
    Q, V = _inputs(r.target, seed)
    lifted_Q, lifted_V = r.lift(Q, V)
    assert all(q.shape[-1] == r.d_factor * Q[0].shape[-1] for q in lifted_Q)
    np.testing.assert_allclose(
        reference.attention(r.source, lifted_Q, lifted_V),
        reference.attention(r.target, Q, V),
        rtol=1e-10,
        atol=1e-12,
    )


# ------------------------------------------------------------------ the held-out examples
# spec, the bound the literature gives through the reduction (exponent, hypothesis), a move of the chain
HELD_OUT = [
    ("x1*x2*x3 + x3*x4", 3, "SETH", "Q(x4) = 0, V(x4) = 1"),  # 3-tensor [AS24]
    ("x1*x2 + x1*x3 + x1*x4 + x2*x3 + x2*x4", C.omega, "Max-2SAT conjecture", "Q(x4) = 0"),  # K4 − edge
    ("2*x1*x2 - x2*x3", 2, "SETH", "absorb"),  # self-attention embeds
    ("x1*x2 + x3*x4", 2, "SETH", "Q(x3) = 0"),  # a forest
    ("-x1*x2 + 3*x2*x3 - 0.5*x3*x1", C.omega, "Max-2SAT conjecture", "block of channels per monomial"),
    ("x1*x2 + x2**2*x3", 2, "SETH", "Q(x3) = 0"),
    ("x2*x3 + x1*x2*x3", 3, "SETH", "x2 times σ = ±1 and x1 times σ, so x2·x3 cancels"),  # nested
    ("x1*x2*x3 - x1*x2", 3, "SETH", "so x1·x2 cancels"),
]


@pytest.mark.parametrize("spec,exponent,hypothesis,move", HELD_OUT)
def test_held_out_mechanisms_are_tight_through_a_chain(spec, exponent, hypothesis, move):
    b = polyth.bounds(spec)
    best = b.best_lower
    assert sympy.simplify(best.exponent() - exponent) == 0 and best.hypothesis == hypothesis
    assert b.exponent == exponent and b.verdict == "tight" and b.open_question is None
    assert move in best.chain
    assert f"via: {best.chain}" in str(b._lower_text(best))
    assert_simulates(best.reduction)


def test_an_entry_holds_for_a_mechanism_of_its_own_structure_without_a_chain(monkeypatch):
    """Where the reduction search finds nothing (here: made to), an entry whose structure the
    mechanism has still holds, with no chain: x1x2 + x2x3 + x2x4 + x3x4 is a connected non-tree
    of the paper's class, so [CPA26]'s "only trees are quadratic" gives > n² directly."""
    m = Mechanism.from_polynomial("x1*x2 + x2*x3 + x2*x4 + x3*x4")
    monkeypatch.setattr(L, "candidates", lambda m: iter(()))
    monkeypatch.setattr(L, "_SEARCHED", {})
    found = {bound.id: bound for bound in L._unmasked(m)}
    assert set(found) == {"non-tree-superquadratic"}
    own = found["non-tree-superquadratic"]
    assert own.reduction is None and own.chain == "" and own.target == m


def test_a_nested_monomial_cancels_on_sign_blocks():
    """x1x2x3 + x1x2 hosts the 3-tensor: on the copy with x3 and x1 negated, x1x2x3 keeps its sign
    and x1x2 flips, so x1x2 sums to 0 over the two copies (d × 2). Checked by brute force, with
    the search's own choice and with the clashing monomial on several levels (x1x2x3x4 ⊃ x2x3, x1x4)."""
    r = reduction(Mechanism.from_polynomial("x1*x2*x3 + x1*x2"), zoo.tensor(3))
    assert r.blocks == 2 and r.signs == ((0, (2,)),)
    assert_simulates(r)
    deep = reduction(Mechanism.from_polynomial("x1*x2*x3*x4 + x2*x3 + x1*x4 - 2*x3"), zoo.tensor(4))
    assert deep.blocks == 2
    assert_simulates(deep)
    # the identity needs no signs: M restricted to its own variables is the target
    nested = Mechanism.from_polynomial("x2*x3 + x1*x2*x3")
    identity = reduction(nested, nested)
    assert identity.blocks == 1 and identity.signs == ((None, ()),) * 2
    assert_simulates(identity)
    # x1³·x2 and x1·x2 have the same parities: no signs cancel one and keep the other
    assert (
        reduction(Mechanism.from_polynomial("x1**3*x2 + x1*x2"), Mechanism.from_polynomial("x1**3*x2"))
        is None
    )


def test_two_signs_four_blocks_and_the_host_counts_once_per_copy():
    """Every proper sub-monomial of x1x2x3 present: two signs (x2, x3 with carrier x1), E = 4,
    and κ³ = scale′ / (scale(4d)·2²), the host's four copies divided out."""
    m = Mechanism.from_polynomial("x1*x2*x3 + x2 + x3 + x1*x2 + x1*x3 + x2*x3")
    r = reduction(m, zoo.tensor(3))
    assert r.blocks == 4 and r.signs == ((0, (1, 2)),)
    assert "signs σ ∈ {±1}^2 and x1 times their product" in r.describe()
    ((_, kappa),) = r.scalings(5)
    assert kappa**3 == pytest.approx(zoo.tensor(3).scale_for(5) / (m.scale_for(20) * 4))
    assert_simulates(r)


def test_a_sign_without_a_carrier_and_the_host_that_needs_fewest_signs():
    # x1·x2² keeps σ² = 1 while x1·x2 flips: one sign, no carrier
    r = reduction(Mechanism.from_polynomial("x1*x2**2 + x1*x2"), Mechanism.from_polynomial("x1*x2**2"))
    assert r.signs == ((None, (1,)),) and r.blocks == 2
    assert_simulates(r)
    # x1·x2·x4·x5 hosts x1·x2 with no signs; the smaller x1·x2·x3 would need two blocks
    m = Mechanism.from_polynomial("x1*x2*x3 + x2*x3 + x1*x2*x4*x5", values=[2])
    r = reduction(m, zoo.self_attention())
    assert r.blocks == 1
    assert_simulates(r)


def test_the_chain_names_the_source_and_is_in_the_json():
    b = polyth.bounds("x1*x2*x3 + x3*x4")
    text = str(b._lower_text(b.best_lower))
    assert text.startswith("≥ n³") and "Alman & Song 2024" in text
    assert text.endswith("via: set Q(x4) = 0, V(x4) = 1")
    entry = b.to_dict()["lower"][0]
    assert entry["id"] == "tensor-seth" and entry["chain"] == "set Q(x4) = 0, V(x4) = 1"
    assert entry["target"] == "x1*x2*x3" and entry["d_factor"] == 1 and entry["paper_class"] is True


def test_k4_reports_the_rectangular_exponent_as_best_known():
    b = polyth.bounds("clique:4")
    assert b.exponent == RectangularOmega(1, 1, 2)  # one step is (n × n)·(n × n²)
    assert b.exponent_omega_best == pytest.approx(3.251640)  # Le Gall & Urrutia 2018
    assert b.exponent_omega_best < OMEGA_BEST + 1  # below the square-block ω + 1
    assert b.exponent_omega_3 == 4  # what runs: the classical product
    assert b.verdict == "gap" and b.best_lower.id == "strassen-max2sat"  # K4 contains a triangle
    question = str(b.open_question)
    assert "ω(1, 1, 2)" in question and "2.371339 … 3.25164" in question
    (rectangular,) = b.to_dict()["exact"]["rectangular"]
    assert rectangular["shape"] == [1, 1, 2] and "Le Gall & Urrutia" in rectangular["sources"][0]


def test_best_known_rectangular_bounds_follow_from_the_table():
    assert best_known((2, 1, 1)) == best_known((1, 2, 1)) == best_known((1, 1, 2))  # symmetry
    assert best_known((1, 1, 2)).value == 3.251640
    assert best_known((1, 1, 3)).value == pytest.approx(3.251640 + 1)  # subadditivity
    assert best_known((1, 1, 1)).value == OMEGA_BEST
    assert best_known((0, 2, 3)).value == 5  # a vector-matrix product
    for shape in [(1, 1, 2), (1, 2, 2), (1, 1, 3), (1, 3, 3), (2, 2, 3)]:
        a, b, c = sorted(shape)
        assert max(b + c, a * OMEGA_BEST) <= best_known(shape).value <= a + b + c - 3 * a + a * OMEGA_BEST
    assert RectangularOmega(1, 2, 1) == RectangularOmega(1, 1, 2)
    assert RectangularOmega(2, 1, 1).subs(C.omega, 3) == 4  # ω = 3: what runs
    assert RectangularOmega(2, 2, 2) == 2 * C.omega


def test_leading_exponent_compares_rectangular_exponents():
    # n³ ≤ n^ω(1,1,2) ≤ n^(ω+1): the symbol replaces n³ and is dominated by n^(ω+1)
    assert (C.Terms.power(3) + C.Terms.product((1, 1, 2))).leading_exponent() == RectangularOmega(1, 1, 2)
    assert (C.Terms.power(1, 1) + C.Terms.product((1, 1, 2))).leading_exponent() == C.omega + 1
    both = C.Terms.product((1, 1, 2)) + C.Terms.power(0, 1) * C.Terms.power(1, 0)
    assert both.exponent_best() == pytest.approx(OMEGA_BEST + 1)


# ------------------------------------------------------------------ reductions are exact
PAIRS = [
    ("x1*x2 + x1*x3 + x1*x4 + x2*x3 + x2*x4", "strassen"),
    ("-x1*x2 + 3*x2*x3 - 0.5*x3*x1", "strassen"),
    ("strassen", "-x1*x2 + 3*x2*x3 - 0.5*x3*x1"),
    ("tensor:3", "strassen"),
    ("tensor:3", "x1*x2 + x1*x3"),
    ("strassen", "2*x1*x2 - x2*x3"),
    ("x1*x2*x3 + x3*x4", "tensor:3"),
    ("x1*x2 + x2**2*x3", "self"),
    ("x1**2*x2*x3 + x3*x4", "x1**2*x2"),  # powers on the image must match the host's
    ("self", "x1*x2 + 3*x2"),  # a degree-1 monomial on its own block, x1 ≡ 1
    ("cycle:4", "path:4"),
    ("clique:4", "star:4"),
]


@pytest.mark.parametrize("untied", [False, True])
@pytest.mark.parametrize("source,target", PAIRS)
def test_reduction_lifts_to_the_same_output(source, target, untied):
    m = zoo.from_spec(source).replace(untied=untied, scale=0.6 if untied else None)
    r = reduction(m, zoo.from_spec(target))
    assert r is not None
    assert_simulates(r)


def test_reductions_that_do_not_exist():
    assert reduction(zoo.self_attention(), zoo.path(3)) is None  # fewer variables
    assert reduction(zoo.path(3), zoo.strassen()) is None  # no host for x1·x3
    assert reduction(Mechanism.from_polynomial("x1**2*x2"), zoo.self_attention()) is None  # power 2 ≠ 1
    assert reduction(zoo.path(3), Mechanism.from_polynomial("x1*x2", values=[1, 2])) is None  # query value
    assert why_not(zoo.linear()) and why_not(zoo.elementwise(4))
    assert reduction(zoo.linear(), zoo.self_attention()) is None
    assert build(zoo.strassen(), zoo.path(3), (0, 1)) is None  # one source variable per target variable
    assert build(zoo.strassen(), zoo.path(3), (1, 0, 2)) is None  # the query stays the query
    assert_simulates(build(zoo.strassen(), zoo.path(3), (0, 2, 1)))  # any map the structure allows


def test_untied_sources_need_no_blocks_for_distinct_hosts():
    r = reduction(zoo.strassen().replace(untied=True), zoo.path(3))
    assert r.blocks == 1 and "untied" in r.describe()
    assert reduction(zoo.strassen(), zoo.path(3)).blocks == 2


@st.composite
def mechanisms(draw, max_t: int = 4):
    t = draw(st.integers(2, max_t))
    count = draw(st.integers(1, 4))
    monomials = []
    for _ in range(count):
        powers = draw(st.lists(st.sampled_from([0, 0, 1, 1, 1, 2]), min_size=t, max_size=t))
        coefficient = draw(st.sampled_from([1, 1, 2, -1, sympy.Rational(1, 2), -3]))
        monomials.append(Monomial(sympy.Integer(1) * coefficient, tuple(powers)))
    untied = draw(st.booleans())
    scale = draw(st.sampled_from([None, None, 0.7]))
    try:
        return Mechanism([f"x{i + 1}" for i in range(t)], monomials, untied=untied, scale=scale)
    except PolyError:
        assume(False)


@st.composite
def reductions(draw):
    """A random source and a random target made of restrictions of some of its monomials."""
    m = draw(mechanisms())
    rest = draw(st.lists(st.sampled_from(range(1, m.t)), unique=True, max_size=m.t - 1))
    U = [0, *rest]
    hosts = draw(st.lists(st.sampled_from(range(len(m.monomials))), min_size=1, max_size=3, unique=True))
    monomials, seen = [], set()
    for h in hosts:
        powers = tuple(m.monomials[h].powers[a] for a in U)
        if sum(powers) == 0 or powers in seen:
            continue
        seen.add(powers)
        coefficient = draw(st.sampled_from([1, -2, sympy.Rational(3, 2)]))
        monomials.append(Monomial(sympy.Integer(1) * coefficient, powers))
    assume(monomials)
    try:
        target = Mechanism(
            [f"x{i + 1}" for i in range(len(U))],
            monomials,
            untied=draw(st.booleans()),
            scale=draw(st.sampled_from([None, 1.3])),
        )
    except PolyError:
        assume(False)
    return m, target, U


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(reductions(), st.integers(0, 2**16))
def test_random_reductions_equal_the_reference_of_the_target(case, seed):
    source, target, mapping = case
    built = build(source, target, mapping)
    assume(built is not None)
    assert_simulates(built, seed)
    searched = reduction(source, target)  # the search finds one too, no worse
    assert searched is not None and searched.blocks <= built.blocks
    assert_simulates(searched, seed)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(mechanisms(max_t=4), st.integers(0, 2**16))
def test_registry_candidates_are_exact_and_below_the_plan(m, seed):
    for r in candidates(m):
        assert_simulates(r, seed)
    plan = exact_plan(m)
    for bound in L.inherited(m)[0]:  # no lower bound above the upper bound, at any valuation
        value = bound.exponent()
        assert float(value.subs(C.omega, OMEGA_BEST)) <= C.exponent_value(plan) + 1e-9
        assert float(value.subs(C.omega, 3)) <= C.exponent_value(plan, 3) + 1e-9


def test_beyond_the_full_search_the_structured_sets_still_reach_the_registry():
    pendants = " + ".join(f"x3*x{a}" for a in range(4, 14))  # Strassen with 10 leaves on x3: t = 13
    ids = {
        bound.id for bound in L.inherited(Mechanism.from_polynomial(f"x1*x2 + x2*x3 + x3*x1 + {pendants}"))[0]
    }
    assert {"strassen-max2sat", "self-attention-seth", "non-tree-superquadratic"} <= ids
    ids = {bound.id for bound in L.inherited(zoo.star(14))[0]}
    assert {"tree-quadratic", "self-attention-seth"} <= ids


def test_every_zoo_chain_is_real():
    for spec in zoo.examples():
        for bound in polyth.bounds(spec).lower:
            if bound.reduction is not None and bound.reduction.moves:
                assert_simulates(bound.reduction)


# ------------------------------------------------------------------ causal masks
MASKED = [
    ("self", "prefix"),
    ("path:3", "prefix"),
    ("strassen", "prefix"),
    ("x1*x2*x3 + x1*x2", "prefix"),
    ("path:3", "nested"),
    ("tree:1-2,2-3,2-4", "nested"),
    ("star:3", "nested"),
]


@pytest.mark.parametrize("spec,causal", MASKED)
def test_unmasking_recovers_the_unmasked_output(spec, causal):
    m = zoo.from_spec(spec).replace(values=None if spec != "path:3" else (1, 2, 3))  # a query value too
    unmask = Unmasking.of(m, causal)
    Q, V = _inputs(m, 3, n=3)
    masked_Q, masked_V = unmask.lift(Q, V)
    assert masked_Q[0].shape[0] == unmask.length_factor * 3
    out = reference.attention(m, masked_Q, masked_V, causal=causal)
    np.testing.assert_allclose(unmask.read_out(out), reference.attention(m, Q, V), rtol=1e-10, atol=1e-12)


def test_masks_inherit_only_where_the_unmasking_applies():
    assert Unmasking.of(Mechanism.from_polynomial("x1*x2 + x2*x3", values=["x3"]), "prefix") is None
    prefix = polyth.bounds("self", causal="prefix")
    assert prefix.verdict == "tight" and "prefix mask at length 2·n" in prefix.best_lower.chain
    nested = polyth.bounds("path:4", causal="nested")
    assert nested.verdict == "tight" and "nested mask at length 4·n" in nested.best_lower.chain


# ------------------------------------------------------------------ statements shown only where they hold
def test_registry_entries_state_their_class_and_conditions():
    for entry in L.REGISTRY:
        assert entry.structure and entry.conditions and isinstance(entry.paper_class, bool)
        assert {"paper_class", "conditions", "structure"} <= set(entry.to_dict(zoo.self_attention()))
        assert "Theorem" not in entry.statement + entry.conditions  # no theorem numbers were verified


@pytest.mark.parametrize("spec", ["self", "path:3", "star:4", "tree:1-2,2-3,2-4", "strassen"])
def test_degree_two_thresholds_claim_no_superquadratic_time(spec):
    b = polyth.bounds(spec)
    statements = [entry.statement for entry in b.approx_lower]
    assert statements and all("n^{2−Ω(1)}" in s for s in statements)  # Alman & Song 2023
    assert not any("forces superquadratic" in s for s in statements)
    if spec != "strassen":
        assert b.exponent == 2  # the exact algorithm is quadratic: superquadratic would be false


def test_thresholds_are_shown_only_for_their_structure():
    three = {entry.id for entry in polyth.bounds("tensor:3").approx_lower}
    assert three == {"approx-3-tensor", "approx-degree-k"}
    assert "n^{3−o(1)}" in L._BY_ID["approx-3-tensor"].statement  # Alman & Song 2024
    for outside in ["x1**2*x2", "2*x1*x2 + x2*x3"]:
        assert polyth.bounds(outside).approx_lower == ()
    assert polyth.bounds(Mechanism.from_polynomial("x1*x2", untied=True)).approx_lower == ()


# ------------------------------------------------------------------ negatives inherit
@pytest.mark.parametrize("spec", ["path:3", "star:3", "x1*x2 + x1*x3", "2*x1*x2 - x2*x3"])
def test_three_fold_composition_negatives_inherit(spec):
    m = zoo.from_spec(spec)
    by_task = {p.task: p for p in predict(m)}
    for task in ("compose:3", "compose:4"):
        p = by_task[task]
        assert p.answer == "no" and "Chakrabarti" in p.source
        assert "n^{1−o(1)} heads" in p.reason and "simulates this mechanism" in p.reason
        assert "could not be checked here" in p.reason and "d × 2" in p.heads_note
    assert "f_4 the identity" in by_task["compose:4"].reason
    assert_simulates(reduction(zoo.strassen(), m))  # the chain the reason quotes is real


def test_match_and_two_fold_negatives_inherit_from_self_attention():
    bias = {p.task: p for p in predict("x1*x2 + 3*x2")}  # self-attention with a key bias
    assert bias["compose:2"].answer == "no" and "H(d+1)p ≥ n log n" in bias["compose:2"].reason
    assert bias["match3"].answer == "no" and "x1 ≡ 1" in bias["match3"].reason
    assert_simulates(reduction(zoo.self_attention(), Mechanism.from_polynomial("x1*x2 + 3*x2")))
