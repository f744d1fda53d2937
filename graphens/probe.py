"""Batched multinomial logistic-regression probe (the decoding protocol of method.md §6).

The paper's readout, for every group of features (one node, or the concatenation of all nodes):

1. split the training rows once, with a seeded permutation, into a fitting part (90 %) and a
   held-out validation part (10 %);
2. z-score every feature with the mean and standard deviation of the fitting part;
3. fit a multinomial logistic regression for every C of a grid (``None`` = no penalty);
4. keep the C with the best validation accuracy (ties go to the strongest regularisation,
   i.e. the smallest C, ``None`` counting as C = inf) and report that model's test accuracy.

The reference implementation fits one scikit-learn model per (group, C). Here all G groups
and all |C| values are solved at once: problem (g, c) shares the features of group g, so the
logits of every C of a group come out of one matrix product ``x_g @ [W_g1 | ... | W_gC]``,
and the G·|C| problems are minimised together by a batched, preconditioned L-BFGS in which
every problem keeps its own curvature history, step length and stopping test. A problem that
has converged leaves the products. The preconditioner whitens the features (eigenvectors of
their correlation matrix, shifted by the penalty; see :class:`_Preconditioner`): collinear
features, as embeddings and random features are, otherwise slow L-BFGS down by 2-4×.

Objective of problem p (the one scikit-learn's ``LogisticRegression(solver="lbfgs")``
minimises, scaled by 1/n, which leaves the minimiser unchanged)::

    f_p(W, b) = (1/n) Σ_i [ logsumexp_k(x_i W_k + b_k) − (x_i W_{y_i} + b_{y_i}) ]
                + (λ_p / 2) ‖W‖²_F,          λ_p = 1 / (C_p · n),  λ_p = 0 when C_p is None.

The intercept b is not penalised. A problem stops when ``max |∇f_p| <= tol``, the
projected-gradient test scikit-learn's lbfgs uses with the same scaling, so ``tol=1e-4``
matches scikit-learn's default.

Precision: computations run in float32 by default. With z-scored features the objective is
well scaled, float32 reaches the ``1e-4`` gradient tolerance, and the matrix products are
twice as fast as in float64; pass ``dtype=torch.float64`` to solve in double precision.

Divergence: without a penalty, linearly separable data have no minimiser (‖W‖ grows without
bound while the loss tends to 0). The gradient still falls below ``tol`` eventually, as in
scikit-learn, but it can take many iterations; ``max_iter`` caps them and the problem is then
reported as not converged (``ProbeResult.converged`` is False) while its current weights are
used as they are. A problem can also stall: its line search finds no decrease while the gradient
is still above ``tol`` (float32 rounding near the optimum, badly scaled features); it stops
there, unconverged. ``ProbeResult.problem_iterations``, ``problem_converged`` and
``problem_stalled`` say which (group, C) problems stopped how, and after how many iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from graphens.errors import GraphensError
from graphens.validation import SEED_RANGE, check_value

__all__ = [
    "DEFAULT_CS",
    "ProbeResult",
    "fit_logistic",
    "probe_accuracy",
    "train_val_split",
    "zscore",
]

DEFAULT_CS: tuple[float | None, ...] = (None, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
"""The paper's grid of inverse regularisation strengths; ``None`` means no penalty."""

_HISTORY = 10  # L-BFGS curvature pairs kept per problem
_MAX_LINE_SEARCH = 30  # trial steps per iteration before a problem is declared stalled
_ARMIJO = 1e-4  # sufficient-decrease constant c1
_FULL_SPECTRUM_MAX = 512  # preconditioner: full eigen-decomposition of Σ up to this many features
_TOP_RANK = 256  # above it, the top directions of Σ only (seeded randomised range finder)


