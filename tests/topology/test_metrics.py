"""Graph metrics agree with networkx and closed forms, and never crash on small graphs."""

import math

import networkx as nx
import pytest
import torch
from torch_geometric.data import Data

from graphens import GraphensError
from graphens.topology.metrics import PATH_COMPONENT, metrics


def digraph_data(edges, num_nodes, weights=None):
    """A graph from (teacher, student) pairs."""
    edge_index = torch.tensor(list(edges), dtype=torch.long).reshape(-1, 2).T
    edge_weight = None if weights is None else torch.tensor(weights, dtype=torch.float32)
    return Data(edge_index=edge_index, edge_weight=edge_weight, num_nodes=num_nodes)


def from_networkx(graph):
    """Both directions of each edge of an undirected graph (or the edges of a digraph)."""
    directed = graph if graph.is_directed() else graph.to_directed()
    return digraph_data(directed.edges(), graph.number_of_nodes())


def test_directed_three_cycle():
    m = metrics(digraph_data([(0, 1), (1, 2), (2, 0)], 3))
    assert m["nodes"] == 3 and m["edges"] == 3
    assert m["reciprocity"] == 0.0
    assert m["strong_components"] == 1 and m["weak_components"] == 1
    assert m["path_component_size"] == 3
    assert m["characteristic_path_length"] == pytest.approx(1.5)
    assert m["diameter"] == 2
    assert m["untaught_nodes"] == 0 and m["untaught_node_list"] == ""


def test_complete_digraph():
    m = metrics(from_networkx(nx.complete_graph(5)))
    assert m["edges"] == 20
    for key in ("density", "reciprocity", "clustering_directed", "characteristic_path_length",
                "global_efficiency", "diameter"):
        assert m[key] == pytest.approx(1.0), key
    assert m["algebraic_connectivity"] == pytest.approx(5.0)
    assert m["degree_assortativity"] is None  # every degree is the same
    assert m["small_world_sigma"] is None and m["small_world_skipped"]


def test_directed_path():
    m = metrics(digraph_data([(0, 1), (1, 2)], 3))
    assert m["strong_components"] == 3 and m["weak_components"] == 1
    assert m["untaught_nodes"] == 1 and m["untaught_node_list"] == "0"
    assert m["path_component_size"] == 1
    assert m["characteristic_path_length"] is None and m["diameter"] is None
    # 1/d over the 6 ordered pairs: (0,1), (1,2) at 1 hop, (0,2) at 2, the rest unreachable.
    assert m["global_efficiency"] == pytest.approx(2.5 / 6)


@pytest.mark.parametrize("laterals", [1, 2])
def test_bidirectional_ring_matches_networkx_and_closed_forms(laterals):
    ring = nx.watts_strogatz_graph(10, 2 * laterals, 0.0)
    m = metrics(from_networkx(ring))
    assert m["reciprocity"] == 1.0
    assert m["characteristic_path_length"] == pytest.approx(nx.average_shortest_path_length(ring))
    assert m["diameter"] == nx.diameter(ring)
    assert m["global_efficiency"] == pytest.approx(nx.global_efficiency(ring))
    # A both-directions digraph has the clustering of its undirected graph.
    assert m["clustering_directed"] == pytest.approx(nx.average_clustering(ring))
    # Laplacian eigenvalues of the circulant: sum over l of 2 - 2 cos(2 pi l k / N).
    expected = sum(2 - 2 * math.cos(2 * math.pi * lat / 10) for lat in range(1, laterals + 1))
    assert m["algebraic_connectivity"] == pytest.approx(expected)


def test_ring_algebraic_connectivity_closed_form():
    m = metrics(from_networkx(nx.cycle_graph(10)))
    assert m["algebraic_connectivity"] == pytest.approx(2 - 2 * math.cos(2 * math.pi / 10))
    assert m["characteristic_path_length"] == pytest.approx(25 / 9)  # (1+1+2+2+...+5)/9


