"""Training loop: determinism, transforms, checkpoints, resume and extension, objectives."""

import os
import sys

import pytest
import torch
from torch.overrides import TorchFunctionMode

from graphens import GraphensError
from graphens import train as train_module
from graphens.augment import ImageAugmentation
from graphens.encoders import mlp_encoder, vit_lite_encoder
from graphens.ensemble import Ensemble
from graphens.graph import ensemble_graph
from graphens.objectives import CLoSeRObjective, SupervisedObjective
from graphens.receptive_fields import ReceptiveFields, sample_receptive_fields
from graphens.topology import make_topology
from graphens.train import TrainConfig, bf16_supported, train

IMAGE = (4, 4, 1)
AUGMENT = ImageAugmentation(IMAGE)
RUN = {"dataset": "toy", "tau": 10.0, "nodes": 3, "epochs": 2}


def make_ensemble(family="all-to-all", seed=0, hidden=16):
    fields = sample_receptive_fields("gaussian", 3, 16, fraction=0.5, image_shape=IMAGE,
                                     seed=seed)
    graph = ensemble_graph(make_topology(family, 3, seed=seed), fields)
    return Ensemble(graph, mlp_encoder(hidden=(hidden,), dim=8, dropout=0.1), seed=seed)


def data(n=40):
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 16, generator=generator), torch.arange(n) % 3


def weights(ensemble):
    return torch.cat([p.detach().flatten() for p in ensemble.parameters()])


def config(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 16, "progress": False, "lr": 1e-2, **kw})


def one_line_error(call, pattern):
    with pytest.raises(GraphensError, match=pattern) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_training_lowers_the_loss_and_changes_weights():
    ensemble = make_ensemble()
    before = weights(ensemble)
    x, _ = data(64)
    result = train(ensemble, CLoSeRObjective(tau=0.05), x, config=config(epochs=8),
                   transform=AUGMENT)
    assert result.epochs_run == 8 and len(result.history) == 8
    assert result.history[-1] < result.history[0]
    assert result.first_loss is not None and result.history[-1] < result.first_loss
    assert result.resumed_from == 0
    assert not torch.equal(before, weights(ensemble))
    assert result.samples_seen == 8 * 64 and result.samples_per_second > 0


def test_zero_epochs_take_no_step():
    ensemble = make_ensemble()
    before = weights(ensemble)
    result = train(ensemble, CLoSeRObjective(), data()[0], config=config(epochs=0))
    assert result.epochs_run == 0 and result.history == [] and result.first_loss is None
    assert torch.equal(before, weights(ensemble))


def test_same_seed_same_weights_different_seed_different():
    x, _ = data()
    runs = []
    for seed in (0, 0, 1):
        ensemble = make_ensemble()
        train(ensemble, CLoSeRObjective(), x, config=config(seed=seed), transform=AUGMENT)
        runs.append(weights(ensemble))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_transform_gets_each_batch_on_the_data_device_with_the_epoch_generator():
    x, _ = data(40)
    calls = []

    def spy(xb, generator):
        calls.append((xb.shape, xb.device, generator.device, generator.initial_seed()))
        return AUGMENT(xb, generator)

    spied, direct = make_ensemble(), make_ensemble()
    train(spied, CLoSeRObjective(), x, config=config(), transform=spy)
    train(direct, CLoSeRObjective(), x, config=config(), transform=AUGMENT)
    assert torch.equal(weights(spied), weights(direct))
    # one probe call before training, then 3 batches (16, 16, 8) in each of 2 epochs
    assert len(calls) == 1 + 2 * 3
    assert {device for _, device, _, _ in calls} == {x.device}
    assert {device.type for _, _, device, _ in calls} == {"cpu"}
    assert len({seed for *_, seed in calls[1:]}) == 2  # one generator per epoch
    assert [shape[0] for shape, *_ in calls[1:4]] == [16, 16, 8]


