r"""Population recordings: the data model, trial splits, windows and per-area receptive fields.

A :class:`Recording` is binned activity, ``counts[t, u]`` for time bin ``t`` and unit ``u``
(spike counts, or calcium traces), with

* ``unit_areas[u]`` — the brain area of every unit; ``areas`` orders them (one node per area);
* ``stimulus[t]`` — which stimulus (e.g. which movie) bin ``t`` belongs to, ``-1`` for none;
* ``trial[t]`` — the repeat of that stimulus (``0, 1, ...`` per stimulus);
* ``frame[t]`` — the frame (or time bin) of the stimulus shown in bin ``t``.

A *trial* is a maximal run of consecutive bins with the same ``(stimulus, trial)``. A sample is
a window of ``T`` consecutive bins inside one trial (never across two). Windows become flat
rows so that the engine's trainer and receptive fields apply unchanged: with ``U`` units,

.. math::

    x_w[\,t U + u\,] = \mathrm{counts}[s_w + t,\ u], \qquad t = 0 \dots T-1,

bin-major. Node ``i`` (area ``a_i`` with units ``u_1 < \dots < u_{k_i}``) sees the
``T \cdot K_{max}`` signals ``index[i, t K_{max} + k] = t U + u_k`` — its own units in every
bin, each bin padded to the largest area ``K_{max}`` and masked — so a per-bin encoder can
reshape its input to ``[B \cdot T, K_{max}]``.

Splits are by trial: trial ``r`` goes to the set whose residues contain ``r mod 5``, the paper's
``{0, 2, 4}`` train, ``{1}`` validation, ``{3}`` test (:data:`PAPER_SPLIT`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from graphens.errors import GraphensError
from graphens.receptive_fields import ReceptiveFields

__all__ = [
    "PAPER_SPLIT",
    "NeuralData",
    "Recording",
    "area_fields",
    "from_arrays",
    "from_spike_times",
    "make_windows",
    "select_areas",
    "split_trials",
]

#: The paper's split: residues of the trial index modulo :data:`SPLIT_MODULUS` per set.
PAPER_SPLIT: dict[str, tuple[int, ...]] = {"train": (0, 2, 4), "val": (1,), "test": (3,)}
SPLIT_MODULUS = 5
SPLITS = ("train", "val", "test")


# --------------------------------------------------------------------------------------------
# The data model
# --------------------------------------------------------------------------------------------


@dataclass
class Recording:
    """Binned population activity with areas and stimulus annotations.

    Parameters
    ----------
    counts : np.ndarray
        ``[bins, units]`` activity (spike counts or calcium traces), finite.
    unit_areas : sequence of str
        ``[units]`` brain-area label of every unit (non-empty strings).
    stimulus : np.ndarray
        ``[bins]`` int stimulus id in ``[0, len(stimulus_names))``, ``-1`` where no stimulus
        is shown (those bins are never sampled).
    trial : np.ndarray
        ``[bins]`` int repeat index of the stimulus (``>= 0`` where ``stimulus >= 0``).
    frame : np.ndarray
        ``[bins]`` int frame / time bin of the stimulus.
    stimulus_names : list of str
        Name of every stimulus id.
    areas : list of str, optional
        The areas used as nodes, in node order; default every area in order of first
        appearance among the units.
    area_positions : dict, optional
        ``area -> (x, y)`` anatomical coordinates, used as node positions (``pos``) so that
        spatial topologies apply.
    name : str
        A label for results.
    bin_size : float, optional
        Seconds per bin, when known.
    """

    counts: np.ndarray = field(repr=False)
    unit_areas: list[str] = field(repr=False)
    stimulus: np.ndarray = field(repr=False)
    trial: np.ndarray = field(repr=False)
    frame: np.ndarray = field(repr=False)
    stimulus_names: list[str] = field(default_factory=list)
    areas: list[str] | None = None
    area_positions: dict[str, tuple[float, float]] | None = None
    name: str = "recording"
    bin_size: float | None = None

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts)
        if counts.ndim != 2 or 0 in counts.shape:
            raise GraphensError(
                f"counts must be a [bins, units] array with both sizes >= 1; got shape "
                f"{counts.shape}.")
        if not np.issubdtype(counts.dtype, np.number):
            raise GraphensError(f"counts must be numeric; got dtype {counts.dtype}.")
        counts = counts.astype(np.float32)
        bad = ~np.isfinite(counts)
        if bad.any():
            rows, cols = np.nonzero(bad)
            raise GraphensError(
                f"counts has {int(bad.sum())} NaN or infinite value(s), first at bin {rows[0]}, "
                f"unit {cols[0]}: fill them (e.g. np.nan_to_num or interpolation) or drop those "
                "bins / units before building the recording.")
        self.counts = counts
        n_bins, n_units = counts.shape
        self.unit_areas = [_area_label(a, u) for u, a in enumerate(self.unit_areas)]
        if len(self.unit_areas) != n_units:
            raise GraphensError(
                f"unit_areas has {len(self.unit_areas)} labels but counts has {n_units} units; "
                "give one brain-area label per unit (column of counts).")
        self.stimulus = _int_array("stimulus", self.stimulus, n_bins)
        self.trial = _int_array("trial", self.trial, n_bins)
        self.frame = _int_array("frame", self.frame, n_bins)
        self.stimulus_names = [str(s) for s in self.stimulus_names]
        shown = self.stimulus >= 0
        if not shown.any():
            raise GraphensError(
                "no bin has a stimulus label (stimulus is -1 everywhere): give each bin the id "
                "of the stimulus shown, e.g. from the stimulus intervals of the recording.")
        top = int(self.stimulus.max())
        if top >= len(self.stimulus_names):
            raise GraphensError(
                f"stimulus id {top} has no name: stimulus_names lists "
                f"{len(self.stimulus_names)} stimuli; give one name per id.")
        if (self.stimulus < -1).any():
            raise GraphensError("stimulus ids must be >= 0, or -1 for bins without a stimulus.")
        if (self.trial[shown] < 0).any():
            raise GraphensError(
                "trial indices must be >= 0 wherever a stimulus is shown; number the repeats "
                "of each stimulus 0, 1, 2, ...")
        present = list(dict.fromkeys(self.unit_areas))
        if self.areas is None:
            self.areas = present
        else:
            self.areas = [str(a) for a in self.areas]
            empty = [a for a in self.areas if a not in set(present)]
            if empty:
                raise GraphensError(
                    f"area(s) {empty} have zero units in this recording: drop them from areas "
                    f"(areas with units: {present}).")
            if len(set(self.areas)) != len(self.areas):
                raise GraphensError(f"areas {self.areas} lists an area twice; list each once.")
        if len(self.areas) < 2:
            raise GraphensError(
                f"the recording has {len(self.areas)} area(s) ({self.areas}); one node per area "
                "needs at least 2 areas.")
        if self.area_positions is not None:
            missing = [a for a in self.areas if a not in self.area_positions]
            if missing:
                raise GraphensError(
                    f"area_positions has no position for area(s) {missing}; give (x, y) for "
                    "every area or none at all (area_positions=None).")

    @property
    def num_bins(self) -> int:
        """Number of time bins."""
        return int(self.counts.shape[0])

    @property
    def num_units(self) -> int:
        """Number of units (all areas)."""
        return int(self.counts.shape[1])

    def area_units(self) -> list[np.ndarray]:
        """Sorted unit (column) indices of every area, in the order of :attr:`areas`."""
        labels = np.asarray(self.unit_areas, dtype=object)
        return [np.flatnonzero(labels == area) for area in self.areas]

    def positions(self) -> np.ndarray | None:
        """``[N, 2]`` positions of the areas in node order, or None."""
        if self.area_positions is None:
            return None
        return np.asarray([self.area_positions[a] for a in self.areas], dtype=np.float32)

    def trials(self) -> np.ndarray:
        """``[R, 4]`` int rows ``(stimulus, trial, start, stop)`` of every trial (bins
        ``start <= t < stop``), in time order."""
        key = np.stack([self.stimulus, self.trial])
        change = np.flatnonzero((key[:, 1:] != key[:, :-1]).any(0)) + 1
        starts = np.concatenate([[0], change])
        stops = np.concatenate([change, [self.num_bins]])
        keep = self.stimulus[starts] >= 0
        starts, stops = starts[keep], stops[keep]
        return np.stack([self.stimulus[starts], self.trial[starts], starts, stops], axis=1)

    def __repr__(self) -> str:
        return (f"Recording(name={self.name!r}, bins={self.num_bins}, units={self.num_units}, "
                f"areas={self.areas}, stimuli={self.stimulus_names})")


def _area_label(label: Any, unit: int) -> str:
    missing = label is None or (isinstance(label, float) and np.isnan(label))
    text = "" if missing else str(label).strip()
    if not text or text.lower() in ("nan", "none"):
        raise GraphensError(
            f"unit {unit} has no brain-area label ({label!r}): label every unit with its area, "
            "or drop unlabelled units before building the recording.")
    return text


def _int_array(name: str, values: Any, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise GraphensError(f"{name} has shape {arr.shape}; expected one value per bin, ({n},).")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.bool_)):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)):
            raise GraphensError(
                f"{name} must hold integers (one per bin); got dtype {arr.dtype} with missing or "
                "non-finite values: label every bin (use -1 for bins without a stimulus).")
        if not np.all(arr == np.round(arr)):
            raise GraphensError(f"{name} must hold whole numbers; got fractional values.")
    return arr.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Building recordings
# --------------------------------------------------------------------------------------------


def _encode_stimuli(stimulus: Any, names: Sequence[str] | None,
                    ) -> tuple[np.ndarray, list[str]]:
    """Per-bin stimulus labels (names or ids; None / NaN / "" = none) to ids and names."""
    raw = list(stimulus)
    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and np.isnan(v)) or (
            isinstance(v, str) and not v.strip()) or (
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v < 0)
    if all(missing(v) for v in raw):
        raise GraphensError(
            "stimulus labels are missing (every bin is None, NaN, empty or -1): give the "
            "stimulus shown in each bin, e.g. stimulus=['movie1', 'movie1', ...].")
    numeric = all(missing(v) or (isinstance(v, (int, np.integer)) and not isinstance(v, bool))
                  for v in raw)
    if numeric:
        ids = np.array([-1 if missing(v) else int(v) for v in raw], dtype=np.int64)
        if names is None:
            names = [str(i) for i in range(int(ids.max()) + 1)]
        return ids, [str(n) for n in names]
    labels = [None if missing(v) else str(v) for v in raw]
    order = list(names) if names is not None else list(
        dict.fromkeys(v for v in labels if v is not None))
    lookup = {n: i for i, n in enumerate(order)}
    unknown = sorted({v for v in labels if v is not None and v not in lookup})
    if unknown:
        raise GraphensError(
            f"stimulus label(s) {unknown[:5]} are not in stimulus_names {order}; add them.")
    ids = np.array([-1 if v is None else lookup[v] for v in labels], dtype=np.int64)
    return ids, [str(n) for n in order]


def _infer_trials(stimulus: np.ndarray, frame: np.ndarray | None) -> np.ndarray:
    """Trial index per bin: a trial ends where the stimulus changes or the frame does not
    advance; trials of each stimulus are numbered 0, 1, ... in time order."""
    n = len(stimulus)
    new = np.ones(n, dtype=bool)
    new[1:] = stimulus[1:] != stimulus[:-1]
    if frame is not None:
        new[1:] |= frame[1:] <= frame[:-1]
    run = np.cumsum(new) - 1
    trial = np.zeros(n, dtype=np.int64)
    seen: dict[int, int] = {}
    run_trial: list[int] = []
    for start in np.flatnonzero(new):
        s = int(stimulus[start])
        run_trial.append(seen.get(s, 0))
        seen[s] = run_trial[-1] + 1
    trial[:] = np.asarray(run_trial, dtype=np.int64)[run]
    return trial


def _frames_in_runs(stimulus: np.ndarray, trial: np.ndarray) -> np.ndarray:
    """Position of every bin inside its (stimulus, trial) run."""
    n = len(stimulus)
    new = np.ones(n, dtype=bool)
    new[1:] = (stimulus[1:] != stimulus[:-1]) | (trial[1:] != trial[:-1])
    starts = np.flatnonzero(new)
    run = np.cumsum(new) - 1
    return np.arange(n) - starts[run]


def from_arrays(counts: Any, unit_areas: Sequence[str], stimulus: Sequence[Any], *,
                trial: Sequence[int] | None = None, frame: Sequence[int] | None = None,
                stimulus_names: Sequence[str] | None = None, areas: Sequence[str] | None = None,
                area_positions: Mapping[str, Sequence[float]] | None = None,
                name: str = "arrays", bin_size: float | None = None) -> Recording:
    """A :class:`Recording` from plain arrays.

    Parameters
    ----------
    counts : array-like
        ``[bins, units]`` activity.
    unit_areas : sequence of str
        Area of every unit.
    stimulus : sequence
        Per bin: a stimulus name or a non-negative id; None, NaN, ``""`` or ``-1`` = no
        stimulus.
    trial : sequence of int, optional
        Repeat index per bin; default inferred (a new trial where the stimulus changes or,
        with ``frame``, where the frame does not advance; numbered per stimulus).
    frame : sequence of int, optional
        Frame per bin; default the position of the bin inside its trial.
    stimulus_names, areas, area_positions, name, bin_size
        As in :class:`Recording`; ``stimulus_names`` defaults to the names in order of first
        appearance (or ``"0", "1", ...`` for ids).
    """
    ids, names = _encode_stimuli(stimulus, stimulus_names)
    frame_arr = None if frame is None else _int_array("frame", frame, len(ids))
    trial_arr = (_infer_trials(ids, frame_arr) if trial is None
                 else _int_array("trial", trial, len(ids)))
    if frame_arr is None:
        frame_arr = _frames_in_runs(ids, trial_arr)
    positions = None if area_positions is None else {
        str(k): (float(v[0]), float(v[1])) for k, v in area_positions.items()}
    return Recording(np.asarray(counts), list(unit_areas), ids, trial_arr, frame_arr, names,
                     areas=None if areas is None else list(areas), area_positions=positions,
                     name=name, bin_size=bin_size)


def from_spike_times(spike_times: Sequence[Any], unit_areas: Sequence[str], starts: Any,
                     stops: Any, stimulus: Sequence[Any], *, frame: Sequence[int] | None = None,
                     trial: Sequence[int] | None = None, **kwargs: Any) -> Recording:
    """A :class:`Recording` from spike times and one interval per bin.

    Bin ``t`` counts, for every unit, the spikes in ``[starts[t], stops[t])`` (seconds). Rows
    are sorted by start time first. Used by the NWB and Allen loaders.

    Parameters
    ----------
    spike_times : sequence of arrays
        Spike times of every unit, in seconds.
    unit_areas : sequence of str
        Area of every unit.
    starts, stops : array-like
        ``[bins]`` bin edges in seconds, ``stops > starts``.
    stimulus, frame, trial, **kwargs
        As in :func:`from_arrays`.
    """
    starts = np.asarray(starts, dtype=np.float64)
    stops = np.asarray(stops, dtype=np.float64)
    if starts.ndim != 1 or starts.shape != stops.shape or not len(starts):
        raise GraphensError(
            f"starts and stops must be two [bins] arrays of the same length >= 1; got "
            f"{starts.shape} and {stops.shape}.")
    if not (np.isfinite(starts).all() and np.isfinite(stops).all() and (stops > starts).all()):
        raise GraphensError("every bin needs finite times with stop > start.")
    if len(spike_times) != len(unit_areas):
        raise GraphensError(
            f"{len(spike_times)} spike trains but {len(unit_areas)} area labels; give one "
            "label per unit.")
    order = np.argsort(starts, kind="stable")
    starts, stops = starts[order], stops[order]
    counts = np.zeros((len(starts), len(spike_times)), dtype=np.float32)
    for unit, times in enumerate(spike_times):
        times = np.sort(np.asarray(times, dtype=np.float64).ravel())
        counts[:, unit] = np.searchsorted(times, stops) - np.searchsorted(times, starts)
    stimulus = [list(stimulus)[i] for i in order]
    frame = None if frame is None else np.asarray(frame)[order]
    trial = None if trial is None else np.asarray(trial)[order]
    return from_arrays(counts, unit_areas, stimulus, frame=frame, trial=trial, **kwargs)


def select_areas(recording: Recording, areas: Sequence[str] | None = None,
                 max_areas: int | None = None) -> Recording:
    """Keep some areas (their units only), in the given order.

    Parameters
    ----------
    recording : Recording
    areas : sequence of str, optional
        The areas to keep, in node order; default the recording's.
    max_areas : int, optional
        Keep only the ``max_areas`` areas with the most units (ties: earlier first), in
        their original order (the paper keeps 10 areas per session).
    """
    chosen = list(recording.areas if areas is None else areas)
    unknown = [a for a in chosen if a not in set(recording.unit_areas)]
    if unknown:
        raise GraphensError(
            f"area(s) {unknown} have zero units in {recording.name!r}; choose among "
            f"{list(dict.fromkeys(recording.unit_areas))}.")
    if max_areas is not None:
        if isinstance(max_areas, bool) or not isinstance(max_areas, int) or max_areas < 2:
            raise GraphensError(f"max_areas={max_areas!r} must be an integer >= 2.")
        sizes = {a: sum(1 for u in recording.unit_areas if u == a) for a in chosen}
        ranked = sorted(chosen, key=lambda a: (-sizes[a], chosen.index(a)))[:max_areas]
        chosen = [a for a in chosen if a in set(ranked)]
    keep = np.flatnonzero(np.isin(np.asarray(recording.unit_areas, dtype=object), chosen))
    positions = recording.area_positions
    if positions is not None:
        positions = {a: positions[a] for a in chosen if a in positions}
    return Recording(recording.counts[:, keep], [recording.unit_areas[u] for u in keep],
                     recording.stimulus, recording.trial, recording.frame,
                     list(recording.stimulus_names), areas=chosen, area_positions=positions,
                     name=recording.name, bin_size=recording.bin_size)


# --------------------------------------------------------------------------------------------
# Receptive fields: one node per area
# --------------------------------------------------------------------------------------------


def area_fields(units: Sequence[Sequence[int]], num_units: int, bins: int, *,
                names: Sequence[str] | None = None, positions: Any = None) -> ReceptiveFields:
    r"""One receptive field per area over windows of ``bins`` bins (bin-major layout).

    Node ``i`` with units ``u_1 < ... < u_{k_i}`` gets ``index[i, t K + k] = t U + u_k`` for
    ``t < bins``, ``k < k_i`` (``K`` the largest area, ``U = num_units``); the rest is padding
    (index 0, mask False). Every bin of a node's view is therefore its ``k_i`` units followed
    by ``K - k_i`` zeros, so ``view.reshape(B, bins, K)`` is the node's per-bin input.

    Parameters
    ----------
    units : sequence of sequences of int
        Unit (column) indices of every area, one per node.
    num_units : int
        ``U``, the number of units (columns per bin) of the flat windows.
    bins : int
        ``T``, bins per window.
    names : sequence of str, optional
        Area names, recorded in ``params``.
    positions : array-like, optional
        ``[N, 2]`` area positions, stored as the fields' ``centers`` (the graph's ``pos``).

    Returns
    -------
    ReceptiveFields
        ``kind="areas"``; ``params`` holds ``areas``, ``units``, ``num_units`` and ``bins``.
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise GraphensError(f"bins={bins!r} must be an integer >= 1 (the paper uses T = 2).")
    groups = [np.unique(np.asarray(u, dtype=np.int64)) for u in units]
    for node, group in enumerate(groups):
        label = names[node] if names is not None else node
        if group.size == 0:
            raise GraphensError(
                f"area {label!r} (node {node}) has zero units: drop it, every node needs at "
                "least one unit.")
        if group[0] < 0 or group[-1] >= num_units:
            raise GraphensError(
                f"area {label!r} lists unit {int(group[-1])}, outside [0, {num_units}).")
    width = max(len(g) for g in groups)
    index = torch.zeros(len(groups), bins * width, dtype=torch.int64)
    mask = torch.zeros(len(groups), bins * width, dtype=torch.bool)
    for node, group in enumerate(groups):
        k = len(group)
        for t in range(bins):
            index[node, t * width:t * width + k] = torch.as_tensor(t * num_units + group)
            mask[node, t * width:t * width + k] = True
    centers = None
    if positions is not None:
        centers = torch.as_tensor(np.asarray(positions, dtype=np.float32))
        if centers.shape != (len(groups), 2):
            raise GraphensError(
                f"positions has shape {tuple(centers.shape)}; give one (x, y) per area, "
                f"[{len(groups)}, 2].")
    params = {"areas": None if names is None else [str(n) for n in names],
              "units": [g.tolist() for g in groups], "num_units": int(num_units),
              "bins": int(bins)}
    return ReceptiveFields(index=index, mask=mask, centers=centers, kind="areas", params=params)


