"""Plastic topologies: each rule's invariants, determinism, resume, checks, CLI and sweeps."""

import json

import pytest
import torch

import graphens
from graphens import GraphensError
from graphens.cli import main
from graphens.config import RunConfig
from graphens.encoders import mlp_encoder
from graphens.ensemble import Ensemble
from graphens.graph import ensemble_graph
from graphens.objectives import CLoSeRObjective
from graphens.plasticity import (
    PLASTICITY_RULES,
    Hebbian,
    LearnedWeights,
    Rewire,
    check_graph,
    make_rule,
    untaught_nodes,
)
from graphens.receptive_fields import sample_receptive_fields
from graphens.sweep.report import Analysis
from graphens.sweep.spec import load_spec
from graphens.sweep.table import read_table
from graphens.topology.metrics import distance_correlation
from graphens.train import TrainConfig, train

IMAGE = (4, 4, 1)
NODES = 5
TINY = ["--hidden", "16", "--dim", "8", "--nodes", "4", "--epochs", "2", "--quiet"]


def make_ensemble(k=8, seed=0):
    fields = sample_receptive_fields("gaussian", NODES, 16, fraction=0.5, image_shape=IMAGE,
                                     seed=0)
    graph = ensemble_graph(graphens.topology.make_topology("gnk", NODES, seed=seed, k=k),
                           fields)
    return Ensemble(graph, mlp_encoder(hidden=(16,), dim=8, dropout=0.1), seed=0)


def data(n=64):
    return torch.rand(n, 16, generator=torch.Generator().manual_seed(0))


def run(rule, epochs=3, ensemble=None, **kw):
    ensemble = ensemble if ensemble is not None else make_ensemble()
    objective = CLoSeRObjective(tau=0.5, stop_gradient="teacher")
    with pytest.warns(UserWarning) if untaught_nodes(ensemble.graph) else _nothing():
        result = train(ensemble, objective, data(), plasticity=rule,
                       config=TrainConfig(epochs=epochs, batch_size=16, progress=False,
                                          lr=1e-2), **kw)
    return ensemble, result


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def edges(graph):
    return sorted(zip(*graph.edge_index.tolist(), strict=True))


def assert_valid(graph):
    pairs = edges(graph)
    assert len(set(pairs)) == len(pairs), "duplicate edges"
    assert all(j != i for j, i in pairs), "self-loop"
    assert torch.isfinite(graph.edge_weight).all() and (graph.edge_weight >= 0).all()
    assert graph.edge_weight.shape[0] == graph.edge_index.shape[1]


# -- rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [
    {"fraction": 0.5, "unit": "step", "every": 2},
    {"fraction": 0.5, "criterion": "agreement", "grow": "similarity", "decay": "linear"},
    {"fraction": 1.0, "criterion": "gradient", "decay": "constant"},
])
def test_rewire_keeps_the_edge_budget_and_a_valid_graph(params):
    ensemble = make_ensemble()
    before = edges(ensemble.graph)
    rule = make_rule("rewire", seed=3, **params)
    ensemble, _ = run(rule, ensemble=ensemble)
    graph = ensemble.graph
    assert graph.edge_index.shape[1] == len(before) == 8
    assert_valid(graph)
    assert untaught_nodes(graph) == []  # rewiring gave the untaught nodes a teacher
    assert edges(graph) != before and rule.updates >= 3
    for entry in rule.history:
        assert len(entry["edge_weight"]) == 8
    assert float(graph.edge_weight.sum()) == pytest.approx(8.0)


def test_rewire_fraction_decays():
    rule = Rewire(fraction=0.4, decay="cosine", horizon=4)
    values = [rule.fraction_at(t) for t in (1, 2, 3, 4, 5, 9)]
    assert values[0] == pytest.approx(0.4)
    assert values == sorted(values, reverse=True) and values[-1] == pytest.approx(0.0)
    assert Rewire(fraction=0.4, decay="linear", horizon=4).fraction_at(3) == pytest.approx(0.2)
    assert Rewire(fraction=0.4, decay="constant").fraction_at(100) == pytest.approx(0.4)


def test_rewire_never_takes_a_students_last_teacher():
    ensemble = make_ensemble(k=NODES)  # about one teacher per node
    untaught = set(untaught_nodes(ensemble.graph))
    rule = make_rule("rewire", seed=0, fraction=1.0, decay="constant", unit="step")
    ensemble, _ = run(rule, ensemble=ensemble)
    for entry in rule.history[1:]:
        students = set(entry["edge_index"][1])
        assert set(range(NODES)) - students <= untaught


