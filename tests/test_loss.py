"""closer_loss against a direct transcription of the formula in method.md §2."""

import pytest
import torch
from torch_geometric.utils import scatter

from graphens import GraphensError
from graphens.loss import CLoSeRLoss, closer_loss
from graphens.topology import make_topology


def dense_reference(z, weights, tau=10.0, distance="mean"):
    """L = sum_ij g_ij L_ij with every delta_ij(b, c) written out as in the spec.

    weights[i, j] = g_ij: i (student) learns from j (teacher).
    """
    n, batch, dim = z.shape
    total = torch.zeros((), dtype=z.dtype)
    for i in range(n):
        for j in range(n):
            if weights[i, j] == 0:
                continue
            # delta[b, c] = (1/D) sum_k (z_i(b)_k - z_j(c)_k)^2
            delta = ((z[i][:, None, :] - z[j][None, :, :]) ** 2).sum(-1)
            if distance == "mean":
                delta = delta / dim
            loss_ij = 0.0
            for c in range(batch):
                numerator = torch.exp(-delta[c, c] / tau)
                denominator = torch.exp(-delta[:, c] / tau).sum()
                loss_ij = loss_ij - torch.log(numerator / denominator)
            total = total + weights[i, j] * loss_ij / batch
    return total


def dense_weights(graph):
    weights = torch.zeros(graph.num_nodes, graph.num_nodes, dtype=torch.float64)
    teacher, student = graph.edge_index
    weights[student, teacher] = graph.edge_weight.double()
    return weights


@pytest.mark.parametrize("family,params", [
    ("all-to-all", {}), ("gnk", {"k": 7}), ("directed-ring", {"laterals": 2}),
    ("ring", {}), ("star", {})])
@pytest.mark.parametrize("distance,tau", [("mean", 10.0), ("sum", 0.7)])
@pytest.mark.parametrize("gram", [None, True, False])
def test_matches_dense_formula(family, params, distance, tau, gram):
    torch.manual_seed(3)
    graph = make_topology(family, 5, seed=1, **params)
    z = torch.randn(5, 6, 4, dtype=torch.float64) * 3
    expected = dense_reference(z, dense_weights(graph), tau, distance)
    got = closer_loss(z, graph.edge_index, graph.edge_weight.double(), tau=tau,
                      distance=distance, gram=gram)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("family,params", [("all-to-all", {}), ("gnk", {"k": 30})])
