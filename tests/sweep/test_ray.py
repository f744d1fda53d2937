"""Sweeps on Ray: a local Ray instance runs the same trials; a dead cluster fails fast."""

import socket

import pytest
import ray  # in the test extra: CI runs these sweeps on a real local Ray instance

from graphens.errors import GraphensError
from graphens.sweep.api import sweep
from graphens.sweep.spec import load_spec

TINY = {"dataset": "digits", "hidden": [32], "dim": 16, "epochs": 1, "nodes": 4}
SPEC = {"name": "two-by-two", "keep": "results", "fixed": TINY, "axes": {"seed": [0, 1]},
        "topologies": ["ring", {"name": "gnk", "label": "G_N^k", "stop_gradient": "teacher",
                                "params": {"k": 8}}]}


def test_two_topologies_two_seeds_on_a_local_ray_instance(tmp_path):
    table = sweep(SPEC, tmp_path / "ray", executor="ray", workers=1, progress=False,
                  resources={"cpus": 1, "retries": 0})
    assert not ray.is_initialized()  # the instance this sweep started is shut down
    assert list(table["id"]) == load_spec(SPEC).ids
    assert set(table["status"]) == {"ok"} and (table["ensemble_accuracy"] > 0.3).all()
    assert (table["num_edges"] == 8).all()


def test_unreachable_cluster_fails_fast_with_a_clear_message(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GraphensError, match="unreachable.*ray start --head"):
        sweep(SPEC, tmp_path / "dead", executor="ray", address=f"127.0.0.1:{port}",
              progress=False)
