"""Mechanism.from_graph and from_hypergraph on any networkx graph and any vertex labels.

Every ``nx.*_graph`` callable of the installed networkx is listed below (a test checks that
none is missing), called with small arguments, and must give either a mechanism whose
hypergraph is the graph (checked through the variables' labels against networkx's own edge
list) or one clear PolyError: directed graphs, self-loops, nodes on no edge, no edges, more
than 16 nodes.
"""

from __future__ import annotations

from collections import Counter

import networkx as nx
import pytest

from polyth import Mechanism, PolyError, zoo


def _gexf_labelled():
    graph = nx.path_graph(3)
    nx.set_node_attributes(graph, {0: "q", 1: "k", 2: "v"}, "label")
    return nx.relabel_gexf_graph(graph)


GENERATORS = {
    "LCF_graph": lambda: nx.LCF_graph(6, [3, -3], 3),
    "LFR_benchmark_graph": lambda: nx.LFR_benchmark_graph(
        250, 3, 1.5, 0.1, average_degree=5, min_community=20, seed=10
    ),
    "adjacency_graph": lambda: nx.adjacency_graph(nx.adjacency_data(nx.cycle_graph(4))),
    "barabasi_albert_graph": lambda: nx.barabasi_albert_graph(10, 2, seed=0),
    "barbell_graph": lambda: nx.barbell_graph(4, 2),
    "binomial_graph": lambda: nx.binomial_graph(8, 0.6, seed=1),
    "bull_graph": nx.bull_graph,
    "caveman_graph": lambda: nx.caveman_graph(1, 4),
    "chordal_cycle_graph": lambda: nx.chordal_cycle_graph(7),
    "chvatal_graph": nx.chvatal_graph,
    "circulant_graph": lambda: nx.circulant_graph(8, [1, 3]),
    "circular_ladder_graph": lambda: nx.circular_ladder_graph(5),
    "complete_bipartite_graph": lambda: nx.complete_bipartite_graph(3, 4),
    "complete_graph": lambda: nx.complete_graph(5),
    "complete_multipartite_graph": lambda: nx.complete_multipartite_graph(2, 2, 3),
    "complete_to_chordal_graph": lambda: nx.complete_to_chordal_graph(nx.cycle_graph(6))[0],
    "connected_caveman_graph": lambda: nx.connected_caveman_graph(3, 4),
    "connected_watts_strogatz_graph": lambda: nx.connected_watts_strogatz_graph(10, 4, 0.3, seed=0),
    "cubical_graph": nx.cubical_graph,
    "cycle_graph": lambda: nx.cycle_graph(6),
    "cytoscape_graph": lambda: nx.cytoscape_graph(nx.cytoscape_data(nx.star_graph(3))),
    "davis_southern_women_graph": nx.davis_southern_women_graph,
    "dense_gnm_random_graph": lambda: nx.dense_gnm_random_graph(8, 20, seed=0),
    "desargues_graph": nx.desargues_graph,
    "diamond_graph": nx.diamond_graph,
    "directed_havel_hakimi_graph": lambda: nx.directed_havel_hakimi_graph([1, 1, 1], [1, 1, 1]),
    "directed_joint_degree_graph": lambda: nx.directed_joint_degree_graph(
        [1, 1, 1], [1, 1, 1], {1: {1: 3}}, seed=0
    ),
    "dodecahedral_graph": nx.dodecahedral_graph,
    "dorogovtsev_goltsev_mendes_graph": lambda: nx.dorogovtsev_goltsev_mendes_graph(2),
    "dual_barabasi_albert_graph": lambda: nx.dual_barabasi_albert_graph(10, 1, 2, 0.5, seed=0),
    "duplication_divergence_graph": lambda: nx.duplication_divergence_graph(10, 0.5, seed=0),
    "ego_graph": lambda: nx.ego_graph(nx.petersen_graph(), 0, radius=1),
    "empty_graph": lambda: nx.empty_graph(3),
    "erdos_renyi_graph": lambda: nx.erdos_renyi_graph(8, 0.6, seed=1),
    "expected_degree_graph": lambda: nx.expected_degree_graph([3] * 8, seed=0, selfloops=False),
    "extended_barabasi_albert_graph": lambda: nx.extended_barabasi_albert_graph(10, 2, 0.2, 0.2, seed=0),
    "fast_gnp_random_graph": lambda: nx.fast_gnp_random_graph(8, 0.6, seed=1),
    "florentine_families_graph": nx.florentine_families_graph,
    "frucht_graph": nx.frucht_graph,
    "gaussian_random_partition_graph": lambda: nx.gaussian_random_partition_graph(12, 4, 4, 0.9, 0.3, seed=0),
    "general_random_intersection_graph": lambda: nx.general_random_intersection_graph(
        8, 4, [0.5] * 4, seed=0
    ),
    "generalized_petersen_graph": lambda: nx.generalized_petersen_graph(5, 2),
    "geographical_threshold_graph": lambda: nx.geographical_threshold_graph(8, 1.0, seed=0),
    "geometric_soft_configuration_graph": lambda: nx.geometric_soft_configuration_graph(
        beta=1.5, n=10, gamma=2.7, mean_degree=5, seed=0
    ),
    "gn_graph": lambda: nx.gn_graph(6, seed=0),
    "gnc_graph": lambda: nx.gnc_graph(6, seed=0),
    "gnm_random_graph": lambda: nx.gnm_random_graph(8, 20, seed=0),
    "gnp_random_graph": lambda: nx.gnp_random_graph(8, 0.6, seed=1),
    "gnr_graph": lambda: nx.gnr_graph(6, 0.5, seed=0),
    "grid_2d_graph": lambda: nx.grid_2d_graph(3, 4),
    "grid_graph": lambda: nx.grid_graph(dim=(2, 2, 3)),
    "havel_hakimi_graph": lambda: nx.havel_hakimi_graph([3, 3, 2, 2, 2, 2]),
    "heawood_graph": nx.heawood_graph,
    "hexagonal_lattice_graph": lambda: nx.hexagonal_lattice_graph(1, 2),
    "hkn_harary_graph": lambda: nx.hkn_harary_graph(3, 8),
    "hnm_harary_graph": lambda: nx.hnm_harary_graph(8, 14),
    "hoffman_singleton_graph": nx.hoffman_singleton_graph,
    "house_graph": nx.house_graph,
    "house_x_graph": nx.house_x_graph,
    "hypercube_graph": lambda: nx.hypercube_graph(4),
    "icosahedral_graph": nx.icosahedral_graph,
    "interval_graph": lambda: nx.interval_graph([(0, 2), (1, 3), (2, 4), (3, 5)]),
    "inverse_line_graph": lambda: nx.inverse_line_graph(nx.line_graph(nx.star_graph(3))),
    "joint_degree_graph": lambda: nx.joint_degree_graph({1: {2: 2}, 2: {1: 2}}, seed=0),
    "k_random_intersection_graph": lambda: nx.k_random_intersection_graph(8, 4, 2, seed=0),
    "karate_club_graph": nx.karate_club_graph,
    "kneser_graph": lambda: nx.kneser_graph(5, 2),
    "krackhardt_kite_graph": nx.krackhardt_kite_graph,
    "ladder_graph": lambda: nx.ladder_graph(5),
    "les_miserables_graph": nx.les_miserables_graph,
    "line_graph": lambda: nx.line_graph(nx.path_graph(5)),
    "lollipop_graph": lambda: nx.lollipop_graph(4, 3),
    "make_max_clique_graph": lambda: nx.make_max_clique_graph(nx.barbell_graph(3, 1)),
    "margulis_gabber_galil_graph": lambda: nx.margulis_gabber_galil_graph(3),
    "maybe_regular_expander_graph": lambda: nx.maybe_regular_expander_graph(10, 4, seed=0),
    "moebius_kantor_graph": nx.moebius_kantor_graph,
    "moral_graph": lambda: nx.moral_graph(nx.DiGraph([(1, 3), (2, 3), (3, 4)])),
    "mycielski_graph": lambda: nx.mycielski_graph(4),
    "navigable_small_world_graph": lambda: nx.navigable_small_world_graph(3, seed=0),
    "newman_watts_strogatz_graph": lambda: nx.newman_watts_strogatz_graph(10, 2, 0.3, seed=0),
    "node_link_graph": lambda: nx.node_link_graph(
        nx.node_link_data(nx.wheel_graph(5), edges="edges"), edges="edges"
    ),
    "null_graph": nx.null_graph,
    "octahedral_graph": nx.octahedral_graph,
    "paley_graph": lambda: nx.paley_graph(13),
    "pappus_graph": nx.pappus_graph,
    "partial_duplication_graph": lambda: nx.partial_duplication_graph(10, 3, 0.6, 0.6, seed=0),
    "path_graph": lambda: nx.path_graph(5),
    "petersen_graph": nx.petersen_graph,
    "planted_partition_graph": lambda: nx.planted_partition_graph(2, 5, 0.9, 0.3, seed=0),
    "powerlaw_cluster_graph": lambda: nx.powerlaw_cluster_graph(10, 2, 0.3, seed=0),
    "projected_graph": lambda: nx.projected_graph(nx.complete_bipartite_graph(3, 2), [0, 1, 2]),
    "quotient_graph": lambda: nx.quotient_graph(nx.path_graph(6), [{0, 1}, {2, 3}, {4, 5}]),
    "random_clustered_graph": lambda: nx.random_clustered_graph(
        [(1, 0), (1, 0), (1, 0), (2, 0), (1, 0), (2, 0)], seed=0
    ),
    "random_degree_sequence_graph": lambda: nx.random_degree_sequence_graph([3, 3, 2, 2, 2, 2], seed=0),
    "random_geometric_graph": lambda: nx.random_geometric_graph(8, 0.8, seed=0),
    "random_internet_as_graph": lambda: nx.random_internet_as_graph(12, seed=0),
    "random_k_out_graph": lambda: nx.random_k_out_graph(6, 2, 1, seed=0),
    "random_kernel_graph": lambda: nx.random_kernel_graph(
        10, lambda u, w, z: z - w, lambda u, w, r: w + r, seed=0
    ),
    "random_lobster_graph": lambda: nx.random_lobster_graph(4, 0.5, 0.5, seed=2),
    "random_partition_graph": lambda: nx.random_partition_graph([5, 5], 0.9, 0.3, seed=0),
    "random_regular_expander_graph": lambda: nx.random_regular_expander_graph(10, 4, seed=0),
    "random_regular_graph": lambda: nx.random_regular_graph(3, 10, seed=0),
    "random_shell_graph": lambda: nx.random_shell_graph([(5, 8, 0.8), (5, 8, 0.8)], seed=0),
    "relabel_gexf_graph": _gexf_labelled,
    "relaxed_caveman_graph": lambda: nx.relaxed_caveman_graph(3, 4, 0.1, seed=0),
    "scale_free_graph": lambda: nx.scale_free_graph(6, seed=0),
    "sedgewick_maze_graph": nx.sedgewick_maze_graph,
    "soft_random_geometric_graph": lambda: nx.soft_random_geometric_graph(8, 0.9, seed=0),
    "star_graph": lambda: nx.star_graph(6),
    "stochastic_graph": lambda: nx.stochastic_graph(nx.DiGraph([(0, 1), (1, 2)])),
    "sudoku_graph": lambda: nx.sudoku_graph(2),
    "tadpole_graph": lambda: nx.tadpole_graph(4, 3),
    "tetrahedral_graph": nx.tetrahedral_graph,
    "thresholded_random_geometric_graph": lambda: nx.thresholded_random_geometric_graph(8, 0.9, 0.1, seed=0),
    "to_networkx_graph": lambda: nx.to_networkx_graph([(0, 1), (1, 2), (2, 0)]),
    "tree_graph": lambda: nx.tree_graph(nx.tree_data(nx.balanced_tree(2, 2, create_using=nx.DiGraph), 0)),
    "triad_graph": lambda: nx.triad_graph("300"),
    "triangular_lattice_graph": lambda: nx.triangular_lattice_graph(2, 3),
    "trivial_graph": nx.trivial_graph,
    "truncated_cube_graph": nx.truncated_cube_graph,
    "truncated_tetrahedron_graph": nx.truncated_tetrahedron_graph,
    "turan_graph": lambda: nx.turan_graph(7, 3),
    "tutte_graph": nx.tutte_graph,
    "uniform_random_intersection_graph": lambda: nx.uniform_random_intersection_graph(8, 5, 0.5, seed=0),
    "visibility_graph": lambda: nx.visibility_graph([3, 1, 4, 1, 5, 9, 2, 6]),
    "watts_strogatz_graph": lambda: nx.watts_strogatz_graph(10, 4, 0.2, seed=0),
    "waxman_graph": lambda: nx.waxman_graph(8, beta=1.0, alpha=1.0, seed=0),
    "wheel_graph": lambda: nx.wheel_graph(7),
    "windmill_graph": lambda: nx.windmill_graph(3, 3),
}
NOT_GRAPH_BUILDERS = {
    "is_directed_acyclic_graph": "a predicate: returns a bool",
    "is_perfect_graph": "a predicate: returns a bool",
}


