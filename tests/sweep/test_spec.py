"""Sweep specs: reading, checking (bad input names itself), expansion and stable trial ids."""

import json

import pytest

from graphens.errors import GraphensError
from graphens.sweep.spec import load_spec, trial_id

TINY = {"dataset": "digits", "hidden": [32], "dim": 16, "epochs": 1, "nodes": 4}


def spec(**overrides):
    base = {"name": "t", "fixed": dict(TINY), "axes": {"seed": [0, 1]},
            "topologies": ["ring", {"name": "gnk", "axes": {"k": [4, 8]}}]}
    base.update(overrides)
    return base


def test_expansion_is_the_product_per_topology_entry():
    loaded = load_spec(spec())
    assert len(loaded.trials) == 2 + 2 * 2
    ring = [t for t in loaded.trials if t.config.topology == "ring"]
    assert [t.config.seed for t in ring] == [0, 1]
    gnk = [t.config.topology_params["k"] for t in loaded.trials if t.label == "gnk"]
    assert sorted(gnk) == [4, 4, 8, 8]
    assert all(t.config.hidden == (32,) and t.config.nodes == 4 for t in loaded.trials)
    # digits: the dataset defaults of `graphens train` apply to fields the spec leaves unset
    assert loaded.trials[0].config.rf_fraction == 0.5 and loaded.trials[0].config.tau == 0.01


def test_entry_overrides_replace_global_axes_and_labels_name_series():
    loaded = load_spec(spec(
        axes={"seed": [0, 1], "stop_gradient": ["none", "teacher"]},
        topologies=[{"name": "all-to-all", "label": "a2a", "stop_gradient": "none"},
                    {"name": "ring", "axes": {"baseline": ["closer", "untrained"]}}]))
    a2a = [t for t in loaded.trials if t.label == "a2a"]
    assert len(a2a) == 2 and all(t.config.stop_gradient is None for t in a2a)
    ring = [t for t in loaded.trials if t.label == "ring"]
    assert len(ring) == 2 * 2 * 2
    assert {t.config.baseline for t in ring} == {"closer", "untrained"}


def test_ids_are_stable_and_depend_on_the_config_only():
    a = load_spec(spec())
    b = load_spec(json.loads(json.dumps(spec(name="other"))))
    assert a.ids == b.ids
    assert len(set(a.ids)) == len(a.ids)
    assert all(len(i) == 12 for i in a.ids)
    # same config given with an int for a float field, or through an alias: same id
    c = load_spec(spec(fixed={**TINY, "tau": 1}, axes={"seeds": [0]}, topologies=["ring"]))
    d = load_spec(spec(fixed={**TINY, "tau": 1.0}, axes={"seed": [0]}, topologies=["ring"]))
    assert c.ids == d.ids
    # the device does not change the result, the data subset does
    e = load_spec(spec(fixed={**TINY, "tau": 1.0, "device": "cpu"}, axes={"seed": [0]},
                       topologies=["ring"]))
    f = load_spec(spec(fixed={**TINY, "tau": 1.0, "max_train": 100}, axes={"seed": [0]},
                       topologies=["ring"]))
    assert e.ids == d.ids and f.ids != d.ids
    assert trial_id(d.trials[0].config) == d.ids[0]


def test_duplicate_trials_are_run_once():
    loaded = load_spec(spec(topologies=["ring", "ring"]))
    assert len(loaded.trials) == 2 and loaded.duplicates == 2


