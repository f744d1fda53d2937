"""benchmarks/tau_guide.py: the τ × d table's numbers against hand-computed ones."""

import math

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def guide(load_benchmark):
    return load_benchmark("tau_guide")


def _results():
    rows = []
    single = {(0.1, 1.0): [0.60, 0.62, 0.64], (0.1, 0.1): [0.55, 0.56, 0.60],
              (0.2, 1.0): [0.70, 0.71, 0.75]}
    for (d, tau), values in single.items():
        for seed, value in enumerate(values, start=1):
            rows.append({"status": "ok", "baseline": None, "rf_fraction": d, "tau": tau,
                         "seed": seed, "single_accuracy": value, "ensemble_accuracy": value + 0.2,
                         "agreement.mean": 0.1 * seed, "agreement_chance": 0.01})
    for d, values in {0.1: [0.58, 0.59, 0.61], 0.2: [0.71, 0.70, 0.72]}.items():
        for seed, value in enumerate(values, start=1):
            rows.append({"status": "ok", "baseline": "untrained", "rf_fraction": d, "tau": 10.0,
                         "seed": seed, "single_accuracy": value, "ensemble_accuracy": value,
                         "agreement.mean": 0.0, "agreement_chance": 0.01})
    rows.append({"status": "failed", "baseline": None, "rf_fraction": 0.1, "tau": 1.0,
                 "seed": 4, "single_accuracy": math.nan})
    return pd.DataFrame(rows)


def test_gains_are_paired_by_seed_against_untrained_with_the_same_d(guide, tmp_path):
    rows = guide.tau_table(_results())
    assert [(row["d"], row["tau"], row["seeds"]) for row in rows] == [
        (0.1, 0.1, 3), (0.1, 1.0, 3), (0.2, 1.0, 3)]  # the failed trial is left out
    by = {(row["d"], row["tau"]): row for row in rows}
    assert by[(0.1, 1.0)]["gain"].mean == pytest.approx((0.02 + 0.03 + 0.03) / 3)
    assert by[(0.1, 0.1)]["gain"].mean == pytest.approx((-0.03 - 0.03 - 0.01) / 3)
    assert by[(0.2, 1.0)]["gain"].mean == pytest.approx((-0.01 + 0.01 + 0.03) / 3)
    assert by[(0.2, 1.0)]["untrained"][0] == pytest.approx(0.71)
    mean, half = by[(0.1, 1.0)]["single_accuracy"]
    assert mean == pytest.approx(0.62) and half == pytest.approx(4.302653 * 0.02 / math.sqrt(3))
    raw = sorted(row["gain"].p for row in rows)
    assert sorted(row["p_holm"] for row in rows)[0] == pytest.approx(min(1.0, 3 * raw[0]))
    assert all(0 <= row["power"] <= 1 for row in rows)
    text = guide.markdown(rows, "toy", "cmd")
    assert "| 0.1 | 1 | 3 | 0.620 ± 0.050 | 0.593 ± 0.038 | +2.67" in text


def test_main_writes_the_table_and_figure(guide, tmp_path):
    pytest.importorskip("matplotlib")
    sweep = tmp_path / "toy_sweep"
    sweep.mkdir()
    _results().to_parquet(sweep / "results.parquet")
    assert guide.main([str(sweep), "--tables", str(tmp_path / "t"),
                       "--figures", str(tmp_path / "f")]) == 0
    assert "# τ × d: toy_sweep" in (tmp_path / "t" / "toy_sweep.md").read_text()
    assert (tmp_path / "f" / "toy_sweep.png").stat().st_size > 10_000
