r"""Draw a topology: the graph and its adjacency matrix, side by side, into a PNG.

Used by ``graphens topology show --plot FILE.png``. matplotlib is optional
(``pip install "graphens[plot]"``); it is drawn without pyplot (no global backend is set), so
plotting works headless and leaves an interactive session's backend alone.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops

from graphens.errors import GraphensError
from graphens.io import atomic_write

#: Up to this many edges each one is drawn as an arrow (teacher -> student).
MAX_ARROWS = 400
#: Up to this many edges they are drawn as plain lines (no arrow heads); above, not at all.
MAX_LINES = 20_000
#: Spring layout (seeded) only up to this many nodes; larger graphs without ``pos`` use a
#: circular layout.
MAX_SPRING_NODES = 300
#: Graphs this small (or rings, or all-to-all) without ``pos`` use a circular layout.
CIRCULAR_NODES = 12
#: Node labels (``node_names`` or indices) are written up to this many nodes.
MAX_LABELS = 40
EDGE_COLOR = "#1f4e79"


def plot_topology(graph: Data, path: str | os.PathLike, title: str | None = None) -> Path:
    r"""Draw ``graph`` into the PNG ``path``: the graph (left) and :math:`g_{ij}` (right).

    Left: nodes at ``graph.pos`` (receptive-field centres, pixels ``(row, col)``, row 0 at
    the top) when present, else on a circle (rings, all-to-all, small graphs, graphs over
    ``MAX_SPRING_NODES`` nodes) or a spring layout (``nx.spring_layout(seed=0)``). Edges
    point teacher :math:`\to` student with width and opacity growing with the weight; they
    lose their arrow heads above ``MAX_ARROWS`` edges and are not drawn above ``MAX_LINES``
    (the title says so). Nodes that no one teaches are red.

    Right: the matrix :math:`g_{ij}` with rows = student :math:`i`, columns = teacher
    :math:`j` (the convention of ``generators.py``); white where there is no edge.

    The file is written atomically (a temporary file beside it, then ``os.replace``).

    Parameters
    ----------
    graph : Data
        ``edge_index`` (teacher, student), optional ``edge_weight``, ``num_nodes``, optional
        ``pos`` ``[N, 2]``, ``node_names`` and ``topology`` (its ``family`` names the plot).
    path : path
        Where the PNG goes; parent folders are created.
    title : str, optional
        Figure title; default: family, nodes and edges.

    Returns
    -------
    Path
        ``path``.
    """
    figure_cls = _matplotlib()
    n = int(graph.num_nodes)
    teacher, student, weight = _edges(graph)
    names = _node_names(graph, n)
    family = str((getattr(graph, "topology", None) or {}).get("family", "graph"))

    figure = figure_cls(figsize=(13, 6), layout="constrained")
    graph_ax, matrix_ax = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    positions, layout = _layout(graph, n, teacher, student, family)
    note = _draw_graph(graph_ax, positions, teacher, student, weight, n, names, layout)
    _draw_matrix(figure, matrix_ax, teacher, student, weight, n, names)

    heading = title or f"{family}: {n} nodes, {teacher.size} edges"
    figure.suptitle(heading + (f"\n{note}" if note else ""))
    return atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=80))


def _matplotlib() -> Any:
    """matplotlib's ``Figure`` class, or a GraphensError saying how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise GraphensError(
            'plotting needs matplotlib, which is not installed; run pip install '
            '"graphens[plot]" (or pip install matplotlib).') from None
    return Figure


def _edges(graph: Data) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(teacher, student, weight) arrays, duplicates summed, self-loops and zeros dropped."""
    edge_index = graph.edge_index.detach().cpu().long()
    edge_weight = getattr(graph, "edge_weight", None)
    edge_weight = (torch.ones(edge_index.shape[1], dtype=torch.float64) if edge_weight is None
                   else edge_weight.detach().cpu().double())
    edge_index, edge_weight = remove_self_loops(edge_index, edge_weight)
    edge_index, edge_weight = coalesce(edge_index, edge_weight, int(graph.num_nodes),
                                       reduce="sum")  # sorted by (teacher, student)
    keep = edge_weight > 0
    return (edge_index[0, keep].numpy(), edge_index[1, keep].numpy(),
            edge_weight[keep].numpy())


def _node_names(graph: Data, n: int) -> list[str]:
    names = getattr(graph, "node_names", None)
    if names is not None and len(names) == n:
        return [str(name) for name in names]
    return [str(i) for i in range(n)]


def _layout(graph: Data, n: int, teacher: np.ndarray, student: np.ndarray,
            family: str) -> tuple[np.ndarray, str]:
    """``[N, 2]`` (x, y) drawing coordinates and the layout's name."""
    pos = getattr(graph, "pos", None)
    if pos is not None and tuple(pos.shape) == (n, 2):
        rows_cols = np.asarray(pos.detach().cpu(), dtype=np.float64)
        return np.stack([rows_cols[:, 1], rows_cols[:, 0]], axis=1), "pos"  # (col, row)
    circular = ("ring" in family or family == "all-to-all" or n <= CIRCULAR_NODES
                or n > MAX_SPRING_NODES)
    if circular:
        angle = np.pi / 2 - 2 * np.pi * np.arange(n) / n  # node 0 at the top, clockwise
        return np.stack([np.cos(angle), np.sin(angle)], axis=1), "circular"
    nx_graph = nx.Graph()
    nx_graph.add_nodes_from(range(n))
    nx_graph.add_edges_from(zip(teacher.tolist(), student.tolist(), strict=True))
    layout = nx.spring_layout(nx_graph, seed=0)
    return np.array([layout[i] for i in range(n)], dtype=np.float64), "spring"


