"""Sweeps end to end on digits with tiny ensembles: table, resume, failures, refusals, CLI."""

import argparse
import json
import shutil
import time

import pytest

import graphens
from graphens.errors import GraphensError
from graphens.sweep import executors
from graphens.sweep.api import sweep
from graphens.sweep.spec import load_spec
from graphens.sweep.table import read_table, table_path

TINY = {"dataset": "digits", "hidden": [32], "dim": 16, "epochs": 1, "nodes": 4}
SPEC = {"name": "two-by-two", "keep": "all", "fixed": TINY, "axes": {"seed": [0, 1]},
        "topologies": ["ring", {"name": "gnk", "label": "G_N^k", "stop_gradient": "teacher",
                                "params": {"k": 8}}]}


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """The 2 topologies x 2 seeds sweep, run once with the local (in-process) executor."""
    out = tmp_path_factory.mktemp("sweep") / "two-by-two"
    table = graphens.sweep(SPEC, out, workers=1, progress=False)
    return out, table


@pytest.fixture
def copy(done, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(done[0], target)
    return target


@pytest.fixture
def calls(monkeypatch):
    """Ids of the trials the (sequential) local executor runs."""
    ran = []
    original = executors.run_payload

    def counting(payload):
        ran.extend(member["id"] for member in payload.get("members", [payload]))
        return original(payload)

    monkeypatch.setattr(executors, "run_payload", counting)
    return ran


def test_two_topologies_two_seeds_give_one_row_per_trial(done):
    out, table = done
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    assert set(table["label"]) == {"ring", "G_N^k"}
    for column in ("id", "topology", "seed", "stop_gradient", "topology_params.k",
                   "graph.density", "graph.reciprocity", "graph.global_efficiency",
                   "num_edges", "loss_flops_per_step", "train_seconds", "samples_per_second",
                   "seconds_per_epoch", "single_accuracy", "ensemble_accuracy",
                   "per_node_accuracy", "knn_accuracy.single", "knn_accuracy.ensemble",
                   "agreement.mean", "alignment.mean"):
        assert column in table.columns, column
    assert (table["num_edges"] == 8).all()
    assert (table["loss_flops_per_step"] == 6 * 8 * 128**2 * 16).all()
    assert (table["ensemble_accuracy"] > 0.3).all()
    assert table_path(out).exists()
    saved = read_table(out)
    assert list(saved["id"]) == list(table["id"]) == load_spec(SPEC).ids
    record = json.loads((out / "spec.json").read_text())
    assert record["trials"] == list(table["id"])
    for trial in table["id"]:
        assert (out / "trials" / trial / "results.json").exists()
        assert (out / "trials" / trial / "trial.json").exists()


def test_rerun_runs_nothing(copy, calls):
    before = {p: p.stat().st_mtime_ns for p in copy.glob("trials/*/results.json")}
    table = sweep(SPEC, copy, workers=1, progress=False)
    assert calls == [] and len(table) == 4
    assert {p: p.stat().st_mtime_ns for p in copy.glob("trials/*/results.json")} == before


def test_rerun_completes_only_the_missing_trial(copy, calls, done):
    ids = list(done[1]["id"])
    (copy / "trials" / ids[2] / "results.json").unlink()
    assert sweep(SPEC, copy, workers=1, progress=False)["status"].eq("ok").all()
    assert calls == [ids[2]]


def test_killed_trial_resumes_from_its_checkpoint(copy, calls, done):
    """kill -9 mid-trial leaves a checkpoint, maybe a temp file, and no results.json."""
    ids = list(done[1]["id"])
    folder = copy / "trials" / ids[1]
    original = json.loads((folder / "results.json").read_text())
    (folder / "results.json").unlink()
    (folder / "ensemble.pt").unlink()
    (folder / ".results.json.abc123.tmp").write_text("{half a fi")
    table = sweep(SPEC, copy, workers=1, progress=False)
    assert calls == [ids[1]]
    resumed = json.loads((folder / "results.json").read_text())
    # training was not repeated (the time is the checkpoint's) and the decoding is the same
    assert resumed["train_seconds"] == original["train_seconds"]
    assert resumed["ensemble_accuracy"] == original["ensemble_accuracy"]
    assert set(table["status"]) == {"ok"}


def test_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path):
    spec = {"name": "fails", "fixed": TINY, "topologies": [
        {"name": "gnk", "params": {"k": 100}}, "ring"]}
    table = sweep(spec, tmp_path / "fails", workers=1, progress=False)
    assert list(table["status"]) == ["failed", "ok"]
    assert "k=100" in table["error"].iloc[0]
    error = json.loads((tmp_path / "fails" / "trials" / table["id"].iloc[0] /
                        "error.json").read_text())
    assert "GraphensError" in error["error"] and "Traceback" in error["traceback"]


