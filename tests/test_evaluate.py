"""Tests of graphens.evaluate: kNN, agreement, alignment and the decode protocol."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import graphens.evaluate as ev
import graphens.probe as probe_module
from graphens.errors import GraphensError, GraphensWarning
from graphens.evaluate import agreement_scores, alignment_scores, decode, knn_accuracy


def line(values: list[float]) -> torch.Tensor:
    """Points on the x axis as ``[1, n, 2]`` features (one group)."""
    v = torch.tensor(values)
    return torch.stack([v, torch.zeros_like(v)], dim=-1)[None]


def test_knn_euclidean_known_answers():
    train = line([0.0, 1.0, 1.5, 1.6, 10.0])
    y_train = torch.tensor([0, 0, 1, 1, 2])
    test = line([0.9, 1.4, 9.0, 1.2])
    # k = 1: nearest labels 0, 1, 2, 0.
    acc1 = knn_accuracy(train, y_train, test, torch.tensor([0, 1, 2, 0]), k=1, metric="euclidean")
    assert acc1.tolist() == [1.0]
    # k = 2 at 0.9: neighbours 1.0 (label 0) and 1.5 (label 1) tie 1-1 -> nearest wins (0);
    # at 1.4: 1.5 (1) and 1.6 (1) -> 1; at 9.0: 10 (2) and 1.6 (1) tie -> 2.
    acc2 = knn_accuracy(
        train, y_train, test[:, :3], torch.tensor([0, 1, 2]), k=2, metric="euclidean"
    )
    assert acc2.tolist() == [1.0]
    # k = 3 at 1.2: neighbours 1.0 (0), 1.5 (1), 1.6 (1) -> majority 1 beats the nearest's 0.
    acc3 = knn_accuracy(train, y_train, test[:, 3:], torch.tensor([1]), k=3, metric="euclidean")
    assert acc3.tolist() == [1.0]


def test_knn_cosine_groups_and_chunking(monkeypatch):
    angles = torch.tensor([0.0, 0.1, 0.2, 1.5, 1.6, 1.7])
    y_train = torch.tensor([0, 0, 0, 1, 1, 1])
    unit = torch.stack([angles.cos(), angles.sin()], dim=-1)
    scale = torch.tensor([1.0, 5.0, 0.2, 3.0, 0.5, 7.0])[:, None]  # cosine ignores norms
    good = unit * scale
    bad = unit.flip(0) * scale  # the same points with the labels reversed
    train = torch.stack([good, bad])
    test_angles = torch.tensor([0.05, 0.15, 1.55, 1.65])
    test = torch.stack([test_angles.cos(), test_angles.sin()], -1)[None].repeat(2, 1, 1)
    y_test = torch.tensor([0, 0, 1, 1])
    acc = knn_accuracy(train, y_train, test, y_test, k=3)
    assert acc.tolist() == [1.0, 0.0]
    monkeypatch.setattr(ev, "_CHUNK_ELEMENTS", 12)  # one test point per chunk
    assert knn_accuracy(train, y_train, test, y_test, k=3).tolist() == [1.0, 0.0]


def test_knn_errors():
    x = torch.randn(1, 5, 2)
    y = torch.arange(5) % 2
    with pytest.raises(GraphensError, match=r"k must be an integer in \[1, 5\]"):
        knn_accuracy(x, y, x, y, k=6)
    with pytest.raises(GraphensError, match="metric"):
        knn_accuracy(x, y, x, y, k=3, metric="manhattan")
    with pytest.raises(GraphensError, match="1 groups but test has 2"):
        knn_accuracy(x, y, torch.randn(2, 5, 2), y, k=3)


def distinct(n_nodes: int, m: int, dim: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n_nodes, m, dim, generator=gen)


def all_pairs(n: int) -> torch.Tensor:
    return torch.tensor([[j, i] for j in range(n) for i in range(n) if i != j]).t()


def test_agreement_identical_embeddings_is_one():
    z = distinct(1, 300, 8, seed=0).repeat(4, 1, 1)
    scores = agreement_scores(z, all_pairs(4))
    assert scores.shape == (12,) and scores.dtype == torch.float64
    assert torch.equal(scores, torch.ones(12, dtype=torch.float64))


def test_agreement_independent_embeddings_is_chance():
    z = distinct(3, 128 * 8, 16, seed=1)
    scores = agreement_scores(z, all_pairs(3))
    assert abs(float(scores.mean()) - 1 / 128) < 0.006
    assert float(scores.max()) < 0.03


def test_agreement_follows_edge_order_and_direction():
    z = distinct(3, 256, 8, seed=2)
    z[1] = z[0]  # nodes 0 and 1 agree, node 2 is independent
    edges = torch.tensor([[0, 1, 1, 2], [1, 2, 0, 0]])
    s = agreement_scores(z, edges)
    assert s[0] == 1.0 and s[2] == 1.0
    assert s[1] < 0.1 and s[3] < 0.1
    # Collapsed teacher: every anchor is the same point, one student stimulus is nearest to it,
    # so one hit per batch (1/B). Collapsed student: all candidates tie, no hit.
    z[0] = 0.0
    s = agreement_scores(z, torch.tensor([[0, 2], [2, 0]]))
    assert s.tolist() == [1 / 128, 0.0]


def test_agreement_batching():
    z = distinct(2, 300, 4, seed=3)
    edges = torch.tensor([[0], [1]])
    z[1, :256] = z[0, :256]  # the two full batches agree; the last 44 stimuli are dropped
    assert agreement_scores(z, edges).tolist() == [1.0]
    z[1, :128] = distinct(1, 128, 4, seed=4)[0]  # first batch independent
    assert 0.5 <= float(agreement_scores(z, edges)[0]) < 0.52
    small = distinct(1, 40, 4, seed=5).repeat(2, 1, 1)  # m < B: one batch of all 40
    assert agreement_scores(small, edges).tolist() == [1.0]


def test_alignment_identical_scaled_and_independent():
    base = distinct(1, 256, 8, seed=6)[0]
    other = distinct(1, 256, 8, seed=7)[0]
    z = torch.stack([base, 3.0 * base + 5.0, other])
    edges = torch.tensor([[0, 0, 1, 2], [1, 2, 0, 0]])
    s = alignment_scores(z, edges)
    torch.testing.assert_close(s[[0, 2]], torch.ones(2, dtype=torch.float64))
    assert abs(float(s[1])) < 0.1
    assert s[1] == s[3]  # symmetric in teacher and student
    # A rotation keeps every distance: alignment 1.
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(8)))
    rotated = torch.stack([base, base @ q])
    assert alignment_scores(rotated, torch.tensor([[0], [1]]))[0] == pytest.approx(1.0)


def test_edge_measure_errors():
    z = torch.randn(3, 20, 4)
    with pytest.raises(GraphensError, match=r"ids must lie in \[0, 2\]"):
        agreement_scores(z, torch.tensor([[0], [3]]))
    with pytest.raises(GraphensError, match=r"shape \[2, E\]"):
        alignment_scores(z, torch.tensor([0, 1]))
    with pytest.raises(GraphensError, match="batch_size"):
        agreement_scores(z, torch.tensor([[0], [1]]), batch_size=1)
    bad = z.clone()
    bad[2, 0, 0] = float("inf")
    with pytest.raises(GraphensError, match=r"node\(s\) \[2\]"):
        agreement_scores(bad, torch.tensor([[0], [1]]))


def test_decode_returns_every_measure():
    gen = torch.Generator().manual_seed(9)
    n, m, n_nodes, dim = 240, 160, 3, 6
    y = torch.arange(n + m) % 4
    means = torch.randn(n_nodes, 4, dim, generator=gen)
    z = means[:, y] + 0.8 * torch.randn(n_nodes, n + m, dim, generator=gen)
    edges = all_pairs(n_nodes)
    out = decode(z[:, :n], y[:n], z[:, n:], y[n:], edge_index=edges, knn_k=5)
    assert len(out["per_node_accuracy"]) == n_nodes
    assert out["single_accuracy"] == pytest.approx(sum(out["per_node_accuracy"]) / n_nodes)
    assert 0.5 < out["single_accuracy"] <= out["ensemble_accuracy"] <= 1.0
    assert len(out["best_C"]["per_node"]) == n_nodes and "ensemble" in out["best_C"]
    assert set(out["probe"]) == {"per_node", "ensemble"}
    knn = out["knn_accuracy"]
    assert knn["k"] == 5 and len(knn["per_node"]) == n_nodes and 0.5 < knn["ensemble"] <= 1.0
    assert out["edges"] == edges.t().tolist()
    for key in ("agreement", "alignment"):
        assert len(out[key]["per_edge"]) == edges.shape[1]
        assert out[key]["mean"] == pytest.approx(sum(out[key]["per_edge"]) / edges.shape[1])
    assert out["agreement_chance"] == 1 / 128  # m = 160: one batch of 128
    json.dumps(out, allow_nan=False)
    plain = decode(z[:, :n], y[:n], z[:, n:], y[n:])
    assert "agreement" not in plain and "agreement_chance" not in plain
    with pytest.raises(GraphensError, match="3 nodes but test has 2"):
        decode(z[:, :n], y[:n], z[:2, n:], y[n:])


def blobs(seed: int = 9, n: int = 240, m: int = 160, n_nodes: int = 3, dim: int = 6):
    """Overlapping classes seen by ``n_nodes`` nodes: ``(train_z, y_train, test_z, y_test)``."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n + m) % 4
    means = torch.randn(n_nodes, 4, dim, generator=gen)
    z = means[:, y] + 0.8 * torch.randn(n_nodes, n + m, dim, generator=gen)
    return z[:, :n], y[:n], z[:, n:], y[n:]


