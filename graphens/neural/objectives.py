r"""Temporal objectives for neural data (method.md §7): ``objective(z, y, graph) -> loss``.

Embeddings come from a time-distributed encoder: ``z`` is ``[N, B, T·D]``, read as
:math:`Z_p(t) \in \mathbb{R}^D` for node ``p``, window ``b`` and bin ``t < T``. Bins
``t = 1 .. T-1`` are the "present" and each is paired with the bin before it. Shared terms,
per node and present bin, over the ``B`` windows of the batch (``sg`` = stop-gradient,
:math:`\mathrm{Var}_b` and :math:`\mathrm{Cov}_b` unbiased batch statistics):

.. math::

    L_{var}  &= \operatorname{mean}_{p, t, k}\, -\log\big(\mathrm{Var}_b[Z_p(t)_k] + 10^{-4}\big)
    \\
    L_{cov}  &= \operatorname{mean}_{p, t}\ \tfrac{1}{D(D-1)} \textstyle\sum_{k \ne l}
                \mathrm{Cov}_b[Z_p(t)]_{kl}^2

* **Temporal CLoSeR** (:class:`TemporalCLoSeRObjective`): every edge ``q -> p`` of the
  ensemble graph (teacher ``q``, student ``p``) pulls the student's present towards the
  teacher's past,

  .. math::

      d_{pq} = \operatorname{mean}_{b, t}\ \tfrac{1}{D}\lVert Z_p(t) - sg(Z_q(t-1)) \rVert^2,
      \qquad L_{pull} = \frac{\sum_{q \to p} g_{pq} d_{pq}}{\sum_{q \to p} g_{pq}},

      L = 1 \cdot L_{var} + 10 \cdot L_{cov} + 2 \cdot L_{pull}.

  On the all-to-all graph :math:`L_{pull} = \operatorname{mean}_{p \ne q} d_{pq}`, the paper's
  term; on any other graph the weighted mean over its edges (``edge_mean=False``: the
  weighted sum :math:`\sum g_{pq} d_{pq}`).
* **LPL** (:class:`LPLObjective`), the per-node baseline: the same with
  :math:`d_{pp} = \operatorname{mean}_{b,t} \tfrac{1}{D}\lVert Z_p(t) - sg(Z_p(t-1))\rVert^2`
  averaged over nodes instead of :math:`L_{pull}`; the graph is not used.
* **Temporal contrastive CLoSeR** (:class:`TemporalContrastiveObjective`): the CLoSeR loss of
  :func:`graphens.loss.edge_losses` with temporal positives — for edge ``j -> i`` the teacher
  anchor is :math:`z_j(t-1, c)` and the candidates are the student's :math:`z_i(t, b)`:

  .. math::

      L = \sum_{j \to i} g_{ij}\ \operatorname{mean}_{t \ge 1}
          \Big(-\tfrac{1}{B} \textstyle\sum_c \log
          \frac{\exp(-\delta_{ij}^{t}(c, c)/\tau)}{\sum_b \exp(-\delta_{ij}^{t}(b, c)/\tau)}\Big),
      \quad \delta_{ij}^{t}(b, c) = \tfrac{1}{D}\lVert z_i(t, b) - z_j(t-1, c)\rVert^2.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from graphens.errors import GraphensError
from graphens.loss import check_loss_options, edge_losses
from graphens.objectives import SupervisedObjective

__all__ = [
    "TEMPORAL_OBJECTIVES",
    "LPLObjective",
    "LastBinSupervised",
    "TemporalCLoSeRObjective",
    "TemporalContrastiveObjective",
    "covariance_loss",
    "last_bin",
    "make_temporal_objective",
    "split_bins",
    "variance_loss",
]


def split_bins(z: Tensor, bins: int) -> Tensor:
    """``[N, B, T·D]`` to ``[N, B, T, D]``."""
    if z.dim() != 3 or z.shape[-1] % bins:
        raise GraphensError(
            f"embeddings of windows of {bins} bins must be [N, B, {bins}·D]; got "
            f"{tuple(z.shape)}: use a time-distributed encoder with bins={bins}.")
    return z.reshape(z.shape[0], z.shape[1], bins, z.shape[-1] // bins)


def last_bin(z: Tensor, bins: int) -> Tensor:
    """The last bin's embedding ``[N, B, D]`` of ``[N, B, T·D]`` (what is decoded)."""
    return split_bins(z, bins)[:, :, -1]


def variance_loss(z: Tensor, eps: float = 1e-4) -> Tensor:
    r""":math:`\operatorname{mean} -\log(\mathrm{Var}_b + \epsilon)` of ``z`` ``[..., B, D]``
    over the batch axis ``-2``, averaged over everything else."""
    return -torch.log(z.var(dim=-2) + eps).mean()


