"""Tests for graphens.data: Dataset validation, from_arrays, idx parsing, loaders, splits."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from graphens import data
from graphens.data import (
    Dataset,
    digits,
    fashion_mnist,
    from_arrays,
    load_dataset,
    read_idx,
)
from graphens.errors import GraphensError


def _idx_bytes(arr: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write_idx(path: Path, arr: np.ndarray, code: int, compress: bool) -> Path:
    payload = _idx_bytes(arr, code)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def _write_fake_fashion(folder: Path, n_train: int = 6, n_test: int = 4, compress: bool = True):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, size=n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, size=n_test).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in data.FASHION_MNIST_FILES.items():
        _write_idx(folder / stem, arrays[key], 0x08, compress)
    return arrays


# ------------------------------------------------------------------ from_arrays / Dataset


def test_from_arrays_flattens_channel_last_and_infers_shape():
    rng = np.random.default_rng(0)
    x = rng.random((5, 3, 4, 2)).astype(np.float32)
    ds = from_arrays(x, np.arange(5), x[:2], np.array([1, 7]))
    assert ds.image_shape == (3, 4, 2)
    assert ds.num_signals == 24
    assert ds.x_train.dtype == torch.float32 and ds.x_train.shape == (5, 24)
    assert ds.y_train.dtype == torch.int64
    # flat index of (row, col, ch) is (row * W + col) * C + ch
    row, col, ch = 2, 3, 1
    assert ds.x_train[4, (row * 4 + col) * 2 + ch] == pytest.approx(float(x[4, row, col, ch]))
    assert ds.num_classes == 8  # max label 7 (in test) + 1


def test_from_arrays_grey_images_and_flat_inputs():
    x = torch.rand(4, 5, 6)
    ds = from_arrays(x, None, x, None)
    assert ds.image_shape == (5, 6, 1) and ds.num_signals == 30
    assert ds.num_classes == 0
    flat = from_arrays(np.ones((3, 7)), [0, 1, 2], np.ones((2, 7)), [0, 0])
    assert flat.image_shape is None and flat.num_classes == 3
    img = from_arrays(np.ones((3, 12)), None, np.ones((2, 12)), None, image_shape=(2, 2, 3))
    assert img.image_shape == (2, 2, 3)


def test_from_arrays_accepts_whole_float_labels():
    ds = from_arrays(np.zeros((2, 3)), np.array([0.0, 2.0]), np.zeros((1, 3)), None)
    assert ds.y_train.tolist() == [0, 2]


def test_nonfinite_inputs_report_count_and_position():
    x = np.zeros((4, 5), dtype=np.float32)
    x[1, 2] = np.nan
    x[3, 0] = np.inf
    with pytest.raises(GraphensError, match=r"x_train contains 2 non-finite.*row 1, column 2"):
        from_arrays(x, None, np.zeros((1, 5)), None)
    with pytest.raises(GraphensError, match="x_test contains 1 non-finite"):
        from_arrays(np.zeros((2, 5)), None, x[1:2], None)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"y_train": [0, 1]}, "y_train has 2 labels but x_train has 3 rows"),
        ({"y_train": [0, -1, 2]}, "negative label -1"),
        ({"y_train": [0.5, 1, 2]}, "non-integer labels such as 0.5"),
        ({"y_train": ["a", "b", "c"]}, "labels must be integers"),
        ({"y_train": [[0], [1], [2]]}, "one-dimensional"),
        ({"image_shape": (2, 2, 2)}, r"H\*W\*C = 8 signals but the data has 6 columns"),
        ({"x_train": np.zeros((0, 6))}, "x_train is empty"),
        ({"x_test": np.zeros((1, 5))}, "x_train has 6 signals per row but x_test has 5"),
        ({"x_train": np.zeros((3, 2, 3)), "image_shape": (3, 2, 1)}, "disagrees"),
        ({"x_train": np.zeros((3, 1, 2, 3, 1))}, "give \\[n, S\\] signals"),
    ],
)
def test_from_arrays_rejects_bad_input(kwargs, pattern):
    args = {
        "x_train": np.zeros((3, 6)),
        "y_train": [0, 1, 2],
        "x_test": np.zeros((2, 6)),
        "y_test": None,
    }
    image_shape = kwargs.pop("image_shape", None)
    args.update(kwargs)
    with pytest.raises(GraphensError, match=pattern):
        from_arrays(**args, image_shape=image_shape)


def test_dataset_constructor_validates():
    with pytest.raises(GraphensError, match="float32"):
        Dataset("d", torch.zeros(2, 3, dtype=torch.float64), None, torch.zeros(1, 3), None, None)
    with pytest.raises(GraphensError, match="int64"):
        Dataset("d", torch.zeros(2, 3), torch.zeros(2), torch.zeros(1, 3), None, None)
    assert isinstance(GraphensError("x"), ValueError)


# ------------------------------------------------------------------ idx parser


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    ("dtype", "code"),
    [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D)],
)
def test_read_idx_roundtrip(tmp_path, compress, dtype, code):
    arr = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4)
    if dtype == np.uint8:
        arr = arr + 5
    arr = arr.astype(dtype)
    path = _write_idx(tmp_path / "tiny-idx3", arr, code, compress)
    out = read_idx(path)
    assert out.shape == (2, 3, 4)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, arr)


def test_read_idx_one_dimensional_labels(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    path = _write_idx(tmp_path / "labels-idx1", labels, 0x08, compress=False)
    np.testing.assert_array_equal(read_idx(path), labels)


def test_read_idx_rejects_bad_files(tmp_path):
    bad_magic = tmp_path / "bad"
    bad_magic.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(GraphensError, match="not an idx file"):
        read_idx(bad_magic)
    truncated = tmp_path / "trunc"
    truncated.write_bytes(_idx_bytes(np.zeros((4, 4), np.uint8), 0x08)[:-3])
    with pytest.raises(GraphensError, match="truncated or corrupt"):
        read_idx(truncated)


# ------------------------------------------------------------------ registry and loaders


def test_load_dataset_unknown_name_lists_known():
    with pytest.raises(GraphensError, match="unknown dataset 'mnist-nope'.*digits, fashion-mnist"):
        load_dataset("mnist-nope")
    with pytest.raises(GraphensError, match="'synthetic' is neural data"):
        load_dataset("synthetic")


def test_load_dataset_rejects_unknown_argument():
    with pytest.raises(GraphensError, match="does not take the argument.*colour"):
        load_dataset("digits", colour=True)


def test_digits_is_scaled_stratified_and_seeded():
    ds = load_dataset("digits", seed=1)
    assert ds.name == "digits" and ds.image_shape == (8, 8, 1)
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    assert ds.num_classes == 10
    # stratified: every class appears in the test split in about the same proportion
    counts = torch.bincount(ds.y_test, minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37
    again = digits(seed=1)
    assert torch.equal(again.x_test, ds.x_test)
    other = digits(seed=2)
    assert not torch.equal(other.x_test, ds.x_test)
    with pytest.raises(GraphensError, match="test_fraction=1.5"):
        digits(test_fraction=1.5)


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_reads_root(tmp_path, compress):
    arrays = _write_fake_fashion(tmp_path, compress=compress)
    ds = fashion_mnist(root=tmp_path)
    assert ds.name == "fashion-mnist" and ds.image_shape == (28, 28, 1)
    assert ds.x_train.shape == (6, 784) and ds.x_test.shape == (4, 784)
    expected = torch.from_numpy(arrays["x_train"].reshape(6, -1)).float() / 255.0
    assert torch.allclose(ds.x_train, expected)
    assert ds.y_test.tolist() == arrays["y_test"].tolist()


def test_fashion_mnist_uses_graphens_data_env(tmp_path, monkeypatch):
    _write_fake_fashion(tmp_path / "fashion-mnist")
    monkeypatch.setenv("GRAPHENS_DATA", str(tmp_path))
    ds = load_dataset("fashion-mnist")
    assert ds.x_train.shape == (6, 784)


def test_fashion_mnist_missing_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("GRAPHENS_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(GraphensError) as info:
        fashion_mnist(root=tmp_path / "root")
    msg = str(info.value)
    assert str(tmp_path / "root") in msg and str(tmp_path / "nowhere") in msg
    assert str(tmp_path / "env") in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "GRAPHENS_DATA" in msg


@pytest.fixture(scope="module")
def real_fashion():
    folder = Path(data.FASHION_MNIST_SYSTEM_DIR)
    if not all(
        (folder / f"{stem}.gz").is_file() or (folder / stem).is_file()
        for stem in data.FASHION_MNIST_FILES.values()
    ):
        pytest.skip(f"Fashion-MNIST not in {folder} (apt-get install dataset-fashion-mnist)")
    return fashion_mnist(root=folder)


def test_real_fashion_mnist(real_fashion):
    ds = real_fashion
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.image_shape == (28, 28, 1) and ds.num_classes == 10
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    assert torch.bincount(ds.y_train).tolist() == [6000] * 10
    assert torch.bincount(ds.y_test).tolist() == [1000] * 10
    # the first training image is an ankle boot (label 9) with dark borders
    assert int(ds.y_train[0]) == 9
    first = ds.x_train[0].reshape(28, 28)
    assert float(first[0].sum()) == 0.0 and float(first.mean()) > 0.1
