"""Neural modality: data model, windows, per-area fields, time-distributed encoders, temporal
objectives, synthetic populations and neural runs (method.md §3, §4, §7)."""

import json

import numpy as np
import pytest
import torch

from graphens.config import RunConfig
from graphens.ensemble import Ensemble
from graphens.errors import GraphensError
from graphens.experiment import load_ensemble, run
from graphens.graph import ensemble_graph
from graphens.loss import edge_losses
from graphens.neural import (
    LPLObjective,
    TemporalCLoSeRObjective,
    TemporalContrastiveObjective,
    area_fields,
    from_arrays,
    load_recording,
    make_windows,
    split_trials,
    synthetic_population,
    time_distributed_mlp,
)
from graphens.neural.objectives import covariance_loss, variance_loss
from graphens.neural.recordings import select_areas
from graphens.topology import make_topology


def tiny_recording(trials=5, frames=4, stimuli=2):
    """Counts = 100·bin + unit, so every window's content is easy to check."""
    bins = trials * stimuli * frames
    counts = 100.0 * np.arange(bins)[:, None] + np.arange(5)[None, :]
    stimulus = np.repeat(np.tile(np.arange(stimuli), trials), frames)
    trial = np.repeat(np.repeat(np.arange(trials), stimuli), frames)
    frame = np.tile(np.arange(frames), trials * stimuli)
    return from_arrays(counts, ["V1", "V1", "LM", "LM", "LM"], stimulus, trial=trial,
                       frame=frame, stimulus_names=["a", "b"])


# --------------------------------------------------------------------------------------------
# Data model, splits and windows
# --------------------------------------------------------------------------------------------


def test_windows_stay_inside_trials_and_split_by_trial_mod_5():
    rec = tiny_recording()
    data = make_windows(rec, bins=2, standardize=False)
    # 2 stimuli x 4 frames -> 3 windows per trial; trials {0,2,4} train, 1 val, 3 test.
    assert data.summary()["windows"] == {"train": 18, "val": 6, "test": 6}
    x = data.x_train.reshape(-1, 2, 5)
    first_bin = (x[:, 0, 0] / 100).long()
    assert torch.equal(x[:, 1, 0] - x[:, 0, 0], torch.full((18,), 100.0))  # consecutive bins
    assert set(rec.trial[first_bin.numpy()].tolist()) == {0, 2, 4}
    assert torch.equal(data.y_train, torch.as_tensor(rec.stimulus[first_bin.numpy() + 1]))
    assert torch.equal(data.frame_train, torch.as_tensor(rec.frame[first_bin.numpy() + 1]))
    assert set(data.frame_test.tolist()) == {1, 2, 3}  # the last bin's frame


def test_standardisation_uses_training_bins():
    data = make_windows(tiny_recording(), bins=2)
    assert torch.allclose(data.x_train.mean(0), torch.zeros(10), atol=0.5)
    assert float(data.x_test.abs().max()) < 10


def test_area_fields_give_each_node_its_units_per_bin():
    rec = tiny_recording()
    data = make_windows(rec, bins=3, standardize=False)
    fields = data.fields
    assert fields.kind == "areas" and fields.params["areas"] == ["V1", "LM"]
    assert fields.sizes.tolist() == [6, 9]  # 2 and 3 units, x 3 bins
    graph = ensemble_graph(make_topology("all-to-all", 2), fields)
    ens = Ensemble(graph, time_distributed_mlp(3, (8,), 4))
    views = ens.gather(data.x_train[:2]).reshape(2, 2, 3, 3)  # [N, B, T, K_max]
    x = data.x_train[:2].reshape(2, 3, 5)
    assert torch.equal(views[0, :, :, :2], x[:, :, :2])
    assert torch.equal(views[0, :, :, 2], torch.zeros(2, 3))  # padding of the smaller area
    assert torch.equal(views[1], x[:, :, 2:])


