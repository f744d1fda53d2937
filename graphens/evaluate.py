"""Decoding and cross-encoder measures: tensors in, numbers out (method.md §6).

Every function here takes embeddings that are already computed, ``[N, samples, D]`` for N
nodes (or ``[G, samples, F]`` for G feature groups), and returns plain numbers:

* :func:`knn_accuracy` — k-nearest-neighbour classification accuracy per group;
* :func:`agreement_scores` — per edge j → i, how often the student's embedding of a stimulus
  is the nearest of the student's batch embeddings to the teacher's embedding of it;
* :func:`alignment_scores` — per edge, the RSA correlation of the two nodes' distance matrices;
* :func:`decode` — the whole §6 protocol (linear probe per node and on the ensemble, kNN, and
  the two edge measures) as a JSON-ready dict, with a progress bar on request and a warning
  for every probe that stopped without converging.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace

import torch
from torch import Tensor
from tqdm.auto import tqdm

from graphens.errors import GraphensError, warn
from graphens.probe import DEFAULT_CS, ProbeResult, probe_accuracy
from graphens.probe import _check_labels as check_labels
from graphens.validation import (
    SEED_RANGE,
    Interval,
    check_edge_index,
    check_embeddings,
    check_value,
)

__all__ = ["agreement_scores", "alignment_scores", "decode", "decode_many", "knn_accuracy"]

_CHUNK_ELEMENTS = 1 << 24  # largest similarity / distance block computed at once (16 M entries)


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_labels(name: str, y: Tensor, n: int) -> Tensor:
    return check_labels(name, y, n, None)


def _check_pair(train: Tensor, test: Tensor, axis: str) -> None:
    if train.shape[0] != test.shape[0]:
        raise GraphensError(
            f"train has {train.shape[0]} {axis}s but test has {test.shape[0]}; "
            f"both need the same {axis} axis"
        )
    if train.shape[2] != test.shape[2]:
        raise GraphensError(
            f"train has {train.shape[2]} features but test has {test.shape[2]}; "
            "they must come from the same encoders"
        )


def _batches(m: int, batch_size: int) -> list[slice]:
    """Consecutive batches of ``batch_size`` (a final partial one dropped); all m if fewer."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise GraphensError(f"batch_size must be an integer >= 2, got {batch_size!r}")
    if m < 2:
        raise GraphensError(f"need at least 2 test stimuli to compare, got {m}")
    if m < batch_size:
        return [slice(0, m)]
    return [slice(s, s + batch_size) for s in range(0, m - batch_size + 1, batch_size)]


# --------------------------------------------------------------------------------------------
# kNN
# --------------------------------------------------------------------------------------------


