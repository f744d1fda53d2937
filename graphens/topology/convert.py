"""Topologies from Python objects: networkx graphs, adjacency matrices and edge lists.

Every converter returns the ensemble's topology graph (see :func:`topology_graph`): a PyG
``Data`` with ``edge_index`` (row 0 = source = teacher ``j``, row 1 = target = student ``i``),
``edge_weight`` (:math:`g_{ij} \\ge 0`), ``num_nodes``, ``topology`` (the record) and
``node_names`` (``list[str]``, one label per node, in node order).

Conventions shared by all converters:

* direction: an edge ``source -> target`` means the *target learns from the source*
  (the source is the teacher), as a synapse carries a signal from the pre- to the
  post-synaptic neuron;
* self-loops are dropped (a node cannot supervise itself), with a warning saying how many;
* duplicate edges are merged by summing their weights;
* edges of weight 0 are dropped (they supervise nothing);
* a NaN, infinite or negative weight raises :class:`~graphens.errors.GraphensError` naming the
  edge.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data

from graphens.errors import GraphensError, warn
from graphens.topology.generators import topology_graph


def from_networkx(G: nx.Graph, weight: str | None = "weight", family: str = "networkx",
                  params: dict | None = None, seed: int | None = None) -> Data:
    """Convert a networkx graph into a topology.

    Parameters
    ----------
    G : networkx.Graph, DiGraph, MultiGraph or MultiDiGraph
        Nodes keep the order of ``G.nodes``; their labels (``str(node)``) become
        ``node_names``. An edge ``u -> v`` of a directed graph makes ``v`` learn from ``u``;
        an undirected edge ``u - v`` gives both directions with the same weight. Parallel edges
        of a multigraph are summed.
    weight : str or None
        Edge attribute holding the weight; edges without it weigh 1. ``None``: every edge
        weighs 1.
    family, params, seed
        What the topology record says (default family ``"networkx"``).

    Examples
    --------
    >>> g = from_networkx(nx.path_graph(["a", "b", "c"]))
    >>> g.node_names, g.edge_index.shape[1]
    (['a', 'b', 'c'], 4)
    """
    if not isinstance(G, nx.Graph):
        raise GraphensError(
            f"from_networkx: expected a networkx graph, got {type(G).__name__}; build one with "
            "networkx (e.g. nx.DiGraph()) or use from_edge_list / from_adjacency.")
    nodes = list(G.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    sources, targets, weights = [], [], []
    for u, v, data in G.edges(data=True):
        w = 1.0 if weight is None else data.get(weight, 1.0)
        sources.append(index[u])
        targets.append(index[v])
        weights.append(w)
        if not G.is_directed():
            sources.append(index[v])
            targets.append(index[u])
            weights.append(w)
    return build_topology(sources, targets, weights, [str(n) for n in nodes], family,
                          params or {}, seed)


def from_adjacency(matrix: object, names: Sequence[str] | None = None,
                   family: str = "adjacency", params: dict | None = None,
                   seed: int | None = None) -> Data:
    """Convert a square weight matrix into a topology.

    Convention: ``A[source, target] = weight``, i.e. **row = teacher, column = student**, the
    convention of ``networkx.to_numpy_array`` and of connectome matrices ``A[pre, post]``. (The
    paper's :math:`g_{ij}`, student ``i`` and teacher ``j``, is therefore ``A[j, i]``.) Zero
    entries are no edge.

    Parameters
    ----------
    matrix : numpy array, torch tensor or scipy sparse matrix, shape ``[M, M]``
    names : sequence of str, optional
        Node labels (default ``"0" .. "M-1"``).
    family, params, seed
        What the topology record says (default family ``"adjacency"``).
    """
    sources, targets, weights, size = _matrix_entries(matrix)
    names = _check_names(names, size, "from_adjacency")
    return build_topology(sources, targets, weights, names, family, params or {}, seed)


def from_edge_list(sources: Sequence[Hashable], targets: Sequence[Hashable],
                   weights: Sequence[float] | None = None,
                   names: Sequence[str] | None = None, num_nodes: int | None = None,
                   family: str = "edge-list", params: dict | None = None,
                   seed: int | None = None) -> Data:
    """Convert parallel lists of edges ``sources[k] -> targets[k]`` into a topology.

    Parameters
    ----------
    sources, targets : sequences of node indices (int) or node labels (str)
        Edge ``k`` makes ``targets[k]`` learn from ``sources[k]``.
    weights : sequence of float, optional
        Edge weights (default 1 each).
    names : sequence of str, optional
        Node labels in node order. With labels in ``sources``/``targets`` every label must be
        one of them (this also fixes the node order and allows isolated nodes); without
        ``names`` the nodes are the labels in order of first appearance. With integer indices,
        ``names`` labels the nodes ``0..M-1``.
    num_nodes : int, optional
        With integer indices, the number of nodes (default ``max index + 1``, or
        ``len(names)``).
    family, params, seed
        What the topology record says (default family ``"edge-list"``).

    Examples
    --------
    >>> g = from_edge_list(["AVAL", "AVBL"], ["AVBL", "AVAL"], [3, 1])
    >>> g.node_names, g.edge_weight.tolist()
    (['AVAL', 'AVBL'], [3.0, 1.0])
    """
    sources, targets = list(sources), list(targets)
    if len(sources) != len(targets):
        raise GraphensError(
            f"from_edge_list: {len(sources)} sources but {len(targets)} targets; give one "
            "source and one target per edge.")
    weights = [1.0] * len(sources) if weights is None else list(weights)
    if len(weights) != len(sources):
        raise GraphensError(
            f"from_edge_list: {len(weights)} weights for {len(sources)} edges; give one weight "
            "per edge or none.")
    if all(_is_index(x) for x in sources + targets):
        src = [int(x) for x in sources]
        tgt = [int(x) for x in targets]
        size = _index_count(src + tgt, names, num_nodes)
        names = _check_names(names, size, "from_edge_list")
    else:
        names, src, tgt = _labels_to_indices(sources, targets, names)
    return build_topology(src, tgt, weights, names, family, params or {}, seed)


def build_topology(sources: Sequence[int], targets: Sequence[int], weights: Sequence[float],
                   names: Sequence[str], family: str, params: dict,
                   seed: int | None, **record: object) -> Data:
    """Validated edges (indices into ``names``) to the topology graph; ``record`` extends the
    topology record. Drops self-loops (warning) and zero weights, sums duplicates."""
    names = [str(n) for n in names]
    src = np.asarray(sources, dtype=np.int64).reshape(-1)
    tgt = np.asarray(targets, dtype=np.int64).reshape(-1)
    w = _check_weights(weights, src, tgt, names)
    loops = src == tgt
    if loops.any():
        looped = sorted({names[i] for i in src[loops]})
        warn(f"{family}: dropped {int(loops.sum())} self-loop(s) (a node cannot teach itself) "
             f"on {_some(looped)}.", stacklevel=3)
    keep = ~loops & (w > 0)
    edge_index = torch.from_numpy(np.stack([src[keep], tgt[keep]]))
    graph = topology_graph(edge_index, torch.from_numpy(w[keep]), len(names), family, params,
                           seed)
    graph.topology.update(record)
    graph.node_names = names
    return graph


def _check_weights(weights: Sequence[float], src: np.ndarray, tgt: np.ndarray,
                   names: list[str]) -> np.ndarray:
    try:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise GraphensError(
            f"edge weights must be numbers ({err}); fix the weight column / attribute.") from err
    if len(w) != len(src):
        raise GraphensError(f"{len(w)} weights for {len(src)} edges; give one weight per edge.")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise GraphensError(
            f"edge {names[src[k]]} -> {names[tgt[k]]} has weight {w[k]}; weights must be "
            f"finite and >= 0 ({int(bad.sum())} such edge(s)). Fix or remove those edges.")
    return w


def _matrix_entries(matrix: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Nonzero entries ``(row, column, value)`` of a dense or sparse square matrix."""
    import scipy.sparse as sp  # scipy comes with scikit-learn

    if sp.issparse(matrix):
        coo = sp.coo_matrix(matrix)
        shape, rows, cols, vals = coo.shape, coo.row, coo.col, coo.data
    else:
        if isinstance(matrix, torch.Tensor):
            matrix = matrix.detach().cpu().numpy()
        try:
            dense = np.asarray(matrix, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise GraphensError(
                f"from_adjacency: the matrix is not numeric ({err}); pass a numeric array.",
            ) from err
        shape = dense.shape
        if dense.ndim == 2 and shape[0] == shape[1]:
            # NaN != 0, so NaN entries are kept here and rejected with their edge named.
            rows, cols = np.nonzero(dense)
            vals = dense[rows, cols]
    if len(shape) != 2 or shape[0] != shape[1]:
        raise GraphensError(
            f"from_adjacency: matrix of shape {tuple(shape)} is not square; an adjacency "
            "matrix is [M, M] with A[source, target] = weight.")
    return np.asarray(rows), np.asarray(cols), np.asarray(vals, dtype=np.float64), shape[0]


def _check_names(names: Sequence[str] | None, size: int, where: str) -> list[str]:
    if names is None:
        return [str(i) for i in range(size)]
    names = [str(n) for n in names]
    if len(names) != size:
        raise GraphensError(
            f"{where}: {len(names)} names for {size} nodes; give one name per node.")
    _check_unique(names, where)
    return names


def _check_unique(names: list[str], where: str) -> None:
    seen, repeated = set(), []
    for n in names:
        if n in seen:
            repeated.append(n)
        seen.add(n)
    if repeated:
        raise GraphensError(
            f"{where}: node name(s) {_some(sorted(set(repeated)))} repeated; names must be "
            "unique.")


def _is_index(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _index_count(indices: list[int], names: Sequence[str] | None,
                 num_nodes: int | None) -> int:
    low = min(indices, default=0)
    if low < 0:
        raise GraphensError(
            f"from_edge_list: node index {low} is negative; indices run from 0 to M-1.")
    needed = max(indices, default=-1) + 1
    size = num_nodes if num_nodes is not None else len(names) if names is not None else needed
    if needed > size:
        raise GraphensError(
            f"from_edge_list: node index {needed - 1} is out of range for {size} nodes; pass "
            "num_nodes / names covering every index.")
    return size


def _labels_to_indices(sources: list, targets: list, names: Sequence[str] | None,
                       ) -> tuple[list[str], list[int], list[int]]:
    labels_s = [str(x) for x in sources]
    labels_t = [str(x) for x in targets]
    if names is None:
        pairs = zip(labels_s, labels_t, strict=True)
        order = dict.fromkeys(label for pair in pairs for label in pair)
        names = list(order)
    else:
        names = [str(n) for n in names]
        _check_unique(names, "from_edge_list")
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted({x for x in labels_s + labels_t if x not in index})
    if unknown:
        raise GraphensError(
            f"from_edge_list: edge endpoint(s) {_some(unknown)} are not in names; add them to "
            "names or leave names out.")
    return names, [index[x] for x in labels_s], [index[x] for x in labels_t]


def _some(items: Sequence[str], limit: int = 10) -> str:
    """``a, b, c`` (at most ``limit``, then ``... (+k more)``)."""
    shown = ", ".join(str(x) for x in items[:limit])
    return shown + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")


__all__ = ["from_networkx", "from_adjacency", "from_edge_list", "build_topology"]
