"""Built-in encoder factories.

An *encoder factory* is any callable ``factory(in_features) -> nn.Module`` whose module maps
``[B, in_features]`` to ``[B, D]``. The node bank calls it once per node and stacks the
parameters, so any user module works; these are the paper's (``method.md`` §4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from graphens.errors import GraphensError

EncoderFactory = Callable[[int], nn.Module]


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


ENCODERS: dict[str, Callable[..., EncoderFactory]] = {"mlp": mlp_encoder}


def make_encoder_factory(name: str, **params: object) -> EncoderFactory:
    """Look up a built-in encoder by name (``ENCODERS``) and configure it."""
    if name not in ENCODERS:
        raise GraphensError(
            f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)} or pass your own "
            "factory(in_features) -> nn.Module.")
    return ENCODERS[name](**params)
