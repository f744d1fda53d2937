"""benchmarks/paper.py: the specs per budget, a smoke run that resumes, the report's numbers."""

import math
import statistics
from pathlib import Path

import pandas as pd
import pytest

from graphens.errors import GraphensError
from graphens.sweep.spec import load_spec
from graphens.sweep.table import read_table


@pytest.fixture(scope="module")
def paper(load_benchmark):
    return load_benchmark("paper")


def _entries(spec):
    return {entry["label"]: entry for entry in spec["topologies"]}


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------


def test_quick_topologies_spec_is_the_papers_sparse_experiment(paper):
    spec = paper.build_spec("topologies", "fashion-mnist", "quick")
    fixed = spec["fixed"]
    assert fixed["tau"] == 0.1 and fixed["precision"] == "bf16" and fixed["epochs"] == 5
    assert fixed["max_train"] == 10000 and fixed["stop_gradient"] == "teacher"
    assert spec["axes"] == {"seed": [1, 2, 3]}
    entries = _entries(spec)
    assert list(entries) == ["G_N^k", "directed ring", "ring", "all-to-all", "untrained"]
    assert entries["G_N^k"]["name"] == "gnk" and entries["G_N^k"]["axes"] == {"k": [10, 20, 50]}
    assert entries["directed ring"]["params"] == {"laterals": 2}
    assert entries["ring"]["params"] == {"laterals": 1}
    trials = load_spec(spec).trials
    configs = {(t.label, t.config.topology_params.get("k")): t.config for t in trials}
    assert configs[("directed ring", None)].stop_gradient == "teacher"
    assert configs[("G_N^k", 50)].stop_gradient == "teacher"
    assert configs[("all-to-all", None)].stop_gradient is None
    assert configs[("untrained", None)].baseline == "untrained"
    assert configs[("untrained", None)].stop_gradient is None
    assert len(trials) == 7 * 3
    # the 20-edge graphs really have 20 edges at N 10 (method.md §2)
    from graphens.topology import make_topology

    for name, params in (("directed-ring", {"laterals": 2}), ("ring", {"laterals": 1})):
        assert make_topology(name, 10, seed=1, **params).edge_index.shape[1] == 20


def test_every_budget_and_figure_expands_to_the_planned_trials(paper):
    assert paper.trial_counts("digits", "smoke") == {
        "arms": 4, "d": 6, "nodes": 2, "topologies": 6, "vit": 10}
    assert paper.trial_counts("fashion-mnist", "quick") == {
        "arms": 12, "d": 36, "nodes": 12, "topologies": 21, "vit": 30}
    assert paper.trial_counts("cifar10", "full") == {
        "arms": 40, "d": 180, "nodes": 40, "topologies": 90, "vit": 180}


def test_full_budget_is_the_papers_protocol(paper):
    for figure in paper.FIGURES:
        spec = paper.build_spec(figure, "cifar10", "full")
        assert spec["axes"]["seed"] == list(range(1, 11))
        assert spec["fixed"]["tau"] == 10.0 and spec["fixed"]["epochs"] == 2000
        assert "max_train" not in spec["fixed"] and "precision" not in spec["fixed"]
    assert paper.build_spec("d", "cifar10", "full")["axes"]["rf_fraction"] == [
        0.05, 0.1, 0.15, 0.2, 0.3, 0.5]
    assert _entries(paper.build_spec("topologies", "cifar10", "full"))["G_N^k"]["axes"] == {
        "k": [10, 20, 30, 50, 70]}
    assert paper.parse_args(["--dataset", "cifar10", "--budget", "full"]).pack == "on"
    assert paper.parse_args(["--dataset", "cifar10", "--budget", "quick"]).pack == "auto"


