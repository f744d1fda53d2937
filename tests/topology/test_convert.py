"""Converters, file readers, node mappings and the rewired null on small hand-made graphs."""

import warnings

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphens.errors import GraphensError
from graphens.topology import make_topology
from graphens.topology.convert import from_adjacency, from_edge_list, from_networkx
from graphens.topology.mapping import map_nodes, neuron_class
from graphens.topology.null import rewired_null
from graphens.topology.readers import file_topology

pytestmark = pytest.mark.filterwarnings("ignore:.*no teacher:UserWarning")


def edges(graph):
    """``{(teacher name, student name): weight}``."""
    names = graph.node_names
    return {(names[j], names[i]): w for (j, i), w in
            zip(graph.edge_index.t().tolist(), graph.edge_weight.tolist(), strict=True)}


def worm():
    """Five named neurons: AVA -> AVB -> RIM -> AVA between classes, AVAL -> AVAR inside AVA."""
    return from_edge_list(
        ["AVAL", "AVAR", "AVAL", "AVBL", "AVBR", "RIML"],
        ["AVBL", "AVBR", "AVAR", "RIML", "RIML", "AVAL"],
        [2, 3, 5, 1, 4, 7])


def random_digraph(n=30, p=0.15, seed=0):
    G = nx.gnp_random_graph(n, p, seed=seed, directed=True)
    rng = np.random.default_rng(seed)
    for u, v in G.edges:
        G[u][v]["weight"] = float(rng.integers(1, 10))
    return from_networkx(G)


# --- converters ----------------------------------------------------------------------------

def test_from_networkx_directed_keeps_names_direction_and_weights():
    G = nx.DiGraph()
    G.add_edge("a", "b", weight=2.0)
    G.add_edge("c", "a")  # no weight attribute: 1
    g = from_networkx(G)
    assert g.node_names == ["a", "b", "c"]
    assert edges(g) == {("a", "b"): 2.0, ("c", "a"): 1.0}
    assert g.topology["family"] == "networkx"


def test_from_networkx_undirected_gives_both_directions_and_multigraph_sums():
    g = from_networkx(nx.Graph([(0, 1, {"weight": 3.0})]))
    assert edges(g) == {("0", "1"): 3.0, ("1", "0"): 3.0}
    M = nx.MultiDiGraph()
    M.add_edge("x", "y", weight=1.0)
    M.add_edge("x", "y", weight=2.5)
    assert edges(from_networkx(M)) == {("x", "y"): 3.5}
    assert edges(from_networkx(M, weight=None)) == {("x", "y"): 2.0}


def test_from_adjacency_row_is_teacher_column_is_student():
    A = np.array([[0, 2, 0], [0, 0, 1], [4, 0, 0]], dtype=float)
    expected = {("a", "b"): 2.0, ("b", "c"): 1.0, ("c", "a"): 4.0}
    for matrix in (A, torch.tensor(A), sp.csr_matrix(A)):
        g = from_adjacency(matrix, names=["a", "b", "c"])
        assert edges(g) == expected
    assert from_adjacency(A).node_names == ["0", "1", "2"]


@pytest.mark.parametrize("bad, match", [(np.nan, "nan"), (-1.0, "-1.0")])
def test_bad_weights_name_the_edge(bad, match):
    A = np.zeros((3, 3))
    A[1, 2] = bad
    with pytest.raises(GraphensError, match=rf"b -> c has weight {match}.*>= 0"):
        from_adjacency(A, names=["a", "b", "c"])
    with pytest.raises(GraphensError, match="x -> y"):
        from_edge_list(["x"], ["y"], [bad])


def test_from_adjacency_rejects_non_square():
    with pytest.raises(GraphensError, match="not square"):
        from_adjacency(np.ones((2, 3)))


def test_from_edge_list_sums_duplicates_and_drops_self_loops_with_a_warning():
    with pytest.warns(UserWarning, match="dropped 2 self-loop"):
        g = from_edge_list(["a", "a", "b", "b", "a"], ["b", "b", "b", "a", "a"], [1, 2, 9, 4, 9])
    assert edges(g) == {("a", "b"): 3.0, ("b", "a"): 4.0}


def test_from_edge_list_indices_names_and_unknown_labels():
    g = from_edge_list([0, 2], [1, 0], num_nodes=4)
    assert g.num_nodes == 4 and g.node_names == ["0", "1", "2", "3"]
    g = from_edge_list(["b"], ["a"], names=["a", "b", "c"])
    assert g.node_names == ["a", "b", "c"] and edges(g) == {("b", "a"): 1.0}
    with pytest.raises(GraphensError, match="not in names"):
        from_edge_list(["b"], ["z"], names=["a", "b"])


# --- readers -------------------------------------------------------------------------------

def read(path, **params):
    return file_topology(path, **params)


