r"""Metrics of a topology: a flat dict of numbers describing a directed weighted graph.

:func:`metrics` reads ``edge_index`` (row 0 = teacher/source :math:`j`, row 1 =
student/target :math:`i`), ``edge_weight`` (:math:`g_{ij}`, ones when absent) and
``num_nodes`` from a PyG ``Data`` and returns one value per key, ``None`` where a metric is
undefined (no edges, too few nodes, a disconnected graph, ...). The keys are always the same,
so the dict can go straight into ``results.json`` or a sweep's table.

Notation: :math:`A` is the binary adjacency with :math:`A_{uv} = 1` for an edge
:math:`u \to v` (teacher :math:`u` to student :math:`v`; networkx's orientation),
:math:`W` the same with weights, :math:`N` nodes, :math:`E` edges, :math:`d_{uv}` the number
of hops on a shortest directed path from :math:`u` to :math:`v`.

An edge is an ordered pair :math:`u \ne v` with positive total weight: duplicate edges are
merged by summing their weights, self-loops and zero-weight edges are left out.

The definitions follow networkx (named with each metric below). The one-line matrix formulas
(degrees, reciprocity, clustering, assortativity, spectra) and the shortest paths
(``scipy.sparse.csgraph``) are computed on arrays, because building a networkx graph of a
dense 1000-node ensemble alone takes seconds; ``tests/test_metrics.py`` checks each against
networkx. Community detection and the rewired references use networkx.
"""

from __future__ import annotations

import contextlib
import math
import operator
import random
import warnings

import networkx as nx
import numpy as np
import torch
from scipy.sparse import csgraph, csr_matrix
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_adj

from graphens.errors import GraphensError
from graphens.validation import check_edge_index, check_edge_weight

#: Small-world coefficients are skipped above this many nodes (each reference costs an
#: all-pairs shortest-path computation in networkx).
SMALL_WORLD_MAX_NODES = 200
#: Attempted degree-preserving swaps per undirected edge for each random / lattice reference.
RANDOM_SWAPS_PER_EDGE = 2
LATTICE_SWAPS_PER_EDGE = 10
#: Louvain community detection is skipped above this many undirected edges (N = 1000
#: all-to-all takes ~6 s in networkx).
COMMUNITY_MAX_EDGES = 100_000
#: The component on which the characteristic path length and the diameter are computed.
PATH_COMPONENT = "largest strongly connected component"

Value = float | int | str | None