def test_arms_d_nodes_vit_specs(paper):
    arms = load_spec(paper.build_spec("arms", "fashion-mnist", "quick")).trials
    assert {t.label: t.config.baseline for t in arms} == {
        "untrained": "untrained", "CLoSeR": "closer", "supervised": "supervised",
        "raw input": "raw-input"}
    config = arms[0].config
    assert (config.nodes, config.rf, config.rf_fraction, config.rf_params, config.hidden) == (
        10, "gaussian", 0.1, {"sigma": 2.0}, (1024, 512, 256))
    d = paper.build_spec("d", "fashion-mnist", "quick")
    assert d["axes"]["rf_fraction"] == [0.05, 0.1, 0.2, 0.4]
    assert list(_entries(d)) == ["CLoSeR", "supervised", "untrained"]
    assert paper.build_spec("nodes", "fashion-mnist", "quick")["axes"]["nodes"] == [2, 3, 5, 10]
    vit = load_spec(paper.build_spec("vit", "fashion-mnist", "quick")).trials
    assert {(t.config.encoder, t.config.rf_params["patch"]) for t in vit} == {("vit-lite", 4)}
    assert {t.config.rf for t in vit} == {"contiguous", "patches"}
    assert {t.config.rf_fraction for t in vit} == {0.1, 0.25}
    assert {t.label for t in vit} == {"CLoSeR", "untrained", "supervised"}
    assert {t.config.rf_fraction for t in vit if t.label == "supervised"} == {0.1}
    # 28x28 images cut into 4x4 patches: 49 tokens, d 0.1 keeps round(784 * 0.1 / 16) = 5
    from graphens.receptive_fields import sample_receptive_fields

    for kind in ("contiguous", "patches"):
        fields = sample_receptive_fields(kind, 2, 784, fraction=0.1, image_shape=(28, 28, 1),
                                         seed=1, patch=4)
        assert fields.mask.sum(1).tolist() == [5 * 16, 5 * 16]
    smoke = load_spec(paper.build_spec("vit", "digits", "smoke")).trials[0].config
    assert (smoke.dim, smoke.hidden, smoke.rf_params) == (16, (32, 16), {"patch": 2})


def test_bad_dataset_budget_pairs_are_one_line_argparse_errors(paper, capsys):
    for argv in (["--dataset", "fashion-mnist", "--budget", "smoke"],
                 ["--dataset", "digits", "--budget", "quick"]):
        with pytest.raises(SystemExit) as exit_:
            paper.parse_args(argv)
        assert exit_.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("paper.py: error: --budget")