def test_every_networkx_graph_function_is_covered():
    names = {name for name in dir(nx) if name.endswith("_graph") and callable(getattr(nx, name))}
    missing = sorted(names - set(GENERATORS) - set(NOT_GRAPH_BUILDERS))
    assert not missing, f"networkx graph functions without a case here: {missing}"


def expected_refusal(graph: nx.Graph) -> str | None:
    """The error a graph must get, worked out with networkx alone; None when it must build."""
    if graph.is_directed():
        return "a directed graph has no meaning here"
    if nx.number_of_selfloops(graph):
        return "self-loops at"
    if graph.number_of_edges() == 0:
        return "no edges" if graph.number_of_nodes() == 0 else "lie on no edge"
    if any(True for _ in nx.isolates(graph)):
        return "lie on no edge"
    if graph.number_of_nodes() > 16:
        return "exceed the limit of 16"
    return None


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_networkx_generator_builds_or_is_refused_clearly(name):
    graph = GENERATORS[name]()
    query = next(iter(graph), None)
    refusal = expected_refusal(graph)
    if refusal is not None:
        with pytest.raises(PolyError, match=refusal):
            Mechanism.from_graph(graph, query=query)
        return
    m = Mechanism.from_graph(graph, query=query)
    labels = m.labels
    assert m.t == graph.number_of_nodes() and labels[m.query] == query
    assert sorted(map(repr, labels.values())) == sorted(map(repr, graph.nodes))
    # the monomials are the edges: x_a·x_b with the multiplicity of {a, b} as coefficient
    edges = Counter(frozenset(edge) for edge in graph.edges())
    monomials = {
        frozenset(labels[m.variables[a]] for a in mono.support): int(mono.coefficient) for mono in m.monomials
    }
    assert monomials == dict(edges)
    assert all(len(line) <= 80 for line in m.describe().splitlines())
    assert m.latex().startswith("h = x_{1} x_{")


