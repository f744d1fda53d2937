"""`graphens train --modality neural`: results.json, topology options, bad input."""

import json

import pytest

from graphens.cli import main

TINY = ["--modality", "neural", "--dataset-param", "areas=3", "--dataset-param", "units=6",
        "--dataset-param", "frames=8", "--dataset-param", "trials=5", "--epochs", "1",
        "--batch-size", "16", "--quiet"]


def test_neural_train_writes_results(tmp_path, capsys):
    args = ["--topology", "knn", "--topology-param", "k=1", "--out", str(tmp_path)]
    assert main(["train", *TINY, *args]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["modality"] == "neural"
    assert results["config"]["hidden"] == [32, 32] and results["config"]["dim"] == 32
    assert results["topology"]["family"] == "knn"
    assert results["topology"]["positions"] == "given"  # the areas' positions
    for key in ("single_accuracy", "ensemble_accuracy", "chance_accuracy", "frame_decoding",
                "graph_metrics", "agreement"):
        assert key in results
    out = capsys.readouterr().out
    assert "stimulus chance" in out and "time bin single / ensemble" in out


@pytest.mark.parametrize("args,message", [
    (["--dataset", "eeg"], "unknown dataset 'eeg'"),
    (["--dataset-param", "colour=3"], "colour"),
    (["--bins", "1"], "bins >= 2"),
    (["--dataset-param", "trials=3"], "test set empty"),
    (["--bins", "9"], "longer than trial"),
    (["--topology-file", "x.csv"], "recorded areas"),
    (["--nodes", "1"], "at least 2 nodes"),
])
def test_neural_bad_input_exits_2(args, message, tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_neural_demo_defaults_are_the_registrys(tmp_path):
    from graphens.cli import build_parser, train_config
    from graphens.config import RunConfig

    config = train_config(build_parser().parse_args(["train", "--dataset", "synthetic"]))
    assert config == RunConfig(modality="neural")
    assert config.dataset_params == {"noise": 0.5, "rate": 2.0, "trials": 15}
