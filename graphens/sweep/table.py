"""The results table of a sweep: one row per trial, rebuilt from the trial directories.

Each trial's own files are the truth: ``trials/<id>/results.json`` (written atomically by
:func:`graphens.experiment.run`) or ``trials/<id>/error.json`` (written atomically by the
sweep). The table is rebuilt from them after every finished trial and written atomically, so
a sweep killed at any moment leaves whole files only, and the next run rebuilds the table.

Columns:

* ``id``, ``label``, ``status`` (``ok``, ``failed``, ``pending``), ``error``;
* the run's configuration (``topology``, ``nodes``, ``rf_fraction``, ..., dict fields
  flattened as ``topology_params.k``, ``hidden`` as ``"1024-512-256"``), ``max_train``,
  ``max_test``;
* every graph metric as ``graph.<metric>`` (:func:`graphens.topology.metrics`);
* compute: ``num_nodes``, ``num_edges``, ``loss_flops_per_step`` (the CLoSeR loss,
  ``6 E B^2 D``: forward ``2 E B^2 D`` plus a backward of twice that; 0 for baselines that do
  not train with it), ``loss_flops_per_epoch``, ``epochs_run``, ``train_samples``,
  ``train_seconds``, ``seconds_per_epoch``, ``samples_per_second``, ``total_seconds``,
  ``device``;
* every accuracy and agreement measure: ``single_accuracy``, ``ensemble_accuracy``,
  ``per_node_accuracy`` (JSON list) with ``per_node_accuracy.min/max/std``,
  ``knn_accuracy.single``, ``knn_accuracy.ensemble``, ``agreement.mean``,
  ``agreement_chance``, ``alignment.mean``, and any other number in ``results.json``;
  ``final_loss``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from graphens.errors import GraphensError
from graphens.io import atomic_write_bytes
from graphens.sweep.spec import EXTRA_FIELDS, Trial

TRIALS_DIR = "trials"
PARQUET = "results.parquet"
CSV = "results.csv"
#: Keys of results.json that are not measures (or are written as their own columns).
_NOT_MEASURES = {"config", "topology", "graph_metrics", "receptive_field", "loss_history",
                 "edges", "num_nodes", "num_edges", "epochs_run", "train_seconds",
                 "samples_per_second", "total_seconds", "device", "per_node_accuracy",
                 "warnings"}
#: Leading columns, in this order; the rest follow in first-seen order.
_FIRST = ["id", "label", "status", "topology", "num_edges", "single_accuracy",
          "ensemble_accuracy"]


def trial_dir(out: str | Path, trial_id: str) -> Path:
    """``out/trials/<id>``."""
    return Path(out) / TRIALS_DIR / trial_id


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif value is None or isinstance(value, (bool, int, float, str)):
        out[prefix] = value


def config_columns(trial: Trial) -> dict[str, Any]:
    """The configuration of a trial as flat columns."""
    config = asdict(trial.config)
    row: dict[str, Any] = {}
    for key, value in config.items():
        if key == "hidden":
            row[key] = "-".join(str(h) for h in value)
        elif isinstance(value, dict):
            _flat(key, value, row)
        else:
            row[key] = value
    for key in EXTRA_FIELDS:
        row[key] = trial.extras.get(key)
    return row


#: Objectives whose loss is the contrastive CLoSeR sum over edges (``B x B`` logits per edge).
CONTRASTIVE_OBJECTIVES = ("closer", "temporal-contrastive")


def loss_flops_per_step(num_edges: int, batch_size: int, dim: int, baseline: str,
                        objective: str = "closer") -> float | None:
    """FLOPs of one CLoSeR loss step: forward ``2 E B^2 D`` plus backward twice that.

    0 for baselines that do not train with it; ``None`` (unknown) for the temporal objectives
    that are not contrastive (their cost is linear in ``B``, not this formula).
    """
    if baseline != "closer":
        return 0.0
    if objective not in CONTRASTIVE_OBJECTIVES:
        return None
    return 6.0 * num_edges * batch_size**2 * dim


def result_columns(results: dict[str, Any], trial: Trial) -> dict[str, Any]:
    """Graph metrics, compute and measures of a finished trial as flat columns."""
    config = trial.config
    row: dict[str, Any] = {}
    for key, value in (results.get("graph_metrics") or {}).items():
        if value is None or isinstance(value, (bool, int, float, str)):
            row[f"graph.{key}"] = value
    epochs = int(results.get("epochs_run") or 0)
    train_seconds = float(results.get("train_seconds") or 0.0)
    rate = float(results.get("samples_per_second") or 0.0)
    num_edges = int(results.get("num_edges", 0))
    per_step = loss_flops_per_step(num_edges, config.batch_size, config.dim, config.baseline,
                                   config.objective)
    train_samples = round(rate * train_seconds / epochs) if epochs else None
    steps = math.ceil(train_samples / config.batch_size) if train_samples else 0
    row.update({
        "num_nodes": results.get("num_nodes"),
        "num_edges": num_edges,
        "loss_flops_per_step": per_step,
        "loss_flops_per_epoch": per_step * steps if per_step is not None else None,
        "epochs_run": epochs,
        "train_samples": train_samples,
        "train_seconds": train_seconds,
        "seconds_per_epoch": train_seconds / epochs if epochs else 0.0,
        "samples_per_second": rate,
        "total_seconds": results.get("total_seconds"),
        "device": results.get("device"),
    })
    per_node = results.get("per_node_accuracy")
    if isinstance(per_node, list) and per_node:
        values = [float(v) for v in per_node]
        row["per_node_accuracy"] = json.dumps(values)
        row["per_node_accuracy.min"] = min(values)
        row["per_node_accuracy.max"] = max(values)
        row["per_node_accuracy.std"] = statistics.pstdev(values)
    measures: dict[str, Any] = {}
    _flat("", {k: v for k, v in results.items() if k not in _NOT_MEASURES}, measures)
    row.update(measures)
    history = results.get("loss_history") or []
    row["final_loss"] = float(history[-1]) if history else None
    found = [str(w) for w in results.get("warnings") or []]
    row["warnings"] = len(found)  # a trial that trained badly is easy to filter
    row["warning_text"] = " | ".join(found) if found else None
    return row


def measure_columns(measures: dict[str, Any] | None) -> dict[str, Any]:
    """``measures.<name>.<edges|non_edges|all_pairs|diagonal>`` from a trial's
    ``measures.json`` summary (:func:`graphens.measures.measure_run`); none without it."""
    row: dict[str, Any] = {}
    for name, values in ((measures or {}).get("summary") or {}).items():
        if isinstance(values, dict):
            for which, value in values.items():
                row[f"measures.{name}.{which}"] = value
    return row


def trial_row(out: str | Path, trial: Trial) -> dict[str, Any]:
    """The table row of one trial, from its directory."""
    folder = trial_dir(out, trial.id)
    row: dict[str, Any] = {"id": trial.id, "label": trial.label, "status": "pending",
                           "error": None}
    row.update(config_columns(trial))
    results = read_json(folder / "results.json")
    if results is not None:
        row["status"] = "ok"
        row.update(result_columns(results, trial))
        row.update(measure_columns(read_json(folder / "measures.json")))
        return row
    error = read_json(folder / "error.json")
    if error is not None:
        row["status"] = "failed"
        row["error"] = error.get("error")
    return row


def build_rows(out: str | Path, trials: Iterable[Trial]) -> list[dict[str, Any]]:
    """One row per trial, in the spec's order, every row with the same columns."""
    trials = list(trials)
    rows = [trial_row(out, trial) for trial in trials]
    columns = [c for c in _FIRST if any(c in row for row in rows)]
    for trial in trials:  # the configuration first, then what the trials measured
        columns += [key for key in config_columns(trial) if key not in columns]
    for row in rows:
        columns += [key for key in row if key not in columns]
    return [{column: row.get(column) for column in columns} for row in rows]