def metrics(graph: Data, *, small_world: bool = True, references: int = 5,
            seed: int = 0) -> dict[str, Value]:
    r"""Graph metrics of a topology, as a flat dict.

    Parameters
    ----------
    graph : Data
        ``edge_index`` ``[2, E]`` (teacher, student), optional ``edge_weight`` ``[E]``
        (non-negative) and ``num_nodes``.
    small_world : bool
        Compute the small-world coefficients (the slowest part, ~0.1 s at N = 100).
    references : int
        Number of random and of lattice references they average over.
    seed : int
        Seed of the references and of the community detection: same seed, same dict.

    Returns
    -------
    dict
        Sizes and weights

        * ``nodes`` :math:`N`; ``edges`` :math:`E`;
          ``density`` :math:`E / (N(N-1))` (``nx.density``; 0 when :math:`N < 2`);
        * ``weight_total`` :math:`\sum_{uv} W_{uv}`; ``weight_mean`` its mean over edges.

        Direction and degrees

        * ``reciprocity`` fraction of edges whose reverse is also an edge,
          :math:`\sum_{uv} A_{uv} A_{vu} / E` (``nx.overall_reciprocity``);
        * ``in_degree_mean``, ``in_degree_std``, ``out_degree_mean``, ``out_degree_std``:
          unweighted in-degree :math:`k^{in}_v = \sum_u A_{uv}` (number of teachers) and
          out-degree :math:`k^{out}_u = \sum_v A_{uv}` (number of students), population std;
        * ``untaught_nodes`` number of nodes with :math:`k^{in} = 0` (no one teaches them),
          ``untaught_node_list`` their indices, comma-separated (``""`` when none);
        * ``degree_assortativity`` Pearson correlation over edges :math:`u \to v` of
          :math:`k^{out}_u` and :math:`k^{in}_v`
          (``nx.degree_assortativity_coefficient(G, x="out", y="in")``; ``None`` when a
          degree is constant over the edges, e.g. on a ring).

        Connectivity and paths

        * ``weak_components``, ``strong_components``: counts
          (``nx.number_weakly_connected_components``, ``nx.number_strongly_connected_components``;
          an isolated node is a component);
        * ``path_component`` (always ``"largest strongly connected component"``) and
          ``path_component_size``: the component :math:`C` (ties: the one holding the smallest
          node index) on which
        * ``characteristic_path_length`` :math:`\frac{1}{|C|(|C|-1)} \sum_{u \ne v \in C}
          d_{uv}` (``nx.average_shortest_path_length``) and ``diameter``
          :math:`\max_{u,v \in C} d_{uv}` (``nx.diameter``) are computed, unweighted (hops);
          ``None`` when :math:`|C| = 1`;
        * ``global_efficiency`` :math:`\frac{1}{N(N-1)} \sum_{u \ne v} 1/d_{uv}` on the whole
          directed graph, with :math:`1/\infty = 0` for unreachable pairs (Latora & Marchiori;
          ``nx.global_efficiency`` is its undirected case).

        Clustering and communities

        * ``clustering_directed`` average over all nodes of the directed, unweighted
          clustering of Fagiolo (2007), :math:`c_u = \frac{(S^3)_{uu}}{2\,(k^{tot}_u
          (k^{tot}_u - 1) - 2 k^{\leftrightarrow}_u)}` with :math:`S = A + A^T`,
          :math:`k^{tot} = k^{in} + k^{out}`, :math:`k^{\leftrightarrow}_u = (A^2)_{uu}`,
          :math:`c_u = 0` when the denominator is 0 (``nx.average_clustering`` on a DiGraph);
        * ``modularity`` :math:`Q = \sum_c [\frac{w_c}{m} - (\frac{s_c}{2m})^2]` of the Louvain
          partition (``nx.community.louvain_communities(seed=seed)``, ``nx.community.modularity``)
          of the undirected graph weighted by :math:`(W + W^T)/2` (:math:`m` total weight,
          :math:`w_c` weight inside community :math:`c`, :math:`s_c` its total strength);
          ``communities`` the number of communities; ``modularity_skipped`` why they are
          ``None`` (no edges, more than ``COMMUNITY_MAX_EDGES`` undirected edges) or ``None``.

        Small world, on the undirected simple graph :math:`U` (:math:`u \sim v` when either
        direction is an edge), against ``references`` degree-preserving rewired references
        that keep :math:`U` connected: random ones (``nx.connected_double_edge_swap``,
        ``RANDOM_SWAPS_PER_EDGE`` attempts per edge) and lattice ones (swaps kept only when
        they bring edges closer to the ring order of the node indices, Sporns' latticization,
        ``LATTICE_SWAPS_PER_EDGE`` attempts per edge)

        * ``small_world_sigma`` :math:`\sigma = \frac{C / C_r}{L / L_r}` with :math:`C`
          the transitivity (``nx.transitivity``), :math:`L` the average shortest path length,
          :math:`C_r, L_r` their means over the random references (``nx.sigma``); small-world
          when :math:`\sigma > 1`;
        * ``small_world_omega`` :math:`\omega = L_r / L - C / C_l` with :math:`C` the average
          clustering (``nx.average_clustering``) and :math:`C_l` the largest of :math:`C` and
          the lattice references' (``nx.omega``): near -1 lattice, near 0 small world,
          near 1 random;
        * ``small_world_skipped`` why both are ``None`` (not asked for, more than
          ``SMALL_WORLD_MAX_NODES`` nodes, :math:`U` disconnected, fewer than 4 nodes or
          2 edges, no swap possible, zero reference clustering) or ``None``.

        Spectra of the symmetrised graph, :math:`L = D - S` with
        :math:`S = (X + X^T)/2` and :math:`D = \mathrm{diag}(S\mathbf{1})`
        (``numpy.linalg.eigvalsh``; second-smallest eigenvalue :math:`\lambda_2`, 0 exactly
        when the graph is disconnected, ``None`` when :math:`N < 2`)

        * ``algebraic_connectivity`` :math:`\lambda_2` with :math:`X = A` (unweighted;
          ``nx.algebraic_connectivity`` of :math:`(A + A^T)/2`);
        * ``algebraic_connectivity_weighted`` :math:`\lambda_2` with :math:`X = W`;
        * ``spectral_gap`` :math:`\lambda_2` of the normalised Laplacian
          :math:`D^{-1/2} L D^{-1/2}` with :math:`X = A` (in :math:`[0, 2]`, independent of
          the weights' scale; ``nx.normalized_laplacian_matrix``).

    Examples
    --------
    >>> import torch
    >>> cycle = Data(edge_index=torch.tensor([[0, 1, 2], [1, 2, 0]]), num_nodes=3)
    >>> m = metrics(cycle)
    >>> m["reciprocity"], m["strong_components"], m["diameter"]
    (0.0, 1, 2)
    """
    weights = _weights(graph)
    adjacency = weights > 0
    result: dict[str, Value] = {}
    result.update(_size_metrics(weights, adjacency))
    result.update(_degree_metrics(adjacency))
    result.update(_path_metrics(adjacency))
    result["clustering_directed"] = _directed_clustering(adjacency)
    result.update(_community_metrics(weights, seed))
    undirected = adjacency | adjacency.T
    if small_world:
        result.update(_small_world(undirected, references, seed))
    else:
        result.update(_skipped_small_world("not computed (small_world=False)"))
    result.update(_spectral_metrics(weights, adjacency))
    return result


