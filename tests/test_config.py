"""RunConfig: defaults resolved from the dataset and the modality, every field checked."""

from dataclasses import asdict

import pytest

from graphens.config import MODALITY_DEFAULTS, RunConfig
from graphens.datasets import DATASETS, DatasetEntry, dataset_entry, register_dataset
from graphens.errors import GraphensError


def test_unset_fields_take_the_datasets_then_the_modalitys_defaults():
    digits = RunConfig()
    assert (digits.dataset, digits.modality) == ("digits", "vision")
    assert (digits.rf_fraction, digits.tau, digits.epochs) == (0.5, 0.01, 10)  # the dataset's
    assert digits.hidden == MODALITY_DEFAULTS["vision"]["hidden"]  # the modality's (paper)
    assert digits.nodes == 10 and digits.bins is None
    fashion = RunConfig(dataset="fashion-mnist")
    assert (fashion.rf_fraction, fashion.epochs) == (0.1, 20)  # the paper's
    # vision's: the paper's tau 10 trains nothing at CPU budgets, so images (MNIST, CIFAR
    # and a user's own arrays alike) start at 0.1
    assert fashion.tau == RunConfig(dataset="mnist").tau == RunConfig(dataset="cifar10").tau == 0.1
    assert RunConfig(dataset="mnist", tau=10.0).tau == 10.0  # the paper's, one argument away
    explicit = RunConfig(tau=1.0, epochs=3)
    assert (explicit.tau, explicit.epochs, explicit.rf_fraction) == (1.0, 3, 0.5)


def test_neural_defaults_and_dataset_params_merge_over_the_recommended():
    config = RunConfig(modality="neural", dataset_params={"noise": 1.0})
    assert config.dataset == "synthetic" and config.hidden == (32, 32) and config.dim == 32
    assert config.dataset_params == {"noise": 1.0, "rate": 2.0, "trials": 15}
    assert config.rf is None and config.augment is None and config.bins == 2
    assert RunConfig(dataset="synthetic").modality == "neural"


def test_a_resolved_config_round_trips_through_asdict():
    for config in (RunConfig(), RunConfig(modality="neural"),
                   RunConfig(topology="connectome:celegans-white1986",
                             topology_params={"map": "degree:6"})):
        assert RunConfig(**asdict(config)) == config
    assert RunConfig(topology="connectome:celegans-white1986").nodes is None  # graph decides


@pytest.mark.parametrize("fields,message", [
    ({"epochs": 1.5}, "epochs=1.5 is not valid: it must be an integer"),
    ({"epochs": -1}, "epochs=-1"),
    ({"seed": 2**70}, "seeds are 63-bit"),
    ({"seed": -1}, "seed=-1"),
    ({"tau": float("nan")}, "tau=nan"),
    ({"tau": 0}, "tau=0"),
    ({"lr": float("inf")}, "lr=inf"),
    ({"nodes": 1}, "at least 2 nodes"),
    ({"nodes": True}, "nodes=True"),
    ({"rf_fraction": 1.5}, "rf_fraction=1.5"),
    ({"dropout": 1.0}, "dropout=1.0"),
    ({"hidden": (32, 0)}, "hidden=(32, 0)"),
    ({"batch_size": 1}, "batches of at least 2"),
    ({"baseline": "oracle"}, "baseline='oracle'"),
    ({"stop_gradient": "both"}, "stop_gradient='both'"),
    ({"dataset": "cifar-1000"}, "unknown dataset 'cifar-1000'; known: digits"),
    ({"dataset": "nwb"}, "needs its PATH"),
    ({"modality": "audio"}, "modality='audio'"),
    ({"modality": "neural", "dataset": "digits"}, "is vision data but modality='neural'"),
    ({"bins": 3}, "bins=3 applies to neural runs"),
    ({"modality": "neural", "rf_fraction": 0.1}, "rf_fraction=0.1 applies to vision runs"),
    ({"modality": "neural", "topology": "connectome:celegans-white1986"}, "recorded areas"),
    ({"objective": "lpl"}, "not a vision objective"),
    ({"topology": "hypercube"}, "unknown topology 'hypercube'"),
    ({"topology": "gnk", "topology_params": {"q": 1}}, "no parameter(s) ['q']"),
    ({"rf": "hexagons"}, "hexagons"),
    ({"encoder": "transformer-xl"}, "transformer-xl"),
])
def test_every_bad_field_is_one_error_when_the_config_is_made(fields, message):
    with pytest.raises(GraphensError) as err:
        RunConfig(**fields)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_differences_name_the_fields():
    old, new = RunConfig(), RunConfig(tau=1.0, seed=3)
    assert new.differences(old) == ["seed: 0 -> 3", "tau: 0.01 -> 1.0"]
    assert new.differences(asdict(old), ignore=("device", "seed")) == ["tau: 0.01 -> 1.0"]


def test_a_registered_dataset_brings_its_defaults():
    entry = DatasetEntry("tiny-digits", "vision", "graphens.data:digits",
                         defaults={"tau": 0.5, "epochs": 2})
    register_dataset(entry)
    try:
        assert dataset_entry("Tiny_Digits") == (entry, None)
        config = RunConfig(dataset="tiny-digits")
        assert (config.tau, config.epochs, config.rf_fraction) == (0.5, 2, 0.1)
    finally:
        DATASETS.pop("tiny-digits")
