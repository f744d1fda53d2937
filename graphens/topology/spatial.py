r"""Families wired on node positions (e.g. receptive-field centres): ``distance`` and ``knn``.

Each takes ``pos``, an ``[N, 2]`` array of positions in any unit (pixels, unit square...).
When ``pos`` is None the nodes get seeded uniform positions in the unit square, and the
topology record says so (``topology["positions"]`` is ``"uniform"``, else ``"given"``); the
positions used are returned as ``graph.pos``.

Length scales are relative to the positions so the same parameters work in any unit: the
unit is :math:`d_{nn}`, the median over nodes of the distance to the nearest other node
(ignoring coincident nodes; 1 if all nodes coincide). Every edge carries weight 1;
:func:`graphens.topology.make_topology` then normalises the weights to total 1 by default.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphens.errors import GraphensError
from graphens.topology.generators import (
    check_int,
    check_num_nodes,
    check_probability,
    edges_from_dense,
    topology_graph,
)

KERNELS = ("exponential", "waxman")


def _positions(pos: object, num_nodes: int, family: str,
               generator: torch.Generator) -> tuple[Tensor, str]:
    """The ``[N, 2]`` float64 positions and where they came from (``uniform`` or ``given``)."""
    if pos is None:
        return torch.rand(num_nodes, 2, generator=generator, dtype=torch.float64), "uniform"
    try:
        pos = torch.as_tensor(pos, dtype=torch.float64).cpu()
    except (TypeError, ValueError, RuntimeError):
        raise GraphensError(
            f"{family}: pos of type {type(pos).__name__} is not an [N, 2] array of "
            "positions.") from None
    if pos.shape != (num_nodes, 2):
        raise GraphensError(
            f"{family}: pos has shape {tuple(pos.shape)} but N={num_nodes}: give one (x, y) "
            f"position per node, shape [{num_nodes}, 2].")
    if not torch.isfinite(pos).all():
        raise GraphensError(f"{family}: pos has non-finite entries; positions must be finite.")
    return pos, "given"


def _pairwise_distances(pos: Tensor) -> Tensor:
    """Euclidean distances ``[N, N]`` computed directly, so equal gaps give equal values
    (``torch.cdist`` may use a matrix product whose rounding breaks ties)."""
    return (pos[:, None, :] - pos[None, :, :]).norm(dim=-1)


def nearest_neighbour_scale(distances: Tensor) -> float:
    """:math:`d_{nn}`: median distance from a node to its nearest other node (positive ones)."""
    off_diagonal = distances + torch.diag(torch.full((distances.shape[0],), math.inf,
                                                     dtype=distances.dtype))
    nearest = off_diagonal.min(dim=1).values
    nearest = nearest[nearest > 0]
    return float(nearest.median()) if nearest.numel() else 1.0


def _check_positive(value: object, name: str, family: str, allow_zero: bool = False) -> float:
    ok = (not isinstance(value, bool) and isinstance(value, (int, float))
          and math.isfinite(value) and (value >= 0 if allow_zero else value > 0))
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise GraphensError(f"{family}: {name}={value!r} must be a finite number {bound}.")
    return float(value)


def distance_dependent(num_nodes: int, pos: Tensor | None = None, kernel: str = "exponential",
                       cost: float = 1.0, length: float | None = None,
                       alpha: float | None = None, beta: float = 1.0, seed: int = 0) -> Data:
    r"""Distance-dependent random wiring (directed): near nodes are likelier to be wired.

    Each ordered pair :math:`(i, j)`, :math:`i \ne j`, is an edge ``j -> i`` independently
    with probability

    .. math:: P(i \leftarrow j) = \beta \, \exp(-c \, d_{ij} / \lambda),

    :math:`d_{ij}` the Euclidean distance between the positions of :math:`i` and :math:`j`,
    :math:`c` the wiring cost and :math:`\lambda` the kernel's length scale:

    * ``"exponential"`` (Kaiser & Hilgetag): :math:`\lambda = \ell \, d_{nn}`, with
      :math:`\ell` = ``length`` in units of the median nearest-neighbour distance;
    * ``"waxman"`` (Waxman): :math:`\lambda = \alpha L`, :math:`L = \max_{ij} d_{ij}` the
      largest distance.

    The cost :math:`c \ge 0` sets how steeply the probability falls with distance: the
    probability drops by a factor :math:`e` every :math:`\lambda / c`; :math:`c = 0` ignores
    distance (Erdős–Rényi with :math:`p = \beta`) and a large :math:`c` keeps only the
    nearest pairs. In the plane with uniform density an interior node expects about
    :math:`1.4 \beta \ell^2 / c^2` teachers under the exponential kernel (about 5.5 with the
    defaults), whatever :math:`N` and the unit of ``pos``. The Waxman length is instead a
    fixed fraction of the layout's extent, so its expected degree grows in proportion to
    :math:`N` (about :math:`0.08 \beta N` for uniform positions and :math:`\alpha = 0.1`) and a
    very small ensemble may get few or no edges. The draws are random, so a small ensemble
    can come out empty under either kernel.

    Parameters
    ----------
    pos : Tensor, optional
        ``[N, 2]`` positions; default seeded uniform positions in the unit square.
    kernel : {"exponential", "waxman"}
        Default ``"exponential"``.
    cost : float
        Wiring cost :math:`c \ge 0`; default 1.
    length : float, optional
        Exponential kernel only: :math:`\ell > 0` in units of :math:`d_{nn}`; default 2.
    alpha : float, optional
        Waxman kernel only: :math:`\alpha > 0`, the length scale as a fraction of
        :math:`L`; default 0.1.
    beta : float
        Probability at distance 0, in ``[0, 1]``; default 1.

    References
    ----------
    Waxman, B. M. (1988). Routing of multipoint connections. IEEE J. Sel. Areas Commun. 6,
    1617–1622.
    Kaiser, M. & Hilgetag, C. C. (2004). Spatial growth of real-world networks. Phys. Rev. E
    69, 036103.
    """
    family = "distance"
    n = check_num_nodes(num_nodes, family)
    if kernel not in KERNELS:
        raise GraphensError(
            f"{family}: kernel={kernel!r} is unknown; choose one of {', '.join(KERNELS)}.")
    cost = _check_positive(cost, "cost", family, allow_zero=True)
    beta = check_probability(beta, "beta", family)
    # Each kernel has its own length parameter; the other one would be silently ignored.
    unused = ("alpha", alpha) if kernel == "exponential" else ("length", length)
    if unused[1] is not None:
        raise GraphensError(
            f"{family}: {unused[0]}={unused[1]!r} does not apply to kernel={kernel!r}; "
            f"use length= with the exponential kernel, alpha= with waxman.")
    generator = torch.Generator().manual_seed(int(seed))
    pos, origin = _positions(pos, n, family, generator)
    distances = _pairwise_distances(pos)
    if kernel == "exponential":
        length = 2.0 if length is None else _check_positive(length, "length", family)
        scale = length * nearest_neighbour_scale(distances)
        params = {"kernel": kernel, "cost": cost, "length": length, "beta": beta}
    else:
        alpha = 0.1 if alpha is None else _check_positive(alpha, "alpha", family)
        largest = float(distances.max())
        # All nodes at one point: every distance is 0, so any positive scale gives P = beta.
        scale = alpha * largest if largest > 0 else 1.0
        params = {"kernel": kernel, "cost": cost, "alpha": alpha, "beta": beta}
    probability = beta * torch.exp(-cost * distances / scale)
    # weights[i, j] = 1 for the edge j -> i (distances are symmetric, draws are not).
    weights = (torch.rand(n, n, generator=generator, dtype=torch.float64) < probability).float()
    weights.fill_diagonal_(0.0)
    graph = topology_graph(*edges_from_dense(weights), n, family, params, seed)
    graph.topology.update(positions=origin, scale=scale)
    graph.pos = pos.float()  # where the nodes were wired (ensemble_graph keeps field centres)
    return graph


def knn(num_nodes: int, pos: Tensor | None = None, k: int | None = None, seed: int = 0,
        ) -> Data:
    r"""k-nearest-neighbour graph (directed): each node learns from its :math:`k` nearest.

    Edge ``j -> i`` exists when :math:`j` is among the :math:`k` nodes closest to :math:`i`
    (Euclidean distance between positions, :math:`j \ne i`), so every student has exactly
    :math:`k` teachers, while a teacher may have any number of students. Ties (e.g. on a
    grid of positions) are broken by a seeded random order.

    Parameters
    ----------
    pos : Tensor, optional
        ``[N, 2]`` positions; default seeded uniform positions in the unit square.
    k : int, optional
        Teachers per node, ``1 <= k <= N - 1``; default ``min(4, N - 1)``.

    References
    ----------
    Eppstein, D., Paterson, M. S. & Yao, F. F. (1997). On nearest-neighbor graphs.
    Discrete Comput. Geom. 17, 263–282.
    """
    n = check_num_nodes(num_nodes, "knn")
    k = min(4, n - 1) if k is None else check_int(
        k, "k", "knn", 1, n - 1, f"for N={n} (a node has N-1 other nodes to learn from)")
    generator = torch.Generator().manual_seed(int(seed))
    pos, origin = _positions(pos, n, "knn", generator)
    distances = _pairwise_distances(pos)
    distances.fill_diagonal_(math.inf)  # a node is never its own neighbour (k <= N-1)
    # Stable sort of the columns in a random order: equal distances keep that random order.
    order = torch.randperm(n, generator=generator)
    nearest = distances[:, order].sort(dim=1, stable=True).indices[:, :k]
    teachers = order[nearest].flatten()
    students = torch.arange(n).repeat_interleave(k)
    edge_index = torch.stack([teachers, students])
    graph = topology_graph(edge_index, torch.ones(n * k), n, "knn", {"k": k}, seed)
    graph.topology["positions"] = origin
    graph.pos = pos.float()
    return graph


__all__ = ["KERNELS", "distance_dependent", "knn", "nearest_neighbour_scale"]
