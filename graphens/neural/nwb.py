"""NWB files (pynwb): units with brain-area labels and stimulus intervals to a Recording.

What is read:

* the **units table** (``nwbfile.units``): ``spike_times`` and a brain-area label per unit,
  from the column ``area_column`` (default the first of :data:`AREA_COLUMNS` present) or, if
  none, the ``location`` of each unit's first electrode;
* **stimulus intervals**: the tables named by ``intervals`` (default ``nwbfile.trials`` if
  present, else every table of ``nwbfile.intervals``). A table with a ``frame`` column has one
  row per frame presentation — each row is one bin, and a new trial starts where the frame
  stops advancing (Allen-style ``*_presentations`` tables). Otherwise each row is one trial,
  cut into bins of ``bin_size`` seconds. The stimulus of a row is its ``stimulus_column``
  (default the first of :data:`STIMULUS_COLUMNS` present) or, lacking one, the table's name;
* optional **area positions**: the per-area mean of ``position_columns`` of the units table
  (default the Allen CCF anterior-posterior and left-right coordinates, when present).

pynwb is optional: ``pip install 'graphens[neural]'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphens.errors import GraphensError
from graphens.neural.recordings import Recording, from_spike_times

AREA_COLUMNS = ("brain_area", "area", "location", "ecephys_structure_acronym", "structure")
STIMULUS_COLUMNS = ("stimulus_name", "stimulus", "condition", "movie")
CCF_COLUMNS = ("anterior_posterior_ccf_coordinate", "left_right_ccf_coordinate")


def _require_pynwb() -> Any:
    try:
        import pynwb
    except ImportError:
        raise GraphensError(
            "reading NWB files needs pynwb, which is not installed: pip install "
            "'graphens[neural]' (or pip install pynwb).") from None
    return pynwb


def _column(table: Any, name: str, rows: int) -> list[Any]:
    return [table[name][i] for i in range(rows)]


def _unit_areas(units: Any, area_column: str | None, path: str) -> list[str]:
    n = len(units)
    names = list(units.colnames)
    if area_column is not None:
        if area_column not in names:
            raise GraphensError(
                f"the units table of {path} has no column {area_column!r}; its columns are "
                f"{names}.")
        return [str(v) for v in _column(units, area_column, n)]
    for candidate in AREA_COLUMNS:
        if candidate in names:
            return [str(v) for v in _column(units, candidate, n)]
    if "electrodes" in names:
        labels = []
        for i in range(n):
            rows = units["electrodes"][i]
            if "location" not in getattr(rows, "columns", ()):
                labels = []
                break
            labels.append(str(rows["location"].iloc[0]))
        if labels:
            return labels
    raise GraphensError(
        f"the units table of {path} has no brain-area labels (no column among "
        f"{list(AREA_COLUMNS)} and no electrode locations): add a per-unit area column, e.g. "
        "nwbfile.add_unit_column('location', ...), or pass area_column=NAME.")


def _positions(units: Any, areas: list[str], columns: Sequence[str] | None,
               ) -> dict[str, tuple[float, float]] | None:
    names = list(units.colnames)
    columns = tuple(columns) if columns is not None else (
        CCF_COLUMNS if all(c in names for c in CCF_COLUMNS) else ())
    if not columns:
        return None
    if len(columns) != 2 or any(c not in names for c in columns):
        raise GraphensError(
            f"position_columns={list(columns)} must name 2 columns of the units table "
            f"({names}).")
    xy = np.stack([np.asarray(_column(units, c, len(units)), dtype=np.float64)
                   for c in columns], 1)
    labels = np.asarray(areas, dtype=object)
    out = {}
    for area in dict.fromkeys(areas):
        rows = xy[labels == area]
        rows = rows[np.isfinite(rows).all(1)]
        if not len(rows):
            return None
        out[area] = (float(rows[:, 0].mean()), float(rows[:, 1].mean()))
    return out


def _interval_rows(nwb: Any, intervals: Sequence[str] | None, stimulus_column: str | None,
                   bin_size: float | None, path: str) -> dict[str, list[Any]]:
    tables = []
    if intervals is not None:
        available = dict(nwb.intervals or {})
        if nwb.trials is not None:
            available.setdefault("trials", nwb.trials)
        for name in intervals:
            if name not in available:
                raise GraphensError(
                    f"{path} has no intervals table {name!r}; it has {sorted(available)}.")
            tables.append((name, available[name]))
    elif nwb.trials is not None:
        tables.append(("trials", nwb.trials))
    else:
        tables = [(name, t) for name, t in (nwb.intervals or {}).items()
                  if name not in ("invalid_times", "epochs")]
    if not tables:
        raise GraphensError(
            f"{path} has no stimulus intervals (no trials table and no intervals tables): add "
            "nwbfile.add_trial(start_time=..., stop_time=..., stimulus=...) rows, or pass "
            "intervals=[NAME].")
    rows: dict[str, list[Any]] = {"start": [], "stop": [], "stimulus": [], "frame": [],
                                  "trial": []}
    for name, table in tables:
        n = len(table)
        cols = list(table.colnames)
        column = stimulus_column if stimulus_column is not None else next(
            (c for c in STIMULUS_COLUMNS if c in cols), None)
        if column is not None and column not in cols:
            raise GraphensError(
                f"intervals table {name!r} of {path} has no column {column!r}; its columns are "
                f"{cols}.")
        start = np.asarray(_column(table, "start_time", n), dtype=np.float64)
        stop = np.asarray(_column(table, "stop_time", n), dtype=np.float64)
        labels = _column(table, column, n) if column else [name] * n
        if "frame" in cols:
            frame = np.asarray([_to_float(v) for v in _column(table, "frame", n)])
            keep = np.isfinite(frame) & (frame >= 0)
            rows["start"] += list(start[keep])
            rows["stop"] += list(stop[keep])
            rows["stimulus"] += [labels[i] for i in np.flatnonzero(keep)]
            rows["frame"] += list(frame[keep].astype(np.int64))
            rows["trial"] += [None] * int(keep.sum())
            continue
        if bin_size is None or not bin_size > 0:
            raise GraphensError(
                f"intervals table {name!r} of {path} has one row per trial (no 'frame' "
                f"column): pass bin_size=SECONDS (> 0, got {bin_size!r}) to cut trials into "
                "bins.")
        seen: dict[str, int] = {}
        for i in range(n):
            edges = np.arange(start[i], stop[i] - 1e-9, bin_size)
            label = labels[i]
            repeat = seen.get(str(label), 0)
            seen[str(label)] = repeat + 1
            rows["start"] += list(edges)
            rows["stop"] += list(edges + bin_size)
            rows["stimulus"] += [label] * len(edges)
            rows["frame"] += list(range(len(edges)))
            rows["trial"] += [repeat] * len(edges)
    return rows


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def load_nwb(path: str | Path, *, bin_size: float | None = None,
             intervals: Sequence[str] | None = None, area_column: str | None = None,
             stimulus_column: str | None = None,
             position_columns: Sequence[str] | None = None,
             areas: Sequence[str] | None = None) -> Recording:
    """Read an NWB file's units and stimulus intervals into a :class:`Recording`.

    Parameters
    ----------
    path : path
        The ``.nwb`` file.
    bin_size : float, optional
        Seconds per bin, needed for interval tables with one row per trial.
    intervals : sequence of str, optional
        Names of the interval tables to read (``"trials"`` or keys of ``nwbfile.intervals``).
    area_column, stimulus_column : str, optional
        Columns holding unit areas / stimulus names (auto-detected by default).
    position_columns : (str, str), optional
        Units-table columns whose per-area means are the area positions.
    areas : sequence of str, optional
        Areas to use as nodes, in order (default all, by first appearance).

    Raises
    ------
    GraphensError
        pynwb missing, no units table, no area labels, no stimulus intervals, bins missing.
    """
    pynwb = _require_pynwb()
    path = str(path)
    if not Path(path).is_file():
        raise GraphensError(f"NWB file {path!r} does not exist; check the path.")
    try:
        io = pynwb.NWBHDF5IO(path, "r")
        nwb = io.read()
    except (OSError, ValueError, KeyError) as err:  # h5py/hdmf: not an HDF5 or NWB file
        raise GraphensError(f"{path!r} is not a readable NWB file ({str(err)[:80]}); give an "
                            "NWB (HDF5) file with a units table.") from None
    with io:
        units = nwb.units
        if units is None or len(units) == 0:
            raise GraphensError(
                f"{path} has no units table (or an empty one): graphens needs sorted units "
                "with spike times (nwbfile.add_unit(spike_times=...)); spike-sort first.")
        if "spike_times" not in units.colnames:
            raise GraphensError(f"the units table of {path} has no spike_times column.")
        unit_areas = _unit_areas(units, area_column, path)
        spikes = [np.asarray(units["spike_times"][i]) for i in range(len(units))]
        positions = _positions(units, unit_areas, position_columns)
        rows = _interval_rows(nwb, intervals, stimulus_column, bin_size, path)
    trial = None if any(t is None for t in rows["trial"]) else rows["trial"]
    return from_spike_times(spikes, unit_areas, rows["start"], rows["stop"], rows["stimulus"],
                            frame=rows["frame"], trial=trial, areas=areas,
                            area_positions=positions, name=Path(path).stem, bin_size=bin_size)
