"""Real connectomes: the shipped C. elegans edge lists, cect-backed datasets, mappings, null."""

import csv
import importlib.util
import io
import sys
from pathlib import Path

import pytest
import torch

import graphens
from graphens.errors import GraphensError
from graphens.topology import connectome as conn
from graphens.topology import make_topology
from graphens.topology.connectome import connectome_topology, list_connectomes, topologies_dir
from graphens.topology.mapping import neuron_class

pytestmark = pytest.mark.filterwarnings("ignore:.*no teacher:UserWarning")

WHITE = "celegans-white1986"


def edges(graph):
    names = graph.node_names
    return {(names[j], names[i]): w for (j, i), w in
            zip(graph.edge_index.t().tolist(), graph.edge_weight.tolist(), strict=True)}


def shipped(synapse):
    text = (topologies_dir() / f"celegans_white1986_{synapse}.csv").read_text(encoding="utf-8")
    return {(r["source"], r["target"]): float(r["weight"])
            for r in csv.DictReader(io.StringIO(text))}


@pytest.fixture
def no_cect(monkeypatch):
    """Make ``import cect`` fail and forget connectomes loaded so far."""
    monkeypatch.setitem(sys.modules, "cect", None)
    conn._cached_wiring.cache_clear()
    yield
    conn._cached_wiring.cache_clear()


def test_list_connectomes_has_the_required_names():
    listed = list_connectomes()
    for name in (WHITE, "celegans-cook2019", "celegans-witvliet2021-8"):
        assert name in listed and listed[name]
    assert conn.CONNECTOMES[WHITE].shipped


def test_shipped_connectome_loads_offline_without_cect(no_cect):
    g = connectome_topology(WHITE)
    assert g.num_nodes == 299 and len(g.node_names) == 299
    assert g.node_names == sorted(g.node_names)
    assert {"AVAL", "AVAR", "RIML", "VA12", "I1L"} <= set(g.node_names)
    record = g.topology
    assert record["family"] == f"connectome:{WHITE}"
    assert record["synapse"] == "chemical" and record["neurons"] == 299
    assert "White" in record["source"]["reference"]
    assert record["mapping"]["spec"] == "all"


def test_weights_are_the_synapse_counts_of_the_shipped_files():
    chemical = edges(connectome_topology(WHITE))
    assert chemical == shipped("chemical")
    assert chemical[("ADAL", "AIBR")] == 2.0 and chemical[("AVAL", "AVAR")] == 2.0
    assert ("AIBR", "ADAL") not in chemical  # chemical synapses are directed
    electrical = edges(connectome_topology(WHITE, synapse="electrical"))
    assert electrical == shipped("electrical")
    assert electrical[("AVAL", "AVAR")] == electrical[("AVAR", "AVAL")] == 5.0
    assert all(electrical[(t, s)] == w for (s, t), w in electrical.items())
    both = edges(connectome_topology(WHITE, synapse="both"))
    assert both[("AVAL", "AVAR")] == 7.0
    assert sum(both.values()) == sum(chemical.values()) + sum(electrical.values())


def test_make_topology_dispatches_connectomes():
    g = make_topology(f"connectome:{WHITE}", 20, map="degree:20", normalize="none")
    assert g.num_nodes == 20
    assert g.topology["mapping"] == {"kind": "degree", "spec": "degree:20",
                                     "from_nodes": 299, "to_nodes": 20}
    assert {"AVAL", "AVAR", "AVBL", "AVBR"} <= set(g.node_names)


def test_mappings_give_the_right_counts_and_records():
    named = connectome_topology(WHITE, map="names:AVAL,AVAR,AVBL,AVBR")
    assert named.node_names == ["AVAL", "AVAR", "AVBL", "AVBR"]
    assert edges(named)[("AVAL", "AVAR")] == 2.0
    assert connectome_topology(WHITE, map="class:AVA,AVB,RIM").num_nodes == 6
    sample = connectome_topology(WHITE, map="random:15", seed=4)
    assert sample.num_nodes == 15 and sample.topology["mapping"]["seed"] == 4
    assert connectome_topology(WHITE, map="random:15", seed=4).node_names == sample.node_names
    full = connectome_topology(WHITE, synapse="both")
    classes = connectome_topology(WHITE, map="coarse:classes", synapse="both")
    assert classes.num_nodes == len({neuron_class(n) for n in full.node_names}) == 117
    communities = connectome_topology(WHITE, map="coarse:communities", synapse="both", seed=0)
    record = communities.topology["mapping"]
    members = [n for group in record["groups"].values() for n in group]
    assert sorted(members) == full.node_names  # every neuron in exactly one community
    assert communities.num_nodes == len(record["groups"]) >= 2
    total = float(full.edge_weight.sum())
    assert float(communities.edge_weight.sum()) + record["intra_weight_dropped"] == total