@pytest.mark.parametrize("stop_gradient", [None, "teacher", "student"])
def test_gram_and_edge_paths_agree_with_gradients(family, params, stop_gradient):
    torch.manual_seed(4)
    graph = make_topology(family, 7, seed=2, **params)
    weight = torch.rand(graph.edge_index.shape[1], dtype=torch.float64)
    results = []
    for gram in (True, False):
        z = (torch.randn(7, 9, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
             .requires_grad_())
        loss = CLoSeRLoss(stop_gradient=stop_gradient, gram=gram)
        loss(z, graph.edge_index, weight).backward()
        per_edge = loss(z, graph.edge_index, weight, reduction="none")
        results.append((per_edge.detach(), z.grad))
    (edge_a, grad_a), (edge_b, grad_b) = results
    torch.testing.assert_close(edge_a, edge_b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_a, grad_b, rtol=1e-12, atol=1e-12)
    assert grad_a.abs().sum() > 0


def test_dense_graphs_take_the_gram_path(monkeypatch):
    import graphens.loss as loss_module

    calls = []
    original = loss_module.gram_edge_losses
    monkeypatch.setattr(loss_module, "gram_edge_losses",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    z = torch.randn(6, 4, 3)
    closer_loss(z, make_topology("all-to-all", 6).edge_index)  # 30 of 36 pairs
    assert calls == [1]
    closer_loss(z, make_topology("ring", 6).edge_index)  # 12 of 36: per-edge products
    assert calls == [1]


@pytest.mark.parametrize("gram", [True, False])
def test_per_edge_terms_are_unweighted_and_in_edge_order(gram):
    torch.manual_seed(0)
    graph = make_topology("gnk", 6, k=9, seed=2)
    weight = torch.rand(9, dtype=torch.float64)
    z = torch.randn(6, 8, 3, dtype=torch.float64)
    per_edge = closer_loss(z, graph.edge_index, weight, reduction="none", gram=gram)
    assert per_edge.shape == (9,)
    for e, (j, i) in enumerate(graph.edge_index.t().tolist()):
        single = torch.zeros(6, 6, dtype=torch.float64)
        single[i, j] = 1.0
        torch.testing.assert_close(per_edge[e], dense_reference(z, single))
    total = closer_loss(z, graph.edge_index, weight, gram=gram)
    torch.testing.assert_close(total, (per_edge * weight).sum())
    # Each student's share, by scatter, is the dense loss of its incoming edges alone.
    per_node = scatter(per_edge * weight, graph.edge_index[1], dim_size=6, reduce="sum")
    dense = dense_weights(graph)
    dense[graph.edge_index[1], graph.edge_index[0]] = weight
    for i in range(6):
        rows = torch.zeros_like(dense)
        rows[i] = dense[i]
        torch.testing.assert_close(per_node[i], dense_reference(z, rows))


def test_module_holds_options_and_matches_the_functional():
    torch.manual_seed(2)
    z = torch.randn(4, 6, 3, dtype=torch.float64)
    graph = make_topology("directed-ring", 4)
    weight = graph.edge_weight.double()
    loss = CLoSeRLoss(tau=0.5, distance="sum", stop_gradient="none", gram=False)
    assert (loss.tau, loss.distance, loss.stop_gradient, loss.gram) == (0.5, "sum", None, False)
    assert list(loss.parameters()) == [] and "tau=0.5" in repr(loss)
    torch.testing.assert_close(loss(z, graph.edge_index, weight),
                               closer_loss(z, graph.edge_index, weight, tau=0.5,
                                           distance="sum"))
    torch.testing.assert_close(loss(z, graph.edge_index, reduction="none"),
                               closer_loss(z, graph.edge_index, tau=0.5, distance="sum",
                                           reduction="none"))
    with pytest.raises(GraphensError, match="gram"):
        CLoSeRLoss(gram="yes")
    with pytest.raises(GraphensError, match="reduction='mean'"):
        loss(z, graph.edge_index, reduction="mean")


def test_no_edges_give_zero_loss_and_empty_terms():
    z = torch.randn(3, 4, 2, requires_grad=True)
    empty = torch.empty(2, 0, dtype=torch.long)
    assert closer_loss(z, empty).item() == 0.0
    assert closer_loss(z, empty, reduction="none").shape == (0,)


def test_default_weight_is_one():
    z = torch.randn(3, 5, 2)
    edge_index = torch.tensor([[0, 1], [1, 2]])
    torch.testing.assert_close(closer_loss(z, edge_index),
                               closer_loss(z, edge_index, torch.ones(2)))


def test_summed_distance_equals_tau_times_dim():
    z = torch.randn(3, 5, 4, dtype=torch.float64)
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])
    torch.testing.assert_close(closer_loss(z, edge_index, distance="sum", tau=40.0),
                               closer_loss(z, edge_index, distance="mean", tau=10.0))


def test_identical_embeddings_beat_random_ones():
    torch.manual_seed(1)
    shared = torch.randn(1, 32, 8).repeat(4, 1, 1) * 10
    noise = torch.randn(4, 32, 8) * 10
    edge_index = make_topology("all-to-all", 4).edge_index
    assert closer_loss(shared, edge_index) < closer_loss(noise, edge_index)


@pytest.mark.parametrize("side", ["teacher", "student"])
def test_stop_gradient_blocks_one_side(side):
    z = torch.randn(2, 6, 3, requires_grad=True)
    edge_index = torch.tensor([[0], [1]])  # node 1 learns from node 0
    closer_loss(z, edge_index, stop_gradient=side).backward()
    blocked, trained = (0, 1) if side == "teacher" else (1, 0)
    assert torch.all(z.grad[blocked] == 0)
    assert z.grad[trained].abs().sum() > 0


def test_no_stop_gradient_trains_both_ends():
    z = torch.randn(2, 6, 3, requires_grad=True)
    closer_loss(z, torch.tensor([[0], [1]])).backward()
    assert z.grad[0].abs().sum() > 0 and z.grad[1].abs().sum() > 0


def test_memory_scales_with_edges_not_nodes_squared():
    # A 64-node ring must not build anything of N^2 B^2 size: 128 edges of B x B is fine.
    z = torch.randn(64, 32, 16)
    ring = make_topology("ring", 64)
    loss = closer_loss(z, ring.edge_index, ring.edge_weight)
    assert torch.isfinite(loss)


@pytest.mark.parametrize("kwargs,match", [
    ({"tau": 0.0}, "tau"), ({"tau": -1.0}, "tau"), ({"distance": "l1"}, "distance"),
    ({"stop_gradient": "both"}, "stop_gradient"), ({"gram": "yes"}, "gram")])
def test_bad_options(kwargs, match):
    with pytest.raises(GraphensError, match=match):
        closer_loss(torch.randn(2, 4, 3), torch.tensor([[0], [1]]), **kwargs)