def test_csv_edge_list_round_trip(tmp_path):
    g = worm()
    path = tmp_path / "worm.csv"
    rows = [f"{s},{t},{w}" for (s, t), w in edges(g).items()]
    path.write_text("source,target,weight,note\n" + "\n".join(r + ",x" for r in rows) + "\n")
    back = read(path)
    assert edges(back) == edges(g)
    assert back.topology["family"] == "file"
    assert back.topology["source"] == {"path": str(path), "format": "edge-list"}


def test_csv_without_weight_column_and_integer_labels(tmp_path):
    path = tmp_path / "ints.csv"
    path.write_text("target,source\n1,0\n2,1\n0,2\n")
    g = read(path)
    assert g.node_names == ["0", "1", "2"]
    assert edges(g) == {("0", "1"): 1.0, ("1", "2"): 1.0, ("2", "0"): 1.0}


def test_graphml_gexf_and_npy_round_trip(tmp_path):
    g = worm()
    G = nx.DiGraph()
    G.add_nodes_from(g.node_names)
    G.add_weighted_edges_from((s, t, w) for (s, t), w in edges(g).items())
    nx.write_graphml(G, tmp_path / "worm.graphml")
    nx.write_gexf(G, tmp_path / "worm.gexf")
    for name in ("worm.graphml", "worm.gexf"):
        back = read(tmp_path / name)
        assert back.node_names == g.node_names
        assert edges(back) == edges(g)
    A = nx.to_numpy_array(G)  # A[source, target]
    np.save(tmp_path / "worm.npy", A)
    back = read(tmp_path / "worm.npy")
    assert back.node_names == [str(i) for i in range(5)]
    assert torch.equal(back.edge_index, g.edge_index)
    assert torch.equal(back.edge_weight, g.edge_weight)


def test_csv_adjacency_plain_and_labelled(tmp_path):
    A = np.array([[0, 1.5, 0], [0, 0, 2], [3, 0, 0]])
    plain = tmp_path / "plain.csv"
    np.savetxt(plain, A, delimiter=",")
    labelled = tmp_path / "labelled.csv"
    labelled.write_text(",a,b,c\na,0,1.5,0\nb,0,0,2\nc,3,0,0\n")
    assert edges(read(plain)) == {("0", "1"): 1.5, ("1", "2"): 2.0, ("2", "0"): 3.0}
    assert edges(read(labelled)) == {("a", "b"): 1.5, ("b", "c"): 2.0, ("c", "a"): 3.0}
    assert read(labelled).topology["source"]["format"] == "adjacency"


