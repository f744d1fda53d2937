"""Regenerate the shipped C. elegans connectome edge lists (see README.md in this folder).

Reads the White et al. (1986) whole-animal hermaphrodite wiring diagram through the
C. elegans connectome toolbox ``cect`` (``pip install cect``; written with cect 0.3.5) and
writes, next to this script,

* ``celegans_white1986_chemical.csv``: columns ``source,target,weight``, one row per directed
  pair of neurons with chemical synapses, weight = number of synaptic contacts from source
  (presynaptic) to target (postsynaptic);
* ``celegans_white1986_electrical.csv``: same columns, one row per direction of every pair
  of neurons joined by gap junctions (so each pair appears twice, with the same weight),
  weight = number of gap junctions between the two.

Only neurons are kept (``cect.Cells.is_herm_neuron``: muscles, glia and other cells are
dropped), and so are contacts of a neuron with itself. Rows are sorted by source, then target.

Run: ``python topologies/make_celegans_white1986.py`` (prints the counts and the SHA-256 of the
source file, as recorded in README.md).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SYNAPSES = {"chemical": "Generic_CS", "electrical": "Generic_GJ"}


def load() -> tuple[list[str], dict[str, np.ndarray], str]:
    """Neuron names, ``{synapse: A[pre, post]}`` over them, and the source file's path."""
    import cect
    from cect.Cells import is_herm_neuron
    from cect.readers import White_whole

    with contextlib.redirect_stdout(io.StringIO()):  # cect prints progress
        dataset = White_whole.get_instance(from_cache=False)
    keep = [i for i, cell in enumerate(dataset.nodes) if is_herm_neuron(cell)]
    names = [dataset.nodes[i] for i in keep]
    matrices = {}
    for synapse, synclass in SYNAPSES.items():
        matrix = np.asarray(dataset.connections[synclass])[np.ix_(keep, keep)]
        np.fill_diagonal(matrix, 0)
        matrices[synapse] = matrix
    print(f"cect {cect.__version__}: {len(dataset.nodes)} cells, {len(names)} neurons kept")
    return names, matrices, White_whole.filename


def write(path: Path, names: list[str], matrix: np.ndarray) -> int:
    """Write the nonzero entries of ``matrix`` as ``source,target,weight`` rows."""
    order = sorted(range(len(names)), key=lambda i: names[i])
    rows = [(names[j], names[i], matrix[j, i]) for j in order for i in order if matrix[j, i]]
    for source, target, weight in rows:
        if weight != int(weight) or weight < 0:
            raise ValueError(f"{source} -> {target}: weight {weight} is not a synapse count")
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["source", "target", "weight"])
        out.writerows((s, t, int(w)) for s, t, w in rows)
    return len(rows)


def main() -> None:
    names, matrices, source = load()
    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    print(f"source {Path(source).name} sha256 {digest}")
    if not np.array_equal(matrices["electrical"], matrices["electrical"].T):
        raise ValueError("gap junction matrix is not symmetric")
    for synapse, matrix in matrices.items():
        path = HERE / f"celegans_white1986_{synapse}.csv"
        edges = write(path, names, matrix)
        used = int(((matrix > 0).any(axis=0) | (matrix > 0).any(axis=1)).sum())
        print(f"{path.name}: {edges} rows, {int(matrix.sum())} synapses, {used} neurons")


if __name__ == "__main__":
    main()
