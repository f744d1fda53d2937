"""Vision runs on non-paper topologies: spatial wiring on receptive-field centres, a connectome."""

import warnings

import pytest
import torch

from graphens import GraphensError
from graphens.config import RunConfig
from graphens.data import load_dataset
from graphens.experiment import run
from graphens.modality import VisionModality

TINY = {"hidden": (32,), "dim": 16, "rf_fraction": 0.25, "epochs": 1, "tau": 0.05}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_spatial_family_is_wired_on_the_receptive_field_centres(digits):
    config = RunConfig(topology="knn", topology_params={"k": 1}, nodes=6, **TINY)
    graph = VisionModality().graph(config, digits)
    assert graph.topology["positions"] == "given"
    # Every student learns from the node whose receptive-field centre is nearest to its own.
    dist = torch.cdist(graph.pos, graph.pos)
    dist.fill_diagonal_(float("inf"))
    nearest = dist.argmin(dim=1)
    teacher_of = dict(zip(graph.edge_index[1].tolist(), graph.edge_index[0].tolist(),
                          strict=True))
    assert all(teacher_of[i] == int(nearest[i]) for i in range(6))


def test_connectome_trains_end_to_end_and_reports_graph_metrics(digits, tmp_path):
    config = RunConfig(topology="connectome:celegans-white1986",
                       topology_params={"map": "degree:8", "synapse": "both"}, nodes=None,
                       **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a mapped subgraph may leave a node untaught
        results = run(config, tmp_path, progress=False, dataset=digits)
    assert results["num_nodes"] == 8
    assert results["epochs_run"] == 1 and len(results["per_node_accuracy"]) == 8
    metrics = results["graph_metrics"]
    assert metrics["nodes"] == 8 and metrics["edges"] == results["num_edges"]
    assert results["topology"]["family"] == "connectome:celegans-white1986"
    saved = torch.load(tmp_path / "ensemble.pt", weights_only=False)
    assert len(saved["graph"].node_names) == 8  # neuron names travel with the graph


def test_connectome_node_count_must_match(digits):
    config = RunConfig(topology="connectome:celegans-white1986",
                       topology_params={"map": "degree:8"}, nodes=10, **TINY)
    with pytest.raises(GraphensError, match="8"):
        VisionModality().graph(config, digits)


def test_family_without_node_count_is_refused(digits):
    config = RunConfig(topology="ring", **TINY)
    config.nodes = None  # RunConfig itself fills in 10; a hand-edited config may not
    with pytest.raises(GraphensError, match="--nodes"):
        VisionModality().graph(config, digits)
