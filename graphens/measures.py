r"""Cross-encoder measures over every pair of nodes (method.md §6): tensors in, numbers out.

:mod:`graphens.evaluate` measures agreement and alignment on the graph's edges only. Here the
same measures, and two more, are taken for every ordered pair of nodes, so one can ask whether
nodes that no edge connects still come to represent the stimuli alike:

* :func:`linear_cka` — linear centred kernel alignment of every pair of nodes;
* :func:`alignment_matrix` — RSA alignment (correlation of within-batch distances) of every
  pair, the all-pairs form of :func:`graphens.evaluate.alignment_scores`;
* :func:`agreement_matrix` — agreement of every student i with every teacher j, the all-pairs
  form of :func:`graphens.evaluate.agreement_scores`;
* :func:`class_likelihood` — the class-conditional pseudo-likelihood of each node, a
  class × class matrix whose diagonal shows semantic structure;
* :func:`measure_run` — all four on a trained run's test embeddings, written to
  ``measures.json`` and heatmaps beside the run (``graphens measure RUN_DIR``).

Node × node matrices are indexed ``[i, j]``: row i the student, column j the teacher, so the
edge ``j → i`` (``edge_index[:, e] = (j, i)``) is the cell ``(i, j)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graphens.errors import GraphensError, warn
from graphens.evaluate import _batches, agreement_scores, distance_profiles
from graphens.graph import on_host
from graphens.io import atomic_write, atomic_write_json
from graphens.probe import _check_labels
from graphens.validation import (
    SEED_RANGE,
    Interval,
    check_edge_index,
    check_embeddings,
    check_value,
)

__all__ = ["agreement_matrix", "alignment_matrix", "class_likelihood", "linear_cka",
           "measure_run"]

#: Largest block of similarities / cross-covariances held at once (16 M entries).
_CHUNK_ELEMENTS = 1 << 24
MEASURES_FILE = "measures.json"
PLOT_FILES = ("cka.png", "alignment.png", "agreement.png", "class_likelihood.png")


# --------------------------------------------------------------------------------------------
# Node × node measures
# --------------------------------------------------------------------------------------------


def linear_cka(z: Tensor) -> Tensor:
    r"""Linear CKA between every pair of nodes.

    Parameters
    ----------
    z : Tensor
        ``[N, n, D]`` embeddings of the same n stimuli by N nodes (n ≥ 2).

    Returns
    -------
    Tensor
        ``[N, N]`` float64, symmetric, in ``[0, 1]``; 1 on the diagonal.

    Notes
    -----
    With :math:`X_i = z_i − \bar z_i` (each feature centred over the stimuli), the linear
    kernel :math:`K_i = X_i X_i^\top` and :math:`\mathrm{HSIC}(i, j) = \langle K_i, K_j
    \rangle_F = \lVert X_j^\top X_i \rVert_F^2` (up to a factor :math:`(n-1)^{-2}` that cancels),

    .. math::

        \mathrm{CKA}(i, j) = \frac{\mathrm{HSIC}(i, j)}{\sqrt{\mathrm{HSIC}(i, i)\,
        \mathrm{HSIC}(j, j)}} = \frac{\lVert X_j^\top X_i \rVert_F^2}{\lVert X_i^\top X_i
        \rVert_F \, \lVert X_j^\top X_j \rVert_F}.

    It is invariant to orthogonal transforms and isotropic scaling of either node's features
    (Kornblith et al. 2019). When :math:`D \le n` HSIC is computed from the :math:`D \times D`
    cross-covariances (cost :math:`O(N^2 n D^2)`, blocks of nodes so that at most ~16 M entries
    exist at once), otherwise from the :math:`n \times n` Grams (cost :math:`O(N n^2 D +
    N^2 n^2)`, memory at most that of ``z``). A node whose features are constant has no
    defined CKA; its row and column are 0, its diagonal entry included.
    """
    check_embeddings(z, min_samples=2)
    x = z.to(torch.float64)
    x = x - x.mean(dim=1, keepdim=True)
    n_nodes, n, dim = x.shape
    if dim <= n:
        hsic = _feature_hsic(x)
    else:
        gram = torch.bmm(x, x.transpose(1, 2)).flatten(1)  # [N, n²]
        hsic = gram @ gram.T
    scale = hsic.diagonal().clamp(min=0.0).sqrt()
    denom = scale.unsqueeze(1) * scale.unsqueeze(0)
    cka = torch.where(denom > 0, hsic / denom.clamp(min=1e-300), torch.zeros_like(hsic))
    return cka.clamp_(0.0, 1.0)


def _feature_hsic(x: Tensor) -> Tensor:
    """``‖X_jᵀ X_i‖_F²`` for all pairs from centred ``x [N, n, D]``, one block pair at a time."""
    n_nodes, n, dim = x.shape
    flat = x.transpose(0, 1).reshape(n, n_nodes * dim)  # [n, N·D], node-major columns
    block = max(1, math.isqrt(_CHUNK_ELEMENTS) // dim)
    hsic = torch.empty(n_nodes, n_nodes, dtype=torch.float64)
    for a in range(0, n_nodes, block):
        left = flat[:, a * dim:(a + block) * dim]
        rows = left.shape[1] // dim
        for b in range(a, n_nodes, block):
            right = flat[:, b * dim:(b + block) * dim]
            cols = right.shape[1] // dim
            cross = (left.T @ right).view(rows, dim, cols, dim)  # X_iᵀ X_j blocks
            part = cross.pow(2).sum(dim=(1, 3))
            hsic[a:a + rows, b:b + cols] = part
            hsic[b:b + cols, a:a + rows] = part.T
    return hsic


def alignment_matrix(z: Tensor, batch_size: int = 128) -> Tensor:
    r"""RSA alignment of every pair of nodes (method.md §6).

    Parameters
    ----------
    z : Tensor
        ``[N, m, D]`` test embeddings.
    batch_size : int
        B; the stimuli are cut into ``m // B`` consecutive batches (a final partial batch is
        dropped), or one batch of all m when ``m < B``, as in
        :func:`graphens.evaluate.alignment_scores`.

    Returns
    -------
    Tensor
        ``[N, N]`` float64, symmetric: the mean over batches of the Pearson correlation
        ``r(d_i, d_j)``; entry ``(i, j)`` equals ``alignment_scores`` of the edge ``j → i``.

    Notes
    -----
    For a batch, ``d_i = (δ_i(b, b'))_{b < b'}`` with ``δ_i(b, b') = (1/D) ‖z_i(b) −
    z_i(b')‖²``, and ``r(d_i, d_j) = ⟨d̃_i, d̃_j⟩`` for the centred unit vectors ``d̃``
    (:func:`graphens.evaluate.distance_profiles`), so all pairs are one ``Ũ Ũᵀ`` product of
    the ``[N, B(B−1)/2]`` profiles per batch. The diagonal is 1 (0 for a node whose distances
    are all equal within every batch, which has no defined correlation).
    """
    check_embeddings(z, min_samples=1)
    batches = _batches(z.shape[1], batch_size)
    total = torch.zeros(z.shape[0], z.shape[0], dtype=torch.float64)
    for unit in distance_profiles(z, batches):
        total += unit @ unit.T
    return total / len(batches)


def agreement_matrix(z: Tensor, batch_size: int = 128) -> Tensor:
    r"""Agreement of every ordered pair: student i (row) against teacher j (column).

    Parameters
    ----------
    z : Tensor
        ``[N, m, D]`` test embeddings.
    batch_size : int
        Batching as in :func:`alignment_matrix`.

    Returns
    -------
    Tensor
        ``[N, N]`` float64; entry ``(i, j)`` equals
        :func:`graphens.evaluate.agreement_scores` of the edge ``j → i``. Chance is ``1/B``.

    Notes
    -----
    With ``δ_ij(b, c) = (1/D) ‖z_i(b) − z_j(c)‖²``, entry ``(i, j)`` is the fraction of
    stimuli c for which ``δ_ij(c, c) < δ_ij(b, c)`` for every other b of c's batch. The
    matrix is :func:`~graphens.evaluate.agreement_scores` on the ``N²`` ordered pairs (so the
    same chunked ``O(N² B² D)`` batched GEMMs per batch); the diagonal compares a node with
    itself and is 1 unless two stimuli share an embedding.
    """
    check_embeddings(z, min_samples=1)
    n_nodes = z.shape[0]
    student, teacher = torch.meshgrid(torch.arange(n_nodes), torch.arange(n_nodes),
                                      indexing="ij")
    pairs = torch.stack([teacher.flatten(), student.flatten()])  # row-major (i, j) cells
    return agreement_scores(z, pairs, batch_size=batch_size).view(n_nodes, n_nodes)


# --------------------------------------------------------------------------------------------
# Class-conditional pseudo-likelihood
# --------------------------------------------------------------------------------------------


def class_likelihood(z_node: Tensor, y: Tensor, tau: float = 10.0) -> Tensor:
    r"""Class-conditional pseudo-likelihood of one node, or of each of N nodes.

    Parameters
    ----------
    z_node : Tensor
        ``[n, D]`` one node's embeddings of n stimuli, or ``[N, n, D]`` for N nodes (n ≥ 2).
    y : Tensor
        ``[n]`` integer class labels ``≥ 0``.
    tau : float
        Temperature τ > 0 (the run's, as in the loss).

    Returns
    -------
    Tensor
        ``[C, C]`` (or ``[N, C, C]``) float64 with ``C = max(y) + 1``: row a class of the
        anchor, column a class of the other stimulus. Each row of a class present in ``y``
        sums to 1; a class absent from ``y`` has a zero row.

    Notes
    -----
    For an anchor a and every other stimulus b ≠ a, with the loss's mean squared distance
    ``δ(a, b) = (1/D) ‖z(a) − z(b)‖²``,

    .. math::

        q(b \mid a) = \frac{\exp(-\delta(a, b)/\tau)}{\sum_{b' \ne a} \exp(-\delta(a, b')/\tau)},
        \qquad
        M_{c c'} = \frac{1}{|\{a : y_a = c\}|} \sum_{a : y_a = c} \; \sum_{b : y_b = c'}
        q(b \mid a).

    :math:`M_{cc'}` is the probability that a stimulus of class c, as the node sees it, picks
    one of class c'; semantic structure shows as a strong diagonal (chance: the class
    frequencies). Anchors are processed in chunks, at most ~16 M similarities at once.
    """
    single = isinstance(z_node, Tensor) and z_node.dim() == 2
    z = z_node.unsqueeze(0) if single else z_node
    check_embeddings(z, name="z_node", min_samples=2)
    n_nodes, n, dim = z.shape
    y = _check_labels("y", y, n, None)
    check_value("tau", tau, [Interval("real", 0, None, closed="neither")],
                "the softmax temperature of the pseudo-likelihood")
    num_classes = int(y.max()) + 1
    x = z.to(torch.float64)
    sq = x.pow(2).sum(-1)  # [N, n]
    onehot = torch.nn.functional.one_hot(y, num_classes).to(torch.float64)  # [n, C]
    rows = torch.zeros(n_nodes, num_classes, num_classes, dtype=torch.float64)
    chunk = max(1, min(n, _CHUNK_ELEMENTS // (n_nodes * n)))
    for start in range(0, n, chunk):
        anchors = slice(start, min(n, start + chunk))
        a = anchors.stop - anchors.start
        dist = torch.bmm(x[:, anchors], x.transpose(1, 2)).mul_(-2.0)  # [N, a, n]
        dist += sq[:, anchors].unsqueeze(2) + sq.unsqueeze(1)
        logits = dist.clamp_(min=0.0).div_(-dim * float(tau))
        own = torch.arange(a)
        logits[:, own, own + start] = -torch.inf  # b ≠ a
        q = torch.softmax(logits, dim=-1)
        rows.index_add_(1, y[anchors], q @ onehot)  # Σ over anchors of each class
    counts = onehot.sum(0)
    result = rows / counts.clamp(min=1.0).view(1, -1, 1)
    return result[0] if single else result


# --------------------------------------------------------------------------------------------
# A trained run
# --------------------------------------------------------------------------------------------


def _summary(matrix: Tensor, adjacency: Tensor, symmetric: bool) -> dict[str, float | None]:
    """Means over edges, non-edges and all pairs of distinct nodes.

    Symmetric measures average unordered pairs (connected when an edge runs either way);
    agreement averages ordered pairs (connected when the edge ``j → i`` exists)."""
    n = matrix.shape[0]
    distinct = ~torch.eye(n, dtype=torch.bool)
    if symmetric:
        adjacency = adjacency | adjacency.T
        distinct = torch.triu(distinct)
    connected, unconnected = adjacency & distinct, ~adjacency & distinct

    def mean(mask: Tensor) -> float | None:
        return float(matrix[mask].mean()) if bool(mask.any()) else None

    return {"edges": mean(connected), "non_edges": mean(unconnected), "all_pairs": mean(distinct)}


def measure_run(run_dir: str | Path, max_samples: int = 2000, seed: int = 0, *,
                tau: float | None = None, batch_size: int = 128,
                dataset: Any = None) -> dict[str, Any]:
    """The four cross-encoder measures of a trained run, written beside it.

    Parameters
    ----------
    run_dir : path
        A directory written by :func:`graphens.run` (it needs ``ensemble.pt``).
    max_samples : int
        Measure on at most this many test stimuli, a seeded subset kept in test order (all of
        them, in order, when the test split is smaller: the edge values then equal the run's
        ``results.json``).
    seed : int
        Seed of the subset.
    tau : float, optional
        Temperature of the pseudo-likelihood; default: the run's τ.
    batch_size : int
        Test batch size B of alignment and agreement.
    dataset : Dataset or Recording, optional
        The data the run was given with ``graphens.run(..., dataset=)``; default: reload
        ``config.dataset`` through the run's modality.

    Returns
    -------
    dict
        What ``run_dir/measures.json`` holds: ``cka``, ``alignment``, ``agreement`` (``[N][N]``
        lists, row i the student, column j the teacher), ``class_likelihood`` (``[C][C]``,
        the mean over nodes; ``None`` for unlabelled data) and
        ``class_likelihood_per_node`` (``[N][C][C]``), ``edges`` (``[[j, i], ...]``),
        ``summary`` (per measure the mean over ``edges``, ``non_edges`` and ``all_pairs`` of
        distinct nodes, and the pseudo-likelihood's mean ``diagonal``), ``agreement_chance``,
        ``samples``, ``seed``, ``tau``, ``batch_size``, ``num_nodes``, ``node_names`` and
        ``files`` (the files written, relative to ``run_dir``). The heatmaps ``cka.png``,
        ``alignment.png``, ``agreement.png`` and ``class_likelihood.png`` outline the edges on
        the node × node maps; without matplotlib they are skipped with a warning.
    """
    from graphens.experiment import load_ensemble
    from graphens.modality import get_modality
    from graphens.run_dir import ENSEMBLE_FILE

    run_dir = Path(run_dir)
    if not (run_dir / ENSEMBLE_FILE).is_file():
        raise GraphensError(f"{str(run_dir)!r} holds no {ENSEMBLE_FILE}; give the directory of "
                            "a finished run (graphens train --out DIR).")
    check_value("max_samples", max_samples, [Interval("int", 2, None)],
                "the number of test stimuli measured")
    check_value("seed", seed, [SEED_RANGE], "the seed of the test subset")
    ensemble, config = load_ensemble(run_dir / ENSEMBLE_FILE)
    if tau is None:
        tau = config.tau if config.tau is not None else 10.0
    modality = get_modality(config.modality)  # type: ignore[arg-type]
    data = modality.load(config, dataset)
    m = int(data.x_test.shape[0])
    keep = torch.arange(m)
    if m > max_samples:
        generator = torch.Generator().manual_seed(seed)
        keep = torch.randperm(m, generator=generator)[:max_samples].sort().values
    z = modality.features(config, ensemble, data.x_test[keep])
    graph = on_host(ensemble.graph)
    n_nodes = int(graph.num_nodes)
    edge_index = check_edge_index(graph.edge_index, n_nodes)
    adjacency = torch.zeros(n_nodes, n_nodes, dtype=torch.bool)
    adjacency[edge_index[1], edge_index[0]] = True  # cell (student i, teacher j)

    cka = linear_cka(z)
    align = alignment_matrix(z, batch_size)
    agree = agreement_matrix(z, batch_size)
    y = getattr(data, "y_test", None)
    likelihood = None if y is None else class_likelihood(z, y[keep], tau)
    mean_likelihood = None if likelihood is None else likelihood.mean(0)

    result: dict[str, Any] = {
        "cka": cka.tolist(),
        "alignment": align.tolist(),
        "agreement": agree.tolist(),
        "class_likelihood": None if mean_likelihood is None else mean_likelihood.tolist(),
        "class_likelihood_per_node": None if likelihood is None else likelihood.tolist(),
        "edges": edge_index.t().tolist(),
        "summary": {
            "cka": _summary(cka, adjacency, symmetric=True),
            "alignment": _summary(align, adjacency, symmetric=True),
            "agreement": _summary(agree, adjacency, symmetric=False),
            "class_likelihood": None if mean_likelihood is None else {
                "diagonal": float(mean_likelihood.diagonal().sum() / mean_likelihood.shape[0])},
        },
        "agreement_chance": 1.0 / min(batch_size, int(keep.numel())),
        "samples": int(keep.numel()),
        "seed": seed,
        "tau": float(tau),
        "batch_size": batch_size,
        "num_nodes": n_nodes,
        "node_names": list(getattr(graph, "node_names", None) or []),
        "files": [MEASURES_FILE],
    }
    result["files"] += _plot(run_dir, result, adjacency)
    atomic_write_json(run_dir / MEASURES_FILE, result)
    return result


# --------------------------------------------------------------------------------------------
# Heatmaps
# --------------------------------------------------------------------------------------------


def _plot(run_dir: Path, result: dict[str, Any], adjacency: Tensor) -> list[str]:
    """Write the heatmaps; return their names (none, with a warning, without matplotlib)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        warn("matplotlib is not installed, so measures.json was written without heatmaps; "
             'pip install "graphens[plot]" for them.')
        return []
    names = result["node_names"] or [str(i) for i in range(result["num_nodes"])]
    chance = result["agreement_chance"]
    maps = [("cka.png", "linear CKA", result["cka"], (0.0, 1.0)),
            ("alignment.png", "RSA alignment", result["alignment"], (-1.0, 1.0)),
            ("agreement.png", f"agreement (chance {chance:.3f})", result["agreement"],
             (0.0, 1.0))]
    written = []
    for file, title, matrix, limits in maps:
        figure = Figure(figsize=(6.4, 5.4), layout="constrained")
        _heatmap(figure, matrix, limits, names, adjacency, title)
        atomic_write(run_dir / file, lambda handle, f=figure: f.savefig(handle, format="png",
                                                                         dpi=100))
        written.append(file)
    if result["class_likelihood"] is not None:
        classes = [str(c) for c in range(len(result["class_likelihood"]))]
        figure = Figure(figsize=(6.4, 5.4), layout="constrained")
        _heatmap(figure, result["class_likelihood"], (0.0, None), classes, None,
                 f"class-conditional pseudo-likelihood (τ {result['tau']:g}, mean of nodes)",
                 axes=("class of the anchor a", "class of b"))
        atomic_write(run_dir / "class_likelihood.png",
                     lambda handle: figure.savefig(handle, format="png", dpi=100))
        written.append("class_likelihood.png")
    return written


def _heatmap(figure: Any, matrix: Sequence[Sequence[float]], limits: tuple[float, float | None],
             labels: Sequence[str], adjacency: Tensor | None, title: str,
             axes: tuple[str, str] = ("student i", "teacher j")) -> None:
    """One annotated-axis heatmap; the cells of ``adjacency`` outlined."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    ax = figure.subplots()
    image = ax.imshow(matrix, cmap="viridis", vmin=limits[0], vmax=limits[1],
                      interpolation="nearest")
    figure.colorbar(image, ax=ax, shrink=0.85)
    n = len(labels)
    if n <= 40:
        ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel(axes[1])
    ax.set_ylabel(axes[0])
    if adjacency is not None:
        cells = adjacency.nonzero().tolist()
        boxes = [Rectangle((j - 0.5, i - 0.5), 1.0, 1.0) for i, j in cells]
        ax.add_collection(PatchCollection(boxes, facecolor="none", edgecolor="white",
                                          linewidth=1.2 if n <= 40 else 0.4))
        title += "\n(outlined: edges j → i)"
    ax.set_title(title, fontsize=10)
