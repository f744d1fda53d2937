r"""The CLoSeR objective: a functional, :func:`closer_loss`, and a module holding its options,
:class:`CLoSeRLoss`.

For a batch of :math:`B` stimuli, node embeddings :math:`z_i(b) \in \mathbb{R}^D` and an edge
:math:`j \to i` (``j`` = teacher = ``edge_index[0]``, ``i`` = student = ``edge_index[1]``):

.. math::

    \delta_{ij}(b, c) &= \tfrac{1}{D} \textstyle\sum_k (z_i(b)_k - z_j(c)_k)^2 \\
    \log p_{ij}(c)    &= -\delta_{ij}(c, c)/\tau
                         - \log \textstyle\sum_{b=1}^{B} \exp(-\delta_{ij}(b, c)/\tau) \\
    L_{ij}            &= -\tfrac{1}{B} \textstyle\sum_c \log p_{ij}(c) \\
    L                 &= \textstyle\sum_{j \to i} g_{ij} L_{ij}

For each stimulus ``c`` the teacher's embedding is the anchor and the student's embeddings of all
``B`` stimuli are the candidates. The per-edge terms :math:`L_{ij}` are computed by gathering the
``E`` (student, teacher) pairs and one batched matrix product (:func:`edge_losses`): one
``B x B`` distance matrix per edge, :math:`O(E B^2)` memory and time (plus the :math:`O(E B D)`
gathered embeddings), never the :math:`O(N^2 B^2 D)` of the dense reference.

Dense graphs (:math:`E \ge` ``GRAM_DENSITY`` :math:`\cdot N^2`) take a shortcut with the same
result: every student-teacher dot product comes out of one :math:`[NB, NB]` matrix product
:math:`Z_s Z_t^\top` (:math:`N^2 B^2 D` multiply-adds in one large GEMM instead of :math:`E`
small ones, and no gathered :math:`[E, B, D]` copies), from which the :math:`E` blocks are read
(:func:`gram_edge_losses`).

No message passing: the only per-edge work is the pair of embeddings, and the aggregation is a
weighted sum. Each node's share (the loss it receives as a student) is a scatter of the
per-edge terms, when needed::

    per_edge = closer_loss(z, edge_index, reduction="none")             # [E], L_ij
    per_node = torch_geometric.utils.scatter(per_edge * edge_weight, edge_index[1],
                                             dim_size=z.shape[0], reduce="sum")
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from graphens.errors import GraphensError
from graphens.validation import (
    CheckedTensors,
    check_edge_index,
    check_edge_weight,
    check_embeddings,
)

DISTANCES = ("mean", "sum")
STOP_GRADIENTS = (None, "teacher", "student")
REDUCTIONS = ("sum", "none")
#: Edge density E / N^2 from which :func:`closer_loss` computes all dot products in one GEMM.
GRAM_DENSITY = 0.6  # measured crossover ~0.55 at N 10, B 128, D 256 (CPU)


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
    # rows b = candidates, cols c = anchors. (s.t - |s|^2/2) * 2 is 2 s.t - |s|^2 exactly
    # (scaling by 2 is exact); with alpha 1 the backward skips two passes over [E, B, D]
    # that multiply the products' gradients by alpha.
    logits = torch.baddbmm(sq_student.unsqueeze(2), student, teacher.transpose(1, 2),
                           beta=-0.5).mul_(2.0 * scale / tau)  # [E, B, B]
    return _cross_entropy(logits)


def _at_least_fp32(logits: Tensor) -> Tensor:
    """Half-precision logits (bf16 autocast) in fp32, so the softmax is reduced in fp32;
    fp32 and fp64 pass through unchanged."""
    return logits.float() if logits.dtype in (torch.bfloat16, torch.float16) else logits


def _cross_entropy(logits: Tensor) -> Tensor:
    """``[E]`` mean over anchors (columns) of ``-log softmax`` of the diagonal candidate."""
    return _CrossEntropy.apply(_at_least_fp32(logits))


class _CrossEntropy(torch.autograd.Function):
    """:func:`_cross_entropy` with a hand-written backward that builds the ``[E, B, B]``
    gradient in one buffer, ``(softmax - I) * grad / B``, where autograd's
    logsumexp / diagonal / mean chain allocates five ``[E, B, B]`` tensors; it computes the
    same operations in the same order."""

    @staticmethod
    def forward(ctx: Any, logits: Tensor) -> Tensor:
        lse = torch.logsumexp(logits, dim=1)  # [E, B]
        ctx.save_for_backward(logits, lse)
        return -(logits.diagonal(dim1=1, dim2=2) - lse).mean(dim=1)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        logits, lse = ctx.saved_tensors
        scale = (grad / logits.shape[2]).unsqueeze(1)  # [E, 1]: d out_e / d lse_e(c)
        out = torch.sub(logits, lse.unsqueeze(1)).exp_().mul_(scale.unsqueeze(1))
        out.diagonal(dim1=1, dim2=2).sub_(scale)
        return out


def _gather_rows(z: Tensor, index: Tensor) -> Tensor:
    """``z.index_select(0, index)`` whose backward sums the rows' gradients per node
    deterministically and in parallel on the CPU (see :class:`_GatherRows`)."""
    if z.device.type != "cpu" or z.dtype not in (torch.float32, torch.float64) \
            or not z.requires_grad or index.numel() == 0:
        # index_select, not z[index]: its backward is deterministic on CPU (index_add), where
        # index_put(accumulate=True) is not.
        return z.index_select(0, index)
    return _GatherRows.apply(z, index)


class _GatherRows(torch.autograd.Function):
    """Rows of ``z`` by ``index``; backward ``grad_z[n] = sum of grad[e] over index[e] = n``.

    Autograd's backward of ``index_select`` is ``index_add_``, which on the CPU adds the ``E``
    rows one after another (for ``[E, B, D]`` per-edge embeddings it was a third of the loss's
    time at 2266 edges). Here the sum is one sparse ``[N, E] @ [E, B*D]`` product with the
    0/1 incidence matrix in CSR form: parallel over nodes, each node's rows summed in edge
    order, so the result is deterministic and equal to ``index_add_``'s.
    """

    @staticmethod
    def forward(ctx: Any, z: Tensor, index: Tensor) -> Tensor:
        ctx.save_for_backward(index)
        ctx.num_rows = z.shape[0]
        return z.index_select(0, index)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (index,) = ctx.saved_tensors
        rows, edges = ctx.num_rows, index.numel()
        order = torch.argsort(index, stable=True)
        counts = torch.bincount(index, minlength=rows)
        crow = torch.zeros(rows + 1, dtype=torch.long, device=index.device)
        torch.cumsum(counts, 0, out=crow[1:])
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            incidence = torch.sparse_csr_tensor(
                crow, order, torch.ones(edges, dtype=grad.dtype, device=grad.device),
                size=(rows, edges))
        summed = incidence @ grad.reshape(edges, grad[0].numel())
        return summed.reshape(rows, *grad.shape[1:]), None


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
    logits = _at_least_fp32(logits)
    log_p = logits.diagonal(dim1=1, dim2=3) - torch.logsumexp(logits, dim=1)  # [N (i), N (j), B]
    teacher, student = edge_index
    # index_select, not advanced indexing: its backward (index_add) is deterministic on CPU,
    # where index_put(accumulate=True) is not.
    return -log_p.mean(dim=-1).flatten().index_select(0, student * n + teacher)


def check_loss_options(tau: float, distance: str, stop_gradient: str | None,
                       ) -> tuple[float, str, str | None]:
    """Validate the loss hyper-parameters; ``"none"`` is accepted for ``stop_gradient=None``."""
    if isinstance(tau, bool) or not (isinstance(tau, (int, float)) and 0 < tau < float("inf")):
        raise GraphensError(f"tau={tau!r} must be a finite positive number (paper: 10).")
    if distance not in DISTANCES:
        raise GraphensError(f"distance={distance!r} is not one of {DISTANCES}.")
    if stop_gradient == "none":
        stop_gradient = None
    if stop_gradient not in STOP_GRADIENTS:
        raise GraphensError(
            f"stop_gradient={stop_gradient!r} is not one of None, 'teacher', 'student'.")
    return float(tau), distance, stop_gradient


def _check_gram(gram: object) -> bool | None:
    if gram is not None and not isinstance(gram, bool):
        raise GraphensError(f"gram={gram!r} must be None (automatic), True or False.")
    return gram


def _check_reduction(reduction: object) -> str:
    if reduction not in REDUCTIONS:
        raise GraphensError(
            f"reduction={reduction!r} is not one of {REDUCTIONS}: 'sum' gives the scalar loss, "
            "'none' the [E] per-edge terms.")
    return str(reduction)


def closer_loss(z: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None, *,
                tau: float = 10.0, distance: str = "mean", stop_gradient: str | None = None,
                reduction: str = "sum", gram: bool | None = None,
                checked: bool = False) -> Tensor:
    r"""The CLoSeR loss :math:`L = \sum_{j \to i} g_{ij} L_{ij}` of ``method.md`` §2.

    Parameters
    ----------
    z : Tensor
        ``[N, B, D]`` embeddings of ``B >= 2`` stimuli by each of ``N`` nodes.
    edge_index : Tensor
        ``[2, E]``; row 0 = teacher ``j``, row 1 = student ``i``.
    edge_weight : Tensor, optional
        ``[E]`` weights :math:`g_{ij} \ge 0`; ones when omitted.
    tau : float
        Softmax temperature :math:`\tau` (default 10).
    distance : {"mean", "sum"}
        Mean (default) or summed squared distance over embedding dimensions (``"sum"`` is
        ``"mean"`` with :math:`\tau D` for :math:`\tau`).
    stop_gradient : {None, "teacher", "student"}
        Which side of each edge receives no gradient (``"teacher"``: :math:`L_{ij}` trains
        only the student :math:`i`; a node no one teaches then never trains).
    reduction : {"sum", "none"}
        ``"sum"``: the scalar :math:`L`. ``"none"``: the ``[E]`` **unweighted** terms
        :math:`L_{ij}` in ``edge_index`` order (so ``(out * edge_weight).sum()`` is :math:`L`).
    gram : bool, optional
        How the dot products are computed; the result is the same either way. ``None``
        (default) uses :func:`gram_edge_losses` when ``E >= GRAM_DENSITY * N**2`` and the
        per-edge products of :func:`edge_losses` otherwise; ``True`` / ``False`` force one.
    checked : bool
        The caller has checked ``edge_index`` and ``edge_weight`` against ``N`` already
        (:func:`~graphens.validation.check_edge_index`, ``check_edge_weight``), so their values
        are not read again: each read is a host synchronisation on a GPU. :class:`CLoSeRLoss`
        checks each edge tensor once and then passes True.

    Returns
    -------
    Tensor
        Scalar, or ``[E]`` for ``reduction="none"``.

    Examples
    --------
    >>> z = torch.randn(3, 8, 4)
    >>> edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])   # a directed ring
    >>> closer_loss(z, edge_index).shape
    torch.Size([])
    >>> closer_loss(z, edge_index, reduction="none").shape
    torch.Size([3])
    """
    tau, distance, stop_gradient = check_loss_options(tau, distance, stop_gradient)
    gram, reduction = _check_gram(gram), _check_reduction(reduction)
    # Finite values are not checked: that would cost a pass over z and a host sync per step,
    # and a NaN embedding gives a NaN loss anyway.
    check_embeddings(z, finite=False)
    num_nodes = z.shape[0]
    if checked:
        edge_index = edge_index.long()
    else:
        edge_index = check_edge_index(edge_index, num_nodes)
        check_edge_weight(edge_weight, edge_index.shape[1], edge_index=edge_index)

    teacher_z = z.detach() if stop_gradient == "teacher" else z
    student_z = z.detach() if stop_gradient == "student" else z
    if gram is None:
        gram = edge_index.shape[1] >= GRAM_DENSITY * num_nodes**2
    if gram:
        per_edge = gram_edge_losses(student_z, teacher_z, edge_index, tau, distance)
    else:
        teacher, student = edge_index
        # Squared norms per node (N B D), gathered per edge, instead of per edge (E B D).
        sq_student = _gather_rows(student_z.pow(2).sum(-1), student)
        per_edge = edge_losses(_gather_rows(student_z, student), _gather_rows(teacher_z, teacher),
                               tau, distance, sq_student)
    if reduction == "none":
        return per_edge
    return per_edge.sum() if edge_weight is None else (per_edge * edge_weight).sum()


class CLoSeRLoss(nn.Module):
    r"""The CLoSeR loss as a module holding its options; :meth:`forward` calls
    :func:`closer_loss`.

    :math:`L = \sum_{j \to i} g_{ij} L_{ij}` over the edges ``j -> i`` of ``edge_index``
    (see the module docstring for :math:`L_{ij}`).

    Parameters
    ----------
    tau : float
        Softmax temperature (paper: 10).
    distance : {"mean", "sum"}
        Mean squared distance (paper default) or summed (equivalent to ``tau * D``).
    stop_gradient : {None, "teacher", "student"}
        Detach the teacher side (then :math:`L_{ij}` trains only student ``i``; a node that no
        one teaches never trains) or the student side.
    gram : bool, optional
        Force (True) or forbid (False) the one-GEMM path of dense graphs; ``None`` chooses by
        density (``GRAM_DENSITY``). The loss is the same either way.

    Examples
    --------
    >>> loss = CLoSeRLoss(tau=0.5, stop_gradient="teacher")
    >>> z = torch.randn(3, 8, 4, requires_grad=True)
    >>> loss(z, torch.tensor([[0, 1, 2], [1, 2, 0]])).backward()
    """

    def __init__(self, tau: float = 10.0, distance: str = "mean",
                 stop_gradient: str | None = None, gram: bool | None = None) -> None:
        super().__init__()
        self.tau, self.distance, self.stop_gradient = check_loss_options(
            tau, distance, stop_gradient)
        self.gram = _check_gram(gram)
        self._checked = CheckedTensors()

    def forward(self, z: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None,
                reduction: str = "sum") -> Tensor:
        """:func:`closer_loss` of ``z`` over the edges with this module's options; the edges
        are checked once, not at every step (see ``checked`` of :func:`closer_loss`)."""
        num_nodes = check_embeddings(z, finite=False).shape[0]
        if not self._checked.holds(num_nodes, edge_index, edge_weight):
            long_index = check_edge_index(edge_index, num_nodes)
            check_edge_weight(edge_weight, long_index.shape[1], edge_index=long_index)
            self._checked.add(num_nodes, edge_index, edge_weight)
        return closer_loss(z, edge_index, edge_weight, tau=self.tau, distance=self.distance,
                           stop_gradient=self.stop_gradient, reduction=reduction,
                           gram=self.gram, checked=True)

    def extra_repr(self) -> str:
        return (f"tau={self.tau}, distance={self.distance!r}, "
                f"stop_gradient={self.stop_gradient!r}, gram={self.gram!r}")


__all__ = ["CLoSeRLoss", "closer_loss", "edge_losses", "gram_edge_losses", "check_loss_options",
           "DISTANCES", "STOP_GRADIENTS", "REDUCTIONS", "GRAM_DENSITY"]
