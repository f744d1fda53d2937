"""The ensemble graph: topology and receptive fields in one PyG ``Data``.

This object is the single source of truth for who supervises whom (``edge_index``,
``edge_weight``) and for what each node sees (``rf_index``, ``rf_mask``, ``pos``). The model
reads it at every step; see ``docs/architecture.md`` for the attribute table.
"""

from __future__ import annotations

import warnings

import torch
from torch_geometric.data import Data

from graphens.errors import GraphensError
from graphens.receptive_fields import ReceptiveFields


def ensemble_graph(topology: Data, fields: ReceptiveFields) -> Data:
    """Attach receptive fields to a topology, giving the ensemble graph.

    Parameters
    ----------
    topology : Data
        From :func:`graphens.topology.make_topology` (``edge_index``, ``edge_weight``,
        ``num_nodes``, ``topology``).
    fields : ReceptiveFields
        One field per node, from :func:`graphens.receptive_fields.sample_receptive_fields`.

    Returns
    -------
    Data
        A new graph with ``rf_index``, ``rf_mask``, ``receptive_field`` and, when the fields
        have centres, ``pos``; validated by :func:`validate_graph`.
    """
    if fields.num_nodes != topology.num_nodes:
        raise GraphensError(
            f"the topology has {topology.num_nodes} nodes but {fields.num_nodes} receptive "
            "fields were given: draw one field per node.")
    graph = topology.clone()
    if getattr(graph, "edge_weight", None) is None:
        graph.edge_weight = torch.ones(graph.edge_index.shape[1])
    graph.rf_index = fields.index.long()
    graph.rf_mask = fields.mask.bool()
    graph.receptive_field = {"kind": fields.kind, "params": dict(fields.params)}
    if fields.centers is not None:
        graph.pos = fields.centers.float()
    validate_graph(graph)
    return graph


def validate_graph(graph: Data, *, require_edges: bool = False,
                   stop_gradient: str | None = None, num_signals: int | None = None) -> None:
    """Check an ensemble graph; raise :class:`GraphensError` naming the problem and its fix.

    Parameters
    ----------
    graph : Data
        The ensemble graph.
    require_edges : bool
        Training is asked for: a graph where no node would learn is an error, and nodes that
        would never learn (no incoming edge under teacher-side stop-gradient, no edge at all
        otherwise) are reported in a warning.
    stop_gradient : {None, "teacher", "student"}
        The loss option, which decides who learns from an edge.
    num_signals : int, optional
        Input width of the data; receptive-field indices must lie below it.
    """
    n = graph.num_nodes
    if n is None or n < 2:
        raise GraphensError(f"the ensemble has {n} node(s); it needs at least 2 (--nodes >= 2).")
    edge_index, weight = graph.edge_index, getattr(graph, "edge_weight", None)
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise GraphensError(f"edge_index must have shape [2, E]; got {tuple(edge_index.shape)}.")
    if edge_index.numel():
        bad = (edge_index < 0) | (edge_index >= n)
        if bad.any():
            col = int(bad.any(0).nonzero()[0])
            raise GraphensError(
                f"edge {col} ({int(edge_index[0, col])} -> {int(edge_index[1, col])}) refers to a "
                f"node outside [0, {n - 1}]: node ids must be below num_nodes={n}.")
        loops = (edge_index[0] == edge_index[1]).nonzero().flatten()
        if loops.numel():
            nodes = edge_index[0, loops].tolist()
            raise GraphensError(
                f"self-loops at node(s) {nodes[:10]}: a node cannot supervise itself "
                "(g_ii = 0); remove them, e.g. with torch_geometric.utils.remove_self_loops.")
    if weight is not None:
        if weight.shape != (edge_index.shape[1],):
            raise GraphensError(
                f"edge_weight has shape {tuple(weight.shape)}; expected [{edge_index.shape[1]}].")
        bad = ~torch.isfinite(weight) | (weight < 0)
        if bad.any():
            col = int(bad.nonzero()[0])
            raise GraphensError(
                f"edge_weight[{col}] = {float(weight[col])} on edge "
                f"{int(edge_index[0, col])} -> {int(edge_index[1, col])}: weights must be finite "
                "and >= 0.")
    _check_fields(graph, num_signals)
    if require_edges:
        _check_learners(graph, stop_gradient)


def _check_fields(graph: Data, num_signals: int | None) -> None:
    n = graph.num_nodes
    rf_index, rf_mask = getattr(graph, "rf_index", None), getattr(graph, "rf_mask", None)
    if rf_index is None:
        return
    if rf_index.shape[0] != n or rf_mask is None or rf_mask.shape != rf_index.shape:
        raise GraphensError(
            f"rf_index {tuple(rf_index.shape)} and rf_mask "
            f"{None if rf_mask is None else tuple(rf_mask.shape)} must both be [N={n}, K].")
    empty = (rf_mask.sum(1) == 0).nonzero().flatten().tolist()
    if empty:
        raise GraphensError(
            f"node(s) {empty} have an empty receptive field (0 signals): raise the "
            "receptive-field fraction or give every node at least one signal.")
    highest = int(rf_index[rf_mask].max())
    if num_signals is not None and highest >= num_signals:
        raise GraphensError(
            f"receptive fields select signal {highest} but the data has {num_signals} signals "
            "per sample: the fields were drawn for other data; redraw them for this dataset.")


def never_learning_nodes(graph: Data, stop_gradient: str | None = None) -> list[int]:
    """Nodes whose parameters receive no gradient from the loss.

    With teacher-side stop-gradient only students learn; with student-side only teachers;
    otherwise both ends of an edge with positive weight learn.
    """
    weight = graph.edge_weight
    active = graph.edge_index if weight is None else graph.edge_index[:, weight > 0]
    if stop_gradient == "teacher":
        learners = active[1]
    elif stop_gradient == "student":
        learners = active[0]
    else:
        learners = active.flatten()
    learns = torch.zeros(graph.num_nodes, dtype=torch.bool)
    learns[learners.cpu()] = True
    return (~learns).nonzero().flatten().tolist()


def _check_learners(graph: Data, stop_gradient: str | None) -> None:
    idle = never_learning_nodes(graph, stop_gradient)
    if len(idle) == graph.num_nodes:
        raise GraphensError(
            f"the graph has no edge with positive weight, so nodes {idle} would never learn: "
            "choose a topology with edges (e.g. --topology all-to-all).")
    if idle:
        side = {"teacher": "no incoming edge (teacher-side stop-gradient)",
                "student": "no outgoing edge (student-side stop-gradient)"}.get(
                    stop_gradient, "no edge")
        warnings.warn(f"node(s) {idle} have {side} and will never learn.", stacklevel=3)