def test_node_count_mismatch_and_unknown_names():
    with pytest.raises(GraphensError, match=r"--nodes 20 but map 'all' gives 299 nodes"):
        connectome_topology(WHITE, num_nodes=20)
    with pytest.raises(GraphensError, match=r"unknown neuron AVAX \(did you mean .*AVAL"):
        connectome_topology(WHITE, map="names:AVAX,AVAR")
    with pytest.raises(GraphensError, match="unknown connectome 'celegans-white1968'.*did you"):
        connectome_topology("celegans-white1968")
    with pytest.raises(GraphensError, match="synapse='gap'"):
        connectome_topology(WHITE, synapse="gap")
    with pytest.raises(GraphensError, match=r"no parameter\(s\) \['colour'\]"):
        connectome_topology(WHITE, colour="red")


def test_mapping_that_leaves_a_node_without_teacher_warns():
    # ASIL receives no chemical synapse from another neuron in this dataset.
    with pytest.warns(UserWarning, match=r"no teacher.*ASIL"):
        connectome_topology(WHITE, map="names:ASIL,AIYL,AIZL")


def test_connectome_null_keeps_degrees():
    g = connectome_topology(WHITE, map="degree:60")
    null = connectome_topology(WHITE, map="degree:60", null=True, seed=1)
    for row in (0, 1):
        assert torch.equal(torch.bincount(g.edge_index[row], minlength=60),
                           torch.bincount(null.edge_index[row], minlength=60))
    assert edges(null).keys() != edges(g).keys()
    assert null.topology["null_of"]["family"] == f"connectome:{WHITE}"
    assert null.node_names == g.node_names


def test_cect_datasets_need_cect(no_cect):
    with pytest.raises(GraphensError,
                       match=r'celegans-cook2019.*pip install "graphens\[connectomes\]"'):
        connectome_topology("celegans-cook2019")


def test_shipped_data_is_the_topologies_folder_of_this_checkout():
    # The editable install maps graphens.shipped onto topologies/ (pyproject package-dir).
    folder = topologies_dir()
    here = Path(__file__).resolve().parents[2] / "topologies"
    if Path(graphens.__file__).resolve().parents[1] == here.parent:  # a source checkout
        assert Path(str(folder)).resolve() == here
    names = {entry.name for entry in folder.iterdir()}
    assert {"celegans_white1986_chemical.csv", "celegans_white1986_electrical.csv",
            "README.md"} <= names


def test_missing_data_folder_is_explained(monkeypatch, no_cect):
    monkeypatch.setattr(conn, "SHIPPED_PACKAGE", "graphens.no_such_data_package")
    with pytest.raises(GraphensError, match=r"connectome:celegans-white1986: the shipped "
                                            r"topology data .* is missing .*reinstall"):
        connectome_topology(WHITE)


def test_missing_data_file_is_explained(monkeypatch, no_cect):
    monkeypatch.setitem(conn.WHITE1986_FILES, "electrical", "no_such_file.csv")
    with pytest.raises(GraphensError, match=r"'no_such_file.csv' is missing .*topologies/"):
        connectome_topology(WHITE)


def test_cect_datasets_load():
    pytest.importorskip("cect")
    cook = connectome_topology("celegans-cook2019", synapse="both")
    assert cook.num_nodes == 302 and "AVAL" in cook.node_names
    assert "cect" in cook.topology["source"]["dataset"]
    adult = connectome_topology("celegans-witvliet2021-8", map="class:AVA,AVB")
    assert adult.node_names == ["AVAL", "AVAR", "AVBL", "AVBR"]


def test_shipped_files_match_their_generating_script():
    pytest.importorskip("cect")
    path = topologies_dir() / "make_celegans_white1986.py"
    spec = importlib.util.spec_from_file_location("make_celegans_white1986", str(path))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    names, matrices, _ = script.load()
    for synapse, matrix in matrices.items():
        regenerated = {(names[j], names[i]): float(matrix[j, i])
                       for j, i in zip(*matrix.nonzero(), strict=True)}
        assert regenerated == shipped(synapse)
