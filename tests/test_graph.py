"""EnsembleGraph: how PyG batches, splits, copies, moves and saves an ensemble graph."""

import io

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphens import GraphensError
from graphens.ensemble import Ensemble
from graphens.graph import (
    EnsembleGraph,
    as_ensemble_graph,
    batch_graphs,
    ensemble_graph,
    on_host,
    validate_graph,
)
from graphens.receptive_fields import ReceptiveFields
from graphens.topology import make_topology


def fields(index, mask, centers=None, kind="hand"):
    index, mask = torch.tensor(index), torch.tensor(mask)
    return ReceptiveFields(index=index, mask=mask, centers=centers, kind=kind,
                           params={"by": kind})


def ring3():
    """3 nodes, directed ring 0 -> 1 -> 2 -> 0, fields of width 2 with names and positions."""
    topology = make_topology("directed-ring", 3, laterals=1)
    topology.node_names = ["a", "b", "c"]
    f = fields([[0, 1], [2, 0], [3, 4]], [[True, True], [True, False], [True, True]],
               centers=torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    return ensemble_graph(topology, f)


def pair():
    """2 nodes teaching each other, weights 1 and 2, fields of width 2 (attributes as ring3)."""
    topology = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), edge_weight=torch.tensor([1., 2.]),
                    num_nodes=2, topology={"family": "pair", "params": {}, "seed": None},
                    node_names=["x", "y"])
    f = fields([[5, 6], [7, 0]], [[True, True], [True, False]],
               centers=torch.tensor([[5.0, 5.0], [6.0, 6.0]]), kind="other")
    return ensemble_graph(topology, f)


def test_ensemble_graph_is_an_ensemble_graph_with_its_attributes():
    graph = ring3()
    assert isinstance(graph, EnsembleGraph)
    assert graph.edge_index.tolist() == [[0, 1, 2], [2, 0, 1]]  # j -> i: i learns from i + 1
    assert graph.rf_index.dtype == torch.long and graph.rf_mask.dtype == torch.bool
    assert graph.topology["family"] == "directed-ring"
    assert graph.receptive_field == {"kind": "hand", "params": {"by": "hand"}}
    assert graph.node_names == ["a", "b", "c"] and graph.field_width == 2


def test_batch_of_two_is_the_disjoint_union_with_fields_not_shifted():
    a, b = ring3(), pair()
    batch = Batch.from_data_list([a, b])
    assert batch.num_nodes == 5
    assert batch.edge_index.tolist() == [[0, 1, 2, 3, 4], [2, 0, 1, 4, 3]]
    assert batch.edge_weight.tolist() == pytest.approx([1 / 3] * 3 + [1.0, 2.0])
    assert batch.rf_index.tolist() == [[0, 1], [2, 0], [3, 4], [5, 6], [7, 0]]
    assert batch.rf_mask.tolist() == [[True, True], [True, False], [True, True],
                                      [True, True], [True, False]]
    assert batch.batch.tolist() == [0, 0, 0, 1, 1]
    assert batch.pos.tolist() == [[0, 0], [1, 0], [2, 0], [5, 5], [6, 6]]
    assert batch.node_names == [["a", "b", "c"], ["x", "y"]]  # lists are kept per ensemble
    assert batch.topology == [a.topology, b.topology]  # one record per ensemble
    assert batch.receptive_field[1] == {"kind": "other", "params": {"by": "other"}}


def test_batch_of_three_and_back():
    graphs = [pair(), ring3(), pair()]
    batch = Batch.from_data_list(graphs)
    assert batch.edge_index.tolist() == [[0, 1, 2, 3, 4, 5, 6], [1, 0, 4, 2, 3, 6, 5]]
    assert batch.rf_index.tolist() == [[5, 6], [7, 0], [0, 1], [2, 0], [3, 4], [5, 6], [7, 0]]
    assert batch.ptr.tolist() == [0, 2, 5, 7]
    for got, original in zip(batch.to_data_list(), graphs, strict=True):
        assert isinstance(got, EnsembleGraph)
        assert got.num_nodes == original.num_nodes
        for key in ("edge_index", "edge_weight", "rf_index", "rf_mask"):
            assert torch.equal(got[key], original[key]), key
        assert got.topology == original.topology
        assert got.receptive_field == original.receptive_field
    example = batch.get_example(1)
    assert torch.equal(example.pos, graphs[1].pos) and example.node_names == ["a", "b", "c"]


def test_batching_different_widths_names_them_or_pads():
    topology = make_topology("ring", 3)
    topology.node_names = ["a", "b", "c"]
    wide = ensemble_graph(topology, fields([[0, 1, 2]] * 3, [[True, True, True]] * 3,
                                           centers=torch.zeros(3, 2)))
    with pytest.raises(GraphensError, match=r"widths K \[2, 3\].*pad=True"):
        batch_graphs([ring3(), wide])
    batch = batch_graphs([ring3(), wide], pad=True)
    assert batch.rf_index.tolist()[:3] == [[0, 1, 0], [2, 0, 0], [3, 4, 0]]
    assert batch.rf_mask.tolist()[1] == [True, False, False]
    assert batch.rf_index.tolist()[3:] == [[0, 1, 2]] * 3
    with pytest.raises(GraphensError, match="width 3 to 2"):
        wide.pad_fields(2)
    del wide.pos
    with pytest.raises(GraphensError, match=r"graph 1 differs from graph 0 in .*\['pos'\]"):
        batch_graphs([ring3(), wide])