@dataclass
class ProbeResult:
    """What :func:`probe_accuracy` returns.

    Attributes
    ----------
    test_accuracy : Tensor
        ``[G]`` test accuracy of each group's selected model.
    val_accuracy : Tensor
        ``[G, len(Cs)]`` validation accuracy of every (group, C) model.
    best_C : list of float or None
        The selected C of each group (``None`` = no penalty).
    iterations : int
        L-BFGS iterations run (the largest over all problems).
    converged : bool
        True when every (group, C) problem met the gradient tolerance within ``max_iter``.
    problem_iterations : Tensor
        ``[G, len(Cs)]`` int64 L-BFGS iterations of every (group, C) problem.
    problem_converged : Tensor
        ``[G, len(Cs)]`` bool, True where the problem met the gradient tolerance.
    problem_stalled : Tensor
        ``[G, len(Cs)]`` bool, True where the problem stopped unconverged because its line
        search found no decrease (the others that did not converge hit ``max_iter``).
    """

    test_accuracy: Tensor
    val_accuracy: Tensor
    best_C: list[float | None]
    iterations: int
    converged: bool
    problem_iterations: Tensor
    problem_converged: Tensor
    problem_stalled: Tensor


# --------------------------------------------------------------------------------------------
# Objective
# --------------------------------------------------------------------------------------------


def _loss_grad(
    x: Tensor, y: Tensor, onehot: Tensor, theta: Tensor, l2: Tensor
) -> tuple[Tensor, Tensor]:
    """Objective and gradient of ``a`` problems per group that share the features of the group.

    Parameters
    ----------
    x : Tensor
        ``[G, n, F]`` features.
    y : Tensor
        ``[n]`` int64 labels.
    onehot : Tensor
        ``[n, K]`` one-hot labels in the dtype of ``x``.
    theta : Tensor
        ``[G, a, F*K + K]`` parameters, ``W`` (row-major ``[F, K]``) then ``b``.
    l2 : Tensor
        ``[G, a]`` penalty strengths λ.

    Returns
    -------
    (Tensor, Tensor)
        ``f [G, a]`` and ``∇f [G, a, F*K + K]``.

    Notes
    -----
    With logits ``Z = x W + b`` and ``P = softmax(Z)``, ``∇_W f = xᵀ (P − Y) / n + λ W`` and
    ``∇_b f = Σ_i (P − Y)_i / n``. The ``a`` weight matrices of a group are laid side by side,
    ``[F, a·K]``, so each group costs two matrix products whatever ``a`` is.
    """
    g, n, f = x.shape
    a = theta.shape[1]
    k = onehot.shape[1]
    fk = f * k
    w = theta[..., :fk].reshape(g, a, f, k)
    b = theta[..., fk:]
    w_side = w.permute(0, 2, 1, 3).reshape(g, f, a * k)
    logits = torch.bmm(x, w_side).view(g, n, a, k)
    logits += b.unsqueeze(1)
    lse = torch.logsumexp(logits, dim=-1)  # [G, n, a]
    picked = logits.gather(-1, y.view(1, n, 1, 1).expand(g, n, a, 1)).squeeze(-1)
    loss = (lse - picked).mean(dim=1) + 0.5 * l2 * w.pow(2).sum(dim=(2, 3))
    prob = logits.sub_(lse.unsqueeze(-1)).exp_()
    prob -= onehot.view(1, n, 1, k)
    prob *= 1.0 / n
    grad_w = torch.bmm(x.transpose(1, 2), prob.view(g, n, a * k)).view(g, f, a, k)
    grad_w = grad_w.permute(0, 2, 1, 3) + l2[..., None, None] * w
    grad_b = prob.sum(dim=1)
    return loss, torch.cat([grad_w.reshape(g, a, fk), grad_b], dim=-1)


# --------------------------------------------------------------------------------------------
# Batched L-BFGS
# --------------------------------------------------------------------------------------------


