"""Allen Brain Observatory Visual Coding Neuropixels sessions (allensdk), the paper's data.

:func:`load_allen` reproduces the selection of method.md §7: the presentations of
``natural_movie_one`` and ``natural_movie_three`` (one row per movie frame, so one bin per
frame; a new trial wherever the frame stops advancing), spike counts of every unit in each
frame, units labelled by ``ecephys_structure_acronym``, and the ``max_areas`` (10) areas with the
most units as nodes, placed at the mean CCF (anterior-posterior, left-right) coordinate of their
units. The decoded variable is the movie.

allensdk is optional (``pip install 'graphens[allen]'``) and downloads a session (~2 GB) into
``cache_dir`` on first use, so it needs network access once. A session NWB file already on
disk can be read without allensdk: ``nwb:PATH`` with
``intervals=["natural_movie_one_presentations", "natural_movie_three_presentations"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphens.errors import GraphensError
from graphens.neural.recordings import Recording, from_spike_times, select_areas

PAPER_STIMULI = ("natural_movie_one", "natural_movie_three")
PAPER_AREAS = 10


def _require_allensdk() -> Any:
    try:
        from allensdk.brain_observatory.ecephys.ecephys_project_cache import (
            EcephysProjectCache,
        )
    except ImportError:
        raise GraphensError(
            "allen:SESSION needs allensdk, which is not installed: pip install "
            "'graphens[allen]' (it downloads the session once, so it needs network access). "
            "Offline, read a session NWB file with --dataset nwb:PATH instead.") from None
    return EcephysProjectCache


def load_allen(session: str | int, *, cache_dir: str | Path = "~/.cache/graphens/allen",
               stimuli: Sequence[str] = PAPER_STIMULI, max_areas: int | None = PAPER_AREAS,
               areas: Sequence[str] | None = None) -> Recording:
    """One Visual Coding Neuropixels session as a per-frame :class:`Recording`.

    Parameters
    ----------
    session : str or int
        The ecephys session id (e.g. ``715093703``).
    cache_dir : path
        allensdk's cache (manifest and downloaded NWB files).
    stimuli : sequence of str
        Stimulus names whose presentations become bins (paper: the two natural movies).
    max_areas : int, optional
        Keep the areas with the most units (paper: 10); None keeps all.
    areas : sequence of str, optional
        Explicit areas (structure acronyms) instead, in node order.
    """
    try:
        session_id = int(session)
    except (TypeError, ValueError):
        raise GraphensError(
            f"allen:{session} is not a session id; give the integer ecephys session id, e.g. "
            "allen:715093703.") from None
    cache_class = _require_allensdk()
    manifest = Path(cache_dir).expanduser() / "manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    cache = cache_class.from_warehouse(manifest=str(manifest))
    data = cache.get_session_data(session_id)
    table = data.get_stimulus_table(list(stimuli))
    if len(table) == 0:
        raise GraphensError(
            f"session {session_id} shows none of the stimuli {list(stimuli)}; pick a "
            "brain_observatory_1.1 session or other stimuli.")
    frame = np.asarray([_to_float(v) for v in table["frame"]])
    keep = np.isfinite(frame) & (frame >= 0)
    table = table[keep]
    units = data.units
    unit_ids = list(units.index)
    unit_areas = [str(a) for a in units["ecephys_structure_acronym"]]
    spikes = [np.asarray(data.spike_times[u]) for u in unit_ids]
    positions: dict[str, tuple[float, float]] | None = None
    columns = ("anterior_posterior_ccf_coordinate", "left_right_ccf_coordinate")
    if all(c in units.columns for c in columns):
        positions = {}
        for area, rows in units.groupby("ecephys_structure_acronym"):
            xy = rows[list(columns)].to_numpy(dtype=np.float64)
            xy = xy[np.isfinite(xy).all(1)]
            if len(xy):
                positions[str(area)] = (float(xy[:, 0].mean()), float(xy[:, 1].mean()))
    recording = from_spike_times(
        spikes, unit_areas, table["start_time"].to_numpy(), table["stop_time"].to_numpy(),
        list(table["stimulus_name"]), frame=frame[keep].astype(np.int64),
        stimulus_names=list(stimuli), name=f"allen-{session_id}")
    if positions is not None and all(a in positions for a in recording.areas):
        recording.area_positions = positions
    return select_areas(recording, areas=areas, max_areas=None if areas else max_areas)


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
