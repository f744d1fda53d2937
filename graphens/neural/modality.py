"""The neural modality: one node per brain area, windows of time bins, temporal objectives.

:class:`NeuralModality` is what :func:`graphens.experiment.run` uses for neural datasets
(``synthetic``, ``nwb:PATH``, ``allen:SESSION``). Baselines use the same areas, graph and
initialisation: ``closer`` trains with ``config.objective``; ``untrained`` decodes the random
initialisation; ``supervised`` trains per-node softmax heads on the last bin; ``raw-input``
("masked") decodes each area's raw last-bin activity. Decoding reads the last bin's embedding;
besides the stimulus it decodes the time bin of the movie (``frame_decoding``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from graphens.config import RunConfig
from graphens.ensemble import Ensemble
from graphens.errors import GraphensError
from graphens.evaluate import decode
from graphens.graph import ensemble_graph
from graphens.modality import Modality
from graphens.neural.encoders import time_distributed_mlp
from graphens.neural.objectives import LastBinSupervised, last_bin, make_temporal_objective
from graphens.neural.recordings import NeuralData, Recording, make_windows, select_areas
from graphens.topology import make_topology, uses_positions


def load_recording(spec: str, **params: Any) -> Recording:
    """Load a recording by spec: ``synthetic``, ``nwb:PATH`` or ``allen:SESSION``.

    ``params`` go to the dataset's loader (:mod:`graphens.datasets`):
    :func:`~graphens.neural.synthetic.synthetic_population`, :func:`~graphens.neural.nwb.load_nwb`
    or :func:`~graphens.neural.allen.load_allen`.
    """
    from graphens.datasets import dataset_entry

    entry, argument = dataset_entry(spec)
    if entry.modality != "neural":
        raise GraphensError(f"dataset {spec!r} is {entry.modality} data, not a recording.")
    loader = entry.load_function()
    try:
        return loader(argument, **params) if entry.argument else loader(**params)
    except TypeError as err:
        raise GraphensError(f"dataset {spec!r}: {err} (check --dataset-param names).") from None


def majority_chance(y_train: Tensor, y_test: Tensor) -> float:
    """Test accuracy of always predicting the most frequent training label."""
    majority = int(torch.bincount(y_train).argmax())
    return float((y_test == majority).double().mean())


class NeuralModality(Modality):
    """Population recordings: per-area fields, the per-bin MLP, temporal objectives."""

    name = "neural"

    def load(self, config: RunConfig, given: Any = None) -> NeuralData:
        """The windows of a run: load, keep ``config.nodes`` areas, cut and split."""
        params = dict(config.dataset_params)
        split = params.pop("split", None)
        if given is not None and not isinstance(given, Recording):
            raise GraphensError(
                f"dataset= must be a graphens.neural.Recording for a neural run, not "
                f"{type(given).__name__}; build one with graphens.neural.from_arrays(...).")
        recording = given if given is not None else load_recording(config.dataset, **params)
        if config.nodes is not None:
            recording = select_areas(recording, max_areas=config.nodes)
        return make_windows(recording, config.bins, split=split,
                            frame_groups=config.frame_groups)

    def graph(self, config: RunConfig, data: NeuralData) -> Any:
        """One node per area, wired by ``config.topology`` (spatial ones on area positions)."""
        num_nodes = data.fields.num_nodes
        pos = data.fields.centers if uses_positions(config.topology) else None
        topology = make_topology(config.topology, num_nodes, seed=config.seed, pos=pos,
                                 **config.topology_params)
        graph = ensemble_graph(topology, data.fields)
        graph.node_names = list(data.areas)
        return graph

    def planned_size(self, config: RunConfig, data: NeuralData) -> tuple[int | None, int]:
        return data.fields.num_nodes, int(data.fields.index.shape[1])

    def encoder_factory(self, config: RunConfig, graph: Any) -> Callable[[int], nn.Module]:
        bins = config.bins if graph is None else int(
            graph.receptive_field["params"].get("bins", config.bins))
        return time_distributed_mlp(bins, config.hidden, config.dim, config.dropout)

    def objective(self, config: RunConfig, data: NeuralData, graph: Any) -> nn.Module:
        if config.baseline == "supervised":
            return LastBinSupervised(graph.num_nodes, config.dim, data.num_classes, data.bins)
        params = dict(config.objective_params)
        if config.objective == "temporal-contrastive":
            params = {"tau": config.tau, "distance": config.distance,
                      "stop_gradient": config.stop_gradient, **params}
        return make_temporal_objective(config.objective, data.bins, **params)

    def features(self, config: RunConfig, ensemble: Ensemble, x: Tensor) -> Tensor:
        """``[N, n, D]`` last-bin embeddings (raw-input: each area's raw last-bin input)."""
        bins = config.bins
        if config.baseline == "raw-input":
            views = ensemble.cpu().gather(x)  # [N, n, T·K]
            return views.reshape(views.shape[0], views.shape[1], bins, -1)[:, :, -1].contiguous()
        return last_bin(ensemble.embed(x), bins).contiguous()

    def extra_results(self, config: RunConfig, data: NeuralData, train_z: Tensor,
                      test_z: Tensor, progress: bool) -> dict[str, Any]:
        results: dict[str, Any] = {
            "chance_accuracy": majority_chance(data.y_train, data.y_test),
            "data": data.summary(),
            "node_names": list(data.areas),
            "receptive_field": {"kind": "areas", "areas": list(data.areas),
                                "sizes": data.units_per_area, "bins": data.bins},
        }
        if config.decode_frames:
            frames = decode(train_z, data.segment_train, test_z, data.segment_test,
                            seed=config.seed, progress=progress)
            results["frame_decoding"] = {
                key: frames[key] for key in ("single_accuracy", "ensemble_accuracy",
                                             "per_node_accuracy", "knn_accuracy")}
            results["frame_decoding"]["chance_accuracy"] = majority_chance(
                data.segment_train, data.segment_test)
            results["frame_decoding"]["classes"] = data.frame_groups
            results["frame_decoding"]["warnings"] = frames.get("warnings", [])
        return results

    def summary_rows(self, results: dict[str, Any]) -> list[tuple[str, str]]:
        data, frames = results["data"], results.get("frame_decoding")
        rows = [("recording", f"{len(data['areas'])} areas, {data['num_units']} units, "
                              f"windows of {data['bins']} bins"),
                ("windows train/val/test", "/".join(str(data["windows"][s])
                                                    for s in ("train", "val", "test"))),
                ("stimulus chance", f"{results['chance_accuracy']:.4f}")]
        if frames is not None:
            rows.append(("time bin single / ensemble (chance)",
                         f"{frames['single_accuracy']:.4f} / {frames['ensemble_accuracy']:.4f} "
                         f"({frames['chance_accuracy']:.4f})"))
        return rows