def test_bad_shapes():
    with pytest.raises(GraphensError, match=r"\[N, B, D\]"):
        closer_loss(torch.randn(4, 3), torch.tensor([[0], [1]]))
    with pytest.raises(GraphensError, match="node ids must lie in"):
        closer_loss(torch.randn(2, 4, 3), torch.tensor([[0], [2]]))
    with pytest.raises(GraphensError, match="one weight per edge"):
        closer_loss(torch.randn(2, 4, 3), torch.tensor([[0], [1]]), torch.ones(2))
    with pytest.raises(GraphensError, match="B >= 2"):
        closer_loss(torch.randn(2, 1, 3), torch.tensor([[0], [1]]))
    with pytest.raises(GraphensError, match=r"edge_weight\[0\] = -1\.0 on edge 0 -> 1"):
        closer_loss(torch.randn(2, 4, 3), torch.tensor([[0], [1]]), torch.tensor([-1.0]))
    with pytest.raises(GraphensError, match="integer tensor"):
        closer_loss(torch.randn(2, 4, 3), torch.tensor([[0.0], [1.0]]))


@pytest.mark.parametrize("gram", [False, True])
def test_gradients_are_bit_identical_from_call_to_call(gram):
    # z[index] would backpropagate through index_put(accumulate=True), whose CPU sums run in a
    # varying order; the loss gathers with index_select, whose backward is deterministic.
    generator = torch.Generator().manual_seed(0)
    z0 = torch.randn(20, 64, 32, generator=generator)
    edge_index = torch.randint(0, 20, (2, 400), generator=generator)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    grads = []
    for _ in range(4):
        z = z0.clone().requires_grad_()
        closer_loss(z, edge_index, tau=0.05, gram=gram).backward()
        grads.append(z.grad)
    assert all(torch.equal(grads[0], g) for g in grads[1:])


def _autograd_edge_loss(z, edge_index, edge_weight, tau):
    """The sparse path as autograd alone would run it: index_select gathers and the
    logsumexp / diagonal / mean chain."""
    teacher, student = edge_index
    # In closer_loss's order, so autograd sums z's three gradients in the same order.
    sq = z.pow(2).sum(-1).index_select(0, student)
    s, t = z.index_select(0, student), z.index_select(0, teacher)
    logits = torch.baddbmm(sq.unsqueeze(2), s, t.transpose(1, 2), beta=-0.5)
    logits = logits.mul(2.0 / (z.shape[-1] * tau))
    log_p = logits.diagonal(dim1=1, dim2=2) - torch.logsumexp(logits, dim=1)
    return (-log_p.mean(dim=1) * edge_weight).sum()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hand_written_backwards_equal_autograd_bit_for_bit(dtype):
    # The per-edge path's two autograd Functions (the cross-entropy's one-buffer backward and
    # the gather's CSR sum per node) compute autograd's operations in autograd's order.
    generator = torch.Generator().manual_seed(3)
    z0 = torch.randn(12, 16, 8, generator=generator, dtype=dtype)
    edge_index = torch.randint(0, 12, (2, 60), generator=generator)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    edge_index[1, :5] = 0  # one node with several incoming edges
    weight = torch.rand(edge_index.shape[1], generator=generator, dtype=dtype)
    z, reference = z0.clone().requires_grad_(), z0.clone().requires_grad_()
    loss = closer_loss(z, edge_index, weight, tau=0.5, gram=False)
    expected = _autograd_edge_loss(reference, edge_index, weight, tau=0.5)
    loss.backward()
    expected.backward()
    assert torch.equal(loss, expected)
    assert torch.equal(z.grad, reference.grad)


def test_per_edge_path_backpropagates_without_edges():
    z = torch.randn(4, 8, 3, requires_grad=True)
    closer_loss(z, torch.empty(2, 0, dtype=torch.long), gram=False).backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_loss_module_checks_each_edge_tensor_once_and_again_after_an_edit():
    # CLoSeRLoss reads edge values (a host synchronisation on a GPU) once per tensor, but an
    # in-place edit or a new tensor is checked again.
    loss = CLoSeRLoss(tau=1.0)
    z = torch.randn(3, 4, 2)
    edges = torch.tensor([[0, 1], [1, 2]])
    weights = torch.tensor([1.0, 2.0])
    first = loss(z, edges, weights)
    torch.testing.assert_close(loss(z, edges, weights), first)
    torch.testing.assert_close(first, closer_loss(z, edges, weights, tau=1.0))
    edges[0, 0] = 5
    with pytest.raises(GraphensError, match="outside"):
        loss(z, edges, weights)
    with pytest.raises(GraphensError, match="outside"):  # a new tensor
        loss(z, torch.tensor([[0, 1], [-1, 2]]), weights)
    good = torch.tensor([[0, 1], [1, 2]])
    loss(z, good, weights)
    weights[1] = -1.0
    with pytest.raises(GraphensError, match=">= 0"):
        loss(z, good, weights)
    with pytest.raises(GraphensError, match="outside"):  # fewer nodes, same edges
        loss(z[:2], torch.tensor([[0, 1], [1, 2]]))
