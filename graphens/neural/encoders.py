r"""Time-distributed encoders: one small network applied to every time bin (method.md §4).

A window of ``T`` bins reaches node ``i`` as ``[B, T·K]`` (its area's ``K`` units per bin, see
:func:`graphens.neural.recordings.area_fields`). :class:`TimeDistributed` treats the bins as
extra batch rows — ``[B, T·K] -> [B·T, K] -> net -> [B·T, D] -> [B, T·D]`` — so the same
weights embed every bin, each bin independently:

.. math::

    z_i(t) = f_i(x_i(t)), \qquad Z_i = [z_i(0), \dots, z_i(T-1)] \in \mathbb{R}^{T D}.

The module is an ordinary encoder for :class:`graphens.node_bank.NodeBank`, so the whole
ensemble is still one batched (vmapped) call over nodes.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from graphens.encoders import EncoderFactory, mlp_encoder
from graphens.errors import GraphensError

#: The paper's per-bin MLP: hidden widths and embedding size (32, 32 -> 32).
PAPER_HIDDEN = (32, 32)
PAPER_DIM = 32


class TimeDistributed(nn.Module):
    """Apply ``net`` to each of ``bins`` equal slices of the last dimension.

    Parameters
    ----------
    net : nn.Module
        Maps ``[rows, K]`` to ``[rows, D]``.
    bins : int
        ``T``; the input width must be a multiple of it.
    """

    def __init__(self, net: nn.Module, bins: int) -> None:
        super().__init__()
        self.net, self.bins = net, int(bins)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, T·K]`` to ``[B, T·D]`` (bin-major)."""
        batch = x.shape[0]
        z = self.net(x.reshape(batch * self.bins, x.shape[-1] // self.bins))
        return z.reshape(batch, self.bins * z.shape[-1])

    def extra_repr(self) -> str:
        return f"bins={self.bins}"


def time_distributed_mlp(bins: int, hidden: Sequence[int] = PAPER_HIDDEN, dim: int = PAPER_DIM,
                         dropout: float = 0.0) -> EncoderFactory:
    """Factory of per-bin MLPs (GELU, Glorot weights) for windows of ``bins`` bins.

    Parameters
    ----------
    bins : int
        ``T``, bins per window.
    hidden, dim, dropout
        As :func:`graphens.encoders.mlp_encoder` (paper: 32, 32 -> 32, no dropout).

    Returns
    -------
    callable
        ``factory(in_features)`` with ``in_features = T·K``, returning a
        :class:`TimeDistributed` MLP from ``K`` to ``dim``.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise GraphensError(f"bins={bins!r} must be an integer >= 1.")
    per_bin = mlp_encoder(hidden, dim, dropout)

    def factory(in_features: int) -> nn.Module:
        if in_features % bins:
            raise GraphensError(
                f"a time-distributed encoder over {bins} bins needs an input width divisible "
                f"by {bins}; got {in_features}: build the fields with area_fields(..., "
                f"bins={bins}).")
        return TimeDistributed(per_bin(in_features // bins), bins)

    return factory