def test_decode_warns_about_no_probe_when_all_converge():
    with warnings.catch_warnings():
        warnings.simplefilter("error", GraphensWarning)
        out = decode(*blobs())
    assert out["warnings"] == []
    assert out["probe"]["per_node"]["converged"] and out["probe"]["ensemble"]["converged"]


def test_decode_names_every_probe_that_hit_max_iter():
    with pytest.warns(GraphensWarning) as caught:
        out = decode(*blobs(), Cs=(None, 0.1), max_iter=2)
    lines = out["warnings"]
    assert [str(w.message) for w in caught] == lines
    # Per C: the per-node probe (all three nodes), then the ensemble probe.
    assert len(lines) == 4 and all("\n" not in line for line in lines)
    assert lines[0].startswith("the probe of nodes 0, 1, 2 with C=None did not converge")
    assert "max_iter=2 L-BFGS iterations" in lines[0] and "drop None from Cs" in lines[0]
    assert lines[1].startswith("the probe of nodes 0, 1, 2 with C=0.1 did not converge")
    assert "drop None" not in lines[1] and "max_iter=8" in lines[1]
    assert lines[2].startswith("the ensemble probe with C=None did not converge")
    assert lines[3].startswith("the ensemble probe with C=0.1 did not converge")
    assert not out["probe"]["per_node"]["converged"]