def _evaluate(
    x: Tensor, y: Tensor, onehot: Tensor, theta: Tensor, l2: Tensor, gid: Tensor
) -> tuple[Tensor, Tensor]:
    """Objective and gradient of Q problems given as a flat list sorted by group.

    Parameters
    ----------
    x, y, onehot : Tensor
        As in :func:`_loss_grad`, ``x`` holding all G groups.
    theta : Tensor
        ``[Q, d]`` parameters.
    l2 : Tensor
        ``[Q]`` penalty strengths.
    gid : Tensor
        ``[Q]`` non-decreasing group index of every problem.

    Returns
    -------
    (Tensor, Tensor)
        ``f [Q]`` and ``∇f [Q, d]``.

    Notes
    -----
    When the problems are spread evenly over all groups they are padded to ``[G, a_max]`` and
    evaluated by one batched product (padding costs at most 25 % extra); otherwise each group
    that has problems is evaluated on its own, so finished problems cost nothing.
    """
    g = x.shape[0]
    q, dim = theta.shape
    counts = torch.bincount(gid, minlength=g)
    a_max = int(counts.max())
    if g * a_max <= 1.25 * q:
        offsets = torch.cumsum(counts, 0) - counts
        slot = torch.arange(q) - offsets[gid]
        theta_pad = theta.new_zeros(g, a_max, dim)
        theta_pad[gid, slot] = theta
        l2_pad = l2.new_zeros(g, a_max)
        l2_pad[gid, slot] = l2
        loss, grad = _loss_grad(x, y, onehot, theta_pad, l2_pad)
        return loss[gid, slot], grad[gid, slot]
    losses, grads = [], []
    start = 0
    for group, count in enumerate(counts.tolist()):
        if count == 0:
            continue
        part = slice(start, start + count)
        loss, grad = _loss_grad(x[group : group + 1], y, onehot, theta[None, part], l2[None, part])
        losses.append(loss[0])
        grads.append(grad[0])
        start += count
    return torch.cat(losses), torch.cat(grads)


def _top_directions(x: Tensor, rank: int) -> tuple[Tensor, Tensor]:
    """Top ``rank`` eigenpairs of ``Σ = xᵀx / n`` by a seeded randomised range finder.

    Halko, Martinsson & Tropp (2011): ``Q = orth(x Ω)`` for a Gaussian ``Ω [F, rank + 16]``,
    one power iteration ``Q = orth(x orth(xᵀ Q))``, then the SVD of the small ``Qᵀ x``. The
    generator is seeded so the result, and hence the solver's path, is reproducible.

    Returns
    -------
    (Tensor, Tensor)
        Eigenvalues ``[rank]`` (descending) and eigenvectors ``[F, rank]``.
    """
    n, f = x.shape
    gen = torch.Generator().manual_seed(0)
    omega = torch.randn(f, rank + 16, generator=gen).to(x.dtype)
    q, _ = torch.linalg.qr(x @ omega)
    q, _ = torch.linalg.qr(x.T @ q)
    q, _ = torch.linalg.qr(x @ q)
    _, sv, vh = torch.linalg.svd(q.T @ x, full_matrices=False)
    return sv[:rank].pow(2) / n, vh[:rank].T


class _Preconditioner:
    """Kronecker-factored approximation of the inverse Hessian, ``M ≈ (Σ + μ I)⁻¹ ⊗ I_K``.

    Near ``W = 0`` the Hessian of the mean cross-entropy is ``Σ ⊗ (diag p − p pᵀ) ≈ s Σ ⊗ I``
    with ``Σ = xᵀx / n`` (the feature correlation matrix once z-scored) and ``s ≈ 1/K``; the
    penalty adds ``λ I``. So ``H⁻¹ ≈ (1/s) (Σ + (λ/s) I)⁻¹ ⊗ I``: :func:`_solve` uses
    ``γ M`` as the initial inverse Hessian of L-BFGS, with ``μ = max(λ K, μ_min)`` and γ
    (= K until the first curvature pair) rescaled by every pair. Collinear features, which make
    Σ ill-conditioned and plain L-BFGS slow, are thereby whitened; the minimiser is unchanged.

    With the eigen-decomposition ``Σ = U diag(e) Uᵀ`` restricted to its top r directions,
    ``M q = U diag(1/(e + μ)) Uᵀ q + (q − U Uᵀ q) / (e_r + μ)`` (the second term only when
    r < F). The intercept is not preconditioned.
    """

    def __init__(self, x: Tensor) -> None:
        g, n, f = x.shape
        self.full = f <= _FULL_SPECTRUM_MAX
        if self.full:
            e, u = torch.linalg.eigh(torch.bmm(x.transpose(1, 2), x) / n)  # ascending
            self.e, self.u = e.flip(-1), u.flip(-1)
        else:
            tops = [_top_directions(x[group], _TOP_RANK) for group in range(g)]
            self.e = torch.stack([e for e, _ in tops])
            self.u = torch.stack([u for _, u in tops])
        self.e = self.e.clamp(min=0.0)
        self.floor = (1e-6 * self.e[:, 0]).clamp(min=1e-8)  # [G]

    def mu(self, lam: Tensor, gid: Tensor, num_classes: int) -> Tensor:
        """``μ`` of every problem: ``max(λ K, μ_min)``."""
        return torch.maximum(lam * num_classes, self.floor[gid])

    def apply(self, q: Tensor, gid: Tensor, mu: Tensor, num_classes: int) -> Tensor:
        """``M q`` for a flat list of problems sorted by group (``q [P, F*K + K]``)."""
        f = self.u.shape[1]
        fk = f * num_classes
        out = q.clone()
        counts = torch.bincount(gid, minlength=self.u.shape[0]).tolist()
        start = 0
        for group, count in enumerate(counts):
            if count == 0:
                continue
            rows = slice(start, start + count)
            start += count
            qw = q[rows, :fk].reshape(count, f, num_classes).permute(1, 0, 2)
            qw = qw.reshape(f, count * num_classes)
            u, e = self.u[group], self.e[group]
            coef = (u.T @ qw).view(-1, count, num_classes)  # [r, a, K]
            m = mu[rows].view(1, count, 1)
            scaled = coef / (e.view(-1, 1, 1) + m)
            res = u @ scaled.view(-1, count * num_classes)
            if not self.full:
                rest = qw - u @ coef.view(-1, count * num_classes)
                res += rest.view(f, count, num_classes).div_(e[-1] + m).view(f, -1)
            out[rows, :fk] = res.view(f, count, num_classes).permute(1, 0, 2).reshape(count, fk)
        return out


