r"""Synthetic multi-area populations: Poisson spike counts driven by shared latent "movies".

Every stimulus ``s`` (a "movie" of ``F`` frames) is a smooth latent trajectory
:math:`x_s(f) \in \mathbb{R}^L`, the same on every trial. Each area ``a`` also has a private,
equally smooth latent :math:`\eta_{a}(f) \in \mathbb{R}^L`, redrawn on every trial (and
running through the gaps between trials). Unit ``u`` of area ``a`` fires

.. math::

    n_u(f) \sim \mathrm{Poisson}\Big(\exp\big(b_u + c_a\, w_u^\top x_s(f)
                                     + \sigma\, v_u^\top \eta_a(f)\big)\Big),

with random loadings :math:`w_u, v_u \sim \mathcal{N}(0, I/L)`, baseline
:math:`b_u = \log r + 0.3\,\epsilon_u`, the *coupling* :math:`c_a` (how much area ``a``
carries the stimulus) and the private *noise* :math:`\sigma`. Latents are white noise smoothed
with a Gaussian of ``timescale`` frames and scaled to unit variance, so both the stimulus and
the nuisance are slow: a purely temporal objective can latch onto either, while only the
stimulus is shared across areas. Trials are shown in interleaved order (trial 0 of every
stimulus, then trial 1, ...), separated by ``gap`` bins without a stimulus.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphens.errors import GraphensError
from graphens.neural.recordings import Recording


def _smooth_latent(rng: np.random.Generator, frames: int, dim: int, timescale: float,
                   ) -> np.ndarray:
    """``[frames, dim]`` white noise smoothed by a Gaussian of ``timescale`` frames,
    standardised per dimension."""
    pad = int(np.ceil(3 * timescale))
    noise = rng.standard_normal((frames + 2 * pad, dim))
    if timescale > 0:
        taps = np.arange(-pad, pad + 1)
        kernel = np.exp(-0.5 * (taps / timescale) ** 2)
        noise = np.stack([np.convolve(noise[:, k], kernel, mode="same") for k in range(dim)], 1)
    latent = noise[pad:pad + frames]
    latent = latent - latent.mean(0)
    return latent / np.maximum(latent.std(0), 1e-8)


def _per_area(name: str, value: float | Sequence[float], areas: int, low: float) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(areas, float(arr))
    if arr.shape != (areas,) or not np.isfinite(arr).all() or (arr < low).any():
        raise GraphensError(
            f"{name}={value!r} must be a number >= {low} or one per area ({areas} values).")
    return arr


def synthetic_population(*, areas: int = 6, units: int | Sequence[int] = 24, stimuli: int = 3,
                         frames: int = 40, trials: int = 10, latent_dim: int = 3,
                         coupling: float | Sequence[float] = 1.0, noise: float = 1.0,
                         rate: float = 1.0, timescale: float = 3.0, gap: int = 2,
                         seed: int = 0) -> Recording:
    r"""A multi-area Poisson population watching repeated movies (see the module docstring).

    Parameters
    ----------
    areas : int
        Number of areas ``A >= 2`` (nodes), named ``area0 ...``, at seeded random positions
        in the unit square (their "anatomical coordinates").
    units : int or sequence of int
        Units per area: one number for all, or one per area (areas may differ).
    stimuli : int
        Number of movies (the decoded classes), ``>= 2``.
    frames : int
        Frames (bins) per movie.
    trials : int
        Repeats of every movie (the paper's split needs >= 4: train, val and test residues).
    latent_dim : int
        ``L``, dimension of the stimulus and of the private latents.
    coupling : float or sequence of float
        :math:`c_a >= 0`: gain of the stimulus drive in each area (0 = the area ignores the
        stimulus).
    noise : float
        :math:`\sigma >= 0`: gain of each area's private latent.
    rate : float
        Typical mean count per bin :math:`r > 0`.
    timescale : float
        Smoothness of all latents, in frames (>= 0).
    gap : int
        Bins without a stimulus between trials (>= 0).
    seed : int
        Seed of everything (loadings, movies, trials, spikes).

    Returns
    -------
    Recording
        ``counts`` are spike counts; ``stimulus_names`` are ``movie0 ...``.
    """
    for name, value, low in (("areas", areas, 2), ("stimuli", stimuli, 2), ("frames", frames, 2),
                             ("trials", trials, 1), ("latent_dim", latent_dim, 1),
                             ("gap", gap, 0), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise GraphensError(f"{name}={value!r} must be an integer >= {low}.")
    sizes = np.asarray(units).astype(np.int64) if not isinstance(units, (int, np.integer)) \
        else np.full(areas, int(units))
    if sizes.shape != (areas,) or (sizes < 1).any():
        raise GraphensError(
            f"units={units!r}: give a number of units >= 1 for all areas, or one per area "
            f"({areas} values); an area with zero units cannot be a node.")
    couplings = _per_area("coupling", coupling, areas, 0.0)
    for name, value in (("noise", noise), ("timescale", timescale)):
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
            raise GraphensError(f"{name}={value!r} must be a finite number >= 0.")
    if not (isinstance(rate, (int, float)) and np.isfinite(rate) and rate > 0):
        raise GraphensError(f"rate={rate!r} must be a finite number > 0.")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    movies = [_smooth_latent(rng, frames, latent_dim, timescale) for _ in range(stimuli)]
    area_of_unit = np.repeat(np.arange(areas), sizes)
    n_units = int(sizes.sum())
    w = rng.standard_normal((n_units, latent_dim)) / np.sqrt(latent_dim)
    v = rng.standard_normal((n_units, latent_dim)) / np.sqrt(latent_dim)
    base = np.log(rate) + 0.3 * rng.standard_normal(n_units)
    positions = rng.uniform(0.0, 1.0, size=(areas, 2))
    # Bin layout: [trial r of movie s, gap] for r, then s (interleaved repeats).
    blocks = [(s, r) for r in range(trials) for s in range(stimuli)]
    n_bins = len(blocks) * (frames + gap)
    stim = np.full(n_bins, -1, dtype=np.int64)
    trial = np.zeros(n_bins, dtype=np.int64)
    frame = np.zeros(n_bins, dtype=np.int64)
    drive = np.zeros((n_bins, latent_dim))
    for k, (s, r) in enumerate(blocks):
        start = k * (frames + gap)
        stim[start:start + frames] = s
        trial[start:start + frames] = r
        frame[start:start + frames] = np.arange(frames)
        drive[start:start + frames] = movies[s]
    private = np.stack([_smooth_latent(rng, n_bins, latent_dim, timescale)
                        for _ in range(areas)])  # [A, bins, L]
    log_rate = (base[None, :]
                + couplings[area_of_unit][None, :] * (drive @ w.T)
                + noise * np.einsum("tul,ul->tu", private[area_of_unit].transpose(1, 0, 2), v))
    counts = rng.poisson(np.exp(np.minimum(log_rate, 10.0))).astype(np.float32)
    names = [f"area{a}" for a in range(areas)]
    return Recording(counts, [names[a] for a in area_of_unit], stim, trial, frame,
                     [f"movie{s}" for s in range(stimuli)], areas=names,
                     area_positions={n: (float(p[0]), float(p[1]))
                                     for n, p in zip(names, positions, strict=True)},
                     name="synthetic", bin_size=None)
