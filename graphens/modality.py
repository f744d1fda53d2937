"""Modalities: what differs between a vision run and a neural run, behind one small interface.

:func:`graphens.experiment.run` drives every run the same way and asks the run's modality
(:func:`get_modality`) for the five things that differ:

* ``load(config, given)`` — the data: an object with ``x_train``, ``y_train``, ``x_test``,
  ``y_test`` (flat rows ``[n, S]``, integer labels or ``None``);
* ``graph(config, data)`` — the ensemble graph (topology + receptive fields);
* ``encoder_factory(config, graph)`` — each node's encoder, ``factory(in_features) -> Module``;
* ``objective(config, data, graph)`` and ``transform(config, data)`` — what is minimised and
  the augmentation applied to each batch (or ``None``);
* ``features(config, ensemble, x)`` — the ``[N, n, D]`` features that are decoded, and
  ``extra_results`` / ``summary_rows`` for what only this modality reports.

A new modality is one subclass of :class:`Modality` and one entry of :data:`MODALITIES` (and
its datasets' entries in :mod:`graphens.datasets`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from graphens.config import RunConfig
from graphens.ensemble import Ensemble
from graphens.errors import GraphensError
from graphens.graph import ensemble_graph
from graphens.topology import graph_decides_nodes, make_topology, uses_positions


class Modality:
    """The interface :func:`graphens.experiment.run` calls; see the module docstring."""

    name = ""

    def load(self, config: RunConfig, given: Any = None) -> Any:
        raise NotImplementedError

    def graph(self, config: RunConfig, data: Any) -> Any:
        raise NotImplementedError

    def planned_size(self, config: RunConfig, data: Any) -> tuple[int | None, int]:
        """``(N, K)`` the graph will have, known before it is built (N ``None``: the graph
        decides), for the memory check."""
        raise NotImplementedError

    def encoder_factory(self, config: RunConfig, graph: Any) -> Callable[[int], nn.Module]:
        raise NotImplementedError

    def objective(self, config: RunConfig, data: Any, graph: Any) -> nn.Module:
        raise NotImplementedError

    def transform(self, config: RunConfig, data: Any) -> Callable | None:
        return None

    def features(self, config: RunConfig, ensemble: Ensemble, x: Tensor) -> Tensor:
        """``[N, n, D]`` embeddings of ``x`` (raw-input baseline: each node's raw input)."""
        if config.baseline == "raw-input":
            device = ensemble.graph.rf_index.device
            return ensemble.gather(x.to(device)).cpu()
        return ensemble.embed(x)

    def extra_results(self, config: RunConfig, data: Any, train_z: Tensor, test_z: Tensor,
                      progress: bool) -> dict[str, Any]:
        return {}

    def summary_rows(self, results: dict[str, Any]) -> list[tuple[str, str]]:
        return []


class VisionModality(Modality):
    """Images (or any flat signals): receptive fields of pixels, the paper's MLP, augmentation."""

    name = "vision"

    def load(self, config: RunConfig, given: Any = None) -> Any:
        from graphens.data import Dataset, load_dataset

        if given is not None:
            if not isinstance(given, Dataset):
                raise GraphensError(
                    f"dataset= must be a graphens.data.Dataset for a vision run, not "
                    f"{type(given).__name__}; build one with graphens.data.from_arrays(...).")
            return given
        return load_dataset(config.dataset, **config.dataset_params)

    def graph(self, config: RunConfig, data: Any) -> Any:
        """Topology and receptive fields, seeded. Spatial families wire nodes by their
        receptive-field centres, so for them the fields are drawn first."""
        from graphens.receptive_fields import sample_receptive_fields

        if config.nodes is None and not graph_decides_nodes(config.topology):
            raise GraphensError(
                f"topology {config.topology!r} needs a node count: pass --nodes N.")

        def fields(num_nodes: int) -> Any:
            return sample_receptive_fields(config.rf, num_nodes, data.num_signals,
                                           fraction=config.rf_fraction,
                                           image_shape=data.image_shape, seed=config.seed,
                                           **config.rf_params)

        if uses_positions(config.topology):
            drawn = fields(config.nodes)
            topology = make_topology(config.topology, config.nodes, seed=config.seed,
                                     pos=drawn.centers, **config.topology_params)
        else:
            topology = make_topology(config.topology, config.nodes, seed=config.seed,
                                     **config.topology_params)
            drawn = fields(topology.num_nodes)
        return ensemble_graph(topology, drawn)

    def planned_size(self, config: RunConfig, data: Any) -> tuple[int | None, int]:
        from graphens.receptive_fields import PATCH_KINDS

        if config.rf in PATCH_KINDS and data.image_shape is not None:  # whole patches
            height, width, channels = data.image_shape
            patch = int(config.rf_params.get("patch", 4))
            count = max(1, round(height * width * config.rf_fraction / patch**2))
            return config.nodes, count * patch * patch * channels
        return config.nodes, max(1, int(data.num_signals * config.rf_fraction))

    def encoder_factory(self, config: RunConfig, graph: Any) -> Callable[[int], nn.Module]:
        from graphens.encoders import TOKEN_ENCODERS, make_encoder_factory
        from graphens.receptive_fields import token_width

        params: dict[str, Any] = {"hidden": config.hidden, "dim": config.dim,
                                  "dropout": config.dropout}
        if config.encoder in TOKEN_ENCODERS and graph is not None:  # patches of p*p*C values
            fields = graph.receptive_field
            params["token_width"] = token_width(fields["kind"], fields["params"])
        elif config.encoder in TOKEN_ENCODERS:
            # Before the graph (the early memory check): p*p values a token, i.e. C tokens per
            # patch on colour images, an upper bound on the memory.
            params["token_width"] = int(config.rf_params.get("patch", 4)) ** 2
        return make_encoder_factory(config.encoder, **params)

    def objective(self, config: RunConfig, data: Any, graph: Any) -> nn.Module:
        from graphens.objectives import CLoSeRObjective, SupervisedObjective

        if config.baseline == "supervised":
            return SupervisedObjective(graph.num_nodes, config.dim, data.num_classes)
        return CLoSeRObjective(config.tau, config.distance, config.stop_gradient)

    def transform(self, config: RunConfig, data: Any) -> Callable | None:
        if not config.augment or data.image_shape is None:
            return None
        from graphens.augment import ImageAugmentation

        return ImageAugmentation(data.image_shape)


#: Modalities by name: ``"module:Class"``, imported on first use (the neural modality pulls in
#: its own data model only when a neural run asks for it).
MODALITIES: dict[str, str] = {"vision": "graphens.modality:VisionModality",
                              "neural": "graphens.neural.modality:NeuralModality"}
_INSTANCES: dict[str, Modality] = {}


def get_modality(name: str) -> Modality:
    """The modality called ``name`` (a key of :data:`MODALITIES`)."""
    if name not in MODALITIES:
        raise GraphensError(f"unknown modality {name!r}; choose one of "
                            f"{', '.join(MODALITIES)}.")
    if name not in _INSTANCES:
        module, _, cls = MODALITIES[name].partition(":")
        _INSTANCES[name] = getattr(importlib.import_module(module), cls)()
    return _INSTANCES[name]


def estimate_training_bytes(factory: Callable[[int], nn.Module], num_nodes: int,
                            in_features: int, batch_size: int, num_edges: int = 0) -> int:
    r"""Bytes one training step needs, roughly: parameters, gradients and NAdam's two moments
    (4 copies of :math:`P` per node), activations and their gradients for every layer width
    :math:`w` (:math:`\approx 3 N B \sum w`, the :math:`[N, B, K]` gathered inputs included;
    times the tokens plus one for a token encoder, attention scores not counted),
    and the loss's :math:`[E, B, B]` logits with their softmax and gradient (:math:`3 E B^2`).

    The encoder is built once on the ``meta`` device, so nothing is allocated.
    """
    with torch.device("meta"):
        encoder = factory(in_features)
    params = sum(p.numel() for p in encoder.parameters())
    widths = sum(m.out_features for m in encoder.modules() if isinstance(m, nn.Linear))
    # A token encoder applies its layers to every token (and the class token) of a sample.
    widths = in_features + widths * (getattr(encoder, "num_tokens", 0) + 1)
    floats = num_nodes * (4 * params + 3 * batch_size * widths) + 3 * num_edges * batch_size**2
    return 4 * floats
