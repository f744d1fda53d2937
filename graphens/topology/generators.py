"""Topology generators: each family is one function ``f(num_nodes, seed=..., **params) -> Data``.

The returned graph holds ``edge_index`` (row 0 = teacher ``j``, row 1 = student ``i``),
``edge_weight`` (:math:`g_{ij}`), ``num_nodes`` and ``topology`` (family, parameters, seed).
The weights of the paper's families follow ``method.md`` §2 (Urbach & Schneidman, 2025).
A new family is one function here plus one entry in :data:`graphens.topology.TOPOLOGIES`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, dense_to_sparse

from graphens.errors import GraphensError


def topology_graph(edge_index: Tensor, edge_weight: Tensor, num_nodes: int, family: str,
                   params: dict, seed: int | None) -> Data:
    """Wrap edges into the ensemble's graph, merging duplicate edges by summing weights."""
    edge_index, edge_weight = coalesce(edge_index.long(), edge_weight.float(), num_nodes,
                                       reduce="sum")
    return Data(edge_index=edge_index, edge_weight=edge_weight, num_nodes=num_nodes,
                topology={"family": family, "params": dict(params), "seed": seed})


def check_num_nodes(num_nodes: int, family: str) -> int:
    if not isinstance(num_nodes, int) or isinstance(num_nodes, bool) or num_nodes < 2:
        raise GraphensError(
            f"{family}: num_nodes={num_nodes!r}; an ensemble needs at least 2 nodes "
            "(use --nodes 2 or more).")
    return num_nodes


def check_probability(value: object, name: str, family: str) -> float:
    """A probability parameter: a real number in ``[0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise GraphensError(
            f"{family}: {name}={value!r} must be a probability in [0, 1] (e.g. {name}=0.1).")
    return float(value)


def check_int(value: object, name: str, family: str, low: int, high: int, why: str = "") -> int:
    """An integer parameter in ``[low, high]``; ``why`` explains the bounds in the message."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise GraphensError(
            f"{family}: {name}={value!r} must be an integer in [{low}, {high}]"
            f"{' ' + why if why else ''}.")
    return value


def edges_from_dense(weights: Tensor) -> tuple[Tensor, Tensor]:
    """``weights[i, j] = g_ij`` (row = student, column = teacher) to (edge_index, edge_weight)."""
    edge_index, edge_weight = dense_to_sparse(weights)  # rows: (student, teacher)
    return edge_index.flip(0), edge_weight


def all_to_all(num_nodes: int, seed: int | None = None) -> Data:
    r"""Every node teaches every other: :math:`g_{ij} = 1/(N(N-1))` for all :math:`i \ne j`.

    The paper's main model (used without stop-gradient). Has :math:`N(N-1)` edges.
    """
    n = check_num_nodes(num_nodes, "all-to-all")
    weights = torch.full((n, n), 1.0 / (n * (n - 1)))
    weights.fill_diagonal_(0.0)
    return topology_graph(*edges_from_dense(weights), n, "all-to-all", {}, seed)


def gnk(num_nodes: int, k: int | None = None, seed: int = 0) -> Data:
    r""":math:`G_N^k`: ``k`` ordered pairs drawn uniformly without replacement among the
    :math:`N(N-1)`, weight 1 each (unnormalised, as in the paper).

    Parameters
    ----------
    k : int, optional
        Number of directed edges, ``1 <= k <= N(N-1)``. Default ``min(2N, N(N-1))`` (the edge
        count of a two-lateral directed ring, the paper's comparison point).
    """
    n = check_num_nodes(num_nodes, "gnk")
    possible = n * (n - 1)
    k = min(2 * n, possible) if k is None else k
    if not isinstance(k, int) or not 1 <= k <= possible:
        raise GraphensError(
            f"gnk: k={k!r} must be an integer in [1, N(N-1)={possible}] for N={n}.")
    generator = torch.Generator().manual_seed(int(seed))
    chosen = torch.randperm(possible, generator=generator)[:k]
    # Enumerate off-diagonal pairs (student i, teacher j): j skips i.
    student = chosen // (n - 1)
    offset = chosen % (n - 1)
    teacher = offset + (offset >= student).long()
    edge_index = torch.stack([teacher, student])
    return topology_graph(edge_index, torch.ones(k), n, "gnk", {"k": k}, seed)