def test_decode_warns_about_a_stalled_probe(monkeypatch):
    monkeypatch.setattr(probe_module, "_MAX_LINE_SEARCH", 0)  # every line search fails
    with pytest.warns(GraphensWarning, match="stalled after 1 L-BFGS iterations"):
        out = decode(*blobs(n_nodes=1), Cs=(1.0,))
    assert out["warnings"] == [
        "the probe of node 0 with C=1.0 stalled after 1 L-BFGS iterations without converging "
        "(its line search found no decrease while the gradient was above tol); rescale "
        "embeddings with very large values, or fit in float64 with "
        "graphens.probe.probe_accuracy(..., dtype=torch.float64). Its accuracy uses the "
        "weights as they stand.",
        "the ensemble probe with C=1.0 stalled after 1 L-BFGS iterations without converging "
        "(its line search found no decrease while the gradient was above tol); rescale "
        "embeddings with very large values, or fit in float64 with "
        "graphens.probe.probe_accuracy(..., dtype=torch.float64). Its accuracy uses the "
        "weights as they stand.",
    ]


def test_decode_progress_bar_counts_the_work_and_changes_nothing(monkeypatch, capsys):
    bars = []

    class Recorded(ev.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(ev, "tqdm", Recorded)
    data = blobs()
    edges = all_pairs(3)
    quiet = decode(*data, edge_index=edges)
    assert capsys.readouterr().err == ""
    shown = decode(*data, edge_index=edges, progress=True)
    assert shown == quiet
    out, err = capsys.readouterr()
    assert out == ""
    for stage in ("per-node probes", "ensemble probe", "kNN", "agreement", "alignment"):
        assert f"decode: {stage}" in err
    bar = bars[-1]
    iterations = shown["probe"]["per_node"]["iterations"] + shown["probe"]["ensemble"][
        "iterations"]
    # One step per L-BFGS iteration of each probe, two kNN passes, two edge measures; the
    # total shrank from 2 * max_iter to what the probes ran.
    assert bar.n == bar.total == iterations + 4
    assert not bar.leave


def test_decode_accepts_every_63_bit_seed():
    data = blobs()
    top = decode(*data, seed=2**63 - 1)
    assert top == decode(*data, seed=2**63 - 1)
    assert 0.5 < top["ensemble_accuracy"] <= 1.0
    for seed in (2**63, 2**70, -1):
        with pytest.raises(GraphensError, match=rf"seed={seed} is not valid: .*2\*\*63 - 1"):
            decode(*data, seed=seed)
    with pytest.raises(GraphensError, match="max_iter=0 is not valid"):
        decode(*data, max_iter=0)


def test_decode_many_equals_decode_of_each_ensemble_in_two_probe_calls(monkeypatch):
    g = torch.Generator().manual_seed(3)
    y_train, y_test = torch.arange(120) % 3, torch.arange(60) % 3
    centres = torch.randn(3, 4, generator=g) * 2

    def ensemble(nodes):
        def embed(y):
            return centres[y][None].repeat(nodes, 1, 1) + torch.randn(nodes, len(y), 4,
                                                                         generator=g)
        return embed(y_train), embed(y_test)

    ensembles = [ensemble(3), ensemble(3), ensemble(2)]  # two ensemble widths: 12 and 8
    edges = [torch.tensor([[0, 1], [1, 2]]), torch.tensor([[2], [0]]), torch.tensor([[0], [1]])]
    alone = [decode(tr, y_train, te, y_test, edge_index=e, seed=5, Cs=(1e-2, 1.0))
             for (tr, te), e in zip(ensembles, edges, strict=True)]
    calls = []
    real = ev.probe_accuracy
    monkeypatch.setattr(ev, "probe_accuracy",
                        lambda train, *a, **k: calls.append(train.shape) or real(train, *a, **k))
    together = ev.decode_many([tr for tr, _ in ensembles], y_train,
                              [te for _, te in ensembles], y_test, edge_indices=edges, seed=5,
                              Cs=(1e-2, 1.0))
    # per-node: one call of 8 groups of width 4; ensembles: one of width 12, one of width 8
    assert sorted(calls) == [(1, 120, 8), (2, 120, 12), (8, 120, 4)]
    for mine, single in zip(together, alone, strict=True):
        assert mine.keys() == single.keys()
        assert mine["per_node_accuracy"] == pytest.approx(single["per_node_accuracy"], abs=1e-6)
        assert mine["ensemble_accuracy"] == pytest.approx(single["ensemble_accuracy"], abs=1e-6)
        assert mine["best_C"] == single["best_C"]
        assert mine["agreement"] == single["agreement"] and mine["edges"] == single["edges"]
        assert mine["probe"]["per_node"]["converged"] == single["probe"]["per_node"]["converged"]


def test_decode_many_refuses_ensembles_of_different_stimuli():
    z = torch.randn(2, 10, 4)
    with pytest.raises(GraphensError, match="different numbers of"):
        ev.decode_many([z, z[:, :8]], torch.arange(10) % 2, [z, z], torch.arange(10) % 2)
    with pytest.raises(GraphensError, match="one per ensemble"):
        ev.decode_many([z], torch.arange(10) % 2, [z], torch.arange(10) % 2,
                       edge_indices=[torch.tensor([[0], [1]])] * 2)
