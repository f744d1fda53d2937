"""Training loop: determinism, checkpoints, resume, objectives."""

import pytest
import torch

from graphens import GraphensError
from graphens.encoders import mlp_encoder
from graphens.ensemble import Ensemble
from graphens.graph import ensemble_graph
from graphens.objectives import CLoSeRObjective, SupervisedObjective
from graphens.receptive_fields import sample_receptive_fields
from graphens.topology import make_topology
from graphens.train import TrainConfig, train

IMAGE = (4, 4, 1)


def make_ensemble(family="all-to-all", seed=0):
    fields = sample_receptive_fields("gaussian", 3, 16, fraction=0.5, image_shape=IMAGE,
                                     seed=seed)
    graph = ensemble_graph(make_topology(family, 3, seed=seed), fields)
    return Ensemble(graph, mlp_encoder(hidden=(16,), dim=8, dropout=0.1), seed=seed)


def data(n=40):
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 16, generator=generator), torch.arange(n) % 3


def weights(ensemble):
    return torch.cat([p.detach().flatten() for p in ensemble.parameters()])


def config(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 16, "progress": False, "lr": 1e-2, **kw})


def test_training_lowers_the_loss_and_changes_weights():
    ensemble = make_ensemble()
    before = weights(ensemble)
    x, _ = data(64)
    result = train(ensemble, CLoSeRObjective(tau=0.05), x, config=config(epochs=8),
                   image_shape=IMAGE)
    assert result.epochs_run == 8 and len(result.history) == 8
    assert result.history[-1] < result.history[0]
    assert not torch.equal(before, weights(ensemble))
    assert result.samples_seen == 8 * 64 and result.samples_per_second > 0


def test_same_seed_same_weights_different_seed_different():
    x, _ = data()
    runs = []
    for seed in (0, 0, 1):
        ensemble = make_ensemble()
        train(ensemble, CLoSeRObjective(), x, config=config(seed=seed), image_shape=IMAGE)
        runs.append(weights(ensemble))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_resume_reaches_the_uninterrupted_result(tmp_path):
    x, _ = data()
    straight = make_ensemble()
    train(straight, CLoSeRObjective(), x, config=config(epochs=3), image_shape=IMAGE)

    checkpoint = tmp_path / "checkpoint.pt"
    interrupted = make_ensemble()
    train(interrupted, CLoSeRObjective(), x, config=config(epochs=1), image_shape=IMAGE,
          checkpoint=checkpoint, run_fingerprint="run-a")
    assert checkpoint.exists()
    resumed = make_ensemble()  # a fresh process would start from a new ensemble
    result = train(resumed, CLoSeRObjective(), x, config=config(epochs=3), image_shape=IMAGE,
                   checkpoint=checkpoint, resume=True, run_fingerprint="run-a")
    assert result.epochs_run == 3 and len(result.history) == 3
    torch.testing.assert_close(weights(resumed), weights(straight), rtol=0, atol=0)


def test_resume_refuses_a_different_run(tmp_path):
    x, _ = data()
    checkpoint = tmp_path / "checkpoint.pt"
    train(make_ensemble(), CLoSeRObjective(), x, config=config(epochs=1), checkpoint=checkpoint,
          run_fingerprint="run-a")
    with pytest.raises(GraphensError, match="different configuration"):
        train(make_ensemble(), CLoSeRObjective(), x, config=config(), checkpoint=checkpoint,
              resume=True, run_fingerprint="run-b")


def test_supervised_baseline_trains_heads_and_needs_labels():
    x, y = data()
    ensemble = make_ensemble()
    objective = SupervisedObjective(3, 8, 3)
    heads = objective.weight.detach().clone()
    result = train(ensemble, objective, x, y, config=config(epochs=5))
    assert result.history[-1] < result.history[0]
    assert not torch.equal(heads, objective.weight.detach())
    with pytest.raises(GraphensError, match="needs labels"):
        train(make_ensemble(), objective, x, None, config=config())


def test_teacher_stop_gradient_leaves_untaught_nodes_untouched():
    ensemble = make_ensemble()
    ensemble.graph.edge_index = torch.tensor([[0], [1]])  # only node 1 learns, from node 0
    ensemble.graph.edge_weight = torch.ones(1)
    before = [ensemble.bank.node_state_dict(i) for i in range(3)]
    x, _ = data()
    with pytest.warns(UserWarning, match=r"\[0, 2\]"):
        train(ensemble, CLoSeRObjective(stop_gradient="teacher"), x, config=config())
    after = [ensemble.bank.node_state_dict(i) for i in range(3)]
    for node, changed in ((0, False), (1, True), (2, False)):
        same = all(torch.equal(before[node][k], after[node][k]) for k in before[node])
        assert same != changed


def test_bad_config_and_inputs():
    with pytest.raises(GraphensError, match="batch_size=1"):
        TrainConfig(batch_size=1)
    with pytest.raises(GraphensError, match="epochs"):
        TrainConfig(epochs=-1)
    x, _ = data()
    with pytest.raises(GraphensError, match="inputs have|signals"):
        train(make_ensemble(), CLoSeRObjective(), x[:, :8], config=config())
    with pytest.raises(GraphensError, match="device"):
        train(make_ensemble(), CLoSeRObjective(), x, config=config(device="cuda:7")
              if not torch.cuda.is_available() else config(device="nonsense"))
