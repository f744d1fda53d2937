"""Tests of graphens.measures: CKA, all-pairs alignment and agreement, the class-conditional
pseudo-likelihood, measure_run and ``graphens measure``."""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch

import graphens
import graphens.measures as measures
from graphens.cli import main
from graphens.errors import GraphensError
from graphens.evaluate import agreement_scores, alignment_scores
from graphens.measures import (
    agreement_matrix,
    alignment_matrix,
    class_likelihood,
    linear_cka,
    measure_run,
)


def cka_by_formula(x: torch.Tensor, y: torch.Tensor) -> float:
    """‖YᵀX‖_F² / (‖XᵀX‖_F ‖YᵀY‖_F) of centred features, with plain matrix products."""
    x = x.double() - x.double().mean(0)
    y = y.double() - y.double().mean(0)
    return float((y.T @ x).pow(2).sum() / ((x.T @ x).norm() * (y.T @ y).norm()))


# --------------------------------------------------------------------------------------------
# CKA
# --------------------------------------------------------------------------------------------


def test_cka_matches_a_hand_computed_value():
    # X is centred: XᵀX = diag(2, 2), ‖·‖ = 2√2. Y = (1, 0, −1, 0) on its first feature only
    # (shifted by 5 to exercise the centring): YᵀY = diag(2, 0), ‖·‖ = 2; YᵀX = [[2, 0], [0, 0]],
    # ‖·‖² = 4. CKA = 4 / (2√2 · 2) = 1/√2.
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    y = torch.tensor([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]) + 5.0
    cka = linear_cka(torch.stack([x, y]))
    assert cka.shape == (2, 2)
    assert cka[0, 1].item() == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert cka[1, 0].item() == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert cka.diagonal().tolist() == pytest.approx([1.0, 1.0], abs=1e-12)


@pytest.mark.parametrize("samples,dim", [(40, 6), (5, 12)], ids=["features", "grams"])
def test_cka_both_forms_match_the_formula(samples, dim):
    z = torch.randn(4, samples, dim, generator=torch.Generator().manual_seed(1))
    cka = linear_cka(z)
    for i in range(4):
        assert cka[i, i].item() == pytest.approx(1.0, abs=1e-12)
        for j in range(4):
            assert cka[i, j].item() == pytest.approx(cka_by_formula(z[i], z[j]), abs=1e-10)


def test_cka_blocks_give_the_same_matrix(monkeypatch):
    z = torch.randn(5, 30, 4, generator=torch.Generator().manual_seed(2))
    whole = linear_cka(z)
    monkeypatch.setattr(measures, "_CHUNK_ELEMENTS", 64)  # blocks of 2 nodes
    assert torch.allclose(linear_cka(z), whole, atol=1e-12)


def test_cka_is_invariant_to_rotation_and_isotropic_scaling():
    gen = torch.Generator().manual_seed(3)
    base = torch.randn(50, 8, generator=gen)
    other = base @ torch.randn(8, 8, generator=gen) + 0.3 * torch.randn(50, 8, generator=gen)
    rotation, _ = torch.linalg.qr(torch.randn(8, 8, generator=gen))
    moved = 7.5 * other @ rotation + 2.0
    before = linear_cka(torch.stack([base, other]))[0, 1]
    after = linear_cka(torch.stack([base, moved]))[0, 1]
    assert 0.1 < before.item() < 0.99
    assert after.item() == pytest.approx(before.item(), abs=1e-6)
    # but not to an anisotropic scaling
    stretched = other * torch.tensor([10.0] + [1.0] * 7)
    assert abs(linear_cka(torch.stack([base, stretched]))[0, 1].item() - before.item()) > 1e-3


def test_cka_of_a_constant_node_is_zero_and_bad_input_is_one_line():
    z = torch.randn(2, 10, 3, generator=torch.Generator().manual_seed(0))
    z[1] = 4.0
    # float32: a node against itself is 1 up to rounding (was flaky with unseeded data)
    torch.testing.assert_close(linear_cka(z), torch.tensor([[1.0, 0.0], [0.0, 0.0]],
                                                           dtype=torch.float64),
                               rtol=0, atol=1e-6)
    with pytest.raises(GraphensError, match=r"shape \[nodes, samples, features\]"):
        linear_cka(torch.randn(10, 3))
    with pytest.raises(GraphensError, match="NaN"):
        linear_cka(torch.full((2, 4, 3), float("nan")))


