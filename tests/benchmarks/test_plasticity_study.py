"""The specs and paired tests of benchmarks/plasticity.py (both starts), on hand-made tables."""

import argparse
import json
import math

import pandas as pd
import pytest

from graphens.sweep.spec import load_spec


@pytest.fixture(scope="module")
def study(load_benchmark):
    return load_benchmark("plasticity")


def _args(start, **kw):
    base = dict(start=start, tau=0.1, epochs=20, max_train=2000, max_test=1000,
                precision="bf16", smoke=False, seeds=[1, 2])
    return argparse.Namespace(**{**base, **kw})


def test_celegans_start_rewires_the_connectome_subgraph_beside_a_same_budget_random_graph(study):
    spec = study.build_spec(_args("celegans"))
    labels = [t["label"] for t in spec["topologies"]]
    assert labels == ["untrained", "static C. elegans", "rewire", "G_N^107", "all-to-all"]
    assert spec["fixed"]["nodes"] == 20 and spec["fixed"]["tau"] == 0.1
    trials = load_spec(spec).trials  # the spec is valid and resolves
    rewire = [t for t in trials if t.label == "rewire"][0].config
    assert rewire.topology == "connectome:celegans-white1986"
    assert rewire.topology_params == {"map": "degree:20"} and rewire.plasticity == "rewire"
    assert len(trials) == 5 * 2


def test_gnk_start_keeps_every_rule_and_the_directed_ring(study):
    spec = study.build_spec(_args("gnk", tau=10.0))
    labels = [t["label"] for t in spec["topologies"]]
    assert labels == ["untrained", "static G_N^20", "rewire", "learn", "hebbian",
                      "directed ring", "all-to-all"]
    assert spec["fixed"]["tau"] == 10.0 and spec["name"] == "plasticity"


def test_paired_tests_pair_the_rule_with_the_starts_static_arm_by_seed(study):
    rows = []
    for seed, offset in ((1, 0.0), (2, 0.1), (3, -0.05)):
        rows += [{"label": "static C. elegans", "seed": seed, "single_accuracy": 0.6 + offset,
                  "ensemble_accuracy": 0.8, "agreement.mean": 0.1,
                  "graph.distance_correlation": 0.0},
                 {"label": "rewire", "seed": seed, "single_accuracy": 0.61 + offset,
                  "ensemble_accuracy": 0.8 + 0.01 * seed, "agreement.mean": 0.1,
                  "graph.distance_correlation": -0.2}]
    tests = study.paired_tests(pd.DataFrame(rows), "static C. elegans", ("rewire",))
    single = [t for t in tests if t["measure"] == "single_accuracy"][0]
    assert single["reference"] == "static C. elegans" and single["n"] == 3
    assert single["diff"] == pytest.approx(0.01)  # the seed offsets cancel in the pairs
    ensemble = [t for t in tests if t["measure"] == "ensemble_accuracy"][0]
    assert ensemble["diff"] == pytest.approx(0.02)
    assert {t["measure"] for t in tests} >= {"graph.distance_correlation"}


def _three_arms(rule_gain_by_seed, gap=0.02):
    rows = []
    for seed, gain in rule_gain_by_seed.items():
        base = 0.6 + 0.01 * seed  # seed effects cancel in the pairs
        rows += [{"label": "static G_N^20", "seed": seed, "single_accuracy": base,
                  "ensemble_accuracy": base},
                 {"label": "all-to-all", "seed": seed, "single_accuracy": base + gap,
                  "ensemble_accuracy": base},
                 {"label": "rewire", "seed": seed, "single_accuracy": base + gain,
                  "ensemble_accuracy": base + gain}]
    return pd.DataFrame(rows)


def test_gap_closed_is_the_rules_gain_over_the_starts_gap_to_all_to_all(study):
    gaps = study.gap_closed(_three_arms({1: 0.01, 2: 0.01, 3: 0.01}), rules=("rewire",))
    single = [g for g in gaps if g["measure"] == "single_accuracy"][0]
    assert single["n"] == 3 and single["closed"] == pytest.approx(0.5)
    assert (single["closed_low"], single["closed_high"]) == pytest.approx((0.5, 0.5))
    # no gap on the ensemble (all-to-all = static): the ratio is undefined, not infinite
    ensemble = [g for g in gaps if g["measure"] == "ensemble_accuracy"][0]
    assert ensemble["gap"] == pytest.approx(0.0) and math.isnan(ensemble["closed"])


