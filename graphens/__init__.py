"""graphens: ensembles of cross-supervising neural networks laid out as a graph."""

from graphens import sweep  # a callable package: graphens.sweep(spec, out) runs a sweep
from graphens.config import RunConfig
from graphens.errors import GraphensError, GraphensWarning
from graphens.experiment import load_ensemble, run
from graphens.fleet import run_fleet
from graphens.graph import EnsembleGraph, ensemble_graph
from graphens.loss import CLoSeRLoss, closer_loss

__version__ = "0.1.0"

__all__ = ["CLoSeRLoss", "EnsembleGraph", "GraphensError", "GraphensWarning", "RunConfig",
           "closer_loss", "ensemble_graph", "load_ensemble", "run", "run_fleet", "sweep",
           "__version__"]