# --------------------------------------------------------------------------------------------
# Alignment and agreement: the per-edge functions on every pair
# --------------------------------------------------------------------------------------------


def embeddings(nodes: int = 4, samples: int = 70, dim: int = 5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(4)
    shared = torch.randn(samples, dim, generator=gen)
    noise = torch.tensor([0.1, 0.5, 2.0, 10.0][:nodes]).view(-1, 1, 1)
    return shared + noise * torch.randn(nodes, samples, dim, generator=gen)


EDGES = torch.tensor([[0, 1, 2, 3, 0], [1, 0, 3, 2, 2]])  # teacher j -> student i


@pytest.mark.parametrize("batch_size", [16, 128])
def test_alignment_matrix_equals_the_per_edge_scores(batch_size):
    z = embeddings()
    matrix = alignment_matrix(z, batch_size=batch_size)
    per_edge = alignment_scores(z, EDGES, batch_size=batch_size)
    assert torch.allclose(matrix[EDGES[1], EDGES[0]], per_edge, atol=1e-12)
    assert torch.allclose(matrix, matrix.T, atol=1e-12)
    assert torch.allclose(matrix.diagonal(), torch.ones(4, dtype=torch.float64))
    assert matrix[0, 1] > matrix[0, 3]  # less noise, more alike


@pytest.mark.parametrize("batch_size", [16, 128])
def test_agreement_matrix_equals_the_per_edge_scores(batch_size):
    z = embeddings()
    matrix = agreement_matrix(z, batch_size=batch_size)
    per_edge = agreement_scores(z, EDGES, batch_size=batch_size)
    assert torch.equal(matrix[EDGES[1], EDGES[0]], per_edge)
    assert matrix.diagonal().tolist() == [1.0] * 4
    assert matrix[0, 1] > matrix[0, 3]


def test_alignment_per_edge_is_unchanged_by_the_refactor():
    # The RSA correlation written out directly for one edge and one batch.
    z = embeddings(nodes=2, samples=20)
    d = [torch.pdist(z[k].double()).pow(2) / z.shape[2] for k in range(2)]
    expected = torch.corrcoef(torch.stack(d))[0, 1]
    got = alignment_scores(z, torch.tensor([[0], [1]]), batch_size=128)
    assert got.item() == pytest.approx(expected.item(), abs=1e-12)


# --------------------------------------------------------------------------------------------
# Class-conditional pseudo-likelihood
# --------------------------------------------------------------------------------------------


def test_class_likelihood_rows_sum_to_one():
    gen = torch.Generator().manual_seed(5)
    z = torch.randn(3, 40, 6, generator=gen)
    y = torch.arange(40) % 4
    per_node = class_likelihood(z, y, tau=0.5)
    assert per_node.shape == (3, 4, 4)
    assert torch.allclose(per_node.sum(-1), torch.ones(3, 4, dtype=torch.float64))
    assert torch.allclose(class_likelihood(z[1], y, tau=0.5), per_node[1])


def test_class_likelihood_matches_the_definition_and_chunks(monkeypatch):
    gen = torch.Generator().manual_seed(6)
    z = torch.randn(9, 3, generator=gen)
    y = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2, 2])
    tau = 0.7
    delta = torch.cdist(z.double(), z.double()).pow(2) / 3
    logits = (-delta / tau).fill_diagonal_(-torch.inf)
    q = torch.softmax(logits, dim=1)
    expected = torch.zeros(3, 3, dtype=torch.float64)
    for c in range(3):
        for c2 in range(3):
            expected[c, c2] = q[y == c][:, y == c2].sum(1).mean()
    assert torch.allclose(class_likelihood(z, y, tau), expected, atol=1e-12)
    monkeypatch.setattr(measures, "_CHUNK_ELEMENTS", 18)  # two anchors per chunk
    assert torch.allclose(class_likelihood(z, y, tau), expected, atol=1e-12)


