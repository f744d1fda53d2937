"""Topologies read from files: ``make_topology("file", N, path=...)``.

Formats, chosen by the file's extension:

``.csv`` / ``.tsv``
    Either an *edge list* with a header naming the columns ``source``, ``target`` and,
    optionally, ``weight`` (other columns are ignored; ``source`` is the teacher, ``target`` the
    student; without a weight column every edge weighs 1), or an *adjacency matrix*: a square
    table of numbers ``A[source, target]`` (row = teacher, column = student), optionally with
    the node names in the first row and the first column. Node labels that are all
    non-negative integers are node indices; other labels are names, nodes in order of first
    appearance.
``.graphml`` / ``.gexf``
    Read with networkx (:func:`networkx.read_graphml`, :func:`networkx.read_gexf`); an
    undirected graph gives both directions of every edge.
``.npy``
    A square adjacency matrix ``A[source, target]`` saved with :func:`numpy.save`.

Then, as for connectomes, ``map=`` picks or merges nodes (:mod:`graphens.topology.mapping`)
and ``null=True`` replaces the graph by its degree-preserving rewired null
(:mod:`graphens.topology.null`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
from torch_geometric.data import Data

from graphens.errors import GraphensError
from graphens.topology.convert import from_adjacency, from_edge_list, from_networkx
from graphens.topology.mapping import map_nodes
from graphens.topology.null import rewired_null

FAMILY = "file"
CSV_FORMATS = ("edge-list", "adjacency")


def file_topology(path: str | Path | None = None, num_nodes: int | None = None, seed: int = 0,
                  map: str = "all", null: bool = False, weight: str | None = "weight",
                  format: str | None = None, **params: object) -> Data:
    """Read a topology from ``path`` (see the module docstring for the formats).

    Parameters
    ----------
    path : str or Path
        The file.
    num_nodes : int, optional
        The expected node count after mapping (``--nodes``); None lets the file decide.
    seed : int
        Seeds ``map=random:N``, ``map=coarse:communities`` and the null model.
    map : str
        How the file's nodes map onto the ensemble's (:func:`~graphens.topology.mapping.map_nodes`).
    null : bool
        Replace the graph by its degree-preserving rewired null
        (:func:`~graphens.topology.null.rewired_null`).
    weight : str or None
        The weight column (CSV edge list) or edge attribute (GraphML/GEXF); None: all 1.
    format : {None, "edge-list", "adjacency"}
        For ``.csv``/``.tsv``: force the layout instead of detecting it.

    Returns
    -------
    Data
        The topology, with ``node_names`` and a record ``{"family": "file", "params": ...,
        "source": {"path", "format"}, "mapping": ...}``.
    """
    if params:
        raise GraphensError(
            f"file topology has no parameter(s) {sorted(params)}; it accepts path, map, null, "
            "weight, format (e.g. path=graph.csv map=degree:20).")
    if path is None:
        raise GraphensError(
            "file topology needs path=...; e.g. graphens train --topology-file graph.csv.")
    if format is not None and format not in CSV_FORMATS:
        raise GraphensError(
            f"format={format!r}; choose one of {', '.join(CSV_FORMATS)} or leave it out.")
    file = Path(path).expanduser()
    reader = _reader(file)
    if not file.is_file():
        raise GraphensError(f"topology file {str(file)!r} does not exist; check path=.")
    record = {"map": map, "null": null, "path": str(path), "weight": weight, "format": format}
    graph = reader(file, weight, format, record, seed)
    graph = map_nodes(graph, map, num_nodes=num_nodes, seed=seed)
    return rewired_null(graph, seed=seed) if null else graph


def _reader(file: Path) -> Callable[..., Data]:
    suffix = file.suffix.lower()
    if suffix not in READERS:
        raise GraphensError(
            f"cannot read topology file {str(file)!r}: unknown extension {suffix or '(none)'!r}; "
            f"supported: {', '.join(READERS)}.")
    return READERS[suffix]


def _read_csv(file: Path, weight: str | None, layout: str | None, params: dict, seed: int,
              delimiter: str = ",") -> Data:
    with open(file, newline="") as handle:
        rows = [[cell.strip() for cell in row] for row in csv.reader(handle, delimiter=delimiter)]
    rows = [row for row in rows if any(row)]
    if not rows:
        raise GraphensError(f"topology file {str(file)!r} is empty.")
    header = [cell.lower() for cell in rows[0]]
    if layout == "edge-list" or (layout is None and {"source", "target"} <= set(header)):
        return _edge_list(file, rows, weight, params, seed)
    matrix = _adjacency_rows(rows)
    if layout == "adjacency" or (layout is None and matrix is not None):
        if matrix is None:
            raise GraphensError(
                f"{str(file)!r} is not a square numeric table; an adjacency CSV holds "
                "A[source, target], optionally with node names in the first row and column.")
        values, names = matrix
        graph = from_adjacency(values, names, family=FAMILY, params=params, seed=seed)
        return _with_source(graph, file, "adjacency")
    raise GraphensError(
        f"{str(file)!r}: an edge-list CSV needs a header with the columns source,target"
        f"[,weight] (source = teacher, target = student); found columns {rows[0]}. Rename "
        "the columns, or give an adjacency matrix as a square table of numbers.")


def _read_tsv(file: Path, weight: str | None, layout: str | None, params: dict,
              seed: int) -> Data:
    return _read_csv(file, weight, layout, params, seed, delimiter="\t")


def _edge_list(file: Path, rows: list[list[str]], weight: str | None, params: dict,
               seed: int) -> Data:
    header = [cell.lower() for cell in rows[0]]
    needed = ["source", "target"] + ([weight.lower()] if weight not in (None, "weight") else [])
    missing = [c for c in needed if c not in header]
    if missing:
        raise GraphensError(
            f"{str(file)!r}: the edge list has columns {rows[0]} but needs {needed} "
            f"(missing {missing}); rename the columns or pass weight=COLUMN.")
    s, t = header.index("source"), header.index("target")
    w = header.index(weight.lower()) if weight is not None and weight.lower() in header else None
    sources, targets, weights = [], [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < len(header):
            raise GraphensError(
                f"{str(file)!r} line {line}: {len(row)} cells for {len(header)} columns; every "
                "row needs a source, a target and (if there is a weight column) a weight.")
        sources.append(row[s])
        targets.append(row[t])
        weights.append(_number(row[w], file, line) if w is not None else 1.0)
    if all(label.isdigit() for label in sources + targets):
        sources, targets = [int(x) for x in sources], [int(x) for x in targets]
    graph = from_edge_list(sources, targets, weights, family=FAMILY, params=params, seed=seed)
    return _with_source(graph, file, "edge-list")


def _number(text: str, file: Path, line: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise GraphensError(
            f"{str(file)!r} line {line}: weight {text!r} is not a number; fix that row."
        ) from None


def _adjacency_rows(rows: list[list[str]]) -> tuple[np.ndarray, list[str] | None] | None:
    """``(matrix, names)`` when ``rows`` is a square numeric table (optionally labelled)."""
    plain = _numeric(rows)
    if plain is not None and plain.shape[0] == plain.shape[1]:
        return plain, None
    size = len(rows) - 1
    if size < 1 or any(len(row) != size + 1 for row in rows):
        return None
    body = _numeric([row[1:] for row in rows[1:]])
    names = rows[0][1:]
    if body is None or [row[0] for row in rows[1:]] != names:
        return None
    return body, names


def _numeric(rows: list[list[str]]) -> np.ndarray | None:
    if len({len(row) for row in rows}) != 1:
        return None
    try:
        return np.array([[float(cell) for cell in row] for row in rows], dtype=np.float64)
    except ValueError:
        return None


def _read_graphml(file: Path, weight: str | None, layout: str | None, params: dict,
                  seed: int) -> Data:
    return _read_networkx(file, nx.read_graphml, "graphml", weight, params, seed)


def _read_gexf(file: Path, weight: str | None, layout: str | None, params: dict,
               seed: int) -> Data:
    return _read_networkx(file, nx.read_gexf, "gexf", weight, params, seed)


def _read_networkx(file: Path, read: Callable[[Path], nx.Graph], kind: str,
                   weight: str | None, params: dict, seed: int) -> Data:
    try:
        G = read(file)
    except Exception as err:  # networkx raises several parser-specific types
        raise GraphensError(f"cannot read {kind} file {str(file)!r}: {err}") from err
    graph = from_networkx(G, weight=weight, family=FAMILY, params=params, seed=seed)
    return _with_source(graph, file, kind)


def _read_npy(file: Path, weight: str | None, layout: str | None, params: dict,
              seed: int) -> Data:
    try:
        matrix = np.load(file, allow_pickle=False)
    except ValueError as err:
        raise GraphensError(
            f"cannot read {str(file)!r} as a numeric array ({err}); save the adjacency with "
            "numpy.save(path, matrix).") from err
    graph = from_adjacency(matrix, family=FAMILY, params=params, seed=seed)
    return _with_source(graph, file, "adjacency")


def _with_source(graph: Data, file: Path, kind: str) -> Data:
    """Record where the graph was read from."""
    graph.topology["source"] = {"path": str(file), "format": kind}
    return graph


READERS: dict[str, Callable[..., Data]] = {
    ".csv": _read_csv,
    ".tsv": _read_tsv,
    ".graphml": _read_graphml,
    ".gexf": _read_gexf,
    ".npy": _read_npy,
}

__all__ = ["file_topology", "READERS"]
