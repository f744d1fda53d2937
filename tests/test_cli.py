"""`graphens train` end to end, and its handling of bad input (exit 2, no traceback)."""

import json

import pytest
import torch

from graphens.cli import main, parse_params

TINY = ["--hidden", "32", "--dim", "16", "--nodes", "4", "--rf-fraction", "0.25",
        "--epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def test_train_writes_results_and_ensemble(trained_run, capsys):
    results = json.loads((trained_run / "results.json").read_text())
    for key in ("config", "single_accuracy", "ensemble_accuracy", "per_node_accuracy",
                "knn_accuracy", "agreement", "num_edges", "train_seconds",
                "samples_per_second"):
        assert key in results, key
    assert len(results["per_node_accuracy"]) == 4
    assert results["num_edges"] == 12
    assert len(results["agreement"]["per_edge"]) == 12
    assert 0.0 <= results["single_accuracy"] <= 1.0
    assert results["ensemble_accuracy"] > 0.3  # digits, 10 classes: far above chance
    saved = torch.load(trained_run / "ensemble.pt", weights_only=False)
    assert saved["graph"].rf_index.shape[0] == 4
    assert saved["config"]["nodes"] == 4


def test_resume_after_completion_trains_nothing_more(trained_run, capsys):
    assert main(["train", *TINY, "--out", str(trained_run), "--resume"]) == 0
    results = json.loads((trained_run / "results.json").read_text())
    assert results["epochs_run"] == 1


def test_resume_with_other_config_is_refused(trained_run, capsys):
    code = main(["train", *TINY, "--seed", "5", "--out", str(trained_run), "--resume"])
    assert code == 2
    assert "different configuration" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--topology", "hypercube"], "unknown topology 'hypercube'"),
    (["--topology", "gnk", "--topology-param", "k=1000"], "k=1000"),
    (["--topology-param", "k"], "key=value"),
    (["--rf-fraction", "1.5"], "1.5"),
    (["--rf-fraction", "0.001"], "fraction"),
    (["--nodes", "1"], "at least 2"),
    (["--dataset", "cifar-1000"], "cifar-1000"),
    (["--rf", "hexagons"], "hexagons"),
    (["--encoder", "transformer-xl"], "transformer-xl"),
    (["--hidden", "12,x"], "comma-separated"),
    (["--batch-size", "1"], "batch_size=1"),
    (["--device", "tpu:9"], "device"),
])
def test_bad_input_exits_2_with_a_message(args, message, tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_parse_params():
    assert parse_params(["k=20", "p=0.5", "name=abc", "flag=true"], "--x") == {
        "k": 20, "p": 0.5, "name": "abc", "flag": True}