def test_same_seed_same_graphs_other_seed_other():
    histories = []
    for seed in (1, 1, 2):
        rule = make_rule("rewire", seed=seed, fraction=0.5, unit="step")
        run(rule)
        histories.append([(h["edge_index"], h["edge_weight"]) for h in rule.history])
    assert histories[0] == histories[1]
    assert histories[0] != histories[2]


def test_hebbian_weights_follow_agreement_and_weak_edges_drop():
    rule = make_rule("hebbian", seed=0, threshold=0.99, rate=1.0, unit="step")
    ensemble, _ = run(rule)
    graph = ensemble.graph
    assert_valid(graph)
    assert min(len(h["edge_weight"]) for h in rule.history[1:]) < 8  # weak edges dropped
    assert not torch.allclose(graph.edge_weight, torch.ones_like(graph.edge_weight))
    assert set(untaught_nodes(graph)) == set()


def test_hebbian_regrow_keeps_the_edge_count():
    ensemble = make_ensemble(k=10, seed=4)
    assert untaught_nodes(ensemble.graph) == []
    rule = make_rule("hebbian", seed=0, threshold=0.999, rate=1.0, regrow="random",
                     unit="step")
    ensemble, _ = run(rule, ensemble=ensemble)
    assert ensemble.graph.edge_index.shape[1] == 10
    assert_valid(ensemble.graph)
    assert len(rule.history) > 2


def test_learned_weights_are_optimised_and_normalised_per_student():
    ensemble = make_ensemble(k=10, seed=4)
    initial = edges(ensemble.graph)
    rule = make_rule("learn", seed=0, sparsity=0.1)
    assert isinstance(rule, LearnedWeights)
    ensemble, _ = run(rule, ensemble=ensemble)
    graph = ensemble.graph
    assert edges(graph) == initial  # candidates="initial": the edge set stays
    assert rule.logits.abs().max() > 0  # the optimiser moved them
    torch.testing.assert_close(graph.edge_weight, rule.weights().detach())
    incoming = torch.zeros(NODES).index_add_(0, graph.edge_index[1], graph.edge_weight)
    torch.testing.assert_close(incoming, rule.budget)  # each student keeps its budget
    assert len(rule.history) == 4  # the start and every epoch's end


def test_learned_weights_over_all_pairs_give_every_student_teachers():
    rule = make_rule("learn", candidates="all")
    ensemble, _ = run(rule, epochs=1)
    assert ensemble.graph.edge_index.shape[1] == NODES * (NODES - 1)
    assert untaught_nodes(ensemble.graph) == []


class Killer:
    """An identity transform that interrupts training at the 2nd epoch's 2nd batch (call 1
    is the trainer's check, then 4 batches per epoch)."""

    def __init__(self, never=False):
        self.calls, self.never = 0, never

    def __call__(self, xb, generator):
        self.calls += 1
        if not self.never and self.calls == 7:
            raise KeyboardInterrupt
        return xb


@pytest.mark.parametrize("name,params", [
    ("rewire", {"fraction": 0.5, "unit": "step", "every": 3, "grow": "similarity"}),
    ("hebbian", {"threshold": 0.99, "regrow": "random"}),
    ("learn", {"sparsity": 0.05}),
])
def test_resume_reaches_the_uninterrupted_graph(tmp_path, name, params):
    straight_rule = make_rule(name, seed=5, **params)
    straight, _ = run(straight_rule, transform=Killer(never=True))
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):  # killed in epoch 2, after epoch 1's checkpoint
        run(make_rule(name, seed=5, **params), checkpoint=checkpoint, transform=Killer())
    rule = make_rule(name, seed=5, **params)  # a fresh process: new ensemble, new rule
    resumed, result = run(rule, checkpoint=checkpoint, resume=True,
                          transform=Killer(never=True))
    assert result.resumed_from == 1
    assert torch.equal(resumed.graph.edge_index, straight.graph.edge_index)
    assert torch.equal(resumed.graph.edge_weight, straight.graph.edge_weight)
    assert rule.history == straight_rule.history
    for a, b in zip(resumed.parameters(), straight.parameters(), strict=True):
        assert torch.equal(a, b)
    saved = torch.load(checkpoint, weights_only=True)
    assert torch.equal(saved["graph"]["edge_index"], straight.graph.edge_index)


