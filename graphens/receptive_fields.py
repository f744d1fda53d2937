"""Receptive fields: which input signals each node of the ensemble sees (method.md §3).

A receptive field is a fixed set of flat signal indices per node. Inputs are flattened
channel-last, so pixel ``(row, col)`` channel ``ch`` of an ``(H, W, C)`` image is signal
``(row * W + col) * C + ch``; image-based fields select whole pixels (all ``C`` channels).

Order within a field: ascending signal index, except for the patch kinds (``"patches"``,
``"contiguous"``), which list whole patches one after another — patches in raster order of
the patch grid, each patch's pixels row by row, each pixel's channels in order — so a node's
gathered view ``[B, P·p·p·C]`` reshapes to tokens ``[B, P, p·p·C]`` (see
:func:`token_width`). The order changes no field's set of signals.

All samplers are registered in :data:`RECEPTIVE_FIELDS` and called through
:func:`sample_receptive_fields`. Randomness comes from numpy: node ``i`` uses its own generator
``np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))``, so a node's field
depends only on ``(kind, params, seed, i)`` — adding nodes keeps the fields of the existing ones.

Coordinates (``centers``) are ``(row, col)`` in pixel units where the centre of pixel
``(r, c)`` is at ``(r, c)``; the image spans ``[-0.5, H - 0.5) × [-0.5, W - 0.5)``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from graphens.data import check_image_shape
from graphens.errors import GraphensError

__all__ = [
    "PATCH_KINDS",
    "RECEPTIVE_FIELDS",
    "ReceptiveFields",
    "from_groups",
    "sample_receptive_fields",
    "token_width",
]


@dataclass
class ReceptiveFields:
    """The receptive fields of ``N`` nodes, padded to a common width.

    Parameters
    ----------
    index : torch.Tensor
        ``[N, K_max]`` int64 flat signal indices; node ``i``'s signals are
        ``index[i, mask[i]]`` (unique; sorted, or patch by patch for the patch kinds — see
        the module docstring), padded with 0 where ``mask`` is False.
    mask : torch.Tensor
        ``[N, K_max]`` bool, True where ``index`` holds a real signal.
    centers : torch.Tensor or None
        ``[N, 2]`` float32 ``(row, col)`` centre of each field in pixel coordinates, or None
        when the signals are not an image.
    kind : str
        The sampler that made the fields (a key of :data:`RECEPTIVE_FIELDS`).
    params : dict
        JSON-serialisable arguments that redraw the same fields with
        ``sample_receptive_fields(kind, **params)``.
    """

    index: torch.Tensor
    mask: torch.Tensor
    centers: torch.Tensor | None
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.index, torch.Tensor) or self.index.dtype != torch.int64:
            raise GraphensError("ReceptiveFields.index must be an int64 torch.Tensor [N, K_max].")
        if self.index.dim() != 2 or self.index.shape[0] == 0 or self.index.shape[1] == 0:
            raise GraphensError(
                f"ReceptiveFields.index has shape {tuple(self.index.shape)}; it must be "
                "[N, K_max] with N >= 1 and K_max >= 1."
            )
        if (
            not isinstance(self.mask, torch.Tensor)
            or self.mask.dtype != torch.bool
            or self.mask.shape != self.index.shape
        ):
            raise GraphensError(
                f"ReceptiveFields.mask must be a bool tensor of the shape of index "
                f"{tuple(self.index.shape)}."
            )
        empty = (~self.mask.any(dim=1)).nonzero().flatten().tolist()
        if empty:
            raise GraphensError(
                f"node(s) {empty} have an empty receptive field; every node needs at least one "
                "signal."
            )
        if bool((self.index[~self.mask] != 0).any()):
            raise GraphensError("ReceptiveFields.index must be 0 wherever mask is False.")
        if bool((self.index < 0).any()):
            raise GraphensError("ReceptiveFields.index contains negative signal indices.")
        if self.centers is not None and (
            not isinstance(self.centers, torch.Tensor)
            or self.centers.shape != (self.index.shape[0], 2)
        ):
            raise GraphensError(
                f"ReceptiveFields.centers must be None or a [{self.index.shape[0]}, 2] tensor."
            )

    @property
    def num_nodes(self) -> int:
        """Number of nodes ``N``."""
        return int(self.index.shape[0])

    @property
    def sizes(self) -> torch.Tensor:
        """``[N]`` int64 number of signals of each node (``mask.sum(1)``)."""
        return self.mask.sum(dim=1)

    @property
    def max_size(self) -> int:
        """``K_max``, the width of ``index`` (the largest field)."""
        return int(self.index.shape[1])

    def to_lists(self) -> list[list[int]]:
        """Each node's signal indices as a plain list, without padding."""
        return [row[m].tolist() for row, m in zip(self.index, self.mask, strict=True)]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _pack(
    fields: Sequence[np.ndarray],
    kind: str,
    params: dict[str, Any],
    centers: np.ndarray | None,
) -> ReceptiveFields:
    """Pad per-node index arrays into ``index``/``mask`` tensors."""
    k_max = max(len(f) for f in fields)
    index = torch.zeros(len(fields), k_max, dtype=torch.int64)
    mask = torch.zeros(len(fields), k_max, dtype=torch.bool)
    for i, f in enumerate(fields):
        index[i, : len(f)] = torch.as_tensor(np.asarray(f, dtype=np.int64))
        mask[i, : len(f)] = True
    cen = None if centers is None else torch.as_tensor(np.asarray(centers), dtype=torch.float32)
    return ReceptiveFields(index=index, mask=mask, centers=cen, kind=kind, params=params)