def test_another_spec_is_refused_unless_forced(copy, calls):
    bigger = {**SPEC, "axes": {"seed": [0, 1, 2]}}
    with pytest.raises(GraphensError, match="another spec.*--force"):
        sweep(bigger, copy, workers=1, progress=False)
    assert calls == []
    table = sweep(bigger, copy, workers=1, progress=False, force=True)
    assert len(calls) == 2 and len(table) == 6 and set(table["status"]) == {"ok"}


def test_non_sweep_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(GraphensError, match="not a sweep directory"):
        sweep(SPEC, tmp_path, workers=1, progress=False)


def test_executor_options_are_checked(tmp_path):
    with pytest.raises(GraphensError, match="--executor ray"):
        sweep(SPEC, tmp_path / "a", address="10.0.0.1:6379", progress=False)
    with pytest.raises(GraphensError, match="unknown executor 'slurm'"):
        sweep(SPEC, tmp_path / "b", executor="slurm", progress=False)
    with pytest.raises(GraphensError, match="workers=0"):
        sweep(SPEC, tmp_path / "c", workers=0, progress=False)


def test_process_pool(tmp_path):
    spec = {**SPEC, "axes": {"seed": [3]}, "keep": "results"}
    table = sweep(spec, tmp_path / "pool", workers=2, progress=False)
    assert list(table["status"]) == ["ok", "ok"]
    for trial in table["id"]:
        assert sorted(p.name for p in (tmp_path / "pool" / "trials" / trial).iterdir()) == [
            "results.json", "run.json", "trial.json"]


