"""The ensemble: the graph (topology + receptive fields) and the node bank (encoders).

``Ensemble(x)`` splits a batch of flat inputs ``[B, S]`` into every node's receptive field and
embeds all nodes at once, giving ``[N, B, D]``; the objectives (:mod:`graphens.objectives`)
read the graph's current edges. The graph is stored, never copied: edit ``ensemble.graph`` and
the next step trains the new topology.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from graphens.encoders import EncoderFactory, mlp_encoder
from graphens.errors import GraphensError
from graphens.graph import as_ensemble_graph, validate_graph
from graphens.node_bank import NodeBank
from graphens.validation import CheckedTensors


class Ensemble(nn.Module):
    """N encoders with fixed receptive fields, cross-supervised along a graph.

    Parameters
    ----------
    graph : EnsembleGraph
        The ensemble graph (see :func:`graphens.graph.ensemble_graph`); a plain ``Data`` (an
        old ``ensemble.pt``) is converted with :func:`graphens.graph.as_ensemble_graph`.
    encoder_factory : callable, optional
        ``factory(in_features) -> nn.Module``; default the paper's MLP.
    seed : int
        Initialisation seed of the node bank.
    node_seeds : sequence of int, optional
        One initialisation seed per node, instead of ``seed`` (see
        :class:`~graphens.node_bank.NodeBank`).
    """

    def __init__(self, graph: Data, encoder_factory: EncoderFactory | None = None,
                 seed: int = 0, node_seeds: Sequence[int] | None = None) -> None:
        super().__init__()
        graph = as_ensemble_graph(graph)
        validate_graph(graph)
        if getattr(graph, "rf_index", None) is None:
            raise GraphensError(
                "the graph has no receptive fields (rf_index, rf_mask): build it with "
                "graphens.graph.ensemble_graph(topology, fields).")
        self.graph = graph
        self._fields_read = CheckedTensors()  # see _field_summary
        self._fields = (0, False)
        factory = encoder_factory or mlp_encoder()
        self.bank = NodeBank(factory, graph.num_nodes, graph.rf_index.shape[1], seed=seed,
                             node_seeds=node_seeds)

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    def _apply(self, fn: Callable, recurse: bool = True) -> Ensemble:
        # Keep the graph on the parameters' device when the module is moved.
        super()._apply(fn, recurse)
        device = next(self.bank.parameters()).device
        self.graph = self.graph.to(device)
        return self

    def _field_summary(self) -> tuple[int, bool]:
        """The highest signal index of the fields and whether some field is padded.

        Reading them from a GPU is a host synchronisation, so they are read once per field
        tensors (a new tensor, or an in-place edit that bumps its version), not at every step.
        """
        index, mask = self.graph.rf_index, self.graph.rf_mask
        if not self._fields_read.holds(None, index, mask):
            self._fields = (int(index.max()), not bool(mask.all()))
            self._fields_read.add(None, index, mask)
        return self._fields

    def gather(self, x: Tensor) -> Tensor:
        """Each node's view of ``x``: ``[B, S]`` to ``[N, B, K_max]``, padding zeroed."""
        if x.dim() != 2:
            raise GraphensError(f"inputs must be flat [B, S]; got shape {tuple(x.shape)}.")
        index, mask = self.graph.rf_index, self.graph.rf_mask
        highest, _ = self._field_summary()
        if highest >= x.shape[1]:
            raise GraphensError(
                f"receptive fields select signal {highest} but inputs have {x.shape[1]} signals: "
                "the fields were drawn for data of another shape; redraw them for this data.")
        views = x[:, index]  # [B, N, K]
        views = views * mask.to(views.dtype)
        return views.permute(1, 0, 2)

    def forward(self, x: Tensor) -> Tensor:
        """Embeddings ``[N, B, D]`` of a batch ``x`` of shape ``[B, S]``.

        Encoders that take the signal mask (token encoders) get ``rf_mask`` when some node's
        field is padded, so padded patches are masked out of attention.
        """
        if self.bank.takes_mask and self._field_summary()[1]:
            return self.bank(self.gather(x), self.graph.rf_mask)
        return self.bank(self.gather(x))

    @torch.no_grad()
    def embed(self, x: Tensor, batch_size: int = 1024) -> Tensor:
        """Embeddings ``[N, n, D]`` of all rows of ``x`` in inference mode (no dropout)."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        try:
            chunks = [self(x[i:i + batch_size].to(device)).cpu()
                      for i in range(0, x.shape[0], batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(chunks, dim=1)