def has_parquet() -> bool:
    """Whether pandas and pyarrow are importable (results.parquet; else results.csv)."""
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def to_frame(rows: Sequence[dict[str, Any]]) -> Any:
    """A pandas DataFrame of the rows, or the rows themselves when pandas is absent."""
    try:
        import pandas as pd
    except ImportError:
        return list(rows)
    frame = pd.DataFrame(list(rows))
    for column in frame.columns:
        if frame[column].dtype == object:
            kinds = {type(v) for v in frame[column] if v is not None and v == v}
            if len(kinds) > 1:  # e.g. a metric that is a number here and a note there
                frame[column] = [None if v is None else str(v) for v in frame[column]]
    return frame


def _csv_text(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    columns = list(rows[0]) if rows else []
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def write_table(out: str | Path, trials: Iterable[Trial]) -> Any:
    """Rebuild the table from the trial directories and write it atomically.

    Writes ``out/results.parquet`` when pyarrow is importable, else ``out/results.csv`` (and
    removes the other format's stale file). Returns the table (a DataFrame, or a list of dicts
    without pandas).
    """
    out = Path(out)
    rows = build_rows(out, trials)
    frame = to_frame(rows)
    if has_parquet():
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(out / PARQUET, buffer.getvalue())
        (out / CSV).unlink(missing_ok=True)
    else:
        text = frame.to_csv(index=False) if hasattr(frame, "to_csv") else _csv_text(rows)
        atomic_write_bytes(out / CSV, text.encode())
        (out / PARQUET).unlink(missing_ok=True)
    return frame


def table_path(out: str | Path) -> Path:
    """The results table of a sweep directory (parquet preferred)."""
    out = Path(out)
    for name in (PARQUET, CSV):
        if (out / name).is_file():
            return out / name
    raise GraphensError(f"{str(out)!r} holds no results table ({PARQUET} or {CSV}); run "
                        f"`graphens sweep SPEC --out {out}` first.")


def read_table(path: str | Path) -> Any:
    """Read a results table (a sweep directory, or the parquet/CSV file) as a DataFrame."""
    try:
        import pandas as pd
    except ImportError:
        raise GraphensError("reading a sweep table needs pandas: pip install pandas "
                            "(or graphens[sweep]).") from None
    path = Path(path)
    if path.is_dir():
        path = table_path(path)
    if not path.is_file():
        raise GraphensError(f"results table {str(path)!r} does not exist.")
    if path.suffix == ".parquet":
        if not has_parquet():
            raise GraphensError(f"{str(path)!r} is Parquet; reading it needs pyarrow "
                                "(pip install pyarrow).")
        return pd.read_parquet(path)
    return pd.read_csv(path)