# --------------------------------------------------------------------------------------------
# Splits and windows
# --------------------------------------------------------------------------------------------


def split_trials(trial: Any, split: Mapping[str, Sequence[int]] | None = None,
                 modulus: int = SPLIT_MODULUS) -> dict[str, np.ndarray]:
    """Assign trials to train / val / test by their index modulo ``modulus``.

    Parameters
    ----------
    trial : array-like
        Trial (repeat) index of each trial.
    split : mapping, optional
        ``{"train": residues, "val": residues, "test": residues}``; default
        :data:`PAPER_SPLIT` (``{0, 2, 4}`` / ``{1}`` / ``{3}`` modulo 5). ``val`` may be
        omitted or empty.
    modulus : int
        The modulus (paper: 5).

    Returns
    -------
    dict
        ``name -> bool mask`` over the trials.

    Raises
    ------
    GraphensError
        When a residue is listed twice or train or test would be empty.
    """
    split = dict(PAPER_SPLIT if split is None else split)
    unknown = sorted(set(split) - set(SPLITS))
    if unknown or "train" not in split or "test" not in split:
        raise GraphensError(
            f"split {split} must map 'train', 'test' (and optionally 'val') to residues "
            f"modulo {modulus}, e.g. {PAPER_SPLIT}.")
    if isinstance(modulus, bool) or not isinstance(modulus, int) or modulus < 2:
        raise GraphensError(f"modulus={modulus!r} must be an integer >= 2 (paper: 5).")
    listed = [int(r) % modulus for residues in split.values() for r in residues]
    if len(listed) != len(set(listed)):
        raise GraphensError(f"split {split} gives a residue to two sets; give each set its own.")
    trial = np.asarray(trial, dtype=np.int64)
    residue = trial % modulus
    masks = {name: np.isin(residue, [int(r) % modulus for r in split.get(name, ())])
             for name in SPLITS}
    for name in ("train", "test"):
        if not masks[name].any():
            raise GraphensError(
                f"the split leaves the {name} set empty: trial indices {sorted(set(trial))[:10]} "
                f"have no residue in {tuple(split[name])} modulo {modulus}; record at least "
                f"{modulus} trials per stimulus, or pass split= with residues that occur.")
    return masks


