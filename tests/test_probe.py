"""Tests of graphens.probe: the batched logistic-regression readout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

import graphens.probe as probe_module
from graphens.errors import GraphensError
from graphens.probe import (
    DEFAULT_CS,
    ProbeResult,
    fit_logistic,
    probe_accuracy,
    train_val_split,
    zscore,
)


def blobs(n: int, features: int, classes: int, seed: int, spread: float = 1.5, y=None):
    """Overlapping Gaussian classes (not separable, so every C has a unique minimiser)."""
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, features, generator=gen)
    if y is None:
        y = torch.randint(0, classes, (n,), generator=gen)
    x = means[y] + spread * torch.randn(n, features, generator=gen)
    return x, y


@pytest.fixture(scope="module")
def problem():
    x, y = blobs(900, 12, 4, seed=0)
    return x[:600], y[:600], x[600:], y[600:]


@pytest.mark.parametrize("C", [None, 0.01, 1.0])
def test_fit_logistic_matches_sklearn(problem, C):
    x_tr, y_tr, x_te, y_te = problem
    x_tr, x_te = zscore(x_tr[None], x_te[None])
    n = x_tr.shape[1]
    l2 = torch.tensor([0.0 if C is None else 1.0 / (C * n)])
    w, b = fit_logistic(x_tr.double(), y_tr, 4, l2.double(), tol=1e-6)
    assert w.shape == (1, 12, 4) and b.shape == (1, 4)
    ours = (x_te[0].double() @ w[0] + b[0]).argmax(1).numpy()
    ref = LogisticRegression(C=np.inf if C is None else C, tol=1e-8, max_iter=5000)
    ref.fit(x_tr[0].double().numpy(), y_tr.numpy())
    theirs = ref.predict(x_te[0].double().numpy())
    assert (ours == theirs).mean() >= 0.98
    acc_ours = (ours == y_te.numpy()).mean()
    acc_theirs = (theirs == y_te.numpy()).mean()
    assert abs(acc_ours - acc_theirs) <= 0.01
    # Same objective, strictly convex: the weights agree too (class-centred, as both are
    # invariant to adding a vector to every class when unpenalised).
    w_ours = w[0].numpy() - w[0].numpy().mean(1, keepdims=True)
    w_ref = ref.coef_.T - ref.coef_.T.mean(1, keepdims=True)
    np.testing.assert_allclose(w_ours, w_ref, atol=2e-3 * max(1.0, np.abs(w_ref).max()))


def test_probe_accuracy_matches_sklearn_protocol(problem):
    x_tr, y_tr, x_te, y_te = problem
    cs = (None, 1e-3, 0.1, 10.0)
    res = probe_accuracy(x_tr[None], y_tr, x_te[None], y_te, Cs=cs, seed=3)
    assert isinstance(res, ProbeResult) and res.converged
    fit_idx, val_idx = train_val_split(600, 0.1, 3)
    xf, xv, xt = (
        t[0].double().numpy() for t in zscore(x_tr[fit_idx][None], x_tr[val_idx][None], x_te[None])
    )
    val, test = [], []
    for c in cs:
        m = LogisticRegression(C=np.inf if c is None else c, max_iter=5000).fit(xf, y_tr[fit_idx])
        val.append((m.predict(xv) == y_tr[val_idx].numpy()).mean())
        test.append((m.predict(xt) == y_te.numpy()).mean())
    np.testing.assert_allclose(res.val_accuracy[0].numpy(), val, atol=1 / 60 + 1e-9)
    best = cs.index(res.best_C[0])
    assert abs(float(res.test_accuracy[0]) - test[best]) <= 0.01
    assert res.val_accuracy.shape == (1, 4)


def test_batched_groups_equal_each_group_alone():
    y = torch.arange(400) % 3
    groups = [blobs(400, 10, 3, seed=s, spread=1.0 + 0.5 * s, y=y)[0] for s in range(3)]
    train = torch.stack([x[:300] for x in groups])
    test = torch.stack([x[300:] for x in groups])
    together = probe_accuracy(train, y[:300], test, y[300:])
    for g in range(3):
        alone = probe_accuracy(train[g : g + 1], y[:300], test[g : g + 1], y[300:])
        assert alone.best_C == [together.best_C[g]]
        # Same problems; only the batching of the products differs (rounding): allow one sample.
        torch.testing.assert_close(
            alone.test_accuracy[0], together.test_accuracy[g], atol=1 / 100 + 1e-9, rtol=0
        )
        torch.testing.assert_close(
            alone.val_accuracy[0], together.val_accuracy[g], atol=1 / 30 + 1e-9, rtol=0
        )
    # The weights themselves: P problems solved together equal each solved alone.
    l2 = torch.tensor([1e-3, 1e-2, 0.0])
    w_all, b_all = fit_logistic(train, y[:300], 3, l2, tol=1e-6)
    for g in range(3):
        w_g, b_g = fit_logistic(train[g : g + 1], y[:300], 3, l2[g : g + 1], tol=1e-6)
        torch.testing.assert_close(w_g[0], w_all[g], atol=1e-3, rtol=1e-3)
        torch.testing.assert_close(b_g[0], b_all[g], atol=1e-3, rtol=1e-3)


def test_overfitting_regime_selects_a_penalty():
    # 250 features for 270 fitting rows: at the interpolation threshold the unpenalised fit has
    # a huge variance, so validation picks a penalty. (Checked over seeds 0-5: the unpenalised
    # validation accuracy was 0.23-0.40 below the best every time.)
    gen = torch.Generator().manual_seed(0)
    n, m, f = 300, 500, 250
    y = torch.randint(0, 2, (n + m,), generator=gen)
    direction = torch.randn(f, generator=gen)
    direction /= direction.norm()
    x = 1.5 * (2.0 * y[:, None] - 1.0) * direction + torch.randn(n + m, f, generator=gen)
    res = probe_accuracy(x[None, :n], y[:n], x[None, n:], y[n:])
    assert res.best_C[0] is not None and res.best_C[0] <= 0.1
    val = res.val_accuracy[0]
    assert float(val[DEFAULT_CS.index(None)]) < float(val.max()) - 0.15
    assert float(res.test_accuracy[0]) > 0.8


def test_ties_go_to_the_strongest_regularisation():
    gen = torch.Generator().manual_seed(1)
    y = torch.randint(0, 2, (200,), generator=gen)
    x = torch.randn(200, 3, generator=gen)
    x[:, 0] = 10.0 * (2.0 * y - 1.0) + 0.1 * x[:, 0]  # trivially separable with a wide gap
    res = probe_accuracy(x[None, :150], y[:150], x[None, 150:], y[150:], Cs=(None, 10.0, 1.0))
    assert res.val_accuracy.eq(1.0).all()
    assert res.best_C == [1.0]
    assert float(res.test_accuracy[0]) == 1.0
    none_only = probe_accuracy(x[None, :150], y[:150], x[None, 150:], y[150:], Cs=(None,))
    assert none_only.best_C == [None]


def test_float64_and_iteration_cap(problem):
    x_tr, y_tr, x_te, y_te = problem
    r32 = probe_accuracy(x_tr[None], y_tr, x_te[None], y_te)
    r64 = probe_accuracy(x_tr[None], y_tr, x_te[None], y_te, dtype=torch.float64)
    assert abs(float(r32.test_accuracy[0]) - float(r64.test_accuracy[0])) <= 0.01
    capped = probe_accuracy(x_tr[None], y_tr, x_te[None], y_te, max_iter=2)
    assert capped.iterations == 2 and not capped.converged
    # The problems still running at the cap ran max_iter iterations and are reported as not
    # converged (not stalled); strong penalties (C = 1e-5, 1e-4) converge at once.
    running = ~capped.problem_converged
    assert running[0, DEFAULT_CS.index(None)] and not capped.problem_stalled.any()
    assert (capped.problem_iterations[running] == 2).all()
    assert (capped.problem_iterations[~running] <= 2).all()


def test_per_problem_iterations_and_the_iteration_callback(problem):
    x_tr, y_tr, x_te, y_te = problem
    train = torch.stack([x_tr, x_tr[:, torch.randperm(12, generator=torch.Generator())]])
    test = torch.stack([x_te, x_te])
    seen = []
    res = probe_accuracy(train, y_tr, test, y_te, Cs=(None, 1e-3, 1.0), on_iteration=seen.append)
    assert seen == list(range(1, res.iterations + 1))
    assert res.problem_iterations.shape == (2, 3) and res.problem_converged.all()
    assert int(res.problem_iterations.max()) == res.iterations
    assert not res.problem_stalled.any()
    # A strong penalty makes an easier problem than none: it stops sooner.
    assert (res.problem_iterations[:, 1] < res.problem_iterations[:, 0]).all()


def test_a_failed_line_search_is_reported_as_a_stall(problem, monkeypatch):
    monkeypatch.setattr(probe_module, "_MAX_LINE_SEARCH", 0)  # no trial step: every search fails
    x_tr, y_tr, x_te, y_te = problem
    res = probe_accuracy(x_tr[None], y_tr, x_te[None], y_te, Cs=(None, 1.0))
    assert res.iterations == 1 and not res.converged
    assert res.problem_stalled.all() and not res.problem_converged.any()
    assert torch.equal(res.problem_iterations, torch.ones(1, 2, dtype=torch.long))


def test_every_63_bit_seed_is_accepted(problem):
    x_tr, y_tr, x_te, y_te = problem
    top = probe_accuracy(x_tr[None], y_tr, x_te[None], y_te, Cs=(1.0,), seed=2**63 - 1)
    again = probe_accuracy(x_tr[None], y_tr, x_te[None], y_te, Cs=(1.0,), seed=2**63 - 1)
    assert torch.equal(top.test_accuracy, again.test_accuracy)
    held_out = train_val_split(600, seed=2**63 - 1)[1]
    assert torch.equal(held_out, train_val_split(600, seed=2**63 - 1)[1])
    for seed in (2**63, 2**70, -1, 1.5):
        with pytest.raises(GraphensError, match=rf"seed={seed!r} is not valid"):
            probe_accuracy(x_tr[None], y_tr, x_te[None], y_te, seed=seed)


def test_split_and_zscore():
    fit, val = train_val_split(50, 0.1, seed=7)
    assert len(val) == 5 and len(fit) == 45
    assert sorted(torch.cat([fit, val]).tolist()) == list(range(50))
    assert torch.equal(train_val_split(50, 0.1, seed=7)[1], val)
    assert not torch.equal(train_val_split(50, 0.1, seed=8)[1], val)
    x = torch.randn(2, 40, 3) * 5 + 2
    x[1, :, 2] = 4.0  # constant feature: centred, not divided by 0
    (zx, other) = zscore(x, x + 1)
    torch.testing.assert_close(zx.mean(1), torch.zeros(2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(zx[0].std(0, correction=0), torch.ones(3))
    assert torch.equal(zx[1, :, 2], torch.zeros(40)) and torch.isfinite(other).all()


def test_errors():
    x = torch.randn(2, 30, 4)
    y = torch.arange(30) % 3
    t = torch.randn(2, 10, 4)
    yt = torch.arange(10) % 3
    with pytest.raises(GraphensError, match="2 groups but test has 3"):
        probe_accuracy(x, y, torch.randn(3, 10, 4), yt)
    with pytest.raises(GraphensError, match=r"y_train must have shape \[30\]"):
        probe_accuracy(x, y[:29], t, yt)
    bad = x.clone()
    bad[1, 3, 0] = float("nan")
    with pytest.raises(GraphensError, match=r"group\(s\) \[1\]"):
        probe_accuracy(bad, y, t, yt)
    with pytest.raises(GraphensError, match="integer class labels"):
        probe_accuracy(x, y.float(), t, yt)
    with pytest.raises(GraphensError, match="negative label"):
        probe_accuracy(x, y - 1, t, yt)
    with pytest.raises(GraphensError, match="num_classes=3"):
        probe_accuracy(x, y, t, yt + 1, num_classes=3)
    with pytest.raises(GraphensError, match="single class"):
        probe_accuracy(x, torch.zeros(30, dtype=torch.long), t, yt)
    with pytest.raises(GraphensError, match="Cs contains -1"):
        probe_accuracy(x, y, t, yt, Cs=(1.0, -1))
    with pytest.raises(GraphensError, match="non-empty"):
        probe_accuracy(x, y, t, yt, Cs=())
    with pytest.raises(GraphensError, match="val_fraction"):
        probe_accuracy(x, y, t, yt, val_fraction=1.0)
    with pytest.raises(GraphensError, match="4 features per group but test has 5"):
        probe_accuracy(x, y, torch.randn(2, 10, 5), yt)
    with pytest.raises(GraphensError, match=r"shape \[groups, samples, features\]"):
        probe_accuracy(x[0], y, t, yt)
    with pytest.raises(GraphensError, match=r"l2 must be a tensor of shape \[2\]"):
        fit_logistic(x, y, 3, torch.zeros(3))
    with pytest.raises(GraphensError, match="num_classes must be an integer >= 2"):
        fit_logistic(x, y, 1, torch.zeros(2))