def _node_rng(seed: int, node: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(node,)))


def _pixels_to_signals(pixels: np.ndarray, channels: int) -> np.ndarray:
    """Sorted flat signal indices of all channels of the given pixel indices."""
    pix = np.sort(np.asarray(pixels, dtype=np.int64))
    return (pix[:, None] * channels + np.arange(channels, dtype=np.int64)[None, :]).ravel()


def _pixel_coords(height: int, width: int) -> np.ndarray:
    """``[H*W, 2]`` (row, col) coordinates of the pixel centres, in flat pixel order."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([rows.ravel(), cols.ravel()], axis=1).astype(np.float64)


def _uniform_centre(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A point uniform in the image, ``[-0.5, H-0.5) × [-0.5, W-0.5)``."""
    return np.array([rng.uniform(0.0, height), rng.uniform(0.0, width)]) - 0.5


def _require_image(kind: str, image_shape: tuple[int, int, int] | None) -> tuple[int, int, int]:
    if image_shape is None:
        raise GraphensError(
            f"receptive field kind {kind!r} needs an image (image_shape=(H, W, C)), but the data "
            "has image_shape=None; use --rf random (kind='random') or 'groups' for non-image "
            "signals."
        )
    return image_shape


def _patch_grid(kind: str, image_shape: tuple[int, int, int], patch: Any) -> tuple[int, int]:
    if isinstance(patch, bool) or not isinstance(patch, (int, np.integer)) or patch < 1:
        raise GraphensError(
            f"patch={patch!r} is not valid for {kind!r} fields; give the patch side in pixels "
            "as a positive integer, e.g. 4."
        )
    h, w, _ = image_shape
    if h % patch or w % patch:
        divisors = [p for p in range(1, min(h, w) + 1) if h % p == 0 and w % p == 0]
        raise GraphensError(
            f"image of shape {tuple(image_shape)} cannot be cut into {patch}×{patch} patches "
            f"(H and W must be divisible by patch); use one of patch={divisors}."
        )
    return h // patch, w // patch