def distance_correlation(graph: Data, pos: torch.Tensor | np.ndarray | None = None,
                         ) -> float | None:
    r"""Correlation of edge presence with the distance between the nodes' receptive fields.

    Over the :math:`N(N-1)` ordered pairs :math:`u \ne v`, the Pearson (point-biserial)
    correlation of :math:`A_{uv} \in \{0, 1\}` with :math:`\lVert p_u - p_v \rVert`, the
    Euclidean distance of the nodes' positions (``pos``, default ``graph.pos``: the
    receptive-field centres). Negative when the edges join nearby fields (local wiring),
    near 0 for wiring blind to space. ``None`` without positions, with fewer than 2 nodes, or
    when the edge presence or the distances are constant (no edge, all-to-all).
    """
    pos = getattr(graph, "pos", None) if pos is None else pos
    if pos is None:
        return None
    points = np.asarray(torch.as_tensor(pos).detach().cpu().double())
    adjacency = _weights(graph) > 0
    n = adjacency.shape[0]
    if n < 2 or points.shape[0] != n:
        return None
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    off = ~np.eye(n, dtype=bool)
    a, d = adjacency[off].astype(float), distances[off]
    if a.std() == 0 or d.std() == 0:
        return None
    return float(np.corrcoef(a, d)[0, 1])


def _weights(graph: Data) -> np.ndarray:
    """Dense ``W[teacher, student]`` (float64), duplicates summed, self-loops dropped."""
    num_nodes = getattr(graph, "num_nodes", None)
    with contextlib.suppress(TypeError):
        num_nodes = operator.index(num_nodes)  # int, numpy integer or 0-d integer tensor
    if not isinstance(num_nodes, int) or num_nodes < 1:
        raise GraphensError(
            f"metrics: the graph has num_nodes={num_nodes!r}; build it with num_nodes >= 1 "
            "(e.g. Data(edge_index=..., num_nodes=10)).")
    edge_index = check_edge_index(graph.edge_index.detach().cpu(), num_nodes)
    edge_weight = getattr(graph, "edge_weight", None)
    if edge_weight is not None:
        edge_weight = check_edge_weight(edge_weight.detach().cpu(), edge_index.shape[1],
                                        edge_index=edge_index).double()
    else:
        edge_weight = torch.ones(edge_index.shape[1], dtype=torch.float64)
    weights = to_dense_adj(edge_index, edge_attr=edge_weight, max_num_nodes=num_nodes)[0]
    weights.fill_diagonal_(0.0)
    return weights.numpy()


def _size_metrics(weights: np.ndarray, adjacency: np.ndarray) -> dict[str, Value]:
    n = adjacency.shape[0]
    edges = int(adjacency.sum())
    total = float(weights.sum())
    return {
        "nodes": n,
        "edges": edges,
        "density": edges / (n * (n - 1)) if n > 1 else 0.0,
        "weight_total": total,
        "weight_mean": total / edges if edges else None,
        "reciprocity": float((adjacency & adjacency.T).sum() / edges) if edges else None,
    }


def _degree_metrics(adjacency: np.ndarray) -> dict[str, Value]:
    in_degree = adjacency.sum(axis=0)
    out_degree = adjacency.sum(axis=1)
    untaught = np.flatnonzero(in_degree == 0)
    return {
        "in_degree_mean": float(in_degree.mean()),
        "in_degree_std": float(in_degree.std()),
        "out_degree_mean": float(out_degree.mean()),
        "out_degree_std": float(out_degree.std()),
        "untaught_nodes": int(untaught.size),
        "untaught_node_list": ",".join(str(int(node)) for node in untaught),
        "degree_assortativity": _assortativity(adjacency, out_degree, in_degree),
    }


