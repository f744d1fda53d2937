"""The paper's optimiser (NAdam), stepped over cache-sized chunks of nodes.

The node bank stacks every parameter along a leading node dimension (``[N, out, in]``). NAdam
is elementwise, so stepping any split of a tensor along that dimension gives bit-identical
updates. Stepping small pieces is faster on the CPU: NAdam makes ~10 passes over each tensor,
and a piece of a few hundred KiB stays in cache across those passes while the whole stack does
not (2–3.5× for the paper's MLP at N 10 and 64; ``benchmarks/bench_optimizer.py``). Each piece
also costs ~12 small tensor operations of fixed overhead, so one piece per node (what this
class did first) grows with N in Python work: 8 N pieces for the paper's MLP, most of them a
bias of a few KiB. The pieces are therefore chunks of consecutive nodes of about
:data:`CHUNK_BYTES` each (a node larger than that is one piece): the paper's MLP on digits
(6 inputs per node) goes from 2392 pieces to 537 at N 299 and from 80 to 23 at N 10. 1 MiB
stepped fastest of 0 (per node), 256 KiB, 1 MiB and 4 MiB at N 100 (2 cores; the optimiser
step alone 0.71× the per-node time; ``benchmarks/bench_nodes.py`` for the whole step).

The optimiser's state dict is kept in the per-node layout (one entry per node slice), whatever
the chunking, so checkpoints written before the chunking load and vice versa.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from graphens.errors import GraphensError

#: Target size of one optimiser piece: consecutive nodes of a parameter are grouped until a
#: piece reaches this many bytes (a larger node is a piece alone). 0 means one piece per node.
CHUNK_BYTES = 1024 * 1024


class SlicedNAdam:
    """NAdam over chunks of nodes of stacked parameters, with the optimiser interface.

    Parameters
    ----------
    params : iterable of Tensor
        Parameters to optimise. Those with two or more dimensions are split along dim 0 (the
        node dimension of a :class:`graphens.node_bank.NodeBank`) into chunks of consecutive
        nodes of about :data:`CHUNK_BYTES`; the others stay whole.
    lr, eps : float
        NAdam's learning rate and epsilon (paper: 1e-3 and 1e-7).

    Notes
    -----
    The chunks are views of the parameters' storage, so build the optimiser after moving the
    model to its device, as with any optimiser. :meth:`state_dict` holds one entry per node
    slice (per parameter for 0- and 1-dimensional ones), independent of :data:`CHUNK_BYTES`.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, eps: float = 1e-7) -> None:
        self.params = [p for p in params if p.requires_grad]
        self._sizes = [_chunk_sizes(p) for p in self.params]
        self._slices = [_split(p.detach(), sizes)
                        for p, sizes in zip(self.params, self._sizes, strict=True)]
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
        for p, sizes, slices in zip(self.params, self._sizes, self._slices, strict=True):
            grads = (None,) * len(slices) if p.grad is None else _split(p.grad, sizes)
            for piece, grad in zip(slices, grads, strict=True):
                piece.grad = grad
        self.optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        """NAdam's state dict with one entry per node slice (views of the chunks' state)."""
        inner = self.optimizer.state_dict()
        state: dict[int, dict[str, Any]] = {}
        chunk = node = 0
        for p, sizes in zip(self.params, self._sizes, strict=True):
            for size in sizes:
                entry = inner["state"].get(chunk)
                for k in range(size if p.dim() >= 2 else 1):
                    if entry is not None:
                        state[node + k] = {
                            key: (value[k] if p.dim() >= 2 and key in _PER_ELEMENT
                                  else value.clone() if isinstance(value, Tensor) else value)
                            for key, value in entry.items()}
                node += size if p.dim() >= 2 else 1
                chunk += 1
        groups = [{**group, "params": list(range(node))} for group in inner["param_groups"]]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a state dict of :meth:`state_dict`'s per-node layout."""
        groups = state["param_groups"]
        nodes = sum(sum(sizes) if p.dim() >= 2 else 1
                    for p, sizes in zip(self.params, self._sizes, strict=True))
        if len(groups) != 1 or len(groups[0]["params"]) != nodes:
            raise ValueError(f"the optimiser state holds {[len(g['params']) for g in groups]} "
                             f"node slices; this model has {nodes}")
        ids = groups[0]["params"]
        saved = state["state"]
        chunks: dict[int, dict[str, Any]] = {}
        chunk = node = 0
        for p, sizes in zip(self.params, self._sizes, strict=True):
            for size in sizes:
                count = size if p.dim() >= 2 else 1
                entries = [saved.get(ids[node + k]) for k in range(count)]
                if all(e is not None for e in entries):
                    first = entries[0]
                    chunks[chunk] = {
                        key: (torch.stack([e[key] for e in entries]) if p.dim() >= 2
                              and key in _PER_ELEMENT else value)
                        for key, value in first.items()}
                elif any(e is not None for e in entries):
                    raise ValueError("the optimiser state covers only some nodes of a chunk")
                node += count
                chunk += 1
        inner_groups = [{**groups[0], "params": list(range(chunk))}]
        self.optimizer.load_state_dict({"state": chunks, "param_groups": inner_groups})

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


#: NAdam state entries with one value per parameter element (the others are scalars).
_PER_ELEMENT = frozenset({"exp_avg", "exp_avg_sq"})


def _chunk_sizes(p: Tensor) -> list[int]:
    """Nodes per chunk of ``p`` (one chunk for a 0- or 1-dimensional parameter)."""
    if p.dim() < 2:
        return [1]
    nodes = p.shape[0]
    node_bytes = max(1, p[0].numel() * p.element_size())
    per_chunk = max(1, CHUNK_BYTES // node_bytes)
    return [min(per_chunk, nodes - start) for start in range(0, nodes, per_chunk)]


def _split(t: Tensor, sizes: list[int]) -> tuple[Tensor, ...]:
    return t.split(sizes, dim=0) if t.dim() >= 2 else (t,)