def test_two_disconnected_cliques():
    cliques = nx.disjoint_union(nx.complete_graph(4), nx.complete_graph(4))
    m = metrics(from_networkx(cliques))
    assert m["weak_components"] == 2 and m["strong_components"] == 2
    assert m["modularity"] == pytest.approx(0.5)
    assert m["communities"] == 2
    assert m["path_component"] == PATH_COMPONENT and "strongly" in m["path_component"]
    assert m["path_component_size"] == 4
    assert m["characteristic_path_length"] == pytest.approx(1.0)
    assert m["global_efficiency"] == pytest.approx(24 / 56)  # 2 x 12 reachable of 56 pairs
    assert m["algebraic_connectivity"] == 0.0
    assert m["small_world_sigma"] is None
    assert "disconnected" in m["small_world_skipped"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_digraphs_agree_with_networkx(seed):
    graph = nx.gnp_random_graph(25, 0.12, seed=seed, directed=True)
    m = metrics(from_networkx(graph), small_world=False)
    assert m["density"] == pytest.approx(nx.density(graph))
    assert m["reciprocity"] == pytest.approx(nx.overall_reciprocity(graph))
    assert m["clustering_directed"] == pytest.approx(nx.average_clustering(graph))
    assert m["degree_assortativity"] == pytest.approx(
        nx.degree_assortativity_coefficient(graph, x="out", y="in"))
    assert m["weak_components"] == nx.number_weakly_connected_components(graph)
    assert m["strong_components"] == nx.number_strongly_connected_components(graph)
    largest = graph.subgraph(max(nx.strongly_connected_components(graph), key=len))
    assert m["path_component_size"] == largest.number_of_nodes()
    assert m["characteristic_path_length"] == pytest.approx(
        nx.average_shortest_path_length(largest))
    assert m["diameter"] == nx.diameter(largest)
    assert m["untaught_nodes"] == sum(1 for _, d in graph.in_degree() if d == 0)


def test_weights_enter_weighted_metrics_only():
    edges = [(0, 1), (1, 0), (1, 2), (2, 1)]
    m = metrics(digraph_data(edges, 3, weights=[0.5, 0.5, 0.25, 0.25]))
    assert m["weight_total"] == pytest.approx(1.5)
    assert m["algebraic_connectivity"] == pytest.approx(1.0)  # path graph P3
    # Weighted path 0 -(a=0.5)- 1 -(b=0.25)- 2: eigenvalues 0, a + b -+ sqrt(a²+b²-ab).
    assert m["algebraic_connectivity_weighted"] == pytest.approx((3 - math.sqrt(3)) / 4)


def test_duplicates_summed_and_self_loops_dropped():
    m = metrics(digraph_data([(0, 1), (0, 1), (1, 1)], 2, weights=[1.0, 2.0, 5.0]))
    assert m["edges"] == 1
    assert m["weight_total"] == pytest.approx(3.0)


@pytest.mark.parametrize("graph", [
    digraph_data([(0, 1)], 2),
    digraph_data([(0, 1), (1, 0)], 2),
    digraph_data([], 2),
    digraph_data([], 6),
    digraph_data([], 1),
    digraph_data([(0, 1), (2, 3)], 5),
], ids=["N2-one-way", "N2-both", "N2-edgeless", "edgeless", "N1", "disconnected"])
def test_small_and_edgeless_graphs_do_not_crash(graph):
    m = metrics(graph)
    assert m["nodes"] == graph.num_nodes
    if m["edges"] == 0:
        assert m["reciprocity"] is None and m["modularity"] is None
        assert m["untaught_nodes"] == graph.num_nodes
    assert m["small_world_sigma"] is None and m["small_world_skipped"]


def test_star_is_skipped_not_hung():
    star = nx.star_graph(11)  # no two disjoint edges: no degree-preserving swap exists
    m = metrics(from_networkx(star))
    assert m["small_world_sigma"] is None
    assert "rewiring" in m["small_world_skipped"]


def test_same_keys_every_time():
    keys = list(metrics(from_networkx(nx.cycle_graph(6))))
    assert list(metrics(digraph_data([], 3))) == keys
    assert list(metrics(from_networkx(nx.cycle_graph(6)), small_world=False)) == keys


def test_deterministic_for_a_seed():
    graph = from_networkx(nx.connected_watts_strogatz_graph(40, 4, 0.2, seed=3))
    assert metrics(graph, seed=7) == metrics(graph, seed=7)


def test_small_world_coefficients():
    small_world = metrics(from_networkx(nx.connected_watts_strogatz_graph(60, 6, 0.1, seed=1)))
    lattice = metrics(from_networkx(nx.watts_strogatz_graph(60, 6, 0.0)))
    random_graph = metrics(from_networkx(nx.connected_watts_strogatz_graph(60, 6, 1.0, seed=1)))
    assert small_world["small_world_skipped"] is None
    assert small_world["small_world_sigma"] > 1.5
    # omega: near -1 for a lattice, near 0 for a small world, near 1 for a random graph.
    assert lattice["small_world_omega"] < -0.3
    assert lattice["small_world_omega"] < small_world["small_world_omega"]
    assert small_world["small_world_omega"] < random_graph["small_world_omega"]
    assert random_graph["small_world_omega"] > 0.3
    assert random_graph["small_world_sigma"] == pytest.approx(1.0, abs=0.3)


def test_small_world_skipped_above_the_size_limit():
    m = metrics(from_networkx(nx.cycle_graph(201)))
    assert m["small_world_sigma"] is None and "200" in m["small_world_skipped"]
    assert metrics(from_networkx(nx.cycle_graph(8)), small_world=False)["small_world_skipped"]


def test_hundred_nodes_get_every_metric():
    graph = from_networkx(nx.connected_watts_strogatz_graph(100, 10, 0.1, seed=0))
    m = metrics(graph)
    assert m["nodes"] == 100 and m["edges"] == 1000
    assert m["characteristic_path_length"] > 1 and m["small_world_sigma"] > 1


@pytest.mark.parametrize("graph,message", [
    (Data(edge_index=torch.tensor([[0], [5]]), num_nodes=3), "outside"),
    (Data(edge_index=torch.tensor([[0], [1]]), edge_weight=torch.tensor([-1.0]), num_nodes=2),
     ">= 0"),
    (Data(edge_index=torch.tensor([[0], [1]]), edge_weight=torch.tensor([1.0, 2.0]),
          num_nodes=2), "one weight per edge"),
])
def test_bad_graphs_raise_graphens_error(graph, message):
    with pytest.raises(GraphensError, match=message):
        metrics(graph)