def knn_accuracy(
    train: Tensor,
    y_train: Tensor,
    test: Tensor,
    y_test: Tensor,
    *,
    k: int = 10,
    metric: str = "cosine",
) -> Tensor:
    """k-nearest-neighbour accuracy of every feature group.

    Parameters
    ----------
    train : Tensor
        ``[G, n, F]`` training features.
    y_train : Tensor
        ``[n]`` integer labels.
    test : Tensor
        ``[G, m, F]`` test features.
    y_test : Tensor
        ``[m]`` integer labels.
    k : int
        Number of neighbours, ``1 <= k <= n``.
    metric : {"cosine", "euclidean"}
        Nearest = largest cosine similarity ``⟨a, b⟩ / (‖a‖ ‖b‖)`` or smallest Euclidean
        distance ``‖a − b‖``.

    Returns
    -------
    Tensor
        ``[G]`` float64 test accuracy.

    Notes
    -----
    The prediction is the majority label of the k nearest training points; when several
    labels share the top count, the one carried by the nearest of those neighbours wins.
    Test points are processed in chunks so that at most ~16 M similarities exist at once.
    """
    check_embeddings(train, name="train", axis="group", min_samples=1)
    check_embeddings(test, name="test", axis="group", min_samples=1)
    _check_pair(train, test, "group")
    g, n, _ = train.shape
    m = test.shape[1]
    y_train = _check_labels("y_train", y_train, n)
    y_test = _check_labels("y_test", y_test, m)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise GraphensError(f"k must be an integer in [1, {n}] (the training size), got {k!r}")
    if metric not in ("cosine", "euclidean"):
        raise GraphensError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    num_classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    dtype = torch.float64 if train.dtype == torch.float64 else torch.float32
    a, b = train.to(dtype), test.to(dtype)
    if metric == "cosine":
        a = torch.nn.functional.normalize(a, dim=-1)
        b = torch.nn.functional.normalize(b, dim=-1)
    else:
        a_sq = a.pow(2).sum(-1)  # [G, n]
    chunk = max(1, min(m, _CHUNK_ELEMENTS // (g * n)))
    correct = torch.zeros(g, dtype=torch.long)
    for start in range(0, m, chunk):
        part = b[:, start : start + chunk]
        score = torch.bmm(part, a.transpose(1, 2))  # [G, c, n]
        if metric == "euclidean":  # larger score = nearer: −‖a‖² + 2⟨a, b⟩ (‖b‖² is constant)
            score.mul_(2.0).sub_(a_sq.unsqueeze(1))
        nearest = score.topk(k, dim=-1).indices  # sorted, nearest first
        labels = y_train[nearest]  # [G, c, k]
        counts = torch.zeros(*labels.shape[:2], num_classes, dtype=torch.long)
        counts.scatter_add_(-1, labels, torch.ones_like(labels))
        top = counts.amax(dim=-1, keepdim=True)
        tied = (counts.gather(-1, labels) == top).to(torch.uint8)
        first = tied.argmax(dim=-1, keepdim=True)  # nearest neighbour whose label is a winner
        pred = labels.gather(-1, first).squeeze(-1)
        correct += (pred == y_test[start : start + chunk]).sum(dim=1)
    return correct.double() / m


# --------------------------------------------------------------------------------------------
# Edge measures
# --------------------------------------------------------------------------------------------


def agreement_scores(z: Tensor, edge_index: Tensor, *, batch_size: int = 128) -> Tensor:
    """Agreement score of every edge j → i on test batches (method.md §6).

    Parameters
    ----------
    z : Tensor
        ``[N, m, D]`` test embeddings of the N nodes.
    edge_index : Tensor
        ``[2, E]``: row 0 the teacher j, row 1 the student i.
    batch_size : int
        B; the stimuli are cut into ``m // B`` consecutive batches (a final partial batch is
        dropped), or one batch of all m stimuli when ``m < B``.

    Returns
    -------
    Tensor
        ``[E]`` float64, in the order of ``edge_index``; chance level is ``1/B``.

    Notes
    -----
    With ``δ(b, c) = (1/D) ‖z_i(b) − z_j(c)‖²``, stimulus c counts as agreed when
    ``δ(c, c) < δ(b, c)`` for every other b of its batch, i.e. the student's own embedding of c
    is strictly the nearest of the student's batch embeddings to the teacher's. A tie is not
    agreement, so a collapsed student (all stimuli mapped to one point) scores 0. Distances
    are computed in float64 as ``‖z_i(b)‖² − 2⟨z_i(b), z_j(c)⟩`` (``‖z_j(c)‖²`` is common to
    all candidates); memory is ``O(E_chunk · B²)``.
    """
    check_embeddings(z, min_samples=1)
    n_nodes, m, _ = z.shape
    edge_index = check_edge_index(edge_index, n_nodes)
    batches = _batches(m, batch_size)
    num_edges = edge_index.shape[1]
    correct = torch.zeros(num_edges, dtype=torch.float64)
    total = 0
    for sl in batches:
        zb = z[:, sl].to(torch.float64)
        bsz = zb.shape[1]
        sq = zb.pow(2).sum(-1)  # [N, B]
        e_chunk = max(1, _CHUNK_ELEMENTS // (bsz * bsz))
        eye = torch.eye(bsz, dtype=torch.bool)
        for start in range(0, num_edges, e_chunk):
            teacher = edge_index[0, start : start + e_chunk]
            student = edge_index[1, start : start + e_chunk]
            # score[e, b, c] = ‖z_i(b)‖² − 2⟨z_i(b), z_j(c)⟩ ∝ δ(b, c) up to a per-c constant
            score = torch.bmm(zb[student], zb[teacher].transpose(1, 2)).mul_(-2.0)
            score += sq[student].unsqueeze(-1)
            own = score.diagonal(dim1=1, dim2=2)  # [e, B], δ(c, c)
            rival = score.masked_fill(eye, torch.inf).amin(dim=1)  # [e, B], min over b ≠ c
            correct[start : start + e_chunk] += (own < rival).sum(dim=1).double()
        total += bsz
    return correct / total


def alignment_scores(z: Tensor, edge_index: Tensor, *, batch_size: int = 128) -> Tensor:
    """RSA alignment of every edge: correlation of the two nodes' distance matrices.

    Parameters
    ----------
    z : Tensor
        ``[N, m, D]`` test embeddings.
    edge_index : Tensor
        ``[2, E]`` edges (the score is symmetric in j and i).
    batch_size : int
        Batching as in :func:`agreement_scores`.

    Returns
    -------
    Tensor
        ``[E]`` float64 mean over batches of the Pearson correlation ``r(d_i, d_j)``.

    Notes
    -----
    For a batch, ``d_i`` is the vector of ``δ_i(b, b') = (1/D) ‖z_i(b) − z_i(b')‖²`` over the
    pairs ``b < b'`` (upper triangle). ``r = ⟨d̃_i, d̃_j⟩`` with ``d̃ = (d − mean d)/‖d − mean d‖``,
    so it is invariant to scaling and shifting either node's embedding. A node whose distances
    are all equal within a batch has no defined correlation; it counts as 0 for that batch.
    """
    check_embeddings(z, min_samples=1)
    edge_index = check_edge_index(edge_index, z.shape[0])
    batches = _batches(z.shape[1], batch_size)
    total = torch.zeros(edge_index.shape[1], dtype=torch.float64)
    for unit in distance_profiles(z, batches):
        total += (unit[edge_index[0]] * unit[edge_index[1]]).sum(dim=1)
    return total / len(batches)


def distance_profiles(z: Tensor, batches: Sequence[slice]) -> Iterator[Tensor]:
    """Each node's centred, unit-norm vector of within-batch distances, one batch at a time.

    Parameters
    ----------
    z : Tensor
        ``[N, m, D]`` embeddings (already checked).
    batches : sequence of slice
        The test batches (``_batches(m, B)``).

    Yields
    ------
    Tensor
        ``[N, P]`` float64 with ``P = B(B-1)/2``: row i is ``d̃_i = (d_i − mean d_i) /
        ‖d_i − mean d_i‖`` for ``d_i = (δ_i(b, b'))_{b < b'}``, ``δ_i(b, b') = (1/D)
        ‖z_i(b) − z_i(b')‖²``; a row of equal distances is all zeros. The RSA alignment of
        nodes i and j on the batch is ``⟨d̃_i, d̃_j⟩``, so one edge is a row product and all
        pairs are one ``[N, P] × [P, N]`` product (:func:`graphens.measures.alignment_matrix`).
    """
    dim = z.shape[2]
    for sl in batches:
        zb = z[:, sl].to(torch.float64)
        bsz = zb.shape[1]
        rows, cols = torch.triu_indices(bsz, bsz, offset=1)
        sq = zb.pow(2).sum(-1)
        dist = sq.unsqueeze(2) + sq.unsqueeze(1) - 2.0 * torch.bmm(zb, zb.transpose(1, 2))
        vec = dist[:, rows, cols].clamp_(min=0.0) / dim  # [N, B(B-1)/2]
        vec -= vec.mean(dim=1, keepdim=True)
        norm = vec.norm(dim=1, keepdim=True)
        yield torch.where(norm > 0, vec / norm.clamp(min=1e-300), torch.zeros_like(vec))


# --------------------------------------------------------------------------------------------
# The whole protocol
# --------------------------------------------------------------------------------------------


class _Progress:
    """One tqdm bar (stderr, ``leave=False``) over the work of :func:`decode`.

    Units are steps: one L-BFGS iteration of the per-node probes (all nodes and Cs move
    together), one of the ensemble probe, then one per kNN pass and per edge measure. The total
    starts with ``max_iter`` steps per probe and shrinks to the iterations a probe actually ran
    when it stops: the count only moves forward, and the percentage shown while a probe runs
    is a lower bound (the bar jumps ahead when the probe converges early, as it usually does).
    An iteration takes ~0.05-0.5 s on 2 CPU cores for typical ensembles, so the bar moves
    several times a second.
    """

    def __init__(self, enabled: bool, max_iter: int, measures: int, probes: int = 2) -> None:
        self.max_iter = max_iter
        self.bar = tqdm(total=probes * max_iter + measures, desc="decode", unit="step",
                        leave=False, file=sys.stderr, disable=not enabled)

    def stage(self, name: str) -> None:
        self.bar.set_description_str(f"decode: {name}")

    def step(self, _iteration: int | None = None) -> None:
        self.bar.update(1)

    def probe_done(self, result: ProbeResult) -> None:
        self.bar.total -= self.max_iter - result.iterations
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _probe_warnings(result: ProbeResult, Cs: Sequence[float | None], max_iter: int,
                    ensemble: bool) -> list[str]:
    """One line per (C, way of stopping) of the problems of ``result`` that did not converge."""
    lines = []
    for c_index, c in enumerate(Cs):
        converged = result.problem_converged[:, c_index]
        stalled = result.problem_stalled[:, c_index]
        steps = result.problem_iterations[:, c_index]
        for stall, mask in ((False, ~converged & ~stalled), (True, stalled)):
            groups = mask.nonzero().flatten().tolist()
            if not groups:
                continue
            who = "the ensemble probe" if ensemble else f"the probe of {_nodes(groups)}"
            if not stall:
                fix = ("drop None from Cs (without a penalty, separable embeddings have no "
                       "optimum) or raise max_iter" if c is None else "raise max_iter")
                lines.append(
                    f"{who} with C={c!r} did not converge: it stopped at max_iter={max_iter} "
                    f"L-BFGS iterations with its gradient above tol; {fix} (decode(..., "
                    f"max_iter={4 * max_iter})). Its accuracy uses the weights as they stand.")
                continue
            counts = sorted({int(steps[g]) for g in groups})
            after = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
            lines.append(
                f"{who} with C={c!r} stalled after {after} L-BFGS iterations without "
                "converging (its line search found no decrease while the gradient was above "
                "tol); rescale embeddings with very large values, or fit in float64 with "
                "graphens.probe.probe_accuracy(..., dtype=torch.float64). Its accuracy uses the "
                "weights as they stand.")
    return lines


def _nodes(groups: list[int], shown: int = 8) -> str:
    if len(groups) == 1:
        return f"node {groups[0]}"
    listed = ", ".join(map(str, groups[:shown]))
    more = f" and {len(groups) - shown} more" if len(groups) > shown else ""
    return f"nodes {listed}{more}"


def _concat_nodes(z: Tensor) -> Tensor:
    """``[N, n, D]`` → ``[1, n, N·D]``: each stimulus's embeddings of all nodes, node-major."""
    n_nodes, n, dim = z.shape
    return z.permute(1, 0, 2).reshape(1, n, n_nodes * dim)


def decode(
    train_z: Tensor,
    y_train: Tensor,
    test_z: Tensor,
    y_test: Tensor,
    *,
    edge_index: Tensor | None = None,
    seed: int = 0,
    Cs: Sequence[float | None] = DEFAULT_CS,
    knn_k: int = 10,
    batch_size: int = 128,
    max_iter: int = 1000,
    progress: bool = False,
) -> dict:
    """Evaluate an ensemble's embeddings with the protocol of method.md §6.

    Parameters
    ----------
    train_z : Tensor
        ``[N, n, D]`` training embeddings (inference mode).
    y_train : Tensor
        ``[n]`` integer labels.
    test_z : Tensor
        ``[N, m, D]`` test embeddings.
    y_test : Tensor
        ``[m]`` integer labels.
    edge_index : Tensor, optional
        ``[2, E]`` edges j → i; when given, agreement and alignment are measured on them.
    seed : int
        Seed of the probe's train/validation split, in ``[0, 2**63 - 1]``.
    Cs : sequence of float or None
        The probe's C grid (``None`` = no penalty).
    knn_k : int
        k of the kNN accuracy (cosine similarity).
    batch_size : int
        Test batch size B of the edge measures.
    max_iter : int
        L-BFGS iteration cap of every probe fit.
    progress : bool
        Show a progress bar on stderr (``leave=False``): L-BFGS iterations of the per-node and
        ensemble probes, then kNN and the edge measures, the current one in its description.

    Returns
    -------
    dict
        JSON-ready:

        * ``per_node_accuracy`` — list of N probe test accuracies;
        * ``single_accuracy`` — their mean ("single encoder");
        * ``ensemble_accuracy`` — the probe on the concatenation ``[n, N·D]`` of all nodes;
        * ``best_C`` — ``{"per_node": [N], "ensemble": C}``;
        * ``probe`` — ``{"per_node"|"ensemble": {"iterations", "converged"}}``;
        * ``knn_accuracy`` — ``{"k", "per_node": [N], "single": mean, "ensemble"}``;
        * with ``edge_index``: ``edges`` (``[[j, i], ...]``), ``agreement`` and ``alignment``
          (each ``{"mean", "per_edge": [E]}``, in edge order; the mean is None when E = 0) and
          ``agreement_chance`` = 1/B;
        * ``warnings`` — one line per probe fit that stopped without converging (which probe:
          node(s) or ensemble, its C, its iterations, and what to do); each is also emitted
          with ``warnings.warn(line, GraphensWarning)``.

    Notes
    -----
    A fit stops unconverged when it reaches ``max_iter`` (typically C = None on separable
    embeddings) or when its line search stalls; its weights are used as they stand, so the
    accuracies are still reported.
    """
    results = decode_many([train_z], y_train, [test_z], y_test,
                          edge_indices=None if edge_index is None else [edge_index], seed=seed,
                          Cs=Cs, knn_k=knn_k, batch_size=batch_size, max_iter=max_iter,
                          progress=progress)
    for message in results[0]["warnings"]:
        warn(message)
    return results[0]


def decode_many(
    train_zs: Sequence[Tensor],
    y_train: Tensor,
    test_zs: Sequence[Tensor],
    y_test: Tensor,
    *,
    edge_indices: Sequence[Tensor] | None = None,
    seed: int = 0,
    Cs: Sequence[float | None] = DEFAULT_CS,
    knn_k: int = 10,
    batch_size: int = 128,
    max_iter: int = 1000,
    progress: bool = False,
) -> list[dict]:
    """:func:`decode` for K ensembles on the same stimuli, their probes solved together.

    The per-node probes of all K ensembles are one batched L-BFGS problem set (one group per
    node of every ensemble, for each embedding width D), and so are their ensemble probes (one
    group per ensemble, for each width N_k·D): a fleet (:func:`graphens.fleet.run_fleet`)
    decodes its members in two probe calls instead of 2K. Every (group, C) problem keeps its
    own curvature history and stopping test, so each ensemble's result is the one
    :func:`decode` gives it alone, up to float rounding of the batched products. All ensembles
    share the labels, the probe's train/validation split (``seed``) and the settings.

    Parameters
    ----------
    train_zs, test_zs : sequence of Tensor
        ``[N_k, n, D_k]`` and ``[N_k, m, D_k]`` embeddings of ensemble k.
    edge_indices : sequence of Tensor, optional
        ``[2, E_k]`` edges of each ensemble, for its agreement and alignment.
    y_train, y_test, seed, Cs, knn_k, batch_size, max_iter, progress
        As in :func:`decode`.

    Returns
    -------
    list of dict
        :func:`decode`'s dictionary for each ensemble, in order. The probe warnings are in
        each dictionary's ``warnings`` and are not emitted (the caller knows whose they are).
    """
    if len(train_zs) != len(test_zs) or not train_zs:
        raise GraphensError(f"decode_many needs one test embedding per training embedding, "
                            f"got {len(train_zs)} and {len(test_zs)} (and at least one).")
    if edge_indices is not None and len(edge_indices) != len(train_zs):
        raise GraphensError(f"{len(edge_indices)} edge_index for {len(train_zs)} ensembles; "
                            "give one per ensemble, or none.")
    for train_z, test_z in zip(train_zs, test_zs, strict=True):
        check_embeddings(train_z, name="train_z", min_samples=1)
        check_embeddings(test_z, name="test_z", min_samples=1)
        _check_pair(train_z, test_z, "node")
    samples = {(int(z.shape[1]), int(t.shape[1])) for z, t in zip(train_zs, test_zs,
                                                                     strict=True)}
    if len(samples) > 1:
        raise GraphensError(f"the ensembles embed different numbers of (train, test) stimuli "
                            f"{sorted(samples)}; decode_many needs the same stimuli for all.")
    edges: list[Tensor | None] = [None] * len(train_zs)
    if edge_indices is not None:
        edges = [check_edge_index(e, int(z.shape[0]))
                 for e, z in zip(edge_indices, train_zs, strict=True)]
    y_train = _check_labels("y_train", y_train, train_zs[0].shape[1])
    y_test = _check_labels("y_test", y_test, test_zs[0].shape[1])
    check_value("seed", seed, [SEED_RANGE], "the seed of the probe's train/validation split")
    check_value("max_iter", max_iter, [Interval("int", 1, None)], "the probe's iteration cap")
    num_classes = int(max(int(y_train.max()), int(y_test.max()))) + 1

    ens_trains = [_concat_nodes(z) for z in train_zs]
    ens_tests = [_concat_nodes(z) for z in test_zs]
    calls = (len({int(z.shape[2]) for z in train_zs})
             + len({int(z.shape[2]) for z in ens_trains}))
    measures = sum(2 + (2 if e is not None else 0) for e in edges)
    bar = _Progress(progress, max_iter, measures=measures, probes=calls)
    try:
        probe_kw = {"Cs": Cs, "seed": seed, "num_classes": max(num_classes, 2),
                    "max_iter": max_iter, "on_iteration": bar.step}
        bar.stage("per-node probes")
        nodes = _probe_blocks(train_zs, test_zs, y_train, y_test, probe_kw, bar)
        bar.stage("ensemble probes")
        ensembles = _probe_blocks(ens_trains, ens_tests, y_train, y_test, probe_kw, bar)
        results = []
        for k, edge_index in enumerate(edges):
            bar.stage("kNN")
            knn_nodes = knn_accuracy(train_zs[k], y_train, test_zs[k], y_test, k=knn_k)
            bar.step()
            knn_ens = knn_accuracy(ens_trains[k], y_train, ens_tests[k], y_test, k=knn_k)
            bar.step()
            result = _decoded(nodes[k], ensembles[k], knn_nodes, knn_ens, knn_k)
            if edge_index is not None:
                bar.stage("agreement")
                agree = agreement_scores(test_zs[k], edge_index, batch_size=batch_size)
                bar.step()
                bar.stage("alignment")
                align = alignment_scores(test_zs[k], edge_index, batch_size=batch_size)
                bar.step()
                m = test_zs[k].shape[1]
                result["edges"] = edge_index.t().tolist()
                result["agreement"] = {"mean": float(agree.mean()) if agree.numel() else None,
                                       "per_edge": agree.tolist()}
                result["alignment"] = {"mean": float(align.mean()) if align.numel() else None,
                                       "per_edge": align.tolist()}
                result["agreement_chance"] = 1.0 / (batch_size if m >= batch_size else m)
            result["warnings"] = (
                _probe_warnings(nodes[k], Cs, max_iter, ensemble=False)
                + _probe_warnings(ensembles[k], Cs, max_iter, ensemble=True))
            results.append(result)
    finally:
        bar.close()
    return results


def _probe_blocks(trains: Sequence[Tensor], tests: Sequence[Tensor], y_train: Tensor,
                  y_test: Tensor, probe_kw: dict, bar: _Progress) -> list[ProbeResult]:
    """Probe every ``[G_k, n, F_k]`` block, all blocks of one width F in one batched call;
    return each block's own slice of the result."""
    out: list[ProbeResult | None] = [None] * len(trains)
    for width in dict.fromkeys(int(t.shape[2]) for t in trains):
        members = [k for k, t in enumerate(trains) if int(t.shape[2]) == width]
        result = probe_accuracy(torch.cat([trains[k] for k in members]), y_train,
                                torch.cat([tests[k] for k in members]), y_test, **probe_kw)
        bar.probe_done(result)
        start = 0
        for k in members:
            stop = start + int(trains[k].shape[0])
            out[k] = _slice_probe(result, start, stop)
            start = stop
    return out  # type: ignore[return-value]


def _slice_probe(result: ProbeResult, start: int, stop: int) -> ProbeResult:
    """The groups ``start:stop`` of a batched probe, as if they had been probed alone."""
    steps = result.problem_iterations[start:stop]
    converged = result.problem_converged[start:stop]
    return replace(result, test_accuracy=result.test_accuracy[start:stop],
                   val_accuracy=result.val_accuracy[start:stop],
                   best_C=result.best_C[start:stop],
                   iterations=int(steps.max()) if steps.numel() else 0,
                   converged=bool(converged.all()), problem_iterations=steps,
                   problem_converged=converged,
                   problem_stalled=result.problem_stalled[start:stop])


def _decoded(nodes: ProbeResult, ensemble: ProbeResult, knn_nodes: Tensor, knn_ens: Tensor,
             knn_k: int) -> dict:
    """The probe and kNN part of :func:`decode`'s dictionary for one ensemble."""
    per_node = nodes.test_accuracy.tolist()
    return {
        "per_node_accuracy": per_node,
        "single_accuracy": sum(per_node) / len(per_node),
        "ensemble_accuracy": float(ensemble.test_accuracy[0]),
        "best_C": {"per_node": list(nodes.best_C), "ensemble": ensemble.best_C[0]},
        "probe": {
            "per_node": {"iterations": nodes.iterations, "converged": nodes.converged},
            "ensemble": {"iterations": ensemble.iterations, "converged": ensemble.converged},
        },
        "knn_accuracy": {
            "k": knn_k,
            "per_node": knn_nodes.tolist(),
            "single": float(knn_nodes.mean()),
            "ensemble": float(knn_ens[0]),
        },
    }