def test_transform_changes_the_training_and_is_seeded():
    x, _ = data()
    plain, augmented, again = (make_ensemble() for _ in range(3))
    train(plain, CLoSeRObjective(), x, config=config())
    train(augmented, CLoSeRObjective(), x, config=config(), transform=AUGMENT)
    train(again, CLoSeRObjective(), x, config=config(), transform=AUGMENT)
    assert not torch.equal(weights(plain), weights(augmented))
    assert torch.equal(weights(again), weights(augmented))


def test_a_bad_transform_fails_before_any_step():
    x, _ = data()
    ensemble = make_ensemble()
    before = weights(ensemble)
    one_line_error(lambda: train(ensemble, CLoSeRObjective(), x, config=config(),
                                 transform=lambda xb, g: xb[:, :4]),
                   r"returned \(2, 4\).*same shape")
    one_line_error(lambda: train(ensemble, CLoSeRObjective(), x, config=config(),
                                 transform=ImageAugmentation((2, 2, 1))),
                   r"image_shape=\(2, 2, 1\) has H\*W\*C = 4 signals but the data has 16")
    one_line_error(lambda: train(ensemble, CLoSeRObjective(), x, config=config(),
                                 transform="flip"), "not callable")
    assert torch.equal(before, weights(ensemble))


def test_a_non_finite_loss_is_a_clear_error():
    x, _ = data()
    one_line_error(lambda: train(make_ensemble(), CLoSeRObjective(), x, config=config(),
                                 transform=lambda xb, g: xb * float("nan")),
                   r"the loss became nan at epoch 1; lower --lr")


def test_resume_reaches_the_uninterrupted_result(tmp_path):
    """kill -9 after epoch 1 leaves the checkpoint of epoch 1; resuming replays 2 and 3."""
    x, _ = data()
    straight = make_ensemble()
    uninterrupted = train(straight, CLoSeRObjective(), x, config=config(epochs=3),
                          transform=AUGMENT)

    checkpoint = tmp_path / "checkpoint.pt"
    interrupted = make_ensemble()
    train(interrupted, CLoSeRObjective(), x, config=config(epochs=1), transform=AUGMENT,
          checkpoint=checkpoint, identity=RUN)
    assert checkpoint.exists()
    resumed = make_ensemble()  # a fresh process would start from a new ensemble
    result = train(resumed, CLoSeRObjective(), x, config=config(epochs=3), transform=AUGMENT,
                   checkpoint=checkpoint, resume=True, identity=RUN)
    assert result.epochs_run == 3 and result.resumed_from == 1
    assert result.history == uninterrupted.history
    assert result.first_loss == uninterrupted.first_loss
    torch.testing.assert_close(weights(resumed), weights(straight), rtol=0, atol=0)


def test_resume_extends_a_finished_run_to_more_epochs(tmp_path):
    x, _ = data()
    straight = make_ensemble()
    uninterrupted = train(straight, CLoSeRObjective(), x, config=config(epochs=4),
                          transform=AUGMENT)

    checkpoint = tmp_path / "checkpoint.pt"
    short = make_ensemble()
    train(short, CLoSeRObjective(), x, config=config(epochs=2), transform=AUGMENT,
          checkpoint=checkpoint, identity={**RUN, "epochs": 2})
    extended = make_ensemble()
    result = train(extended, CLoSeRObjective(), x, config=config(epochs=4), transform=AUGMENT,
                   checkpoint=checkpoint, resume=True, identity={**RUN, "epochs": 4})
    assert result.resumed_from == 2 and result.epochs_run == 4
    assert result.history == uninterrupted.history and result.samples_seen == 4 * 40
    assert torch.equal(weights(extended), weights(straight))
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 4


