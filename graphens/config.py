"""One run's configuration: its fields, their defaults and their checks.

:class:`RunConfig` is what ``graphens train`` flags, sweep-spec fields and the Python API all
build. A field left ``None`` takes the recommended value of the dataset
(:mod:`graphens.datasets`), else the modality's (:data:`MODALITY_DEFAULTS`), so the same
arguments give the same run everywhere. Every field is checked when the config is made
(type, range, finiteness, known names); a bad one is a single
:class:`~graphens.errors.GraphensError` naming the field, the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from graphens.datasets import MODALITIES, dataset_entry
from graphens.errors import GraphensError
from graphens.validation import (
    SEED_RANGE,
    Interval,
    Options,
    SequenceOf,
    check_fields,
    describe_differences,
)

BASELINES = ("closer", "untrained", "supervised", "raw-input")
VISION_OBJECTIVES = ("closer",)
NEURAL_OBJECTIVES = ("temporal-closer", "lpl", "temporal-contrastive")

#: The paper's settings per modality (method.md §4, §5, §7), under the dataset's own. One
#: exception: vision's τ is 0.1, not the paper's 10, which assumes its 2000-epoch budget; at
#: tens of epochs τ 10 leaves the softmax flat and trains nothing (docs/choosing_tau_and_d.md).
MODALITY_DEFAULTS: dict[str, dict[str, Any]] = {
    "vision": {"dataset": "digits", "nodes": 10, "rf": "gaussian", "rf_fraction": 0.1,
               "encoder": "mlp", "hidden": (1024, 512, 256), "dim": 256, "dropout": 0.1,
               "objective": "closer", "tau": 0.1, "augment": True, "epochs": 20},
    "neural": {"dataset": "synthetic", "encoder": "time-distributed-mlp", "hidden": (32, 32),
               "dim": 32, "dropout": 0.0, "objective": "temporal-closer", "tau": 10.0,
               "bins": 2, "frame_groups": 10, "decode_frames": True, "epochs": 20},
}
#: An encoder's settings that differ from its modality's, resolved before the dataset's and
#: the modality's: vit-lite's ``hidden`` is its block MLP (method.md §4), and its τ is 0.1 on
#: every dataset (its LayerNorm'ed output has its own scale; on digits τ 0.1 trains it best
#: where the MLP's 0.01 costs it 1.5 pt, docs/choosing_tau_and_d.md).
ENCODER_DEFAULTS: dict[str, dict[str, Any]] = {"vit-lite": {"hidden": (512, 256), "tau": 0.1}}
#: Fields that only one modality reads; the other must leave them unset.
MODALITY_FIELDS = {
    "vision": ("rf", "rf_fraction", "augment"),
    "neural": ("bins", "frame_groups", "decode_frames"),
}

_POSITIVE_INT = Interval("int", 1, None)
FIELD_CONSTRAINTS: dict[str, list[Any]] = {
    "modality": [Options(MODALITIES)],
    "dataset": [str],
    "dataset_params": [dict],
    "topology": [str],
    "topology_params": [dict],
    "nodes": [Interval("int", 2, None), None],
    "rf": [str, None],
    "rf_fraction": [Interval("real", 0, 1, closed="right"), None],
    "rf_params": [dict],
    "encoder": [str],
    "hidden": [SequenceOf(_POSITIVE_INT), Options(((),))],
    "dim": [_POSITIVE_INT],
    "dropout": [Interval("real", 0, 1, closed="left")],
    "objective": [str],
    "objective_params": [dict],
    "tau": [Interval("real", 0, None, closed="neither")],
    "distance": [Options(("mean", "sum"))],
    "stop_gradient": [Options(("teacher", "student")), None],
    "baseline": [Options(BASELINES)],
    "bins": [_POSITIVE_INT, None],
    "frame_groups": [_POSITIVE_INT, None],
    "decode_frames": [bool, None],
    "epochs": [Interval("int", 0, None)],
    "batch_size": [Interval("int", 2, None)],
    "lr": [Interval("real", 0, None, closed="neither")],
    "augment": [bool, None],
    "seed": [SEED_RANGE],
    "device": [str],
    "precision": [Options(("fp32", "bf16"))],
    "plasticity": [str, None],
    "plasticity_params": [dict],
}
FIELD_HINTS = {
    "nodes": "an ensemble needs at least 2 nodes; None lets a connectome or file decide",
    "rf_fraction": "the receptive-field fraction d; the paper uses 0.1",
    "tau": "the softmax temperature; images default to 0.1 (digits 0.01), the paper uses 10",
    "hidden": "hidden widths, e.g. (1024, 512, 256)",
    "epochs": "a whole number of epochs",
    "batch_size": "the contrastive loss needs batches of at least 2",
    "seed": "seeds are 63-bit: 0 <= seed < 2**63",
    "stop_gradient": "None (or 'none') for no stop-gradient",
    "plasticity": "a rule of graphens.plasticity (rewire, learn, hebbian) or None",
}


@dataclass
class RunConfig:
    """Everything that defines a run; ``graphens train`` flags map one to one onto it.

    ``None`` means "recommended": the dataset's setting (:mod:`graphens.datasets`), else the
    modality's (:data:`MODALITY_DEFAULTS`). After construction every field holds its resolved
    value, so ``RunConfig(**asdict(config)) == config``.

    Parameters
    ----------
    modality : {"vision", "neural"}, optional
        Decided by the dataset when unset; alone it picks the modality's default dataset.
    dataset : str, optional
        A :data:`graphens.datasets.DATASETS` key, or ``nwb:PATH`` / ``allen:SESSION``
        (default: ``digits`` for vision, ``synthetic`` for neural).
    dataset_params : dict
        Keywords for the dataset's loader (merged over the dataset's recommended ones).
    topology, topology_params, nodes
        Who supervises whom (:func:`graphens.topology.make_topology`); ``nodes=None``: 10 for a
        vision family, the graph's own for ``connectome:NAME`` / ``file``, every recorded area
        for neural data.
    rf, rf_fraction, rf_params
        Vision receptive fields (:mod:`graphens.receptive_fields`): kind, fraction d, options.
    encoder, hidden, dim, dropout
        Each node's encoder: ``mlp`` (``hidden`` its hidden widths) or ``vit-lite`` (needs
        ``rf`` ``patches`` or ``contiguous``, patch side ``rf_params["patch"]``, default 4;
        ``hidden`` its block MLP, default (512, 256), ending at ``dim``; 2 blocks of 4 heads,
        fixed here, set by :func:`graphens.encoders.vit_lite_encoder` in Python).
    objective, objective_params, tau, distance, stop_gradient
        What is minimised: ``closer`` (vision) or a temporal objective (neural), the softmax
        temperature τ, mean or summed squared distance, and the stop-gradient side.
    baseline : {"closer", "untrained", "supervised", "raw-input"}
        ``closer`` trains with ``objective``; the others keep the same masks and initialisation.
    bins, frame_groups, decode_frames
        Neural runs: bins per window, time-bin groups decoded, whether to decode them.
    epochs, batch_size, lr, augment, seed, device
        Training (NAdam, paper lr 1e-3, batch 128); ``augment`` flips, rotates and zooms images.
    precision : {"fp32", "bf16"}
        ``bf16``: the encoders' forward pass under bfloat16 autocast (CUDA, or a CPU with bf16
        instructions); the loss's softmax, the optimiser state and the weights stay fp32.
    plasticity : {None, "rewire", "learn", "hebbian"}
        A rule of :mod:`graphens.plasticity` that rewires or reweights the graph while it
        trains (CLoSeR vision runs only); ``plasticity_params`` its parameters (e.g.
        ``{"fraction": 0.2, "every": 1}``), checked when the config is made.
    """

    modality: str | None = None
    dataset: str | None = None
    dataset_params: dict[str, Any] = field(default_factory=dict)
    topology: str = "all-to-all"
    topology_params: dict[str, Any] = field(default_factory=dict)
    nodes: int | None = None
    rf: str | None = None
    rf_fraction: float | None = None
    rf_params: dict[str, Any] = field(default_factory=dict)
    encoder: str | None = None
    hidden: tuple[int, ...] | None = None
    dim: int | None = None
    dropout: float | None = None
    objective: str | None = None
    objective_params: dict[str, Any] = field(default_factory=dict)
    tau: float | None = None
    distance: str = "mean"
    stop_gradient: str | None = None
    baseline: str = "closer"
    bins: int | None = None
    frame_groups: int | None = None
    decode_frames: bool | None = None
    epochs: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    augment: bool | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    plasticity: str | None = None
    plasticity_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stop_gradient == "none":
            self.stop_gradient = None
        if isinstance(self.hidden, list):
            self.hidden = tuple(self.hidden)
        if self.modality is not None:
            check_fields({"modality": self.modality}, FIELD_CONSTRAINTS, FIELD_HINTS)
        if self.dataset is None:
            self.dataset = MODALITY_DEFAULTS[self.modality or "vision"]["dataset"]
        check_fields({"dataset": self.dataset}, FIELD_CONSTRAINTS, FIELD_HINTS)
        entry, _ = dataset_entry(self.dataset)
        if self.modality is None:
            self.modality = entry.modality
        elif self.modality != entry.modality:
            raise GraphensError(
                f"dataset {self.dataset!r} is {entry.modality} data but modality="
                f"{self.modality!r}: drop the modality or choose a {self.modality} dataset.")
        self._resolve(entry.defaults)
        check_fields(asdict(self), FIELD_CONSTRAINTS, FIELD_HINTS)
        self.hidden = tuple(int(h) for h in self.hidden)  # type: ignore[union-attr]
        self._check_modality_fields()
        self._check_names()
        self._check_plasticity()

    # -- resolution --------------------------------------------------------------------------

    def _resolve(self, dataset_defaults: Any) -> None:
        modality_defaults = MODALITY_DEFAULTS[self.modality]  # type: ignore[index]
        for name in ("rf", "rf_fraction", "encoder", "hidden", "dim", "dropout", "objective",
                     "tau", "bins", "frame_groups", "decode_frames", "epochs", "augment"):
            if getattr(self, name) is None:
                # The encoder's own defaults (vit-lite's block MLP) come before the others.
                encoder_defaults = ENCODER_DEFAULTS.get(self.encoder, {})  # type: ignore[arg-type]
                value = encoder_defaults.get(
                    name, dataset_defaults.get(name, modality_defaults.get(name)))
                setattr(self, name, value)
        recommended = dict(dataset_defaults.get("dataset_params", {}))
        self.dataset_params = {**recommended, **dict(self.dataset_params)}
        if self.nodes is None and self.modality == "vision" and not _graph_decides_nodes(
                self.topology):
            self.nodes = 10

    def _check_modality_fields(self) -> None:
        other = "neural" if self.modality == "vision" else "vision"
        for name in MODALITY_FIELDS[other]:
            if getattr(self, name) is not None:
                raise GraphensError(
                    f"{name}={getattr(self, name)!r} applies to {other} runs; this is a "
                    f"{self.modality} run (dataset {self.dataset!r}): leave it unset.")
        objectives = VISION_OBJECTIVES if self.modality == "vision" else NEURAL_OBJECTIVES
        if self.objective not in objectives:
            raise GraphensError(
                f"objective={self.objective!r} is not a {self.modality} objective; choose one "
                f"of {', '.join(objectives)}.")
        if self.modality == "vision" and self.encoder == "time-distributed-mlp":
            raise GraphensError("encoder='time-distributed-mlp' is the neural encoder; vision "
                                "runs use mlp or vit-lite.")
        if self.modality == "neural" and _graph_decides_nodes(self.topology):
            raise GraphensError(
                f"topology {self.topology!r} brings its own nodes; with neural data the nodes "
                "are the recorded areas: choose a family (e.g. all-to-all, gnk, knn).")
        if self.modality == "neural" and self.encoder != "time-distributed-mlp":
            raise GraphensError(f"encoder={self.encoder!r}: neural runs use the per-bin MLP "
                                "(encoder='time-distributed-mlp'); leave it unset.")

    def _check_names(self) -> None:
        # The registries import torch; configs are checked before anything heavy runs anyway.
        from graphens.encoders import ENCODERS, TOKEN_ENCODERS
        from graphens.receptive_fields import PATCH_KINDS, RECEPTIVE_FIELDS
        from graphens.topology import TOPOLOGIES, graph_decides_nodes, topology_params

        if not graph_decides_nodes(self.topology):
            if self.topology not in TOPOLOGIES:
                raise GraphensError(
                    f"unknown topology {self.topology!r}; choose one of "
                    f"{', '.join(sorted(TOPOLOGIES))}, connectome:NAME or file.")
            allowed = {*topology_params(self.topology), "normalize"}
            unknown = sorted(set(self.topology_params) - allowed)
            if unknown:
                raise GraphensError(
                    f"topology {self.topology!r} has no parameter(s) {unknown}; it accepts "
                    f"{sorted(allowed)}.")
        if self.modality == "vision":
            if self.rf not in RECEPTIVE_FIELDS:
                raise GraphensError(f"unknown receptive field rf={self.rf!r}; choose one of "
                                    f"{', '.join(sorted(RECEPTIVE_FIELDS))}.")
            if self.encoder not in ENCODERS:
                raise GraphensError(f"unknown encoder {self.encoder!r}; choose one of "
                                    f"{', '.join(sorted(ENCODERS))}.")
            if self.encoder in TOKEN_ENCODERS and self.rf not in PATCH_KINDS:
                raise GraphensError(
                    f"encoder={self.encoder!r} reads whole image patches but rf={self.rf!r} "
                    "does not cut the image into patches; use --rf patches or --rf contiguous "
                    "(rf='patches' or 'contiguous').")
            if self.encoder in TOKEN_ENCODERS:
                from graphens.encoders import vit_lite_encoder

                # The sizes' own checks (heads divide dim, MLP ends at dim), before any data.
                vit_lite_encoder(1, dim=self.dim, hidden=self.hidden,  # type: ignore[arg-type]
                                 dropout=self.dropout)  # type: ignore[arg-type]

    def _check_plasticity(self) -> None:
        if self.plasticity is None:
            if self.plasticity_params:
                raise GraphensError(
                    f"plasticity_params={self.plasticity_params!r} are given but plasticity is "
                    "None: name the rule (--plasticity rewire|learn|hebbian) or drop them.")
            return
        from graphens.plasticity import check_params

        if self.baseline != "closer":
            raise GraphensError(
                f"plasticity={self.plasticity!r} rewires the graph CLoSeR trains on; the "
                f"{self.baseline} baseline does not train on the graph: drop --plasticity.")
        if self.modality != "vision":
            raise GraphensError(
                f"plasticity={self.plasticity!r} needs the closer objective's per-edge losses; "
                f"{self.modality} runs use {self.objective!r}: drop --plasticity.")
        check_params(self.plasticity, self.plasticity_params)

    # -- identity ----------------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """The fields that change the result (all but the device): what resume and sweep ids
        compare."""
        config = asdict(self)
        config.pop("device")
        return config

    def differences(self, other: RunConfig | dict[str, Any],
                    ignore: tuple[str, ...] = ("device",)) -> list[str]:
        """``["tau: 10.0 -> 0.05", ...]``: how ``self`` differs from ``other`` (a config or its
        ``asdict``), ``other`` read as the old value."""
        old = asdict(other) if isinstance(other, RunConfig) else dict(other)
        return describe_differences(old, asdict(self), ignore=ignore)

    @property
    def trains(self) -> bool:
        """Whether this run takes optimisation steps (untrained and raw-input do not)."""
        return self.baseline in ("closer", "supervised") and self.epochs > 0  # type: ignore[operator]


def _graph_decides_nodes(topology: str) -> bool:
    return topology == "file" or topology.startswith("connectome:")