def test_subgraph_keeps_rows_and_edges_of_the_kept_nodes():
    graph = ring3()
    graph.edge_weight = torch.tensor([1.0, 2.0, 3.0])
    sub = graph.subgraph(torch.tensor([0, 1]))
    assert sub.num_nodes == 2
    assert sub.edge_index.tolist() == [[1], [0]]  # only 1 -> 0 survives
    assert sub.edge_weight.tolist() == [2.0]
    assert sub.rf_index.tolist() == [[0, 1], [2, 0]]  # signal ids unchanged
    assert sub.rf_mask.tolist() == [[True, True], [True, False]]
    assert sub.pos.tolist() == [[0.0, 0.0], [1.0, 0.0]]
    assert sub.node_names == ["a", "b"]
    validate_graph(sub)


def test_edge_subgraph_keeps_every_node():
    graph = ring3()
    sub = graph.edge_subgraph(torch.tensor([2]))
    assert sub.num_nodes == 3 and sub.edge_index.tolist() == [[2], [1]]
    assert sub.edge_weight.shape == (1,)
    assert torch.equal(sub.rf_index, graph.rf_index) and sub.node_names == ["a", "b", "c"]


def test_clone_is_independent():
    graph = ring3()
    copy = graph.clone()
    copy.rf_index[0, 0] = 9
    copy.edge_weight[0] = 5.0
    copy.topology["family"] = "changed"
    copy.receptive_field["params"]["by"] = "changed"
    assert graph.rf_index[0, 0] == 0 and graph.edge_weight[0] == pytest.approx(1 / 3)
    assert graph.topology["family"] == "directed-ring"
    assert graph.receptive_field["params"]["by"] == "hand"


def test_validate_to_and_pyg_checks():
    graph = ring3()
    assert graph.validate(raise_on_error=True)
    moved = graph.to("cpu")
    assert isinstance(moved, EnsembleGraph) and moved.topology == graph.topology
    graph.edge_index = torch.tensor([[0, 1], [1, 3]])
    graph.edge_weight = torch.ones(2)
    with pytest.raises(ValueError, match="larger indices"):
        graph.validate(raise_on_error=True)
    with pytest.raises(GraphensError, match=r"edge 1 \(1 -> 3\) refers to a node outside"):
        validate_graph(graph)


def test_save_and_load_round_trip():
    graph = ring3()
    buffer = io.BytesIO()
    torch.save({"graph": graph}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)["graph"]
    assert isinstance(loaded, EnsembleGraph)
    assert torch.equal(loaded.rf_index, graph.rf_index)
    assert loaded.topology == graph.topology and loaded.node_names == graph.node_names
    assert Batch.from_data_list([loaded, graph]).rf_index.shape == (6, 2)


def test_old_plain_data_is_converted():
    new = ring3()
    old = Data(edge_index=new.edge_index, edge_weight=new.edge_weight, num_nodes=3,
               rf_index=new.rf_index, rf_mask=new.rf_mask, pos=new.pos,
               topology=dict(new.topology), receptive_field=dict(new.receptive_field))
    graph = as_ensemble_graph(old)
    assert isinstance(graph, EnsembleGraph) and as_ensemble_graph(graph) is graph
    assert graph.topology == new.topology and graph.num_nodes == 3
    assert Batch.from_data_list([graph, graph]).rf_index.max() == 4  # no longer shifted
    ensemble = Ensemble(old)  # what load_ensemble hands over for an old ensemble.pt
    assert isinstance(ensemble.graph, EnsembleGraph)
    with pytest.raises(GraphensError, match="expected a torch_geometric Data"):
        as_ensemble_graph({"edge_index": new.edge_index})


DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.mark.parametrize("device", DEVICES)
def test_on_host_moves_a_copy_and_leaves_the_graph_on_its_device(device):
    # PyG's Data.cpu() moves in place: reading a GPU ensemble's graph for decoding once moved
    # the ensemble's own fields to the CPU (found on an H200).
    graph = ring3().to(device)
    host = on_host(graph)
    assert host is not graph and isinstance(host, EnsembleGraph)
    assert all(t.device.type == "cpu" for _, t in host if isinstance(t, torch.Tensor))
    assert graph.rf_mask.device.type == device and graph.edge_index.device.type == device
    assert host.node_names == ["a", "b", "c"]
    host.apply(lambda t: t.double() if t.is_floating_point() else t)  # in place, on the copy
    assert graph.edge_weight.dtype == torch.float32
    ensemble = Ensemble(ring3()).to(device)
    on_host(ensemble.graph)
    assert ensemble.graph.rf_index.device == next(ensemble.parameters()).device
