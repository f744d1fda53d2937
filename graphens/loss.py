r"""The CLoSeR objective, written as message passing over the ensemble graph.

For a batch of :math:`B` stimuli, node embeddings :math:`z_i(b) \in \mathbb{R}^D` and an edge
:math:`j \to i` (``j`` = teacher = ``edge_index[0]``, ``i`` = student = ``edge_index[1]``):

.. math::

    \delta_{ij}(b, c) &= \tfrac{1}{D} \textstyle\sum_k (z_i(b)_k - z_j(c)_k)^2 \\
    \log p_{ij}(c)    &= -\delta_{ij}(c, c)/\tau
                         - \log \textstyle\sum_{b=1}^{B} \exp(-\delta_{ij}(b, c)/\tau) \\
    L_{ij}            &= -\tfrac{1}{B} \textstyle\sum_c \log p_{ij}(c) \\
    L                 &= \textstyle\sum_{j \to i} g_{ij} L_{ij}

For each stimulus ``c`` the teacher's embedding is the anchor and the student's embeddings of all
``B`` stimuli are the candidates. The message along an edge is its weighted loss
:math:`g_{ij} L_{ij}`; summing messages at the student gives each node's loss. One edge costs one
``B x B`` distance matrix, so the whole loss costs :math:`O(E B^2)` memory and time (plus the
:math:`O(E B D)` gathered embeddings), never the :math:`O(N^2 B^2 D)` of the dense reference.

Dense graphs (:math:`E \ge` ``GRAM_DENSITY`` :math:`\cdot N^2`) take a shortcut with the same
result: every student-teacher dot product comes out of one :math:`[NB, NB]` matrix product
:math:`Z_s Z_t^\top` (:math:`N^2 B^2 D` multiply-adds in one large GEMM instead of :math:`E`
small ones, and no gathered :math:`[E, B, D]` copies), from which the :math:`E` blocks are read.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing

from graphens.errors import GraphensError

DISTANCES = ("mean", "sum")
STOP_GRADIENTS = (None, "teacher", "student")
#: Edge density E / N^2 from which :class:`CLoSeRLoss` computes all dot products in one GEMM.
GRAM_DENSITY = 0.6  # measured crossover ~0.55 at N 10, B 128, D 256 (CPU)


class CLoSeRBreakdown(NamedTuple):
    """The loss with its parts: ``total = per_edge @ edge_weight = per_node.sum()``."""

    total: Tensor  #: scalar, :math:`L`
    per_edge: Tensor  #: ``[E]``, unweighted :math:`L_{ij}` in ``edge_index`` order
    per_node: Tensor  #: ``[N]``, :math:`\sum_j g_{ij} L_{ij}` summed at each student ``i``


def edge_losses(student: Tensor, teacher: Tensor, tau: float, distance: str,
                sq_student: Tensor | None = None) -> Tensor:
    r"""Unweighted :math:`L_{ij}` for a stack of edges.

    Parameters
    ----------
    student, teacher : Tensor
        ``[E, B, D]`` embeddings of each edge's student :math:`z_i` and teacher :math:`z_j`.
    tau : float
        Softmax temperature :math:`\tau`.
    distance : {"mean", "sum"}
        Mean or summed squared distance over the ``D`` embedding dimensions.
    sq_student : Tensor, optional
        ``[E, B]`` squared norms of the rows of ``student``, when the caller already has them
        (computed per node and gathered, they cost ``N B D``, not ``E B D``).

    Returns
    -------
    Tensor
        ``[E]`` cross-entropy of picking each teacher anchor's own stimulus among the student's
        candidates.

    Notes
    -----
    With :math:`s_b` the student's and :math:`t_c` the teacher's embeddings,
    :math:`\lVert s_b - t_c \rVert^2 = \lVert s_b \rVert^2 - 2 s_b \cdot t_c + \lVert t_c
    \rVert^2`. The last term is the same for every candidate :math:`b` of an anchor :math:`c`,
    so it cancels between the numerator and the normaliser of :math:`p_{ij}(c)` and is never
    computed: the logits are :math:`(2 s_b \cdot t_c - \lVert s_b \rVert^2) / (\tau D)`
    (without :math:`1/D` for ``distance="sum"``).
    """
    scale = 1.0 / student.shape[-1] if distance == "mean" else 1.0
    if sq_student is None:
        sq_student = student.pow(2).sum(-1)
    # rows b = candidates, cols c = anchors
    logits = torch.baddbmm(sq_student.unsqueeze(2), student, teacher.transpose(1, 2),
                           beta=-1.0, alpha=2.0).mul_(scale / tau)  # [E, B, B]
    return _cross_entropy(logits)


def _cross_entropy(logits: Tensor) -> Tensor:
    """``[E]`` mean over anchors (columns) of ``-log softmax`` of the diagonal candidate."""
    log_p = logits.diagonal(dim1=1, dim2=2) - torch.logsumexp(logits, dim=1)
    return -log_p.mean(dim=1)


def gram_edge_losses(student_z: Tensor, teacher_z: Tensor, edge_index: Tensor, tau: float,
                     distance: str) -> Tensor:
    r"""Unweighted :math:`L_{ij}` of every edge from one Gram matrix (for dense graphs).

    Parameters
    ----------
    student_z, teacher_z : Tensor
        ``[N, B, D]`` embeddings on the student and teacher side (the same tensor, or one of
        them detached for a stop-gradient).
    edge_index : Tensor
        ``[2, E]``; row 0 = teacher ``j``, row 1 = student ``i``.
    tau, distance
        As in :func:`edge_losses`.

    Returns
    -------
    Tensor
        ``[E]``, equal to :func:`edge_losses` on the gathered embeddings.

    Notes
    -----
    ``dots[i, b, j, c]`` :math:`= z_i(b) \cdot z_j(c)` for all node pairs costs
    :math:`N^2 B^2 D` multiply-adds in a single matrix product, against :math:`E B^2 D` for the
    per-edge products; at high density the large GEMM runs much closer to peak and skips the
    ``[E, B, D]`` gathers, so it is faster although it computes pairs without an edge.
    Memory is :math:`O(N^2 B^2)`, which stays :math:`O(E B^2)` at the densities it is used for.
    """
    n, b, d = student_z.shape
    scale = 1.0 / d if distance == "mean" else 1.0
    dots = (student_z.reshape(n * b, d) @ teacher_z.reshape(n * b, d).T).view(n, b, n, b)
    # logits[i, b, j, c]: candidate b of student i for anchor c of teacher j, for every pair
    # (i, j). Reducing over all pairs and reading the edges' entries afterwards avoids
    # gathering (and, backwards, scattering) E blocks of B x B.
    logits = (2.0 * dots - student_z.pow(2).sum(-1)[:, :, None, None]).mul_(scale / tau)
    log_p = logits.diagonal(dim1=1, dim2=3) - torch.logsumexp(logits, dim=1)  # [N (i), N (j), B]
    teacher, student = edge_index
    return -log_p.mean(dim=-1)[student, teacher]


class CLoSeRLoss(MessagePassing):
    r"""CLoSeR cross-supervision as a PyG message-passing layer.

    Node features are the embeddings ``z`` of shape ``[N, B, D]``. The message along
    ``j -> i`` is :math:`g_{ij} L_{ij}` (see the module docstring); messages are summed at the
    student, so :meth:`forward` returns the ``[N]`` per-node losses.

    Parameters
    ----------
    tau : float
        Softmax temperature (paper: 10).
    distance : {"mean", "sum"}
        Mean squared distance (paper default) or summed (equivalent to ``tau * D``).
    stop_gradient : {None, "teacher", "student"}
        Detach the teacher side (then :math:`L_{ij}` trains only student ``i``; a node that no one
        teaches never trains) or the student side.
    gram : bool, optional
        How the dot products are computed; the loss is the same either way. ``None`` (default)
        picks :func:`gram_edge_losses` when ``E >= GRAM_DENSITY * N**2`` and the per-edge
        products of :meth:`edge_update` otherwise; ``True`` / ``False`` force one of them.
    """

    def __init__(self, tau: float = 10.0, distance: str = "mean",
                 stop_gradient: str | None = None, gram: bool | None = None) -> None:
        super().__init__(aggr="add", node_dim=0)
        self.tau, self.distance, self.stop_gradient = check_loss_options(
            tau, distance, stop_gradient)
        if gram not in (None, True, False):
            raise GraphensError(f"gram={gram!r} must be None (automatic), True or False.")
        self.gram = gram

    def forward(self, z: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None,
                ) -> CLoSeRBreakdown:
        num_nodes = z.shape[0]
        teacher_z = z.detach() if self.stop_gradient == "teacher" else z
        student_z = z.detach() if self.stop_gradient == "student" else z
        if edge_weight is None:
            edge_weight = z.new_ones(edge_index.shape[1])
        size = (num_nodes, num_nodes)
        gram = self.gram
        if gram is None:
            gram = edge_index.shape[1] >= GRAM_DENSITY * num_nodes**2
        if gram:
            per_edge = gram_edge_losses(student_z, teacher_z, edge_index, self.tau,
                                        self.distance)
        else:  # edge update: L_ij from the lifted teacher (z_j) and student (z_i) embeddings
            per_edge = self.edge_updater(edge_index, z=(teacher_z, student_z),
                                         sq=student_z.pow(2).sum(-1), size=size)
        # Message g_ij * L_ij, summed at the student.
        per_node = self.propagate(edge_index, edge_loss=per_edge * edge_weight, size=size)
        return CLoSeRBreakdown(per_node.sum(), per_edge, per_node)

    def edge_update(self, z_j: Tensor, z_i: Tensor, sq_i: Tensor,
                    ) -> Tensor:  # PyG hook: z_* [E, B, D], sq_i [E, B] (student norms)
        return edge_losses(z_i, z_j, self.tau, self.distance, sq_i)

    def message(self, edge_loss: Tensor) -> Tensor:  # PyG hook
        return edge_loss

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(tau={self.tau}, distance={self.distance!r}, "
                f"stop_gradient={self.stop_gradient!r}, gram={self.gram!r})")


def check_loss_options(tau: float, distance: str, stop_gradient: str | None,
                       ) -> tuple[float, str, str | None]:
    """Validate the loss hyper-parameters; ``"none"`` is accepted for ``stop_gradient=None``."""
    if not (isinstance(tau, (int, float)) and tau > 0 and tau != float("inf")):
        raise GraphensError(f"tau={tau!r} must be a finite positive number (paper: 10).")
    if distance not in DISTANCES:
        raise GraphensError(f"distance={distance!r} is not one of {DISTANCES}.")
    if stop_gradient == "none":
        stop_gradient = None
    if stop_gradient not in STOP_GRADIENTS:
        raise GraphensError(
            f"stop_gradient={stop_gradient!r} is not one of None, 'teacher', 'student'.")
    return float(tau), distance, stop_gradient


def check_embeddings(z: Tensor, edge_index: Tensor, edge_weight: Tensor | None) -> None:
    """Shape checks shared by every loss entry point, with messages that name the fix."""
    if z.dim() != 3:
        raise GraphensError(
            f"z must have shape [N, B, D] (nodes, batch, embedding); got {tuple(z.shape)}.")
    if z.shape[1] < 2:
        raise GraphensError(
            f"the batch has {z.shape[1]} stimulus; the contrastive loss needs B >= 2.")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise GraphensError(f"edge_index must have shape [2, E]; got {tuple(edge_index.shape)}.")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= z.shape[0]):
        raise GraphensError(
            f"edge_index refers to node {int(edge_index.max())} (or a negative one) but z has "
            f"{z.shape[0]} nodes: node ids must lie in [0, {z.shape[0] - 1}].")
    if edge_weight is not None and edge_weight.shape != (edge_index.shape[1],):
        raise GraphensError(
            f"edge_weight has shape {tuple(edge_weight.shape)}; expected [{edge_index.shape[1]}]"
            " (one weight per edge).")


def closer_loss(z: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None,
                tau: float = 10.0, distance: str = "mean", stop_gradient: str | None = None,
                return_breakdown: bool = False, gram: bool | None = None,
                ) -> Tensor | CLoSeRBreakdown:
    r"""The CLoSeR loss :math:`L = \sum_{j \to i} g_{ij} L_{ij}` of ``method.md`` §2.

    Parameters
    ----------
    z : Tensor
        ``[N, B, D]`` embeddings of ``B`` stimuli by each of ``N`` nodes.
    edge_index : Tensor
        ``[2, E]``; row 0 = teacher ``j``, row 1 = student ``i``.
    edge_weight : Tensor, optional
        ``[E]`` weights :math:`g_{ij}`; ones when omitted.
    tau : float
        Softmax temperature :math:`\tau` (default 10).
    distance : {"mean", "sum"}
        Mean (default) or summed squared distance over embedding dimensions.
    stop_gradient : {None, "teacher", "student"}
        Which side of each edge receives no gradient.
    return_breakdown : bool
        Return a :class:`CLoSeRBreakdown` (total, per-edge, per-node) instead of the scalar.
    gram : bool, optional
        Force (True) or forbid (False) the one-GEMM computation of dense graphs; by default it
        is used from ``GRAM_DENSITY`` (see :class:`CLoSeRLoss`). The result is the same.

    Returns
    -------
    Tensor or CLoSeRBreakdown
        The scalar loss, or the breakdown.

    Examples
    --------
    >>> z = torch.randn(3, 8, 4)
    >>> edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])   # a directed ring
    >>> closer_loss(z, edge_index).shape
    torch.Size([])
    """
    check_embeddings(z, edge_index, edge_weight)
    out = CLoSeRLoss(tau, distance, stop_gradient, gram)(z, edge_index, edge_weight)
    return out if return_breakdown else out.total