def _assortativity(adjacency: np.ndarray, out_degree: np.ndarray,
                   in_degree: np.ndarray) -> float | None:
    """Pearson correlation of (source out-degree, target in-degree) over the edges."""
    source, target = np.nonzero(adjacency)
    if source.size < 2:
        return None
    x = out_degree[source].astype(np.float64)
    y = in_degree[target].astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    scale = math.sqrt(float(x @ x) * float(y @ y))
    if scale == 0.0:
        return None
    return float(x @ y) / scale


def _path_metrics(adjacency: np.ndarray) -> dict[str, Value]:
    n = adjacency.shape[0]
    matrix = csr_matrix(adjacency.astype(np.float64))
    weak, _ = csgraph.connected_components(matrix, directed=True, connection="weak")
    strong, labels = csgraph.connected_components(matrix, directed=True, connection="strong")
    component = np.flatnonzero(labels == _largest_label(labels))
    result: dict[str, Value] = {
        "weak_components": int(weak),
        "strong_components": int(strong),
        "path_component": PATH_COMPONENT,
        "path_component_size": int(component.size),
        "characteristic_path_length": None,
        "diameter": None,
        "global_efficiency": None,
    }
    if n < 2:
        return result
    distances = csgraph.shortest_path(matrix, directed=True, unweighted=True)
    off_diagonal = ~np.eye(n, dtype=bool)
    with np.errstate(divide="ignore"):
        inverse = np.where(np.isfinite(distances), 1.0 / distances, 0.0)
    result["global_efficiency"] = float(inverse[off_diagonal].mean())
    if component.size > 1:
        inside = distances[np.ix_(component, component)]
        inside = inside[~np.eye(component.size, dtype=bool)]
        result["characteristic_path_length"] = float(inside.mean())
        result["diameter"] = int(inside.max())
    return result


def _largest_label(labels: np.ndarray) -> int:
    """The label of the largest component; ties go to the one holding the smallest node."""
    sizes = np.bincount(labels)
    first_node = np.full(sizes.size, labels.size)
    np.minimum.at(first_node, labels, np.arange(labels.size))
    candidates = np.flatnonzero(sizes == sizes.max())
    return int(candidates[np.argmin(first_node[candidates])])


def _directed_clustering(adjacency: np.ndarray) -> float:
    """Average directed clustering (Fagiolo 2007), as ``nx.average_clustering(DiGraph)``."""
    a = adjacency.astype(np.float64)
    s = a + a.T
    closed = np.einsum("ij,ji->i", s @ s, s)  # (S^3)_uu
    total = s.sum(axis=1)
    reciprocal = np.einsum("ij,ji->i", a, a)  # (A^2)_uu
    denominator = 2.0 * (total * (total - 1.0) - 2.0 * reciprocal)
    positive = denominator > 0
    local = np.zeros_like(closed)
    local[positive] = closed[positive] / denominator[positive]
    return float(local.mean())


def _community_metrics(weights: np.ndarray, seed: int) -> dict[str, Value]:
    symmetric = (weights + weights.T) / 2.0
    pairs = int(np.count_nonzero(np.triu(symmetric, 1)))
    reason = None
    if pairs == 0:
        reason = "no edges"
    elif pairs > COMMUNITY_MAX_EDGES:
        reason = f"more than {COMMUNITY_MAX_EDGES} undirected edges ({pairs})"
    if reason is not None:
        return {"modularity": None, "communities": None, "modularity_skipped": reason}
    undirected = nx.from_numpy_array(symmetric)
    communities = nx.community.louvain_communities(undirected, weight="weight", seed=seed)
    modularity = nx.community.modularity(undirected, communities, weight="weight")
    return {"modularity": float(modularity), "communities": len(communities),
            "modularity_skipped": None}


def _skipped_small_world(reason: str) -> dict[str, Value]:
    return {"small_world_sigma": None, "small_world_omega": None,
            "small_world_skipped": reason}


