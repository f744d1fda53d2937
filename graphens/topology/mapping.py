"""Mapping the M neurons of a connectome (or the M nodes of any named graph) onto N nodes.

A mapping is a spec string, the ``map=`` parameter of ``connectome:NAME`` and ``file``
topologies and ``--map`` on the command line:

``all``
    one node per neuron (default).
``degree:N``
    the subgraph induced by the N neurons of highest total degree (number of incoming plus
    outgoing edges, unweighted), ties broken by name.
``random:N``
    the subgraph induced by N neurons drawn uniformly without replacement (seeded).
``names:AVAL,AVAR,...``
    the subgraph induced by the listed neurons, in the listed order.
``class:AVA,AVB,...``
    the subgraph induced by every neuron of the listed classes (see :func:`neuron_class`).
``coarse:communities``
    one node per community (Louvain on the weighted directed graph, seeded; Blondel et al.
    2008); the weight from community A to B is the summed weight of the edges from A's
    neurons to B's; edges inside a community are dropped.
``coarse:classes``
    one node per neuron class, weights summed the same way.

Subgraphs keep the original node order (``names:`` the listed order). The result records
the mapping in ``topology["mapping"]`` (spec, node counts, and for ``coarse:`` the members of
each group and the dropped within-group weight). Nodes left without a teacher (no incoming
edge) trigger a warning naming them.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Sequence

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import degree, subgraph, to_networkx

from graphens.errors import GraphensError, warn
from graphens.topology.generators import topology_graph

MAP_FORMS = ("all", "degree:N", "random:N", "names:A,B,...", "class:A,B,...",
             "coarse:communities", "coarse:classes")

_VENTRAL_CORD = re.compile(r"(AS|DA|DB|DD|VA|VB|VC|VD)\d+")
_PHARYNGEAL = re.compile(r"(I[1-6]|M[1-5]|MC|MI)[LR]?")


def neuron_class(name: str) -> str:
    """The class of a *C. elegans* neuron, from its name.

    Rule (it yields exactly the 118 classes of White et al. 1986 for the 302 hermaphrodite
    neurons):

    * ventral cord motor neurons ``AS|DA|DB|DD|VA|VB|VC|VD`` + index: the two letters
      (``VA12 -> VA``);
    * pharyngeal ``I1..I6``, ``M1..M5``, ``MC``, ``MI`` with an optional ``L``/``R``: without it
      (``M2L -> M2``, ``MCR -> MC``);
    * every other name: its first three characters, which drops the left/right,
      dorsal/ventral suffixes (``AVAL -> AVA``, ``IL1DL -> IL1``, ``SABVR -> SAB``,
      ``RMED -> RME``; single neurons such as ``AVL``, ``RID``, ``PVR`` are their own class).

    Names of other organisms or non-neuronal cells are grouped by the same rule, which may not
    be meaningful for them.

    References
    ----------
    White, Southgate, Thomson & Brenner (1986), Phil. Trans. R. Soc. B 314:1.
    """
    name = str(name)
    match = _VENTRAL_CORD.fullmatch(name) or _PHARYNGEAL.fullmatch(name)
    return match.group(1) if match else name[:3]


def map_nodes(graph: Data, spec: str = "all", num_nodes: int | None = None, seed: int = 0,
              ) -> Data:
    """Apply the mapping ``spec`` (see the module docstring) to a named graph.

    Parameters
    ----------
    graph : Data
        A topology graph with ``node_names`` (default labels ``"0".."M-1"``).
    spec : str
        The mapping.
    num_nodes : int, optional
        The node count the caller expects (``--nodes``); it must equal the mapped count.
    seed : int
        Seeds ``random:N`` and the Louvain communities.

    Returns
    -------
    Data
        The mapped graph, with ``node_names`` and the mapping in ``topology["mapping"]``.
    """
    if not isinstance(spec, str):
        raise GraphensError(f"map={spec!r} must be a string, one of {', '.join(MAP_FORMS)}.")
    names = _names(graph)
    kind, _, arg = spec.strip().partition(":")
    kind, arg = kind.strip().lower(), arg.strip()
    if kind == "all" and not arg:
        mapped = _induced(graph, list(range(len(names))), {"kind": "all"})
    elif kind == "degree":
        keep = _top_degree(graph, names, _count(arg, spec, len(names)))
        mapped = _induced(graph, keep, {"kind": "degree"})
    elif kind == "random":
        count = _count(arg, spec, len(names))
        chosen = np.random.default_rng(seed).choice(len(names), size=count, replace=False)
        mapped = _induced(graph, sorted(chosen.tolist()), {"kind": "random", "seed": seed})
    elif kind == "names":
        mapped = _induced(graph, _named(names, arg, spec), {"kind": "names"})
    elif kind == "class":
        mapped = _induced(graph, _of_classes(names, arg, spec), {"kind": "class"})
    elif kind == "coarse" and arg.lower() == "communities":
        mapped = _coarsen(graph, _communities(graph, names, seed), names,
                          {"kind": "coarse:communities", "seed": seed})
    elif kind == "coarse" and arg.lower() == "classes":
        mapped = _coarsen(graph, _classes(names), names, {"kind": "coarse:classes"})
    else:
        raise GraphensError(
            f"unknown map {spec!r}; use one of {', '.join(MAP_FORMS)} "
            "(e.g. --map degree:20).")
    mapped.topology["mapping"].update(spec=spec, from_nodes=len(names),
                                      to_nodes=mapped.num_nodes)
    _check_count(mapped, spec, num_nodes)
    warn_without_teacher(mapped)
    return mapped


def warn_without_teacher(graph: Data) -> list[str]:
    """Warn about (and return) the nodes with no incoming edge: they get no supervision."""
    names = _names(graph)
    incoming = degree(graph.edge_index[1], graph.num_nodes)
    orphans = [names[i] for i in torch.nonzero(incoming == 0).flatten().tolist()]
    if orphans:
        shown = ", ".join(orphans[:10]) + (f", ... (+{len(orphans) - 10} more)"
                                           if len(orphans) > 10 else "")
        warn(f"{len(orphans)} of {graph.num_nodes} nodes have no teacher (no incoming edge) and "
             f"get no cross-supervision: {shown}. Other synapse types (synapse='both') or "
             "another map may connect them.")
    return orphans


def _names(graph: Data) -> list[str]:
    names = getattr(graph, "node_names", None)
    return list(names) if names is not None else [str(i) for i in range(graph.num_nodes)]


def _count(arg: str, spec: str, available: int) -> int:
    try:
        count = int(arg)
    except ValueError:
        count = None
    if count is None or not 2 <= count <= available:
        raise GraphensError(
            f"map {spec!r}: N must be an integer in [2, {available}] (the graph has "
            f"{available} nodes), e.g. {spec.partition(':')[0]}:20.")
    return count


def _top_degree(graph: Data, names: list[str], count: int) -> list[int]:
    total = degree(graph.edge_index.flatten(), len(names)).tolist()  # in + out
    ranked = sorted(range(len(names)), key=lambda i: (-total[i], names[i]))
    return sorted(ranked[:count])


def _split(arg: str) -> list[str]:
    return [item.strip() for item in arg.split(",") if item.strip()]


def _unknown_error(spec: str, unknown: list[str], known: Sequence[str], what: str,
                   whats: str) -> GraphensError:
    hints = []
    for item in unknown[:10]:
        close = difflib.get_close_matches(item, known, n=3, cutoff=0.5)
        hints.append(f"{item} (did you mean {', '.join(close)}?)" if close else item)
    more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    return GraphensError(
        f"map {spec!r}: unknown {what} {'; '.join(hints)}{more}. The graph has "
        f"{len(known)} {whats}, e.g. {', '.join(list(known)[:5])}.")


def _named(names: list[str], arg: str, spec: str) -> list[int]:
    wanted = _split(arg)
    if len(wanted) < 2:
        raise GraphensError(
            f"map {spec!r}: list at least 2 comma-separated names, e.g. names:AVAL,AVAR.")
    repeated = sorted({w for w in wanted if wanted.count(w) > 1})
    if repeated:
        raise GraphensError(f"map {spec!r}: name(s) {', '.join(repeated)} listed twice.")
    index = {n: i for i, n in enumerate(names)}
    unknown = [w for w in wanted if w not in index]
    if unknown:
        raise _unknown_error(spec, unknown, names, "neuron", "neurons")
    return [index[w] for w in wanted]


def _of_classes(names: list[str], arg: str, spec: str) -> list[int]:
    wanted = _split(arg)
    classes = [neuron_class(n) for n in names]
    known = sorted(set(classes))
    unknown = [w for w in wanted if w not in known]
    if not wanted or unknown:
        raise _unknown_error(spec, unknown or ["(none given)"], known, "class", "classes")
    keep = [i for i, c in enumerate(classes) if c in set(wanted)]
    if len(keep) < 2:
        raise GraphensError(
            f"map {spec!r} keeps {len(keep)} neuron(s); an ensemble needs at least 2, list "
            "more classes.")
    return keep


def _classes(names: list[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        groups.setdefault(neuron_class(n), []).append(i)
    return dict(sorted(groups.items()))


def _communities(graph: Data, names: list[str], seed: int) -> dict[str, list[int]]:
    G = to_networkx(Data(edge_index=graph.edge_index, weight=graph.edge_weight,
                         num_nodes=len(names)), edge_attrs=["weight"])
    found = nx.community.louvain_communities(G, weight="weight", seed=seed)
    ordered = sorted((sorted(c) for c in found), key=lambda c: (-len(c), c[0]))
    return {f"community-{k}": members for k, members in enumerate(ordered)}


def _induced(graph: Data, keep: list[int], record: dict) -> Data:
    """The subgraph on the nodes ``keep`` (new node ``k`` = old node ``keep[k]``)."""
    names = _names(graph)
    edge_index, edge_weight = subgraph(torch.tensor(keep, dtype=torch.long), graph.edge_index,
                                       graph.edge_weight, relabel_nodes=True,
                                       num_nodes=graph.num_nodes)
    return _rebuild(graph, edge_index, edge_weight, [names[i] for i in keep], record)


def _coarsen(graph: Data, groups: dict[str, list[int]], names: list[str], record: dict,
             ) -> Data:
    """One node per group; edges between groups summed, edges within a group dropped."""
    if len(groups) < 2:
        raise GraphensError(
            f"{record['kind']} gives {len(groups)} group; an ensemble needs at least 2 nodes, "
            "use --map all or degree:N.")
    member = torch.empty(graph.num_nodes, dtype=torch.long)
    for k, nodes in enumerate(groups.values()):
        member[torch.tensor(nodes, dtype=torch.long)] = k
    edge_index = member[graph.edge_index]
    inside = edge_index[0] == edge_index[1]
    record = {**record,
              "groups": {g: [names[i] for i in nodes] for g, nodes in groups.items()},
              "intra_weight_dropped": float(graph.edge_weight[inside].sum())}
    return _rebuild(graph, edge_index[:, ~inside], graph.edge_weight[~inside], list(groups),
                    record)


def _rebuild(graph: Data, edge_index: torch.Tensor, edge_weight: torch.Tensor,
             names: list[str], mapping: dict) -> Data:
    record = copy.deepcopy(graph.topology)
    out = topology_graph(edge_index, edge_weight, len(names), record.get("family", "graph"),
                         record.get("params", {}), record.get("seed"))
    out.topology = {**record, "mapping": mapping}
    out.node_names = names
    return out


def _check_count(graph: Data, spec: str, num_nodes: int | None) -> None:
    if graph.num_nodes < 2:
        raise GraphensError(
            f"map {spec!r} gives {graph.num_nodes} node(s); an ensemble needs at least 2.")
    if num_nodes is not None and num_nodes != graph.num_nodes:
        raise GraphensError(
            f"--nodes {num_nodes} but map {spec!r} gives {graph.num_nodes} nodes; drop --nodes "
            f"(the graph decides) or pick {num_nodes} of them with --map degree:{num_nodes} "
            f"(or random:{num_nodes}).")


__all__ = ["MAP_FORMS", "map_nodes", "neuron_class", "warn_without_teacher"]
