"""The ensemble graph: topology and receptive fields in one PyG ``Data``.

This object is the single source of truth for who supervises whom (``edge_index``,
``edge_weight``) and for what each node sees (``rf_index``, ``rf_mask``, ``pos``). The model
reads it at every step; see ``docs/architecture.md`` for the attribute table.

:class:`EnsembleGraph` tells PyG how its attributes batch and split: the receptive fields
``rf_index`` / ``rf_mask`` are node-level (one row per node) and hold *signal* indices, not node
ids, so ``Batch.from_data_list`` gives the disjoint union of ensembles that read the same
inputs, and ``subgraph`` keeps the fields of the kept nodes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import index_to_mask

from graphens.errors import GraphensError, warn
from graphens.receptive_fields import ReceptiveFields
from graphens.validation import check_edge_index, check_edge_weight

#: Node-level attributes whose values index input signals (never shifted when batching).
SIGNAL_KEYS = ("rf_index", "rf_mask")
#: Metadata dicts, one per ensemble (kept whole by ``Batch``: a batch holds a list of them).
RECORD_KEYS = ("topology", "receptive_field")
#: Attributes with one entry per node / per edge, declared so that PyG never has to guess
#: (it guesses from lengths, which is ambiguous when N = E).
NODE_KEYS = (*SIGNAL_KEYS, "pos", "node_names")
EDGE_KEYS = ("edge_index", "edge_weight")


class _Record:
    """A metadata dict that PyG's ``collate`` / ``separate`` pass through untouched.

    PyG merges dict attributes key by key across a batch (turning numbers into tensors and
    failing on differing keys or ``None`` values); wrapped, each ensemble keeps its own dict.
    """

    __slots__ = ("value",)

    def __init__(self, value: dict) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Record) and self.value == other.value

    __hash__ = None  # type: ignore[assignment]


def _unwrap(value: Any) -> Any:
    if isinstance(value, _Record):
        return value.value
    if isinstance(value, list) and value and all(isinstance(v, _Record) for v in value):
        return [v.value for v in value]  # a Batch: one dict per ensemble
    return value


def _record_property(key: str, doc: str) -> property:
    def get(self: Data) -> Any:
        return _unwrap(self._store[key]) if key in self._store else None

    def set(self: Data, value: Any) -> None:
        if isinstance(value, dict):
            value = _Record(value)
        elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
            value = [_Record(v) for v in value]
        setattr(self._store, key, value)

    return property(get, set, doc=doc)


class EnsembleGraph(Data):
    r"""The ensemble graph: a PyG ``Data`` that knows how its attributes batch.

    ========================  ===============  ===========================================
    attribute                 shape            meaning
    ========================  ===============  ===========================================
    ``edge_index``            ``[2, E]`` long  row 0 teacher :math:`j`, row 1 student :math:`i`
    ``edge_weight``           ``[E]`` float    :math:`g_{ij} \ge 0`, finite
    ``rf_index``              ``[N, K]`` long  input signals each node sees (padded with 0)
    ``rf_mask``               ``[N, K]`` bool  True where ``rf_index`` is a real signal
    ``pos``                   ``[N, 2]``       receptive-field centres (optional)
    ``node_names``            list of N str    node labels (optional)
    ``topology``              dict             how the edges were made
    ``receptive_field``       dict             how the fields were made
    ========================  ===============  ===========================================

    How PyG treats them (:meth:`__cat_dim__`, :meth:`__inc__`):

    * ``rf_index`` and ``rf_mask`` are node-level (concatenated along dim 0) and index
      **signals**, so a batch does not shift them: ``Batch.from_data_list([g1, g2])`` is the
      disjoint union of the two ensembles, reading the same input columns, with
      ``edge_index`` of ``g2`` shifted by :math:`N_1` as usual;
    * ``subgraph(subset)`` keeps the fields, ``pos`` and ``node_names`` of the kept nodes and
      the edges among them with their weights; ``edge_subgraph`` keeps every node;
    * ``topology`` and ``receptive_field`` are one dict per ensemble (a batch holds a list of
      them, and ``to_data_list()`` gives each back).

    Fields of different widths :math:`K` cannot be concatenated by ``Batch.from_data_list``
    (torch refuses); :func:`batch_graphs` names the widths, or pads them with ``pad=True``.

    Build one with :func:`ensemble_graph`; :func:`as_ensemble_graph` converts a plain ``Data``
    (e.g. from an ``ensemble.pt`` written before this class existed).
    """

    topology = _record_property("topology", "How the edges were made (family, params, seed).")
    receptive_field = _record_property("receptive_field", "How the fields were made.")

    def __cat_dim__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key in SIGNAL_KEYS:
            return 0
        return super().__cat_dim__(key, value, *args, **kwargs)

    def __inc__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key in SIGNAL_KEYS:
            return 0
        return super().__inc__(key, value, *args, **kwargs)

    def is_node_attr(self, key: str) -> bool:
        if key in NODE_KEYS:
            return True
        if key in EDGE_KEYS or key in RECORD_KEYS:
            return False
        return super().is_node_attr(key)

    def is_edge_attr(self, key: str) -> bool:
        if key in EDGE_KEYS:
            return True
        if key in NODE_KEYS or key in RECORD_KEYS:
            return False
        return super().is_edge_attr(key)

    def clone(self, *args: Any) -> EnsembleGraph:
        """A deep copy: tensors cloned, metadata dicts copied (PyG's ``clone`` leaves objects
        it does not know shared)."""
        out = super().clone(*args)
        for key in RECORD_KEYS:
            if key in out._store:
                out._store[key] = copy.deepcopy(out._store[key])
        return out

    @property
    def field_width(self) -> int | None:
        """:math:`K`, the padded receptive-field width (None without fields)."""
        rf_index = self._store.get("rf_index") if "rf_index" in self._store else None
        return None if rf_index is None else int(rf_index.shape[1])

    def pad_fields(self, width: int) -> EnsembleGraph:
        """A copy whose fields are padded to ``width`` columns (index 0, mask False).

        Padding changes nothing the model computes: padded entries are masked out of every
        node's input. Use it to batch ensembles whose fields differ in width.
        """
        current = self.field_width
        if current is None or width < current:
            raise GraphensError(
                f"cannot pad receptive fields of width {current} to {width}: the width can only "
                "grow (and the graph needs rf_index / rf_mask).")
        out = copy.copy(self)
        extra = width - current
        out.rf_index = torch.nn.functional.pad(self.rf_index, (0, extra))
        out.rf_mask = torch.nn.functional.pad(self.rf_mask, (0, extra))
        return out


def as_ensemble_graph(data: Data) -> EnsembleGraph:
    """The :class:`EnsembleGraph` holding the attributes of ``data`` (``data`` itself if it is
    one already).

    Graphs saved before :class:`EnsembleGraph` existed are plain ``Data``; this keeps their
    ``ensemble.pt`` files loadable. Tensors are shared, metadata dicts and lists copied.
    """
    if isinstance(data, EnsembleGraph):
        return data
    if not isinstance(data, Data):
        raise GraphensError(
            f"expected a torch_geometric Data graph, got {type(data).__name__}; build one with "
            "graphens.graph.ensemble_graph(topology, fields).")
    graph = EnsembleGraph()
    for key, value in data:
        graph[key] = value if isinstance(value, Tensor) else copy.deepcopy(value)
    if "num_nodes" not in graph._store and data.num_nodes is not None:
        graph.num_nodes = data.num_nodes
    for key in RECORD_KEYS:  # graph[key] = ... bypasses the property: wrap the dicts
        if key in graph._store:
            setattr(graph, key, _unwrap(graph._store[key]))
    return graph


def on_host(graph: Data) -> Data:
    """``graph`` on the CPU, leaving ``graph`` itself where it is.

    PyG's ``Data.cpu()`` and ``Data.to()`` move the graph's tensors in place and return the same
    object, so ``ensemble.graph.cpu()`` would move a GPU ensemble's fields off its device. This
    moves a shallow copy (its own attribute store, the same tensors where they are on the CPU).
    """
    return copy.copy(graph).cpu()


def batch_graphs(graphs: Sequence[Data], *, pad: bool = False) -> Batch:
    r"""The disjoint union of ensembles, ``Batch.from_data_list`` with its inputs checked.

    Parameters
    ----------
    graphs : sequence of EnsembleGraph (or plain ``Data``, converted)
        The ensembles; they read the same input signals.
    pad : bool
        Pad narrower receptive fields to the widest :math:`K` (see
        :meth:`EnsembleGraph.pad_fields`). Without it, differing widths are an error.

    Returns
    -------
    Batch
        ``num_nodes`` :math:`\sum_g N_g`; ``rf_index`` / ``rf_mask`` ``[\sum_g N_g, K]``;
        ``edge_index`` of graph ``g`` shifted by the nodes before it; ``batch`` the ensemble of
        each node. ``to_data_list()`` gives the (padded) graphs back.
    """
    graphs = [as_ensemble_graph(g) for g in graphs]
    if not graphs:
        raise GraphensError("batch_graphs needs at least one ensemble graph.")
    keys = [set(g.keys()) for g in graphs]
    for i, own in enumerate(keys):
        if own != keys[0]:
            raise GraphensError(
                f"graph {i} differs from graph 0 in the attributes {sorted(own ^ keys[0])}: "
                "PyG batches only graphs with the same attributes; add or delete them "
                "(e.g. del graph.pos) first.")
    widths = [g.field_width for g in graphs]
    if len(set(widths)) > 1:
        if None in widths:
            raise GraphensError(
                f"graphs {[i for i, w in enumerate(widths) if w is None]} have no receptive "
                "fields but others do: build every graph with ensemble_graph(topology, fields).")
        if not pad:
            raise GraphensError(
                f"the ensembles' receptive fields have different widths K {widths}: they cannot "
                "be concatenated; pass pad=True to pad them to K = "
                f"{max(widths)} (padding is masked out), or draw every field with the same size.")
        widest = max(widths)
        graphs = [g if w == widest else g.pad_fields(widest)
                  for g, w in zip(graphs, widths, strict=True)]
    return Batch.from_data_list(graphs)


def ensemble_graph(topology: Data, fields: ReceptiveFields) -> EnsembleGraph:
    """Attach receptive fields to a topology, giving the ensemble graph.

    Parameters
    ----------
    topology : Data
        From :func:`graphens.topology.make_topology` (``edge_index``, ``edge_weight``,
        ``num_nodes``, ``topology``; optionally ``pos``, ``node_names``).
    fields : ReceptiveFields
        One field per node, from :func:`graphens.receptive_fields.sample_receptive_fields`.

    Returns
    -------
    EnsembleGraph
        A new graph with ``rf_index``, ``rf_mask``, ``receptive_field`` and, when the fields
        have centres, ``pos``; validated by :func:`validate_graph`.
    """
    if fields.num_nodes != topology.num_nodes:
        raise GraphensError(
            f"the topology has {topology.num_nodes} nodes but {fields.num_nodes} receptive "
            "fields were given: draw one field per node.")
    graph = as_ensemble_graph(topology.clone())
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

    The edges go through :func:`graphens.validation.check_edge_index` (ids in
    ``[0, N)``, no self-loops) and :func:`graphens.validation.check_edge_weight` (``[E]``,
    finite, ``>= 0``); the fields must be ``[N, K]`` with at least one signal per node.

    Parameters
    ----------
    graph : Data
        The ensemble graph (an :class:`EnsembleGraph` or a plain ``Data`` with its attributes).
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
    edge_index = check_edge_index(graph.edge_index, n, self_loops=False)
    check_edge_weight(getattr(graph, "edge_weight", None), edge_index.shape[1],
                      edge_index=edge_index)
    _check_fields(graph, num_signals)
    if require_edges:
        _check_learners(graph, stop_gradient)


def _check_fields(graph: Data, num_signals: int | None) -> None:
    n = graph.num_nodes
    rf_index, rf_mask = getattr(graph, "rf_index", None), getattr(graph, "rf_mask", None)
    if rf_index is None:
        return
    if rf_index.dim() != 2 or rf_index.shape[0] != n or rf_mask is None \
            or rf_mask.shape != rf_index.shape:
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
    learns = index_to_mask(learners.cpu(), size=graph.num_nodes)
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
        warn(f"node(s) {idle} have {side} and will never learn.", stacklevel=3)


__all__ = ["EnsembleGraph", "as_ensemble_graph", "batch_graphs", "ensemble_graph",
           "never_learning_nodes", "on_host", "validate_graph"]
