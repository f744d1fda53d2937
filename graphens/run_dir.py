"""A run's output directory: claimed before any compute, never overwritten without asking.

A run directory holds ``run.json`` (the configuration, written before training starts),
``checkpoint.pt``, ``ensemble.pt`` and ``results.json``. :func:`check_run_dir` is called before
any data are loaded: it checks that the directory can be created and written, and compares the
configuration it already holds (if any) with the new one:

* another configuration: refused, naming the fields that differ, unless ``overwrite``;
* the same configuration: continued with ``resume`` (``epochs`` may grow), refused otherwise
  unless ``overwrite``;
* ``overwrite``: the four files above are deleted (nothing else in the directory is touched).

:func:`claim_run_dir` does the writing (``run.json``; the deletions of ``overwrite``) once the
run's data, graph and memory have passed their checks, just before training: a run that fails
before its first step leaves the directory as it found it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from graphens.config import RunConfig
from graphens.errors import GraphensError
from graphens.io import atomic_write_json

RUN_FILE = "run.json"
RESULTS_FILE = "results.json"
CHECKPOINT_FILE = "checkpoint.pt"
ENSEMBLE_FILE = "ensemble.pt"
RUN_FILES = (RUN_FILE, RESULTS_FILE, CHECKPOINT_FILE, ENSEMBLE_FILE)


def check_run_dir(out_dir: str | os.PathLike[str], config: RunConfig, *, resume: bool = False,
                  overwrite: bool = False) -> Path:
    """Raise a one-line :class:`GraphensError` if ``out_dir`` cannot take ``config``'s run.

    Writes nothing into the directory (it is created, empty, to prove it writable);
    :func:`claim_run_dir` writes. Returns the directory.
    """
    out = Path(out_dir)
    _check_writable(out)
    # run.json alone is a claim by a run that stopped before its first epoch: replaceable.
    present = [name for name in RUN_FILES[1:] if (out / name).exists()]
    if present and not overwrite:
        saved = _saved_config(out)
        if saved is None:
            raise GraphensError(
                f"--out {str(out)!r} holds run files ({', '.join(present)}) of an unknown "
                "configuration; choose a new --out, or pass --overwrite to replace them.")
        differing = config.differences(_resolved(saved), ignore=("device", "epochs"))
        if differing:
            raise GraphensError(
                f"--out {str(out)!r} holds another run ({'; '.join(differing)}); choose a new "
                "--out, or pass --overwrite to replace it.")
        if not resume:
            raise GraphensError(
                f"--out {str(out)!r} already holds this run ({', '.join(present)}); pass "
                "--resume to continue it, --overwrite to start again, or choose a new --out.")
        if (out / RESULTS_FILE).exists() and not (out / CHECKPOINT_FILE).exists() and (
                config.epochs != saved.get("epochs")):
            raise GraphensError(
                f"--out {str(out)!r} has results of {saved.get('epochs')} epochs but no "
                f"{CHECKPOINT_FILE} to continue from; pass --overwrite to train again.")
    return out


def claim_run_dir(out_dir: str | os.PathLike[str], config: RunConfig, *, resume: bool = False,
                  overwrite: bool = False) -> Path:
    """Make ``out_dir`` ready for ``config`` or raise a one-line :class:`GraphensError`.

    Returns the directory; ``run.json`` is written for a new run (a resumed one keeps its own
    until it finishes), and nothing else is changed unless ``overwrite``. A run calls
    :func:`check_run_dir` first and this only once its data, graph and memory have passed their
    checks, so a run that fails before training neither claims nor clears the directory.
    """
    out = check_run_dir(out_dir, config, resume=resume, overwrite=overwrite)
    present = [name for name in RUN_FILES[1:] if (out / name).exists()]
    if overwrite:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    if overwrite or not present:
        record_config(out, config)
    return out


def record_config(out: Path, config: RunConfig) -> None:
    """Write ``run.json``; a resumed run rewrites it when it finishes (its epochs may grow)."""
    atomic_write_json(out / RUN_FILE, {"config": asdict(config)})


def _check_writable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise GraphensError(f"--out {str(out)!r} is a file, not a directory; choose a "
                            "directory path.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".graphens-probe-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise GraphensError(f"--out {str(out)!r} cannot be written ({reason}); choose a "
                            "directory you can write to.") from None


def _resolved(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved configuration with its unset fields resolved as today (runs written before a
    field existed compare equal when they are the same run)."""
    try:
        return asdict(RunConfig(**saved))
    except (GraphensError, TypeError):
        return saved


def _saved_config(out: Path) -> dict[str, Any] | None:
    """The configuration recorded in ``out`` (``run.json``, else ``results.json``)."""
    for name in (RUN_FILE, RESULTS_FILE):
        path = out / name
        if not path.exists():
            continue
        try:
            config = json.loads(path.read_text(encoding="utf-8")).get("config")
        except (OSError, ValueError, AttributeError):
            raise GraphensError(
                f"{str(path)!r} is damaged (not readable JSON); it was left as it is: move it "
                "away, or pass --overwrite to replace the run.") from None
        if isinstance(config, dict):
            return config
    return None
