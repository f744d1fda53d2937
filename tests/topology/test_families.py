import math
import sys
import types

import pytest
import torch
from torch_geometric.data import Data

from graphens import GraphensError
from graphens.topology import (
    PAPER_FAMILIES,
    TOPOLOGIES,
    make_topology,
    normalize_weights,
    topology_params,
    uses_positions,
)

RANDOM_FAMILIES = ["gnk", "erdos-renyi", "watts-strogatz", "newman-watts", "barabasi-albert",
                   "sbm", "regular", "distance", "knn"]


def dense(graph):
    weights = torch.zeros(graph.num_nodes, graph.num_nodes)
    weights[graph.edge_index[1], graph.edge_index[0]] = graph.edge_weight
    return weights  # weights[i, j] = g_ij, i learns from j


def edge_set(graph):
    return set(map(tuple, graph.edge_index.t().tolist()))


def in_degree(graph):
    return torch.bincount(graph.edge_index[1], minlength=graph.num_nodes)


def out_degree(graph):
    return torch.bincount(graph.edge_index[0], minlength=graph.num_nodes)


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
@pytest.mark.parametrize("n", [2, 3, 10, 100, 1000])
def test_every_family_builds_from_nodes_alone(name, n):
    graph = make_topology(name, n, seed=0)
    edge_index, weight = graph.edge_index, graph.edge_weight
    assert graph.num_nodes == n and graph.topology["family"] == name
    assert edge_index.dtype == torch.long and edge_index.shape[0] == 2
    assert weight.shape == (edge_index.shape[1],)
    assert not (edge_index[0] == edge_index[1]).any()
    assert edge_index.numel() == 0 or (int(edge_index.min()) >= 0 and int(edge_index.max()) < n)
    assert torch.isfinite(weight).all() and (weight >= 0).all()
    # No duplicate edges: parallel edges are merged into one summed weight.
    assert (edge_index[0] * n + edge_index[1]).unique().numel() == edge_index.shape[1]
    assert graph.topology["normalize"] == ("none" if name in PAPER_FAMILIES else "sum")


@pytest.mark.parametrize("name", RANDOM_FAMILIES)
def test_random_families_are_seeded(name):
    params = {"directed": True} if name == "barabasi-albert" else {}
    a = make_topology(name, 40, seed=1, **params)
    b = make_topology(name, 40, seed=1, **params)
    c = make_topology(name, 40, seed=2, **params)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.edge_weight, b.edge_weight)
    assert a.topology == b.topology
    assert edge_set(a) != edge_set(c)


def test_undirected_families_have_both_directions():
    for name in ["watts-strogatz", "newman-watts", "barabasi-albert", "lattice", "torus",
                 "regular", "bipartite"]:
        g = dense(make_topology(name, 30, seed=3))
        torch.testing.assert_close(g, g.t(), msg=name)


