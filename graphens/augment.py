"""Image augmentation for CLoSeR training: random flip, rotation and zoom of whole images.

As in the paper (method.md §5), the augmentation is applied **once per image, before the image
is split into receptive fields**, so every node sees its own part of the *same* augmented view.
The caller therefore augments the full flat batch ``x [B, S]`` and only then gathers each node's
signals from it.

Everything is a single batched ``affine_grid`` + ``grid_sample`` call (bilinear,
``align_corners=False``); torchvision is not needed. Pixels that a transform pulls in from
outside the image are filled by reflection about the image border by default (``fill="reflect"``:
``d c b a | a b c d | d c b a``), the default ``fill_mode`` of the Keras layers the reference
code augments with; ``fill="zeros"`` pads with 0 instead. :class:`ImageAugmentation` packages the
options as the ``transform(x, generator)`` that :func:`graphens.train.train` applies to every
batch, on the batch's own device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from graphens.data import check_image_shape
from graphens.errors import GraphensError

__all__ = ["FILL_MODES", "ImageAugmentation", "augment_images", "transform_images"]

#: How pixels from outside the image are filled: our name -> ``grid_sample``'s padding mode.
FILL_MODES: dict[str, str] = {"reflect": "reflection", "zeros": "zeros"}


def _check_batch(x: torch.Tensor, image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    if not isinstance(x, torch.Tensor):
        raise GraphensError(f"x must be a torch.Tensor [B, S], got {type(x).__name__}.")
    if x.dim() != 2:
        raise GraphensError(
            f"x has shape {tuple(x.shape)}; augment_images expects flat channel-last images "
            "[B, H*W*C] (flatten with x.reshape(B, -1))."
        )
    h, w, c = check_image_shape(image_shape, x.shape[1])
    if not x.is_floating_point():
        raise GraphensError(
            f"x has dtype {x.dtype}; augmentation needs floating-point pixels "
            "(convert with x.float() and scale to [0, 1])."
        )
    return h, w, c


def _check_fill(fill: object) -> str:
    if fill not in FILL_MODES:
        raise GraphensError(f"fill={fill!r} is not valid; give one of {', '.join(FILL_MODES)}.")
    return FILL_MODES[fill]


def _check_ranges(flip: object, max_rotation_deg: object, max_zoom: object) -> None:
    if not isinstance(flip, bool):
        raise GraphensError(f"flip={flip!r} is not valid; give True or False.")
    if isinstance(max_rotation_deg, bool) or not (
        isinstance(max_rotation_deg, (int, float)) and math.isfinite(max_rotation_deg)
    ) or max_rotation_deg < 0:
        raise GraphensError(
            f"max_rotation_deg={max_rotation_deg!r} is not valid; give a finite angle >= 0 in "
            "degrees (0 disables rotation)."
        )
    if isinstance(max_zoom, bool) or not (
        isinstance(max_zoom, (int, float)) and math.isfinite(max_zoom)
    ) or not 0 <= max_zoom < 1:
        raise GraphensError(
            f"max_zoom={max_zoom!r} is not valid; give a relative zoom in [0, 1), e.g. 0.2 for "
            "±20 % (0 disables zoom)."
        )


def _affine_theta(
    flip: torch.Tensor, rotation_deg: torch.Tensor, zoom: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Normalised ``[B, 2, 3]`` matrices for :func:`torch.nn.functional.affine_grid`.

    In centred pixel coordinates ``u = col - (W-1)/2``, ``v = row - (H-1)/2`` the output pixel
    ``(u, v)`` reads the input at ``A (u, v)ᵀ`` with ``A = (1/s) R(θ) F``, where ``F`` negates
    ``u`` when flipping and ``R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]]``. With
    ``align_corners=False`` the normalised coordinates are ``x_n = 2u/W``, ``y_n = 2v/H``, so
    the normalised matrix is ``D⁻¹ A D`` with ``D = diag(W/2, H/2)``; it keeps rotations
    rigid on non-square images.
    """
    theta_rad = rotation_deg * (math.pi / 180.0)
    cos, sin = torch.cos(theta_rad), torch.sin(theta_rad)
    sign = 1.0 - 2.0 * flip.to(cos.dtype)  # -1 mirrors the columns
    inv_zoom = 1.0 / zoom
    aspect = width / height
    theta = torch.zeros(len(flip), 2, 3, dtype=cos.dtype, device=cos.device)
    theta[:, 0, 0] = inv_zoom * cos * sign
    theta[:, 0, 1] = -inv_zoom * sin / aspect
    theta[:, 1, 0] = inv_zoom * sin * sign * aspect
    theta[:, 1, 1] = inv_zoom * cos
    return theta


