"""Constructions by simulation: every "yes" of ``tasks predict`` is backed by a construction that
runs the mechanism itself and reaches 100% (polyth.tasks.constructions.simulation).

Expected answers come from the sources and from the moves' arithmetic: a path rooted at the
query composes as many functions as it has edges (Chakrabarti, Pitassi, Alman 2026), and a block
under the scale 1/d absorbs its E-fold larger d with κ = E.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import polyth
import polyth.tasks.constructions.base
from polyth import Mechanism, Monomial, zoo
from polyth.tasks import accuracy, find, generate
from polyth.tasks.constructions import SimulatedConstruction, simulations
from polyth.tasks.constructions.compose import path_composition
from polyth.tasks.constructions.simulation import runs_on, simulate
from polyth.tasks.predict import predict
from polyth.theory.reductions import build
from tests.test_reductions import reductions as random_reductions

ZOO = [
    *dict.fromkeys(
        ["self", "path:3", "path:4", "path:5", "star:4", "strassen", "tensor:3", "cycle:4", "clique:4"]
        + zoo.examples()
    )
]
INSTANCES = 12


def small_n(task: str) -> int:
    """A small valid size: compose:R with m = 2 (m = 3 for R = 1), Match2 and Match3 at n = 6."""
    if task.startswith("compose:"):
        r = int(task.split(":")[1])
        return r * (3 if r == 1 else 2) + 1
    return 6


def record_heads(monkeypatch) -> list:
    """Every ``polyth.attention`` call of a construction's heads: (mechanism, Q widths)."""
    seen = []
    original = polyth.tasks.constructions.base.attention

    def recording(m, Q, V, **options):
        seen.append((m, {np.shape(q)[-1] for q in Q}))
        return original(m, Q, V, **options)

    monkeypatch.setattr(polyth.tasks.constructions.base, "attention", recording)
    return seen


def head_outputs(construction, batch, B: float) -> list[np.ndarray]:
    """The attention output of every head of ``construction`` on ``batch`` (exact method)."""
    outputs = []

    def attend(m, Q, V):
        outputs.append(polyth.attention(m, Q, V, method="exact", backend="cpu"))
        return outputs[-1]

    construction.forward(batch, B, attend)
    return outputs


def assert_predict_and_check_agree(m: Mechanism, seed: int) -> None:
    """predict "yes" ⇔ a construction exists; then it runs m itself, every head's output equals
    the registered construction's on its own mechanism, and it is 100% accurate."""
    for prediction in predict(m):
        construction = find(m, prediction.task)
        assert (construction is not None) == (prediction.answer == "yes"), (m, prediction)
        if construction is None:
            continue
        target = construction.target.mechanism
        assert construction.mechanism == runs_on(m, target) and construction.mechanism.t == m.t
        n = small_n(prediction.task)
        batch = generate(prediction.task, n, 4, seed=seed)
        B = construction.default_B(n, batch.domain)
        for lifted, direct in zip(
            head_outputs(construction, batch, B), head_outputs(construction.target, batch, B), strict=True
        ):
            np.testing.assert_allclose(lifted, direct, rtol=1e-9, atol=1e-9)
        assert accuracy(construction, n, INSTANCES, seed=seed) == 1.0, (m, prediction.task)
        assert 0 < construction.entries.lifted <= construction.lifted_B(B) * (1 + 1e-12)


@pytest.mark.parametrize("spec", ZOO)
def test_every_yes_of_predict_is_a_construction_at_100_percent_on_the_zoo(spec):
    assert_predict_and_check_agree(zoo.from_spec(spec), seed=len(spec))


@pytest.mark.parametrize("spec", ["x2*x3 + x1*x2*x3", "x1*x2*x3 - x1*x2", "x1*x2 + x2*x3 + x1*x2*x3"])
def test_constructions_run_through_sign_blocks(spec):
    """A nested monomial cancels on sign blocks (polyth.theory.reductions), so these simulate
    self-attention and the 3-tensor; every lifted head equals the registered one and is 100%."""
    m = Mechanism.from_polynomial(spec)
    signed = [find(m, p.task) for p in predict(m) if p.answer == "yes"]
    lifted = [c for c in signed if isinstance(c, SimulatedConstruction)]
    assert any(signs for c in lifted for _, signs in c.reduction.signs)
    assert_predict_and_check_agree(m, seed=7)


def random_mechanism(seed: int) -> Mechanism:
    """A random mechanism on 3–5 variables: 2–6 pairs (a graph), up to two triples and one
    degree-1 term, some powers 2 and coefficients other than 1; every variable in some monomial.
    Drawn from a seed (hypothesis draws the seed), so that 20 examples are 20 different mechanisms."""
    rng = np.random.default_rng(seed)
    while True:
        t = int(rng.integers(3, 6))
        pairs = list(itertools.combinations(range(t), 2))
        triples = list(itertools.combinations(range(t), 3))
        supports = [pairs[i] for i in rng.choice(len(pairs), rng.integers(2, min(6, len(pairs)) + 1), False)]
        supports += [
            triples[i] for i in rng.choice(len(triples), rng.integers(0, min(2, len(triples)) + 1), False)
        ]
        supports += [(int(a),) for a in rng.choice(t, rng.integers(0, 2))]
        if set().union(*map(set, supports)) == set(range(t)):
            break
    monomials = []
    for support in supports:
        coefficient = sympy.Integer(1) * [1, 1, 1, 2, -1, sympy.Rational(1, 2)][rng.integers(6)]
        powers = [0] * t
        for a in support:
            powers[a] = int(rng.choice([1, 1, 1, 1, 2]))
        monomials.append(Monomial(coefficient, tuple(powers)))
    return Mechanism([f"x{i + 1}" for i in range(t)], monomials)


