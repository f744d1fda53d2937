"""Sweep reports from a small synthetic table: statistics, plots and the Markdown summary."""

import math
import sys

import pandas as pd
import pytest

from graphens.errors import GraphensError
from graphens.stats import achieved_power, paired_difference, seeds_for_power
from graphens.sweep.report import mean_ci, paired_tests, spearman, write_report


def synthetic(d_values=(0.1,)):
    """ring and G_N^k at 20 edges (ring 2 points lower), G_N^k at 10..90, all-to-all,
    untrained; 4 seeds; accuracy grows with the edges."""
    rows = []
    noise = [0.004, -0.003, 0.001, -0.002]

    def add(label, topology, edges, acc, seed, d, baseline="closer", k=None):
        rows.append({
            "id": f"{label}-{edges}-{seed}-{d}", "label": label, "status": "ok", "error": None,
            "topology": topology, "baseline": baseline,
            "stop_gradient": None if topology == "all-to-all" else "teacher",
            "seed": seed, "nodes": 10, "rf_fraction": d, "topology_params.k": k,
            "num_edges": edges, "num_nodes": 10, "single_accuracy": acc - 0.2,
            "ensemble_accuracy": acc,
            "loss_flops_per_step": 0.0 if baseline != "closer" else 6.0 * edges * 128**2 * 256,
            "seconds_per_epoch": 0.0 if baseline != "closer" else 10 + edges / 10,
            "graph.density": edges / 90, "graph.global_efficiency": 0.3 + edges / 200,
            "device": "cpu"})

    for d in d_values:
        for seed in range(4):
            e = noise[seed] + d / 10
            for k in range(10, 100, 20):
                add("G_N^k", "gnk", k, 0.70 + k / 1000 + e, seed, d, k=k)
            add("G_N^k", "gnk", 20, 0.72 + e, seed, d, k=20)
            add("ring", "directed-ring", 20, 0.70 + e + 0.001 * seed, seed, d)
            add("all-to-all", "all-to-all", 90, 0.80 + e, seed, d)
            add("untrained", "all-to-all", 90, 0.60 + e, seed, d, baseline="untrained")
    rows.append({**rows[0], "id": "broken", "status": "failed", "error": "GraphensError: no"})
    return pd.DataFrame(rows)


def test_statistics():
    mean, half, n = mean_ci([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3) and half == pytest.approx(4.302653 / math.sqrt(3))
    assert math.isnan(mean_ci([1.0])[1])
    rho, p, n = spearman([1, 2, 3, 4], [2, 4, 5, 9])
    assert rho == pytest.approx(1.0) and n == 4
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3])[0])
    tests = paired_tests([0.5, 0.6, 0.7, 0.8], [0.4, 0.52, 0.61, 0.69])
    assert tests["diff"] == pytest.approx(0.095) and tests["p_t"] < 0.01
    assert tests["ci_low"] <= 0.095 <= tests["ci_high"] and tests["n"] == 4
    assert tests["seeds_needed"] <= 4 and tests["power"] > 0.8


def test_report_writes_plots_and_summary(tmp_path):
    synthetic().to_csv(tmp_path / "results.csv", index=False)
    done = write_report(tmp_path)
    names = {p.name for p in done["plots"].values()}
    assert {"accuracy_vs_edges.png", "accuracy_vs_compute.png",
            "accuracy_vs_graph_metrics.png"} <= names
    for path in done["plots"].values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = done["summary"].read_text()
    assert "4 ok" not in summary and "1 failed" in summary
    # the ensemble difference now carries its bootstrap 95 % CI (pairs resampled)
    assert "| G_N^k | ring | 20/20 | – | 4 | +0.0185 [+0.0175, +0.0195] |" in summary
    ring = [t for t in done["tests"] if {t["a"], t["b"]} == {"ring", "G_N^k"}]
    assert len(ring) == 1 and ring[0]["ensemble_accuracy.p_t"] < 1e-3
    rho = done["correlations"]["graph.density"]["ensemble_accuracy"][0]
    assert rho > 0.8
    assert "density" in summary and "broken" in summary
    settings = done["settings"]
    a2a = settings[settings["series"] == "all-to-all"].iloc[0]
    assert a2a["seeds"] == 4 and a2a["ensemble_accuracy"] == pytest.approx(0.81)