def test_resume_at_the_checkpoint_epoch_trains_nothing(tmp_path):
    x, _ = data()
    checkpoint = tmp_path / "checkpoint.pt"
    done = make_ensemble()
    first = train(done, CLoSeRObjective(), x, config=config(), checkpoint=checkpoint,
                  identity=RUN)
    again = make_ensemble()
    result = train(again, CLoSeRObjective(), x, config=config(), checkpoint=checkpoint,
                   resume=True, identity=RUN)
    assert result.resumed_from == 2 and result.epochs_run == 2
    assert result.history == first.history and result.samples_seen == first.samples_seen
    assert torch.equal(weights(again), weights(done))


def test_resume_with_fewer_epochs_than_the_checkpoint_is_refused(tmp_path):
    x, _ = data()
    checkpoint = tmp_path / "checkpoint.pt"
    train(make_ensemble(), CLoSeRObjective(), x, config=config(epochs=3), checkpoint=checkpoint,
          identity=RUN)
    message = one_line_error(
        lambda: train(make_ensemble(), CLoSeRObjective(), x, config=config(epochs=2),
                      checkpoint=checkpoint, resume=True, identity=RUN),
        "pass --epochs 3 or more")
    assert str(checkpoint) in message and "already trained 3 epochs" in message


def test_resume_prints_where_it_starts_from(tmp_path, capsys):
    x, _ = data()
    checkpoint = tmp_path / "checkpoint.pt"
    train(make_ensemble(), CLoSeRObjective(), x, config=config(epochs=1), checkpoint=checkpoint)
    capsys.readouterr()
    train(make_ensemble(), CLoSeRObjective(), x, config=config(epochs=3, progress=True),
          checkpoint=checkpoint, resume=True)
    lines = capsys.readouterr().err.splitlines()
    assert f"graphens: resuming from epoch 1 of 3 ({checkpoint})" in lines
    train(make_ensemble(), CLoSeRObjective(), x, config=config(epochs=3),
          checkpoint=checkpoint, resume=True)
    assert "resuming" not in capsys.readouterr().err  # progress off: silent


def test_resume_names_the_fields_of_a_different_run(tmp_path):
    x, _ = data()
    checkpoint = tmp_path / "checkpoint.pt"
    train(make_ensemble(), CLoSeRObjective(), x, config=config(epochs=1), checkpoint=checkpoint,
          identity=RUN)
    other = {**RUN, "tau": 0.05, "nodes": 3, "epochs": 9, "topology": "ring"}
    message = one_line_error(
        lambda: train(make_ensemble(), CLoSeRObjective(), x, config=config(),
                      checkpoint=checkpoint, resume=True, identity=other),
        "different configuration")
    assert "tau: 10.0 -> 0.05" in message and "topology: (absent) -> 'ring'" in message
    assert "epochs" not in message and "nodes" not in message
    assert "new --out" in message