def test_area_positions_become_graph_positions():
    rec = synthetic_population(areas=4, units=3, frames=5, trials=5)
    data = make_windows(rec)
    assert data.fields.centers.shape == (4, 2)
    graph = ensemble_graph(make_topology("knn", 4, pos=data.fields.centers, k=2), data.fields)
    assert torch.equal(graph.pos, data.fields.centers)


def test_from_arrays_infers_trials_and_frames():
    stim = ["a"] * 3 + [None] + ["b"] * 3 + ["a"] * 3
    rec = from_arrays(np.ones((10, 2)), ["X", "Y"], stim)
    assert rec.stimulus.tolist() == [0, 0, 0, -1, 1, 1, 1, 0, 0, 0]
    assert rec.trials()[:, :2].tolist() == [[0, 0], [1, 0], [0, 1]]
    assert rec.frame[[0, 1, 2, 7, 8]].tolist() == [0, 1, 2, 0, 1]


def test_select_areas_keeps_the_largest():
    rec = synthetic_population(areas=4, units=[2, 5, 3, 4], frames=5, trials=5)
    kept = select_areas(rec, max_areas=2)
    assert kept.areas == ["area1", "area3"] and kept.num_units == 9


@pytest.mark.parametrize("build,message", [
    (lambda: from_arrays(np.array([[1.0, np.nan]]), ["A", "B"], ["s"]), "NaN"),
    (lambda: from_arrays(np.ones((2, 2)), ["A", None], ["s", "s"]), "no brain-area label"),
    (lambda: from_arrays(np.ones((2, 2)), ["A", "B"], [None, None]), "stimulus labels are"),
    (lambda: from_arrays(np.ones((2, 2)), ["A", "B"], ["s", "s"], areas=["A", "B", "C"]),
     "zero units"),
    (lambda: from_arrays(np.ones((2, 2)), ["A", "A"], ["s", "s"]), "at least 2 areas"),
    (lambda: from_arrays(np.ones((2, 2)), ["A", "B", "C"], ["s", "s"]), "one brain-area"),
    (lambda: make_windows(tiny_recording(frames=3), bins=4), "longer than trial"),
    (lambda: make_windows(tiny_recording(trials=3)), "test set empty"),
    (lambda: split_trials([0, 1, 2, 3, 4], {"train": [0, 1], "test": [1]}), "two sets"),
    (lambda: area_fields([[0, 1], []], 2, 2, names=["A", "B"]), "zero units"),
    (lambda: synthetic_population(units=[3, 0, 3, 3, 3, 3]), "zero units"),
    (lambda: load_recording("spikes.mat"), "unknown dataset"),
    (lambda: load_recording("nwb:/no/such/file.nwb"), "does not exist"),
    (lambda: TemporalCLoSeRObjective(bins=1), "bins >= 2"),
])
def test_bad_input_names_the_fix(build, message):
    with pytest.raises(GraphensError, match=message):
        build()


def test_allen_without_allensdk_says_how_to_install():
    try:  # allensdk is deliberately not a test dependency
        import allensdk  # noqa: F401
    except ImportError:
        with pytest.raises(GraphensError, match=r"graphens\[allen\]"):
            load_recording("allen:715093703")
    with pytest.raises(GraphensError, match="session id"):
        load_recording("allen:movie")


# --------------------------------------------------------------------------------------------
# Synthetic populations
# --------------------------------------------------------------------------------------------


def test_synthetic_is_seeded_and_shaped():
    a = synthetic_population(areas=3, units=[4, 5, 6], stimuli=2, frames=6, trials=5, seed=3)
    b = synthetic_population(areas=3, units=[4, 5, 6], stimuli=2, frames=6, trials=5, seed=3)
    c = synthetic_population(areas=3, units=[4, 5, 6], stimuli=2, frames=6, trials=5, seed=4)
    assert np.array_equal(a.counts, b.counts) and not np.array_equal(a.counts, c.counts)
    assert a.counts.shape == (2 * 5 * (6 + 2), 15)
    assert [len(u) for u in a.area_units()] == [4, 5, 6]
    assert len(a.trials()) == 10 and (a.counts >= 0).all()