def transform_images(
    x: torch.Tensor,
    image_shape: tuple[int, int, int],
    *,
    flip: torch.Tensor,
    rotation_deg: torch.Tensor,
    zoom: torch.Tensor,
    fill: str = "reflect",
) -> torch.Tensor:
    """Apply a given flip, rotation and zoom to each image of a flat batch.

    Each transform is about the image centre. Output pixel ``p`` (centred pixel coordinates)
    takes the bilinearly interpolated input value at ``(1/s)·R(θ)·F·p``; a sample point outside
    the input is reflected back into it about the image border (``fill="reflect"``) or reads 0
    (``fill="zeros"``). A rotation by ``θ = 90°`` of a square image equals
    ``torch.rot90(img, k=1, dims=(0, 1))`` (a counter-clockwise turn on screen, rows pointing
    down); ``s > 1`` enlarges the content (zoom in) and ``s < 1`` shrinks it (zoom out).

    Parameters
    ----------
    x : torch.Tensor
        ``[B, H*W*C]`` flat channel-last images.
    image_shape : tuple of int
        ``(H, W, C)``.
    flip : torch.Tensor
        ``[B]`` bool, True to mirror the columns (horizontal flip).
    rotation_deg : torch.Tensor
        ``[B]`` rotation angles θ in degrees.
    zoom : torch.Tensor
        ``[B]`` positive zoom factors ``s``.
    fill : {"reflect", "zeros"}
        How pixels from outside the image are filled.

    Returns
    -------
    torch.Tensor
        ``[B, H*W*C]``, the dtype and device of ``x``.
    """
    h, w, c = _check_batch(x, image_shape)
    padding_mode = _check_fill(fill)
    b = x.shape[0]
    params = {"flip": flip, "rotation_deg": rotation_deg, "zoom": zoom}
    for key, value in params.items():
        if not isinstance(value, torch.Tensor) or value.shape != (b,):
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise GraphensError(
                f"{key} must be a tensor of shape [{b}] (one value per image), got {got}."
            )
    if bool((zoom <= 0).any()) or not bool(torch.isfinite(zoom).all()):
        raise GraphensError(f"zoom factors must be finite and > 0, got {zoom.tolist()}.")
    return _warp(x, (h, w, c), flip, rotation_deg, zoom, padding_mode)


def _warp(x: torch.Tensor, image_shape: tuple[int, int, int], flip: torch.Tensor,
          rotation_deg: torch.Tensor, zoom: torch.Tensor, padding_mode: str) -> torch.Tensor:
    # transform_images without its checks: the augmentation draws valid parameters, and the
    # zoom check reads the device (a host synchronisation at every training step on a GPU).
    h, w, c = image_shape
    b = x.shape[0]
    if b == 0:
        return x.clone()
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    theta = _affine_theta(
        flip.to(x.device),
        rotation_deg.to(device=x.device, dtype=torch.float64),
        zoom.to(device=x.device, dtype=torch.float64),
        h,
        w,
    ).to(dtype)
    images = x.to(dtype).reshape(b, h, w, c).permute(0, 3, 1, 2)
    grid = F.affine_grid(theta, [b, c, h, w], align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode,
                        align_corners=False)
    return out.permute(0, 2, 3, 1).reshape(b, h * w * c).to(x.dtype)


