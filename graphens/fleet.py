r"""Fleets: many ensembles trained as one PyG batch.

A fleet is ``K`` runs (its *members*) that differ only in how their nodes supervise each other
(topology, τ, distance, stop-gradient) and share everything else: data, seed (hence receptive
fields, initialisation, batch order and augmentation), encoder architecture, optimiser and
epochs. Their ensemble graphs are batched into one disjoint union
(:func:`graphens.graph.batch_graphs`): one node bank over all :math:`\sum_k N_k` nodes, one
gather, one forward and backward pass, one optimiser step per batch. The options that differ
between members travel on the edges (``edge_tau``, ``edge_stop_gradient``), and
:class:`FleetObjective` computes

.. math::

    L = \sum_k L^{(k)}, \qquad L^{(k)} = \sum_{j \to i \,\in\, E_k} g_{ij} L_{ij}(\tau_{ij}),

so member ``k``'s parameters receive exactly the gradient of its own loss :math:`L^{(k)}`.
Node ``i`` of member ``k`` starts from the weights it has in the member's solo run (its own
init seed), NAdam is elementwise, so with dropout off a member's loss trajectory and weights
equal its solo run's up to floating-point summation order (dropout masks are drawn for the
whole fleet at once and so differ from the solo run's).

Each member keeps its own run directory with the files of a solo run (``run.json``,
``checkpoint.pt`` after every epoch, ``ensemble.pt``, ``results.json``): a killed fleet resumes
from its members' checkpoints, and a member can be resumed or extended alone with
``graphens train --resume``. :func:`pack` groups the trials of a sweep into fleets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from graphens.config import RunConfig
from graphens.diagnostics import tau_warning
from graphens.ensemble import Ensemble
from graphens.errors import GraphensError, collect_warnings, warn
from graphens.evaluate import decode_many
from graphens.graph import batch_graphs
from graphens.loss import closer_loss
from graphens.modality import get_modality
from graphens.node_bank import node_seed
from graphens.optim import SlicedNAdam
from graphens.run_dir import CHECKPOINT_FILE, check_run_dir, claim_run_dir
from graphens.train import (
    TrainConfig,
    TrainResult,
    check_bf16,
    read_checkpoint,
    resolve_device,
    train,
)
from graphens.validation import describe_differences

#: Fields in which the members of one fleet may differ: they only change the edges' loss.
MEMBER_FIELDS = ("topology", "topology_params", "nodes", "tau", "distance", "stop_gradient")
#: Codes of ``edge_stop_gradient``.
STOP_GRADIENT_CODES = {None: 0, "teacher": 1, "student": 2}
#: Most nodes :func:`pack` puts in one fleet by default (16 paper-sized ensembles of 10).
DEFAULT_MAX_NODES = 160


class FleetError(GraphensError):
    """The runs cannot train as one fleet (they differ in a shared field, or their
    checkpoints stand at different epochs); run them one by one instead."""


def fleet_key(config: RunConfig) -> str | None:
    """What members of one fleet must share, as a string; ``None`` if ``config`` cannot join a
    fleet (only trained CLoSeR runs of the vision modality with a static graph can)."""
    if (config.modality != "vision" or config.baseline != "closer" or config.objective != "closer"
            or config.epochs == 0 or getattr(config, "plasticity", None) is not None):
        return None
    shared = {k: v for k, v in config.identity().items() if k not in MEMBER_FIELDS}
    return json.dumps(shared, sort_keys=True, default=str)


def pack(configs: Sequence[RunConfig], max_nodes: int = DEFAULT_MAX_NODES) -> list[list[int]]:
    """Group ``configs`` (by position) into fleets of at most ``max_nodes`` nodes in all.

    Runs that can share a fleet (:func:`fleet_key`) are grouped in the order given; a run that
    cannot, or whose node count is decided by its topology (``nodes=None``), is a group of its
    own. Every index appears in exactly one group.
    """
    groups: list[list[int]] = []
    open_groups: dict[str, tuple[list[int], int]] = {}
    for i, config in enumerate(configs):
        key = fleet_key(config)
        if key is None or config.nodes is None or config.nodes > max_nodes:
            groups.append([i])
            continue
        members, size = open_groups.get(key, ([], 0))
        if members and size + config.nodes > max_nodes:
            members, size = [], 0
        if not members:
            groups.append(members)
        members.append(i)
        open_groups[key] = (members, size + config.nodes)
    return groups


def check_fleet(configs: Sequence[RunConfig]) -> None:
    """Refuse, in one line, runs that cannot train as one fleet."""
    if not configs:
        raise GraphensError("a fleet needs at least one run.")
    keys = [fleet_key(c) for c in configs]
    for config, key in zip(configs, keys, strict=True):
        if key is None:
            raise FleetError(
                f"run {config.topology!r} (baseline {config.baseline!r}, objective "
                f"{config.objective!r}, modality {config.modality!r}, epochs {config.epochs}) "
                "cannot join a fleet: only trained CLoSeR vision runs with a static graph can.")
    for i, key in enumerate(keys):
        if key != keys[0]:
            differences = describe_differences(configs[0].identity(), configs[i].identity(),
                                               ignore=MEMBER_FIELDS)
            raise FleetError(f"runs 0 and {i} cannot share a fleet, they differ in "
                             + "; ".join(differences) + f" (members may differ only in "
                             f"{', '.join(MEMBER_FIELDS)}).")


class FleetObjective(nn.Module):
    r"""The CLoSeR loss of every member of a fleet, :math:`L = \sum_k L^{(k)}`.

    Reads, when made, the batched graph's edges, ``edge_tau`` (τ of each edge, with
    ``distance="sum"`` folded in as :math:`\tau / D`) and ``edge_stop_gradient`` (codes of
    :data:`STOP_GRADIENT_CODES`), and at every step its ``edge_weight``; the member of an edge is
    its student's ``batch`` entry. Edges with the same options are computed in one
    :func:`graphens.loss.closer_loss` call.

    Per-member losses are summed on the device during an epoch and read once at its end
    (:meth:`end_epoch`, called by :func:`graphens.train.train`): ``history[k]`` holds member
    ``k``'s mean loss per epoch and ``first_loss[k]`` its loss at the first step.
    """

    needs_labels = False
    stop_gradient = None  # per edge; the trainer's check for untaught nodes does not apply

    def __init__(self, graph: Any, num_members: int) -> None:
        super().__init__()
        member = graph.batch[graph.edge_index[1]]
        taus, stops = graph.edge_tau.cpu(), graph.edge_stop_gradient.cpu()
        options = sorted({(float(t), int(s)) for t, s in zip(taus.tolist(), stops.tolist(),
                                                             strict=True)})
        codes = {code: name for name, code in STOP_GRADIENT_CODES.items()}
        self.groups: list[tuple[float, str | None]] = []
        # A fleet's graph is static: each group's edges and their members are gathered once
        # here, not at every step (buffers, so they follow the objective to its device).
        for number, (tau, stop) in enumerate(options):
            ids = torch.nonzero((taus == tau) & (stops == stop)).flatten()
            ids = ids.to(graph.edge_index.device)
            self.register_buffer(f"edges_{number}", ids, persistent=False)
            self.register_buffer(f"edge_index_{number}", graph.edge_index.index_select(1, ids),
                                 persistent=False)
            self.register_buffer(f"member_{number}", member.index_select(0, ids),
                                 persistent=False)
            self.groups.append((tau, codes[stop]))
        self.num_members = num_members
        self.history: list[list[float]] = [[] for _ in range(num_members)]
        self.first_loss: list[float | None] = [None] * num_members
        self._sum: Tensor | None = None
        self._count = 0
        self._first: Tensor | None = None

    def member_losses(self, z: Tensor, graph: Any) -> Tensor:
        """``[K]``: each member's :math:`L^{(k)}` on the batch ``z`` ``[N, B, D]``."""
        losses = z.new_zeros(self.num_members, dtype=torch.float32)
        weight = getattr(graph, "edge_weight", None)
        for number, (tau, stop) in enumerate(self.groups):
            # checked: the groups are slices of the union graph that Ensemble validated, and a
            # fleet's edges never change, so no step re-reads them (a host sync on a GPU)
            per_edge = closer_loss(z, getattr(self, f"edge_index_{number}"), tau=tau,
                                   stop_gradient=stop, reduction="none", checked=True)
            if weight is not None:
                per_edge = per_edge * weight.index_select(0, getattr(self, f"edges_{number}"))
            losses = losses.index_add(0, getattr(self, f"member_{number}"), per_edge.float())
        return losses

    def forward(self, z: Tensor, y: Tensor | None, graph: Any) -> Tensor:
        losses = self.member_losses(z, graph)
        detached = losses.detach().double()
        if self._first is None and all(v is None for v in self.first_loss):
            self._first = detached
        self._sum = detached * z.shape[1] if self._sum is None else \
            self._sum + detached * z.shape[1]
        self._count += z.shape[1]
        return losses.sum()

    def end_epoch(self) -> None:
        """Append each member's mean loss of the epoch to ``history`` (one host read)."""
        if self._first is not None:
            self.first_loss = [float(v) for v in self._first.cpu()]
            self._first = None
        if self._sum is not None:
            means = (self._sum / max(self._count, 1)).cpu().tolist()
            for k, value in enumerate(means):
                self.history[k].append(float(value))
        self._sum, self._count = None, 0


