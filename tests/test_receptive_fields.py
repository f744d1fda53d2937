"""Tests for graphens.receptive_fields: sizes, locality, determinism, padding, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from graphens.errors import GraphensError
from graphens.receptive_fields import (
    PATCH_KINDS,
    RECEPTIVE_FIELDS,
    ReceptiveFields,
    from_groups,
    sample_receptive_fields,
    token_width,
)

MNIST = (28, 28, 1)
CIFAR = (32, 32, 3)
IMAGE_KINDS = ["random", "gaussian", "patches", "contiguous"]


def _pixels(fields: ReceptiveFields, image_shape) -> list[np.ndarray]:
    """Per node, the sorted unique flat pixel indices of its signals."""
    c = image_shape[2]
    return [np.unique(np.asarray(f) // c) for f in fields.to_lists()]


def _coords(pixels: np.ndarray, width: int) -> np.ndarray:
    return np.stack([pixels // width, pixels % width], axis=1).astype(float)


def _check_structure(fields: ReceptiveFields, num_signals: int, ordered: bool = True) -> None:
    assert fields.index.dtype == torch.int64 and fields.mask.dtype == torch.bool
    assert fields.index.shape == fields.mask.shape
    assert fields.max_size == fields.index.shape[1]
    assert torch.equal(fields.sizes, fields.mask.sum(1))
    assert bool((fields.index[~fields.mask] == 0).all())
    for idx in fields.to_lists():
        assert len(idx) > 0
        assert len(idx) == len(set(idx))  # no repeats
        if ordered:
            assert idx == sorted(idx)
        assert idx[0] >= 0 and idx[-1] < num_signals


def test_registry_keys():
    assert set(RECEPTIVE_FIELDS) == {"random", "gaussian", "contiguous", "patches", "groups"}


@pytest.mark.parametrize("kind", IMAGE_KINDS)
@pytest.mark.parametrize("shape", [MNIST, CIFAR])
def test_structure_and_params_redraw(kind, shape):
    s = int(np.prod(shape))
    fields = sample_receptive_fields(kind, 6, s, fraction=0.1, image_shape=shape, seed=3)
    assert fields.kind == kind and fields.num_nodes == 6
    _check_structure(fields, s, ordered=kind not in PATCH_KINDS)
    assert fields.centers is not None and fields.centers.shape == (6, 2)
    assert fields.centers.dtype == torch.float32
    json.dumps(fields.params)  # serialisable
    redrawn = sample_receptive_fields(fields.kind, **fields.params)
    assert torch.equal(redrawn.index, fields.index) and torch.equal(redrawn.mask, fields.mask)


def test_random_size_is_int_s_times_d():
    fields = sample_receptive_fields("random", 4, 1000, fraction=0.137, seed=0)
    assert fields.sizes.tolist() == [137] * 4
    assert fields.centers is None
    _check_structure(fields, 1000)
    full = sample_receptive_fields("random", 2, 50, fraction=1.0, seed=0)
    assert full.to_lists() == [list(range(50))] * 2


def test_random_covers_signals_uniformly():
    fields = sample_receptive_fields("random", 400, 100, fraction=0.1, seed=1)
    counts = torch.bincount(fields.index[fields.mask], minlength=100)
    assert int(counts.sum()) == 4000
    assert int(counts.min()) > 20 and int(counts.max()) < 65  # mean 40


def test_gaussian_sizes_mnist_and_cifar():
    g = sample_receptive_fields("gaussian", 5, 784, fraction=0.1, image_shape=MNIST, seed=0)
    assert g.sizes.tolist() == [78] * 5  # int(784 * 0.1)
    c = sample_receptive_fields("gaussian", 5, 3072, fraction=0.1, image_shape=CIFAR, seed=0)
    assert c.sizes.tolist() == [102 * 3] * 5  # int(1024 * 0.1) pixels, 3 channels each
    for idx in c.to_lists():
        arr = np.asarray(idx).reshape(-1, 3)  # whole pixels: (3p, 3p+1, 3p+2) consecutive
        assert (arr[:, 0] % 3 == 0).all()
        assert (arr - arr[:, :1] == np.arange(3)).all()


def test_patch_kinds_keep_whole_pixels_on_colour_images():
    for kind in ["patches", "contiguous", "random"]:
        f = sample_receptive_fields(kind, 3, 3072, fraction=0.1, image_shape=CIFAR, seed=2)
        if kind == "random":
            continue  # random picks single signals, not pixels
        for idx in f.to_lists():
            assert len(idx) % 3 == 0
            arr = np.asarray(idx).reshape(-1, 3)
            assert (arr - arr[:, :1] == np.arange(3)).all()


def test_gaussian_fields_are_local():
    n = 30
    gauss = sample_receptive_fields("gaussian", n, 784, fraction=0.1, image_shape=MNIST, seed=0)
    rand = sample_receptive_fields("random", n, 784, fraction=0.1, image_shape=MNIST, seed=0)
    g_dist, r_dist = [], []
    for i, (gp, rp) in enumerate(zip(_pixels(gauss, MNIST), _pixels(rand, MNIST), strict=True)):
        centre = gauss.centers[i].numpy()
        assert (centre >= -0.5).all() and centre[0] < 27.5 and centre[1] < 27.5
        g_dist.append(np.linalg.norm(_coords(gp, 28) - centre, axis=1).mean())
        r_dist.append(np.linalg.norm(_coords(rp, 28) - centre, axis=1).mean())
    # 78 pixels around a centre with sigma 2: mean distance ~ 4-5 px, vs ~ 10+ px for random
    assert np.mean(g_dist) < 6.0
    assert np.mean(g_dist) < 0.5 * np.mean(r_dist)
    # larger sigma spreads the field
    wide = sample_receptive_fields(
        "gaussian", n, 784, fraction=0.1, image_shape=MNIST, seed=0, sigma=6.0
    )
    w_dist = [
        np.linalg.norm(_coords(p, 28) - wide.centers[i].numpy(), axis=1).mean()
        for i, p in enumerate(_pixels(wide, MNIST))
    ]
    assert np.mean(w_dist) > np.mean(g_dist) + 0.5


def test_random_centers_are_mean_pixel_positions():
    f = sample_receptive_fields("random", 2, 192, fraction=0.2, image_shape=(8, 8, 3), seed=0)
    for i, idx in enumerate(f.to_lists()):
        pix = np.asarray(idx) // 3
        expected = np.stack([pix // 8, pix % 8], axis=1).mean(0)
        assert np.allclose(f.centers[i].numpy(), expected, atol=1e-5)


def _patch_ids(pixels: np.ndarray, width: int, patch: int) -> set[tuple[int, int]]:
    rows, cols = pixels // width, pixels % width
    return set(zip((rows // patch).tolist(), (cols // patch).tolist(), strict=True))


@pytest.mark.parametrize("kind", ["patches", "contiguous"])
def test_patch_kinds_select_whole_patches(kind):
    f = sample_receptive_fields(kind, 8, 784, fraction=0.1, image_shape=MNIST, seed=4)
    # round(784 * 0.1 / 16) = 5 patches of 16 pixels
    assert f.sizes.tolist() == [80] * 8
    for pixels in _pixels(f, MNIST):
        ids = _patch_ids(pixels, 28, 4)
        assert len(ids) == 5
        assert len(pixels) == 16 * len(ids)  # every touched patch is complete


@pytest.mark.parametrize("kind", PATCH_KINDS)
@pytest.mark.parametrize("shape,patch", [(MNIST, 4), (CIFAR, 4), ((8, 8, 1), 2)])
def test_patch_kinds_list_signals_patch_by_patch(kind, shape, patch):
    """A node's signals are whole patches one after another, each in (row, col, channel)
    order, patches in raster order: [B, K] reshapes to tokens [B, P, p*p*C]."""
    h, w, c = shape
    fields = sample_receptive_fields(kind, 6, h * w * c, fraction=0.1 if h > 8 else 0.25,
                                     image_shape=shape, seed=5, patch=patch)
    width = token_width(kind, fields.params)
    assert width == patch * patch * c
    rows, cols = np.meshgrid(np.arange(patch), np.arange(patch), indexing="ij")
    for idx in fields.to_lists():
        tokens = np.asarray(idx).reshape(-1, width)
        patch_ids = []
        for token in tokens:
            pixel, channel = np.divmod(token, c)
            r0, c0 = pixel[0] // w, pixel[0] % w
            assert r0 % patch == 0 and c0 % patch == 0  # starts at a patch corner
            expected = ((r0 + rows) * w + (c0 + cols)).ravel()[:, None] * c + np.arange(c)
            assert (token == expected.ravel()).all()
            patch_ids.append((r0 // patch) * (w // patch) + c0 // patch)
        assert patch_ids == sorted(set(patch_ids))  # raster order, distinct


def test_patch_order_keeps_the_sets_of_sorted_fields():
    """Listing patch by patch reorders a field but keeps its signals (old seeds, same sets):
    seed 3's 'patches' field of node 0 on MNIST has the patches it had when sorted."""
    f = sample_receptive_fields("patches", 1, 784, fraction=0.1, image_shape=MNIST, seed=3)
    ids = sorted(_patch_ids(np.asarray(f.to_lists()[0]), 28, 4))
    assert ids == [(0, 6), (1, 5), (2, 4), (3, 3), (4, 0)]


