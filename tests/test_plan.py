"""Tests of polyth.plan: known exponents, masks, search, heuristics, invariance, executability."""

from __future__ import annotations

import json
import random

import networkx as nx
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from polyth import Mechanism, PolyError, zoo
from polyth.theory import cost as C
from polyth.theory.plan import exact_plan, low_rank_plan, plan_with_order


@pytest.mark.parametrize(
    "m,expected",
    [
        (zoo.self_attention(), 2),
        (zoo.path(3), 2),
        (zoo.path(6), 2),
        (zoo.star(5), 2),
        (zoo.tree([(1, 2), (2, 3), (2, 4), (1, 5)]), 2),
        (zoo.strassen(), C.omega),
        (zoo.tensor(3), 3),
        (zoo.tensor(4), 4),
        (zoo.cycle(4), C.omega),
    ],
)
def test_known_exponents(m, expected):
    assert C.exponent(exact_plan(m)) == expected


def test_one_hyperedge_of_degree_k_costs_k():
    for k in (2, 3, 5):
        m = Mechanism.from_hypergraph([tuple(range(1, k + 1))])
        assert C.exponent(exact_plan(m)) == k


def test_trees_are_flash_passes_with_linear_memory():
    plan = exact_plan(zoo.path(5))
    kinds = [s.kind for s in plan.steps]
    assert kinds == ["tree_message"] * 4 + ["normalize"]
    assert all(sympy.degree(s.memory, C.n) == 1 for s in plan.steps)


def test_nested_mask_keeps_a_path_quadratic_and_masks_the_tables():
    plan = exact_plan(zoo.path(4), "nested")
    assert C.exponent(plan) == 2
    assert all(f.masked for f in plan.factors if f.kind == "scores")
    assert not any(f.kind == "threshold" for f in plan.factors)
    # the masked flash pass visits n(n+1)/2 pairs
    first = plan.steps[0]
    assert sympy.expand(first.exps - C.n * (C.n + 1) / 2) == 0


def test_prefix_masked_path_of_four_reports_what_is_found():
    """Reported as found: a matmul on x2 and a prefix scan on x4 (exponent ω), not quadratic."""
    plan = exact_plan(zoo.path(4), "prefix")
    assert C.exponent(plan) == C.omega
    kinds = {s.kind for s in plan.steps}
    assert "prefix_sum" in kinds and "matmul" in kinds
    scan = next(s for s in plan.steps if s.kind == "prefix_sum")
    assert scan.partner == 0
    assert C.exponent(exact_plan(zoo.path(3), "prefix")) == 2


def test_matmul_steps_carry_their_groups_and_batch():
    plan = exact_plan(zoo.strassen())
    step = plan.steps[0]
    assert step.kind == "matmul"
    left, right = step.groups
    assert set(left) | set(right) <= set(step.inputs) and not set(left) & set(right)
    assert step.batch == ()
    assert sympy.expand(step.madds - C.n**C.omega * (C.dv + 1)).has(C.omega) is False


def test_exhaustive_up_to_eight_variables_then_heuristic():
    assert exact_plan(zoo.path(8)).exhaustive
    long_path = exact_plan(zoo.path(12))
    assert not long_path.exhaustive
    assert C.exponent(long_path) == 2  # the min-fill-in decomposition of a path is leaf-first
    assert not low_rank_plan(zoo.clique(4)).exhaustive


@st.composite
def trees(draw):
    size = draw(st.integers(2, 7))
    graph = nx.random_labeled_tree(size, seed=draw(st.integers(0, 10_000)))
    return Mechanism.from_hypergraph([(a + 1, b + 1) for a, b in graph.edges()])


@settings(max_examples=15)
@given(trees(), st.sampled_from([None, "nested"]))
def test_random_trees_are_quadratic(m, causal):
    assert C.exponent(exact_plan(m, causal)) == 2


@st.composite
def hypergraphs(draw):
    t = draw(st.integers(2, 6))
    edges = draw(
        st.lists(
            st.lists(st.integers(1, t), min_size=2, max_size=3, unique=True).map(tuple),
            min_size=1,
            max_size=6,
        )
    )
    covered = {v for e in edges for v in e}
    edges += [(1, v) for v in range(1, t + 1) if v not in covered and v != 1]
    if 1 not in {v for e in edges for v in e}:
        edges.append((1, 2))
    return Mechanism.from_hypergraph(edges)


def _reference_count(plan):
    return C.operation_count(plan, 1024, 64, 64).total


@settings(max_examples=25)
@given(hypergraphs(), st.sampled_from([None, "prefix"]))
def test_never_worse_than_naive(m, causal):
    plan = exact_plan(m, causal)
    assert C.exponent_value(plan, 3) <= m.t
    assert C.exponent_value(plan) <= m.t
    naive = C.naive_terms(m, causal).evaluate(C.REFERENCE_SIZES)
    assert _reference_count(plan) <= naive


@settings(max_examples=25)
@given(hypergraphs(), st.randoms(use_true_random=False), st.sampled_from([None, "prefix"]))
def test_invariant_under_renaming_the_non_query_variables(m, rnd, causal):
    names = list(m.variables[1:])
    shuffled = names[:]
    rnd.shuffle(shuffled)
    renaming = dict(zip(names, shuffled))
    text = " + ".join(
        f"{mono.coefficient}*" + "*".join(renaming.get(m.variables[a], m.variables[a]) for a in mono.support)
        for mono in m.monomials
    )
    renamed = Mechanism.from_polynomial(text)
    a, b = exact_plan(m, causal), exact_plan(renamed, causal)
    assert C.exponent(a) == C.exponent(b)
    assert _reference_count(a) == _reference_count(b)
    assert sympy.simplify(C.cost(a) - C.cost(b)) == 0


def test_every_order_is_no_better_than_the_searched_one():
    m = zoo.cycle(5)
    best = exact_plan(m)
    for seed in range(6):
        order = list(range(1, m.t))
        random.Random(seed).shuffle(order)
        other = plan_with_order(m, order)
        assert C.exponent_value(other) >= C.exponent_value(best) - 1e-12
        assert _reference_count(other) >= _reference_count(best) or C.exponent_value(
            other
        ) > C.exponent_value(best)


def test_low_rank_plans_are_linear_in_n():
    for m in (zoo.self_attention(), zoo.strassen(), zoo.tensor(3), zoo.path(4), zoo.cycle(4)):
        plan = low_rank_plan(m)
        assert C.exponent(plan) == 1
        assert any(plan.is_rank(v) for v in plan.order)


def test_plan_to_dict_is_json_and_names_variables():
    plan = exact_plan(zoo.path(4), "prefix")
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["order"] and data["steps"][-1]["kind"] == "normalize"
    assert {"kind", "eliminated", "inputs", "output", "madds", "exps", "size"} <= set(data["steps"][0])
    assert any(step.get("partner") == "x1" for step in data["steps"])
    assert "tree_message" in exact_plan(zoo.path(3)).describe()


def test_bad_inputs_are_clear_errors():
    with pytest.raises(PolyError, match="causal must be one of"):
        exact_plan(zoo.path(3), "suffix")
    with pytest.raises(PolyError, match="connected tree polynomial"):
        exact_plan(zoo.strassen(), "nested")
    with pytest.raises(PolyError, match="order must list"):
        plan_with_order(zoo.path(3), [1, 1])
    with pytest.raises(PolyError, match="expected a polyth Mechanism"):
        exact_plan("x1*x2")
