"""Topologies of the ensemble: who supervises whom.

``TOPOLOGIES`` maps a canonical name to a generator ``f(num_nodes, seed=..., **params)``
returning a PyG ``Data`` with ``edge_index``, ``edge_weight``, ``num_nodes`` and ``topology``.
The paper's families are in :mod:`~graphens.topology.generators`, the classic network families
in :mod:`~graphens.topology.families`, and the families wired on node positions in
:mod:`~graphens.topology.spatial`. :func:`make_topology` builds any of them (or a connectome, or
a file) and normalises the weights (:mod:`~graphens.topology.weights`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import Tensor
from torch_geometric.data import Data

from graphens.errors import GraphensError
from graphens.topology.convert import from_adjacency, from_edge_list, from_networkx
from graphens.topology.families import (
    barabasi_albert,
    bipartite,
    lattice,
    newman_watts,
    regular,
    sbm,
    torus,
    watts_strogatz,
)
from graphens.topology.generators import (
    all_to_all,
    directed_ring,
    erdos_renyi,
    gnk,
    ring,
    star,
)
from graphens.topology.metrics import metrics
from graphens.topology.null import rewired_null
from graphens.topology.spatial import distance_dependent, knn
from graphens.topology.weights import NORMALIZATIONS, check_normalization, normalize_weights

TOPOLOGIES: dict[str, Callable[..., Data]] = {
    # The paper's families (Urbach & Schneidman, 2025) and G(N, p).
    "all-to-all": all_to_all,
    "gnk": gnk,
    "erdos-renyi": erdos_renyi,
    "directed-ring": directed_ring,
    "ring": ring,
    "star": star,
    # Classic network families.
    "watts-strogatz": watts_strogatz,
    "newman-watts": newman_watts,
    "barabasi-albert": barabasi_albert,
    "sbm": sbm,
    "lattice": lattice,
    "torus": torus,
    "regular": regular,
    "bipartite": bipartite,
    # Wired on node positions.
    "distance": distance_dependent,
    "knn": knn,
}

#: Families whose published weights are kept by default (``normalize="none"``).
PAPER_FAMILIES = frozenset({"all-to-all", "gnk", "erdos-renyi", "directed-ring", "ring", "star"})


def topology_params(name: str) -> dict[str, object]:
    """The parameters a family accepts, with their defaults (``None``: derived from N).

    ``pos`` (positions, see :func:`uses_positions`) and ``normalize`` are arguments of
    :func:`make_topology` and are not listed.
    """
    signature = inspect.signature(_lookup(name))
    return {p.name: p.default for p in signature.parameters.values()
            if p.name not in ("num_nodes", "seed", "pos")}


def uses_positions(name: str) -> bool:
    """Whether the topology ``name`` is wired on node positions (its generator takes ``pos``)."""
    if graph_decides_nodes(name):
        return False
    return "pos" in inspect.signature(_lookup(name)).parameters


def default_normalization(name: str) -> str:
    """``"none"`` for the paper's families (published weights), ``"sum"`` for the rest."""
    return "none" if name in PAPER_FAMILIES else "sum"


def make_topology(name: str, num_nodes: int | None, seed: int = 0, *,
                  pos: Tensor | None = None, normalize: str | None = None,
                  **params: object) -> Data:
    """Build the topology ``name`` on ``num_nodes`` nodes and normalise its weights.

    ``name`` is a family of :data:`TOPOLOGIES`, ``"connectome:NAME"`` (a real connectome, see
    :mod:`graphens.topology.connectome`) or ``"file"`` with ``path=...`` (see
    :mod:`graphens.topology.readers`). For the last two ``num_nodes`` may be None (the graph
    decides); when given it must match.

    Parameters
    ----------
    pos : Tensor, optional
        ``[N, 2]`` node positions, passed to the families that use them
        (:func:`uses_positions`) and ignored by the others.
    normalize : {None, "none", "sum", "student", "teacher"}
        Weight normalisation applied after building (:func:`normalize_weights`); None means
        the family's default, :func:`default_normalization`.
        The choice is recorded in ``graph.topology["normalize"]``.
    **params
        The family's parameters (:func:`topology_params`).

    Examples
    --------
    >>> g = make_topology("directed-ring", 10, laterals=2)
    >>> g.edge_index.shape
    torch.Size([2, 20])
    >>> g = make_topology("watts-strogatz", 10, k=4, p=0.0)
    >>> round(float(g.edge_weight.sum()), 6), g.topology["normalize"]
    (1.0, 'sum')
    """
    # Checked before building so a typo does not cost a large build first.
    how = default_normalization(name) if normalize is None else check_normalization(normalize)
    graph = _build(name, num_nodes, seed, pos, params)
    graph.edge_weight = normalize_weights(graph.edge_index, getattr(graph, "edge_weight", None),
                                          graph.num_nodes, how)
    record = dict(getattr(graph, "topology", None) or {})
    record["normalize"] = how
    graph.topology = record
    return graph


def _build(name: str, num_nodes: int | None, seed: int, pos: Tensor | None,
           params: dict[str, object]) -> Data:
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
    if uses_positions(name):
        params = {**params, "pos": pos}
    return generator(num_nodes, seed=seed, **params)


def graph_decides_nodes(name: str) -> bool:
    """Connectomes and files: graphs that are read (and bring their own node count), not
    generated by a registry family."""
    return name.startswith("connectome:") or name == "file"


def _lookup(name: str) -> Callable[..., Data]:
    if name not in TOPOLOGIES:
        raise GraphensError(
            f"unknown topology {name!r}; choose one of {', '.join(sorted(TOPOLOGIES))}.")
    return TOPOLOGIES[name]


__all__ = ["TOPOLOGIES", "PAPER_FAMILIES", "NORMALIZATIONS", "make_topology",
           "graph_decides_nodes", "topology_params", "uses_positions", "default_normalization",
           "normalize_weights",
           "all_to_all", "gnk", "erdos_renyi", "directed_ring", "ring", "star",
           "watts_strogatz", "newman_watts", "barabasi_albert", "sbm", "lattice", "torus",
           "regular", "bipartite", "distance_dependent", "knn", "from_networkx",
           "from_adjacency", "from_edge_list", "rewired_null", "metrics"]