def test_directed_graphs_are_refused_with_what_to_do():
    directed = nx.paley_graph(5)  # a symmetric DiGraph: its undirected form is the 5-cycle
    with pytest.raises(PolyError, match=r"pass graph.to_undirected\(\)"):
        Mechanism.from_graph(directed, query=0)
    assert Mechanism.from_graph(directed.to_undirected(), query=0) == zoo.cycle(5)


def test_the_issue_example_and_zero_based_graphs():
    m = Mechanism.from_graph(nx.path_graph(3), query=0)
    assert m == zoo.path(3) and m.labels == {"x1": 0, "x2": 1, "x3": 2}
    assert Mechanism.from_graph(nx.path_graph(3), query=1) == zoo.star(3)
    assert Mechanism.from_graph(nx.complete_graph(3), query=2) == zoo.strassen()
    assert Mechanism.from_hypergraph(nx.star_graph(3), query=0) == zoo.star(4)


def test_without_a_query_the_error_says_how_to_name_it():
    with pytest.raises(PolyError, match=r"name the query, e.g. query=0, or mark its node"):
        Mechanism.from_hypergraph(nx.path_graph(3))


def test_the_query_can_be_marked_by_a_node_attribute():
    graph = nx.Graph([("k", "q"), ("k", "v")])
    graph.nodes["q"]["query"] = True
    m = Mechanism.from_graph(graph)
    assert m.labels == {"x1": "q", "x2": "k", "x3": "v"} and m == zoo.path(3)
    assert Mechanism.from_graph(graph, query="q") == m
    with pytest.raises(PolyError, match="disagrees with the node marked as the query"):
        Mechanism.from_graph(graph, query="k")
    graph.nodes["v"]["query"] = True
    with pytest.raises(PolyError, match="are all marked as the query; mark one"):
        Mechanism.from_graph(graph)