def _damaged_files(tmp_path):
    good = tmp_path / "good.pt"
    train(make_ensemble(), CLoSeRObjective(), data()[0], config=config(epochs=1),
          checkpoint=good)
    raw = good.read_bytes()
    torch.save(torch.ones(3), tmp_path / "tensor.pt")
    torch.save({"epoch": 1, "weights": torch.ones(3)}, tmp_path / "dict.pt")
    return {
        "empty": (b"", "is empty"),
        "garbage": (b"this is not a checkpoint\n" * 40, "cannot be read"),
        "truncated": (raw[: len(raw) // 2], "cannot be read"),
        "tensor": ((tmp_path / "tensor.pt").read_bytes(), "not a graphens training checkpoint"),
        "dict": ((tmp_path / "dict.pt").read_bytes(),
                 "not a graphens training checkpoint.*missing ensemble"),
    }


@pytest.mark.parametrize("kind", ["empty", "garbage", "truncated", "tensor", "dict"])
def test_a_damaged_checkpoint_is_a_one_line_error_and_is_left_in_place(tmp_path, kind):
    content, pattern = _damaged_files(tmp_path)[kind]
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(content)
    ensemble = make_ensemble()
    before = weights(ensemble)
    message = one_line_error(
        lambda: train(ensemble, CLoSeRObjective(), data()[0], config=config(),
                      checkpoint=checkpoint, resume=True),
        pattern)
    assert str(checkpoint) in message and "left untouched" in message
    assert "without --resume" in message
    assert checkpoint.read_bytes() == content
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == ["checkpoint.pt"]
    assert torch.equal(before, weights(ensemble))


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    x, _ = data()
    checkpoint = tmp_path / "checkpoint.pt"
    train(make_ensemble(hidden=16), CLoSeRObjective(), x, config=config(epochs=1),
          checkpoint=checkpoint)
    content = checkpoint.read_bytes()
    wider = make_ensemble(hidden=32)
    before = weights(wider)
    message = one_line_error(
        lambda: train(wider, CLoSeRObjective(), x, config=config(), checkpoint=checkpoint,
                      resume=True),
        "ensemble weights of another architecture")
    assert "bank.params.0/weight is [3, 16, 8] there, [3, 32, 8] here" in message
    assert checkpoint.read_bytes() == content and torch.equal(before, weights(wider))


def test_identity_must_be_json():
    one_line_error(lambda: train(make_ensemble(), CLoSeRObjective(), data()[0],
                                 config=config(), identity={"path": object()}),
                   "identity is not JSON-able")


def test_supervised_baseline_trains_heads_and_needs_labels():
    x, y = data()
    ensemble = make_ensemble()
    objective = SupervisedObjective(3, 8, 3)
    heads = objective.weight.detach().clone()
    result = train(ensemble, objective, x, y, config=config(epochs=5))
    assert result.history[-1] < result.history[0]
    assert not torch.equal(heads, objective.weight.detach())
    one_line_error(lambda: train(make_ensemble(), objective, x, None, config=config()),
                   "needs labels.*pass y")


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


@pytest.mark.parametrize(("fields", "pattern"), [
    ({"batch_size": 1}, r"batch_size=1 is not valid.*2 or more"),
    ({"epochs": -1}, r"epochs=-1 is not valid"),
    ({"epochs": 1.5}, r"epochs=1.5 is not valid: it must be an integer"),
    ({"epochs": True}, r"epochs=True is not valid"),
    ({"lr": 0.0}, r"lr=0.0 is not valid"),
    ({"lr": float("inf")}, r"lr=inf is not valid"),
    ({"eps": float("nan")}, r"eps=nan is not valid"),
    ({"seed": -1}, r"seed=-1 is not valid"),
    ({"seed": 2**63}, r"seed=9223372036854775808 is not valid"),
    ({"device": 0}, r"device=0 is not valid: it must be a string"),
])
def test_train_config_is_checked_when_made(fields, pattern):
    one_line_error(lambda: TrainConfig(**fields), pattern)


def test_the_trainer_takes_no_image_options():
    with pytest.raises(TypeError):
        TrainConfig(augment=True)


def test_bad_inputs_are_refused_before_any_step():
    x, y = data()
    ensemble = make_ensemble()
    before = weights(ensemble)
    objective = SupervisedObjective(3, 8, 3)
    for args, pattern in [
        ((CLoSeRObjective(), x[:, :8]), "the data has 8 signals"),
        ((CLoSeRObjective(), x.reshape(40, 4, 4)), r"x has shape \(40, 4, 4\).*flat"),
        ((CLoSeRObjective(), x.numpy()), "x must be a torch.Tensor"),
        ((CLoSeRObjective(), (x * 10).long()), "floating-point"),
        ((CLoSeRObjective(), x[:1]), "at least 2 training samples; got 1"),
        ((objective, x, y[:10]), "x has 40 rows but y has 10 labels"),
        ((objective, x, y[:, None]), r"labels \[n\], got \(40, 1\)"),
    ]:
        one_line_error(lambda args=args: train(ensemble, *args, config=config()), pattern)
    one_line_error(lambda: train(ensemble, CLoSeRObjective(), x, config={"epochs": 2}),
                   "pass a graphens.train.TrainConfig")
    assert torch.equal(before, weights(ensemble))
    with pytest.raises(GraphensError, match="device"):
        train(make_ensemble(), CLoSeRObjective(), x, config=config(device="cuda:7")
              if not torch.cuda.is_available() else config(device="nonsense"))


@pytest.mark.skipif(not bf16_supported(torch.device("cpu")),
                    reason="this CPU has no native bfloat16 (AVX512-BF16/AMX)")
def test_bf16_trains_with_an_fp32_loss_and_fp32_weights():
    x, _ = data()
    fp32, bf16 = make_ensemble(), make_ensemble()
    result32 = train(fp32, CLoSeRObjective(), x, config=config(epochs=3))
    result16 = train(bf16, CLoSeRObjective(), x, config=config(epochs=3, precision="bf16"))
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    assert result16.history[-1] < result16.first_loss
    # bfloat16 keeps ~3 significant digits: the losses agree to that, not bit for bit
    assert result16.first_loss == pytest.approx(result32.first_loss, rel=2e-2)
    assert not torch.equal(weights(fp32), weights(bf16))


def test_bf16_without_native_support_is_refused_before_any_step(monkeypatch):
    import graphens.train as train_module

    monkeypatch.setattr(train_module, "bf16_supported", lambda device: False)
    ensemble = make_ensemble()
    before = weights(ensemble)
    one_line_error(lambda: train(ensemble, CLoSeRObjective(), data()[0],
                                 config=config(precision="bf16")),
                   r"--precision bf16 needs native bfloat16 on cpu")
    assert torch.equal(before, weights(ensemble))
    one_line_error(lambda: TrainConfig(precision="fp16"), r"precision='fp16' is not valid")


class HostReads(TorchFunctionMode):
    """Counts reads of tensor values into Python: each is a host synchronisation on a GPU."""

    READS = {"__bool__", "__int__", "__float__", "__index__", "item", "tolist", "numpy"}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        # torch.optim keeps its step counters on the host (not capturable): reading them costs
        # no synchronisation.
        caller = sys._getframe(1).f_code.co_filename
        own_counter = f"torch{os.sep}optim{os.sep}" in caller
        self.count += getattr(func, "__name__", "") in self.READS and not own_counter
        return func(*args, **(kwargs or {}))


def padded_vit_ensemble():
    full = sample_receptive_fields("patches", 3, 128, fraction=0.2, image_shape=(8, 8, 2),
                                   seed=0, patch=2)  # 3 patches of 8 values per node
    index, mask = full.index.clone(), full.mask.clone()
    index[1, 16:], mask[1, 16:] = 0, False  # node 1 sees 2 patches, padded to 3
    fields = ReceptiveFields(index, mask, None, "patches", full.params)
    graph = ensemble_graph(make_topology("all-to-all", 3), fields)
    assert not bool(graph.rf_mask.all())  # the masked-attention path
    return Ensemble(graph, vit_lite_encoder(8, dim=16, heads=4, hidden=(32, 16)), seed=0)


@pytest.mark.parametrize("build, width, transform", [
    (make_ensemble, 16, AUGMENT), (padded_vit_ensemble, 128, None)], ids=["mlp", "vit-lite"])
def test_training_steps_read_nothing_back_to_the_host(monkeypatch, build, width, transform):
    # Reads per run (first loss, the epoch's loss, checks before the first step) must not grow
    # with the number of steps: a read per step stalls a GPU (found with torch.compile on an
    # H200: the field check in Ensemble.gather read rf_index.max() at every step).
    monkeypatch.setattr(train_module, "CHECK_EVERY", 10**9)
    reads = []
    for n in (32, 128):  # 2 and 8 steps of 16
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(n, width, generator=generator)
        with HostReads() as spy:
            train(build(), CLoSeRObjective(tau=0.1), x, config=config(epochs=1),
                  transform=transform)
        reads.append(spy.count)
    assert reads[0] == reads[1]
