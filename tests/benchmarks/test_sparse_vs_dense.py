"""The analysis of benchmarks/sparse_vs_dense.py on a synthetic results table."""

import math

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("sparse_vs_dense")


def _row(label, seed, single, ensemble, k=math.nan, edges=20):
    return {"status": "ok", "label": label, "seed": seed, "topology_params.k": k,
            "num_edges": edges, "single_accuracy": single, "ensemble_accuracy": ensemble,
            "loss_flops_per_step": edges * 10.0, "seconds_per_epoch": 1.0 + edges / 90}


def _table():
    rows = []
    for seed, offset in ((1, 0.0), (2, 0.05), (3, -0.03)):  # seed spread >> graph gaps
        rows += [_row("untrained", seed, 0.60 + offset, 0.800 + offset, edges=90),
                 _row("all-to-all", seed, 0.64 + offset, 0.805 + offset, edges=90),
                 _row("G_N^k", seed, 0.61 + offset + 0.001 * seed, 0.801 + offset, k=10, edges=10),
                 _row("G_N^k", seed, 0.635 + offset + 0.001 * seed, 0.804 + offset, k=20),
                 _row("directed ring", seed, 0.64 + offset - 0.002 * seed, 0.806 + offset)]
    return pd.DataFrame(rows)


def test_sparse_summary_pairs_by_seed_and_measures_share_of_gain(bench):
    data, text = bench.sparse_summary(_table())
    settings = {(s["label"], s["k"]): s for s in data["settings"]}
    k20 = settings[("G_N^k", 20)]
    # paired by seed the seed offsets cancel: -0.005 + 0.001 * mean(seed) = -0.003
    assert k20["paired"]["single_accuracy"]["diff"] == pytest.approx(-0.003)
    # (0.637 - 0.60) / (0.64 - 0.60) on the seed means (offsets cancel there too)
    assert k20["share_of_gain"]["single_accuracy"] == pytest.approx(0.925)
    assert settings[("untrained", None)]["share_of_gain"]["single_accuracy"] == pytest.approx(0)
    # smallest k within 1 point: k 10 is 2.8 pt below, k 20 is 0.3 pt below
    assert data["smallest_k_within_1pt"]["single_accuracy"] == 20
    # the ensemble gap to untrained is 0.5 pt: the criterion is flagged as uninformative
    assert data["smallest_k_within_1pt"]["ensemble_accuracy"] == 10
    ensemble_line = next(line for line in text.splitlines()
                         if line.startswith("* ensemble accuracy"))
    assert "cannot tell graphs apart" in ensemble_line
    single_line = next(line for line in text.splitlines() if line.startswith("* single"))
    assert "cannot tell" not in single_line
    ring = data["ring_vs_random"][0]
    assert ring["ring"] == "directed ring"
    assert ring["single_accuracy"]["diff"] == pytest.approx(0.005 - 0.003 * 2)
    assert settings[("G_N^k", 10)]["flops_vs_dense"] == pytest.approx(10 / 90)


def test_paired_by_seed_uses_graphens_stats_with_ci_and_holm(bench):
    from scipy import stats

    from graphens.stats import holm

    table = _table()
    data, text = bench.sparse_summary(table)
    settings = {(s["label"], s["k"]): s for s in data["settings"]}
    k10 = settings[("G_N^k", 10)]["paired"]["single_accuracy"]
    rows = table[table["label"] == "G_N^k"]
    a = rows[rows["topology_params.k"] == 10].set_index("seed")["single_accuracy"]
    b = table[table["label"] == "all-to-all"].set_index("seed")["single_accuracy"]
    # the same mean difference and t-test p as before (scipy's paired t-test)
    assert k10["diff"] == pytest.approx((a - b).mean())
    assert k10["p_t"] == pytest.approx(stats.ttest_rel(a, b.loc[a.index]).pvalue)
    # the t half-width the plot draws, and the bootstrap interval around the mean
    assert k10["ci"] == pytest.approx(stats.t.ppf(0.975, 2) * (a - b).std() / 3 ** 0.5)
    assert k10["ci_low"] <= k10["diff"] <= k10["ci_high"]
    # Holm over the table's p-values (both accuracies, every graph but all-to-all)
    paired = [s["paired"][c] for s in data["settings"] if "paired" in s
              for c in bench.ACCURACIES]
    assert [t["p_holm"] for t in paired] == pytest.approx(
        holm([t["p_t"] for t in paired]), nan_ok=True)
    paired_table = text.split("### Paired over seeds")[1]
    line = next(row for row in paired_table.splitlines() if row.startswith("| G_N^k, k 10 |"))
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[1] == (f"{100 * k10['diff']:+.2f} [{100 * k10['ci_low']:+.2f}, "
                        f"{100 * k10['ci_high']:+.2f}]")
    assert cells[2:4] == [f"{k10['p_t']:.2g}", f"{k10['p_holm']:.2g}"]
    assert k10["p_holm"] > k10["p_t"]
    ring = data["ring_vs_random"][0]["single_accuracy"]
    assert ring["p_holm"] == pytest.approx(min(1.0, ring["p_t"]))  # one finite p in the table


def test_arms_summary_pairs_each_arm_with_untrained_by_seed(bench):
    rows = []
    for seed, offset in ((1, 0.0), (2, 0.06), (3, -0.04)):  # seed spread >> arm gaps
        for d, gain in ((0.05, 0.01), (0.1, 0.02)):
            rows += [{"status": "ok", "label": label, "seed": seed, "rf_fraction": d,
                      "single_accuracy": 0.6 + offset + shift + 0.001 * seed,
                      "ensemble_accuracy": 0.8 + offset + shift, "num_edges": 90,
                      "loss_flops_per_step": 1.0, "seconds_per_epoch": 1.0}
                     for label, shift in (("CLoSeR", gain), ("supervised", 2 * gain),
                                          ("untrained", 0.0))]
    # a CLoSeR trial whose untrained partner failed is left out of the pairing
    rows.append({**rows[0], "seed": 4, "single_accuracy": 0.99})
    data, text = bench.arms_summary(pd.DataFrame(rows), "rf_fraction", "d")
    entry = {(r["rf_fraction"], r["label"]): r for r in data["rows"]}
    closer = entry[(0.05, "CLoSeR")]["paired_vs_untrained"]["single_accuracy"]
    assert closer["n"] == 3
    assert closer["diff"] == pytest.approx(0.01)  # seed 4's 0.99 is not in it
    assert entry[(0.05, "CLoSeR")]["seeds"] == 4
    supervised = entry[(0.05, "supervised")]["paired_vs_untrained"]["ensemble_accuracy"]
    assert supervised["diff"] == pytest.approx(0.02)
    assert "paired_vs_untrained" not in entry[(0.1, "untrained")]
    paired = text.split("each arm − untrained:")[1].strip().splitlines()
    assert paired[0] == ("| d | CLoSeR − untrained single | CLoSeR − untrained ensemble"
                         " | supervised − untrained single | supervised − untrained ensemble |")
    assert paired[3].startswith("| 0.1 | +2.00")
    # constant differences: the bootstrap interval is the point, the t-test is undefined
    assert paired[3].startswith("| 0.1 | +2.00 [+2.00, +2.00] | ")
    cell = bench._diff_cell({"diff": 0.0155, "ci_low": 0.011, "ci_high": 0.0202,
                             "p_t": 0.012, "p_holm": 0.048})
    assert cell == "+1.55 [+1.10, +2.02] (0.012; Holm 0.048)"