def test_the_query_must_be_a_vertex():
    with pytest.raises(PolyError, match="the query vertex 'z' lies on no hyperedge"):
        Mechanism.from_graph(nx.path_graph(["a", "b"]), query="z")
    with pytest.raises(PolyError, match=r"the query vertex \[0\] lies on no hyperedge"):
        Mechanism.from_graph(nx.path_graph(2), query=[0])


def test_other_vertices_are_ordered_deterministically():
    # strings in natural order (w2 before w10), whatever the insertion order
    star = nx.Graph([("q", "w10"), ("q", "w2"), ("q", "w1")])
    assert list(Mechanism.from_graph(star, query="q").labels.values()) == ["q", "w1", "w2", "w10"]
    # tuples (grid coordinates) sorted
    grid = Mechanism.from_graph(nx.grid_2d_graph(2, 2), query=(1, 1))
    assert list(grid.labels.values()) == [(1, 1), (0, 0), (0, 1), (1, 0)]
    # numbers before strings when both occur
    mixed = Mechanism.from_hypergraph([("a", 0), (0, 2.5)], query="a")
    assert list(mixed.labels.values()) == ["a", 0, 2.5]
    # labels that do not compare keep their order of first appearance
    frozen = [frozenset({1}), frozenset({2}), frozenset({1, 2})]  # subsets: a partial order
    m = Mechanism.from_hypergraph([(frozen[2], frozen[0]), (frozen[0], frozen[1])], query=frozen[2])
    assert list(m.labels.values())[0] == frozen[2] and set(m.labels.values()) == set(frozen)
    again = Mechanism.from_hypergraph([(frozen[2], frozen[0]), (frozen[0], frozen[1])], query=frozen[2])
    assert again.labels == m.labels


