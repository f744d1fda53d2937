"""graphens: ensembles of cross-supervising neural networks laid out as a graph."""

from graphens import sweep  # a callable package: graphens.sweep(spec, out) runs a sweep
from graphens.errors import GraphensError
from graphens.graph import EnsembleGraph, ensemble_graph
from graphens.loss import CLoSeRLoss, closer_loss

__version__ = "0.1.0"

__all__ = ["CLoSeRLoss", "EnsembleGraph", "GraphensError", "closer_loss", "ensemble_graph",
           "sweep", "__version__"]