def covariance_loss(z: Tensor) -> Tensor:
    r"""Mean squared off-diagonal batch covariance of ``z`` ``[..., B, D]`` (per leading
    index, averaged)."""
    centred = z - z.mean(dim=-2, keepdim=True)
    dim, batch = z.shape[-1], z.shape[-2]
    cov = centred.transpose(-1, -2) @ centred / (batch - 1)  # [..., D, D]
    off = cov.pow(2).sum((-1, -2)) - cov.diagonal(dim1=-2, dim2=-1).pow(2).sum(-1)
    return (off / (dim * (dim - 1) if dim > 1 else 1)).mean()


class _Temporal(nn.Module):
    needs_labels = False

    def __init__(self, bins: int) -> None:
        super().__init__()
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise GraphensError(
                f"bins={bins!r}: temporal objectives pair each bin with the one before it, "
                "so windows need bins >= 2 (the paper uses 2).")
        self.bins = bins

    def _bins(self, z: Tensor) -> Tensor:
        zt = split_bins(z, self.bins)
        if zt.shape[1] < 2:
            raise GraphensError(f"the batch has {zt.shape[1]} window(s); need B >= 2.")
        return zt


class _Regularised(_Temporal):
    def __init__(self, bins: int, var_weight: float, cov_weight: float, pull_weight: float,
                 eps: float) -> None:
        super().__init__(bins)
        for name, value in (("var_weight", var_weight), ("cov_weight", cov_weight),
                            ("pull_weight", pull_weight), ("eps", eps)):
            if not (isinstance(value, (int, float)) and 0 <= value < float("inf")):
                raise GraphensError(f"{name}={value!r} must be a finite number >= 0.")
        self.var_weight, self.cov_weight = float(var_weight), float(cov_weight)
        self.pull_weight, self.eps = float(pull_weight), float(eps)

    def regulariser(self, present: Tensor) -> Tensor:
        """``w_var L_var + w_cov L_cov`` of the present bins ``[N, B, T-1, D]``."""
        per_bin = present.transpose(1, 2)  # [N, T-1, B, D]
        return (self.var_weight * variance_loss(per_bin, self.eps)
                + self.cov_weight * covariance_loss(per_bin))


class TemporalCLoSeRObjective(_Regularised):
    r"""Temporal CLoSeR: variance + covariance + cross-node temporal pull over the graph.

    :math:`L = w_{var} L_{var} + w_{cov} L_{cov} + w_{pull} L_{pull}` (paper 1 / 10 / 2); see
    the module docstring for the terms. The teacher's past is detached.

    Parameters
    ----------
    bins : int
        ``T`` of the windows (>= 2).
    var_weight, cov_weight, pull_weight : float
        Weights of the three terms.
    eps : float
        :math:`\epsilon` inside the log of the variance term (paper 1e-4).
    edge_mean : bool
        Pull = weighted mean over edges (default; the paper's ``mean_{p≠q}`` on all-to-all,
        and topology-independent in scale) or weighted sum.
    """

    def __init__(self, bins: int = 2, var_weight: float = 1.0, cov_weight: float = 10.0,
                 pull_weight: float = 2.0, eps: float = 1e-4, edge_mean: bool = True) -> None:
        super().__init__(bins, var_weight, cov_weight, pull_weight, eps)
        self.edge_mean = bool(edge_mean)

    def pull(self, z: Tensor, graph: Data) -> Tensor:
        """``[E]`` distances :math:`d_{pq}` of the graph's edges."""
        zt = self._bins(z)
        present = zt[:, :, 1:].flatten(1)  # [N, B·(T-1)·D]
        past = zt[:, :, :-1].detach().flatten(1)
        scale = float(present.shape[1])
        # ||s_p - t_q||^2 summed over (b, t, k) = |s_p|^2 + |t_q|^2 - 2 s_p.t_q, for all pairs.
        cross = present @ past.t()  # [N(student), N(teacher)]
        teacher, student = graph.edge_index[0], graph.edge_index[1]
        # index_select (deterministic backward on CPU), not advanced indexing.
        sq = (present.pow(2).sum(1).index_select(0, student)
              + past.pow(2).sum(1).index_select(0, teacher))
        pairs = cross.flatten().index_select(0, student * cross.shape[1] + teacher)
        return (sq - 2.0 * pairs).clamp_min(0.0) / scale

    def forward(self, z: Tensor, y: Tensor | None, graph: Data) -> Tensor:
        zt = self._bins(z)
        loss = self.regulariser(zt[:, :, 1:])
        weight = graph.edge_weight
        if weight is None:
            weight = z.new_ones(graph.edge_index.shape[1])
        if graph.edge_index.shape[1] and float(weight.sum()) > 0:
            pulled = (self.pull(z, graph) * weight).sum()
            if self.edge_mean:
                pulled = pulled / weight.sum()
            loss = loss + self.pull_weight * pulled
        return loss