def test_positive_integer_labels_are_the_variable_indices():
    m = Mechanism.from_hypergraph([(1, 2), (2, 5)])
    assert m.variables == ("x1", "x2", "x5") and not m.relabelled
    assert "labels" not in m.describe()
    assert Mechanism.from_graph(nx.path_graph([1, 2, 3])).variables == ("x1", "x2", "x3")


def test_the_mapping_is_kept_and_shown():
    m = Mechanism.from_hypergraph([("q", "k1", "k2"), ("k2", "v")], query="q", name="tokens")
    assert m.labels == {"x1": "q", "x2": "k1", "x3": "k2", "x4": "v"}
    assert "labels      x1 = q, x2 = k1, x3 = k2, x4 = v" in m.describe()
    assert m.hypergraph.nodes["x4"]["label"] == "v"
    assert m.replace(scale=0.5).labels == m.labels  # options keep the mapping
    assert m.canonical().labels is None  # the canonical form renames the variables
    assert Mechanism.from_polynomial("x1*x2").labels is None


def test_values_are_vertex_labels():
    m = Mechanism.from_graph(nx.path_graph(["q", "k", "v"]), query="q", values=["v"])
    assert [m.variables[a] for a in m.values] == ["x3"]
    assert Mechanism.from_hypergraph([(1, 2), (2, 3)], query=2, values=[1]).values == (1,)  # x1
    with pytest.raises(PolyError, match=r"value vertices \['w'\] are not vertices"):
        Mechanism.from_graph(nx.path_graph(["q", "k"]), query="q", values=["w"])


def test_multigraph_edges_add_up_to_coefficients():
    m = Mechanism.from_graph(nx.MultiGraph([(0, 1), (1, 0), (1, 2)]), query=0)
    assert m == Mechanism.from_polynomial("2*x1*x2 + x2*x3")


def test_self_loops_and_lone_nodes_are_refused():
    with pytest.raises(PolyError, match="self-loops at 1: a loop would be a power"):
        Mechanism.from_graph(nx.Graph([(0, 1), (1, 1)]), query=0)
    lonely = nx.path_graph(2)
    lonely.add_node("z")
    with pytest.raises(PolyError, match=r"nodes \['z'\] lie on no edge"):
        Mechanism.from_graph(lonely, query=0)
    with pytest.raises(PolyError, match="expected a networkx graph, got list"):
        Mechanism.from_graph([(0, 1)], query=0)
    with pytest.raises(PolyError, match="is a bool"):
        Mechanism.from_hypergraph([(True, 2)])
    with pytest.raises(PolyError, match=r"vertex \[1\] in hyperedge .* is not hashable"):
        Mechanism.from_hypergraph([([1], 2)])