def test_class_likelihood_of_clustered_embeddings_is_diagonal():
    gen = torch.Generator().manual_seed(7)
    y = torch.arange(60) % 3
    centres = 5.0 * torch.eye(3, 4)
    z = centres[y] + 0.05 * torch.randn(60, 4, generator=gen)
    matrix = class_likelihood(z, y, tau=1.0)
    assert matrix.diagonal().min() > 0.99
    shuffled = class_likelihood(z[torch.randperm(60, generator=gen)], y, tau=1.0)
    assert shuffled.diagonal().max() < 0.7


def test_class_likelihood_bad_input():
    z = torch.randn(10, 3)
    with pytest.raises(GraphensError, match="tau"):
        class_likelihood(z, torch.zeros(10, dtype=torch.long), tau=0.0)
    with pytest.raises(GraphensError, match=r"shape \[10\]"):
        class_likelihood(z, torch.zeros(9, dtype=torch.long), tau=1.0)


# --------------------------------------------------------------------------------------------
# A trained run and the CLI
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    # A ring of 4: nodes 0-2 and 1-3 are unconnected, so non-edges exist for every measure.
    config = graphens.RunConfig(nodes=4, hidden=(16,), dim=8, epochs=1, topology="ring")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch: agreement may sit at chance
        results = graphens.run(config, out, progress=False)
    return out, results


def test_measure_run_writes_the_measures_and_heatmaps(digits_run):
    out, results = digits_run
    measured = measure_run(out)
    written = json.loads((out / "measures.json").read_text())
    assert written == measured
    for key in ("cka", "alignment", "agreement"):
        assert torch.tensor(written[key]).shape == (4, 4)
    likelihood = torch.tensor(written["class_likelihood"], dtype=torch.float64)
    assert likelihood.shape == (10, 10)
    assert torch.allclose(likelihood.sum(1), torch.ones(10, dtype=torch.float64))
    assert torch.tensor(written["class_likelihood_per_node"]).shape == (4, 10, 10)
    assert written["edges"] == results["edges"]
    for name in ("cka.png", "alignment.png", "agreement.png", "class_likelihood.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert name in written["files"]
    # The whole test split (360 < 2000) in order: the edge values are the run's.
    agree = torch.tensor(written["agreement"])
    edges = torch.tensor(results["edges"]).T
    assert agree[edges[1], edges[0]].tolist() == pytest.approx(
        results["agreement"]["per_edge"], abs=1e-12)
    summary = written["summary"]
    assert summary["agreement"]["edges"] == pytest.approx(results["agreement"]["mean"])
    assert all(summary[key]["non_edges"] is not None for key in ("cka", "alignment", "agreement"))
    align = torch.tensor(written["alignment"], dtype=torch.float64)
    assert align[edges[1], edges[0]].tolist() == pytest.approx(
        results["alignment"]["per_edge"], abs=1e-12)
    assert written["tau"] == results["config"]["tau"]


def test_measure_run_subset_is_seeded(digits_run):
    out, _ = digits_run
    first = measure_run(out, max_samples=50, seed=1)
    again = measure_run(out, max_samples=50, seed=1)
    other = measure_run(out, max_samples=50, seed=2)
    assert first["samples"] == 50
    assert first["cka"] == again["cka"]
    assert first["cka"] != other["cka"]


def test_measure_run_without_an_ensemble_is_one_line(tmp_path):
    with pytest.raises(GraphensError, match="holds no ensemble.pt") as err:
        measure_run(tmp_path)
    assert "\n" not in str(err.value)


def test_the_cli_measures_and_prints(digits_run, capsys):
    out, _ = digits_run
    assert main(["measure", str(out), "--max-samples", "100", "--tau", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "CKA" in printed and "non-edges" in printed and "measures.json" in printed
    assert json.loads((out / "measures.json").read_text())["tau"] == 0.5


def test_the_cli_on_a_missing_run_exits_2_with_one_line(tmp_path, capsys):
    assert main(["measure", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphens: error: ") and err.count("\n") == 1
