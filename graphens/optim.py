"""The paper's optimiser (NAdam), stepped one node slice at a time.

The node bank stacks every parameter along a leading node dimension (``[N, out, in]``). NAdam
is elementwise, so stepping each node's slice separately gives bit-identical updates, while
on the CPU the optimiser step alone runs 2–3.5× faster for the paper's MLP (2 cores, N 10 and
N 64; ``benchmarks/bench_optimizer.py``): NAdam makes ~10 passes over each tensor,
and one node's slice stays in cache across those passes while the whole stack does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from graphens.errors import GraphensError


class SlicedNAdam:
    """NAdam over per-node slices of stacked parameters, with the optimiser interface.

    Parameters
    ----------
    params : iterable of Tensor
        Parameters to optimise. Those with two or more dimensions are split along dim 0 (the
        node dimension of a :class:`graphens.node_bank.NodeBank`); the others stay whole.
    lr, eps : float
        NAdam's learning rate and epsilon (paper: 1e-3 and 1e-7).

    Notes
    -----
    The slices are views of the parameters' storage, so build the optimiser after moving the
    model to its device, as with any optimiser.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, eps: float = 1e-7) -> None:
        self.params = [p for p in params if p.requires_grad]
        self._slices = [_slices(p.detach()) for p in self.params]
        flat = [s for slices in self._slices for s in slices]
        # foreach=False: the point is one small tensor at a time (see the module docstring).
        self.optimizer = torch.optim.NAdam(flat, lr=lr, eps=eps, foreach=False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def step(self) -> None:
        for p, slices in zip(self.params, self._slices, strict=True):
            grads = (None,) * len(slices) if p.grad is None else _slices(p.grad)
            for piece, grad in zip(slices, grads, strict=True):
                piece.grad = grad
        self.optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)

    def _node_positions(self, nodes: range) -> list[int]:
        """Positions of ``nodes``' entries in :meth:`state_dict`'s per-node layout (one entry
        per node slice of each node-stacked parameter), parameter by parameter."""
        index, start = [], 0
        for p in self.params:
            count = p.shape[0] if p.dim() >= 2 else 1
            if len(nodes) and count < nodes.stop:
                raise GraphensError(
                    f"nodes {nodes.start}..{nodes.stop - 1} are not all rows of every parameter "
                    f"(one has {count}); only node-stacked parameters split by node.")
            index += [start + node for node in nodes]
            start += count
        return index

    def node_state_dict(self, nodes: range) -> dict[str, Any]:
        """The state an optimiser over only ``nodes``' rows of the same parameters would have.

        The result loads into a :class:`SlicedNAdam` of a model holding those nodes alone
        (a fleet member's solo run, :mod:`graphens.fleet`); its tensors are copies, so saving
        it saves only these nodes.
        """
        state = self.state_dict()
        positions = self._node_positions(nodes)
        group = {**state["param_groups"][0], "params": list(range(len(positions)))}
        return {"state": {new: {key: value.clone() if isinstance(value, Tensor) else value
                                for key, value in state["state"][old].items()}
                          for new, old in enumerate(positions) if old in state["state"]},
                "param_groups": [group]}

    def merged_node_state_dict(self, parts: Sequence[tuple[range, dict[str, Any]]],
                               ) -> dict[str, Any]:
        """A state dict of this optimiser assembled from the states of disjoint node ranges
        (:meth:`node_state_dict`'s output); load it with :meth:`load_state_dict`."""
        merged: dict[int, Any] = {}
        for nodes, state in parts:
            own = self._node_positions(nodes)
            merged.update({own[int(i)]: value for i, value in state["state"].items()})
        return {"state": merged, "param_groups": self.state_dict()["param_groups"]}


def _slices(t: Tensor) -> tuple[Tensor, ...]:
    return t.unbind(0) if t.dim() >= 2 else (t,)
