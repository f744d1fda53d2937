"""The graph object, the node bank and the ensemble that joins them."""

import warnings

import pytest
import torch
from torch import nn

from graphens import GraphensError
from graphens.encoders import make_encoder_factory, mlp_encoder
from graphens.ensemble import Ensemble
from graphens.graph import ensemble_graph, never_learning_nodes, validate_graph
from graphens.node_bank import NodeBank
from graphens.objectives import CLoSeRObjective
from graphens.receptive_fields import from_groups, sample_receptive_fields
from graphens.topology import make_topology


def small_graph(n=4, family="all-to-all", signals=16, fraction=0.25, **params):
    fields = sample_receptive_fields("random", n, signals, fraction=fraction, seed=0)
    return ensemble_graph(make_topology(family, n, **params), fields)


def test_graph_holds_topology_and_fields():
    graph = small_graph()
    assert graph.rf_index.shape == (4, 4) and graph.rf_mask.all()
    assert graph.topology["family"] == "all-to-all"
    assert graph.receptive_field["kind"] == "random"


def test_gaussian_fields_give_positions():
    fields = sample_receptive_fields("gaussian", 3, 64, fraction=0.25, image_shape=(8, 8, 1))
    graph = ensemble_graph(make_topology("ring", 3), fields)
    assert graph.pos.shape == (3, 2)


@pytest.mark.parametrize("edit,match", [
    (lambda g: setattr(g, "edge_index", torch.tensor([[0, 5], [1, 0]])), "outside"),
    (lambda g: setattr(g, "edge_index", torch.tensor([[0, 2], [1, 2]])), "self-loops at"),
    (lambda g: setattr(g, "edge_weight", torch.tensor([1.0, -1.0])), r"-1\.0"),
    (lambda g: setattr(g, "edge_weight", torch.tensor([1.0, float("nan")])), "nan"),
    (lambda g: setattr(g, "edge_weight", torch.tensor([1.0, float("inf")])), "inf"),
])
def test_bad_edges_are_named(edit, match):
    graph = small_graph()
    graph.edge_index = torch.tensor([[0, 1], [1, 2]])
    graph.edge_weight = torch.ones(2)
    edit(graph)
    with pytest.raises(GraphensError, match=match):
        validate_graph(graph)


def test_empty_edge_set_names_idle_nodes_when_training():
    graph = small_graph()
    graph.edge_index = torch.zeros(2, 0, dtype=torch.long)
    graph.edge_weight = torch.zeros(0)
    validate_graph(graph)  # fine to hold, e.g. for an untrained baseline
    with pytest.raises(GraphensError, match=r"nodes \[0, 1, 2, 3\] would never learn"):
        validate_graph(graph, require_edges=True)


def test_nodes_without_teacher_are_reported():
    graph = small_graph(family="star")
    assert never_learning_nodes(graph) == []
    graph.edge_index = torch.tensor([[0, 1], [1, 2]])
    graph.edge_weight = torch.ones(2)
    assert never_learning_nodes(graph, "teacher") == [0, 3]
    with pytest.warns(UserWarning, match=r"\[0, 3\]"):
        validate_graph(graph, require_edges=True, stop_gradient="teacher")


def test_node_count_mismatch():
    fields = sample_receptive_fields("random", 3, 16, fraction=0.25)
    with pytest.raises(GraphensError, match="4 nodes but 3 receptive fields"):
        ensemble_graph(make_topology("ring", 4), fields)


def test_node_bank_nodes_are_independent_and_match_their_own_module():
    factory = mlp_encoder(hidden=(8,), dim=3, dropout=0.0)
    bank = NodeBank(factory, 3, 5, seed=1)
    x = torch.randn(3, 7, 5)
    z = bank(x)
    assert z.shape == (3, 7, 3)
    for node in range(3):
        module = factory(5)
        module.load_state_dict(bank.node_state_dict(node))
        torch.testing.assert_close(z[node], module(x[node]))
    # Nodes do not share weights.
    assert not torch.equal(bank.node_state_dict(0)["0.weight"], bank.node_state_dict(1)["0.weight"])
    # Seeded initialisation, independent of the global RNG.
    torch.manual_seed(123)
    again = NodeBank(factory, 3, 5, seed=1)
    torch.testing.assert_close(again(x), z)


