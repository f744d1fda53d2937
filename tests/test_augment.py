"""Tests for graphens.augment: whole-image flip / rotation / zoom before the field split."""

from __future__ import annotations

import pytest
import torch

from graphens.augment import ImageAugmentation, augment_images, transform_images
from graphens.errors import GraphensError


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _as_images(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    return x.reshape(x.shape[0], *shape)


def _no_op(b: int) -> dict[str, torch.Tensor]:
    return {
        "flip": torch.zeros(b, dtype=torch.bool),
        "rotation_deg": torch.zeros(b),
        "zoom": torch.ones(b),
    }


def test_shape_dtype_and_range_preserved():
    shape = (8, 6, 3)
    x = torch.rand(16, 8 * 6 * 3)
    out = augment_images(x, shape, generator=_gen(0))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6
    x64 = x.double()
    assert augment_images(x64, shape, generator=_gen(0)).dtype == torch.float64


def test_disabled_augmentation_is_identity():
    shape = (7, 5, 2)
    x = torch.rand(9, 70)
    out = augment_images(x, shape, generator=_gen(1), flip=False, max_rotation_deg=0, max_zoom=0)
    assert torch.allclose(out, x, atol=1e-5)


def test_same_generator_state_same_output_and_different_seed_differs():
    shape = (10, 10, 1)
    x = torch.rand(12, 100)
    a = augment_images(x, shape, generator=_gen(5))
    b = augment_images(x, shape, generator=_gen(5))
    c = augment_images(x, shape, generator=_gen(6))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    # the generator advances: two successive calls give different views
    g = _gen(5)
    first = augment_images(x, shape, generator=g)
    assert not torch.allclose(first, augment_images(x, shape, generator=g))


def test_each_image_gets_its_own_transform():
    shape = (12, 12, 1)
    one = torch.rand(1, 144)
    x = one.repeat(32, 1)
    out = augment_images(x, shape, generator=_gen(0))
    distinct = {tuple(row.round(decimals=4).tolist()) for row in out}
    assert len(distinct) == 32


def test_flip_only_mirrors_columns_and_about_half_are_flipped():
    shape = (6, 5, 3)
    x = torch.rand(400, 90)
    out = augment_images(x, shape, generator=_gen(2), max_rotation_deg=0, max_zoom=0)
    imgs, outs = _as_images(x, shape), _as_images(out, shape)
    mirrored = (outs - imgs.flip(2)).abs().amax(dim=(1, 2, 3)) < 1e-5
    same = (outs - imgs).abs().amax(dim=(1, 2, 3)) < 1e-5
    assert bool((mirrored | same).all())  # every image is either untouched or mirrored
    assert 150 < int(mirrored.sum()) < 250  # p = 0.5


def test_transform_flip_is_exact_column_mirror_channel_last():
    shape = (4, 5, 2)
    x = torch.arange(40, dtype=torch.float32).reshape(1, 40) / 40
    params = _no_op(1)
    params["flip"] = torch.tensor([True])
    out = _as_images(transform_images(x, shape, **params), shape)[0]
    img = _as_images(x, shape)[0]
    for row in range(4):
        for col in range(5):
            for ch in range(2):
                assert out[row, col, ch] == pytest.approx(float(img[row, 4 - col, ch]), abs=1e-6)


def test_rotation_90_matches_rot90_and_is_rigid_on_non_square_images():
    square = (6, 6, 3)
    x = torch.rand(2, 108)
    params = _no_op(2)
    params["rotation_deg"] = torch.tensor([90.0, 180.0])
    out = _as_images(transform_images(x, square, **params), square)
    imgs = _as_images(x, square)
    assert torch.allclose(out[0], torch.rot90(imgs[0], k=1, dims=(0, 1)), atol=1e-5)
    assert torch.allclose(out[1], torch.rot90(imgs[1], k=2, dims=(0, 1)), atol=1e-5)
    # a 5x7 image: a dot one column right of the centre moves to one row above it, unblurred
    dot = torch.zeros(1, 5, 7, 1)
    dot[0, 2, 4, 0] = 1.0
    p = _no_op(1)
    p["rotation_deg"] = torch.tensor([90.0])
    moved = transform_images(dot.reshape(1, -1), (5, 7, 1), **p, fill="zeros").reshape(5, 7)
    expected = torch.zeros(5, 7)
    expected[1, 3] = 1.0
    assert torch.allclose(moved, expected, atol=1e-5)


def test_zoom_in_keeps_a_constant_image_and_zoom_out_pads_with_zeros():
    shape = (8, 8, 1)
    x = torch.full((2, 64), 0.7)
    p = _no_op(2)
    p["zoom"] = torch.tensor([1.3, 0.7])
    out = _as_images(transform_images(x, shape, **p, fill="zeros"), shape)
    assert torch.allclose(out[0], torch.full_like(out[0], 0.7), atol=1e-5)  # zoom in
    assert float(out[1][0, 0, 0]) == 0.0  # zoom out: corners come from outside the image
    assert float(out[1][4, 4, 0]) == pytest.approx(0.7, abs=1e-5)


def test_reflect_fill_mirrors_the_image_about_its_border():
    # columns hold their index; a 2x zoom-out reads column c' = 2c - 1.5 (c = 0..3), i.e.
    # -1.5, 0.5, 2.5, 4.5: reflected about the borders -0.5 and 3.5 they become 0.5 and 2.5
    shape = (4, 4, 1)
    x = torch.arange(4.0).repeat(4, 1).reshape(1, 16)
    p = _no_op(1)
    p["zoom"] = torch.tensor([0.5])
    reflect = _as_images(transform_images(x, shape, **p), shape)[0, :, :, 0]
    zeros = _as_images(transform_images(x, shape, **p, fill="zeros"), shape)[0, :, :, 0]
    assert torch.allclose(reflect, torch.tensor([0.5, 0.5, 2.5, 2.5]).repeat(4, 1), atol=1e-5)
    # zero padding: row 1 reads row 0.5, inside; its outer columns read a pixel outside, 0
    assert torch.allclose(zeros[1], torch.tensor([0.0, 0.5, 2.5, 0.0]), atol=1e-5)
    assert float(zeros[0].abs().sum()) == 0.0  # row 0 reads row -1.5, outside
    # any rotation and zoom of a constant image stays constant: nothing comes from outside
    c = torch.full((16, 25), 0.3)
    out = augment_images(c, (5, 5, 1), generator=_gen(7), max_rotation_deg=45.0, max_zoom=0.5)
    assert torch.allclose(out, c, atol=1e-5)
    assert ImageAugmentation((5, 5, 1)).fill == "reflect"


def test_bad_fill_is_one_line_error():
    x = torch.rand(2, 16)
    with pytest.raises(GraphensError, match=r"fill='wrap'.*reflect, zeros"):
        augment_images(x, (4, 4, 1), fill="wrap")
    with pytest.raises(GraphensError, match="fill="):
        ImageAugmentation((4, 4, 1), fill="nearest")


def test_random_parameters_stay_within_limits():
    # a centred dot stays near the centre under flips, ±7.2° rotations and ±20 % zoom
    shape = (15, 15, 1)
    x = torch.zeros(64, 15, 15, 1)
    x[:, 7, 7] = 1.0
    out = _as_images(augment_images(x.reshape(64, -1), shape, generator=_gen(3)), shape)
    assert torch.allclose(out[:, 7, 7, 0], torch.ones(64), atol=1e-5)
    # small rotations: a dot 6 px right of centre moves less than 6*sin(7.2°)*1.2 + 1 px
    x = torch.zeros(64, 15, 15, 1)
    x[:, 7, 13] = 1.0
    out = _as_images(augment_images(x.reshape(64, -1), shape, generator=_gen(4), flip=False), shape)
    rows = torch.arange(15, dtype=torch.float32)
    mass = out[..., 0]
    row_centre = (mass.sum(2) * rows).sum(1) / mass.sum((1, 2))
    assert float((row_centre - 7).abs().max()) < 6 * 0.1253 * 1.2 + 0.5


def test_empty_batch():
    out = augment_images(torch.zeros(0, 12), (2, 2, 3), generator=_gen(0))
    assert out.shape == (0, 12)


@pytest.mark.parametrize(
    ("x", "shape", "kwargs", "pattern"),
    [
        (torch.rand(2, 10), (3, 3, 1), {},
         r"image_shape=\(3, 3, 1\) has H\*W\*C = 9 signals but the data has 10"),
        (torch.rand(2, 3, 3), (3, 3, 1), {}, "flat channel-last"),
        (torch.rand(2, 9), (3, 3), {}, "image_shape=.*three positive integers"),
        (torch.ones(2, 9, dtype=torch.int64), (3, 3, 1), {}, "floating-point"),
        (torch.rand(2, 9), (3, 3, 1), {"max_zoom": 1.0}, r"max_zoom=1.0.*\[0, 1\)"),
        (torch.rand(2, 9), (3, 3, 1), {"max_rotation_deg": -5}, "max_rotation_deg=-5"),
    ],
)
def test_bad_input_raises(x, shape, kwargs, pattern):
    with pytest.raises(GraphensError, match=pattern):
        augment_images(x, shape, generator=_gen(0), **kwargs)


def test_transform_rejects_bad_parameters():
    x = torch.rand(2, 9)
    p = _no_op(3)
    with pytest.raises(GraphensError, match=r"flip must be a tensor of shape \[2\]"):
        transform_images(x, (3, 3, 1), **p)
    p = _no_op(2)
    p["zoom"] = torch.tensor([1.0, 0.0])
    with pytest.raises(GraphensError, match="zoom factors must be finite and > 0"):
        transform_images(x, (3, 3, 1), **p)


def test_image_augmentation_is_augment_images_with_its_options():
    shape = (6, 5, 2)
    x = torch.rand(7, 60)
    for options in ({}, {"flip": False, "max_rotation_deg": 30.0, "max_zoom": 0.5}):
        transform = ImageAugmentation(shape, **options)
        assert torch.equal(transform(x, _gen(3)), augment_images(x, shape, generator=_gen(3),
                                                                  **options))
    assert ImageAugmentation([6, 5, 2]).image_shape == (6, 5, 2)


def test_image_augmentation_draws_from_the_generator_and_advances_it():
    transform = ImageAugmentation((4, 4, 1))
    x = torch.rand(5, 16)
    g, reference = _gen(0), _gen(0)
    first = transform(x, g)
    augment_images(x, (4, 4, 1), generator=reference)
    assert torch.equal(g.get_state(), reference.get_state())  # 3·B draws, as augment_images
    assert not torch.equal(first, transform(x, g))


DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.mark.parametrize("device", DEVICES)
def test_image_augmentation_runs_on_the_data_device(device):
    """Parameters come from the CPU generator; the warp happens where the batch lives."""
    transform = ImageAugmentation((8, 8, 3))
    x = torch.rand(6, 192)
    out = transform(x.to(device), _gen(11))
    assert out.device.type == device and out.shape == x.shape
    expected = augment_images(x, (8, 8, 3), generator=_gen(11))
    torch.testing.assert_close(out.cpu(), expected, rtol=0, atol=1e-5 if device != "cpu" else 0)


@pytest.mark.parametrize(
    ("args", "kwargs", "pattern"),
    [
        (((3, 3),), {}, "image_shape=.*three positive integers"),
        (((3, 0, 1),), {}, "image_shape=.*three positive integers"),
        ((None,), {}, "image_shape=None"),
        (((3, 3, 1),), {"max_zoom": 1.0}, r"max_zoom=1.0.*\[0, 1\)"),
        (((3, 3, 1),), {"max_rotation_deg": float("nan")}, "max_rotation_deg=nan"),
        (((3, 3, 1),), {"flip": "yes"}, "flip='yes'.*True or False"),
    ],
)
def test_image_augmentation_is_checked_on_construction(args, kwargs, pattern):
    with pytest.raises(GraphensError, match=pattern):
        ImageAugmentation(*args, **kwargs)


def test_image_augmentation_checks_the_batch_on_call():
    with pytest.raises(GraphensError, match="H\\*W\\*C = 9 signals but the data has 10"):
        ImageAugmentation((3, 3, 1))(torch.rand(2, 10), _gen(0))
