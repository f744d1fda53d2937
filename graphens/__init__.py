"""graphens: ensembles of cross-supervising neural networks laid out as a graph."""

from graphens.errors import GraphensError

__version__ = "0.1.0"

__all__ = ["GraphensError", "__version__"]