def test_a_checkpoint_without_plasticity_is_refused(tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    run(None, epochs=1, checkpoint=checkpoint)
    one_line(lambda: run(make_rule("rewire"), checkpoint=checkpoint, resume=True),
             "written without plasticity")


def test_the_default_path_records_nothing():
    ensemble, _ = run(None, epochs=1)
    objective = CLoSeRObjective()
    objective(ensemble(data(8)), None, ensemble.graph)
    assert objective.edge_loss is None and objective.last_z is None


def test_recorded_edge_terms_give_the_same_loss():
    ensemble = make_ensemble()
    z = ensemble(data(16))
    plain = CLoSeRObjective(tau=0.5)(z, None, ensemble.graph)
    recording = CLoSeRObjective(tau=0.5)
    recording.records_edges = True
    torch.testing.assert_close(recording(z, None, ensemble.graph), plain)
    assert recording.edge_loss.shape == (8,) and not recording.edge_loss.requires_grad


def test_check_graph_refuses_broken_graphs():
    graph = make_ensemble().graph.clone()
    graph.edge_index = torch.tensor([[0, 1], [1, 1]])
    graph.edge_weight = torch.ones(2)
    with pytest.raises(GraphensError, match="self-loop"):
        check_graph(graph)
    graph.edge_index = torch.tensor([[0, 0], [1, 1]])
    with pytest.raises(GraphensError, match="duplicate"):
        check_graph(graph)
    graph.edge_index = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(GraphensError, match=r"node\(s\) \[0, 3, 4\] without a teacher"):
        check_graph(graph)
    check_graph(graph, allow_untaught=True)


def test_distance_correlation_sees_local_wiring():
    pos = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [0.0, 3.0]])
    near = graphens.topology.make_topology("directed-ring", 4, laterals=1)
    near.edge_index = torch.tensor([[0, 1, 2, 1, 2, 3], [1, 2, 3, 0, 1, 2]])
    near.edge_weight = torch.ones(6)
    assert distance_correlation(near, pos) < -0.5
    full = graphens.topology.make_topology("all-to-all", 4)
    assert distance_correlation(full, pos) is None
    assert distance_correlation(near) is None  # no positions


# -- checks -----------------------------------------------------------------------------------


def one_line(call, pattern):
    with pytest.raises(GraphensError, match=pattern) as caught:
        call()
    assert "\n" not in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize("name,params,pattern", [
    ("rewire", {"fraction": 1.5}, r"fraction=1\.5 is not valid: .*\(0, 1\]"),
    ("rewire", {"fraction": 0}, r"fraction=0 is not valid"),
    ("rewire", {"grow": "best"}, r"grow='best' is not valid: .*'random', 'similarity'"),
    ("rewire", {"every": 0}, r"every=0 is not valid"),
    ("rewire", {"unit": "batch"}, r"unit='batch' is not valid"),
    ("rewire", {"frac": 0.2}, r"has no parameter\(s\) \['frac'\]; it accepts"),
    ("hebbian", {"threshold": -1}, r"threshold=-1 is not valid"),
    ("hebbian", {"regrow": True}, r"regrow=True is not valid"),
    ("learn", {"sparsity": float("nan")}, r"sparsity=nan is not valid"),
    ("learn", {"candidates": "some"}, r"candidates='some' is not valid"),
    ("grow", {}, r"unknown plasticity rule 'grow'; choose one of hebbian, learn, rewire"),
])
def test_bad_parameters_are_one_line_errors(name, params, pattern):
    one_line(lambda: make_rule(name, **params), pattern)
    one_line(lambda: RunConfig(plasticity=name, plasticity_params=params), pattern)


def test_the_registry_names_its_classes():
    assert {"rewire": Rewire, "learn": LearnedWeights, "hebbian": Hebbian} == PLASTICITY_RULES


@pytest.mark.parametrize("fields,pattern", [
    ({"baseline": "untrained"}, "the untrained baseline does not train on the graph"),
    ({"baseline": "supervised"}, "the supervised baseline does not train on the graph"),
    ({"dataset": "synthetic"}, "needs the closer objective"),
])
def test_plasticity_is_refused_where_no_graph_is_trained(fields, pattern):
    one_line(lambda: RunConfig(plasticity="rewire", **fields), pattern)


