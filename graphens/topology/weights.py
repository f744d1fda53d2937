r"""Normalisation of the edge weights :math:`g_{ij}` (edge ``j -> i``: ``j`` teaches ``i``).

The loss is :math:`L = \sum_{j \to i} g_{ij} L_{ij}`, so rescaling the weights changes how
much each edge, student or teacher counts. :func:`graphens.topology.make_topology` applies one
of these rules after building any graph; the paper's families default to ``"none"`` (their
published weights), every other family, connectome and file to ``"sum"``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from graphens.errors import GraphensError

NORMALIZATIONS = ("none", "sum", "student", "teacher")


def check_normalization(how: object) -> str:
    """``how`` if it is one of :data:`NORMALIZATIONS`, else a :class:`GraphensError`."""
    if how not in NORMALIZATIONS:
        raise GraphensError(
            f"normalize={how!r} is not a weight normalisation; choose one of "
            f"{', '.join(NORMALIZATIONS)} (e.g. normalize=sum).")
    return str(how)


def normalize_weights(edge_index: Tensor, edge_weight: Tensor | None, num_nodes: int,
                      how: str) -> Tensor:
    r"""Rescale the edge weights by the rule ``how``.

    With :math:`g_{ij}` the weight of the edge ``j -> i`` (``edge_index[0] = j``, the
    teacher; ``edge_index[1] = i``, the student):

    * ``"none"``: :math:`g_{ij}` unchanged;
    * ``"sum"``: :math:`g_{ij} / \sum_{kl} g_{kl}` (all weights total 1);
    * ``"student"``: :math:`g_{ij} / \sum_{k} g_{ik}` (each student's incoming weights
      total 1, so every student weighs its teachers as a distribution);
    * ``"teacher"``: :math:`g_{ij} / \sum_{k} g_{kj}` (each teacher's outgoing weights
      total 1, so every teacher has the same total influence).

    A sum of zero (no edge, or only zero weights) leaves its weights at zero rather than
    dividing by zero.

    Parameters
    ----------
    edge_index : Tensor
        ``[2, E]`` (teacher, student) pairs.
    edge_weight : Tensor or None
        ``[E]`` non-negative weights; None means 1 for every edge.
    num_nodes : int
        Number of nodes ``N``.
    how : {"none", "sum", "student", "teacher"}
        The rule.

    Returns
    -------
    Tensor
        ``[E]`` float weights (a new tensor).
    """
    how = check_normalization(how)
    weight = (torch.ones(edge_index.shape[1], device=edge_index.device) if edge_weight is None
              else edge_weight.detach().clone().float())
    if how == "none" or weight.numel() == 0:
        return weight
    if how == "sum":
        total = weight.sum()
        return weight / total if total > 0 else weight
    # Per-node totals: index 1 of edge_index groups by student, index 0 by teacher.
    group = edge_index[1] if how == "student" else edge_index[0]
    denominator = scatter(weight, group, dim_size=num_nodes, reduce="sum")[group]
    return torch.where(denominator > 0, weight / denominator.clamp_min(1e-38), weight)


__all__ = ["NORMALIZATIONS", "check_normalization", "normalize_weights"]