def _num_patches(image_shape: tuple[int, int, int], fraction: float, patch: int) -> int:
    h, w, _ = image_shape
    total = (h // patch) * (w // patch)
    return min(total, max(1, round(h * w * fraction / patch**2)))


def _patch_pixels(patch_ids: np.ndarray, grid_w: int, width: int, patch: int) -> np.ndarray:
    """Flat pixel indices of all pixels of the given patches."""
    pr, pc = np.divmod(np.asarray(patch_ids, dtype=np.int64), grid_w)
    offsets = np.arange(patch, dtype=np.int64)
    rows = pr[:, None, None] * patch + offsets[None, :, None]
    cols = pc[:, None, None] * patch + offsets[None, None, :]
    return (rows * width + cols).ravel()


def _patch_signals(patch_ids: np.ndarray, grid_w: int, width: int, patch: int,
                   channels: int) -> np.ndarray:
    """Flat signal indices of whole patches, patch by patch (the token order).

    Patches in ascending id (raster order of the patch grid); within a patch, pixels row by
    row and each pixel's ``C`` channels in order. So the first ``p·p·C`` indices are the first
    patch's ``(row, col, channel)`` values in channel-last order, the next ``p·p·C`` the second
    patch's, and so on.
    """
    pixels = _patch_pixels(np.sort(np.asarray(patch_ids, dtype=np.int64)), grid_w, width, patch)
    return (pixels[:, None] * channels + np.arange(channels, dtype=np.int64)[None, :]).ravel()


def _positive_float(name: str, value: Any, kind: str, example: str, allow_zero: bool) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value)) and (float(value) >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise GraphensError(
            f"{name}={value!r} is not valid for {kind!r} fields; give a finite number {bound}, "
            f"e.g. {name}={example}."
        )
    return float(value)


# --------------------------------------------------------------------------------------------
# Samplers (registered in RECEPTIVE_FIELDS)
# --------------------------------------------------------------------------------------------


def _random(
    num_nodes: int,
    num_signals: int,
    *,
    fraction: float,
    image_shape: tuple[int, int, int] | None,
    seed: int,
) -> tuple[list[np.ndarray], np.ndarray | None, dict[str, Any]]:
    """Uniform random ``k``-subsets of the ``S`` signals, ``k = int(S·d)``.

    For images, ``centers`` is the mean ``(row, col)`` of the pixels of the chosen signals
    (close to the image centre: a random field is not local); otherwise None.
    """
    k = int(num_signals * fraction)
    fields = [
        np.sort(_node_rng(seed, i).choice(num_signals, size=k, replace=False))
        for i in range(num_nodes)
    ]
    centers = None
    if image_shape is not None:
        h, w, c = image_shape
        coords = _pixel_coords(h, w)
        centers = np.stack([coords[f // c].mean(axis=0) for f in fields])
    return fields, centers, {}


def _gaussian(
    num_nodes: int,
    num_signals: int,
    *,
    fraction: float,
    image_shape: tuple[int, int, int] | None,
    seed: int,
    sigma: float = 2.0,
) -> tuple[list[np.ndarray], np.ndarray | None, dict[str, Any]]:
    r"""Gaussian-local pixels around a random centre (the paper's main fields).

    The centre ``μ`` is uniform in the image; ``k_p = max(1, int(H·W·d))`` pixels are drawn
    without replacement with probability :math:`\propto \exp(-\lVert p - μ \rVert^2 / 2σ^2)`
    (``p`` the pixel centre); each pixel brings all its ``C`` channels, so a field has
    ``k_p·C`` signals. Sequential weighted sampling without replacement is done exactly with
    the Gumbel-top-k trick on the log-weights (``argtop_k(log w_p + G_p)``, ``G_p`` i.i.d.
    Gumbel), which never underflows for far pixels of large images.
    """
    h, w, c = _require_image("gaussian", image_shape)
    sigma = _positive_float("sigma", sigma, "gaussian", "2.0", allow_zero=False)
    kp = min(h * w, max(1, int(h * w * fraction)))
    coords = _pixel_coords(h, w)
    fields, centers = [], []
    for i in range(num_nodes):
        rng = _node_rng(seed, i)
        centre = _uniform_centre(rng, h, w)
        r2 = ((coords - centre) ** 2).sum(axis=1)
        keys = -r2 / (2.0 * sigma**2) + rng.gumbel(size=h * w)
        chosen = np.argpartition(-keys, kp - 1)[:kp]
        fields.append(_pixels_to_signals(chosen, c))
        centers.append(centre)
    return fields, np.stack(centers), {"sigma": sigma}


def _patches(
    num_nodes: int,
    num_signals: int,
    *,
    fraction: float,
    image_shape: tuple[int, int, int] | None,
    seed: int,
    patch: int = 4,
) -> tuple[list[np.ndarray], np.ndarray | None, dict[str, Any]]:
    """Whole ``p×p`` patches chosen uniformly at random.

    The image is cut into ``(H/p)·(W/p)`` patches; each node takes
    ``max(1, round(H·W·d / p²))`` distinct patches with all their pixels and channels, listed
    patch by patch (:func:`_patch_signals`). ``centers`` is the mean ``(row, col)`` of the
    chosen pixels.
    """
    image_shape = _require_image("patches", image_shape)
    h, w, c = image_shape
    grid_h, grid_w = _patch_grid("patches", image_shape, patch)
    n_patches = _num_patches(image_shape, fraction, patch)
    coords = _pixel_coords(h, w)
    fields, centers = [], []
    for i in range(num_nodes):
        rng = _node_rng(seed, i)
        ids = rng.choice(grid_h * grid_w, size=n_patches, replace=False)
        pixels = _patch_pixels(ids, grid_w, w, patch)
        fields.append(_patch_signals(ids, grid_w, w, patch, c))
        centers.append(coords[pixels].mean(axis=0))
    return fields, np.stack(centers), {"patch": int(patch)}


def _contiguous(
    num_nodes: int,
    num_signals: int,
    *,
    fraction: float,
    image_shape: tuple[int, int, int] | None,
    seed: int,
    patch: int = 4,
    jitter: float = 0.5,
) -> tuple[list[np.ndarray], np.ndarray | None, dict[str, Any]]:
    r"""The patches nearest a random centre, with ragged edges.

    Same patch grid and number of patches as ``"patches"``. The centre ``μ`` is uniform in the
    image; patch ``q`` (centre ``c_q``) gets the score
    :math:`\lVert c_q - μ \rVert / p + \text{jitter} \cdot ε_q`, ``ε_q ~ N(0, 1)`` (distances in
    patch widths), and the patches with the smallest scores are chosen. ``jitter = 0`` gives
    the exact nearest patches. Signals are listed patch by patch (:func:`_patch_signals`).
    ``centers`` is ``μ``.
    """
    image_shape = _require_image("contiguous", image_shape)
    h, w, c = image_shape
    grid_h, grid_w = _patch_grid("contiguous", image_shape, patch)
    jitter = _positive_float("jitter", jitter, "contiguous", "0.5", allow_zero=True)
    n_patches = _num_patches(image_shape, fraction, patch)
    patch_centres = _pixel_coords(grid_h, grid_w) * patch + (patch - 1) / 2.0
    fields, centers = [], []
    for i in range(num_nodes):
        rng = _node_rng(seed, i)
        centre = _uniform_centre(rng, h, w)
        dist = np.sqrt(((patch_centres - centre) ** 2).sum(axis=1)) / patch
        score = dist + jitter * rng.standard_normal(len(dist))
        ids = np.argsort(score, kind="stable")[:n_patches]
        fields.append(_patch_signals(ids, grid_w, w, patch, c))
        centers.append(centre)
    return fields, np.stack(centers), {"patch": int(patch), "jitter": jitter}


def _groups(
    num_nodes: int,
    num_signals: int,
    *,
    fraction: float,
    image_shape: tuple[int, int, int] | None,
    seed: int,
    groups: Sequence[Sequence[int]] | None = None,
) -> tuple[list[np.ndarray], np.ndarray | None, dict[str, Any]]:
    """Explicit groups of signals, one per node (e.g. the neurons of one brain area)."""
    if groups is None:
        raise GraphensError(
            "receptive field kind 'groups' needs groups=[[signals of node 0], [node 1], ...]."
        )
    fields = _check_groups(groups, num_signals)
    if len(fields) != num_nodes:
        raise GraphensError(
            f"groups has {len(fields)} groups but num_nodes={num_nodes}; give one group per "
            f"node (or num_nodes={len(fields)})."
        )
    return fields, None, {"groups": [f.tolist() for f in fields]}


def _check_groups(groups: Sequence[Sequence[int]], num_signals: int) -> list[np.ndarray]:
    sequence_like = isinstance(groups, Sequence | np.ndarray | torch.Tensor)
    if isinstance(groups, (str, bytes)) or not sequence_like:
        raise GraphensError(
            f"groups must be a sequence of index sequences, got {type(groups).__name__}."
        )
    if len(groups) == 0:
        raise GraphensError("groups is empty; give at least one group of signal indices.")
    fields = []
    for node, group in enumerate(groups):
        if isinstance(group, torch.Tensor):
            group = group.detach().cpu().numpy()
        arr = np.asarray(group)
        if arr.size == 0:
            raise GraphensError(
                f"group {node} (node {node}) is empty; every node needs at least one signal."
            )
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise GraphensError(
                f"group {node} must be a flat sequence of integer signal indices, got an array "
                f"of dtype {arr.dtype} and shape {arr.shape}."
            )
        out = arr[(arr < 0) | (arr >= num_signals)]
        if out.size:
            raise GraphensError(
                f"group {node} contains the signal index {int(out[0])}, outside [0, "
                f"{num_signals}); indices must address the {num_signals} input signals."
            )
        uniq = np.unique(arr)
        if len(uniq) != len(arr):
            values, counts = np.unique(arr, return_counts=True)
            raise GraphensError(
                f"group {node} lists signal {int(values[counts > 1][0])} more than once; give "
                "each signal at most once per group."
            )
        fields.append(uniq.astype(np.int64))
    return fields


def from_groups(groups: Sequence[Sequence[int]], num_signals: int) -> ReceptiveFields:
    """Receptive fields from explicit groups of signals, one group per node.

    Groups may differ in size (e.g. one brain area per node); shorter ones are padded with 0
    and masked out. Indices are sorted within each group.

    Parameters
    ----------
    groups : sequence of sequences of int
        ``groups[i]`` are node ``i``'s signal indices, each in ``[0, num_signals)``, no
        duplicates.
    num_signals : int
        Number of input signals ``S``.

    Returns
    -------
    ReceptiveFields
        ``kind="groups"``, ``centers=None``.

    Raises
    ------
    GraphensError
        For no groups, an empty group, non-integer or out-of-range indices, or duplicates.
    """
    num_signals = _check_count("num_signals", num_signals)
    fields = _check_groups(groups, num_signals)
    params = {
        "num_nodes": len(fields),
        "num_signals": num_signals,
        "groups": [f.tolist() for f in fields],
    }
    return _pack(fields, "groups", params, None)


#: Receptive-field samplers by name. Each is called as
#: ``fn(num_nodes, num_signals, *, fraction, image_shape, seed, **params)`` and returns
#: ``(fields, centers, resolved_params)``; use :func:`sample_receptive_fields` to call them.
RECEPTIVE_FIELDS: dict[str, Callable[..., Any]] = {
    "random": _random,
    "gaussian": _gaussian,
    "contiguous": _contiguous,
    "patches": _patches,
    "groups": _groups,
}

#: The kinds whose fields are whole patches listed patch by patch (token encoders need them).
PATCH_KINDS = ("contiguous", "patches")

_COMMON_ARGS = {"num_nodes", "num_signals", "fraction", "image_shape", "seed"}


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise GraphensError(f"{name}={value!r} is not valid; give a positive integer.")
    return int(value)


def sample_receptive_fields(
    kind: str,
    num_nodes: int,
    num_signals: int,
    *,
    fraction: float = 0.1,
    image_shape: tuple[int, int, int] | None = None,
    seed: int = 0,
    **params: Any,
) -> ReceptiveFields:
    r"""Draw the receptive fields of ``num_nodes`` nodes (method.md §3).

    Each node's field is drawn independently (fields of different nodes may overlap), without
    replacement within a node, and sorted (the patch kinds: patch by patch, see the module
    docstring). With ``S`` signals and fraction ``d`` a field holds
    about :math:`k = \lfloor S d \rfloor` signals:

    * ``"random"``: a uniform random ``k``-subset of the signals.
    * ``"gaussian"`` (image): :math:`k_p = \max(1, \lfloor H W d \rfloor)` pixels around a random
      centre, drawn with probability :math:`\propto e^{-r^2 / 2\sigma^2}`; ``sigma`` (default
      2.0 px). A field has ``k_p·C`` signals.
    * ``"patches"`` (image): :math:`\max(1, \mathrm{round}(H W d / p^2))` whole ``p×p`` patches
      chosen uniformly; ``patch`` (default 4) must divide H and W.
    * ``"contiguous"`` (image): as many patches, the ones nearest a random centre, with
      Gaussian noise of ``jitter`` patch widths (default 0.5) on the distances.
    * ``"groups"``: explicit ``groups=[[...], ...]``, one per node (``fraction`` is ignored);
      see :func:`from_groups`.

    Parameters
    ----------
    kind : str
        A key of :data:`RECEPTIVE_FIELDS`.
    num_nodes : int
        Number of nodes ``N >= 1``.
    num_signals : int
        Number of input signals ``S``.
    fraction : float
        Receptive-field fraction ``d`` in ``(0, 1]``, with ``int(S·d) >= 1``.
    image_shape : tuple of int, optional
        ``(H, W, C)`` with ``H·W·C == S`` for image data (required by the image kinds).
    seed : int
        Seed (``>= 0``); the same seed and arguments give the same fields, and node ``i``'s
        field does not depend on ``num_nodes``.
    **params
        Kind-specific options (``sigma``, ``patch``, ``jitter``, ``groups``).

    Returns
    -------
    ReceptiveFields
        Its ``params`` hold every argument above (defaults filled in), so
        ``sample_receptive_fields(fields.kind, **fields.params)`` redraws the same fields.

    Raises
    ------
    GraphensError
        For an unknown kind or option, invalid counts, a fraction outside ``(0, 1]`` or too
        small for one signal, a missing or inconsistent ``image_shape``, or bad kind options.
    """
    if kind not in RECEPTIVE_FIELDS:
        known = ", ".join(sorted(RECEPTIVE_FIELDS))
        raise GraphensError(f"unknown receptive field kind {kind!r}; known kinds: {known}.")
    sampler = RECEPTIVE_FIELDS[kind]
    num_nodes = _check_count("num_nodes", num_nodes)
    num_signals = _check_count("num_signals", num_signals)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GraphensError(f"seed={seed!r} is not valid; give an integer >= 0.")
    seed = int(seed)
    accepted = set(inspect.signature(sampler).parameters) - _COMMON_ARGS
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise GraphensError(
            f"receptive field kind {kind!r} does not take the option(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(sorted(accepted)) or 'no extra options'}."
        )
    if image_shape is not None:
        image_shape = check_image_shape(image_shape, num_signals)
    valid_fraction = isinstance(fraction, (int, float, np.integer, np.floating)) and not (
        isinstance(fraction, bool)
    )
    if not valid_fraction or not 0.0 < float(fraction) <= 1.0:
        raise GraphensError(
            f"fraction d={fraction!r} is not valid; the receptive-field fraction must be in "
            "(0, 1], e.g. 0.1."
        )
    fraction = float(fraction)
    if kind != "groups":
        k = int(num_signals * fraction)
        if k < 1:
            raise GraphensError(
                f"fraction d={fraction} of S={num_signals} signals gives k = int(S*d) = {k} "
                f"signals per node; use a larger fraction (at least {1.0 / num_signals:.3g})."
            )
    fields, centers, resolved = sampler(
        num_nodes,
        num_signals,
        fraction=fraction,
        image_shape=image_shape,
        seed=seed,
        **params,
    )
    full_params: dict[str, Any] = {
        "num_nodes": num_nodes,
        "num_signals": num_signals,
        "fraction": fraction,
        "image_shape": None if image_shape is None else list(image_shape),
        "seed": seed,
        **resolved,
    }
    return _pack(fields, kind, full_params, centers)


def token_width(kind: str, params: dict[str, Any]) -> int:
    """Values per token, ``p·p·C``, of patch fields (``kind`` in :data:`PATCH_KINDS`).

    ``params`` are the fields' ``params`` (as stored in ``graph.receptive_field["params"]``):
    ``patch`` and ``image_shape``. A node's gathered view ``[B, K]`` is then ``K / (p·p·C)``
    whole patches, one after another, and reshapes to tokens ``[B, K / (p·p·C), p·p·C]``.

    Raises
    ------
    GraphensError
        When ``kind`` does not cut the image into whole patches.
    """
    if kind not in PATCH_KINDS:
        raise GraphensError(
            f"receptive field kind {kind!r} does not cut the image into whole patches, which a "
            "token encoder (vit-lite) needs; use --rf patches or --rf contiguous "
            "(kind='patches' or 'contiguous').")
    patch = int(params.get("patch", 4))
    channels = int(params["image_shape"][2])
    return patch * patch * channels