def test_coupling_controls_how_much_an_area_carries_the_stimulus():
    rec = synthetic_population(areas=2, units=40, coupling=[2.0, 0.0], noise=0.3, trials=6,
                               frames=30, rate=3.0)
    shown = rec.stimulus >= 0
    units = rec.area_units()
    # Trial-averaged (PSTH) variance relative to total: high for the coupled area only.
    def reliability(cols):
        x = rec.counts[shown][:, cols]
        key = rec.stimulus[shown] * 1000 + rec.frame[shown]
        psth = np.stack([x[key == k].mean(0) for k in np.unique(key)])
        return psth.var(0).mean() / x.var(0).mean()
    assert reliability(units[0]) > 2 * reliability(units[1])


# --------------------------------------------------------------------------------------------
# Encoders and objectives
# --------------------------------------------------------------------------------------------


def test_time_distributed_encoder_embeds_each_bin_alone():
    torch.manual_seed(0)
    net = time_distributed_mlp(3, (8,), 4)(3 * 5)
    x = torch.randn(6, 15)
    z = net(x)
    assert z.shape == (6, 12)
    per_bin = torch.cat([net.net(x[:, 5 * t:5 * t + 5]) for t in range(3)], 1)
    assert torch.allclose(z, per_bin, atol=1e-6)
    with pytest.raises(GraphensError, match="divisible"):
        time_distributed_mlp(3)(10)


def random_graph_z(n=4, b=16, t=2, d=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, b, t * d, generator=gen, requires_grad=True)
    return z, make_topology("all-to-all", n)


def test_temporal_closer_matches_the_paper_formula_on_all_to_all():
    z, graph = random_graph_z()
    zt = z.detach().reshape(4, 16, 2, 5)
    now, past = zt[:, :, 1], zt[:, :, 0]
    pull = torch.stack([((now[p] - past[q]) ** 2).mean() for p in range(4) for q in range(4)
                        if p != q]).mean()
    var = -torch.log(now.var(dim=1) + 1e-4).mean()
    cov = []
    for p in range(4):
        c = torch.cov(now[p].T)
        cov.append((c.pow(2).sum() - c.diagonal().pow(2).sum()) / (5 * 4))
    expected = var + 10 * torch.stack(cov).mean() + 2 * pull
    loss = TemporalCLoSeRObjective(bins=2)(z, None, graph)
    assert torch.allclose(loss, expected, rtol=1e-5)
    # Weighted mean over edges: rescaling all weights changes nothing.
    graph.edge_weight = graph.edge_weight * 7.0
    assert torch.allclose(TemporalCLoSeRObjective(bins=2)(z, None, graph), expected, rtol=1e-5)


def test_temporal_pull_runs_over_the_graph_edges_and_stops_the_teachers_gradient():
    z, _ = random_graph_z()
    ring = make_topology("directed-ring", 4, laterals=1)
    objective = TemporalCLoSeRObjective(bins=2, var_weight=0.0, cov_weight=0.0)
    objective(z, None, ring).backward()
    grad = z.grad.reshape(4, 16, 2, 5)
    assert torch.all(grad[:, :, 0] == 0)  # the past is only a (detached) teacher
    assert torch.all(grad[:, :, 1].abs().sum((1, 2)) > 0)
    zt = z.detach().reshape(4, 16, 2, 5)
    d = objective.pull(z, ring)
    teacher, student = ring.edge_index
    direct = ((zt[student, :, 1] - zt[teacher, :, 0]) ** 2).mean((1, 2))
    assert torch.allclose(d, direct, rtol=1e-5)