def test_paired_table_has_ci_holm_and_power_columns(tmp_path):
    table = synthetic()
    # a noisy single-node gap between ring and G_N^k at 20 edges: 4 seeds cannot settle it
    jitter = {0: 0.03, 1: -0.025, 2: 0.02, 3: -0.015}
    ring = table["label"] == "ring"
    table.loc[ring, "single_accuracy"] += table.loc[ring, "seed"].map(jitter)
    table.to_csv(tmp_path / "results.csv", index=False)
    done = write_report(tmp_path, compare=[("ring", "G_N^k")])
    summary = done["summary"].read_text()
    header = next(line for line in summary.splitlines() if line.startswith("| a | b |"))
    assert header == (
        "| a | b | edges | conditions | seeds | Δ ensemble [95 % CI] | p (t) | p (Holm) | "
        "p (Wilcoxon) | seeds for 80 % power at α 0.05 (power now) | Δ single [95 % CI] | "
        "p (t) | p (Holm) | seeds for 80 % power at α 0.05 (power now) |")
    (test,) = done["tests"]
    ensemble = paired_difference(*_pairs(table, "ensemble_accuracy"))
    single = paired_difference(*_pairs(table, "single_accuracy"))
    assert test["ensemble_accuracy.ci_low"] == pytest.approx(ensemble.ci_low)
    assert test["single_accuracy.p_t"] == pytest.approx(single.p)
    # Holm over the report's two t-tests: the smaller p doubled, the larger kept
    assert test["ensemble_accuracy.p_holm"] == pytest.approx(2 * ensemble.p)
    assert test["single_accuracy.p_holm"] == pytest.approx(max(single.p, 2 * ensemble.p))
    assert test["ensemble_accuracy.seeds_needed"] <= 4 < test["single_accuracy.seeds_needed"]
    needed = seeds_for_power(single.mean, single.sd)
    row = next(line for line in summary.splitlines() if line.startswith("| G_N^k | ring"))
    power = achieved_power(single.mean, single.sd, 4)
    assert row.endswith(f"| {needed} ({power:.2f}) |") and power < 0.8
    assert ("1 of 2 differences (ensemble and single-node, every row: one family) survive "
            "Holm's correction at α 0.05") in summary
    assert "1 of the others would need more seed pairs than were run" in summary
    assert "not answerable at this budget" in summary


def _pairs(table, column):
    """G_N^k (k 20, the one at 20 edges) and ring accuracies, seed by seed."""
    ok = table[(table["status"] == "ok") & (table["num_edges"] == 20)]
    gnk = ok[ok["label"] == "G_N^k"].groupby("seed")[column].mean()
    ring = ok[ok["label"] == "ring"].set_index("seed")[column]
    return gnk.tolist(), ring.loc[gnk.index].tolist()


def test_swept_condition_gets_facets_and_its_own_plot(tmp_path):
    synthetic(d_values=(0.1, 0.2)).to_csv(tmp_path / "results.csv", index=False)
    done = write_report(tmp_path, tmp_path / "out", compare=[("ring", "G_N^k")])
    assert "accuracy vs rf_fraction" in done["plots"]
    assert (tmp_path / "out" / "accuracy_vs_rf_fraction.png").exists()
    assert len(done["tests"]) == 2  # ring vs G_N^k at d 0.1 and at d 0.2
    assert "Swept conditions: rf_fraction" in done["summary"].read_text()


def test_without_matplotlib_the_summary_says_so(tmp_path, monkeypatch):
    synthetic().to_csv(tmp_path / "results.csv", index=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    done = write_report(tmp_path)
    assert done["plots"] == {} and "graphens[plot]" in done["summary"].read_text()


def test_nothing_to_report(tmp_path):
    with pytest.raises(GraphensError, match="no results table"):
        write_report(tmp_path)
    table = synthetic()
    table["status"] = "failed"
    table.to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(GraphensError, match="no finished trials"):
        write_report(tmp_path)


def test_few_series_get_distinct_hues_however_many_rows():
    from matplotlib import colormaps

    from graphens.sweep.report import _Colours

    # 54 rows of three series: tab10's first three hues, not tab20's light/dark pairs
    colours = _Colours(["CLoSeR", "supervised", "untrained"] * 18)
    tab10 = colormaps["tab10"]
    assert [colours(name) for name in ("CLoSeR", "supervised", "untrained")] == [
        tab10(0), tab10(1), tab10(2)]
    assert colours("unknown") == "black"


def test_named_pairs_are_tested_at_any_edge_count_baselines_included(tmp_path):
    table = synthetic()
    table.to_csv(tmp_path / "results.csv", index=False)
    done = write_report(tmp_path, compare=[("all-to-all", "untrained"), ("ring", "all-to-all")])
    pairs = {(t["a"], t["b"]): t for t in done["tests"]}
    assert set(pairs) == {("all-to-all", "untrained"), ("all-to-all", "ring")}
    trained = pairs[("all-to-all", "untrained")]
    assert (trained["edges_a"], trained["edges_b"]) == (90, 90)
    assert pairs[("all-to-all", "ring")]["edges_b"] == 20  # 90 vs 20 edges: named, so tested
    ok = table[table["status"] == "ok"]
    a2a = ok[ok["label"] == "all-to-all"].set_index("seed")["ensemble_accuracy"]
    untrained = ok[ok["label"] == "untrained"].set_index("seed")["ensemble_accuracy"]
    seeds = a2a.index.intersection(untrained.index)
    assert trained["ensemble_accuracy.diff"] == pytest.approx(
        (a2a.loc[seeds] - untrained.loc[seeds]).mean())
    # without names, baselines and unmatched edge counts stay out
    assert all("untrained" not in (t["a"], t["b"]) for t in write_report(tmp_path)["tests"])
