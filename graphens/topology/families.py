r"""Classic network families: small-world, scale-free, modular, lattices, regular, bipartite.

Each family is one function ``f(num_nodes, <params>, seed=...) -> Data`` that builds from
``num_nodes`` alone for any :math:`N \ge 2` (defaults adapt to :math:`N`). Every edge carries
weight 1 (parallel edges are summed, self-loops dropped); :func:`graphens.topology.make_topology`
then normalises the weights to total 1 unless told otherwise. Undirected families give both
directions of every edge (:math:`g_{ij} = g_{ji}`); the directed ones say which way an edge
goes: ``j -> i`` means teacher ``j``, student ``i``, as everywhere in graphens.

Random families are seeded: the same seed gives the same graph.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import networkx as nx
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import remove_self_loops, to_undirected

from graphens.errors import GraphensError
from graphens.topology.generators import (
    check_int,
    check_num_nodes,
    check_probability,
    edges_from_dense,
    topology_graph,
)


def _unit_graph(edge_index: Tensor, num_nodes: int, family: str, params: dict,
                seed: int | None, undirected: bool = False) -> Data:
    """Weight 1 per listed edge, self-loops dropped, parallel edges summed.

    ``undirected``: each edge ``u - v`` is ``u -> v`` and ``v -> u`` (``to_undirected``), so
    an edge listed both ways (e.g. on a torus two nodes wide) weighs 2 each way.
    """
    edge_weight = torch.ones(edge_index.shape[1])
    if undirected:
        edge_index, edge_weight = to_undirected(edge_index, edge_weight, num_nodes,
                                                reduce="sum")
    edge_index, edge_weight = remove_self_loops(edge_index, edge_weight)
    return topology_graph(edge_index, edge_weight, num_nodes, family, params, seed)


def _from_networkx(graph: nx.Graph, num_nodes: int, family: str, params: dict,
                   seed: int | None) -> Data:
    """A networkx graph on nodes ``0..N-1`` as a topology.

    A directed networkx edge ``u -> v`` becomes teacher ``u``, student ``v`` (PyG's source,
    target); an undirected edge gives both. Parallel edges of multigraphs are summed.
    """
    edge_index = torch.tensor(list(graph.edges()), dtype=torch.long).reshape(-1, 2).t()
    return _unit_graph(edge_index, num_nodes, family, params, seed,
                       undirected=not graph.is_directed())


def _ring_degree(k: int | None, num_nodes: int, family: str) -> int:
    """The ring lattice's ``k``: even, ``2 <= k <= N`` (``k/2`` neighbours on each side)."""
    top = 2 * (num_nodes // 2)
    if k is None:
        return min(4, top)
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= top or k % 2:
        raise GraphensError(
            f"{family}: k={k!r} must be an even integer in [2, {top}] for N={num_nodes}: each "
            "node joins its k/2 nearest ring neighbours on each side (e.g. k=4).")
    return k


def watts_strogatz(num_nodes: int, k: int | None = None, p: float = 0.1, seed: int = 0,
                   ) -> Data:
    r"""Watts–Strogatz small world: a rewired ring lattice (undirected).

    Start from the ring lattice where node :math:`i` is joined to
    :math:`i \pm 1, \dots, i \pm k/2 \pmod N`; then each lattice edge :math:`(i, j)`, with
    probability :math:`p`, has its end :math:`j` moved to a node drawn uniformly among those
    that create neither a self-loop nor a duplicate edge. :math:`p = 0` is the ring lattice
    (the ``ring`` family with ``laterals = k/2``), :math:`p = 1` close to a random graph; the
    edge count :math:`Nk/2` (each way) does not change. Built by
    ``networkx.watts_strogatz_graph``.

    Parameters
    ----------
    k : int, optional
        Even mean degree, ``2 <= k <= N`` (``k = N`` or ``N - 1`` is the complete graph).
        Default ``min(4, N)`` rounded down to even, i.e. 2 for ``N <= 3``, else 4.
    p : float
        Rewiring probability in ``[0, 1]``; default 0.1.

    References
    ----------
    Watts, D. J. & Strogatz, S. H. (1998). Collective dynamics of 'small-world' networks.
    Nature 393, 440–442.
    """
    n = check_num_nodes(num_nodes, "watts-strogatz")
    k = _ring_degree(k, n, "watts-strogatz")
    p = check_probability(p, "p", "watts-strogatz")
    graph = nx.watts_strogatz_graph(n, k, p, seed=int(seed))
    return _from_networkx(graph, n, "watts-strogatz", {"k": k, "p": p}, seed)


def newman_watts(num_nodes: int, k: int | None = None, p: float = 0.1, seed: int = 0) -> Data:
    r"""Newman–Watts small world: a ring lattice plus random shortcuts (undirected).

    The ring lattice of :func:`watts_strogatz` is kept whole; for each lattice edge
    :math:`(i, j)`, with probability :math:`p`, a shortcut :math:`(i, w)` is added to a node
    :math:`w` drawn uniformly among those not yet joined to :math:`i`. Unlike Watts–Strogatz
    the graph cannot fall apart, and the expected edge count is :math:`(1 + p)Nk/2`. Built by
    ``networkx.newman_watts_strogatz_graph``.

    Parameters
    ----------
    k : int, optional
        Even lattice degree, ``2 <= k <= N``; default as in :func:`watts_strogatz` (4, or 2
        for ``N <= 3``).
    p : float
        Shortcut probability per lattice edge, in ``[0, 1]``; default 0.1.

    References
    ----------
    Newman, M. E. J. & Watts, D. J. (1999). Renormalization group analysis of the
    small-world network model. Phys. Lett. A 263, 341–346.
    """
    n = check_num_nodes(num_nodes, "newman-watts")
    k = _ring_degree(k, n, "newman-watts")
    p = check_probability(p, "p", "newman-watts")
    graph = nx.newman_watts_strogatz_graph(n, k, p, seed=int(seed))
    return _from_networkx(graph, n, "newman-watts", {"k": k, "p": p}, seed)


def barabasi_albert(num_nodes: int, m: int | None = None, directed: bool = False,
                    seed: int = 0) -> Data:
    r"""Scale-free graph by preferential attachment.

    Undirected (Barabási–Albert): start from a star on :math:`m + 1` nodes; each new node
    joins :math:`m` distinct earlier nodes, node :math:`v` chosen with probability
    :math:`\propto \deg(v)`. The degree distribution tends to :math:`P(d) \sim d^{-3}`; there
    are :math:`m(N - m)` edges (each way). Built by ``networkx.barabasi_albert_graph``.

    Directed (``directed=True``, Bollobás et al.): from a directed cycle (3 nodes; 2 for
    ``N = 2``), each step adds, with probabilities :math:`\alpha = 0.41, \beta = 0.54,
    \gamma = 0.05`, an edge from a new node to an old node :math:`w`, an edge between old
    nodes :math:`v \to w`, or an edge from an old node :math:`v` to a new node; :math:`w` is
    chosen :math:`\propto d_{in}(w) + 0.2` and :math:`v \propto d_{out}(v)`, until there are
    :math:`N` nodes (about :math:`2.2N` edges). Both in- and out-degrees are heavy-tailed.
    An edge :math:`v \to w` is teacher :math:`v`, student :math:`w`, so a few students learn
    from many teachers. Parallel edges are summed (weight > 1), self-loops dropped. Built by
    ``networkx.scale_free_graph``.

    Parameters
    ----------
    m : int, optional
        Undirected model only: edges per new node, ``1 <= m <= N - 1``; default
        ``min(2, N - 1)``. Must stay unset when ``directed=True``.
    directed : bool
        Use the directed model of Bollobás et al.; default False.

    References
    ----------
    Barabási, A.-L. & Albert, R. (1999). Emergence of scaling in random networks.
    Science 286, 509–512.
    Bollobás, B., Borgs, C., Chayes, J. & Riordan, O. (2003). Directed scale-free graphs.
    Proc. 14th ACM-SIAM Symposium on Discrete Algorithms (SODA), 132–139.
    """
    family = "barabasi-albert"
    n = check_num_nodes(num_nodes, family)
    if not isinstance(directed, bool):
        raise GraphensError(f"{family}: directed={directed!r} must be true or false.")
    if directed:
        if m is not None:
            raise GraphensError(
                f"{family}: m={m!r} applies to the undirected model only; the directed model "
                "(directed=true) sets its own edge count (about 2.2 N): leave m unset.")
        # networkx starts from a 3-cycle, which would give 3 nodes for N = 2.
        initial = nx.MultiDiGraph([(0, 1), (1, 0)]) if n == 2 else None
        graph = nx.scale_free_graph(n, seed=int(seed), initial_graph=initial)
        return _from_networkx(graph, n, family, {"m": None, "directed": True}, seed)
    m = min(2, n - 1) if m is None else check_int(
        m, "m", family, 1, n - 1, f"for N={n} (each new node joins m distinct earlier nodes)")
    graph = nx.barabasi_albert_graph(n, m, seed=int(seed))
    return _from_networkx(graph, n, family, {"m": m, "directed": False}, seed)


def _block_sizes(blocks: int | Sequence[int] | None, num_nodes: int) -> list[int]:
    """Community sizes: a count split as evenly as possible, or explicit sizes."""
    if blocks is None:
        blocks = max(1, min(4, num_nodes // 2))
    if isinstance(blocks, int) and not isinstance(blocks, bool):
        check_int(blocks, "blocks", "sbm", 1, num_nodes,
                  f"for N={num_nodes} (more blocks than nodes would leave a block empty)")
        base, extra = divmod(num_nodes, blocks)
        return [base + 1] * extra + [base] * (blocks - extra)
    if (not isinstance(blocks, Sequence) or isinstance(blocks, str) or not blocks
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in blocks)):
        raise GraphensError(
            f"sbm: blocks={blocks!r} must be a number of blocks or a list of block sizes "
            "(e.g. blocks=4 or blocks=[3,3,4]).")
    if min(blocks) < 1:
        raise GraphensError(
            f"sbm: blocks={list(blocks)} has an empty block (size < 1); every block needs at "
            "least one node.")
    if sum(blocks) != num_nodes:
        raise GraphensError(
            f"sbm: blocks={list(blocks)} hold {sum(blocks)} nodes but N={num_nodes}: the sizes "
            "must add up to N.")
    return list(blocks)


def sbm(num_nodes: int, blocks: int | Sequence[int] | None = None, p_in: float | None = None,
        p_out: float | None = None, seed: int = 0) -> Data:
    r"""Stochastic block model (directed): communities densely wired inside, sparsely between.

    Nodes are split into consecutive blocks (node ids ``0..s_1-1`` form block 1, and so on);
    each ordered pair :math:`(i, j)`, :math:`i \ne j`, is an edge ``j -> i`` independently
    with probability :math:`p_{in}` when :math:`i` and :math:`j` share a block and
    :math:`p_{out}` otherwise.

    Parameters
    ----------
    blocks : int or list of int, optional
        Number of blocks (sizes as equal as possible, the first ones one larger) or the block
        sizes (each >= 1, summing to ``N``). Default ``max(1, min(4, N // 2))`` blocks, so
        every block has at least two nodes.
    p_in : float, optional
        Within-block probability in ``[0, 1]``. Default :math:`\min(1, 4/(\bar s - 1))` with
        :math:`\bar s = N/B` the mean block size: about 4 teachers per node inside its block
        (1 when blocks are single nodes).
    p_out : float, optional
        Between-block probability in ``[0, 1]``. Default :math:`\min(1, 1/(N - \bar s))`:
        about one teacher per node from the other blocks (0 with a single block).

    References
    ----------
    Holland, P. W., Laskey, K. B. & Leinhardt, S. (1983). Stochastic blockmodels: first
    steps. Social Networks 5, 109–137.
    """
    n = check_num_nodes(num_nodes, "sbm")
    sizes = _block_sizes(blocks, n)
    mean_size = n / len(sizes)
    if p_in is None:
        p_in = min(1.0, 4.0 / (mean_size - 1)) if mean_size > 1 else 1.0
    if p_out is None:
        p_out = min(1.0, 1.0 / (n - mean_size)) if len(sizes) > 1 else 0.0
    p_in = check_probability(p_in, "p_in", "sbm")
    p_out = check_probability(p_out, "p_out", "sbm")
    block = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    same = block[:, None] == block[None, :]
    probability = torch.where(same, torch.tensor(p_in), torch.tensor(p_out))
    generator = torch.Generator().manual_seed(int(seed))
    # weights[i, j] = 1 for the edge j -> i; torch.rand is in [0, 1), so p = 1 always wires.
    weights = (torch.rand(n, n, generator=generator) < probability).float()
    weights.fill_diagonal_(0.0)
    params = {"blocks": sizes, "p_in": p_in, "p_out": p_out}
    return topology_graph(*edges_from_dense(weights), n, "sbm", params, seed)


def _grid_shape(num_nodes: int, rows: int | None, cols: int | None,
                family: str) -> tuple[int, int]:
    """``rows x cols = N``; by default the most square factorisation (``1 x N`` for prime N)."""
    if rows is None and cols is None:
        rows = max(d for d in range(1, math.isqrt(num_nodes) + 1) if num_nodes % d == 0)
        return rows, num_nodes // rows
    if rows is not None:
        check_int(rows, "rows", family, 1, num_nodes, f"for N={num_nodes}")
    if cols is not None:
        check_int(cols, "cols", family, 1, num_nodes, f"for N={num_nodes}")
    if rows is None:
        rows = num_nodes // cols if num_nodes % cols == 0 else None
    elif cols is None:
        cols = num_nodes // rows if num_nodes % rows == 0 else None
    if rows is None or cols is None or rows * cols != num_nodes:
        raise GraphensError(
            f"{family}: rows={rows!r} x cols={cols!r} does not tile N={num_nodes} nodes: give "
            "rows and cols whose product is N (or leave both unset for the most square grid).")
    return rows, cols


def _grid_edges(rows: int, cols: int, periodic: bool) -> Tensor:
    """Right and down neighbours on a row-major grid (node ``r * cols + c``), one way."""
    node = torch.arange(rows * cols).view(rows, cols)
    if periodic:
        right, down = node.roll(-1, dims=1), node.roll(-1, dims=0)
        first = torch.cat([node.flatten(), node.flatten()])
        second = torch.cat([right.flatten(), down.flatten()])
    else:
        first = torch.cat([node[:, :-1].flatten(), node[:-1, :].flatten()])
        second = torch.cat([node[:, 1:].flatten(), node[1:, :].flatten()])
    return torch.stack([first, second])


def lattice(num_nodes: int, rows: int | None = None, cols: int | None = None,
            seed: int | None = None) -> Data:
    r"""Two-dimensional square grid (undirected, 4-neighbourhood, open boundary).

    Node :math:`r \cdot \text{cols} + c` sits at row :math:`r`, column :math:`c` and is joined
    to the nodes above, below, left and right of it: interior nodes have degree 4, border
    nodes 3, corners 2 (a ``1 x N`` grid is a path).

    Parameters
    ----------
    rows, cols : int, optional
        Grid shape with ``rows * cols = N``; one of them may be given alone if it divides
        ``N``. Default: the most square factorisation, ``rows`` the largest divisor of ``N``
        not above :math:`\sqrt N` (so a prime ``N`` gives a ``1 x N`` path).

    References
    ----------
    Newman, M. E. J. (2010). Networks: An Introduction. Oxford University Press.
    """
    n = check_num_nodes(num_nodes, "lattice")
    rows, cols = _grid_shape(n, rows, cols, "lattice")
    return _unit_graph(_grid_edges(rows, cols, periodic=False), n, "lattice",
                       {"rows": rows, "cols": cols}, seed, undirected=True)


def torus(num_nodes: int, rows: int | None = None, cols: int | None = None,
          seed: int | None = None) -> Data:
    r"""Periodic two-dimensional grid (undirected): :func:`lattice` with wrap-around edges.

    Node :math:`(r, c)` is joined to :math:`(r \pm 1 \bmod \text{rows}, c)` and
    :math:`(r, c \pm 1 \bmod \text{cols})`, so every node has degree 4 when both sides are at
    least 3. A side of 2 reaches the same neighbour both ways: that edge keeps the summed
    weight 2, so every node's incoming weight is still 4. A side of 1 adds nothing (the
    wrap-around would be a self-loop): a prime ``N`` gives a ``1 x N`` ring.

    Parameters
    ----------
    rows, cols : int, optional
        As in :func:`lattice`; default the most square factorisation of ``N``.

    References
    ----------
    Newman, M. E. J. (2010). Networks: An Introduction. Oxford University Press.
    """
    n = check_num_nodes(num_nodes, "torus")
    rows, cols = _grid_shape(n, rows, cols, "torus")
    return _unit_graph(_grid_edges(rows, cols, periodic=True), n, "torus",
                       {"rows": rows, "cols": cols}, seed, undirected=True)


def regular(num_nodes: int, k: int | None = None, seed: int = 0) -> Data:
    r"""Random :math:`k`-regular graph (undirected): every node has exactly :math:`k`
    neighbours, so every in- and out-degree is :math:`k`; drawn (asymptotically) uniformly
    among the :math:`k`-regular simple graphs by ``networkx.random_regular_graph``.

    The degrees sum to :math:`Nk = 2|E|`, so :math:`Nk` must be even.

    Parameters
    ----------
    k : int, optional
        Degree, ``1 <= k <= N - 1`` with ``N * k`` even. Default ``min(3, N - 1)`` for even
        ``N`` and ``min(4, N - 1)`` for odd ``N`` (3 would make ``N * k`` odd; rounding up
        keeps the graph at least as connected).

    References
    ----------
    Steger, A. & Wormald, N. C. (1999). Generating random regular graphs quickly.
    Combinatorics, Probability and Computing 8, 377–396.
    """
    n = check_num_nodes(num_nodes, "regular")
    if k is None:
        k = min(3 if n % 2 == 0 else 4, n - 1)
    check_int(k, "k", "regular", 1, n - 1, f"for N={n} (a node has at most N-1 neighbours)")
    if n * k % 2:
        raise GraphensError(
            f"regular: k={k} with N={n} gives N*k={n * k}, which is odd; the degrees sum to "
            "twice the edge count, so N*k must be even: use an even k or an even N.")
    graph = nx.random_regular_graph(k, n, seed=int(seed))
    return _from_networkx(graph, n, "regular", {"k": k}, seed)


def bipartite(num_nodes: int, hubs: int | None = None, seed: int | None = None) -> Data:
    r"""Complete bipartite graph :math:`K_{H, N-H}`: a two-level hub-and-spoke hierarchy.

    Nodes ``0..H-1`` (the hubs) and ``H..N-1`` (the spokes): every hub teaches and learns
    from every spoke, in both directions, and there is no edge inside either part.
    ``hubs=1`` has the edges of the ``star`` family (with unit instead of the paper's
    weights).

    Parameters
    ----------
    hubs : int, optional
        Size :math:`H` of the first part, ``1 <= H <= N - 1``; default ``max(1, N // 5)``.

    References
    ----------
    Newman, M. E. J. (2010). Networks: An Introduction. Oxford University Press.
    """
    n = check_num_nodes(num_nodes, "bipartite")
    hubs = max(1, n // 5) if hubs is None else check_int(
        hubs, "hubs", "bipartite", 1, n - 1, f"for N={n} (both parts need a node)")
    hub, spoke = torch.meshgrid(torch.arange(hubs), torch.arange(hubs, n), indexing="ij")
    return _unit_graph(torch.stack([hub.flatten(), spoke.flatten()]), n, "bipartite",
                       {"hubs": hubs}, seed, undirected=True)


__all__ = ["watts_strogatz", "newman_watts", "barabasi_albert", "sbm", "lattice", "torus",
           "regular", "bipartite"]