def _small_world(undirected: np.ndarray, references: int, seed: int) -> dict[str, Value]:
    """sigma and omega of the undirected simple graph (see :func:`metrics`)."""
    n = undirected.shape[0]
    pairs = int(np.triu(undirected, 1).sum())
    if n > SMALL_WORLD_MAX_NODES:
        return _skipped_small_world(f"more than {SMALL_WORLD_MAX_NODES} nodes ({n})")
    if n < 4 or pairs < 2:
        return _skipped_small_world("fewer than 4 nodes or 2 edges")
    if not isinstance(references, int) or references < 1:
        raise GraphensError(f"metrics: references={references!r} must be an integer >= 1.")
    graph = nx.from_numpy_array(undirected.astype(np.int8))
    if not nx.is_connected(graph):
        return _skipped_small_world("the undirected graph is disconnected")
    rng = random.Random(seed)
    randoms, lattices, swaps = [], [], 0
    for _ in range(references):
        reference = graph.copy()
        swaps += nx.connected_double_edge_swap(reference, nswap=RANDOM_SWAPS_PER_EDGE * pairs,
                                               seed=rng)
        randoms.append(reference)
        lattices.append(_lattice_reference(graph, LATTICE_SWAPS_PER_EDGE * pairs, rng))
    if swaps == 0:
        return _skipped_small_world("no degree-preserving rewiring is possible")
    length = nx.average_shortest_path_length(graph)
    random_length = float(np.mean([nx.average_shortest_path_length(r) for r in randoms]))
    transitivity = nx.transitivity(graph)
    random_transitivity = float(np.mean([nx.transitivity(r) for r in randoms]))
    clustering = nx.average_clustering(graph)
    lattice_clustering = max([clustering, *(nx.average_clustering(g) for g in lattices)])
    if random_transitivity == 0.0 or lattice_clustering == 0.0:
        return _skipped_small_world("the references have zero clustering")
    sigma = (transitivity / random_transitivity) / (length / random_length)
    omega = random_length / length - clustering / lattice_clustering
    return {"small_world_sigma": float(sigma), "small_world_omega": float(omega),
            "small_world_skipped": None}


def _lattice_reference(graph: nx.Graph, attempts: int, rng: random.Random) -> nx.Graph:
    """Degree-preserving latticization that keeps the graph connected.

    Each attempt picks two edges ``(a, b)``, ``(c, d)`` uniformly and rewires them to
    ``(a, d)``, ``(c, b)`` when that shortens their total distance along the ring of node
    indices, :math:`\\min(|u - v|, N - |u - v|)`, creates no multi-edge and keeps the graph
    connected (Sporns & Zwi 2004; ``nx.lattice_reference`` without its per-attempt max-flow,
    which makes it ~100x slower).
    """
    lattice = graph.copy()
    n = lattice.number_of_nodes()
    edges = list(lattice.edges())

    def ring(u: int, v: int) -> int:
        return min(abs(u - v), n - abs(u - v))

    for _ in range(attempts):
        first, second = rng.randrange(len(edges)), rng.randrange(len(edges))
        (a, b), (c, d) = edges[first], edges[second]
        if rng.random() < 0.5:
            c, d = d, c
        if len({a, b, c, d}) < 4 or lattice.has_edge(a, d) or lattice.has_edge(c, b):
            continue
        if ring(a, d) + ring(c, b) >= ring(a, b) + ring(c, d):
            continue
        lattice.remove_edges_from([(a, b), (c, d)])
        lattice.add_edges_from([(a, d), (c, b)])
        if nx.has_path(lattice, a, b) and nx.has_path(lattice, c, d):
            edges[first], edges[second] = (a, d), (c, b)
        else:
            lattice.remove_edges_from([(a, d), (c, b)])
            lattice.add_edges_from([(a, b), (c, d)])
    return lattice


def _spectral_metrics(weights: np.ndarray, adjacency: np.ndarray) -> dict[str, Value]:
    n = adjacency.shape[0]
    if n < 2:
        return {"algebraic_connectivity": None, "algebraic_connectivity_weighted": None,
                "spectral_gap": None}
    binary = adjacency.astype(np.float64)
    return {
        "algebraic_connectivity": _second_eigenvalue(_laplacian(binary)),
        "algebraic_connectivity_weighted": _second_eigenvalue(_laplacian(weights)),
        "spectral_gap": _second_eigenvalue(_laplacian(binary, normalized=True)),
    }


def _laplacian(matrix: np.ndarray, normalized: bool = False) -> np.ndarray:
    """Laplacian of the symmetrised graph ``(X + X^T) / 2`` (optionally normalised)."""
    symmetric = (matrix + matrix.T) / 2.0
    degree = symmetric.sum(axis=1)
    laplacian = np.diag(degree) - symmetric
    if normalized:
        with np.errstate(divide="ignore"):
            scale = np.where(degree > 0, 1.0 / np.sqrt(degree), 0.0)
        laplacian = scale[:, None] * laplacian * scale[None, :]
    return laplacian


def _second_eigenvalue(laplacian: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        eigenvalues = np.linalg.eigvalsh(laplacian)
    value = float(eigenvalues[1])
    scale = max(1.0, float(np.abs(eigenvalues).max()))
    return 0.0 if abs(value) < 1e-10 * scale else value


__all__ = ["metrics", "SMALL_WORLD_MAX_NODES", "COMMUNITY_MAX_EDGES", "PATH_COMPONENT"]
