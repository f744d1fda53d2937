"""Vision runs on non-paper topologies: spatial wiring on receptive-field centres, a connectome."""

import warnings

import pytest
import torch

from graphens import GraphensError
from graphens.config import RunConfig
from graphens.data import load_dataset
from graphens.experiment import load_ensemble, run
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


def _arrays(n_train=60, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n_train + 30, 16, generator=generator)
    y = torch.arange(n_train + 30) % classes
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


SMALL = {"hidden": (16,), "dim": 8, "nodes": 3, "rf": "random", "rf_fraction": 0.5, "epochs": 1,
         "batch_size": 16}


def test_unlabelled_data_train_and_measure_agreement_without_decoding(tmp_path):
    from graphens.data import from_arrays

    x_train, _, x_test, _ = _arrays()
    data = from_arrays(x_train, None, x_test, None)
    results = run(RunConfig(**SMALL), tmp_path, progress=False, dataset=data)
    assert results["epochs_run"] == 1 and "single_accuracy" not in results
    assert len(results["agreement"]["per_edge"]) == 6
    assert any("no labels" in w for w in results["warnings"])


def test_own_arrays_take_the_vision_defaults_and_are_recorded_as_arrays(tmp_path):
    from graphens.data import from_arrays

    config = RunConfig(dataset="arrays", hidden=(16,), dim=8, nodes=3, epochs=1, batch_size=16)
    assert (config.tau, config.rf_fraction, config.rf) == (0.1, 0.1, "gaussian")  # not digits'
    data = from_arrays(*_arrays(), image_shape=(4, 4, 1))
    results = run(config, tmp_path, progress=False, dataset=data)
    assert results["config"]["dataset"] == "arrays" and results["config"]["tau"] == 0.1
    assert results["epochs_run"] == 1 and 0.0 <= results["single_accuracy"] <= 1.0
    # by name there is nothing to load: one line, before any step
    with pytest.raises(GraphensError, match="dataset 'arrays' is the data you pass"):
        run(config, tmp_path / "named", progress=False)
    assert not (tmp_path / "named" / "checkpoint.pt").exists()
    assert not (tmp_path / "named" / "run.json").exists()  # not even claimed


def test_a_run_that_fails_before_training_leaves_the_directory_as_it_was(tmp_path):
    # --overwrite deletes the old run only once the new one is known to start.
    from graphens.data import from_arrays

    config = RunConfig(dataset="arrays", hidden=(16,), dim=8, nodes=3, epochs=1, batch_size=16)
    data = from_arrays(*_arrays(), image_shape=(4, 4, 1))
    run(config, tmp_path, progress=False, dataset=data)
    before = {f.name: f.read_bytes() for f in tmp_path.iterdir() if f.is_file()}
    with pytest.raises(GraphensError, match="dataset 'arrays' is the data you pass"):
        run(config, tmp_path, progress=False, overwrite=True)  # no data: fails at loading
    assert {f.name: f.read_bytes() for f in tmp_path.iterdir() if f.is_file()} == before
    assert {"results.json", "checkpoint.pt", "run.json"} <= set(before)


@pytest.mark.parametrize("fields,arrays,message", [
    ({}, {"classes": 1}, "1 class"),
    ({}, {"n_train": 2}, "needs >= 10"),
    ({"baseline": "supervised"}, {"labels": False}, "needs them"),
    ({"baseline": "untrained"}, {"labels": False}, "no labels to decode"),
])
def test_data_problems_are_refused_before_any_step(tmp_path, fields, arrays, message):
    from graphens.data import from_arrays

    labels = arrays.pop("labels", True)
    x_train, y_train, x_test, y_test = _arrays(**arrays)
    data = from_arrays(x_train, y_train if labels else None, x_test,
                       y_test if labels else None)
    with pytest.raises(GraphensError, match=message):
        run(RunConfig(**{**SMALL, **fields}), tmp_path, progress=False, dataset=data)
    assert not (tmp_path / "checkpoint.pt").exists()  # no epoch ran


def test_load_ensemble_rebuilds_the_run_and_refuses_garbage(digits, tmp_path):
    config = RunConfig(nodes=3, **TINY)
    results = run(config, tmp_path, progress=False, dataset=digits)
    ensemble, loaded = load_ensemble(tmp_path / "ensemble.pt")
    assert loaded == config and ensemble.num_nodes == 3
    again = ensemble.embed(digits.x_test[:5])
    assert again.shape == (3, 5, 16)
    assert results["config"]["nodes"] == 3
    (tmp_path / "garbage.pt").write_bytes(b"garbage")
    for path, message in ((tmp_path / "garbage.pt", "not an ensemble written by graphens"),
                          (tmp_path / "missing.pt", "does not exist")):
        with pytest.raises(GraphensError, match=message) as err:
            load_ensemble(path)
        assert "\n" not in str(err.value)


def test_a_tau_that_cannot_train_warns_before_and_after(digits, tmp_path):
    from graphens.errors import GraphensWarning

    with pytest.warns(GraphensWarning) as caught:
        results = run(RunConfig(nodes=3, **{**TINY, "tau": 1e6}), tmp_path, progress=False,
                      dataset=digits)
    messages = [str(w.message) for w in caught]
    assert any("makes the CLoSeR softmax flat" in m for m in messages)
    assert any("did not fall" in m and "tau=1e+06 is the likely cause" in m for m in messages)
    assert set(messages) == set(results["warnings"])
