"""graphens: ensembles of cross-supervising neural networks laid out as a graph."""

from graphens import sweep  # a callable package: graphens.sweep(spec, out) runs a sweep
from graphens.errors import GraphensError
from graphens.loss import CLoSeRBreakdown, CLoSeRLoss, closer_loss

__version__ = "0.1.0"

__all__ = ["CLoSeRBreakdown", "CLoSeRLoss", "GraphensError", "closer_loss", "sweep",
           "__version__"]
