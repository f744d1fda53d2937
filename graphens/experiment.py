"""One run end to end: data, graph, training, decoding, results on disk.

:func:`run` is what ``graphens train`` calls and what sweeps call once per trial. It writes
into ``out_dir``:

* ``results.json`` – the configuration, accuracies, agreement, compute and graph summary;
* ``ensemble.pt`` – the graph (topology and receptive fields) and the trained weights;
* ``checkpoint.pt`` – the training state after the last finished epoch (for ``resume``).

Every file is written atomically.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from graphens.data import Dataset, load_dataset
from graphens.encoders import make_encoder_factory
from graphens.ensemble import Ensemble
from graphens.errors import GraphensError
from graphens.evaluate import decode
from graphens.graph import ensemble_graph
from graphens.io import atomic_torch_save, atomic_write_json
from graphens.objectives import CLoSeRObjective, SupervisedObjective
from graphens.receptive_fields import ReceptiveFields, sample_receptive_fields
from graphens.topology import graph_decides_nodes, make_topology, metrics, uses_positions
from graphens.train import TrainConfig, fingerprint, train

BASELINES = ("closer", "untrained", "supervised", "raw-input")


class RunIdentity:
    """For run-config dataclasses: :meth:`identity` is what resume checks and sweep ids hash."""

    def identity(self) -> dict[str, Any]:
        """The fields that change the result (not the device), for resume checks."""
        config = asdict(self)  # type: ignore[call-overload]
        config.pop("device")
        return config


@dataclass
class RunConfig(RunIdentity):
    """Everything that defines a run; ``graphens train`` flags map one to one onto it."""

    dataset: str = "digits"
    topology: str = "all-to-all"
    topology_params: dict[str, Any] = field(default_factory=dict)
    nodes: int | None = 10  # None: the graph decides (connectome:NAME, file)
    rf: str = "gaussian"
    rf_fraction: float = 0.1
    rf_params: dict[str, Any] = field(default_factory=dict)
    encoder: str = "mlp"
    hidden: tuple[int, ...] = (1024, 512, 256)
    dim: int = 256
    dropout: float = 0.1
    tau: float = 10.0
    distance: str = "mean"
    stop_gradient: str | None = None
    baseline: str = "closer"
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    augment: bool = True
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise GraphensError(
                f"unknown baseline {self.baseline!r}; choose one of {', '.join(BASELINES)}.")
        if self.stop_gradient == "none":
            self.stop_gradient = None
        self.hidden = tuple(int(h) for h in self.hidden)


def build_ensemble(config: RunConfig, dataset: Dataset) -> Ensemble:
    """The graph (topology + receptive fields) and the encoders of a run, all seeded.

    Spatial families wire nodes by their receptive-field centres, so for them the fields are
    drawn first and their centres passed as ``pos``; otherwise the topology comes first and
    may decide N itself (connectomes, files).
    """
    if config.nodes is None and not graph_decides_nodes(config.topology):
        raise GraphensError(
            f"topology {config.topology!r} needs a node count: pass --nodes N.")
    if uses_positions(config.topology):
        fields = _fields(config, dataset, config.nodes)
        topology = make_topology(config.topology, config.nodes, seed=config.seed,
                                 pos=fields.centers, **config.topology_params)
    else:
        topology = make_topology(config.topology, config.nodes, seed=config.seed,
                                 **config.topology_params)
        fields = _fields(config, dataset, topology.num_nodes)
    graph = ensemble_graph(topology, fields)
    factory = make_encoder_factory(config.encoder, hidden=config.hidden, dim=config.dim,
                                   dropout=config.dropout)
    return Ensemble(graph, factory, seed=config.seed)


def _fields(config: RunConfig, dataset: Dataset, num_nodes: int) -> ReceptiveFields:
    return sample_receptive_fields(config.rf, num_nodes, dataset.num_signals,
                                   fraction=config.rf_fraction,
                                   image_shape=dataset.image_shape, seed=config.seed,
                                   **config.rf_params)


def run(config: RunConfig, out_dir: str | Path | None = None, *, resume: bool = False,
        progress: bool = True, dataset: Dataset | None = None) -> dict[str, Any]:
    """Train and decode one ensemble; return (and write) its results.

    Parameters
    ----------
    config : RunConfig
        The run.
    out_dir : path, optional
        Where ``results.json``, ``ensemble.pt`` and ``checkpoint.pt`` go; nothing is written
        when omitted.
    resume : bool
        Continue an interrupted run from ``out_dir/checkpoint.pt``.
    progress : bool
        Show a progress bar.
    dataset : Dataset, optional
        Use these data instead of loading ``config.dataset`` by name.
    """
    started = time.perf_counter()
    dataset = dataset or load_dataset(config.dataset)
    if config.baseline == "supervised" and dataset.y_train is None:
        raise GraphensError(f"dataset {dataset.name!r} has no training labels; the supervised "
                            "baseline needs them.")
    ensemble = build_ensemble(config, dataset)
    out = Path(out_dir) if out_dir is not None else None
    objective = (SupervisedObjective(config.nodes, config.dim, dataset.num_classes)
                 if config.baseline == "supervised" else
                 CLoSeRObjective(config.tau, config.distance, config.stop_gradient))
    trains = config.baseline in ("closer", "supervised")
    train_config = TrainConfig(epochs=config.epochs if trains else 0,
                               batch_size=config.batch_size, lr=config.lr,
                               augment=config.augment, seed=config.seed, device=config.device,
                               progress=progress)
    outcome = train(ensemble, objective, dataset.x_train, dataset.y_train, config=train_config,
                    image_shape=dataset.image_shape,
                    checkpoint=out / "checkpoint.pt" if out is not None else None,
                    resume=resume, run_fingerprint=fingerprint(config.identity()))

    graph = ensemble.graph.cpu()
    if config.baseline == "raw-input":
        # The readout applied directly to each node's raw (masked) input signals.
        train_z = ensemble.cpu().gather(dataset.x_train)
        test_z = ensemble.gather(dataset.x_test)
    else:
        train_z = ensemble.embed(dataset.x_train)
        test_z = ensemble.embed(dataset.x_test)
    decoded = decode(train_z, dataset.y_train, test_z, dataset.y_test,
                     edge_index=graph.edge_index, seed=config.seed)
    results = {
        "config": asdict(config),
        **decoded,
        "num_nodes": graph.num_nodes,
        "num_edges": int(graph.edge_index.shape[1]),
        "topology": graph.topology,
        "graph_metrics": metrics(graph, seed=config.seed),
        "receptive_field": {**graph.receptive_field,
                            "sizes": graph.rf_mask.sum(1).tolist()},
        "epochs_run": outcome.epochs_run,
        "loss_history": outcome.history,
        "train_seconds": outcome.train_seconds,
        "samples_per_second": outcome.samples_per_second,
        "total_seconds": time.perf_counter() - started,
        "device": str(next(ensemble.parameters()).device),
    }
    if out is not None:
        atomic_torch_save(out / "ensemble.pt", {"graph": graph, "state_dict":
                                               ensemble.state_dict(), "config": asdict(config)})
        atomic_write_json(out / "results.json", results)
    return results


def load_ensemble(path: str | Path) -> tuple[Ensemble, RunConfig]:
    """Rebuild a trained ensemble from ``ensemble.pt`` written by :func:`run`."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    config = RunConfig(**saved["config"])
    factory = make_encoder_factory(config.encoder, hidden=config.hidden, dim=config.dim,
                                   dropout=config.dropout)
    ensemble = Ensemble(saved["graph"], factory, seed=config.seed)
    ensemble.load_state_dict(saved["state_dict"])
    return ensemble.eval(), config