def test_make_topology_file_dispatch(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("source,target,weight\na,b,2\nb,a,3\n")
    g = make_topology("file", None, path=str(path), normalize="none")
    assert edges(g) == {("a", "b"): 2.0, ("b", "a"): 3.0}
    assert g.topology["params"]["path"] == str(path)


def test_missing_columns_name_found_and_needed(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("from,to,weight\na,b,1\n")
    with pytest.raises(GraphensError, match=r"source,target.*found columns "
                                            r"\['from', 'to', 'weight'\]"):
        read(path)
    path.write_text("source,target\na,b\n")
    with pytest.raises(GraphensError, match=r"needs \['source', 'target', 'count'\]"):
        read(path, weight="count")


def test_reader_errors(tmp_path):
    with pytest.raises(GraphensError, match=r"unknown extension '.txt'; supported: .csv"):
        read(tmp_path / "g.txt")
    with pytest.raises(GraphensError, match="does not exist"):
        read(tmp_path / "missing.csv")
    with pytest.raises(GraphensError, match="needs path="):
        file_topology()
    bad = tmp_path / "w.csv"
    bad.write_text("source,target,weight\na,b,many\n")
    with pytest.raises(GraphensError, match="line 2: weight 'many' is not a number"):
        read(bad)
    with pytest.raises(GraphensError, match="no parameter"):
        read(bad, colour="red")


# --- mappings ------------------------------------------------------------------------------

def test_neuron_class_rule():
    cases = {"AVAL": "AVA", "VA12": "VA", "DD1": "DD", "M2L": "M2", "MCR": "MC", "I1L": "I1",
             "I3": "I3", "IL1DL": "IL1", "SABVR": "SAB", "RMED": "RME", "RMDL": "RMD",
             "SMDDL": "SMD", "AVDL": "AVD", "AVL": "AVL", "RID": "RID", "PVR": "PVR"}
    assert {name: neuron_class(name) for name in cases} == cases


def test_coarse_classes_sums_weights_between_classes():
    g = map_nodes(worm(), "coarse:classes")
    assert g.node_names == ["AVA", "AVB", "RIM"]
    assert edges(g) == {("AVA", "AVB"): 5.0, ("AVB", "RIM"): 5.0, ("RIM", "AVA"): 7.0}
    record = g.topology["mapping"]
    assert record["intra_weight_dropped"] == 5.0
    assert record["groups"]["AVA"] == ["AVAL", "AVAR"]
    assert (record["spec"], record["from_nodes"], record["to_nodes"]) == ("coarse:classes", 5, 3)


def test_coarse_communities_finds_two_cliques():
    G = nx.DiGraph()
    for group in ("abcd", "wxyz"):
        G.add_weighted_edges_from((u, v, 1.0) for u in group for v in group if u != v)
    G.add_edge("a", "w", weight=0.5)
    g = map_nodes(from_networkx(G), "coarse:communities", seed=3)
    groups = g.topology["mapping"]["groups"]
    assert sorted(map(sorted, groups.values())) == [list("abcd"), list("wxyz")]
    assert g.edge_weight.tolist() == [0.5]
    assert g.topology["mapping"]["intra_weight_dropped"] == 24.0


def test_subgraph_mappings_pick_the_right_nodes():
    g = worm()
    top = map_nodes(g, "degree:2")  # degrees: AVAL 3, RIML 3, the others 2
    assert top.node_names == ["AVAL", "RIML"]
    assert edges(top) == {("RIML", "AVAL"): 7.0}
    named = map_nodes(g, "names:RIML, AVAL")
    assert named.node_names == ["RIML", "AVAL"] and named.topology["mapping"]["kind"] == "names"
    assert map_nodes(g, "class:AVB,RIM").node_names == ["AVBL", "AVBR", "RIML"]
    one = map_nodes(g, "random:3", seed=1)
    assert one.num_nodes == 3 and one.topology["mapping"]["seed"] == 1
    assert map_nodes(g, "random:3", seed=1).node_names == one.node_names


def test_unknown_names_are_listed_with_suggestions():
    with pytest.raises(GraphensError, match=r"unknown neuron AVLA \(did you mean .*AVAL.*\?\)"):
        map_nodes(worm(), "names:AVLA,AVAR")
    with pytest.raises(GraphensError, match="unknown map 'top:3'"):
        map_nodes(worm(), "top:3")


def test_node_count_mismatch_says_both_numbers_and_the_fix():
    with pytest.raises(GraphensError, match=r"--nodes 4 but map 'all' gives 5 nodes.*degree:4"):
        map_nodes(worm(), "all", num_nodes=4)
    assert map_nodes(worm(), "degree:4", num_nodes=4).num_nodes == 4


def test_node_without_teacher_warns():
    g = from_edge_list(["a", "b"], ["b", "a"], names=["a", "b", "lonely"])
    with pytest.warns(UserWarning, match=r"1 of 3 nodes have no teacher.*lonely"):
        map_nodes(g, "all")


# --- null model ----------------------------------------------------------------------------

def degrees(graph):
    return [torch.bincount(graph.edge_index[row], minlength=graph.num_nodes) for row in (0, 1)]


def test_null_preserves_every_degree_and_changes_the_edges():
    g = random_digraph()
    null = rewired_null(g, seed=5)
    for before, after in zip(degrees(g), degrees(null), strict=True):
        assert torch.equal(before, after)
    pairs = set(map(tuple, null.edge_index.t().tolist()))
    assert len(pairs) == null.edge_index.shape[1]  # no multi-edges
    assert all(j != i for j, i in pairs)  # no self-loops
    assert pairs != set(map(tuple, g.edge_index.t().tolist()))
    # Weights travel with the teacher: every node's outgoing weight is unchanged.
    out = [torch.zeros(g.num_nodes).index_add_(0, x.edge_index[0], x.edge_weight)
           for x in (g, null)]
    assert torch.equal(out[0], out[1])
    assert null.node_names == g.node_names
    assert null.topology["family"] == "rewired-null"
    assert null.topology["null_of"] == g.topology


def test_null_is_seeded():
    g = random_digraph()
    assert torch.equal(rewired_null(g, seed=1).edge_index, rewired_null(g, seed=1).edge_index)
    assert not torch.equal(rewired_null(g, seed=1).edge_index,
                           rewired_null(g, seed=2).edge_index)


def test_null_warns_when_no_swap_is_possible_and_checks_inputs():
    ring = make_topology("directed-ring", 3, laterals=1)
    with pytest.warns(UserWarning, match="only 0 of 30 swaps"):
        null = rewired_null(ring)
    assert torch.equal(null.edge_index, ring.edge_index)
    with pytest.raises(GraphensError, match="swaps_per_edge"):
        rewired_null(ring, swaps_per_edge=0)


def test_file_topology_null_option(tmp_path):
    g = random_digraph(seed=4)
    path = tmp_path / "g.npy"
    A = np.zeros((g.num_nodes, g.num_nodes))
    A[g.edge_index[0].numpy(), g.edge_index[1].numpy()] = g.edge_weight.numpy()
    np.save(path, A)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = read(path)
        null = read(path, null=True, seed=2)
    for before, after in zip(degrees(base), degrees(null), strict=True):
        assert torch.equal(before, after)
    assert null.topology["null_of"]["family"] == "file"