def test_paper_mlp_layout_and_init():
    net = make_encoder_factory("mlp")(78)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (78, 1024), (1024, 512), (512, 256), (256, 256)]
    assert all(torch.all(m.bias == 0) for m in linears)
    bound = (6 / (78 + 1024)) ** 0.5
    assert linears[0].weight.abs().max() <= bound
    assert sum(isinstance(m, nn.GELU) for m in net.modules()) == 3
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.1 for m in net.modules()) == 3


def test_any_user_module_works():
    class Tiny(nn.Module):
        def __init__(self, d_in):
            super().__init__()
            self.proj = nn.Linear(d_in, 4)
            self.norm = nn.LayerNorm(4)

        def forward(self, x):
            return self.norm(torch.tanh(self.proj(x)))

    ensemble = Ensemble(small_graph(), lambda d: Tiny(d))
    assert ensemble(torch.rand(6, 16)).shape == (4, 6, 4)
    with pytest.raises(GraphensError, match="encoder"):
        make_encoder_factory("transformer-xl")


def test_gather_respects_fields_and_masks_padding():
    fields = from_groups([[0, 1, 2], [3], [4, 5]], num_signals=6)
    graph = ensemble_graph(make_topology("all-to-all", 3), fields)
    ensemble = Ensemble(graph, mlp_encoder(hidden=(4,), dim=2))
    x = torch.arange(1, 7, dtype=torch.float32).repeat(2, 1)
    views = ensemble.gather(x)
    assert views.shape == (3, 2, 3)
    assert views[0, 0].tolist() == [1, 2, 3]
    assert views[1, 0].tolist() == [4, 0, 0]
    assert views[2, 0].tolist() == [5, 6, 0]
    with pytest.raises(GraphensError, match="inputs have 5 signals"):
        ensemble.gather(torch.rand(2, 5))


def test_editing_the_graph_changes_the_loss():
    ensemble = Ensemble(small_graph(), mlp_encoder(hidden=(8,), dim=4, dropout=0.0))
    objective = CLoSeRObjective()
    z = ensemble(torch.rand(8, 16))
    before = objective(z, None, ensemble.graph)
    ensemble.graph.edge_weight = ensemble.graph.edge_weight * 2
    torch.testing.assert_close(objective(z, None, ensemble.graph), before * 2)


def test_embed_is_deterministic_and_batched():
    ensemble = Ensemble(small_graph(), mlp_encoder(hidden=(8,), dim=4))
    x = torch.rand(10, 16)
    torch.testing.assert_close(ensemble.embed(x, batch_size=3), ensemble.embed(x))
    assert ensemble.training  # embed restores the mode


def test_no_warning_for_a_healthy_graph():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_graph(small_graph(family="ring"), require_edges=True)


def test_field_check_reads_the_fields_once_and_again_after_an_edit():
    fields = sample_receptive_fields("random", 3, 16, fraction=0.5, seed=0)
    ensemble = Ensemble(ensemble_graph(make_topology("all-to-all", 3), fields),
                        mlp_encoder(hidden=(8,), dim=4))
    x = torch.rand(5, 16)
    assert ensemble(x).shape == (3, 5, 4)
    ensemble.graph.rf_index[0, 0] = 20  # in place: the next call sees it
    with pytest.raises(GraphensError, match="select signal 20"):
        ensemble(x)
    ensemble.graph.rf_index = torch.zeros_like(ensemble.graph.rf_index)
    assert ensemble(x).shape == (3, 5, 4)
