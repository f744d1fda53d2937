"""Degree-preserving null model: the graph rewired at random, keeping every node's degrees.

Rewiring follows Maslov & Sneppen (2002): pick two edges ``a -> b`` and ``c -> d`` at random
and replace them by ``a -> d`` and ``c -> b``, unless that would create a self-loop or an
edge that already exists. Every node keeps its in-degree (number of teachers) and its
out-degree (number of students) exactly; the graph stays simple (no self-loops, no repeated
edges).

Weights travel with the teacher end of each edge: after ``a -> b`` (weight ``w``) is rewired
to ``a -> d``, that edge still weighs ``w``. So each node's outgoing weights (its teaching
strengths) are preserved exactly, while the incoming weights are shuffled among students.

References
----------
Maslov & Sneppen (2002), Specificity and stability in topology of protein networks,
Science 296:910.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce

from graphens.errors import GraphensError, warn
from graphens.topology.generators import topology_graph


def rewired_null(graph: Data, seed: int = 0, swaps_per_edge: int = 10) -> Data:
    """The degree-preserving randomisation of a directed graph (Maslov & Sneppen 2002).

    Parameters
    ----------
    graph : Data
        A topology graph (``edge_index``, ``edge_weight``, ``num_nodes``, ``topology``), simple
        (no self-loops; duplicate edges are merged first by summing).
    seed : int
        Seeds the swaps; the same seed gives the same graph.
    swaps_per_edge : int
        Successful swaps to perform, per edge (``>= 1``; default 10). Attempts stop after 20
        times that many; a warning says so when fewer swaps were possible (small or dense
        graphs can have few or no valid swaps).

    Returns
    -------
    Data
        Same nodes (and ``node_names``), same in- and out-degree of every node, same
        multiset of weights, each edge's weight kept by its teacher. ``topology`` is
        ``{"family": "rewired-null", "params": {"swaps_per_edge": ...}, "seed": seed,
        "null_of": <the original record>, "swaps": <done>, "weights": "travel with the
        teacher"}``.
    """
    if not isinstance(swaps_per_edge, int) or isinstance(swaps_per_edge, bool) \
            or swaps_per_edge < 1:
        raise GraphensError(
            f"rewired_null: swaps_per_edge={swaps_per_edge!r} must be an integer >= 1 "
            "(10 is the usual choice).")
    edge_index, weight = coalesce(graph.edge_index, graph.edge_weight, graph.num_nodes,
                                  reduce="sum")
    source, target = edge_index.tolist()
    if any(s == t for s, t in zip(source, target, strict=True)):
        raise GraphensError(
            "rewired_null: the graph has self-loops; drop them first (the topology converters "
            "do) since the null model keeps the graph free of them.")
    wanted = swaps_per_edge * len(source)
    done = _swap(source, target, graph.num_nodes, wanted, np.random.default_rng(seed))
    if done < wanted:
        warn(f"rewired_null: only {done} of {wanted} swaps were possible on this graph "
             f"({graph.num_nodes} nodes, {len(source)} edges); the null is close to the "
             "original.")
    params = {"swaps_per_edge": swaps_per_edge}
    null = topology_graph(torch.tensor([source, target]), weight.clone(), graph.num_nodes,
                          "rewired-null", params, seed)
    null.topology.update(null_of=copy.deepcopy(getattr(graph, "topology", None)), swaps=done,
                         weights="travel with the teacher")
    if getattr(graph, "node_names", None) is not None:
        null.node_names = list(graph.node_names)
    return null


def _swap(source: list[int], target: list[int], num_nodes: int, wanted: int,
          rng: np.random.Generator) -> int:
    """Maslov-Sneppen swaps in place on ``target``; returns the number done."""
    edges = len(source)
    if edges < 2:
        return 0
    present = {s * num_nodes + t for s, t in zip(source, target, strict=True)}
    done, attempts, budget = 0, 0, 20 * wanted
    while done < wanted and attempts < budget:
        batch = rng.integers(edges, size=(min(budget - attempts, 4 * wanted), 2))
        for a, c in batch.tolist():
            attempts += 1
            s1, t1, s2, t2 = source[a], target[a], source[c], target[c]
            new1, new2 = s1 * num_nodes + t2, s2 * num_nodes + t1
            if s1 == t2 or s2 == t1 or new1 in present or new2 in present:
                continue  # also rejects a == c and swaps that change nothing
            present.difference_update((s1 * num_nodes + t1, s2 * num_nodes + t2))
            present.update((new1, new2))
            target[a], target[c] = t2, t1
            done += 1
            if done == wanted:
                break
    return done


__all__ = ["rewired_null"]
