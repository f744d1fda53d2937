"""`graphens train` end to end, its defaults, and bad input (exit 2, one line, no compute)."""

import json
import re
from dataclasses import asdict

import pytest
import torch

from graphens.cli import build_parser, main, parse_params, train_config
from graphens.config import RunConfig
from graphens.experiment import run

TINY = ["--hidden", "32", "--dim", "16", "--nodes", "4", "--epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def _files(out):
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def test_train_writes_results_and_ensemble(trained_run):
    results = json.loads((trained_run / "results.json").read_text())
    for key in ("config", "single_accuracy", "ensemble_accuracy", "per_node_accuracy",
                "knn_accuracy", "agreement", "num_edges", "train_seconds",
                "samples_per_second", "warnings", "modality"):
        assert key in results, key
    assert len(results["per_node_accuracy"]) == 4
    assert results["num_edges"] == 12
    assert len(results["agreement"]["per_edge"]) == 12
    assert results["ensemble_accuracy"] > 0.3  # digits, 10 classes: far above chance
    saved = torch.load(trained_run / "ensemble.pt", weights_only=False)
    assert saved["graph"].rf_index.shape[0] == 4
    assert saved["config"]["nodes"] == 4


def test_the_cli_and_the_python_api_build_the_same_config():
    args = build_parser().parse_args(["train", "--epochs", "3"])
    assert train_config(args) == RunConfig(epochs=3)
    args = build_parser().parse_args(["train", "--modality", "neural"])
    assert train_config(args) == RunConfig(modality="neural")


def test_the_cli_and_the_python_api_give_the_same_accuracies(trained_run, tmp_path):
    config = RunConfig(hidden=(32,), dim=16, nodes=4, epochs=1)
    results = run(config, tmp_path, progress=False)
    cli = json.loads((trained_run / "results.json").read_text())
    assert cli["config"] == json.loads(json.dumps(asdict(config)))
    for key in ("single_accuracy", "ensemble_accuracy", "loss_history"):
        assert results[key] == cli[key], key


def test_resume_after_completion_trains_nothing_more(trained_run, capsys):
    assert main(["train", *TINY, "--out", str(trained_run), "--resume"]) == 0
    results = json.loads((trained_run / "results.json").read_text())
    assert results["epochs_run"] == 1


def test_resume_extends_the_epochs(tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path)]) == 0
    args = ["--hidden", "32", "--dim", "16", "--nodes", "4", "--epochs", "2"]
    assert main(["train", *args, "--out", str(tmp_path), "--resume"]) == 0
    assert re.search(r"resuming from epoch 1 of 2", capsys.readouterr().err)
    assert json.loads((tmp_path / "results.json").read_text())["epochs_run"] == 2


def test_another_run_in_out_is_refused_and_its_files_are_kept(trained_run, capsys):
    before = _files(trained_run)
    for extra in ([], ["--resume"]):
        code = main(["train", *TINY, "--seed", "5", "--out", str(trained_run), *extra])
        assert code == 2
        err = capsys.readouterr().err
        assert "holds another run (seed: 0 -> 5)" in err and "--overwrite" in err
    assert _files(trained_run) == before


def test_rerunning_the_same_run_needs_resume_or_overwrite(trained_run, capsys):
    before = _files(trained_run)
    assert main(["train", *TINY, "--out", str(trained_run)]) == 2
    assert "already holds this run" in capsys.readouterr().err
    assert _files(trained_run) == before


def test_overwrite_replaces_the_run(tmp_path):
    assert main(["train", *TINY, "--out", str(tmp_path)]) == 0
    assert main(["train", *TINY, "--seed", "3", "--out", str(tmp_path), "--overwrite"]) == 0
    assert json.loads((tmp_path / "results.json").read_text())["config"]["seed"] == 3


