import pytest
import torch

from graphens import GraphensError
from graphens.topology import TOPOLOGIES, make_topology, topology_params


def dense(graph):
    weights = torch.zeros(graph.num_nodes, graph.num_nodes)
    weights[graph.edge_index[1], graph.edge_index[0]] = graph.edge_weight
    return weights  # weights[i, j] = g_ij, i learns from j


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
@pytest.mark.parametrize("n", [2, 3, 10, 64])
def test_every_family_builds_from_nodes_alone(name, n):
    graph = make_topology(name, n, seed=0)
    assert graph.num_nodes == n
    assert graph.edge_index.shape[1] == graph.edge_weight.shape[0] > 0
    assert not (graph.edge_index[0] == graph.edge_index[1]).any()
    assert int(graph.edge_index.max()) < n
    assert graph.topology["family"] == name


def test_all_to_all_weights():
    g = dense(make_topology("all-to-all", 10))
    off = ~torch.eye(10, dtype=torch.bool)
    torch.testing.assert_close(g[off], torch.full((90,), 1 / 90))
    assert torch.all(g.diagonal() == 0)


def test_directed_ring_learns_from_next_laterals():
    g = dense(make_topology("directed-ring", 10, laterals=2))
    for i in range(10):
        for j in range(10):
            expected = 1 / 20 if (j - i) % 10 in (1, 2) else 0.0
            assert g[i, j].item() == pytest.approx(expected)


def test_bidirectional_ring():
    g = dense(make_topology("ring", 10))
    assert (g > 0).sum() == 20
    assert g[3, 4].item() == pytest.approx(1 / 20) and g[3, 2].item() == pytest.approx(1 / 20)
    torch.testing.assert_close(g, g.t())


def test_star_weights_follow_the_paper():
    n = 10
    g = dense(make_topology("star", n))
    # Leaves learn from the centre: column 0 had N-1 ones -> 1/(N-1), then / total N.
    assert g[1, 0].item() == pytest.approx(1 / ((n - 1) * n))
    # The centre learns from each leaf: column j had a single one -> 1, then / N.
    assert g[0, 1].item() == pytest.approx(1 / n)
    assert g[1, 2].item() == 0
    assert g.sum().item() == pytest.approx(1.0)


def test_gnk_is_seeded_and_distinct():
    a = make_topology("gnk", 10, k=50, seed=3)
    b = make_topology("gnk", 10, k=50, seed=3)
    c = make_topology("gnk", 10, k=50, seed=4)
    assert torch.equal(a.edge_index, b.edge_index)
    assert not torch.equal(a.edge_index, c.edge_index)
    assert a.edge_index.unique(dim=1).shape[1] == 50
    assert torch.all(a.edge_weight == 1)
    full = make_topology("gnk", 5, k=20)
    assert full.edge_index.shape[1] == 20


@pytest.mark.parametrize("name,params,match", [
    ("gnk", {"k": 91}, "k=91"), ("gnk", {"k": 0}, "k=0"),
    ("directed-ring", {"laterals": 10}, "laterals=10"), ("ring", {"laterals": 6}, "laterals"),
    ("star", {"centers": 10}, "centers"), ("ring", {"bogus": 1}, "bogus")])
def test_bad_parameters(name, params, match):
    with pytest.raises(GraphensError, match=match):
        make_topology(name, 10, **params)


def test_unknown_family_and_small_n():
    with pytest.raises(GraphensError, match="unknown topology 'hypercube'"):
        make_topology("hypercube", 8)
    with pytest.raises(GraphensError, match="at least 2 nodes"):
        make_topology("ring", 1)


def test_params_are_listed():
    assert "k" in topology_params("gnk")
    assert topology_params("all-to-all") == {}


def test_erdos_renyi_defaults_match_the_two_lateral_ring():
    graph = make_topology("erdos-renyi", 10, seed=0)
    assert graph.topology["params"] == {"p": pytest.approx(2 / 9)}
    assert graph.topology["normalize"] == "none"
    assert torch.all(graph.edge_weight == 1)  # weight 1 per edge, like gnk
    assert make_topology("erdos-renyi", 3).edge_index.shape[1] == 6  # p capped at 1
    assert topology_params("erdos-renyi") == {"p": None}


def test_paper_weights_can_be_renormalized():
    g = dense(make_topology("gnk", 10, k=30, seed=1, normalize="sum"))
    assert g.sum().item() == pytest.approx(1.0)
    star = dense(make_topology("star", 10, normalize="student"))
    torch.testing.assert_close(star.sum(dim=1), torch.ones(10))
