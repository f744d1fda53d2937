"""One neural run end to end: recording, windows, per-area graph, training, decoding.

:func:`run_neural` is what ``graphens train --modality neural`` calls. Like
:func:`graphens.experiment.run` it writes, atomically, into ``out_dir``:

* ``results.json`` — configuration, stimulus decoding (per node and ensemble, kNN,
  agreement), chance level, frame (time-bin) decoding, data summary, graph metrics, timings;
* ``ensemble.pt`` — the graph (topology, per-area fields, positions) and the weights;
* ``checkpoint.pt`` — the training state (for ``resume``).

Baselines (``NeuralRunConfig.baseline``) use the same areas, graph and initialisation:
``closer`` trains with ``objective``; ``untrained`` decodes the random initialisation;
``supervised`` trains per-node softmax heads on the last bin; ``raw-input`` ("masked") decodes
each area's raw last-bin activity.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graphens.ensemble import Ensemble
from graphens.errors import GraphensError
from graphens.evaluate import decode
from graphens.experiment import RunIdentity
from graphens.graph import ensemble_graph
from graphens.io import atomic_torch_save, atomic_write_json
from graphens.neural.encoders import PAPER_DIM, PAPER_HIDDEN, time_distributed_mlp
from graphens.neural.objectives import (
    TEMPORAL_OBJECTIVES,
    LastBinSupervised,
    last_bin,
    make_temporal_objective,
)
from graphens.neural.recordings import NeuralData, Recording, make_windows, select_areas
from graphens.neural.synthetic import synthetic_population
from graphens.topology import make_topology, metrics, uses_positions
from graphens.train import TrainConfig, fingerprint, train

BASELINES = ("closer", "untrained", "supervised", "raw-input")
DATASET_KINDS = ("synthetic", "nwb:PATH", "allen:SESSION")


@dataclass
class NeuralRunConfig(RunIdentity):
    """Everything that defines a neural run (``graphens train --modality neural`` flags)."""

    dataset: str = "synthetic"  # synthetic | nwb:PATH | allen:SESSION
    dataset_params: dict[str, Any] = field(default_factory=dict)
    nodes: int | None = None  # keep the N areas with most units; None: all areas
    bins: int = 2
    topology: str = "all-to-all"
    topology_params: dict[str, Any] = field(default_factory=dict)
    objective: str = "temporal-closer"
    objective_params: dict[str, Any] = field(default_factory=dict)
    baseline: str = "closer"
    hidden: tuple[int, ...] = PAPER_HIDDEN
    dim: int = PAPER_DIM
    dropout: float = 0.0
    tau: float = 10.0  # temporal-contrastive only
    distance: str = "mean"  # temporal-contrastive only
    stop_gradient: str | None = None  # temporal-contrastive only
    frame_groups: int = 10
    decode_frames: bool = True
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise GraphensError(
                f"unknown baseline {self.baseline!r}; choose one of {', '.join(BASELINES)}.")
        if self.objective not in TEMPORAL_OBJECTIVES:
            raise GraphensError(
                f"unknown neural objective {self.objective!r}; choose one of "
                f"{', '.join(sorted(TEMPORAL_OBJECTIVES))}.")
        if self.stop_gradient == "none":
            self.stop_gradient = None
        self.hidden = tuple(int(h) for h in self.hidden)


def load_recording(spec: str, **params: Any) -> Recording:
    """Load a recording by spec: ``synthetic``, ``nwb:PATH`` or ``allen:SESSION``.

    ``params`` go to :func:`~graphens.neural.synthetic.synthetic_population`,
    :func:`~graphens.neural.nwb.load_nwb` or :func:`~graphens.neural.allen.load_allen`.
    """
    kind, _, rest = spec.partition(":")
    try:
        if kind == "synthetic" and not rest:
            return synthetic_population(**params)
        if kind == "nwb" and rest:
            from graphens.neural.nwb import load_nwb
            return load_nwb(rest, **params)
        if kind == "allen" and rest:
            from graphens.neural.allen import load_allen
            return load_allen(rest, **params)
    except TypeError as err:
        raise GraphensError(f"dataset {spec!r}: {err} (check --dataset-param names).") from None
    raise GraphensError(
        f"unknown neural dataset {spec!r}; use one of {', '.join(DATASET_KINDS)}.")


def prepare_data(config: NeuralRunConfig, recording: Recording | None = None) -> NeuralData:
    """The windows of a run: load, keep ``config.nodes`` areas, cut and split."""
    params = dict(config.dataset_params)
    split = params.pop("split", None)
    recording = recording or load_recording(config.dataset, **params)
    if config.nodes is not None:
        recording = select_areas(recording, max_areas=config.nodes)
    return make_windows(recording, config.bins, split=split, frame_groups=config.frame_groups)


def build_neural_ensemble(config: NeuralRunConfig, data: NeuralData) -> Ensemble:
    """One node per area, wired by ``config.topology`` (spatial ones on area positions)."""
    num_nodes = data.fields.num_nodes
    pos = data.fields.centers if uses_positions(config.topology) else None
    topology = make_topology(config.topology, num_nodes, seed=config.seed, pos=pos,
                             **config.topology_params)
    graph = ensemble_graph(topology, data.fields)
    graph.node_names = list(data.areas)
    factory = time_distributed_mlp(data.bins, config.hidden, config.dim, config.dropout)
    return Ensemble(graph, factory, seed=config.seed)


def _objective(config: NeuralRunConfig, data: NeuralData) -> torch.nn.Module:
    if config.baseline == "supervised":
        return LastBinSupervised(data.fields.num_nodes, config.dim, data.num_classes, data.bins)
    params = dict(config.objective_params)
    if config.objective == "temporal-contrastive":
        params = {"tau": config.tau, "distance": config.distance,
                  "stop_gradient": config.stop_gradient, **params}
    return make_temporal_objective(config.objective, data.bins, **params)


def majority_chance(y_train: Tensor, y_test: Tensor) -> float:
    """Test accuracy of always predicting the most frequent training label."""
    majority = int(torch.bincount(y_train).argmax())
    return float((y_test == majority).double().mean())


def embeddings(ensemble: Ensemble, x: Tensor, bins: int, raw: bool = False) -> Tensor:
    """``[N, n, D]`` last-bin embeddings (or, ``raw``, each area's raw last-bin input)."""
    if raw:
        views = ensemble.cpu().gather(x)  # [N, n, T·K]
        return views.reshape(views.shape[0], views.shape[1], bins, -1)[:, :, -1].contiguous()
    return last_bin(ensemble.embed(x), bins).contiguous()


def run_neural(config: NeuralRunConfig, out_dir: str | Path | None = None, *,
               resume: bool = False, progress: bool = True,
               recording: Recording | None = None) -> dict[str, Any]:
    """Train and decode one ensemble on neural data; return (and write) its results.

    Parameters
    ----------
    config : NeuralRunConfig
        The run.
    out_dir : path, optional
        Where ``results.json``, ``ensemble.pt`` and ``checkpoint.pt`` go; nothing is written
        when omitted.
    resume : bool
        Continue from ``out_dir/checkpoint.pt``.
    progress : bool
        Show a progress bar.
    recording : Recording, optional
        Use this recording instead of loading ``config.dataset``.

    Returns
    -------
    dict
        :func:`graphens.evaluate.decode`'s keys for the stimulus (``single_accuracy``,
        ``ensemble_accuracy``, ``per_node_accuracy``, ``knn_accuracy``, ``agreement`` ...),
        plus ``chance_accuracy`` (majority class), ``frame_decoding`` (same keys and its
        chance, on ``frame_groups`` time bins per stimulus), ``data``, ``graph_metrics``,
        ``loss_history`` and timings.
    """
    started = time.perf_counter()
    data = prepare_data(config, recording)
    ensemble = build_neural_ensemble(config, data)
    objective = _objective(config, data)
    trains = config.baseline in ("closer", "supervised")
    out = Path(out_dir) if out_dir is not None else None
    train_config = TrainConfig(epochs=config.epochs if trains else 0,
                               batch_size=config.batch_size, lr=config.lr, augment=False,
                               seed=config.seed, device=config.device, progress=progress)
    outcome = train(ensemble, objective, data.x_train, data.y_train, config=train_config,
                    checkpoint=out / "checkpoint.pt" if out is not None else None,
                    resume=resume, run_fingerprint=fingerprint(config.identity()))
    graph = ensemble.graph.cpu()
    raw = config.baseline == "raw-input"
    train_z = embeddings(ensemble, data.x_train, data.bins, raw)
    test_z = embeddings(ensemble, data.x_test, data.bins, raw)
    decoded = decode(train_z, data.y_train, test_z, data.y_test, edge_index=graph.edge_index,
                     seed=config.seed)
    results: dict[str, Any] = {
        "modality": "neural",
        "config": asdict(config),
        **decoded,
        "chance_accuracy": majority_chance(data.y_train, data.y_test),
    }
    if config.decode_frames:
        frames = decode(train_z, data.segment_train, test_z, data.segment_test, seed=config.seed)
        results["frame_decoding"] = {
            key: frames[key] for key in ("single_accuracy", "ensemble_accuracy",
                                         "per_node_accuracy", "knn_accuracy")}
        results["frame_decoding"]["chance_accuracy"] = majority_chance(data.segment_train,
                                                                       data.segment_test)
        results["frame_decoding"]["classes"] = data.frame_groups
    results.update({
        "data": data.summary(),
        "num_nodes": graph.num_nodes,
        "num_edges": int(graph.edge_index.shape[1]),
        "node_names": list(data.areas),
        "topology": graph.topology,
        "graph_metrics": metrics(graph, seed=config.seed),
        "receptive_field": {"kind": graph.receptive_field["kind"], "areas": list(data.areas),
                            "sizes": data.units_per_area, "bins": data.bins},
        "epochs_run": outcome.epochs_run,
        "loss_history": outcome.history,
        "train_seconds": outcome.train_seconds,
        "samples_per_second": outcome.samples_per_second,
        "total_seconds": time.perf_counter() - started,
        "device": str(next(ensemble.parameters()).device),
    })
    if out is not None:
        atomic_torch_save(out / "ensemble.pt", {"modality": "neural", "graph": graph,
                                               "state_dict": ensemble.state_dict(),
                                               "config": asdict(config)})
        atomic_write_json(out / "results.json", results)
    return results


def load_neural_ensemble(path: str | Path) -> tuple[Ensemble, NeuralRunConfig]:
    """Rebuild a trained neural ensemble from ``ensemble.pt`` written by :func:`run_neural`."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if saved.get("modality") != "neural":
        raise GraphensError(
            f"{path} was not written by a neural run; use graphens.experiment.load_ensemble.")
    config = NeuralRunConfig(**saved["config"])
    bins = int(saved["graph"].receptive_field["params"]["bins"])
    factory = time_distributed_mlp(bins, config.hidden, config.dim, config.dropout)
    ensemble = Ensemble(saved["graph"], factory, seed=config.seed)
    ensemble.load_state_dict(saved["state_dict"])
    return ensemble.eval(), config


def format_neural_summary(results: dict[str, Any], out: str) -> str:
    """The short table printed after a neural run."""
    config, data = results["config"], results["data"]
    frames = results.get("frame_decoding")
    rows = [
        ("dataset", f"{config['dataset']} ({len(data['areas'])} areas, {data['num_units']} "
                    f"units, windows of {data['bins']} bins)"),
        ("windows train/val/test", "/".join(str(data["windows"][s])
                                            for s in ("train", "val", "test"))),
        ("topology", f"{config['topology']} ({results['num_nodes']} nodes, "
                     f"{results['num_edges']} edges)"),
        ("objective", config["objective"] if config["baseline"] == "closer"
         else config["baseline"]),
        ("epochs", results["epochs_run"]),
        ("stimulus single / ensemble", f"{results['single_accuracy']:.4f} / "
                                       f"{results['ensemble_accuracy']:.4f}"),
        ("stimulus chance", f"{results['chance_accuracy']:.4f}"),
    ]
    if frames is not None:
        rows.append(("time bin single / ensemble (chance)",
                     f"{frames['single_accuracy']:.4f} / {frames['ensemble_accuracy']:.4f} "
                     f"({frames['chance_accuracy']:.4f})"))
    rows += [("train time", f"{results['train_seconds']:.1f} s"),
             ("results", f"{out}/results.json")]
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)
