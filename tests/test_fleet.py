"""Fleets: members train as their solo runs would, keep solo run files, resume, and pack."""

from __future__ import annotations

import pytest
import torch

from graphens import RunConfig, run
from graphens.errors import GraphensError
from graphens.experiment import load_ensemble
from graphens.fleet import FleetError, check_fleet, fleet_key, pack, run_fleet
from graphens.optim import SlicedNAdam

BASE = dict(dataset="digits", nodes=4, epochs=2, hidden=(32,), dim=16, dropout=0.0,
            batch_size=64)
# Members differ in everything a fleet lets them differ in: topology, tau, distance,
# stop-gradient and node count.
MEMBERS = [RunConfig(topology="all-to-all", **BASE),
           RunConfig(topology="ring", stop_gradient="teacher", tau=0.5, **BASE),
           RunConfig(**{**BASE, "nodes": 5}, topology="gnk", distance="sum")]


def weights(ensemble):
    return {k: v.detach().clone() for k, v in ensemble.state_dict().items()}


@pytest.fixture(scope="module")
def fleet_and_solo(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    dirs = [root / f"member{k}" for k in range(len(MEMBERS))]
    fleet = run_fleet(MEMBERS, dirs, progress=False)
    solo = [run(config, root / f"solo{k}", progress=False) for k, config in enumerate(MEMBERS)]
    return root, dirs, fleet, solo


def test_members_train_exactly_as_their_solo_runs(fleet_and_solo):
    root, dirs, fleet, solo = fleet_and_solo
    for k, (mine, alone) in enumerate(zip(fleet, solo, strict=True)):
        torch.testing.assert_close(torch.tensor(mine["loss_history"]),
                                   torch.tensor(alone["loss_history"]), rtol=1e-5, atol=1e-6)
        assert mine["first_loss"] == pytest.approx(alone["first_loss"], rel=1e-5)
        member, _ = load_ensemble(dirs[k] / "ensemble.pt")
        single, _ = load_ensemble(root / f"solo{k}" / "ensemble.pt")
        for key, value in weights(single).items():
            torch.testing.assert_close(weights(member)[key], value, rtol=1e-4, atol=1e-5)
        assert mine["num_edges"] == alone["num_edges"]
        assert mine["fleet"] == {"size": 3, "index": k, "nodes": 13}


def test_members_decode_as_their_solo_runs_in_batched_probes(fleet_and_solo, monkeypatch):
    _, _, fleet, solo = fleet_and_solo
    # the weights agree to ~1e-4 (above); unpenalised probe fits can turn that into a few of
    # the 360 test digits (decode_many itself is exact: tests/test_evaluate.py)
    for mine, alone in zip(fleet, solo, strict=True):
        assert mine["single_accuracy"] == pytest.approx(alone["single_accuracy"], abs=0.01)
        assert mine["ensemble_accuracy"] == pytest.approx(alone["ensemble_accuracy"], abs=0.01)
        assert mine["agreement"]["mean"] == pytest.approx(alone["agreement"]["mean"], abs=1e-3)
    import graphens.evaluate as ev

    widths = []
    real = ev.probe_accuracy
    monkeypatch.setattr(ev, "probe_accuracy",
                        lambda train, *a, **k: widths.append(train.shape[::2]) or real(train, *a,
                                                                                        **k))
    run_fleet(MEMBERS, progress=False)
    # 13 nodes' probes in one call; the ensembles of 4 nodes together, the 5-node one alone
    assert sorted(widths) == [(1, 80), (2, 64), (13, 16)]


def test_each_member_gets_a_solo_runs_files(fleet_and_solo):
    _, dirs, fleet, _ = fleet_and_solo
    for folder in dirs:
        assert {p.name for p in folder.iterdir()} >= {"run.json", "checkpoint.pt",
                                                      "ensemble.pt", "results.json"}
    saved = torch.load(dirs[1] / "checkpoint.pt", weights_only=True)
    assert saved["epoch"] == 2 and saved["identity"] == MEMBERS[1].identity()
    assert saved["history"] == pytest.approx(fleet[1]["loss_history"])


def test_a_member_checkpoint_resumes_alone(fleet_and_solo):
    """A member's checkpoint is a solo run's: `graphens train --resume` extends it."""
    _, dirs, fleet, _ = fleet_and_solo
    config = RunConfig(**{**BASE, "epochs": 3}, topology="ring", stop_gradient="teacher",
                       tau=0.5)
    extended = run(config, dirs[1], resume=True, progress=False)
    assert extended["loss_history"][:2] == pytest.approx(fleet[1]["loss_history"])
    assert len(extended["loss_history"]) == 3


def test_an_interrupted_fleet_resumes_to_the_uninterrupted_result(tmp_path):
    members = [RunConfig(**{**BASE, "dropout": 0.1}, topology=t) for t in ("ring", "star")]
    straight = run_fleet(members, [tmp_path / "a0", tmp_path / "a1"], progress=False)
    # "kill -9 after epoch 1": the member checkpoints of epoch 1 are all that is left.
    first = [RunConfig(**{**BASE, "dropout": 0.1, "epochs": 1}, topology=t)
             for t in ("ring", "star")]
    run_fleet(first, [tmp_path / "b0", tmp_path / "b1"], progress=False)
    for k in range(2):
        (tmp_path / f"b{k}" / "results.json").unlink()
        (tmp_path / f"b{k}" / "ensemble.pt").unlink()
    resumed = run_fleet(members, [tmp_path / "b0", tmp_path / "b1"], resume=True,
                        progress=False)
    for again, whole, k in zip(resumed, straight, range(2), strict=True):
        assert again["loss_history"] == whole["loss_history"]
        assert again["single_accuracy"] == whole["single_accuracy"]
        done, _ = load_ensemble(tmp_path / f"a{k}" / "ensemble.pt")
        back, _ = load_ensemble(tmp_path / f"b{k}" / "ensemble.pt")
        for key, value in weights(done).items():
            assert torch.equal(weights(back)[key], value), key


def test_members_stopped_at_different_epochs_are_refused_as_a_fleet(tmp_path):
    run(RunConfig(**{**BASE, "epochs": 1}, topology="ring"), tmp_path / "m0", progress=False)
    (tmp_path / "m0" / "results.json").unlink()
    run(RunConfig(**BASE, topology="star"), tmp_path / "m1", progress=False)
    (tmp_path / "m1" / "results.json").unlink()
    members = [RunConfig(**BASE, topology=t) for t in ("ring", "star")]
    with pytest.raises(FleetError, match="different epochs"):
        run_fleet(members, [tmp_path / "m0", tmp_path / "m1"], resume=True, progress=False)


def test_runs_that_differ_in_a_shared_field_cannot_share_a_fleet():
    with pytest.raises(FleetError, match=r"seed: 0 -> 1"):
        check_fleet([RunConfig(**BASE, seed=0), RunConfig(**BASE, seed=1)])
    with pytest.raises(FleetError, match="cannot join a fleet"):
        check_fleet([RunConfig(**BASE, baseline="supervised")])
    with pytest.raises(GraphensError, match="one per run"):
        run_fleet(MEMBERS[:2], ["only-one"], progress=False)


def test_pack_groups_runs_that_can_co_train_within_the_node_budget():
    configs = [RunConfig(**BASE, topology="ring"), RunConfig(**BASE, topology="star"),
               RunConfig(**BASE, topology="ring", seed=1),
               RunConfig(**BASE, topology="ring", baseline="untrained"),
               RunConfig(**BASE, topology="all-to-all"),
               RunConfig(**BASE, topology="all-to-all", lr=1e-2)]
    assert fleet_key(configs[3]) is None
    assert pack(configs) == [[0, 1, 4], [2], [3], [5]]
    assert pack(configs, max_nodes=8) == [[0, 1], [2], [3], [4], [5]]


def test_sliced_nadam_node_states_split_and_merge():
    params = [torch.nn.Parameter(torch.randn(5, 3, 2)), torch.nn.Parameter(torch.randn(5, 3))]
    optimizer = SlicedNAdam(params)
    for _ in range(2):
        optimizer.zero_grad()
        sum((p ** 2).sum() for p in params).backward()
        optimizer.step()
    parts = [(range(0, 2), optimizer.node_state_dict(range(0, 2))),
             (range(2, 5), optimizer.node_state_dict(range(2, 5)))]
    assert len(parts[0][1]["state"]) == 4 and len(parts[1][1]["state"]) == 6
    merged = optimizer.merged_node_state_dict(parts)
    original = optimizer.state_dict()
    assert merged["state"].keys() == original["state"].keys()
    for index, state in original["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(merged["state"][index][key]),
                               torch.as_tensor(value))
    # A member of two nodes holds node 1's second-parameter state at its own position 3.
    assert torch.equal(parts[0][1]["state"][3]["exp_avg"], original["state"][6]["exp_avg"])


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@CUDA
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_runs_and_fleets_train_end_to_end_on_cuda(tmp_path, precision):
    members = [RunConfig(**BASE, topology=t, device="cuda", precision=precision)
               for t in ("ring", "all-to-all")]
    alone = run(members[0], tmp_path / "solo", progress=False)
    packed = run_fleet(members, [tmp_path / "f0", tmp_path / "f1"], progress=False)
    assert alone["device"].startswith("cuda") and packed[0]["device"].startswith("cuda")
    tolerance = 1e-3 if precision == "fp32" else 2e-2  # bf16 rounds the forward pass
    assert packed[0]["loss_history"] == pytest.approx(alone["loss_history"], rel=tolerance)
    assert packed[1]["loss_history"][-1] < packed[1]["first_loss"]