def cli(argv):
    from graphens.cli import subparser
    from graphens.sweep.cli import add_parsers

    parser = argparse.ArgumentParser(prog="graphens")
    add_parsers(parser.add_subparsers(dest="command", required=True), subparser)
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_sweep_and_report(copy, tmp_path, capsys):
    spec_file = tmp_path / "two-by-two.json"
    spec_file.write_text(json.dumps(SPEC))
    assert cli(["sweep", str(spec_file), "--out", str(copy), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "4 trials: 4 ok, 0 failed" in printed.out
    warned = sum(int(w) > 0 for w in read_table(copy)["warnings"])
    assert (f"{warned} trial(s) finished with warnings" in printed.err) == (warned > 0)
    assert "UserWarning" not in printed.err  # trial warnings stay in the table
    assert cli(["report", str(copy), "--compare", "ring", "G_N^k"]) == 0
    printed = capsys.readouterr().out
    assert "report.md" in printed and "accuracy_vs_edges.png" in printed
    summary = (copy / "report" / "report.md").read_text()
    assert "| G_N^k | ring | 8/8 |" in summary
    assert (copy / "report" / "accuracy_vs_edges.png").stat().st_size > 1000
    with pytest.raises(GraphensError, match="does not exist"):
        cli(["sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "x")])


def test_kill_9_then_rerun_completes_only_the_missing_trials(tmp_path, calls):
    import os
    import signal
    import subprocess
    import sys

    spec = {**SPEC, "axes": {"seed": [10, 11, 12]}, "keep": "results"}
    out = tmp_path / "killed"
    code = ("import json, sys, graphens; "
            "graphens.sweep(json.loads(sys.argv[1]), sys.argv[2], workers=1, progress=False)")
    child = subprocess.Popen([sys.executable, "-c", code, json.dumps(spec), str(out)])
    deadline = time.monotonic() + 120
    while not list(out.glob("trials/*/results.json")) and time.monotonic() < deadline:
        if child.poll() is not None:
            break
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("trials/*/results.json")}
    assert 1 <= len(finished) < 6
    table = sweep(spec, out, workers=1, progress=False)
    assert set(table["status"]) == {"ok"} and len(table) == 6
    assert sorted(calls) == sorted(set(table["id"]) - set(finished))
    assert {k: (out / "trials" / k / "results.json").stat().st_mtime_ns
            for k in finished} == finished


def test_ray_requested_but_not_installed(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(GraphensError, match=r"needs Ray.*pip install"):
        sweep(SPEC, tmp_path / "r", executor="ray", progress=False)
    assert not (tmp_path / "r" / "spec.json").exists()


def test_table_is_csv_without_pyarrow_and_parquet_with_it(copy, monkeypatch):
    from graphens.sweep import table as table_module

    monkeypatch.setattr(table_module, "has_parquet", lambda: False)
    sweep(SPEC, copy, workers=1, progress=False)
    assert (copy / "results.csv").exists() and not (copy / "results.parquet").exists()
    csv_table = read_table(copy)
    assert len(csv_table) == 4 and set(csv_table["status"]) == {"ok"}
    monkeypatch.undo()
    sweep(SPEC, copy, workers=1, progress=False)
    assert (copy / "results.parquet").exists() and not (copy / "results.csv").exists()
    parquet = read_table(copy)
    assert list(parquet["id"]) == list(csv_table["id"])
    assert parquet["ensemble_accuracy"].tolist() == pytest.approx(
        csv_table["ensemble_accuracy"].tolist())


def test_a_neural_sweep_runs(tmp_path):
    spec = {"name": "neural", "keep": "results",
            "fixed": {"dataset": "synthetic", "epochs": 1, "batch_size": 16,
                      "dataset_params": {"areas": 3, "units": 6, "frames": 8, "trials": 5}},
            "topologies": ["ring", "all-to-all"]}
    table = sweep(spec, tmp_path / "neural", workers=1, progress=False)
    rows = table.to_dict("records") if hasattr(table, "to_dict") else table
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert [r["num_nodes"] for r in rows] == [3, 3]
    results = json.loads(next((tmp_path / "neural" / "trials").glob("*/results.json"))
                         .read_text())
    assert results["modality"] == "neural" and "frame_decoding" in results
    # the temporal-CLoSeR loss is not the contrastive formula: its FLOPs are unknown, not wrong
    assert all(r["loss_flops_per_step"] is None or r["loss_flops_per_step"] != r[
        "loss_flops_per_step"] for r in rows)
    assert all(isinstance(r["warnings"], int) for r in rows)


def test_packed_and_one_by_one_sweeps_give_the_same_table(tmp_path, calls):
    """pack="on" trains the two topologies of each seed as one fleet; with dropout off the
    rows equal those of pack="off" (to float tolerance), one row per trial either way."""
    spec = {**SPEC, "name": "packed", "fixed": {**TINY, "dropout": 0.0}}
    loaded = load_spec(spec)
    payloads = graphens.sweep.api.packed_payloads(tmp_path, loaded, loaded.trials, pack="on")
    assert sorted(len(p.get("members", [p])) for p in payloads) == [2, 2]
    # auto packs only trials that train on a GPU
    cpu = {**spec, "fixed": {**spec["fixed"], "device": "cpu"}}
    loaded_cpu = load_spec(cpu)
    assert all("members" not in p for p in graphens.sweep.api.packed_payloads(
        tmp_path, loaded_cpu, loaded_cpu.trials))
    packed = sweep(spec, tmp_path / "auto", workers=1, progress=False, pack="on")
    alone = sweep(spec, tmp_path / "off", workers=1, progress=False, pack="off")
    assert sorted(calls) == sorted(list(packed["id"]) * 2)
    packed, alone = packed.set_index("id"), alone.set_index("id")
    assert set(packed["status"]) == {"ok"} and len(packed) == 4
    assert packed["final_loss"].to_numpy() == pytest.approx(
        alone.loc[packed.index, "final_loss"].to_numpy(), rel=1e-4)
    # a fleet's probes are solved batched, so float rounding may flip a test digit or two
    for column in ("single_accuracy", "ensemble_accuracy"):
        assert packed[column].to_numpy() == pytest.approx(
            alone.loc[packed.index, column].to_numpy(), abs=0.006), column
    with pytest.raises(GraphensError, match="pack='some'"):
        graphens.sweep.api.packed_payloads(tmp_path, loaded, loaded.trials, pack="some")


def test_measures_become_columns_over_edges_and_non_edges(tmp_path):
    spec = {"name": "measured", "fixed": TINY, "measures": {"max_samples": 200},
            "topologies": ["ring"]}
    table = sweep(spec, tmp_path / "measured", workers=1, progress=False)
    row = table.iloc[0]
    assert row["status"] == "ok"
    trial = tmp_path / "measured" / "trials" / row["id"]
    saved = json.loads((trial / "measures.json").read_text())
    assert saved["samples"] == 200
    for name in ("cka", "alignment", "agreement"):
        for which in ("edges", "non_edges", "all_pairs"):
            assert row[f"measures.{name}.{which}"] == pytest.approx(
                saved["summary"][name][which]), (name, which)
    assert 0.0 <= row["measures.cka.non_edges"] <= 1.0
    # The spec records the option, so the directory is recognised again.
    assert load_spec(json.loads((tmp_path / "measured" / "spec.json").read_text())["spec"]
                     ).measures == {"max_samples": 200}


@pytest.mark.parametrize(("measures", "match"), [
    ({"samples": 5}, "unknown key"), ({"max_samples": 1}, ">= 2"), ("yes", "true, false")])
def test_bad_measures_options_are_refused(measures, match):
    with pytest.raises(GraphensError, match=match):
        load_spec({"fixed": TINY, "measures": measures})


def test_a_bad_member_does_not_fail_its_fleet(tmp_path):
    """A fleet whose member raises runs its members one by one: only the bad one fails."""
    spec = {"name": "fails-packed", "fixed": TINY, "topologies": [
        {"name": "gnk", "params": {"k": 100}}, "ring"]}
    table = sweep(spec, tmp_path / "fails", workers=1, progress=False, pack="on")
    assert list(table["status"]) == ["failed", "ok"]