def _draw_graph(ax: Any, positions: np.ndarray, teacher: np.ndarray, student: np.ndarray,
                weight: np.ndarray, n: int, names: list[str], layout: str) -> str:
    """Draw nodes and edges; return a note for the title ('' when every edge has an arrow)."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba
    from matplotlib.patches import FancyArrowPatch

    edges = teacher.size
    relative = weight / weight.max() if edges else weight
    widths = (0.4 + 1.6 * relative) if edges <= MAX_ARROWS else (0.2 + 0.8 * relative)
    alpha_max = float(np.clip(8.0 / math.sqrt(max(edges, 1)), 0.08, 0.8))
    alphas = alpha_max * (0.25 + 0.75 * relative)
    node_size = float(np.clip(2500.0 / max(n, 1), 6.0, 160.0))
    note = ""
    if edges > MAX_LINES:
        note = f"edges not drawn ({edges} > {MAX_LINES})"
    elif edges > MAX_ARROWS:
        segments = np.stack([positions[teacher], positions[student]], axis=1)
        colors = [to_rgba(EDGE_COLOR, a) for a in alphas]
        ax.add_collection(LineCollection(segments, linewidths=widths, colors=colors, zorder=1))
        note = f"edges without arrow heads ({edges} > {MAX_ARROWS})"
    else:
        shrink = math.sqrt(node_size) / 2 + 1
        for j, i, w, a in zip(teacher, student, widths, alphas, strict=True):
            ax.add_patch(FancyArrowPatch(
                positions[j], positions[i], arrowstyle="-|>", mutation_scale=8 + 4 * w,
                connectionstyle="arc3,rad=0.12", shrinkA=shrink, shrinkB=shrink,
                linewidth=w, color=EDGE_COLOR, alpha=a, zorder=1))
    taught = np.zeros(n, dtype=bool)
    taught[student] = True
    ax.scatter(positions[:, 0], positions[:, 1], s=node_size, zorder=2, edgecolors="white",
               linewidths=0.5, c=np.where(taught, "#f28e2b", "#d62728"))
    if n <= MAX_LABELS:
        for (x, y), name in zip(positions, names, strict=True):
            ax.annotate(name, (x, y), fontsize=7, ha="center", va="center", zorder=3)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.08)
    if layout == "pos":  # image coordinates: row 0 at the top
        ax.invert_yaxis()
        ax.set_xlabel("column (pixels)")
        ax.set_ylabel("row (pixels)")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    where = ("receptive-field centres (pixels)" if layout == "pos" else f"{layout} layout")
    untaught = n - int(taught.sum())
    ax.set_title(f"teacher → student, at {where}"
                 + (f"; red: {untaught} untaught" if untaught else ""), fontsize=9)
    return note


def _draw_matrix(figure: Any, ax: Any, teacher: np.ndarray, student: np.ndarray,
                 weight: np.ndarray, n: int, names: list[str]) -> None:
    from matplotlib import colormaps

    matrix = np.full((n, n), np.nan)
    matrix[student, teacher] = weight  # row = student i, column = teacher j
    cmap = colormaps["viridis"].with_extremes(bad="white")
    top = float(weight.max()) if weight.size else 1.0
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, interpolation="nearest",
                      aspect="equal", vmin=0.0, vmax=top)
    figure.colorbar(image, ax=ax, shrink=0.8, label="weight $g_{ij}$")
    ax.set_xlabel("teacher j")
    ax.set_ylabel("student i")
    ax.set_title("adjacency: row = student i, column = teacher j", fontsize=9)
    if n <= MAX_LABELS:
        ticks = np.arange(n)
        ax.set_xticks(ticks, names, rotation=90, fontsize=6)
        ax.set_yticks(ticks, names, fontsize=6)


__all__ = ["plot_topology", "MAX_ARROWS", "MAX_LINES"]
