"""The zoo: each named mechanism has the polynomial of its source, and from_spec reads specs."""

import pytest

from polyth import Mechanism, PolyError, zoo

P = Mechanism.from_polynomial


@pytest.mark.parametrize(
    ("built", "polynomial", "name"),
    [
        (zoo.self_attention(), "x1*x2", "self-attention"),
        (zoo.tensor(3), "x1*x2*x3", "tensor(3)"),
        (zoo.tensor(5), "x1*x2*x3*x4*x5", "tensor(5)"),
        (zoo.strassen(), "x1*x2 + x2*x3 + x3*x1", "strassen"),
        (zoo.path(2), "x1*x2", "path(2)"),
        (zoo.path(5), "x1*x2 + x2*x3 + x3*x4 + x4*x5", "path(5)"),
        (zoo.star(4), "x1*x2 + x1*x3 + x1*x4", "star(4)"),
        (zoo.tree([(1, 2), (2, 3), (2, 4)]), "x1*x2 + x2*x3 + x2*x4", "tree(1-2,2-3,2-4)"),
        (zoo.cycle(4), "x1*x2 + x2*x3 + x3*x4 + x4*x1", "cycle(4)"),
        (zoo.clique(4), "x1*x2 + x1*x3 + x1*x4 + x2*x3 + x2*x4 + x3*x4", "clique(4)"),
    ],
)
def test_builders_give_the_named_polynomial(built, polynomial, name):
    expected = P(polynomial)
    assert built == expected
    assert set(built.monomials) == set(expected.monomials)
    assert built.name == name
    assert built.values == tuple(range(1, built.t))


def test_structure_of_the_zoo():
    assert zoo.self_attention().is_tree and zoo.path(6).is_tree and zoo.star(6).is_tree
    assert not zoo.strassen().is_tree and not zoo.cycle(5).is_tree and not zoo.clique(4).is_tree
    assert zoo.tensor(4).k == 4 and zoo.tensor(4).supports == ((0, 1, 2, 3),)
    assert all(m.in_paper_class for m in [zoo.strassen(), zoo.path(3), zoo.tensor(3), zoo.clique(5)])
    assert zoo.cycle(3) == zoo.strassen() == zoo.clique(3)
    assert zoo.path(2) == zoo.self_attention() == zoo.star(2) == zoo.tensor(2)


def test_path_and_star_differ_where_the_query_sits():
    # path(3): x1-x2-x3 has the query at an end; star(3): x2-x1-x3 has it in the middle.
    assert zoo.path(3) != zoo.star(3)
    assert zoo.path(4) != zoo.star(4)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: zoo.tensor(1), "tensor order k must be between 2 and 16, got 1"),
        (lambda: zoo.tensor(17), "between 2 and 16, got 17"),
        (lambda: zoo.path(1), "path variables t must be between 2 and 16"),
        (lambda: zoo.path(2.5), "must be an integer, got 2.5"),
        (lambda: zoo.path("4"), "must be an integer, got '4'"),
        (lambda: zoo.star(True), "must be an integer, got True"),
        (lambda: zoo.cycle(2), "cycle length k must be between 3 and 16"),
        (lambda: zoo.clique(1), "clique size k must be between 2 and 16"),
        (lambda: zoo.tree([(1, 2), (2, 3), (3, 1)]), "do not form a tree"),
        (lambda: zoo.tree([(1, 2), (3, 4)]), "do not form a tree"),
        (lambda: zoo.tree([(1, 2), (2, 1)]), "do not form a tree"),
        (lambda: zoo.tree([(1, 2, 3)]), r"edge \(1, 2, 3\) must join exactly two"),
        (lambda: zoo.tree([(2, 3)]), "query vertex 1 lies on no hyperedge"),
        (lambda: zoo.tree(5), "pairs of variable indices"),
    ],
)
def test_bad_arguments_are_polyerrors(call, named):
    with pytest.raises(PolyError, match=named):
        call()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("self", zoo.self_attention()),
        ("Strassen", zoo.strassen()),
        (" path:4 ", zoo.path(4)),
        ("tensor:3", zoo.tensor(3)),
        ("star:5", zoo.star(5)),
        ("cycle:5", zoo.cycle(5)),
        ("clique:4", zoo.clique(4)),
        ("tree:1-2, 2-3, 2-4", zoo.tree([(1, 2), (2, 3), (2, 4)])),
        ("x1*x2 + x2*x3", zoo.path(3)),
        ("x1*x2*x3", zoo.tensor(3)),
    ],
)
def test_from_spec(spec, expected):
    m = zoo.from_spec(spec)
    assert m == expected
    assert m.name == (None if "x1" in spec else expected.name)


def test_every_example_spec_builds():
    assert zoo.names()[:8] == ["self", "tensor", "strassen", "path", "star", "tree", "cycle", "clique"]
    assert zoo.names()[8:] == ["linear", "elementwise"]
    for example in zoo.examples():
        assert isinstance(zoo.from_spec(example), Mechanism)
        assert zoo.source(example)
    assert zoo.source("path:9") == "Chakrabarti, Pitassi, Alman 2026"
    assert zoo.source("x1*x2") is None


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("softmax", r"unknown mechanism 'softmax': give a zoo name \(self, tensor:3, strassen, path:4"),
        ("path", r"'path' needs an integer size, as in path:4"),
        ("path:", r"needs an integer size"),
        ("path:four", r"needs an integer size"),
        ("path:-3", r"needs an integer size"),
        ("path:40", r"between 2 and 16, got 40"),
        ("self:2", r"'self' takes no argument"),
        ("tree", r"needs its edges, as in tree:1-2,2-3,2-4"),
        ("tree:1-2-3", r"needs its edges"),
        ("x1*x2 + x2*y3", r"unknown symbol 'y3'"),
        ("", r"empty"),
    ],
)
def test_from_spec_errors(spec, named):
    with pytest.raises(PolyError, match=named):
        zoo.from_spec(spec)


def test_from_spec_needs_text():
    with pytest.raises(PolyError, match="spec is text, got int"):
        zoo.from_spec(3)
