"""Mechanism: parsing results, hypergraph builders, properties, canonical form, display."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import pytest  # noqa: E402
import sympy  # noqa: E402
from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from polyth import Mechanism, Monomial, PolyError  # noqa: E402

P = Mechanism.from_polynomial


# ------------------------------------------------------------------ parsing
def test_monomials_powers_and_coefficients():
    m = P("2*x1*x2**2 - 0.5*x2*x3 + x3*x1")
    assert m.variables == ("x1", "x2", "x3")
    assert m.t == 3
    terms = {mono.powers: mono.coefficient for mono in m.monomials}
    assert terms == {(1, 2, 0): 2, (0, 1, 1): sympy.Rational(-1, 2), (1, 0, 1): 1}
    half = next(mono for mono in m.monomials if mono.powers == (0, 1, 1))
    assert half.value == -0.5 and isinstance(half.value, float)
    assert half.support == (1, 2) and half.degree == 2 and half.is_multilinear
    square = next(mono for mono in m.monomials if mono.powers == (1, 2, 0))
    assert square.support == (0, 1) and square.degree == 3 and not square.is_multilinear
    assert m.k == 3
    assert not m.is_multilinear and not m.in_paper_class


def test_expansion_collects_like_terms():
    m = P("(x1 + x2)*(x1 + x3) - x1**2")
    assert {mono.powers: mono.coefficient for mono in m.monomials} == {
        (1, 1, 0): 1,
        (1, 0, 1): 1,
        (0, 1, 1): 1,
    }


def test_variable_order_is_query_first_then_natural():
    assert P("x10*x1 + x1*x2 + x3*x10").variables == ("x1", "x2", "x3", "x10")
    assert P("x1*x2 + x2*x3", query="x2").variables == ("x2", "x1", "x3")
    m = P("k*q + k*v", query="q", variables=["q", "k", "v"])
    assert m.variables == ("q", "k", "v") and m.query == "q"


def test_sympy_input_matches_text_input():
    x1, x2, x3 = sympy.symbols("x1 x2 x3")  # no assumptions: still the same variables
    assert P(x1 * x2 + 3 * x2 * x3) == P("x1*x2 + 3*x2*x3")
    mixed = sympy.Symbol("x1") * sympy.Symbol("x1", real=True) * x2
    assert P(mixed).monomials == (Monomial(sympy.Integer(1), (2, 1)),)


def test_float_coefficients_stay_exact_rationals():
    x1, x2 = sympy.symbols("x1 x2", real=True)
    m = P(sympy.Float(1.4142135623730951) * x1 * x2)
    coefficient = m.monomials[0].coefficient
    assert isinstance(coefficient, sympy.Rational)  # not sqrt(2)
    assert m.monomials[0].value == 1.4142135623730951
    assert P("0.1*x1*x2").monomials[0].coefficient == sympy.Rational(1, 10)


def test_values_by_name_and_index():
    m = P("x1*x2 + x2*x3")
    assert m.values == (1, 2)
    assert P("x1*x2 + x2*x3", values=["x1", "x3"]).values == (0, 2)
    assert P("x1*x2 + x2*x3", values=[3]).values == (2,)
    assert P("x1*x2 + x2*x3", values="x2").values == (1,)
    with pytest.raises(PolyError, match="'x7' is not one of"):
        P("x1*x2", values=["x7"])
    with pytest.raises(PolyError, match="1-based index 1..2"):
        P("x1*x2", values=[0])
    with pytest.raises(PolyError, match="at least one value variable"):
        P("x1*x2", values=[])


def test_options_are_validated():
    with pytest.raises(PolyError, match="not a finite number"):
        P("x1*x2", scale=float("nan"))
    with pytest.raises(PolyError, match="exceed the limit of 16"):
        P("*".join(f"x{i}" for i in range(1, 18)))
    with pytest.raises(PolyError, match="unknown symbols"):
        P(sympy.Symbol("x1") * sympy.Symbol("z"), variables=["x1", "x2"])


# ------------------------------------------------------------------ hypergraphs
def test_from_hypergraph_tuples():
    m = Mechanism.from_hypergraph([(1, 2), (2, 3), (1, 2, 3)])
    assert m == P("x1*x2 + x2*x3 + x1*x2*x3")
    assert m.supports == ((0, 1), (1, 2), (0, 1, 2))
    doubled = Mechanism.from_hypergraph([(1, 2), (2, 1)])
    assert doubled.monomials == (Monomial(sympy.Integer(2), (1, 1)),)
    assert Mechanism.from_hypergraph([(1, 2), (2, 3)], query=2).variables == ("x2", "x1", "x3")


def test_from_hypergraph_networkx():
    assert Mechanism.from_hypergraph(nx.path_graph([1, 2, 3, 4])) == P("x1*x2 + x2*x3 + x3*x4")
    assert Mechanism.from_hypergraph(nx.complete_graph([1, 2, 3])) == P("x1*x2 + x2*x3 + x1*x3")


@pytest.mark.parametrize(
    ("edges", "named"),
    [
        ([], "no edges"),
        ([()], "empty hyperedge"),
        ([(1, 1)], "repeats a vertex"),
        ([(1, 0)], "not the indices 1, 2, …, so no vertex is x1 by default: name the query"),
        ([(1, "a")], "name the query, e.g. query=1"),
        ([(1, True)], "vertex True"),
        ([(2, 3)], "query vertex 1 lies on no hyperedge"),
        ([1, 2], "tuples of vertices"),
        (nx.DiGraph([(1, 2)]), "a directed graph has no meaning here"),
    ],
)
def test_from_hypergraph_rejects(edges, named):
    with pytest.raises(PolyError, match=named):
        Mechanism.from_hypergraph(edges)


def test_isolated_networkx_vertex_is_rejected():
    graph = nx.Graph([(1, 2)])
    graph.add_node(3)
    with pytest.raises(PolyError, match=r"nodes \[3\] lie on no edge"):
        Mechanism.from_hypergraph(graph)


# ------------------------------------------------------------------ properties
def test_tree_and_connectivity():
    assert P("x1*x2 + x2*x3 + x2*x4").is_tree
    assert P("x1*x2 + x3*x4").is_tree and not P("x1*x2 + x3*x4").is_connected
    assert not P("x1*x2 + x2*x3 + x3*x1").is_tree
    assert not P("x1*x2*x3").is_tree  # a support of size 3
    assert P("x1*x2**2 + x2*x3").is_tree  # powers do not change the hypergraph
    assert P("x1*x2 + x2*x3").is_connected


def test_input_slots_tied_and_untied():
    m = P("x1*x2 + x2*x3 + x1*x3")
    assert m.input_slots == ((None, 0), (None, 1), (None, 2))
    untied = m.replace(untied=True)
    assert untied.input_slots == ((0, 0), (0, 1), (1, 0), (1, 2), (2, 1), (2, 2))
    assert [untied.supports[i] for i, _ in untied.input_slots] == [(0, 1)] * 2 + [(0, 2)] * 2 + [(1, 2)] * 2


def test_hypergraph_is_the_bipartite_factor_graph():
    m = P("x1*x2 + 3*x2*x3**2", values=["x3"])
    graph = m.hypergraph
    variables = {n for n, data in graph.nodes(data=True) if data["bipartite"] == 0}
    monomials = {n for n, data in graph.nodes(data=True) if data["bipartite"] == 1}
    assert variables == {"x1", "x2", "x3"} and monomials == {"m0", "m1"}
    assert nx.is_bipartite(graph)
    assert graph.nodes["x1"]["query"] and not graph.nodes["x2"]["query"]
    assert graph.nodes["x3"]["value"] and not graph.nodes["x2"]["value"]
    three = next(i for i, mono in enumerate(m.monomials) if mono.value == 3)
    assert set(graph[f"m{three}"]) == {"x2", "x3"}
    assert graph.edges[f"m{three}", "x3"]["power"] == 2
    assert graph.nodes[f"m{three}"]["coefficient"] == 3.0 and graph.nodes[f"m{three}"]["degree"] == 3


def test_primal_graph_is_the_two_section():
    graph = P("x1*x2*x3 + x3*x4").primal_graph
    assert set(graph.nodes) == {"x1", "x2", "x3", "x4"}
    assert {frozenset(e) for e in graph.edges} == {
        frozenset(e) for e in [("x1", "x2"), ("x1", "x3"), ("x2", "x3"), ("x3", "x4")]
    }


def test_scale_and_replace():
    m = P("x1*x2")
    assert m.scale is None and m.scale_for(8) == 0.125
    scaled = m.replace(scale=0.5, per_channel=True, name="pc")
    assert scaled.scale_for(8) == 0.5 and scaled.per_channel and scaled.name == "pc"
    assert m.scale is None and not m.per_channel  # immutable
    with pytest.raises(PolyError, match=r"cannot replace \['query'\]"):
        m.replace(query="x2")


def test_paper_class():
    assert P("x1*x2 + x2*x3").in_paper_class
    assert not P("2*x1*x2").in_paper_class
    assert not P("x1**2*x2").in_paper_class


# ------------------------------------------------------------------ equality and canonical form
def test_renaming_the_non_query_variables_gives_an_equal_mechanism():
    a, b = P("x1*x2 + x2*x3"), P("x1*x3 + x3*x2")
    assert a == b and hash(a) == hash(b)
    assert repr(a.canonical()) == repr(b.canonical())


def test_the_query_is_fixed():
    assert P("x1*x2 + x2*x3") != P("x2*x1 + x1*x3")


def test_values_coefficients_powers_and_options_matter():
    base = P("x1*x2 + x2*x3")
    assert base != P("x1*x2 + x2*x3", values=["x2"])
    assert P("x1*x2 + x2*x3", values=["x2"]) != P("x1*x2 + x2*x3", values=["x3"])
    assert base != P("x1*x2 + 2*x2*x3")
    assert base != P("x1*x2 + x2**2*x3")
    assert base != base.replace(untied=True)
    assert base != base.replace(scale=0.5)
    assert base != base.replace(per_channel=True)
    assert base == base.replace(name="renamed")  # the name is a label, not the mechanism
    assert base != "x1*x2 + x2*x3"


def test_canonical_form():
    m = P("x1*x5 + x5*x9", values=["x9"])
    c = m.canonical()
    assert c.variables == ("x1", "x2", "x3") and c == m
    assert repr(c) in (
        "Mechanism(h = x1*x2 + x2*x3, values={x3})",
        "Mechanism(h = x1*x3 + x2*x3, values={x2})",
    )
    assert c.canonical().monomials == c.monomials


@pytest.mark.parametrize(
    "edges",
    [
        [(1, i) for i in range(2, 17)],  # a star with 15 leaves
        [(1, 2)] + [(2 * i + 1, 2 * i + 2) for i in range(1, 8)],  # disjoint pairs
        [(1, 2 * i) for i in range(1, 8)] + [(2 * i, 2 * i + 1) for i in range(1, 8)],  # a spider
    ],
)
def test_symmetric_hypergraphs_with_16_variables_are_fast(edges):
    m = Mechanism.from_hypergraph(edges)
    relabel = {v: v if v == 1 else 18 - v for v in range(1, 17)}
    renamed = Mechanism.from_hypergraph([(relabel[a], relabel[b]) for a, b in edges])
    assert m == renamed and hash(m) == hash(renamed)
    assert repr(m.canonical()) == repr(renamed.canonical())
    assert m.canonical().variables[-1] == f"x{m.t}"


COEFFICIENTS = [1, 1, 1, 2, -1, 0.5]


@st.composite
def small_polynomials(draw):
    """(monomials as (coefficient, powers) over t variables, value flags), x1 always used."""
    t = draw(st.integers(2, 5))
    powers = st.lists(st.integers(0, 2), min_size=t, max_size=t).filter(any).map(tuple)
    monomials = draw(
        st.lists(
            st.tuples(st.sampled_from(COEFFICIENTS), powers), min_size=1, max_size=4, unique_by=lambda x: x[1]
        )
    )
    coefficient, first = monomials[0]
    if not any(p[0] for _, p in monomials):
        first = (1,) + first[1:]
    if not any(any(p[1:]) for _, p in monomials):
        first = first[:1] + (1,) + first[2:]
    monomials[0] = (coefficient, first)
    assume(len({p for _, p in monomials}) == len(monomials))
    values = draw(st.lists(st.booleans(), min_size=t, max_size=t))
    return t, monomials, values


def _text(monomials, names):
    return " + ".join(
        f"({c})*" + "*".join(f"{names[a]}**{p}" for a, p in enumerate(powers) if p) for c, powers in monomials
    )


@given(small_polynomials(), st.randoms(use_true_random=False), st.integers(2, 40))
def test_random_renamings_give_equal_mechanisms(polynomial, random, offset):
    t, monomials, value_flags = polynomial
    names = [f"x{a + 1}" for a in range(t)]
    others = list(range(offset, offset + t - 1))
    random.shuffle(others)
    renamed = ["x1"] + [f"x{i}" for i in others]
    used = {a for _, powers in monomials for a, p in enumerate(powers) if p}
    chosen = [a for a in sorted(used) if a > 0 and value_flags[a]]
    original = P(_text(monomials, names), values=[names[a] for a in chosen] or None)
    copy = P(_text(monomials, renamed), values=[renamed[a] for a in chosen] or None)
    assert original == copy
    assert hash(original) == hash(copy)
    assert repr(original.canonical()) == repr(copy.canonical())
    assert original.canonical().monomials == copy.canonical().monomials
    assert original.canonical().values == copy.canonical().values
    assert original.canonical() == original


# ------------------------------------------------------------------ display
def test_repr_and_latex():
    m = P("x1*x2 + 2*x2*x3", values=["x3"], scale=0.25, name="demo")
    assert repr(m) == "Mechanism(demo: h = x1*x2 + 2*x2*x3, values={x3}, scale=0.25)"
    assert repr(P("x1*x2").replace(untied=True, per_channel=True)) == (
        "Mechanism(h = x1*x2, untied, per_channel)"
    )
    assert m._repr_latex_() == "$h = x_{1} x_{2} + 2 x_{2} x_{3}$"


def test_describe():
    text = P("x1*x2 + x2*x3").describe()
    assert "polynomial  h = x1·x2 + x2·x3" in text
    assert "tree        yes" in text and "degree      k = 2" in text
    assert "hyperedges  {x1, x2}, {x2, x3}" in text


def test_draw_returns_a_figure():
    figure = P("x1*x2 + x2*x3 + x1*x2*x3").draw()
    assert isinstance(figure, matplotlib.figure.Figure)
    ax = figure.axes[0]
    assert ax.get_title() == "$h = x_{1} x_{2} x_{3} + x_{1} x_{2} + x_{2} x_{3}$"
    texts = {text.get_text() for text in ax.texts}
    # every monomial node is labelled by its monomial, every variable by its name
    assert {"$x_{1} x_{2}$", "$x_{2} x_{3}$", "$x_{1} x_{2} x_{3}$"} <= texts
    assert {"$x_{1}$", "$x_{2}$", "$x_{3}$"} <= texts
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["query x1", "other variable", "monomial (hyperedge)"]
    plt.close(figure)
    relabelled = Mechanism.from_graph(nx.path_graph(["q", "k", "v"]), query="q").draw()
    assert "$x_{1}$\nq" in {text.get_text() for text in relabelled.axes[0].texts}
    plt.close(relabelled)
    coefficients = P("2*x1*x2 - x2**2*x3").draw()
    assert {"$2 x_{1} x_{2}$", "$-x_{2}^{2} x_{3}$"} <= {t.get_text() for t in coefficients.axes[0].texts}
    plt.close(coefficients)
    fig, ax = plt.subplots()
    assert P("x1*x2").draw(ax=ax) is fig
    plt.close(fig)