@dataclass
class FleetCheckpoint:
    """The fleet's training state, kept as one solo-format checkpoint per member.

    :meth:`write` splits the state by node range (weights, NAdam state, the member's own loss
    history); :meth:`read` checks every member's file against its run and stacks them back.
    """

    paths: list[Path]
    ranges: list[range]
    identities: list[dict[str, Any]]
    objective: FleetObjective
    epochs: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return f"the fleet's member checkpoints ({self.paths[0]}, ...)"

    def exists(self) -> bool:
        present = [p.exists() for p in self.paths]
        if any(present) and not all(present):
            missing = [str(p) for p, here in zip(self.paths, present, strict=True) if not here]
            raise FleetError(f"only some members of the fleet have a checkpoint ({missing[0]} "
                             "is missing); resume them one by one.")
        return all(present)

    def write(self, state: dict[str, Any], optimizer: SlicedNAdam) -> None:
        from graphens.io import atomic_torch_save

        for k, (path, nodes) in enumerate(zip(self.paths, self.ranges, strict=True)):
            weights = {key: value[nodes.start:nodes.stop].clone()
                       for key, value in state["ensemble"].items()}
            atomic_torch_save(path, {
                **state, "identity": self.identities[k], "ensemble": weights,
                "optimizer": optimizer.node_state_dict(nodes),
                "history": self.objective.history[k],
                "first_loss": self.objective.first_loss[k]})

    def read(self, device: torch.device, optimizer: SlicedNAdam) -> dict[str, Any]:
        states = [read_checkpoint(path, device) for path in self.paths]
        for path, state, identity in zip(self.paths, states, self.identities, strict=True):
            differences = describe_differences(state.get("identity") or {}, identity,
                                               ignore=("epochs",))
            if differences:
                raise GraphensError(f"checkpoint {path} belongs to a different configuration ("
                                    + "; ".join(differences) + "); resume with the same "
                                    "arguments, or use a new --out directory.")
        epochs = [state["epoch"] for state in states]
        if len(set(epochs)) > 1:
            raise FleetError(f"the fleet's members stopped at different epochs {epochs}; "
                             "resume them one by one.")
        self.objective.history = [list(map(float, s["history"])) for s in states]
        self.objective.first_loss = [s.get("first_loss") for s in states]
        keys = states[0]["ensemble"].keys()
        histories = [sum(values) for values in zip(*self.objective.history, strict=True)]
        firsts = self.objective.first_loss
        return {**states[0], "identity": None, "history": histories,
                "first_loss": None if any(f is None for f in firsts) else sum(firsts),
                "ensemble": {key: torch.cat([s["ensemble"][key] for s in states])
                             for key in keys},
                "optimizer": optimizer.merged_node_state_dict(
                    [(nodes, s["optimizer"]) for nodes, s in
                     zip(self.ranges, states, strict=True)])}


