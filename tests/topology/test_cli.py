"""`graphens topology list|show` and the topology flags of `graphens train`."""

import json

import pytest

from graphens.cli import main

TINY = ["--hidden", "32", "--dim", "16", "--rf-fraction", "0.25", "--epochs", "1", "--quiet"]


def test_list_names_families_with_parameters(capsys):
    assert main(["topology", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")
             and line.split()}
    assert "all-to-all" in lines
    assert "laterals=1" in lines["ring"]
    assert "k=None" in lines["gnk"]
    assert "connectome:" in out
    assert "--topology-file" in out


def test_show_json_ring(capsys):
    assert main(["topology", "show", "ring", "--nodes", "8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["nodes"] == 8
    assert result["edges"] == 16
    assert result["reciprocity"] == 1.0


def test_show_table_and_params(capsys):
    assert main(["topology", "show", "directed-ring", "laterals=1", "--nodes", "6"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("directed-ring: 6 nodes, 6 edges")
    assert "characteristic_path_length" in out


def test_show_writes_a_png(tmp_path, capsys):
    path = tmp_path / "plots" / "gnk.png"
    assert main(["topology", "show", "gnk", "k=12", "--nodes", "6", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in path.parent.iterdir() if p.name != "gnk.png"]  # no temp file left
    assert str(path) in capsys.readouterr().out


@pytest.mark.parametrize("plot", ["/proc/graphens.png", "/dev/null/x.png", "DIR"])
def test_show_refuses_an_unwritable_plot_before_any_work(plot, tmp_path, capsys):
    plot = str(tmp_path) if plot == "DIR" else plot
    assert main(["topology", "show", "ring", "--plot", plot]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphens: error: --plot") and err.count("\n") == 1


def test_show_spatial_family_gets_positions(tmp_path, capsys):
    path = tmp_path / "knn.png"
    assert main(["topology", "show", "knn", "--nodes", "12", "--image", "16x16",
                 "--plot", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"] == 12
    assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args,message", [
    (["show", "hypercube"], "unknown topology 'hypercube'"),
    (["show", "gnk", "k=1000", "--nodes", "5"], "k=1000"),
    (["show", "ring", "width=3"], "width"),
    (["show", "ring", "laterals"], "key=value"),
    (["show", "knn", "--image", "big"], "--image"),
])
def test_show_bad_input_exits_2(args, message, capsys):
    assert main(["topology", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


class Captured(Exception):
    """Raised by the fake run to hand the config back to the test."""


@pytest.fixture
def captured_config(monkeypatch):
    import graphens.experiment

    def fake_run(config, *args, **kwargs):
        raise Captured(config)

    monkeypatch.setattr(graphens.experiment, "run", fake_run)

    def train(*args):
        with pytest.raises(Captured) as caught:
            main(["train", *args])
        return caught.value.args[0]
    return train


def test_train_flags_map_onto_the_config(captured_config):
    config = captured_config("--topology-file", "g.csv", "--map", "degree:5",
                             "--normalize", "student")
    assert config.topology == "file"
    assert config.topology_params == {"path": "g.csv", "map": "degree:5",
                                      "normalize": "student"}
    assert config.nodes is None  # the file decides N
    assert captured_config("--topology", "connectome:celegans").nodes is None
    assert captured_config("--topology", "ring").nodes == 10
    default = captured_config()
    assert (default.topology, default.nodes, default.topology_params) == ("all-to-all", 10, {})
    assert captured_config("--topology-file", "g.csv", "--nodes", "7").nodes == 7


@pytest.mark.parametrize("args,message", [
    (["--topology", "ring", "--topology-file", "g.csv"], "only one"),
    (["--topology-file", "g.csv", "--topology-param", "path=h.csv"], "once"),
    (["--topology", "ring", "--map", "all"], "--map"),
])
def test_train_conflicting_topology_flags_exit_2(args, message, tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_train_bad_normalize_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--normalize", "softmax"])
    assert exit_info.value.code == 2
    assert "softmax" in capsys.readouterr().err


def test_train_from_topology_file_end_to_end(tmp_path, capsys):
    edges = tmp_path / "edges.csv"
    edges.write_text("source,target,weight\n0,1,1\n1,2,1\n2,3,1\n3,0,1\n0,2,0.5\n")
    out = tmp_path / "run"
    assert main(["train", *TINY, "--topology-file", str(edges), "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["num_nodes"] == 4
    assert results["num_edges"] == 5
    assert results["config"]["topology"] == "file"