@dataclass
class NeuralData:
    """Windows of ``T`` bins, split by trial, ready for the engine.

    ``x_*`` are flat ``[n, T·U]`` float32 windows (bin-major, see the module docstring),
    ``y_*`` the stimulus of each window, ``frame_*`` the frame of its last bin and
    ``segment_*`` that frame's time bin: ``floor(G · frame / F_s)`` for a stimulus of ``F_s``
    frames cut into ``G = frame_groups`` segments. ``fields`` are the per-area receptive fields.
    """

    name: str
    x_train: torch.Tensor = field(repr=False)
    y_train: torch.Tensor = field(repr=False)
    frame_train: torch.Tensor = field(repr=False)
    segment_train: torch.Tensor = field(repr=False)
    x_val: torch.Tensor = field(repr=False)
    y_val: torch.Tensor = field(repr=False)
    frame_val: torch.Tensor = field(repr=False)
    segment_val: torch.Tensor = field(repr=False)
    x_test: torch.Tensor = field(repr=False)
    y_test: torch.Tensor = field(repr=False)
    frame_test: torch.Tensor = field(repr=False)
    segment_test: torch.Tensor = field(repr=False)
    fields: ReceptiveFields = field(repr=False)
    areas: list[str] = field(default_factory=list)
    stimulus_names: list[str] = field(default_factory=list)
    bins: int = 2
    num_units: int = 0
    frame_groups: int = 10

    @property
    def num_signals(self) -> int:
        """``T·U``, the width of a window."""
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int:
        """Number of stimuli."""
        return len(self.stimulus_names)

    @property
    def units_per_area(self) -> list[int]:
        """Units of every node's area."""
        return [len(u) for u in self.fields.params["units"]]

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: areas, units, windows per split, stimuli."""
        return {"name": self.name, "areas": list(self.areas),
                "units_per_area": self.units_per_area, "num_units": self.num_units,
                "bins": self.bins, "stimuli": list(self.stimulus_names),
                "frame_groups": self.frame_groups,
                "windows": {s: int(getattr(self, f"x_{s}").shape[0]) for s in SPLITS}}


def make_windows(recording: Recording, bins: int = 2, *,
                 split: Mapping[str, Sequence[int]] | None = None,
                 modulus: int = SPLIT_MODULUS, standardize: bool = True,
                 frame_groups: int = 10) -> NeuralData:
    """Cut a recording into windows of ``bins`` consecutive bins, split by trial.

    Parameters
    ----------
    recording : Recording
    bins : int
        ``T``, bins per window (paper: 2). Every trial must have at least ``T`` bins.
    split, modulus
        Trial split, see :func:`split_trials`.
    standardize : bool
        z-score every unit with the mean and standard deviation of the training bins (a
        unit silent in training is only centred).
    frame_groups : int
        ``G``, segments per stimulus for the time-bin labels ``segment_*``.

    Returns
    -------
    NeuralData
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise GraphensError(f"bins={bins!r} must be an integer >= 1 (the paper uses T = 2).")
    if isinstance(frame_groups, bool) or not isinstance(frame_groups, int) or frame_groups < 1:
        raise GraphensError(f"frame_groups={frame_groups!r} must be an integer >= 1.")
    trials = recording.trials()
    lengths = trials[:, 3] - trials[:, 2]
    short = np.flatnonzero(lengths < bins)
    if short.size:
        s, r = trials[short[0], :2]
        raise GraphensError(
            f"windows of bins={bins} are longer than trial {int(r)} of stimulus "
            f"{recording.stimulus_names[int(s)]!r}, which has {int(lengths[short[0]])} bin(s): "
            f"use bins <= {int(lengths.min())} or drop the short trials.")
    masks = split_trials(trials[:, 1], split, modulus)
    counts = recording.counts
    if standardize:
        rows = np.concatenate([np.arange(a, b) for a, b in trials[masks["train"], 2:4]])
        mean = counts[rows].mean(0)
        std = counts[rows].std(0)
        std = np.where(std > 1e-8, std, 1.0).astype(np.float32)
        counts = (counts - mean) / std
    frames_per_stimulus = np.ones(len(recording.stimulus_names), dtype=np.int64)
    for s in range(len(recording.stimulus_names)):
        shown = recording.stimulus == s
        if shown.any():
            frames_per_stimulus[s] = int(recording.frame[shown].max()) + 1
    out: dict[str, Any] = {}
    n_units = recording.num_units
    for name in SPLITS:
        starts = [np.arange(a, b - bins + 1) for a, b in trials[masks[name], 2:4]]
        start = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
        last = start + bins - 1
        window = start[:, None] + np.arange(bins)[None, :]
        x = counts[window].reshape(len(start), bins * n_units)
        frame = recording.frame[last]
        stim = recording.stimulus[last]
        segment = np.minimum(frame * frame_groups // frames_per_stimulus[stim], frame_groups - 1)
        out[f"x_{name}"] = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32)
        out[f"y_{name}"] = torch.as_tensor(stim, dtype=torch.int64)
        out[f"frame_{name}"] = torch.as_tensor(frame, dtype=torch.int64)
        out[f"segment_{name}"] = torch.as_tensor(np.maximum(segment, 0), dtype=torch.int64)
    fields = area_fields(recording.area_units(), n_units, int(bins), names=recording.areas,
                         positions=recording.positions())
    return NeuralData(name=recording.name, fields=fields, areas=list(recording.areas),
                      stimulus_names=list(recording.stimulus_names), bins=int(bins),
                      num_units=n_units, frame_groups=frame_groups, **out)
