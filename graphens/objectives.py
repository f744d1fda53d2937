"""Training objectives: ``objective(z, y, graph) -> scalar loss``.

An objective is an ``nn.Module`` (it may own parameters, like the supervised heads); the
trainer optimises the ensemble's and the objective's parameters together. A new objective is
one class here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.data import Data

from graphens.errors import GraphensError
from graphens.loss import CLoSeRLoss


class CLoSeRObjective(nn.Module):
    r"""Cross-supervision over the graph's edges (``method.md`` §2); labels are ignored.

    :math:`L = \sum_{j \to i} g_{ij} L_{ij}` over the graph's current ``edge_index`` and
    ``edge_weight``, computed by the :class:`~graphens.loss.CLoSeRLoss` it holds
    (``self.loss``).

    For plastic topologies (:mod:`graphens.plasticity`), two hooks a rule sets when it is
    attached, both off by default (the default path computes the summed loss only):

    * ``records_edges = True``: the loss is computed as the ``[E]`` terms :math:`L_{ij}`
      (``reduction="none"``, the same cost) and summed here; ``edge_loss`` keeps them and
      ``last_z`` the batch's embeddings, detached, on the device (no host synchronisation);
    * ``edge_weight_fn(graph) -> (weight, penalty)``: weights to use instead of
      ``graph.edge_weight`` (learnable ones) and an optional scalar added to the loss.
    """

    needs_labels = False
    supports_edge_statistics = True

    def __init__(self, tau: float = 10.0, distance: str = "mean",
                 stop_gradient: str | None = None) -> None:
        super().__init__()
        self.loss = CLoSeRLoss(tau, distance, stop_gradient)
        self.records_edges = False
        self.edge_weight_fn: Callable[[Data], tuple[Tensor, Tensor | None]] | None = None
        self.edge_loss: Tensor | None = None
        self.last_z: Tensor | None = None

    @property
    def tau(self) -> float:
        return self.loss.tau

    @property
    def distance(self) -> str:
        return self.loss.distance

    @property
    def stop_gradient(self) -> str | None:
        """Read by ``train`` to warn about nodes that would never learn."""
        return self.loss.stop_gradient

    def forward(self, z: Tensor, y: Tensor | None, graph: Data) -> Tensor:
        weight = getattr(graph, "edge_weight", None)
        if not self.records_edges and self.edge_weight_fn is None:
            return self.loss(z, graph.edge_index, weight)
        penalty = None
        if self.edge_weight_fn is not None:
            weight, penalty = self.edge_weight_fn(graph)
        per_edge = self.loss(z, graph.edge_index, weight, reduction="none")
        self.edge_loss, self.last_z = per_edge.detach(), z.detach()
        loss = per_edge.sum() if weight is None else (per_edge * weight).sum()
        return loss if penalty is None else loss + penalty


class SupervisedObjective(nn.Module):
    r"""The supervised baseline: each node alone with its own linear softmax head.

    :math:`L = \sum_i \mathrm{CE}(W_i z_i + b_i, y)`; nodes share nothing, so each node's
    encoder is trained exactly as if it were alone.
    """

    needs_labels = True

    def __init__(self, num_nodes: int, dim: int, num_classes: int) -> None:
        super().__init__()
        if num_classes < 2:
            raise GraphensError(
                f"the supervised baseline needs labels with >= 2 classes; got {num_classes}.")
        self.weight = nn.Parameter(torch.empty(num_nodes, dim, num_classes))
        self.bias = nn.Parameter(torch.zeros(num_nodes, 1, num_classes))
        nn.init.xavier_uniform_(self.weight.view(num_nodes * dim, num_classes))
        self.num_classes = num_classes

    def forward(self, z: Tensor, y: Tensor | None, graph: Data) -> Tensor:
        if y is None:
            raise GraphensError("the supervised baseline needs labels; this dataset has none.")
        logits = torch.baddbmm(self.bias, z, self.weight)  # [N, B, classes]
        num_nodes = z.shape[0]
        return F.cross_entropy(logits.reshape(-1, self.num_classes), y.repeat(num_nodes),
                               reduction="mean") * num_nodes
