"""Real connectomes as ensemble topologies: ``make_topology("connectome:NAME", N, ...)``.

A connectome is a directed weighted graph of neurons: an edge ``pre -> post`` weighs the
number of synapses from the presynaptic to the postsynaptic neuron. In the ensemble the
presynaptic neuron is the teacher and the postsynaptic one the student (row 0 / row 1 of
``edge_index``), the synapse count is the weight.

``synapse`` picks the connections:

* ``"chemical"`` (default): chemical synapses, directed;
* ``"electrical"``: gap junctions, which conduct both ways, so each joined pair gives an edge
  in both directions with the pair's gap-junction count;
* ``"both"``: the sum of the two (chemical count + gap-junction count per directed pair).

Nodes are the dataset's neurons that have at least one chemical synapse or gap junction with
another neuron (muscles, glia and other cells are dropped, and so are contacts of a neuron
with itself), in alphabetical order of their names, kept as ``node_names``. The
``map`` spec then maps them onto the ensemble's N nodes (:mod:`graphens.topology.mapping`),
and ``null=True`` replaces the result by its degree-preserving rewired null
(:mod:`graphens.topology.null`).

Datasets (:data:`CONNECTOMES`, :func:`list_connectomes`):

* ``celegans-white1986`` ships with graphens (the repository's ``topologies/`` folder,
  installed as the data package ``graphens.shipped``; no extra dependency): the
  *C. elegans* hermaphrodite, whole animal including the pharynx (White et al. 1986), with
  the weights as interpreted by Varshney et al. 2011 (number of synaptic contacts), as
  distributed by the C. elegans connectome toolbox ``cect`` (see ``topologies/README.md``).
* The others are read through ``cect`` (``pip install "graphens[connectomes]"``):
  ``celegans-varshney2011`` (Varshney et al. 2011, without the pharynx),
  ``celegans-cook2019`` (Cook et al. 2019 hermaphrodite; weights are numbers of EM serial
  sections of contact, not synapse counts) and ``celegans-witvliet2021-1`` ..
  ``celegans-witvliet2021-8`` (Witvliet et al. 2021, eight animals from L1 to adult; dataset 8
  is an adult; weights are numbers of presynaptic active zones).

References
----------
White, Southgate, Thomson & Brenner (1986), The structure of the nervous system of the
nematode *Caenorhabditis elegans*, Phil. Trans. R. Soc. B 314:1.
Varshney, Chen, Paniagua, Hall & Chklovskii (2011), Structural properties of the
*Caenorhabditis elegans* neuronal network, PLoS Comput. Biol. 7:e1001066.
Cook et al. (2019), Whole-animal connectomes of both *Caenorhabditis elegans* sexes,
Nature 571:63.
Witvliet et al. (2021), Connectomes across development reveal principles of brain
maturation, Nature 596:257.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import functools
import importlib
import importlib.resources
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from torch_geometric.data import Data

from graphens.errors import GraphensError
from graphens.topology.convert import from_adjacency
from graphens.topology.mapping import map_nodes
from graphens.topology.null import rewired_null

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

SYNAPSES = ("chemical", "electrical", "both")
INSTALL_HINT = 'pip install "graphens[connectomes]" (or pip install cect)'
WHITE1986_FILES = {"chemical": "celegans_white1986_chemical.csv",
                   "electrical": "celegans_white1986_electrical.csv"}
#: The data package holding the shipped files: the repository's ``topologies/`` folder, mapped
#: onto it by ``pyproject.toml`` (``[tool.setuptools] package-dir``).
SHIPPED_PACKAGE = "graphens.shipped"

_WHITE = "White et al. (1986) Phil. Trans. R. Soc. B 314:1"
_VARSHNEY = "Varshney et al. (2011) PLoS Comput. Biol. 7:e1001066"
_COOK = "Cook et al. (2019) Nature 571:63"
_WITVLIET = "Witvliet et al. (2021) Nature 596:257"
_WITVLIET_STAGES = {1: "L1", 2: "L1", 3: "L1", 4: "L1", 5: "L2", 6: "L3", 7: "adult",
                    8: "adult"}


@dataclass(frozen=True)
class Wiring:
    """A loaded connectome: neuron ``names`` and the matrices ``A[pre, post]`` over them."""

    names: list[str]
    chemical: np.ndarray
    electrical: np.ndarray
    source: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Connectome:
    """An entry of :data:`CONNECTOMES`: how to load a dataset and what it is."""

    description: str
    reference: str
    load: Callable[[], Wiring]
    shipped: bool = False


def topologies_dir() -> Traversable:
    """The shipped topology data: the package :data:`SHIPPED_PACKAGE` (``topologies/``).

    Found through :func:`importlib.resources.files`, so it works the same in a wheel install, an
    editable install (``pip install -e .``) and any other importable location.

    Returns
    -------
    importlib.resources.abc.Traversable
        The folder; ``topologies_dir() / NAME`` is one of its files (``read_text``, ``open``).
    """
    try:
        return importlib.resources.files(SHIPPED_PACKAGE)
    except ModuleNotFoundError as err:
        raise GraphensError(
            f"the shipped topology data folder (package {SHIPPED_PACKAGE!r}) is missing from "
            "this graphens install, which was built without the topologies/ data; reinstall "
            "graphens (pip install graphens, or pip install -e . in a checkout), or read an edge "
            "list with --topology-file PATH.") from err


def _load_white1986() -> Wiring:
    folder = topologies_dir()
    edges = {synapse: _read_counts(folder / name) for synapse, name in WHITE1986_FILES.items()}
    names = sorted({n for rows in edges.values() for s, t, _ in rows for n in (s, t)})
    index = {n: i for i, n in enumerate(names)}
    matrices = {}
    for synapse, rows in edges.items():
        matrix = np.zeros((len(names), len(names)))
        for s, t, w in rows:
            matrix[index[s], index[t]] += w
        matrices[synapse] = matrix
    source = {"dataset": "White_whole (cect 0.3.5, file aconnectome_white_1986_whole.csv)",
              "files": [f"topologies/{name}" for name in WHITE1986_FILES.values()],
              "weights": "number of synaptic contacts (chemical) / gap junctions (electrical) "
                         "between the two neurons, Varshney et al. 2011 interpretation",
              "reference": f"{_WHITE}; {_VARSHNEY}"}
    return Wiring(names, matrices["chemical"], matrices["electrical"], source)


def _read_counts(path: Traversable) -> list[tuple[str, str, float]]:
    if not path.is_file():
        raise GraphensError(
            f"shipped connectome file {path.name!r} is missing from the shipped topology data "
            f"({SHIPPED_PACKAGE}); restore topologies/{path.name} from the repository and "
            "reinstall graphens, or regenerate it with "
            "python topologies/make_celegans_white1986.py.")
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    return [(row["source"], row["target"], float(row["weight"])) for row in rows]


def _cect_loader(reader: str, reference: str) -> Callable[[], Wiring]:
    """A loader reading the dataset of ``cect.readers.<reader>`` (neurons only)."""

    def load() -> Wiring:
        try:
            cect = importlib.import_module("cect")
            module = importlib.import_module(f"cect.readers.{reader}")
            cells = importlib.import_module("cect.Cells")
        except ImportError as err:
            raise GraphensError(
                f"this connectome is read with the optional package cect, which is not "
                f"installed ({err}); {INSTALL_HINT}, or use the shipped "
                "connectome:celegans-white1986.") from err
        with contextlib.redirect_stdout(io.StringIO()):  # cect prints progress
            try:
                dataset = module.get_instance(from_cache=True)
            except (OSError, ValueError):  # no cached copy: parse the original spreadsheets
                dataset = module.get_instance(from_cache=False)
        neurons = sorted((cell, i) for i, cell in enumerate(dataset.nodes)
                         if cells.is_herm_neuron(cell))
        keep = [i for _, i in neurons]
        chemical, electrical = (_neuron_matrix(dataset.connections, synclass, keep)
                                for synclass in ("Generic_CS", "Generic_GJ"))
        linked = ((chemical + electrical) > 0)
        wired = np.flatnonzero(linked.any(axis=0) | linked.any(axis=1))
        source = {"dataset": f"cect.readers.{reader}", "cect_version": cect.__version__,
                  "description": getattr(module, "DATASET_DESCRIPTION", ""),
                  "weights": getattr(module, "WEIGHTS", ""), "reference": reference}
        return Wiring([neurons[i][0] for i in wired], chemical[np.ix_(wired, wired)],
                      electrical[np.ix_(wired, wired)], source)

    return load


def _neuron_matrix(connections: dict, synclass: str, keep: list[int]) -> np.ndarray:
    if synclass not in connections:
        return np.zeros((len(keep), len(keep)))
    matrix = np.array(connections[synclass], dtype=np.float64)[np.ix_(keep, keep)]
    np.fill_diagonal(matrix, 0.0)
    return matrix


CONNECTOMES: dict[str, Connectome] = {
    "celegans-white1986": Connectome(
        "C. elegans hermaphrodite, whole animal with pharynx (White 1986; Varshney 2011 "
        "weights); shipped", f"{_WHITE}; {_VARSHNEY}", _load_white1986, shipped=True),
    "celegans-varshney2011": Connectome(
        "C. elegans hermaphrodite without pharynx (Varshney 2011); needs cect", _VARSHNEY,
        _cect_loader("VarshneyDataReader", _VARSHNEY)),
    "celegans-cook2019": Connectome(
        "C. elegans hermaphrodite, whole animal (Cook 2019; weights: EM sections); needs cect",
        _COOK, _cect_loader("Cook2019HermReader", _COOK)),
    **{f"celegans-witvliet2021-{k}": Connectome(
        f"C. elegans brain, dataset {k}, {stage} (Witvliet 2021); needs cect",
        _WITVLIET, _cect_loader(f"WitvlietDataReader{k}", _WITVLIET))
       for k, stage in _WITVLIET_STAGES.items()},
}


def list_connectomes() -> dict[str, str]:
    """The available connectome names, each with a one-line description."""
    return {name: entry.description for name, entry in CONNECTOMES.items()}


def load_wiring(name: str) -> Wiring:
    """The neurons and synapse matrices of the connectome ``name`` (cached; do not modify)."""
    if name not in CONNECTOMES:
        close = difflib.get_close_matches(name, CONNECTOMES, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise GraphensError(
            f"unknown connectome {name!r}{hint}; choose one of {', '.join(CONNECTOMES)}, "
            "e.g. --topology connectome:celegans-white1986.")
    try:
        return _cached_wiring(name)
    except GraphensError as err:
        raise GraphensError(f"connectome:{name}: {err}") from err


@functools.cache
def _cached_wiring(name: str) -> Wiring:
    return CONNECTOMES[name].load()


def connectome_topology(name: str, num_nodes: int | None = None, seed: int = 0,
                        map: str = "all", synapse: str = "chemical", null: bool = False,
                        **params: object) -> Data:
    """The connectome ``name`` as an ensemble topology.

    Parameters
    ----------
    name : str
        A key of :data:`CONNECTOMES` (:func:`list_connectomes`).
    num_nodes : int, optional
        The expected node count after mapping (``--nodes``); None lets the mapping decide.
    seed : int
        Seeds ``map=random:N``, ``map=coarse:communities`` and the null model.
    map : str
        How the neurons map onto the nodes (:func:`~graphens.topology.mapping.map_nodes`):
        ``all``, ``degree:N``, ``random:N``, ``names:A,B,...``, ``class:A,B,...``,
        ``coarse:communities``, ``coarse:classes``.
    synapse : {"chemical", "electrical", "both"}
        Which connections make the edges (see the module docstring).
    null : bool
        Replace the (mapped) graph by its degree-preserving rewired null.

    Returns
    -------
    Data
        Weights = synapse counts; ``node_names`` = neuron (or group) names; ``topology`` =
        ``{"family": "connectome:NAME", "params": {map, synapse, null}, "seed", "source"
        (dataset, weights, reference), "synapse", "neurons", "mapping"}`` (for ``null=True``
        the rewired null's record, with this one under ``null_of``).

    Examples
    --------
    >>> g = connectome_topology("celegans-white1986", map="names:AVAL,AVAR,AVBL,AVBR")
    >>> g.node_names
    ['AVAL', 'AVAR', 'AVBL', 'AVBR']
    """
    if params:
        raise GraphensError(
            f"connectome topologies have no parameter(s) {sorted(params)}; they accept map, "
            "synapse, null (e.g. map=degree:20 synapse=both).")
    if synapse not in SYNAPSES:
        raise GraphensError(
            f"synapse={synapse!r}; choose one of {', '.join(SYNAPSES)} (chemical synapses, gap "
            "junctions in both directions, or their sum).")
    wiring = load_wiring(name)
    matrix = {"chemical": wiring.chemical, "electrical": wiring.electrical,
              "both": wiring.chemical + wiring.electrical}[synapse]
    graph = from_adjacency(matrix, wiring.names, family=f"connectome:{name}",
                           params={"map": map, "synapse": synapse, "null": null}, seed=seed)
    graph.topology.update(source=dict(wiring.source), synapse=synapse,
                          neurons=len(wiring.names))
    graph = map_nodes(graph, map, num_nodes=num_nodes, seed=seed)
    return rewired_null(graph, seed=seed) if null else graph


__all__ = ["CONNECTOMES", "SHIPPED_PACKAGE", "SYNAPSES", "Connectome", "Wiring",
           "connectome_topology", "list_connectomes", "load_wiring", "topologies_dir"]
