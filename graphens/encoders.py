"""Built-in encoder factories.

An *encoder factory* is any callable ``factory(in_features) -> nn.Module`` whose module maps
``[B, in_features]`` to ``[B, D]``. The node bank calls it once per node and stacks the
parameters, so any user module works; these are the paper's (``method.md`` §4): the MLP
(``"mlp"``) and the ViT-lite (``"vit-lite"``).

*Token encoders* see a node's input as whole image patches. With the patch receptive fields
(``patches``, ``contiguous``) a node's view ``[B, K]`` is ``P = K / v`` patches of ``v = p·p·C``
values one after another (:func:`graphens.receptive_fields.token_width`), so
:func:`token_encoder` turns any ``token_factory(num_tokens, token_width) -> nn.Module`` taking
tokens ``[B, P, v]`` into an ordinary encoder factory. Its modules take the node's signal
mask too (``takes_mask``), so the node bank can hand each node its padded patches as an
attention key padding mask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from graphens.errors import GraphensError

EncoderFactory = Callable[[int], nn.Module]
TokenFactory = Callable[[int, int], nn.Module]


def glorot_zero_(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every ``nn.Linear`` (the Keras default)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def mlp_encoder(hidden: Sequence[int] = (1024, 512, 256), dim: int = 256,
                dropout: float = 0.1) -> EncoderFactory:
    """The paper's MLP: ``in -> hidden... (GELU, dropout after each) -> linear dim``.

    Parameters
    ----------
    hidden : sequence of int
        Widths of the hidden layers (paper: 1024, 512, 256).
    dim : int
        Embedding size ``D`` (paper: 256). The output layer is linear: the loss acts on the
        embedding that is evaluated, with no normalisation or projection head.
    dropout : float
        Dropout probability after each hidden GELU (paper: 0.1).
    """
    hidden = tuple(int(h) for h in hidden)
    if any(h < 1 for h in hidden) or dim < 1:
        raise GraphensError(f"layer widths must be >= 1; got hidden={hidden}, dim={dim}.")
    if not 0.0 <= dropout < 1.0:
        raise GraphensError(f"dropout={dropout} must lie in [0, 1).")

    def factory(in_features: int) -> nn.Module:
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.GELU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, dim))
        net = nn.Sequential(*layers)
        glorot_zero_(net)
        return net

    return factory


class TokenEncoder(nn.Module):
    """A node's flat input ``[B, P·v]`` as tokens ``[B, P, v]`` for a token module.

    ``forward(x, mask=None)``: ``mask`` is the node's ``[P·v]`` signal mask (``rf_mask``'s row;
    True = real); a token is padding when its first signal is. The inner module is called as
    ``inner(tokens)`` when no token is padding (``mask`` None) and
    ``inner(tokens, key_padding_mask)`` otherwise, ``key_padding_mask`` ``[B, P]`` bool, True
    at padding (PyTorch's ``nn.MultiheadAttention`` convention).
    """

    takes_mask = True

    def __init__(self, inner: nn.Module, num_tokens: int, token_width: int) -> None:
        super().__init__()
        self.inner, self.num_tokens, self.token_width = inner, num_tokens, token_width

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        tokens = x.reshape(x.shape[0], self.num_tokens, self.token_width)
        if mask is None:
            return self.inner(tokens)
        padding = ~mask.reshape(self.num_tokens, self.token_width)[:, 0]
        return self.inner(tokens, padding.expand(x.shape[0], self.num_tokens))


def token_encoder(token_factory: TokenFactory, token_width: int) -> EncoderFactory:
    """An encoder factory from a token module factory.

    Parameters
    ----------
    token_factory : callable
        ``token_factory(num_tokens, token_width) -> nn.Module`` whose module maps tokens
        ``[B, num_tokens, token_width]`` (and, when some node has fewer patches than the
        widest, a ``[B, num_tokens]`` key padding mask, True at padding) to ``[B, D]``.
    token_width : int
        Values per token, ``p·p·C`` (:func:`graphens.receptive_fields.token_width`).

    Returns
    -------
    callable
        ``factory(in_features) -> TokenEncoder``, for :class:`~graphens.ensemble.Ensemble` on a
        graph with patch receptive fields; ``in_features`` must be a multiple of
        ``token_width``.
    """
    token_width = int(token_width)
    if token_width < 1:
        raise GraphensError(f"token_width={token_width} must be >= 1 (p*p*C values per patch).")

    def factory(in_features: int) -> nn.Module:
        if in_features % token_width:
            raise GraphensError(
                f"a token encoder needs whole patches of {token_width} values, but nodes see "
                f"{in_features} signals; use --rf patches or --rf contiguous with the same "
                "patch size.")
        num_tokens = in_features // token_width
        return TokenEncoder(token_factory(num_tokens, token_width), num_tokens, token_width)

    factory.token_width = token_width  # type: ignore[attr-defined]
    return factory


class ViTBlock(nn.Module):
    r"""One pre-LayerNorm transformer block: :math:`h \leftarrow h + \mathrm{MHA}(\mathrm{LN}(h))`,
    :math:`h \leftarrow h + \mathrm{MLP}(\mathrm{LN}(h))`.

    Attention: ``heads`` heads of width ``dim / heads``, softmax
    :math:`(q k^\top / \sqrt{d_h})` over the unpadded keys, dropout on the attention weights.
    MLP: ``hidden`` widths, each a linear layer, GELU and dropout (the last width is ``dim``,
    for the residual), as in Keras' ViT example, which the paper's code follows.
    """

    def __init__(self, dim: int, heads: int, hidden: Sequence[int], dropout: float,
                 eps: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        layers: list[nn.Module] = []
        width = dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.GELU(), nn.Dropout(dropout)]
            width = h
        self.mlp = nn.Sequential(*layers)

    def forward(self, h: Tensor, padding: Tensor | None = None) -> Tensor:
        batch, tokens, dim = h.shape
        head_dim = dim // self.heads
        qkv = self.qkv(self.norm1(h)).reshape(batch, tokens, 3, self.heads, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # [B, heads, T, head_dim] each
        scores = (q @ k.transpose(-1, -2)) * head_dim**-0.5
        if padding is not None:
            scores = scores.masked_fill(padding[:, None, None, :], float("-inf"))
        weights = F.dropout(scores.softmax(dim=-1), self.dropout, self.training)
        attended = (weights @ v).transpose(1, 2).reshape(batch, tokens, dim)
        h = h + self.proj(attended)
        return h + self.mlp(self.norm2(h))


class ViTLite(nn.Module):
    r"""The paper's ViT-lite token module (``method.md`` §4), one node's.

    .. math::

        h^0 = [\,c;\ t_1 W + b;\ \dots;\ t_P W + b\,] + E_{pos}, \qquad
        z = \mathrm{LN}\big(\mathrm{Block}^{depth}(h^0)_0\big)

    ``t_k`` the node's ``k``-th patch (``p·p·C`` values, patches in raster order of the image's
    patch grid), ``W`` the linear tokeniser to ``dim``, ``c`` a learned class token and
    ``E_pos`` ``[P + 1, dim]`` learned positions. Position slot ``k`` always holds the same
    image patch (a node's field is fixed), so ``E_pos`` is a per-image-position table restricted
    to the patches the node sees: two nodes seeing the same patch use their own vectors for it.

    Initialisation as in Keras: Glorot-uniform weights and zero biases for every linear layer
    (the query, key and value maps each on its own ``dim × dim`` block), positions uniform in
    ±0.05, class token zero, LayerNorm ε 1e-6.
    """

    def __init__(self, num_tokens: int, token_width: int, dim: int = 256, depth: int = 2,
                 heads: int = 4, hidden: Sequence[int] = (512, 256), dropout: float = 0.1,
                 eps: float = 1e-6) -> None:
        super().__init__()
        self.tokenizer = nn.Linear(token_width, dim)
        self.cls = nn.Parameter(torch.zeros(dim))
        self.pos = nn.Parameter(torch.empty(num_tokens + 1, dim).uniform_(-0.05, 0.05))
        self.blocks = nn.ModuleList(ViTBlock(dim, heads, hidden, dropout, eps)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=eps)
        glorot_zero_(self)
        for block in self.blocks:
            for chunk in block.qkv.weight.detach().view(3, dim, dim):
                nn.init.xavier_uniform_(chunk)

    def forward(self, tokens: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """``[B, P, token_width]`` (and ``[B, P]`` True at padding) to ``[B, dim]``."""
        h = self.tokenizer(tokens)
        h = torch.cat([self.cls.expand(h.shape[0], 1, -1), h], dim=1) + self.pos
        padding = None
        if key_padding_mask is not None:
            padding = F.pad(key_padding_mask, (1, 0), value=False)  # the class token is real
        for block in self.blocks:
            h = block(h, padding)
        return self.norm(h[:, 0])


def vit_lite_encoder(token_width: int, dim: int = 256, depth: int = 2, heads: int = 4,
                     hidden: Sequence[int] = (512, 256), dropout: float = 0.1,
                     ) -> EncoderFactory:
    """The paper's ViT-lite (:class:`ViTLite`) as an encoder factory over whole patches.

    Parameters
    ----------
    token_width : int
        ``p·p·C`` values per patch (:func:`graphens.receptive_fields.token_width`; the paper's
        ``p`` is 4).
    dim : int
        Token and embedding width ``D`` (paper: 256).
    depth, heads : int
        Transformer blocks (paper: 2) and attention heads (paper: 4; must divide ``dim``).
    hidden : sequence of int
        The block MLP's widths (paper: 512, 256); the last must equal ``dim``.
    dropout : float
        On the attention weights and after each MLP layer (0.1).
    """
    hidden = tuple(int(h) for h in hidden)
    if dim < 1 or depth < 1 or heads < 1 or any(h < 1 for h in hidden):
        raise GraphensError(f"vit-lite sizes must be >= 1; got dim={dim}, depth={depth}, "
                            f"heads={heads}, hidden={hidden}.")
    if dim % heads:
        raise GraphensError(f"vit-lite: dim={dim} is not divisible by heads={heads}; use a "
                            f"dim that is a multiple of {heads}, e.g. 256.")
    if not hidden or hidden[-1] != dim:
        raise GraphensError(
            f"vit-lite: the block MLP hidden={hidden} must end at dim={dim} (the residual "
            f"adds it back), e.g. --hidden {2 * dim},{dim}.")
    if not 0.0 <= dropout < 1.0:
        raise GraphensError(f"dropout={dropout} must lie in [0, 1).")
    return token_encoder(
        lambda num_tokens, width: ViTLite(num_tokens, width, dim=dim, depth=depth, heads=heads,
                                          hidden=hidden, dropout=dropout), token_width)


ENCODERS: dict[str, Callable[..., EncoderFactory]] = {"mlp": mlp_encoder,
                                                       "vit-lite": vit_lite_encoder}
#: Encoders that read whole patches; they need patch receptive fields and are given
#: ``token_width``.
TOKEN_ENCODERS = ("vit-lite",)


def make_encoder_factory(name: str, **params: object) -> EncoderFactory:
    """Look up a built-in encoder by name (``ENCODERS``) and configure it."""
    if name not in ENCODERS:
        raise GraphensError(
            f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)} or pass your own "
            "factory(in_features) -> nn.Module.")
    return ENCODERS[name](**params)