def augment_images(
    x: torch.Tensor,
    image_shape: tuple[int, int, int],
    *,
    generator: torch.Generator | None = None,
    flip: bool = True,
    max_rotation_deg: float = 7.2,
    max_zoom: float = 0.2,
    fill: str = "reflect",
) -> torch.Tensor:
    """Randomly flip, rotate and zoom each image of a flat batch (method.md §5).

    Apply it **once per image, before the image is split into receptive fields**, as in the
    paper: all nodes then see their own part of the same augmented view.

    Each image ``b`` independently gets

    * a horizontal flip (columns mirrored) with probability 0.5 if ``flip``,
    * a rotation ``θ_b ~ U(−max_rotation_deg, +max_rotation_deg)`` degrees,
    * a zoom ``s_b ~ U(1 − max_zoom, 1 + max_zoom)``, the same on both axes,

    composed about the image centre and applied with bilinear interpolation, pixels from outside
    the image filled as ``fill`` says (see :func:`transform_images`). The three parameters are
    drawn from ``generator`` (always all three, so the random stream advances the same way
    whatever the options), so a given generator state gives identical output.

    Parameters
    ----------
    x : torch.Tensor
        ``[B, H*W*C]`` float images, flattened channel-last, values in ``[0, 1]``.
    image_shape : tuple of int
        ``(H, W, C)`` with ``H*W*C == x.shape[1]``.
    generator : torch.Generator, optional
        Source of randomness (the default generator if None). Parameters are drawn on the
        generator's device and moved to ``x``'s device.
    flip : bool
        Allow random horizontal flips.
    max_rotation_deg : float
        Largest absolute rotation in degrees (``>= 0``); the paper uses 7.2° (±0.02 turns).
    max_zoom : float
        Largest relative zoom, in ``[0, 1)``; the paper uses 0.2 (±20 %).
    fill : {"reflect", "zeros"}
        How pixels from outside the image are filled: reflected (Keras' default, which the
        reference code uses) or 0.

    Returns
    -------
    torch.Tensor
        ``[B, H*W*C]``, the dtype and device of ``x``; values stay in ``[0, 1]``.

    Raises
    ------
    GraphensError
        If ``x`` is not ``[B, H*W*C]`` floats, or the ranges are invalid.
    """
    h, w, c = _check_batch(x, image_shape)
    _check_ranges(flip, max_rotation_deg, max_zoom)
    padding_mode = _check_fill(fill)
    b = x.shape[0]
    device = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(3, b, generator=generator, device=device, dtype=torch.float64).to(x.device)
    flips = (u[0] < 0.5) & bool(flip)
    rotation = (2.0 * u[1] - 1.0) * float(max_rotation_deg)
    zoom = 1.0 + (2.0 * u[2] - 1.0) * float(max_zoom)
    return _warp(x, (h, w, c), flips, rotation, zoom, padding_mode)


@dataclass(frozen=True)
class ImageAugmentation:
    """The paper's augmentation as a training transform: ``transform(x, generator) -> x``.

    Calling it is :func:`augment_images` with these options: every image of the flat batch
    ``x [B, H*W*C]`` independently gets a horizontal flip with probability 1/2 (if ``flip``), a
    rotation ``θ ~ U(−max_rotation_deg, max_rotation_deg)`` and a zoom
    ``s ~ U(1 − max_zoom, 1 + max_zoom)`` about its centre. The ``3·B`` uniform draws come from
    ``generator`` (on the generator's device, so a CPU generator gives the same parameters
    whatever the data's device); the warp itself runs on ``x.device``, so a batch on the GPU
    never visits the CPU.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W, C)`` the flat rows were made from (channel-last).
    flip : bool
        Allow random horizontal flips.
    max_rotation_deg : float
        Largest absolute rotation in degrees (``>= 0``); the paper's 7.2° is ±0.02 turns.
    max_zoom : float
        Largest relative zoom in ``[0, 1)``; the paper uses 0.2 (±20 %).
    fill : {"reflect", "zeros"}
        How pixels from outside the image are filled (default: reflected, as in the paper).

    Raises
    ------
    GraphensError
        On construction, if the shape or a range is invalid; on call, if ``x`` is not flat
        floating-point images of ``image_shape``.

    Examples
    --------
    >>> augment = ImageAugmentation((8, 8, 1))
    >>> augment(torch.rand(4, 64), torch.Generator().manual_seed(0)).shape
    torch.Size([4, 64])
    """

    image_shape: tuple[int, int, int]
    flip: bool = True
    max_rotation_deg: float = 7.2
    max_zoom: float = 0.2
    fill: str = "reflect"

    def __post_init__(self) -> None:
        try:
            signals = math.prod(int(s) for s in self.image_shape)
        except (TypeError, ValueError):
            signals = -1  # check_image_shape reports the shape itself as invalid
        object.__setattr__(self, "image_shape", check_image_shape(self.image_shape, signals))
        _check_ranges(self.flip, self.max_rotation_deg, self.max_zoom)
        _check_fill(self.fill)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment the flat batch ``x`` on its device with parameters drawn from ``generator``."""
        return augment_images(x, self.image_shape, generator=generator, flip=self.flip,
                              max_rotation_deg=self.max_rotation_deg, max_zoom=self.max_zoom,
                              fill=self.fill)
