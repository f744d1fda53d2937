"""Sweeps: many trials of :func:`graphens.experiment.run` from one spec, one results table.

* :mod:`~graphens.sweep.spec` — read, check and expand a spec (TOML, YAML, JSON or a dict)
  into trials with stable ids;
* :mod:`~graphens.sweep.executors` — run trials locally (in process or a process pool) or as
  Ray tasks;
* :mod:`~graphens.sweep.table` — the results table, one row per trial, rebuilt from the trial
  directories and written atomically;
* :mod:`~graphens.sweep.api` — :func:`sweep`, which ties them together and resumes;
* :mod:`~graphens.sweep.report` — plots, confidence intervals, rank correlations and paired
  tests, and a Markdown summary;
* :mod:`~graphens.sweep.cli` — ``graphens sweep`` and ``graphens report``.

The package itself is callable: ``graphens.sweep(spec, out)`` is
:func:`graphens.sweep.api.sweep`, while ``graphens.sweep.report`` and the other modules stay
importable as usual.
"""

import sys
import types
from typing import Any

from graphens.sweep.api import load_sweep, sweep
from graphens.sweep.spec import SweepSpec, Trial, load_spec, trial_id
from graphens.sweep.table import read_table

__all__ = ["SweepSpec", "Trial", "load_spec", "load_sweep", "read_table", "sweep", "trial_id"]


class _CallableModule(types.ModuleType):
    """``graphens.sweep(...)`` calls :func:`sweep`; attributes are the package's."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return sweep(*args, **kwargs)


_CallableModule.__call__.__doc__ = sweep.__doc__
sys.modules[__name__].__class__ = _CallableModule