def test_lpl_has_no_cross_node_term():
    z, graph = random_graph_z()
    lpl = LPLObjective(bins=2)
    empty = graph.clone()
    empty.edge_index = torch.zeros(2, 0, dtype=torch.long)
    empty.edge_weight = torch.zeros(0)
    assert torch.allclose(lpl(z, None, graph), lpl(z, None, empty))
    zt = z.detach().reshape(4, 16, 2, 5)
    reg = variance_loss(zt[:, :, 1:].transpose(1, 2)) + 10 * covariance_loss(
        zt[:, :, 1:].transpose(1, 2))
    expected = reg + 2 * ((zt[:, :, 1] - zt[:, :, 0]) ** 2).mean()
    assert torch.allclose(lpl(z, None, graph), expected, rtol=1e-5)


def test_temporal_contrastive_uses_past_teachers_and_graph_weights():
    z, _ = random_graph_z(t=3)
    ring = make_topology("directed-ring", 4, laterals=1)
    objective = TemporalContrastiveObjective(bins=3, tau=1.0, stop_gradient="teacher")
    zt = z.detach().reshape(4, 16, 3, 5)
    teacher, student = ring.edge_index
    per_t = [edge_losses(zt[student, :, t], zt[teacher, :, t - 1], 1.0, "mean")
             for t in (1, 2)]
    expected = ((per_t[0] + per_t[1]) / 2 * ring.edge_weight).sum()
    assert torch.allclose(objective(z, None, ring), expected, rtol=1e-5)


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------

SMALL = {"areas": 4, "units": [12, 16, 20, 14], "frames": 24, "trials": 10, "noise": 0.5,
         "rate": 2.0}


@pytest.fixture(scope="module")
def population():
    return synthetic_population(**SMALL)


def test_temporal_closer_decodes_the_stimulus_better_than_the_baselines(population):
    kw = {"epochs": 120, "device": "cpu", "decode_frames": False}
    trained = run(RunConfig(modality="neural", **kw), progress=False, dataset=population)
    assert trained["chance_accuracy"] == pytest.approx(1 / 3)
    for baseline in ("untrained", "raw-input"):
        other = run(RunConfig(modality="neural", baseline=baseline, **kw), progress=False,
                           dataset=population)
        assert trained["ensemble_accuracy"] > other["ensemble_accuracy"] + 0.08, baseline
    assert trained["loss_history"][-1] < trained["loss_history"][0]


@pytest.mark.parametrize("objective,baseline,topology", [
    ("lpl", "closer", "all-to-all"), ("temporal-contrastive", "closer", "gnk"),
    ("temporal-closer", "raw-input", "ring"), ("temporal-closer", "supervised", "star"),
])
def test_every_objective_and_baseline_runs(population, objective, baseline, topology):
    params = {"k": 5} if topology == "gnk" else {}
    config = RunConfig(modality="neural", objective=objective, baseline=baseline,
                       topology=topology, topology_params=params, epochs=2, device="cpu",
                       bins=3)
    results = run(config, progress=False, dataset=population)
    assert len(results["per_node_accuracy"]) == 4
    assert 0 <= results["frame_decoding"]["ensemble_accuracy"] <= 1
    if baseline == "raw-input":  # the raw last bin: each area's own unit count
        assert results["receptive_field"]["sizes"] == [12, 16, 20, 14]


def test_run_writes_results_and_reloads(tmp_path):
    config = RunConfig(modality="neural", dataset_params={**SMALL, "trials": 5}, nodes=3,
                       epochs=2, device="cpu", topology="knn", topology_params={"k": 1})
    results = run(config, tmp_path, progress=False)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["modality"] == "neural" and saved["num_nodes"] == 3
    assert saved["node_names"] == ["area1", "area2", "area3"]  # the 3 largest areas
    assert saved["topology"]["positions"] == "given"
    assert "edges" in saved["graph_metrics"] or saved["graph_metrics"]
    ensemble, loaded = load_ensemble(tmp_path / "ensemble.pt")
    assert loaded == config
    data_x = torch.zeros(2, ensemble.graph.rf_index.max() + 1)
    assert ensemble.embed(data_x).shape == (3, 2, 2 * 32)
    again = run(config, tmp_path, progress=False, resume=True)
    assert again["ensemble_accuracy"] == results["ensemble_accuracy"]