def test_parameters_without_a_rule_are_refused():
    one_line(lambda: RunConfig(plasticity_params={"fraction": 0.2}), "plasticity is None")


def test_plasticity_is_part_of_the_run_identity():
    plain, plastic = RunConfig(), RunConfig(plasticity="rewire",
                                            plasticity_params={"fraction": 0.2})
    assert plain.identity() != plastic.identity()
    assert "plasticity: None -> 'rewire'" in plastic.differences(plain)


# -- command line and sweeps ------------------------------------------------------------------


def test_cli_trains_records_and_draws_a_plastic_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--topology", "gnk", "--topology-param", "k=6",
                 "--stop-gradient", "teacher", "--plasticity", "rewire",
                 "--plasticity-param", "fraction=0.5,unit=step", "--plasticity-param",
                 "every=5", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    record = results["plasticity"]
    assert record["rule"] == "rewire" and record["params"]["fraction"] == 0.5
    assert record["params"]["every"] == 5 and record["params"]["unit"] == "step"
    assert len(record["history"]) >= 3 and len(record["metrics"]) == len(record["history"])
    assert {"reciprocity", "clustering_directed", "characteristic_path_length",
            "distance_correlation"} <= set(record["metrics"][0])
    assert record["final_ensemble_accuracy"] == results["ensemble_accuracy"]
    last = record["history"][-1]
    saved = torch.load(out / "ensemble.pt", weights_only=False)["graph"]
    assert saved.edge_index.tolist() == last["edge_index"]
    assert all(len(h["edge_weight"]) == 6 for h in record["history"])
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("plasticity.md", "plasticity_adjacency.png", "plasticity_metrics.png"):
        assert (out / "report" / name).stat().st_size > 0 and name in printed


def test_cli_bad_plasticity_fails_before_any_data(tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["train", "--dataset", "fashion-mnist", "--plasticity", "rewire",
                 "--plasticity-param", "fraction=1.5", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "fraction=1.5 is not valid" in err and len(err.splitlines()) == 1
    assert not out.exists()
    assert main(["train", "--baseline", "untrained", "--plasticity", "learn",
                 "--out", str(out)]) == 2
    assert "drop --plasticity" in capsys.readouterr().err


def test_report_of_a_static_run_says_what_it_draws(tmp_path, capsys):
    out = tmp_path / "static"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 2
    assert "run without plasticity" in capsys.readouterr().err


SWEEP = {"name": "plastic", "keep": "results",
         "fixed": {"dataset": "digits", "hidden": [16], "dim": 8, "epochs": 1, "nodes": 4,
                   "stop_gradient": "teacher", "max_train": 300, "max_test": 100},
         "axes": {"seed": [0]},
         "topologies": [{"name": "gnk", "params": {"k": 6},
                         "axes": {"plasticity": [None, "rewire", "hebbian"]}},
                        {"name": "gnk", "label": "rewire 0.5", "params": {"k": 6},
                         "plasticity": "rewire",
                         "axes": {"plasticity_params": [{"fraction": 0.5, "unit": "step"}]}}]}


def test_a_spec_with_bad_plasticity_parameters_is_refused():
    bad = {**SWEEP, "topologies": [{"name": "gnk", "plasticity": "rewire",
                                    "plasticity_params": {"fraction": 2}}]}
    one_line(lambda: load_spec(bad), r"fraction=2 is not valid")


def test_a_sweep_with_plasticity_as_an_axis(tmp_path):
    spec = load_spec(SWEEP)
    assert [t.config.plasticity for t in spec.trials] == [None, "rewire", "hebbian", "rewire"]
    assert len(set(spec.ids)) == 4
    table = graphens.sweep(SWEEP, tmp_path / "sweep", workers=1, progress=False)
    assert table["status"].eq("ok").all()
    assert table["plasticity"].fillna("none").tolist() == ["none", "rewire", "hebbian",
                                                           "rewire"]
    assert table["plasticity_params.fraction"].tolist()[-1] == 0.5
    assert table["plasticity.updates"].notna().sum() == 3
    assert table["plasticity.final_metrics.edges"].tolist()[1] == 6
    analysis = Analysis(read_table(tmp_path / "sweep"))
    assert analysis.conditions == []  # the plasticity record is a measure, not a condition
    assert "gnk (plasticity=rewire)" in analysis.settings["series"].tolist()
