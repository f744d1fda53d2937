"""Drawings of a plastic run: the adjacency over time and the graph metrics' trajectories.

:func:`write_plasticity_report` reads ``RUN_DIR/results.json`` (its ``plasticity`` key, see
:func:`graphens.plasticity.plasticity_results`) and writes, atomically, into ``RUN_DIR/report``
by default:

* ``plasticity_adjacency.png`` — a row of heatmaps of :math:`g_{ij}` (rows = student
  :math:`i`, columns = teacher :math:`j`) at up to ``panels`` recorded times, evenly spaced,
  the first and the last always included, on one colour scale;
* ``plasticity_metrics.png`` — edges, total weight, reciprocity, directed clustering,
  characteristic path length, global efficiency and the correlation of edge presence with
  receptive-field distance, against the training step;
* ``plasticity.md`` — the rule, its parameters, the final accuracies and the metrics table.

``graphens report RUN_DIR`` calls it for a single run directory.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from graphens.errors import GraphensError
from graphens.io import atomic_write_bytes, atomic_write_text

#: The metrics drawn over time, with their axis labels.
TRAJECTORIES = {
    "edges": "edges E",
    "weight_total": "total weight",
    "reciprocity": "reciprocity",
    "clustering_directed": "directed clustering",
    "characteristic_path_length": "path length (largest SCC)",
    "global_efficiency": "global efficiency",
    "distance_correlation": "corr(edge, RF distance)",
}


def read_plasticity(run_dir: str | Path) -> dict[str, Any]:
    """``results.json["plasticity"]`` of a run directory, with ``num_nodes``."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise GraphensError(f"{str(run_dir)!r} has no results.json; give the --out directory of "
                            "a finished `graphens train --plasticity ...`.")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise GraphensError(f"{str(path)!r} is not valid JSON ({err}); rerun the training.") \
            from None
    if not isinstance(results, dict) or not results.get("plasticity"):
        raise GraphensError(f"{str(run_dir)!r} is a run without plasticity, so there is nothing "
                            "to draw over time; `graphens report` takes a sweep directory or "
                            "the --out of `graphens train --plasticity RULE`.")
    return {**results["plasticity"], "num_nodes": int(results["num_nodes"])}


def adjacency(entry: dict[str, Any], num_nodes: int) -> np.ndarray:
    """Dense ``[student, teacher]`` weights of one recorded graph."""
    matrix = np.zeros((num_nodes, num_nodes))
    teachers, students = entry["edge_index"]
    for j, i, w in zip(teachers, students, entry["edge_weight"], strict=True):
        matrix[i, j] += w
    return matrix


def pick_panels(count: int, panels: int) -> list[int]:
    """Up to ``panels`` indices of ``range(count)``, evenly spaced, first and last included."""
    if count <= panels:
        return list(range(count))
    return sorted({int(round(v)) for v in np.linspace(0, count - 1, panels)})


def _save(fig: Any, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write_bytes(path, buffer.getvalue())


def plot_adjacency(record: dict[str, Any], path: Path, panels: int = 6) -> Path:
    """The row of adjacency heatmaps (see the module docstring)."""
    from matplotlib.figure import Figure

    history, n = record["history"], record["num_nodes"]
    chosen = pick_panels(len(history), panels)
    matrices = [adjacency(history[k], n) for k in chosen]
    top = max((m.max() for m in matrices), default=1.0) or 1.0
    fig = Figure(figsize=(2.6 * len(chosen) + 0.8, 2.9), layout="constrained")
    axes = fig.subplots(1, len(chosen), squeeze=False)[0]
    image = None
    for ax, k, matrix in zip(axes, chosen, matrices, strict=True):
        image = ax.imshow(matrix, vmin=0, vmax=top, cmap="viridis")
        entry = history[k]
        ax.set_title(f"step {entry['step']} (epoch {entry['epoch']})\n"
                     f"{int((matrix > 0).sum())} edges", fontsize=9)
        ax.set_xlabel("teacher j", fontsize=8)
        ax.set_ylabel("student i", fontsize=8)
        ax.tick_params(labelsize=7)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="g_ij")
    fig.suptitle(f"plasticity {record['rule']}: the graph over training", fontsize=10)
    return _save(fig, path)


def plot_metrics(record: dict[str, Any], path: Path) -> Path:
    """The metrics' trajectories against the training step."""
    from matplotlib.figure import Figure

    rows = record["metrics"]
    steps = [row["step"] for row in rows]
    keys = list(TRAJECTORIES)
    cols = 4
    fig = Figure(figsize=(3.4 * cols, 2.6 * 2), layout="constrained")
    axes = fig.subplots(2, cols, squeeze=False).flatten()
    for ax, key in zip(axes, keys, strict=False):
        values = [np.nan if row.get(key) is None else float(row[key]) for row in rows]
        ax.plot(steps, values, marker="o", markersize=3)
        ax.set_title(TRAJECTORIES[key], fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(keys):]:
        ax.axis("off")
    fig.suptitle(f"plasticity {record['rule']}: graph metrics over training", fontsize=10)
    return _save(fig, path)


def _markdown(record: dict[str, Any], plots: dict[str, Path]) -> str:
    params = ", ".join(f"{k}={v!r}" for k, v in record["params"].items())
    lines = [f"# Plasticity: {record['rule']}", "", f"Parameters: {params}; seed "
             f"{record['seed']}; {record['updates']} updates, {len(record['history'])} "
             "recorded graphs.", ""]
    for key in ("final_single_accuracy", "final_ensemble_accuracy", "final_agreement"):
        if record.get(key) is not None:
            lines.append(f"- {key.removeprefix('final_').replace('_', ' ')}: "
                         f"{record[key]:.4f}")
    lines += ["", "| step | epoch | " + " | ".join(TRAJECTORIES) + " |",
              "|" + "---|" * (len(TRAJECTORIES) + 2)]
    for row in record["metrics"]:
        cells = ["-" if row.get(k) is None else f"{row[k]:.4g}" for k in TRAJECTORIES]
        lines.append(f"| {row['step']} | {row['epoch']} | " + " | ".join(cells) + " |")
    lines += ["", *[f"![{name}]({path.name})" for name, path in plots.items()], ""]
    return "\n".join(lines)


def write_plasticity_report(run_dir: str | Path, dest: str | Path | None = None,
                            panels: int = 6) -> dict[str, Any]:
    """Draw a plastic run (see the module docstring).

    Returns
    -------
    dict
        ``summary`` (path of ``plasticity.md``) and ``plots`` (name -> path).
    """
    record = read_plasticity(run_dir)
    dest = Path(dest) if dest is not None else Path(run_dir) / "report"
    plots: dict[str, Path] = {}
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass
    else:
        plots["adjacency over time"] = plot_adjacency(record, dest / "plasticity_adjacency.png",
                                                      panels)
        plots["graph metrics over time"] = plot_metrics(record,
                                                        dest / "plasticity_metrics.png")
    summary = atomic_write_text(dest / "plasticity.md", _markdown(record, plots))
    return {"summary": summary, "plots": plots}