def run_fleet(configs: Sequence[RunConfig], out_dirs: Sequence[str | Path] | None = None, *,
              resume: bool = False, overwrite: bool = False, progress: bool = True,
              dataset: Any = None) -> list[dict[str, Any]]:
    """Train ``configs`` as one fleet and decode each member; return each member's results.

    Parameters
    ----------
    configs : sequence of RunConfig
        The members; they may differ only in :data:`MEMBER_FIELDS` (checked first, in one
        line, before anything is loaded).
    out_dirs : sequence of paths, optional
        One run directory per member (claimed as :func:`graphens.experiment.run` claims its
        own); each receives a solo run's files.
    resume, overwrite, progress, dataset
        As in :func:`graphens.experiment.run`.

    Returns
    -------
    list of dict
        Each member's ``results.json``, with ``fleet`` = ``{"size", "index", "nodes"}``.

    Raises
    ------
    FleetError
        The runs cannot share a fleet, or their checkpoints stand at different epochs.
    """
    from graphens.experiment import _check_data, check_memory, finish_run

    started = time.perf_counter()
    configs = list(configs)
    check_fleet(configs)
    if out_dirs is not None and len(out_dirs) != len(configs):
        raise GraphensError(f"{len(out_dirs)} output directories for {len(configs)} runs; give "
                            "one per run.")
    first = configs[0]
    device = resolve_device(first.device)
    if first.precision == "bf16":
        check_bf16(device)
    for out, config in zip(out_dirs or (), configs, strict=False):  # claimed once all checks pass
        check_run_dir(out, config, resume=resume, overwrite=overwrite)
    with collect_warnings() as collected:
        for config in configs:
            early = tau_warning(config)
            if early:
                warn(early, stacklevel=2)
        modality = get_modality(first.modality)  # type: ignore[arg-type]
        data = modality.load(first, dataset)
        labelled = _check_data(first, data)
        graphs = [modality.graph(c, data) for c in configs]
        widths = {g.field_width for g in graphs}
        if len(widths) > 1:
            raise FleetError(f"the members' receptive fields have different widths "
                             f"{sorted(widths)}; run them one by one.")
        for graph, config in zip(graphs, configs, strict=True):
            tau = config.tau if config.distance == "mean" else config.tau / config.dim
            edges = graph.edge_index.shape[1]
            graph.edge_tau = torch.full((edges,), float(tau))
            graph.edge_stop_gradient = torch.full((edges,),
                                                  STOP_GRADIENT_CODES[config.stop_gradient])
        union = batch_graphs(graphs)
        factory = modality.encoder_factory(first, graphs[0])
        rows = data.x_train.shape[0] + data.x_test.shape[0]
        check_memory(factory, union.num_nodes, union.rf_index.shape[1], first, rows=rows,
                     device=device, num_edges=int(union.edge_index.shape[1]))
        sizes = [g.num_nodes for g in graphs]
        starts = [sum(sizes[:k]) for k in range(len(sizes))]
        ranges = [range(s, s + n) for s, n in zip(starts, sizes, strict=True)]
        seeds = [node_seed(c.seed, i) for c, n in zip(configs, sizes, strict=True)
                 for i in range(n)]
        ensemble = Ensemble(union, factory, node_seeds=seeds)
        objective = FleetObjective(union, len(configs))
        outs = ([claim_run_dir(o, c, resume=resume, overwrite=overwrite)
                 for o, c in zip(out_dirs, configs, strict=True)]
                if out_dirs is not None else None)
        store = (FleetCheckpoint([o / CHECKPOINT_FILE for o in outs], ranges,
                                 [c.identity() for c in configs], objective)
                 if outs is not None else None)
        train_config = TrainConfig(epochs=first.epochs, batch_size=first.batch_size,
                                   lr=first.lr, seed=first.seed, device=str(device),
                                   progress=progress, precision=first.precision)
        outcome = train(ensemble, objective, data.x_train, data.y_train, config=train_config,
                        transform=modality.transform(first, data), checkpoint=store,
                        resume=resume)
    fleet_warnings = list(collected)
    state = ensemble.state_dict()
    members, features = [], []
    for config, graph, nodes in zip(configs, graphs, ranges, strict=True):
        for key in ("edge_tau", "edge_stop_gradient"):
            delattr(graph, key)
        member = Ensemble(graph, factory, seed=config.seed)
        member.load_state_dict({key: value[nodes.start:nodes.stop]
                                for key, value in state.items()})
        member.to(device).eval()
        members.append(member)
        features.append((modality.features(config, member, data.x_train),
                         modality.features(config, member, data.x_test)))
    # All members' probes in two batched calls (members share the data and the seed).
    decoded: list[dict[str, Any] | None] = [None] * len(configs)
    if labelled:
        decoded = list(decode_many([f[0] for f in features], data.y_train,
                                   [f[1] for f in features], data.y_test,
                                   edge_indices=[g.edge_index.cpu() for g in graphs],
                                   seed=first.seed, progress=progress))
    results = []
    for k, config in enumerate(configs):
        member_outcome = TrainResult(
            epochs_run=outcome.epochs_run, history=objective.history[k],
            train_seconds=outcome.train_seconds, samples_seen=outcome.samples_seen,
            resumed_from=outcome.resumed_from, first_loss=objective.first_loss[k])
        with collect_warnings() as member_warnings:
            member_warnings.extend(fleet_warnings)
            results.append(finish_run(
                config, outs[k] if outs is not None else None, modality, data, members[k],
                member_outcome, labelled=labelled, started=started, device=device,
                progress=progress, collected=member_warnings, features=features[k],
                decoded=decoded[k],
                extra_results={"fleet": {"size": len(configs), "index": k,
                                         "nodes": sum(sizes)}}))
    return results


__all__ = ["DEFAULT_MAX_NODES", "FleetCheckpoint", "FleetError", "FleetObjective",
           "MEMBER_FIELDS", "check_fleet", "fleet_key", "pack", "run_fleet"]