@pytest.mark.parametrize("k", [2, 4, 6])
def test_watts_strogatz_without_rewiring_is_the_ring_lattice(k):
    ws = make_topology("watts-strogatz", 12, k=k, p=0.0)
    nw = make_topology("newman-watts", 12, k=k, p=0.0)
    lattice = make_topology("ring", 12, laterals=k // 2)
    assert edge_set(ws) == edge_set(nw) == edge_set(lattice)


def test_small_world_edge_counts():
    n, k = 50, 4
    rewired = make_topology("watts-strogatz", n, k=k, p=0.5, seed=1)
    assert rewired.edge_index.shape[1] == n * k  # rewiring moves edges, never adds them
    assert edge_set(rewired) != edge_set(make_topology("ring", n, laterals=k // 2))
    shortcuts = make_topology("newman-watts", n, k=k, p=0.5, seed=1)
    assert edge_set(make_topology("ring", n, laterals=k // 2)) < edge_set(shortcuts)


def test_barabasi_albert_edge_count_and_directed_variant():
    n, m = 60, 3
    undirected = make_topology("barabasi-albert", n, m=m, seed=0)
    assert undirected.edge_index.shape[1] == 2 * m * (n - m)
    directed = make_topology("barabasi-albert", n, directed=True, seed=0, normalize="none")
    g = dense(directed)
    assert not torch.equal(g, g.t())
    assert torch.all(directed.edge_weight >= 1)  # parallel edges are summed
    assert make_topology("barabasi-albert", 2, directed=True).num_nodes == 2


def test_regular_degrees_are_exact():
    for n, k in [(20, 3), (11, 4), (10, 9), (2, 1)]:
        graph = make_topology("regular", n, k=k, seed=5)
        assert torch.all(in_degree(graph) == k) and torch.all(out_degree(graph) == k)
    odd = make_topology("regular", 11)
    assert odd.topology["params"]["k"] == 4  # 3 would make N*k odd
    assert torch.all(in_degree(odd) == 4)
    assert make_topology("regular", 12).topology["params"]["k"] == 3


def test_lattice_degrees_and_shape():
    graph = make_topology("lattice", 12)
    assert graph.topology["params"] == {"rows": 3, "cols": 4}
    degree = in_degree(graph)
    assert sorted(degree.tolist()) == [2] * 4 + [3] * 6 + [4] * 2
    assert torch.equal(degree, out_degree(graph))
    assert set(edge_set(graph)) >= {(0, 1), (1, 0), (0, 4), (4, 0)}  # row-major ids
    assert (0, 3) not in edge_set(graph)  # open boundary
    prime = make_topology("lattice", 7)
    assert prime.topology["params"] == {"rows": 1, "cols": 7}
    assert prime.edge_index.shape[1] == 2 * 6  # a path
    assert make_topology("lattice", 1000).topology["params"] == {"rows": 25, "cols": 40}
    assert make_topology("lattice", 12, cols=6).topology["params"] == {"rows": 2, "cols": 6}


def test_torus_is_four_regular():
    graph = make_topology("torus", 20, normalize="none")
    assert graph.topology["params"] == {"rows": 4, "cols": 5}
    assert torch.all(in_degree(graph) == 4) and torch.all(out_degree(graph) == 4)
    assert torch.all(graph.edge_weight == 1)
    # A side of 2 reaches the same neighbour both ways: summed weight 2, in-strength still 4.
    narrow = make_topology("torus", 10, normalize="none")
    assert narrow.topology["params"] == {"rows": 2, "cols": 5}
    torch.testing.assert_close(dense(narrow).sum(1), torch.full((10,), 4.0))
    ring = make_topology("torus", 7)
    assert torch.all(in_degree(ring) == 2)


def test_bipartite_has_no_edge_inside_a_part():
    n, hubs = 12, 3
    graph = make_topology("bipartite", n, hubs=hubs)
    part = torch.arange(n) < hubs
    teacher, student = graph.edge_index
    assert torch.all(part[teacher] != part[student])
    assert graph.edge_index.shape[1] == 2 * hubs * (n - hubs)
    assert make_topology("bipartite", 100).topology["params"]["hubs"] == 20


def test_sbm_blocks():
    sizes = [3, 4, 5]
    graph = make_topology("sbm", 12, blocks=sizes, p_in=0.8, p_out=0.0, seed=2)
    block = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    assert torch.all(block[graph.edge_index[0]] == block[graph.edge_index[1]])
    full = make_topology("sbm", 12, blocks=sizes, p_in=1.0, p_out=0.0)
    assert full.edge_index.shape[1] == sum(s * (s - 1) for s in sizes)
    between = make_topology("sbm", 12, blocks=sizes, p_in=0.0, p_out=1.0)
    assert torch.all(block[between.edge_index[0]] != block[between.edge_index[1]])
    assert make_topology("sbm", 10, blocks=3).topology["params"]["blocks"] == [4, 3, 3]
    assert make_topology("sbm", 10, blocks=(5, 5)).topology["params"]["blocks"] == [5, 5]
    assert make_topology("sbm", 100).topology["params"]["blocks"] == [25] * 4


def test_erdos_renyi_probability():
    n = 200
    graph = make_topology("erdos-renyi", n, p=0.1, seed=0)
    expected = 0.1 * n * (n - 1)
    assert abs(graph.edge_index.shape[1] - expected) < 5 * math.sqrt(expected)
    assert torch.all(graph.edge_weight == 1)
    assert make_topology("erdos-renyi", 6, p=1.0).edge_index.shape[1] == 30
    assert make_topology("erdos-renyi", 6, p=0.0).edge_index.shape[1] == 0


def test_knn_every_student_has_k_nearest_teachers():
    n, k = 50, 5
    pos = torch.rand(n, 2, generator=torch.Generator().manual_seed(0))
    graph = make_topology("knn", n, pos=pos, k=k)
    assert torch.all(in_degree(graph) == k)
    assert graph.topology["positions"] == "given"
    distances = torch.cdist(pos.double(), pos.double()).fill_diagonal_(math.inf)
    nearest = distances.topk(k, largest=False).indices
    for i in range(n):
        teachers = graph.edge_index[0, graph.edge_index[1] == i]
        assert set(teachers.tolist()) == set(nearest[i].tolist())
    assert not torch.equal(dense(graph), dense(graph).t())  # directed


def test_knn_breaks_grid_ties_by_seed():
    rows, cols = torch.meshgrid(torch.arange(6.0), torch.arange(6.0), indexing="ij")
    pos = torch.stack([rows.flatten(), cols.flatten()], dim=1)
    a = make_topology("knn", 36, pos=pos, k=2, seed=0)
    b = make_topology("knn", 36, pos=pos, k=2, seed=1)
    assert torch.all(in_degree(a) == 2) and torch.all(in_degree(b) == 2)
    assert edge_set(a) != edge_set(b)
    step = (pos[a.edge_index[0]] - pos[a.edge_index[1]]).norm(dim=1)
    torch.testing.assert_close(step, torch.ones_like(step))  # only grid neighbours


def test_spatial_families_ignore_the_unit_of_positions():
    pos = torch.rand(60, 2, generator=torch.Generator().manual_seed(1))
    for name in ["distance", "knn"]:
        unit = make_topology(name, 60, pos=pos, seed=4)
        pixels = make_topology(name, 60, pos=pos * 28.0, seed=4)
        assert edge_set(unit) == edge_set(pixels), name
    waxman = make_topology("distance", 60, pos=pos, kernel="waxman", seed=4)
    assert edge_set(waxman) == edge_set(
        make_topology("distance", 60, pos=pos * 28.0, kernel="waxman", seed=4))


def test_distance_cost_controls_reach():
    pos = torch.rand(100, 2, generator=torch.Generator().manual_seed(2))
    cheap = make_topology("distance", 100, pos=pos, cost=0.5, seed=0)
    dear = make_topology("distance", 100, pos=pos, cost=20.0, seed=0)
    assert dear.edge_index.shape[1] < cheap.edge_index.shape[1] / 4
    free = make_topology("distance", 100, pos=pos, cost=0.0, beta=1.0)
    assert free.edge_index.shape[1] == 100 * 99
    # The edges a large cost keeps are short ones.
    length = (pos[dear.edge_index[0]] - pos[dear.edge_index[1]]).norm(dim=1)
    assert length.mean() < (pos[cheap.edge_index[0]] - pos[cheap.edge_index[1]]).norm(
        dim=1).mean()
    waxman = make_topology("distance", 100, pos=pos, kernel="waxman", alpha=0.2, seed=0)
    assert waxman.topology["params"]["alpha"] == 0.2 and waxman.edge_index.shape[1] > 0


def test_positions_are_passed_only_where_used():
    assert uses_positions("distance") and uses_positions("knn")
    assert not uses_positions("ring") and not uses_positions("file")
    assert not uses_positions("connectome:celegans")
    pos = torch.rand(10, 2)
    assert edge_set(make_topology("ring", 10, pos=pos)) == edge_set(make_topology("ring", 10))
    uniform = make_topology("knn", 10)
    assert uniform.topology["positions"] == "uniform"
    assert "pos" not in topology_params("knn") and "k" in topology_params("knn")


@pytest.mark.parametrize("name", sorted(PAPER_FAMILIES))
def test_paper_families_keep_their_weights(name):
    built = make_topology(name, 10, seed=1)
    raw = TOPOLOGIES[name](10, seed=1)
    assert torch.equal(built.edge_index, raw.edge_index)
    assert torch.equal(built.edge_weight, raw.edge_weight)
    assert built.topology["normalize"] == "none"


@pytest.mark.parametrize("name", ["watts-strogatz", "barabasi-albert", "torus", "knn"])
def test_normalizations(name):
    raw = make_topology(name, 30, seed=0, normalize="none")
    assert torch.all(raw.edge_weight == 1)
    total = make_topology(name, 30, seed=0)
    assert total.topology["normalize"] == "sum"
    assert float(total.edge_weight.sum()) == pytest.approx(1.0)
    student = make_topology(name, 30, seed=0, normalize="student")
    sums = dense(student).sum(dim=1)
    torch.testing.assert_close(sums[in_degree(student) > 0], torch.ones(
        int((in_degree(student) > 0).sum())))
    teacher = make_topology(name, 30, seed=0, normalize="teacher")
    sums = dense(teacher).sum(dim=0)
    torch.testing.assert_close(sums[out_degree(teacher) > 0], torch.ones(
        int((out_degree(teacher) > 0).sum())))
    assert teacher.topology["normalize"] == "teacher"


def test_normalize_weights_by_hand():
    edge_index = torch.tensor([[0, 1, 2, 2], [1, 0, 0, 1]])  # teacher -> student
    weight = torch.tensor([1.0, 2.0, 6.0, 3.0])
    torch.testing.assert_close(normalize_weights(edge_index, weight, 3, "sum"), weight / 12)
    # Students: 0 has 2 + 6, 1 has 1 + 3, 2 has none.
    torch.testing.assert_close(normalize_weights(edge_index, weight, 3, "student"),
                               torch.tensor([1 / 4, 2 / 8, 6 / 8, 3 / 4]))
    # Teachers: 0 has 1, 1 has 2, 2 has 6 + 3.
    torch.testing.assert_close(normalize_weights(edge_index, weight, 3, "teacher"),
                               torch.tensor([1.0, 1.0, 6 / 9, 3 / 9]))
    torch.testing.assert_close(normalize_weights(edge_index, weight, 3, "none"), weight)
    zeros = normalize_weights(edge_index, torch.zeros(4), 3, "student")
    assert torch.equal(zeros, torch.zeros(4))
    empty = torch.zeros(2, 0, dtype=torch.long)
    assert normalize_weights(empty, torch.zeros(0), 3, "sum").shape == (0,)
    assert torch.equal(normalize_weights(edge_index, None, 3, "none"), torch.ones(4))
    with pytest.raises(GraphensError, match="normalize='l1'"):
        normalize_weights(edge_index, weight, 3, "l1")


def test_graphs_from_files_are_normalized_too(monkeypatch):
    seen = {}

    def file_topology(num_nodes=None, seed=0, **params):
        seen.update(params)
        return Data(edge_index=torch.tensor([[0, 1, 2], [1, 2, 0]]),
                    edge_weight=torch.tensor([1.0, 1.0, 2.0]), num_nodes=3,
                    topology={"family": "file", "params": dict(params), "seed": seed})

    fake = types.ModuleType("graphens.topology.readers")
    fake.file_topology = file_topology
    monkeypatch.setitem(sys.modules, "graphens.topology.readers", fake)
    graph = make_topology("file", None, path="g.csv")
    assert seen == {"path": "g.csv"}
    assert graph.topology["normalize"] == "sum"
    torch.testing.assert_close(graph.edge_weight, torch.tensor([0.25, 0.25, 0.5]))
    student = make_topology("file", None, path="g.csv", normalize="student")
    assert "normalize" not in seen and student.topology["normalize"] == "student"
    torch.testing.assert_close(student.edge_weight, torch.ones(3))


@pytest.mark.parametrize("name,n,params,match", [
    ("erdos-renyi", 10, {"p": 1.5}, r"p=1\.5"),
    ("erdos-renyi", 10, {"p": -0.1}, r"p=-0\.1"),
    ("watts-strogatz", 10, {"k": 3}, "k=3.*even"),
    ("watts-strogatz", 10, {"k": 12}, r"k=12.*\[2, 10\]"),
    ("watts-strogatz", 10, {"p": 2}, "p=2"),
    ("newman-watts", 9, {"k": 0}, r"k=0.*\[2, 8\]"),
    ("newman-watts", 9, {"p": "high"}, "p='high'"),
    ("barabasi-albert", 10, {"m": 10}, "m=10"),
    ("barabasi-albert", 10, {"m": 0}, "m=0"),
    ("barabasi-albert", 10, {"directed": True, "m": 2}, "m=2.*undirected"),
    ("barabasi-albert", 10, {"directed": "yes"}, "directed='yes'"),
    ("sbm", 10, {"blocks": [5, 0, 5]}, r"blocks=\[5, 0, 5\].*empty"),
    ("sbm", 10, {"blocks": 11}, "blocks=11.*empty"),
    ("sbm", 10, {"blocks": 0}, "blocks=0"),
    ("sbm", 10, {"blocks": [3, 3]}, r"blocks=\[3, 3\].*N=10"),
    ("sbm", 10, {"blocks": "two"}, "blocks='two'"),
    ("sbm", 10, {"p_in": 1.2}, r"p_in=1\.2"),
    ("sbm", 10, {"p_out": -1}, "p_out=-1"),
    ("sbm", 10, {"q": 1}, "'q'"),
    ("lattice", 10, {"rows": 3}, "rows=3"),
    ("lattice", 10, {"rows": 2, "cols": 4}, "rows=2 x cols=4"),
    ("torus", 10, {"cols": 0}, "cols=0"),
    ("torus", 10, {"rows": 11}, "rows=11"),
    ("regular", 11, {"k": 3}, "k=3.*N\\*k=33.*odd"),
    ("regular", 10, {"k": 10}, "k=10"),
    ("regular", 10, {"k": 0}, "k=0"),
    ("bipartite", 10, {"hubs": 10}, "hubs=10"),
    ("bipartite", 10, {"hubs": 0}, "hubs=0"),
    ("distance", 10, {"kernel": "gaussian"}, "kernel='gaussian'"),
    ("distance", 10, {"cost": -1.0}, r"cost=-1\.0"),
    ("distance", 10, {"cost": math.inf}, "cost=inf"),
    ("distance", 10, {"length": 0}, "length=0"),
    ("distance", 10, {"alpha": 0.2}, r"alpha=0\.2.*kernel='exponential'"),
    ("distance", 10, {"kernel": "waxman", "length": 2.0}, r"length=2\.0.*waxman"),
    ("distance", 10, {"kernel": "waxman", "alpha": -1}, "alpha=-1"),
    ("distance", 10, {"beta": 1.5}, r"beta=1\.5"),
    ("knn", 10, {"k": 10}, "k=10"),
    ("knn", 10, {"k": 0}, "k=0"),
    ("ring", 10, {"normalize": "max"}, "normalize='max'"),
])
def test_bad_parameters(name, n, params, match):
    with pytest.raises(GraphensError, match=match):
        make_topology(name, n, **params)


def test_bad_positions():
    with pytest.raises(GraphensError, match=r"shape \(9, 2\)"):
        make_topology("knn", 10, pos=torch.zeros(9, 2))
    with pytest.raises(GraphensError, match="non-finite"):
        make_topology("distance", 3, pos=torch.tensor([[0.0, 0.0], [1.0, math.nan], [2, 2]]))
    with pytest.raises(GraphensError, match="pos of type"):
        make_topology("knn", 3, pos="centres")


def test_coincident_positions_do_not_break_length_scales():
    pos = torch.zeros(5, 2)
    graph = make_topology("distance", 5, pos=pos, seed=0)
    assert graph.edge_index.shape[1] == 20  # all at distance 0: probability beta = 1
    waxman = make_topology("distance", 5, pos=pos, kernel="waxman")
    assert waxman.edge_index.shape[1] == 20
    assert torch.all(in_degree(make_topology("knn", 5, pos=pos, k=2)) == 2)


def test_spatial_families_return_the_positions_they_were_wired_on():
    graph = make_topology("knn", 7, seed=2, k=1)
    assert graph.topology["positions"] == "uniform" and graph.pos.shape == (7, 2)
    dist = torch.cdist(graph.pos, graph.pos)
    dist.fill_diagonal_(float("inf"))
    teacher_of = dict(zip(graph.edge_index[1].tolist(), graph.edge_index[0].tolist(),
                          strict=True))
    assert all(teacher_of[i] == int(dist[i].argmin()) for i in range(7))
    given = torch.tensor([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    assert torch.equal(make_topology("distance", 3, pos=given).pos, given)