class LPLObjective(_Regularised):
    r"""LPL, the per-node baseline: variance + covariance + each node's own temporal pull.

    :math:`L = w_{var} L_{var} + w_{cov} L_{cov} + w_{pull}\operatorname{mean}_p d_{pp}`;
    no cross-node term, so the graph's edges are ignored. Parameters as
    :class:`TemporalCLoSeRObjective`.
    """

    def __init__(self, bins: int = 2, var_weight: float = 1.0, cov_weight: float = 10.0,
                 pull_weight: float = 2.0, eps: float = 1e-4) -> None:
        super().__init__(bins, var_weight, cov_weight, pull_weight, eps)

    def forward(self, z: Tensor, y: Tensor | None, graph: Data) -> Tensor:
        zt = self._bins(z)
        present, past = zt[:, :, 1:], zt[:, :, :-1].detach()
        own = (present - past).pow(2).mean()  # mean over p, b, t of (1/D)||.||^2
        return self.regulariser(present) + self.pull_weight * own


class TemporalContrastiveObjective(_Temporal):
    r"""CLoSeR with temporal positives: node ``j`` at ``t-1`` teaches node ``i`` at ``t``.

    :math:`L = \sum_{j \to i} g_{ij}\, \operatorname{mean}_t L^t_{ij}` (module docstring),
    with the graph's weights; each :math:`L^t_{ij}` is :func:`graphens.loss.edge_losses`.

    Parameters
    ----------
    bins : int
        ``T`` (>= 2).
    tau : float
        Softmax temperature.
    distance : {"mean", "sum"}
        Mean or summed squared distance.
    stop_gradient : {None, "teacher", "student"}
        Side of each edge that receives no gradient.
    """

    def __init__(self, bins: int = 2, tau: float = 10.0, distance: str = "mean",
                 stop_gradient: str | None = None) -> None:
        super().__init__(bins)
        self.tau, self.distance, self.stop_gradient = check_loss_options(
            tau, distance, stop_gradient)

    def per_edge(self, z: Tensor, graph: Data) -> Tensor:
        """``[E]`` unweighted losses :math:`\\operatorname{mean}_t L^t_{ij}`."""
        zt = self._bins(z)
        teacher_z = zt.detach() if self.stop_gradient == "teacher" else zt
        student_z = zt.detach() if self.stop_gradient == "student" else zt
        teacher, student = graph.edge_index[0], graph.edge_index[1]
        losses = [edge_losses(student_z[student, :, t], teacher_z[teacher, :, t - 1],
                              self.tau, self.distance) for t in range(1, self.bins)]
        return torch.stack(losses).mean(0)

    def forward(self, z: Tensor, y: Tensor | None, graph: Data) -> Tensor:
        weight = graph.edge_weight
        if weight is None:
            weight = z.new_ones(graph.edge_index.shape[1])
        return (self.per_edge(z, graph) * weight).sum()


class LastBinSupervised(SupervisedObjective):
    """The supervised baseline on the last bin's embedding (per-node softmax heads)."""

    def __init__(self, num_nodes: int, dim: int, num_classes: int, bins: int) -> None:
        super().__init__(num_nodes, dim, num_classes)
        self.bins = bins

    def forward(self, z: Tensor, y: Tensor | None, graph: Data) -> Tensor:
        return super().forward(last_bin(z, self.bins).contiguous(), y, graph)


#: Temporal objectives by name, each ``cls(bins=T, **params)``.
TEMPORAL_OBJECTIVES: dict[str, Callable[..., nn.Module]] = {
    "temporal-closer": TemporalCLoSeRObjective,
    "lpl": LPLObjective,
    "temporal-contrastive": TemporalContrastiveObjective,
}


def make_temporal_objective(name: str, bins: int = 2, **params: object) -> nn.Module:
    """Build a temporal objective by name (:data:`TEMPORAL_OBJECTIVES`)."""
    if name not in TEMPORAL_OBJECTIVES:
        raise GraphensError(
            f"unknown neural objective {name!r}; choose one of {sorted(TEMPORAL_OBJECTIVES)}.")
    try:
        return TEMPORAL_OBJECTIVES[name](bins=bins, **params)
    except TypeError as err:
        raise GraphensError(f"objective {name!r}: {err}") from None