class _Solution(NamedTuple):
    """What :func:`_solve` returns (shapes for G groups of ``a`` problems)."""

    theta: Tensor  # [G, a, F*K + K]
    iterations: int  # iterations run, the largest over all problems
    converged: Tensor  # [G, a] bool: met the tolerance
    steps: Tensor  # [G, a] int64: iterations of each problem
    stalled: Tensor  # [G, a] bool: stopped by a failed line search, unconverged


def _solve(
    x: Tensor,
    y: Tensor,
    num_classes: int,
    l2: Tensor,
    max_iter: int,
    tol: float,
    on_iteration: Callable[[int], None] | None = None,
) -> _Solution:
    """Minimise the G·a independent objectives of :func:`_loss_grad` with a batched L-BFGS.

    Parameters
    ----------
    x : Tensor
        ``[G, n, F]`` features (float32 or float64).
    y : Tensor
        ``[n]`` int64 labels in ``[0, num_classes)``.
    num_classes : int
        K.
    l2 : Tensor
        ``[G, a]`` penalty strengths λ ≥ 0, one problem per entry.
    max_iter, tol : int, float
        Iteration cap and gradient tolerance (``max |∇f| <= tol``).
    on_iteration : callable, optional
        Called with the iteration number after every iteration (e.g. to move a progress bar).

    Returns
    -------
    _Solution
        ``theta [G, a, F*K + K]``, the number of iterations run, and per problem ``[G, a]``:
        ``converged``, ``steps`` (its iterations) and ``stalled``.

    Notes
    -----
    The state of the problems still running is kept as a flat list (finished problems are
    written out and dropped). Every problem has its own history ``(s, y)``, its own
    ``ρ = 1/(sᵀy)`` (0 when the curvature pair is unusable, which turns the pair into a no-op
    of the two-loop recursion) and its own initial inverse Hessian ``γ M``, with ``M`` the
    :class:`_Preconditioner` and ``γ = sᵀy / yᵀMy`` from the newest usable pair (K before the
    first, which makes the first step a Newton step of the model at W = 0). The line search
    starts at step 1 and accepts a step when either the Armijo test
    ``f(θ + αd) <= f(θ) + c₁ α ∇fᵀd`` or its derivative form ``∇f(θ + αd)ᵀd <= c₁ ∇f(θ)ᵀd``
    holds; for a convex objective the second implies the first
    and stays exact in float32 near the optimum, where differences of f are below rounding.
    A rejected step shrinks to the secant zero of the directional derivative, clamped to
    ``[0.1, 0.5]`` of the step. A problem whose line search fails ``_MAX_LINE_SEARCH`` times
    stops, unconverged.
    """
    g, _, f = x.shape
    a = l2.shape[1]
    dim = f * num_classes + num_classes
    dtype = x.dtype
    onehot = torch.nn.functional.one_hot(y, num_classes).to(dtype)

    out = torch.zeros(g * a, dim, dtype=dtype)
    converged = torch.zeros(g * a, dtype=torch.bool)
    stalled = torch.zeros(g * a, dtype=torch.bool)
    steps = torch.zeros(g * a, dtype=torch.long)
    pid = torch.arange(g * a)  # original index (group-major) of every running problem
    gid = pid // a
    lam = l2.reshape(-1).to(dtype)
    theta = torch.zeros(g * a, dim, dtype=dtype)
    loss, grad = _evaluate(x, y, onehot, theta, lam, gid)
    s_hist = torch.zeros(_HISTORY, g * a, dim, dtype=dtype)
    y_hist = torch.zeros(_HISTORY, g * a, dim, dtype=dtype)
    rho_hist = torch.zeros(_HISTORY, g * a, dtype=dtype)
    precond = _Preconditioner(x)
    mu = precond.mu(lam, gid, num_classes)
    gamma = torch.full((g * a,), float(num_classes), dtype=dtype)
    stored = 0
    head = 0  # ring-buffer slot the next pair is written to
    iterations = 0
    finished = grad.abs().amax(dim=-1) <= tol
    converged[pid[finished]] = True

    while True:
        if bool(finished.any()):  # write out and drop the problems that are done
            out[pid[finished]] = theta[finished]
            keep = ~finished
            pid, gid, lam, theta, loss, grad = (t[keep] for t in (pid, gid, lam, theta, loss, grad))
            mu = mu[keep]
            s_hist, y_hist, rho_hist = s_hist[:, keep], y_hist[:, keep], rho_hist[:, keep]
            gamma = gamma[keep]
        if pid.numel() == 0 or iterations == max_iter:
            break
        iterations += 1
        p = pid.numel()
        steps[pid] += 1

        # Two-loop recursion: d = −H ∇f for every running problem at once.
        q = grad.clone()
        alphas = []
        slots = [(head - 1 - i) % _HISTORY for i in range(stored)]
        for slot in slots:
            al = rho_hist[slot] * (s_hist[slot] * q).sum(-1)
            q -= al.unsqueeze(-1) * y_hist[slot]
            alphas.append(al)
        q = precond.apply(q, gid, mu, num_classes)
        q *= gamma.unsqueeze(-1)
        for slot, al in zip(reversed(slots), reversed(alphas), strict=True):
            be = rho_hist[slot] * (y_hist[slot] * q).sum(-1)
            q += (al - be).unsqueeze(-1) * s_hist[slot]
        direction = q.neg_()
        slope = (grad * direction).sum(-1)
        bad = (slope >= 0) | ~torch.isfinite(slope)
        if bool(bad.any()):  # not a descent direction: fall back to steepest descent
            direction[bad] = -grad[bad]
            slope = (grad * direction).sum(-1)
        step = torch.ones(p, dtype=dtype)

        new_theta, new_loss, new_grad = theta.clone(), loss.clone(), grad.clone()
        pending = torch.ones(p, dtype=torch.bool)
        for _ in range(_MAX_LINE_SEARCH):
            idx = pending.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            trial = theta[idx] + step[idx, None] * direction[idx]
            t_loss, t_grad = _evaluate(x, y, onehot, trial, lam[idx], gid[idx])
            t_slope = (t_grad * direction[idx]).sum(-1)
            c_slope = slope[idx]
            armijo = t_loss <= loss[idx] + _ARMIJO * step[idx] * c_slope
            curvature = t_slope <= _ARMIJO * c_slope
            ok = (armijo | curvature) & torch.isfinite(t_loss)
            good = idx[ok]
            new_theta[good], new_loss[good], new_grad[good] = trial[ok], t_loss[ok], t_grad[ok]
            pending[good] = False
            # Shrink the rejected steps towards the zero of the directional derivative.
            shrink = torch.where(
                (t_slope > 0) & torch.isfinite(t_slope),
                c_slope / (c_slope - t_slope),
                torch.full_like(t_slope, 0.5),
            ).clamp(0.1, 0.5)
            step[idx[~ok]] *= shrink[~ok]

        accepted = ~pending
        s_new = new_theta - theta
        y_new = new_grad - grad
        sy = (s_new * y_new).sum(-1)
        yy = (y_new * y_new).sum(-1)
        usable = accepted & (sy > 1e-10 * yy.sqrt() * s_new.norm(dim=-1)) & (yy > 0)
        s_hist[head] = s_new
        y_hist[head] = y_new
        rho_hist[head] = torch.where(usable, 1.0 / torch.where(usable, sy, 1.0), 0.0)
        ymy = (y_new * precond.apply(y_new, gid, mu, num_classes)).sum(-1)
        gamma = torch.where(usable, sy / torch.where(usable, ymy, 1.0), gamma)
        head = (head + 1) % _HISTORY
        stored = min(stored + 1, _HISTORY)

        theta, loss, grad = new_theta, new_loss, new_grad
        met = accepted & (grad.abs().amax(dim=-1) <= tol)
        converged[pid[met]] = True
        stalled[pid[~accepted]] = True
        finished = met | ~accepted  # a failed line search cannot make further progress
        if on_iteration is not None:
            on_iteration(iterations)

    if pid.numel():
        out[pid] = theta
    return _Solution(out.view(g, a, dim), iterations, converged.view(g, a), steps.view(g, a),
                     stalled.view(g, a))


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_features(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise GraphensError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise GraphensError(
            f"{name} must have shape [groups, samples, features], got {tuple(x.shape)}; "
            "add a leading group axis with x.unsqueeze(0) for a single group"
        )
    if not x.is_floating_point():
        raise GraphensError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise GraphensError(f"{name} has an empty axis, shape {tuple(x.shape)}")
    finite = torch.isfinite(x).flatten(1).all(dim=1)
    if not bool(finite.all()):
        groups = (~finite).nonzero().flatten().tolist()
        raise GraphensError(
            f"{name} has NaN or infinite features in group(s) {groups}; "
            "fix or drop those embeddings before probing"
        )


def _check_labels(name: str, y: Tensor, n: int, num_classes: int | None) -> Tensor:
    if not isinstance(y, Tensor):
        raise GraphensError(f"{name} must be a torch.Tensor, got {type(y).__name__}")
    if y.dim() != 1 or y.shape[0] != n:
        raise GraphensError(
            f"{name} must have shape [{n}] (one label per sample), got {tuple(y.shape)}"
        )
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise GraphensError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    y = y.long()
    if n and int(y.min()) < 0:
        raise GraphensError(f"{name} has a negative label {int(y.min())}; labels must be >= 0")
    if num_classes is not None and n and int(y.max()) >= num_classes:
        raise GraphensError(
            f"{name} has label {int(y.max())} but num_classes={num_classes}; "
            "pass num_classes greater than the largest label"
        )
    return y


def _check_cs(cs: Sequence[float | None]) -> list[float]:
    """Return the C values as floats, ``inf`` for no penalty."""
    if isinstance(cs, (str, bytes)) or not isinstance(cs, Sequence) or len(cs) == 0:
        raise GraphensError(
            f"Cs must be a non-empty sequence of positive floats or None, got {cs!r}"
        )
    values = []
    for c in cs:
        value = math.inf if c is None else c
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise GraphensError(
                f"Cs contains {c!r}; every C must be a positive number or None (no penalty)"
            )
        values.append(float(value))
    if len(set(values)) != len(values):
        raise GraphensError(f"Cs contains duplicates: {list(cs)!r}; list every C once")
    return values


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def train_val_split(n: int, val_fraction: float = 0.1, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Seeded split of ``n`` training rows into fitting and validation rows.

    Parameters
    ----------
    n : int
        Number of training rows.
    val_fraction : float
        Fraction held out for validation, in (0, 1): ``n_val = round(val_fraction · n)``.
    seed : int
        Seed of the permutation (``torch.randperm`` with a ``torch.Generator``), in
        ``[0, 2**63 - 1]``.

    Returns
    -------
    (Tensor, Tensor)
        int64 indices of the fitting rows and of the validation rows, each in permutation order.
    """
    if not 0.0 < val_fraction < 1.0:
        raise GraphensError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    check_value("seed", seed, [SEED_RANGE], "the seed of the probe's train/validation split")
    n_val = int(round(val_fraction * n))
    if n_val < 1 or n - n_val < 2:
        raise GraphensError(
            f"cannot hold out val_fraction={val_fraction} of {n} training rows "
            f"({n_val} validation rows); use more rows or another val_fraction"
        )
    generator = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=generator)
    return perm[n_val:], perm[:n_val]


def zscore(fit: Tensor, *others: Tensor) -> tuple[Tensor, ...]:
    """Standardise features with the statistics of ``fit``.

    Parameters
    ----------
    fit : Tensor
        ``[G, n, F]`` rows that define the statistics.
    *others : Tensor
        ``[G, m, F]`` tensors transformed with the same statistics.

    Returns
    -------
    tuple of Tensor
        ``(x − μ) / σ`` for ``fit`` and each of ``others``, with ``μ``, ``σ`` the per-feature
        mean and population standard deviation over the rows of ``fit``. A feature with
        ``σ <= 1e-12·max(1, |μ|)`` (constant on ``fit``) is only centred (σ := 1), as
        scikit-learn's ``StandardScaler`` does.
    """
    var, mean = torch.var_mean(fit, dim=1, correction=0, keepdim=True)
    std = var.sqrt()
    std = torch.where(std > 1e-12 * mean.abs().clamp(min=1.0), std, torch.ones_like(std))
    return tuple((t - mean) / std for t in (fit, *others))


def fit_logistic(
    x: Tensor,
    y: Tensor,
    num_classes: int,
    l2: Tensor,
    max_iter: int = 1000,
    tol: float = 1e-4,
) -> tuple[Tensor, Tensor]:
    """Fit P independent multinomial logistic regressions at once.

    Problem p minimises
    ``(1/n) Σ_i CE(softmax(x_pi W_p + b_p), y_i) + (l2_p / 2) ‖W_p‖²``
    (b unpenalised). ``l2_p = 1 / (C · n)`` gives scikit-learn's
    ``LogisticRegression(C=C, solver="lbfgs")``; ``l2_p = 0`` is no penalty.

    Parameters
    ----------
    x : Tensor
        ``[P, n, F]`` floating features (solved in their own dtype; no scaling is applied).
    y : Tensor
        ``[n]`` integer labels in ``[0, num_classes)``, shared by all problems.
    num_classes : int
        Number of classes K ≥ 2.
    l2 : Tensor
        ``[P]`` non-negative penalty strengths.
    max_iter : int
        Iteration cap of the batched L-BFGS.
    tol : float
        Stop a problem when ``max |∇f_p| <= tol``.

    Returns
    -------
    (Tensor, Tensor)
        ``W [P, F, K]`` and ``b [P, K]``.
    """
    _check_features("x", x)
    p, n, f = x.shape
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise GraphensError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    y = _check_labels("y", y, n, num_classes)
    if not isinstance(l2, Tensor) or l2.shape != (p,):
        shape = tuple(l2.shape) if isinstance(l2, Tensor) else type(l2).__name__
        raise GraphensError(f"l2 must be a tensor of shape [{p}] (one per problem), got {shape}")
    if not bool(torch.isfinite(l2).all()) or bool((l2 < 0).any()):
        raise GraphensError(f"l2 must be finite and >= 0, got {l2.tolist()}")
    _check_solver_args(max_iter, tol)
    theta = _solve(x, y, num_classes, l2.to(x.dtype).view(p, 1), max_iter, tol).theta
    fk = f * num_classes
    return theta[:, 0, :fk].reshape(p, f, num_classes), theta[:, 0, fk:]


def _check_solver_args(max_iter: int, tol: float) -> None:
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise GraphensError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise GraphensError(f"tol must be a positive number, got {tol!r}")


def probe_accuracy(
    train: Tensor,
    y_train: Tensor,
    test: Tensor,
    y_test: Tensor,
    *,
    Cs: Sequence[float | None] = DEFAULT_CS,
    val_fraction: float = 0.1,
    seed: int = 0,
    num_classes: int | None = None,
    max_iter: int = 1000,
    tol: float = 1e-4,
    dtype: torch.dtype = torch.float32,
    on_iteration: Callable[[int], None] | None = None,
) -> ProbeResult:
    """Linear-probe test accuracy of G feature groups, C chosen on held-out training rows.

    Parameters
    ----------
    train : Tensor
        ``[G, n, F]`` training features of G groups (e.g. one group per node).
    y_train : Tensor
        ``[n]`` integer labels.
    test : Tensor
        ``[G, m, F]`` test features.
    y_test : Tensor
        ``[m]`` integer labels.
    Cs : sequence of float or None
        Inverse regularisation strengths to choose from; ``None`` is no penalty.
    val_fraction : float
        Fraction of the training rows held out to choose C (see :func:`train_val_split`).
    seed : int
        Seed of the split, in ``[0, 2**63 - 1]``.
    num_classes : int, optional
        Number of classes; default ``max(label) + 1`` over both label sets.
    max_iter, tol : int, float
        L-BFGS iteration cap and gradient tolerance, see :func:`fit_logistic`.
    dtype : torch.dtype
        Precision of the solve, float32 (default) or float64.
    on_iteration : callable, optional
        Called with the iteration number after every L-BFGS iteration (all groups and Cs
        advance together), e.g. to move a progress bar.

    Returns
    -------
    ProbeResult
        Test accuracy per group, validation accuracy per (group, C), selected C per group.

    Notes
    -----
    The models are fitted on the fitting rows only (no refit on all training rows); the
    selected model is ``argmax_C val_accuracy`` with ties broken towards the smallest C.
    """
    _check_features("train", train)
    _check_features("test", test)
    g, n, f = train.shape
    if test.shape[0] != g:
        raise GraphensError(
            f"train has {g} groups but test has {test.shape[0]}; both need the same group axis"
        )
    if test.shape[2] != f:
        raise GraphensError(
            f"train has {f} features per group but test has {test.shape[2]}; "
            "they must come from the same feature map"
        )
    if dtype not in (torch.float32, torch.float64):
        raise GraphensError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    _check_solver_args(max_iter, tol)
    c_values = _check_cs(Cs)
    y_train = _check_labels("y_train", y_train, n, num_classes)
    y_test = _check_labels("y_test", y_test, test.shape[1], num_classes)
    if num_classes is None:
        num_classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise GraphensError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if int(torch.unique(y_train).numel()) < 2:
        raise GraphensError("y_train holds a single class; a classifier needs at least two")
    num_classes = max(num_classes, 2)

    fit_idx, val_idx = train_val_split(n, val_fraction, seed)
    x = train.to(dtype)
    x_fit, x_val, x_test = zscore(x[:, fit_idx], x[:, val_idx], test.to(dtype))
    y_fit, y_val = y_train[fit_idx], y_train[val_idx]
    n_fit = x_fit.shape[1]

    l2_row = torch.tensor([0.0 if math.isinf(c) else 1.0 / (c * n_fit) for c in c_values])
    l2 = l2_row.to(dtype).expand(g, -1).contiguous()
    solution = _solve(x_fit, y_fit, num_classes, l2, max_iter, tol, on_iteration)
    theta = solution.theta

    a = len(c_values)
    fk = f * num_classes
    w = theta[..., :fk].reshape(g, a, f, num_classes)
    b = theta[..., fk:]
    val_logits = torch.bmm(x_val, w.permute(0, 2, 1, 3).reshape(g, f, a * num_classes))
    val_logits = val_logits.view(g, -1, a, num_classes) + b.unsqueeze(1)
    val_correct = (val_logits.argmax(-1) == y_val.view(1, -1, 1)).sum(dim=1)  # [G, a]

    order = sorted(range(a), key=lambda i: c_values[i])  # smallest C (strongest penalty) first
    best = []
    for row in val_correct.tolist():
        top = max(row)
        best.append(next(i for i in order if row[i] == top))
    best_idx = torch.tensor(best)
    groups = torch.arange(g)
    test_logits = torch.bmm(x_test, w[groups, best_idx]) + b[groups, best_idx].unsqueeze(1)
    test_acc = (test_logits.argmax(-1) == y_test.view(1, -1)).double().mean(dim=1)
    return ProbeResult(
        test_accuracy=test_acc,
        val_accuracy=val_correct.double() / x_val.shape[1],
        best_C=[Cs[i] for i in best],
        iterations=solution.iterations,
        converged=bool(solution.converged.all()),
        problem_iterations=solution.steps,
        problem_converged=solution.converged,
        problem_stalled=solution.stalled,
    )