@pytest.mark.parametrize("damage", [b"", b"garbage, not a checkpoint", "truncate"])
def test_a_damaged_checkpoint_is_one_line_and_deletes_nothing(tmp_path, capsys, damage):
    assert main(["train", *TINY, "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    checkpoint = tmp_path / "checkpoint.pt"
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2] if damage == "truncate" else damage)
    before = _files(tmp_path)
    assert main(["train", *TINY[:-3], "--epochs", "2", "--quiet", "--out", str(tmp_path),
                 "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint" in err and "Traceback" not in err
    assert _files(tmp_path) == before


@pytest.mark.parametrize("args,message", [
    (["--topology", "hypercube"], "unknown topology 'hypercube'"),
    (["--topology", "gnk", "--topology-param", "k=1000"], "k=1000"),
    (["--topology-param", "k"], "key=value"),
    (["--rf-fraction", "1.5"], "1.5"),
    (["--rf-fraction", "0.001"], "fraction"),
    (["--nodes", "1"], "at least 2"),
    (["--nodes", "100000"], "GiB"),
    (["--dataset", "cifar-1000"], "cifar-1000"),
    (["--rf", "hexagons"], "hexagons"),
    (["--encoder", "transformer-xl"], "transformer-xl"),
    (["--hidden", "12,x"], "comma-separated"),
    (["--batch-size", "1"], "batch_size=1"),
    (["--device", "tpu:9"], "device"),
    (["--seed", str(2**70)], "seeds are 63-bit"),
    (["--tau", "nan"], "tau=nan"),
    (["--dataset-param", "areas=3"], "does not take the argument(s) areas"),
    (["--bins", "3"], "applies to neural runs"),
])
def test_bad_input_exits_2_with_one_line(args, message, tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("out", ["/proc/graphens-x", "/dev/null/x", "FILE"])
def test_an_unwritable_out_fails_before_training(out, tmp_path, capsys):
    if out == "FILE":
        out = tmp_path / "file"
        out.write_text("x")
    assert main(["train", *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphens: error: --out") and err.count("\n") == 1


def test_supervised_on_a_connectome_trains(tmp_path):
    args = ["--baseline", "supervised", "--topology", "connectome:celegans-white1986",
            "--map", "degree:6", "--hidden", "32", "--dim", "16", "--epochs", "1", "--quiet"]
    assert main(["train", *args, "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["num_nodes"] == 6 and results["config"]["nodes"] is None


def test_training_that_learns_nothing_warns_on_one_line(tmp_path, capsys):
    assert main(["train", *TINY, "--tau", "1e6", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("graphens: warning:")]
    assert any("tau=1e+06" in line for line in lines)
    assert any("did not fall" in line for line in lines)
    saved = json.loads((tmp_path / "results.json").read_text())["warnings"]
    assert any("did not fall" in w for w in saved)


def test_abbreviated_flags_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--epoch", "2", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --epoch" in capsys.readouterr().err


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--batch-size", "--lr", "--seed", "--out", "--device", "--distance"):
        assert re.search(re.escape(flag) + r".*?\(default: ", text), flag
    for flag in ("--tau", "--epochs", "--rf-fraction", "--hidden", "--dim", "--nodes"):
        assert re.search(re.escape(flag) + r" \S+ .{0,160}?default", text), flag


def test_parse_params():
    assert parse_params(["k=20", "p=0.5", "name=abc", "flag=true"], "--x") == {
        "k": 20, "p": 0.5, "name": "abc", "flag": True}


def test_precision_is_recorded_and_unsupported_bf16_fails_before_training(tmp_path, capsys,
                                                                          monkeypatch):
    import graphens.train as train_module

    monkeypatch.setattr(train_module, "bf16_supported", lambda device: False)
    assert main(["train", *TINY, "--precision", "bf16", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "needs native bfloat16" in err and err.count("\n") == 1
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # nothing written
    monkeypatch.undo()
    if train_module.bf16_supported(torch.device("cpu")):
        assert main(["train", *TINY, "--precision", "bf16", "--out", str(tmp_path)]) == 0
        saved = json.loads((tmp_path / "results.json").read_text())
        assert saved["config"]["precision"] == "bf16"
