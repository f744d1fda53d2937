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
    assert "stimulus single / ensemble" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["--dataset", "eeg"], "unknown neural dataset 'eeg'"),
    (["--dataset-param", "colour=3"], "colour"),
    (["--bins", "1"], "bins >= 2"),
    (["--dataset-param", "trials=3"], "test set empty"),
    (["--bins", "9"], "longer than trial"),
    (["--topology-file", "x.csv"], "recorded areas"),
    (["--nodes", "1"], "max_areas=1"),
])
def test_neural_bad_input_exits_2(args, message, tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_dataset_param_is_refused_for_vision(tmp_path, capsys):
    assert main(["train", "--dataset-param", "areas=3", "--out", str(tmp_path)]) == 2
    assert "--modality neural" in capsys.readouterr().err
