"""Topologies of the ensemble: who supervises whom.

``TOPOLOGIES`` maps a canonical name to a generator ``f(num_nodes, seed=..., **params)``
returning a PyG ``Data`` with ``edge_index``, ``edge_weight``, ``num_nodes`` and ``topology``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch_geometric.data import Data

from graphens.errors import GraphensError
from graphens.topology.generators import all_to_all, directed_ring, gnk, ring, star

TOPOLOGIES: dict[str, Callable[..., Data]] = {
    "all-to-all": all_to_all,
    "gnk": gnk,
    "directed-ring": directed_ring,
    "ring": ring,
    "star": star,
}


def topology_params(name: str) -> dict[str, object]:
    """The parameters a family accepts, with their defaults (``None``: derived from N)."""
    signature = inspect.signature(_lookup(name))
    return {p.name: p.default for p in signature.parameters.values()
            if p.name not in ("num_nodes", "seed")}


def make_topology(name: str, num_nodes: int | None, seed: int = 0, **params: object) -> Data:
    """Build the topology ``name`` on ``num_nodes`` nodes.

    ``name`` is a family of :data:`TOPOLOGIES`, ``"connectome:NAME"`` (a real connectome, see
    :mod:`graphens.topology.connectome`) or ``"file"`` with ``path=...`` (see
    :mod:`graphens.topology.readers`). For the last two ``num_nodes`` may be None (the graph
    decides); when given it must match.

    Examples
    --------
    >>> g = make_topology("directed-ring", 10, laterals=2)
    >>> g.edge_index.shape
    torch.Size([2, 20])
    """
    if name.startswith("connectome:"):
        from graphens.topology.connectome import connectome_topology
        return connectome_topology(name.partition(":")[2], num_nodes, seed=seed, **params)
    if name == "file":
        from graphens.topology.readers import file_topology
        return file_topology(num_nodes=num_nodes, seed=seed, **params)
    generator = _lookup(name)
    allowed = topology_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise GraphensError(
            f"topology {name!r} has no parameter(s) {unknown}; it accepts "
            f"{sorted(allowed) or 'none'}.")
    return generator(num_nodes, seed=seed, **params)


def _lookup(name: str) -> Callable[..., Data]:
    if name not in TOPOLOGIES:
        raise GraphensError(
            f"unknown topology {name!r}; choose one of {', '.join(sorted(TOPOLOGIES))}.")
    return TOPOLOGIES[name]


__all__ = ["TOPOLOGIES", "make_topology", "topology_params", "all_to_all", "gnk",
           "directed_ring", "ring", "star"]
