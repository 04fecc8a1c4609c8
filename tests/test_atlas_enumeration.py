"""The atlas's enumeration: one mechanism per isomorphism class (query fixed), none missing.

Expected counts come from outside polyth's canonical form (BLISS):

* rooted graphs without isolated vertices, from two OEIS sequences whose definitions are
  standard: A000088 (graphs on n unlabelled nodes) and A000666 (symmetric relations on n
  nodes = graphs with a loop allowed at each node). A rooted graph on t nodes is a graph on
  the t − 1 others with the root's neighbours marked (a loop), so there are A000666(t − 1)
  of them; removing those whose root is isolated, G(t − 1), and those with another isolated
  vertex gives N(t) = R(t) − R(t − 1) − G(t − 1) + G(t − 2) with R(t) = A000666(t − 1);
* isomorphism classes by networkx's VF2 with the query's node coloured apart, for small t;
* orbits of labelled hypergraphs under the permutations of x2 … xt, by brute force (numpy).
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from polyth.atlas.enumeration import MAX_T, Member, candidate_edges, families, family
from polyth.errors import PolyError
from polyth.mechanism import Mechanism

A000088 = [1, 1, 2, 4, 11, 34, 156, 1044, 12346]  # graphs on n = 0 … 8 unlabelled nodes
A000666 = [1, 2, 6, 20, 90, 544, 5096, 79264, 2208612]  # symmetric relations on n = 0 … 8 nodes


def rooted_graphs_without_isolated_vertices(t: int) -> int:
    rooted = A000666[t - 1] - A000666[t - 2]
    return rooted - A000088[t - 1] + A000088[t - 2]


def test_the_formula_on_small_cases_counted_by_hand():
    # t = 2: x1x2; t = 3: the star at x1, the path from x1, the triangle
    assert [rooted_graphs_without_isolated_vertices(t) for t in (2, 3)] == [1, 3]


@pytest.mark.parametrize("t", [2, 3, 4, 5, 6])
def test_graph_counts_match_oeis(t):
    assert len(family(t, 2)) == rooted_graphs_without_isolated_vertices(t)


def _incidence_graph(t: int, edges) -> nx.Graph:
    """Vertices 1 … t (1 the query) and one node per hyperedge, joined to its vertices."""
    graph = nx.Graph()
    graph.add_nodes_from(range(1, t + 1), kind="query")
    for v in range(2, t + 1):
        graph.nodes[v]["kind"] = "variable"
    for i, edge in enumerate(edges):
        graph.add_node(("e", i), kind="edge")
        graph.add_edges_from((("e", i), v) for v in edge)
    return graph


def _networkx_classes(t: int, hyperedges: int) -> list[nx.Graph]:
    """One incidence graph per class of the family (t, hyperedges), by VF2 over every labelled one."""
    edges = [e for size in range(2, hyperedges + 1) for e in itertools.combinations(range(1, t + 1), size)]
    same = nx.algorithms.isomorphism.categorical_node_match("kind", None)
    buckets: dict[str, list[nx.Graph]] = {}
    for mask in range(1, 1 << len(edges)):
        chosen = [e for i, e in enumerate(edges) if mask >> i & 1]
        if {v for e in chosen for v in e} != set(range(1, t + 1)):
            continue
        if hyperedges == 3 and all(len(e) == 2 for e in chosen):
            continue
        graph = _incidence_graph(t, chosen)
        key = nx.weisfeiler_lehman_graph_hash(graph, node_attr="kind")
        bucket = buckets.setdefault(key, [])
        if not any(nx.is_isomorphic(graph, other, node_match=same) for other in bucket):
            bucket.append(graph)
    return [g for bucket in buckets.values() for g in bucket]


@pytest.mark.parametrize(("t", "hyperedges"), [(2, 2), (3, 2), (4, 2), (5, 2), (3, 3), (4, 3)])
def test_each_networkx_class_has_exactly_one_member(t, hyperedges):
    classes = _networkx_classes(t, hyperedges)
    members = family(t, hyperedges)
    assert len(members) == len(classes)
    same = nx.algorithms.isomorphism.categorical_node_match("kind", None)
    hits = [0] * len(classes)
    for member in members:
        graph = _incidence_graph(t, member.edges)
        matching = [i for i, c in enumerate(classes) if nx.is_isomorphic(graph, c, node_match=same)]
        assert len(matching) == 1, member.polynomial
        hits[matching[0]] += 1
    assert hits == [1] * len(classes)


def orbit_count(t: int, hyperedges: int) -> int:
    """Orbits of the labelled hypergraphs of the family under the permutations of x2 … xt:
    each mask is replaced by the least mask of its orbit, then the distinct ones are counted."""
    edges = candidate_edges(t, hyperedges)
    index = {e: i for i, e in enumerate(edges)}
    masks = np.arange(1 << len(edges), dtype=np.int64)
    bits = ((masks[:, None] >> np.arange(len(edges))) & 1).astype(bool)
    covered = np.zeros((len(masks), t), dtype=bool)
    for i, edge in enumerate(edges):
        for v in edge:
            covered[:, v - 1] |= bits[:, i]
    keep = covered.all(axis=1)
    if hyperedges == 3:
        keep &= bits[:, [i for i, e in enumerate(edges) if len(e) == 3]].any(axis=1)
    least = masks.copy()
    for perm in itertools.permutations(range(2, t + 1)):
        rename = {1: 1, **dict(zip(range(2, t + 1), perm))}
        target = np.array([index[tuple(sorted(rename[v] for v in e))] for e in edges])
        least = np.minimum(least, (bits * (np.int64(1) << target)).sum(axis=1))
    return len(np.unique(least[keep]))


@pytest.mark.parametrize(("t", "hyperedges"), [(4, 2), (5, 2), (6, 2), (3, 3), (4, 3)])
def test_counts_match_orbits_of_labelled_hypergraphs(t, hyperedges):
    assert len(family(t, hyperedges)) == orbit_count(t, hyperedges)


def test_representatives_are_the_first_labelling_and_the_order_is_stable():
    members = family(4, 2)
    assert members[0].polynomial == "x1*x2 + x3*x4"  # not x1*x4 + x2*x3
    assert [m.polynomial for m in members] == [m.polynomial for m in family(4, 2)]
    keys = [(len(m.edges), m.edges) for m in members]
    assert keys == sorted(keys)
    assert "x1*x2 + x2*x3 + x3*x4" in {m.polynomial for m in members}


def test_families_of_an_atlas():
    assert families(4, 2) == [(2, 2), (3, 2), (4, 2)]
    assert families(4, 3) == [(2, 2), (3, 2), (3, 3), (4, 2), (4, 3)]


@pytest.mark.parametrize(
    ("t", "hyperedges"), [(1, 2), (MAX_T[2] + 1, 2), (MAX_T[3] + 1, 3), (4, 4), (4.0, 2), (True, 2)]
)
def test_out_of_reach_families_are_refused(t, hyperedges):
    with pytest.raises(PolyError, match="t must be|hyperedges must be"):
        family(t, hyperedges)


def test_a_row_polynomial_reads_back_as_its_member():
    for member in family(4, 3):
        again = Member.from_polynomial(member.polynomial)
        assert again == member
        assert again.mechanism() == Mechanism.from_polynomial(member.polynomial)


@pytest.mark.parametrize("text", ["x1*x2 + x3", "x1**2*x2", "x1*x2+x2*x3", "2*x1*x2", '__import__("os")'])
def test_only_the_atlas_form_is_read(text):
    with pytest.raises(PolyError, match="not an atlas row"):
        Member.from_polynomial(text)