def erdos_renyi(num_nodes: int, p: float | None = None, seed: int = 0) -> Data:
    r"""Directed Erdős–Rényi (Gilbert) graph :math:`G(N, p)`: each ordered pair
    :math:`(i, j)`, :math:`i \ne j`, is an edge ``j -> i`` independently with probability
    :math:`p`, weight 1 (unnormalised, like :func:`gnk`).

    The expected edge count is :math:`pN(N-1)`; unlike :func:`gnk` it is random.

    Parameters
    ----------
    p : float, optional
        Edge probability in ``[0, 1]``. Default :math:`\min(1, 2/(N-1))`, which gives the
        expected edge count :math:`2N` of a two-lateral directed ring (the paper's comparison
        point); it is 1 (all-to-all) for ``N <= 3``.

    References
    ----------
    Erdős, P. & Rényi, A. (1959). On random graphs I. Publ. Math. Debrecen 6, 290–297.
    Gilbert, E. N. (1959). Random graphs. Ann. Math. Statist. 30, 1141–1144.
    """
    n = check_num_nodes(num_nodes, "erdos-renyi")
    p = min(1.0, 2.0 / (n - 1)) if p is None else check_probability(p, "p", "erdos-renyi")
    generator = torch.Generator().manual_seed(int(seed))
    # weights[i, j] = 1 for the edge j -> i (row = student); the diagonal is never an edge.
    weights = (torch.rand(n, n, generator=generator) < p).float()
    weights.fill_diagonal_(0.0)
    return topology_graph(*edges_from_dense(weights), n, "erdos-renyi", {"p": p}, seed)


def _ring_offsets(num_nodes: int, offsets: list[int], weight: float, family: str,
                  params: dict, seed: int | None) -> Data:
    students = torch.arange(num_nodes).repeat(len(offsets))
    shift = torch.tensor(offsets).repeat_interleave(num_nodes)
    teachers = (students + shift) % num_nodes
    edge_index = torch.stack([teachers, students])
    return topology_graph(edge_index, torch.full((edge_index.shape[1],), weight), num_nodes,
                          family, params, seed)


def directed_ring(num_nodes: int, laterals: int | None = None, seed: int | None = None,
                  ) -> Data:
    r"""Directional ring: node ``i`` learns from ``(i + l) mod N`` for ``l = 1..L``,
    :math:`g_{i,(i+l) \bmod N} = 1/(LN)` (the paper uses ``L = 2``).

    Parameters
    ----------
    laterals : int
        ``L``, with ``1 <= L <= N - 1``; default ``min(2, N - 1)``.
    """
    n = check_num_nodes(num_nodes, "directed-ring")
    laterals = min(2, n - 1) if laterals is None else laterals
    if not isinstance(laterals, int) or not 1 <= laterals <= n - 1:
        raise GraphensError(
            f"directed-ring: laterals={laterals!r} must be an integer in [1, N-1={n - 1}].")
    return _ring_offsets(n, list(range(1, laterals + 1)), 1.0 / (laterals * n),
                         "directed-ring", {"laterals": laterals}, seed)


def ring(num_nodes: int, laterals: int = 1, seed: int | None = None) -> Data:
    r"""Bidirectional ring: node ``i`` learns from ``(i ± l) mod N`` for ``l = 1..L``,
    :math:`g = 1/(2LN)` (the paper uses ``L = 1``).

    When ``2L = N`` the two directions reach the same node; that edge keeps the summed
    weight, so the weights still total 1.

    Parameters
    ----------
    laterals : int
        ``L``, with ``1 <= L <= N // 2``.
    """
    n = check_num_nodes(num_nodes, "ring")
    if not isinstance(laterals, int) or not 1 <= laterals <= n // 2:
        raise GraphensError(
            f"ring: laterals={laterals!r} must be an integer in [1, N//2={n // 2}] for N={n}.")
    offsets = [s * lat for lat in range(1, laterals + 1) for s in (1, -1)]
    return _ring_offsets(n, offsets, 1.0 / (2 * laterals * n), "ring",
                         {"laterals": laterals}, seed)


def star(num_nodes: int, centers: int = 1, seed: int | None = None) -> Data:
    r"""Star (hub-and-spoke) with centres ``0..K-1``, the paper's weights.

    Ones on each centre's row (it learns from everyone) and column (everyone learns from it),
    each column divided by its sum, then the whole matrix divided by its total.

    Parameters
    ----------
    centers : int
        Number of hub nodes ``K``, ``1 <= K <= N - 1`` (paper: 1).
    """
    n = check_num_nodes(num_nodes, "star")
    if not isinstance(centers, int) or not 1 <= centers <= n - 1:
        raise GraphensError(
            f"star: centers={centers!r} must be an integer in [1, N-1={n - 1}].")
    weights = torch.zeros(n, n)
    weights[:centers, :] = 1.0
    weights[:, :centers] = 1.0
    weights.fill_diagonal_(0.0)
    weights = weights / weights.sum(dim=0, keepdim=True)
    weights = weights / weights.sum()
    return topology_graph(*edges_from_dense(weights), n, "star", {"centers": centers}, seed)