def test_reads_toml_yaml_and_json(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('[fixed]\ndataset = "digits"\nhidden = [32]\n[axes]\nseed = [0, 1]\n'
                    '[[topologies]]\nname = "gnk"\nlabel = "G_N^k"\n'
                    'stop_gradient = "teacher"\n[topologies.axes]\nk = [10, 20]\n')
    loaded = load_spec(toml)
    assert loaded.name == "s" and len(loaded.trials) == 4
    assert all(t.config.stop_gradient == "teacher" for t in loaded.trials)
    yaml_text = "fixed: {dataset: digits, hidden: [32]}\naxes: {seed: [0, 1]}\n" \
                "topologies:\n  - name: gnk\n    label: G_N^k\n    stop_gradient: teacher\n" \
                "    axes: {k: [10, 20]}\n"
    (tmp_path / "s.yaml").write_text(yaml_text)
    assert load_spec(tmp_path / "s.yaml").ids == loaded.ids
    (tmp_path / "s.json").write_text(json.dumps(loaded.spec))
    assert load_spec(tmp_path / "s.json").ids == loaded.ids


@pytest.mark.parametrize("bad, words", [
    ({"axis": {}}, ["'axis'", "fixed", "axes"]),
    ({"axes": {"sede": [0]}}, ["'sede'", "seed", "rf_fraction"]),
    ({"axes": {"seed": []}}, ["axes.seed", "empty"]),
    ({"axes": {"seed": 3}}, ["axes.seed", "list"]),
    ({"axes": {"rf_fraction": [0.1, 1.5]}}, ["axes.rf_fraction[1]", "1.5", "(0, 1]"]),
    ({"axes": {"baseline": ["closer", "trained"]}}, ["'trained'", "untrained"]),
    ({"axes": {"rf": ["gauss"]}}, ["'gauss'", "gaussian"]),
    ({"fixed": {"dataset": "emnist"}}, ["'emnist'", "fashion-mnist"]),
    ({"fixed": {"topology": "ring"}}, ["topologies"]),
    ({"topologies": []}, ["topologies", "empty"]),
    ({"topologies": ["rinng"]}, ["'rinng'", "ring"]),
    ({"topologies": [{"name": "gnk", "params": {"kk": 3}}]}, ["'kk'", "gnk", "k"]),
    ({"topologies": [{"name": "gnk", "axes": {"kk": [3]}}]}, ["'kk'", "k", "seed"]),
    ({"topologies": [{"name": "ring", "params": {"normalize": "max"}}]}, ["'max'", "sum"]),
    ({"keep": "nothing"}, ["'nothing'", "results"]),
    ({"resources": {"tpus": 1}}, ["tpus", "cpus"]),
])
def test_bad_specs_name_the_problem(bad, words):
    with pytest.raises(GraphensError) as err:
        load_spec(spec(**bad))
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_bad_files(tmp_path):
    with pytest.raises(GraphensError, match="does not exist"):
        load_spec(tmp_path / "missing.toml")
    (tmp_path / "s.txt").write_text("x")
    with pytest.raises(GraphensError, match="suffix"):
        load_spec(tmp_path / "s.txt")
    (tmp_path / "broken.toml").write_text("[fixed\n")
    with pytest.raises(GraphensError, match="cannot parse"):
        load_spec(tmp_path / "broken.toml")


@pytest.mark.parametrize("name,text", [("empty.toml", ""), ("empty.yaml", ""),
                                       ("empty.yml", "# nothing\n"), ("empty.json", "{}"),
                                       ("named.toml", 'name = "only-a-name"\n')])
def test_an_empty_spec_of_any_format_is_an_error(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(GraphensError, match="empty|mapping"):
        load_spec(tmp_path / name)


def test_specs_resolve_defaults_like_the_config_and_take_neural_datasets():
    from graphens.config import RunConfig

    loaded = load_spec({"fixed": {"dataset": "synthetic", "epochs": 2},
                        "topologies": ["ring", "all-to-all"]})
    assert [t.config for t in loaded.trials] == [
        RunConfig(dataset="synthetic", epochs=2, topology=name) for name in ("ring",
                                                                           "all-to-all")]
    assert loaded.trials[0].config.modality == "neural"
    with pytest.raises(GraphensError, match="max_train.*neural"):
        load_spec({"fixed": {"dataset": "synthetic", "max_train": 10}})