def test_a_missing_dataset_fails_in_one_line_before_any_training(paper, tmp_path, monkeypatch,
                                                                 capsys):
    monkeypatch.setenv("GRAPHENS_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    out = tmp_path / "out"
    code = paper.main(["--dataset", "cifar10", "--budget", "quick", "--out", str(out),
                       "--tables", str(tmp_path / "t"), "--figures-dir", str(tmp_path / "f")])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("paper.py: error: CIFAR-10 files")
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# A smoke run on digits, and resuming it
# --------------------------------------------------------------------------------------------


def _mtimes(root):
    return {p: p.stat().st_mtime_ns for p in Path(root).rglob("results.json")}


def test_smoke_run_writes_tables_figures_summary_and_resumes(paper, tmp_path, capsys):
    out, tables, figures = tmp_path / "out", tmp_path / "tables", tmp_path / "figures"
    argv = ["--dataset", "digits", "--budget", "smoke", "--figures", "arms", "nodes",
            "--out", str(out), "--tables", str(tables), "--figures-dir", str(figures)]
    assert paper.main(argv) == 0
    for figure in ("arms", "nodes"):
        table = read_table(out / figure)
        assert (table["status"] == "ok").all()
        assert (tables / f"{figure}.md").is_file() and (tables / f"{figure}.csv").is_file()
        assert (figures / f"{figure}.png").read_bytes()[:4] == b"\x89PNG"
    assert len(read_table(out / "arms")) == 4 and len(read_table(out / "nodes")) == 2
    summary = (tables / "summary.md").read_text()
    for figure in paper.FIGURES:
        assert f"## {figure} (" in summary
    assert "Not run yet" in summary.split("## d (")[1]
    assert "The paper reports CIFAR-10 only" in summary
    assert "more nodes help: single accuracy rises with N: **" in summary
    arms = (tables / "arms.md").read_text()
    assert "| CLoSeR | 1 (1) |" in arms and "raw input" in arms
    before = _mtimes(out)
    assert len(before) == 6
    capsys.readouterr()
    # the same command again: every trial has results, none trains again
    assert paper.main(argv) == 0
    assert _mtimes(out) == before
    # report-only rebuilds from what finished
    (tables / "summary.md").unlink()
    assert paper.main([*argv, "--report-only"]) == 0
    assert (tables / "summary.md").is_file() and _mtimes(out) == before


def test_seed_by_seed_passes_resume_and_share_finished_trials(paper, tmp_path):
    spec = paper.build_spec("nodes", "digits", "smoke")
    spec["axes"].update({"seed": [1, 2], "nodes": [2]})
    first = tmp_path / "nodes"
    paper.run_figure("nodes", spec, first)
    table = read_table(first)
    assert sorted(table["seed"]) == [1, 2] and (table["status"] == "ok").all()
    before = _mtimes(first)
    paper.run_figure("nodes", spec, first)  # pass 1 has fewer seeds than the directory
    assert _mtimes(first) == before
    # another experiment with the same trials copies them instead of training
    other = {**spec, "name": "paper-other"}
    copy = tmp_path / "other"
    paper.run_figure("nodes", other, copy, siblings=[first])
    assert len(_mtimes(copy)) == 2 and _mtimes(first) == before
    assert sorted(read_table(copy)["single_accuracy"]) == sorted(table["single_accuracy"])
    # a directory holding another experiment is refused, as graphens.sweep does
    with pytest.raises(GraphensError, match="another spec"):
        paper.run_figure("nodes", {**spec, "name": "paper-third",
                                   "axes": {"seed": [3], "nodes": [2]}}, first)


# --------------------------------------------------------------------------------------------
# The report on hand-made tables
# --------------------------------------------------------------------------------------------


def _arms_table():
    rows = []
    # seed offsets much larger than the arm gaps: only a paired comparison sees them
    for seed, offset in ((1, 0.0), (2, 0.05), (3, -0.03)):
        for label, single, ensemble, agreement in (
                ("untrained", 0.55, 0.80, 0.008), ("CLoSeR", 0.60, 0.82, 0.60),
                ("supervised", 0.605, 0.85, 0.009), ("raw input", 0.50, 0.78, None)):
            bump = 0.01 * (seed - 2) if label == "CLoSeR" else 0.0
            rows.append({"status": "ok", "label": label, "seed": seed,
                         "single_accuracy": single + offset + bump,
                         "ensemble_accuracy": ensemble + offset,
                         "agreement.mean": agreement, "agreement_chance": 1 / 128,
                         "num_edges": 90})
    return pd.DataFrame(rows)


def test_point_table_and_paired_differences_by_hand(paper):
    from scipy import stats

    from graphens.stats import holm

    table = _arms_table()
    points = {row["label"]: row for row in paper.point_table(table, "arms")}
    closer = points["CLoSeR"]
    values = [0.59, 0.65, 0.58]  # 0.60 + offset + 0.01 * (seed - 2)
    assert closer["single_accuracy"] == pytest.approx(sum(values) / 3)
    half = stats.t.ppf(0.975, 2) * statistics.stdev(values) / math.sqrt(3)
    assert closer["single_accuracy.ci"] == pytest.approx(half)
    assert closer["seeds"] == 3 and closer["seed_list"] == [1, 2, 3]
    assert closer["agreement.mean"] == pytest.approx(0.60)
    assert "agreement.mean" not in points["raw input"]  # not measured: no column
    tests = paper.comparisons(table, "arms")
    by = {(t["comparison"], t["measure"]): t for t in tests}
    gain = by[("CLoSeR − untrained", "single_accuracy")]
    # differences 0.04, 0.05, 0.06 (the offsets cancel): mean 0.05, sd 0.01
    assert gain["diff"] == pytest.approx(0.05) and gain["n"] == 3
    t = 0.05 / (0.01 / math.sqrt(3))
    assert gain["p"] == pytest.approx(2 * stats.t.sf(t, 2))
    assert gain["ci_low"] <= 0.05 <= gain["ci_high"]
    assert by[("CLoSeR − supervised", "agreement.mean")]["diff"] == pytest.approx(0.591)
    assert [x["p_holm"] for x in tests] == pytest.approx(holm([x["p"] for x in tests]),
                                                         nan_ok=True)
    checks = {c["claim"].split(" (")[0]: c for c in paper.shape_checks(
        "arms", list(points.values()), tests)}
    assert checks["CLoSeR beats the untrained ensemble"]["holds"] is True
    assert checks["CLoSeR matches supervised, single node"]["holds"] is True  # -0.005
    assert checks["agreement far above chance"]["holds"] is True
    text = paper.figure_markdown("arms", list(points.values()), tests,
                                 list(checks.values()), "cifar10", 12, 12)
    line = next(x for x in text.splitlines() if x.startswith("| CLoSeR |"))
    assert line.endswith("| 0.432 | 0.621 |")  # the paper's CIFAR-10 numbers beside ours
    assert "| CLoSeR − untrained | single | 3 | +0.050 [" in text


def _sweep_table(key, series):
    """Rows of ``label`` at each ``key`` value over 3 seeds with the given single accuracies."""
    rows = []
    for seed, offset in ((1, 0.0), (2, 0.02), (3, -0.02)):
        for label, points in series.items():
            for value, single in points.items():
                rows.append({"status": "ok", "label": label, "seed": seed, key: value,
                             "single_accuracy": single + offset,
                             "ensemble_accuracy": single + 0.2 + offset, "num_edges": 90})
    return pd.DataFrame(rows)


def _checks(paper, figure, table):
    points = paper.point_table(table, figure)
    return points, {c["claim"].split(" (")[0].split(":")[0]: c for c in paper.shape_checks(
        figure, points, paper.comparisons(table, figure))}


def test_shape_checks_say_no_when_the_numbers_say_no(paper):
    falling = _sweep_table("nodes", {"CLoSeR": {2: 0.60, 3: 0.58, 5: 0.59, 10: 0.57}})
    _, checks = _checks(paper, "nodes", falling)
    assert checks["more nodes help"]["holds"] is False
    assert "N 2: 0.600, N 3: 0.580" in checks["more nodes help"]["detail"]
    rising = _sweep_table("nodes", {"CLoSeR": {2: 0.50, 3: 0.55, 5: 0.58, 10: 0.60}})
    assert _checks(paper, "nodes", rising)[1]["more nodes help"]["holds"] is True

    grows = _sweep_table("rf_fraction", {"CLoSeR": {0.05: 0.5, 0.1: 0.55, 0.4: 0.7},
                                              "supervised": {0.05: 0.6, 0.1: 0.65, 0.4: 0.8}})
    _, checks = _checks(paper, "d", grows)
    peak = checks["CLoSeR single peaks at small d"]
    assert peak["holds"] is False and "peak at d=0.4" in peak["detail"]
    assert checks["CLoSeR matches supervised at the smallest d"]["holds"] is False  # -0.1
    assert checks["supervised single keeps rising with d"]["holds"] is True
    peaks = _sweep_table("rf_fraction", {"CLoSeR": {0.05: 0.5, 0.1: 0.6, 0.4: 0.55},
                                              "supervised": {0.05: 0.5, 0.1: 0.65, 0.4: 0.6}})
    _, checks = _checks(paper, "d", peaks)
    assert checks["CLoSeR single peaks at small d"]["holds"] is True
    assert checks["CLoSeR matches supervised at the smallest d"]["holds"] is True
    assert checks["supervised single keeps rising with d"]["holds"] is False
    # the gain over untrained peaks at d 0.1 while absolute accuracy keeps rising
    gain = _sweep_table("rf_fraction", {"CLoSeR": {0.05: 0.52, 0.1: 0.60, 0.4: 0.72},
                                             "untrained": {0.05: 0.50, 0.1: 0.55, 0.4: 0.71}})
    _, checks = _checks(paper, "d", gain)
    assert checks["CLoSeR single peaks at small d"]["holds"] is False
    holds = checks["CLoSeR's single-node gain over untrained peaks at small d"]
    assert holds["holds"] is True and "peak at d=0.1" in holds["detail"]

    table = _sweep_table("topology_params.k",
                         {"G_N^k": {10: 0.50, 20: 0.56, 50: 0.60}})
    rest = _sweep_table("topology_params.k",
                        {"directed ring": {math.nan: 0.55}, "ring": {math.nan: 0.57},
                         "all-to-all": {math.nan: 0.62}, "untrained": {math.nan: 0.45}})
    table = pd.concat([table, rest], ignore_index=True)
    points, checks = _checks(paper, "topologies", table)
    rings = checks["rings with 20 edges beat random G_N^20"]
    assert rings["holds"] is False  # the directed ring is 1 point below G_N^20
    assert "directed ring − G_N^k, k 20: -0.010" in rings["detail"]
    sparse = checks["G_N^k nearly as good as all-to-all from k ≈ 50"]
    assert sparse["holds"] is False and "at k 50" in sparse["claim"]  # 2 points below
    names = [paper.point_name("topologies", row) for row in points]
    assert names[:3] == ["G_N^k, k 10", "G_N^k, k 20", "G_N^k, k 50"]
    assert paper.published_value("topologies", points[1], "single_accuracy") == 0.37

    at_chance = _arms_table()
    at_chance.loc[at_chance["label"] == "CLoSeR", "agreement.mean"] = 0.01
    points = paper.point_table(at_chance, "arms")
    checks = paper.shape_checks("arms", points, paper.comparisons(at_chance, "arms"))
    assert next(c for c in checks if c["claim"].startswith("agreement"))["holds"] is False


def test_report_on_hand_made_sweeps_draws_every_figure(paper, tmp_path, monkeypatch):
    """The figures and summary of all five experiments, CIFAR-10 published numbers included."""
    vit = []
    for rf in ("contiguous", "patches"):
        part = _sweep_table("rf_fraction", {"CLoSeR": {0.1: 0.5, 0.25: 0.55},
                                                   "untrained": {0.1: 0.45, 0.25: 0.5}})
        vit.append(part.assign(rf=rf))
    tables = {
        "arms": _arms_table(),
        "d": _sweep_table("rf_fraction", {"CLoSeR": {0.05: 0.5, 0.1: 0.6},
                                               "supervised": {0.05: 0.55, 0.1: 0.62}}),
        "nodes": _sweep_table("nodes", {"CLoSeR": {2: 0.5, 10: 0.6}}),
        "topologies": _sweep_table("topology_params.k",
                                   {"G_N^k": {20: 0.5}, "all-to-all": {math.nan: 0.6}}),
        "vit": pd.concat(vit, ignore_index=True),
    }
    import graphens.sweep.table as table_module

    monkeypatch.setattr(table_module, "read_table", lambda out: tables[Path(out).name])
    text = paper.report("cifar10", "quick", tmp_path / "out", tmp_path / "t", tmp_path / "f")
    for figure in paper.FIGURES:
        assert (tmp_path / "f" / f"{figure}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"[{figure}]({figure}.md)" in text
    assert "τ 0.1 replaces the paper's 10" in text
    vit_checks = [c for c in paper.shape_checks(
        "vit", paper.point_table(tables["vit"], "vit"), paper.comparisons(tables["vit"], "vit"))]
    assert [c["holds"] for c in vit_checks] == [True, True]


def test_gain_series_is_closer_minus_untrained_against_d(paper):
    table = _sweep_table("rf_fraction", {"CLoSeR": {0.1: 0.62, 0.4: 0.70},
                                         "untrained": {0.1: 0.58, 0.4: 0.69},
                                         "supervised": {0.1: 0.60, 0.4: 0.75}})
    tests = paper.comparisons(table, "d")
    series = paper.gain_series(tests, "CLoSeR − untrained", "single_accuracy")
    assert [d for d, _ in series] == [0.1, 0.4]
    assert [t["diff"] for _, t in series] == pytest.approx([0.04, 0.01])
    assert paper.gain_series(tests, "CLoSeR − supervised", "ensemble_accuracy")[1][1][
        "diff"] == pytest.approx(-0.05)
    assert paper.gain_series(tests, "CLoSeR − raw input", "single_accuracy") == []


def _png_width(path):
    return int.from_bytes(path.read_bytes()[16:20], "big")


def test_d_and_vit_figures_draw_the_gain_panel_only_with_an_untrained_arm(paper, tmp_path):
    with_untrained = _sweep_table("rf_fraction", {"CLoSeR": {0.1: 0.62, 0.4: 0.70},
                                                  "untrained": {0.1: 0.58, 0.4: 0.69}})
    without = _sweep_table("rf_fraction", {"CLoSeR": {0.1: 0.62, 0.4: 0.70},
                                           "supervised": {0.1: 0.58, 0.4: 0.69}})
    widths = {}
    for name, table in (("gain", with_untrained), ("plain", without)):
        points = paper.point_table(table, "d")
        image = paper.draw_figure("d", points, "fashion-mnist", tmp_path / f"{name}.png",
                                  paper.comparisons(table, "d"))
        widths[name] = _png_width(image)
    assert widths == {"gain": 1400, "plain": 1000}
    vit = pd.concat([with_untrained.assign(rf=rf) for rf in ("contiguous", "patches")],
                    ignore_index=True)
    image = paper.draw_figure("vit", paper.point_table(vit, "vit"), "fashion-mnist",
                              tmp_path / "vit.png", paper.comparisons(vit, "vit"))
    assert _png_width(image) == 1400