@settings(max_examples=20)
@given(st.integers(0, 2**32 - 1))
def test_every_yes_of_predict_is_a_construction_at_100_percent_on_random_mechanisms(seed):
    assert_predict_and_check_agree(random_mechanism(seed), seed)


# ------------------------------------------------------------------ what runs
def test_the_issue_example_composes_through_the_path_x1_x3_x4(monkeypatch):
    m = Mechanism.from_polynomial("x1*x2 + x1*x3 + x3*x4")
    construction = find(m, "compose:2")
    assert isinstance(construction, SimulatedConstruction) and construction.target_spec == "path:3"
    # the path x1–x3–x4 carries the construction, x2 is deleted
    assert construction.chain == "read x2 as x3, x3 as x4; set Q(x2) = 0, V(x2) = 1"
    assert construction.reduction.blocks == 1
    seen = record_heads(monkeypatch)
    assert accuracy(construction, 9, 20, seed=3) == 1.0
    assert seen and all(mechanism == runs_on(m, construction.target.mechanism) for mechanism, _ in seen)
    assert all(mechanism.variables == m.variables for mechanism, _ in seen)  # m itself, not path:3


def test_blocks_multiply_d_and_under_the_scale_1_over_d_the_entry_bound():
    # tensor:3 simulates Strassen with one block per monomial (E = 3): Strassen's Match3 weights
    # (scale 1/d) run on x1·x2·x3 with d × 3, and the pivot of each block absorbs κ = E = 3.
    lifted = next(c for c in simulations("tensor:3", "match3") if c.target_spec == "strassen")
    assert lifted.reduction.blocks == 3 and lifted.embedding_dim.startswith("3 × (6 per head")
    assert lifted.lifted_B(2.0) == pytest.approx(6.0)
    n = 6
    assert accuracy(lifted, n, INSTANCES, seed=1) == 1.0
    B = lifted.default_B(n, generate("match3", n, 1, seed=0).domain)
    assert lifted.entries.target == pytest.approx(B) and lifted.entries.lifted == pytest.approx(3 * B)
    assert find("tensor:3", "match3").chain == "as it stands"  # the direct construction comes first


def test_a_coefficient_is_absorbed_without_raising_the_bound_above_B():
    # 2·x1x2 − x2x3 simulates self-attention (delete x3): κ = 1/2 on the pivot, x2 keeps B.
    construction = find("2*x1*x2 - x2*x3", "compose:1")
    assert construction.target_spec == "path:2"
    ((_, kappa),) = construction.reduction.scalings(5)
    assert kappa == pytest.approx(0.5)
    assert construction.lifted_B(1.5) == pytest.approx(1.5)
    assert accuracy(construction, 7, INSTANCES, seed=2) == 1.0


def test_fixing_a_variable_raises_the_bound_to_the_constant_1():
    construction = find("tensor:3", "compose:1")  # x3 ≡ 1 inside x1·x2·x3
    assert construction.lifted_B(0.25) == 1.0 and construction.lifted_B(3.0) == 3.0


def test_preference_fewest_blocks_then_fewest_moves():
    # clique-4 simulates Strassen by deleting x4 (E = 1) and the path by blocks (E = 2)
    options = simulations("clique:4", "compose:2")
    assert [c.target_spec for c in options] == ["strassen", "path:3"]
    assert [c.reduction.blocks for c in options] == [1, 2]
    assert find("x1*x2 + x2*x3", "compose:2").chain == "as it stands"
    assert find("x1*x3 + x3*x2", "compose:2").chain == "read x2 as x3, x3 as x2"


def test_far_below_the_entry_bound_the_lift_fails_like_the_original():
    # the lift adds no margin of its own (argmax ties at a small B may break either way, so the
    # accuracies are compared with the threshold, not with each other)
    construction = find("cycle:4", "compose:3")  # path:4 in three blocks
    assert construction.reduction.blocks == 3
    assert accuracy(construction, 10, 40, B=0.3, seed=4) < 0.9
    assert accuracy(construction.target, 10, 40, B=0.3, seed=4) < 0.9


def test_a_construction_that_breaks_its_own_entry_bound_is_caught():
    honest = path_composition(2)

    def twice_B(batch, B, attend):  # builds entries 2B while claiming B
        return honest.forward(batch, 2 * B, attend)

    broken = simulate(zoo.path(4), "path:3", dataclasses.replace(honest, forward=twice_B))
    with pytest.raises(RuntimeError, match="polyth bug"):
        broken.run(generate("compose:2", 9, 2, seed=0), B=1.0)


@settings(max_examples=40, suppress_health_check=[HealthCheck.filter_too_much])
@given(random_reductions(), st.floats(0.1, 10.0), st.integers(0, 2**16))
def test_the_entry_bound_holds_and_is_reached(case, B, seed):
    source, target, mapping = case
    r = build(source, target, mapping)
    assume(r is not None)
    rng = np.random.default_rng(seed)
    n, d = 3, 2
    V = {b + 1: rng.normal(size=(n, 1)) for b in target.values}
    signs = [rng.choice([-1.0, 1.0], size=(n, d)) for _ in target.input_slots]
    at_B, _ = r.lift([B * s for s in signs], V)  # every entry ±B: the bound is reached
    assert max(np.abs(q).max() for q in at_B) == pytest.approx(r.entry_bound(B, d))
    inside, _ = r.lift([B * rng.uniform(-1, 1, size=(n, d)) for _ in target.input_slots], V)
    assert max(np.abs(q).max() for q in inside) <= r.entry_bound(B, d) * (1 + 1e-12)