def test_token_width_refuses_kinds_without_patches():
    with pytest.raises(GraphensError, match="--rf patches or --rf contiguous"):
        token_width("gaussian", {"image_shape": [28, 28, 1]})


def test_patch_size_and_count_options():
    f = sample_receptive_fields("patches", 3, 1024, fraction=0.25, image_shape=(32, 32, 1), patch=8)
    assert f.sizes.tolist() == [256] * 3  # round(1024 * 0.25 / 64) = 4 patches of 64
    tiny = sample_receptive_fields("patches", 2, 784, fraction=0.01, image_shape=MNIST, seed=0)
    assert tiny.sizes.tolist() == [16, 16]  # at least one patch
    assert tiny.params["patch"] == 4


def test_patches_centers_are_mean_of_chosen_pixels():
    f = sample_receptive_fields("patches", 3, 784, fraction=0.1, image_shape=MNIST, seed=1)
    for i, pixels in enumerate(_pixels(f, MNIST)):
        assert np.allclose(f.centers[i].numpy(), _coords(pixels, 28).mean(0), atol=1e-4)


def test_contiguous_without_jitter_takes_nearest_patches():
    f = sample_receptive_fields(
        "contiguous", 10, 784, fraction=0.2, image_shape=MNIST, seed=7, jitter=0.0
    )
    centres = np.arange(7) * 4 + 1.5
    grid = np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    for i, pixels in enumerate(_pixels(f, MNIST)):
        chosen = _patch_ids(pixels, 28, 4)
        dist = np.linalg.norm(grid - f.centers[i].numpy(), axis=1)
        chosen_d = [dist[r * 7 + c] for r, c in chosen]
        others = [dist[j] for j in range(49) if (j // 7, j % 7) not in chosen]
        assert max(chosen_d) <= min(others) + 1e-4


def test_contiguous_is_local_and_jitter_makes_edges_ragged():
    kw = {"fraction": 0.2, "image_shape": MNIST, "seed": 11}
    exact = sample_receptive_fields("contiguous", 20, 784, jitter=0.0, **kw)
    ragged = sample_receptive_fields("contiguous", 20, 784, **kw)  # jitter 0.5
    assert ragged.params["jitter"] == 0.5
    assert not torch.equal(exact.index, ragged.index)
    # still local: chosen patches lie near the centre, much nearer than random patches
    scattered = sample_receptive_fields("patches", 20, 784, **kw)
    near, far = [], []
    pairs = zip(_pixels(ragged, MNIST), _pixels(scattered, MNIST), strict=True)
    for i, (cp, sp) in enumerate(pairs):
        centre = ragged.centers[i].numpy()
        near.append(np.linalg.norm(_coords(cp, 28) - centre, axis=1).mean())
        far.append(np.linalg.norm(_coords(sp, 28) - centre, axis=1).mean())
    assert np.mean(near) < 8.0
    assert np.mean(near) < 0.7 * np.mean(far)


@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_same_seed_same_fields_other_seed_differs(kind):
    kw = {"fraction": 0.1, "image_shape": MNIST}
    a = sample_receptive_fields(kind, 5, 784, seed=1, **kw)
    b = sample_receptive_fields(kind, 5, 784, seed=1, **kw)
    c = sample_receptive_fields(kind, 5, 784, seed=2, **kw)
    assert torch.equal(a.index, b.index) and torch.equal(a.mask, b.mask)
    assert not torch.equal(a.index, c.index)
    # nodes are drawn independently of one another...
    assert len({tuple(x) for x in a.to_lists()}) == 5
    # ...and node i's field does not depend on the number of nodes
    more = sample_receptive_fields(kind, 8, 784, seed=1, **kw)
    assert more.to_lists()[:5] == a.to_lists()


def test_groups_of_different_sizes_pad_and_mask():
    groups = [[5, 1, 3], [0], [9, 8, 7, 6, 2]]
    f = from_groups(groups, 10)
    assert f.kind == "groups" and f.centers is None and f.num_nodes == 3
    assert f.max_size == 5
    assert f.sizes.tolist() == [3, 1, 5]
    assert f.to_lists() == [[1, 3, 5], [0], [2, 6, 7, 8, 9]]
    assert f.index.tolist() == [[1, 3, 5, 0, 0], [0, 0, 0, 0, 0], [2, 6, 7, 8, 9]]
    assert f.mask.tolist() == [
        [True, True, True, False, False],
        [True, False, False, False, False],
        [True] * 5,
    ]
    via = sample_receptive_fields("groups", 3, 10, groups=groups)
    assert torch.equal(via.index, f.index) and torch.equal(via.mask, f.mask)
    json.dumps(via.params)
    assert torch.equal(sample_receptive_fields("groups", **via.params).index, f.index)
    arrays = from_groups([np.array([2, 0]), torch.tensor([1])], 3)
    assert arrays.to_lists() == [[0, 2], [1]]


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("args", "kwargs", "pattern"),
    [
        (("hexagons", 3, 10), {}, "unknown receptive field kind 'hexagons'.*gaussian"),
        (("random", 3, 10), {"fraction": 0.0}, r"fraction d=0.0.*\(0, 1\]"),
        (("random", 3, 10), {"fraction": 1.5}, r"fraction d=1.5.*\(0, 1\]"),
        (("random", 3, 10), {"fraction": 0.05}, r"d=0.05 of S=10 .* k = int\(S\*d\) = 0.*larger"),
        (("random", 0, 10), {}, "num_nodes=0"),
        (("random", 3, 0), {}, "num_signals=0"),
        (("random", 3, 10), {"seed": -1}, "seed=-1"),
        (("random", 3, 10), {"sigma": 2.0}, "'random' does not take the option.*sigma"),
        (("gaussian", 3, 784), {}, r"'gaussian' needs an image.*--rf random"),
        (("patches", 3, 784), {}, r"'patches' needs an image"),
        (("contiguous", 3, 784), {}, r"'contiguous' needs an image"),
        (("gaussian", 3, 784), {"image_shape": MNIST, "sigma": 0}, "sigma=0.*> 0"),
        (("gaussian", 3, 100), {"image_shape": MNIST}, r"784 signals but the data has 100"),
        (
            ("patches", 3, 784),
            {"image_shape": MNIST, "patch": 5},
            r"\(28, 28, 1\) cannot be cut into 5×5 patches.*patch=\[1, 2, 4, 7, 14, 28\]",
        ),
        (("patches", 3, 784), {"image_shape": MNIST, "patch": 0}, "patch=0"),
        (("contiguous", 3, 784), {"image_shape": MNIST, "jitter": -1.0}, "jitter=-1.0"),
        (("groups", 3, 10), {}, "needs groups="),
        (("groups", 3, 10), {"groups": [[0], [1]]}, "2 groups but num_nodes=3"),
    ],
)
def test_sample_errors(args, kwargs, pattern):
    with pytest.raises(GraphensError, match=pattern):
        sample_receptive_fields(*args, **kwargs)


@pytest.mark.parametrize(
    ("groups", "pattern"),
    [
        ([[0, 1], []], r"group 1 \(node 1\) is empty"),
        ([[0, 10]], r"group 0 contains the signal index 10, outside \[0, 10\)"),
        ([[0], [-1]], "group 1 contains the signal index -1"),
        ([[0, 0.5]], "integer signal indices"),
        ([[1, 2, 1]], "group 0 lists signal 1 more than once"),
        ([], "groups is empty"),
    ],
)
def test_from_groups_errors(groups, pattern):
    with pytest.raises(GraphensError, match=pattern):
        from_groups(groups, 10)


def test_receptive_fields_validates_itself():
    with pytest.raises(GraphensError, match=r"node\(s\) \[1\] have an empty receptive field"):
        ReceptiveFields(
            index=torch.zeros(2, 2, dtype=torch.int64),
            mask=torch.tensor([[True, False], [False, False]]),
            centers=None,
            kind="groups",
        )
    with pytest.raises(GraphensError, match="0 wherever mask is False"):
        ReceptiveFields(
            index=torch.tensor([[1, 2]]),
            mask=torch.tensor([[True, False]]),
            centers=None,
            kind="groups",
        )