def test_gap_closed_interval_widens_with_seed_noise(study):
    gaps = study.gap_closed(_three_arms({1: 0.0, 2: 0.01, 3: 0.02, 4: 0.01}), rules=("rewire",))
    single = [g for g in gaps if g["measure"] == "single_accuracy"][0]
    assert single["closed"] == pytest.approx(0.5)
    assert single["closed_low"] < 0.5 < single["closed_high"]


def test_trajectories_collect_each_seeds_graph_metrics_by_epoch(study, tmp_path):
    from graphens.io import atomic_write_text
    from graphens.sweep.table import trial_dir

    rows = []
    for seed, trial_id in ((1, "aaaaaaaaaaaa"), (2, "bbbbbbbbbbbb")):
        metrics = [{"step": 0, "epoch": 0, "reciprocity": 0.2, "distance_correlation": 0.0},
                   {"step": 32, "epoch": 2, "reciprocity": 0.2 + 0.1 * seed,
                    "distance_correlation": float("nan")}]
        atomic_write_text(trial_dir(tmp_path, trial_id) / "results.json",
                          json.dumps({"plasticity": {"metrics": metrics}}))
        rows.append({"label": "rewire", "seed": seed, "id": trial_id})
    found = study.trajectories(pd.DataFrame(rows), tmp_path, ("rewire",),
                               ("reciprocity", "distance_correlation"))
    assert found["rewire"]["reciprocity"] == {0: [0.2, 0.2], 2: [pytest.approx(0.3),
                                                                 pytest.approx(0.4)]}
    assert found["rewire"]["distance_correlation"] == {0: [0.0, 0.0]}  # NaN skipped
    assert study.trajectory_figure(found, tmp_path / "fig.png").stat().st_size > 0


def test_celegans_study_also_tests_the_connectome_against_a_random_graph_of_its_budget(study):
    rows = [{"label": label, "seed": seed, "single_accuracy": value + 0.01 * seed,
             "ensemble_accuracy": 0.8 + 0.003 * seed * value, "agreement.mean": value / seed,
             "graph.distance_correlation": 0.0}
            for seed in (1, 2, 3)
            for label, value in (("static C. elegans", 0.62), ("G_N^107", 0.60),
                                 ("rewire", 0.61))]
    controls = study.STARTS["celegans"]["controls"]
    tests = study.paired_tests(pd.DataFrame(rows), "static C. elegans", ("rewire",), controls)
    control = [t for t in tests if t["reference"] == "G_N^107"]
    assert {t["measure"] for t in control} == {"single_accuracy", "ensemble_accuracy",
                                              "agreement.mean"}
    single = [t for t in control if t["measure"] == "single_accuracy"][0]
    assert single["rule"] == "static C. elegans" and single["diff"] == pytest.approx(0.02)
    ensemble = [t for t in control if t["measure"] == "ensemble_accuracy"][0]
    assert ensemble["p_holm"] > ensemble["p"]  # adjusted in one family with the rule's tests


def test_weight_spread_is_one_for_uniform_teachers_and_falls_as_one_dominates(study, tmp_path):
    from graphens.io import atomic_write_text
    from graphens.sweep.table import trial_dir

    edge_index = [[1, 2, 0, 2], [0, 0, 1, 1]]  # students 0 and 1, two teachers each
    for trial_id, weights in (("aaaaaaaaaaaa", [1.0, 1.0, 1.0, 1.0]),
                              ("bbbbbbbbbbbb", [1.5, 0.5, 1.0, 1.0])):
        history = [{"step": 0, "edge_index": edge_index, "edge_weight": weights}]
        atomic_write_text(trial_dir(tmp_path, trial_id) / "results.json",
                          json.dumps({"plasticity": {"history": history}}))
    ok = pd.DataFrame([{"label": "learn", "id": "aaaaaaaaaaaa"}])
    assert study.weight_spread(ok, tmp_path)["entropy"] == pytest.approx(1.0)
    ok = pd.DataFrame([{"label": "learn", "id": "bbbbbbbbbbbb"}])
    spread = study.weight_spread(ok, tmp_path)
    skewed = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)
    assert spread["entropy"] == pytest.approx((skewed + 1.0) / 2)
    assert (spread["min_weight"], spread["max_weight"]) == (0.5, 1.5)
    assert study.weight_spread(ok.assign(label="rewire"), tmp_path) is None
