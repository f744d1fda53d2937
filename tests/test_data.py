"""Tests for graphens.data: Dataset validation, from_arrays, idx parsing, loaders, splits.

The CIFAR and MNIST loaders read tiny files written here in the exact published formats."""

from __future__ import annotations

import gzip
import pickle
import struct
import sys
import types
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


# ------------------------------------------------------------------ CIFAR-10, CIFAR-100, MNIST


def _cifar_images(n: int, seed: int) -> np.ndarray:
    """``n`` channel-first ``uint8 [n, 3, 32, 32]`` images; image 0 is built by hand."""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    images[0, 0], images[0, 1], images[0, 2] = 10, 20, 30  # red, green, blue planes
    images[0, 0, 1, 2] = 200  # red of the pixel at row 1, column 2
    images[0, 2, 31, 0] = 255  # blue of the pixel at row 31, column 0
    return images


def _write_cifar_batch(path: Path, images: np.ndarray, labels: dict[bytes, list[int]]) -> None:
    # the layout of the official python batches: bytes keys, b"data" uint8 [n, 3072] holding
    # each image's 1024 red, then 1024 green, then 1024 blue values
    batch = {
        b"batch_label": b"a tiny batch",
        b"data": images.reshape(len(images), 3072),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
        **labels,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(batch, protocol=2))


def _write_fake_cifar10(folder: Path) -> dict[str, np.ndarray]:
    """Five train batches of 2 images and a test batch of 3 in ``folder``."""
    train = [_cifar_images(2, seed) for seed in range(1, 6)]
    train_labels = [[i, 9 - i] for i in range(5)]
    for i, (images, labels) in enumerate(zip(train, train_labels, strict=True), start=1):
        _write_cifar_batch(folder / f"data_batch_{i}", images, {b"labels": labels})
    test = _cifar_images(3, 0)
    _write_cifar_batch(folder / "test_batch", test, {b"labels": [3, 1, 4]})
    return {
        "x_train": np.concatenate(train),
        "y_train": np.array(sum(train_labels, [])),
        "x_test": test,
        "y_test": np.array([3, 1, 4]),
    }


def _write_fake_cifar100(folder: Path) -> None:
    _write_cifar_batch(folder / "train", _cifar_images(4, 1),
                       {b"fine_labels": [99, 0, 42, 7], b"coarse_labels": [19, 0, 5, 3]})
    _write_cifar_batch(folder / "test", _cifar_images(2, 2),
                       {b"fine_labels": [1, 98], b"coarse_labels": [2, 18]})


def _channel_last(images: np.ndarray) -> torch.Tensor:
    flat = images.transpose(0, 2, 3, 1).reshape(len(images), -1)
    return torch.from_numpy(flat.astype(np.float32) / np.float32(255))


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """An empty $GRAPHENS_DATA and HOME, so no real data on the machine is found."""
    monkeypatch.setenv("GRAPHENS_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "env"


def test_cifar10_reads_the_python_batches_channel_last(tmp_path, no_data):
    # the official archive extracted into root (also torchvision's layout under its root)
    arrays = _write_fake_cifar10(tmp_path / "cifar-10-batches-py")
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.name == "cifar10" and ds.image_shape == (32, 32, 3)
    assert ds.x_train.shape == (10, 3072) and ds.x_test.shape == (3, 3072)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    # the hand-built test image 0: flat index (row * 32 + col) * 3 + channel
    first = ds.x_test[0]
    assert float(first[(1 * 32 + 2) * 3 + 0]) == pytest.approx(200 / 255)
    assert float(first[(1 * 32 + 2) * 3 + 1]) == pytest.approx(20 / 255)
    assert float(first[(1 * 32 + 2) * 3 + 2]) == pytest.approx(30 / 255)
    assert float(first[(31 * 32 + 0) * 3 + 2]) == 1.0
    assert float(first[(31 * 32 + 0) * 3 + 0]) == pytest.approx(10 / 255)
    assert torch.equal(first.reshape(32, 32, 3)[5, 7], torch.tensor([10, 20, 30]) / 255.0)
    # every pixel, and the train batches in order 1..5
    assert torch.equal(ds.x_train, _channel_last(arrays["x_train"]))
    assert torch.equal(ds.x_test, _channel_last(arrays["x_test"]))
    assert ds.y_train.tolist() == arrays["y_train"].tolist()
    assert ds.y_test.tolist() == [3, 1, 4]
    assert float(ds.x_train.min()) >= 0.0 and float(ds.x_train.max()) <= 1.0


def test_cifar10_folder_conventions(tmp_path, no_data):
    _write_fake_cifar10(no_data / "cifar" / "cifar-10-batches-py")
    assert load_dataset("cifar10").x_train.shape == (10, 3072)
    # root may also be the folder of the batches itself
    _write_fake_cifar10(tmp_path / "batches")
    assert data.cifar10(root=tmp_path / "batches").x_test.shape == (3, 3072)


def test_cifar100_fine_and_coarse_labels(no_data):
    _write_fake_cifar100(no_data / "cifar" / "cifar-100-python")
    fine = load_dataset("cifar100")
    assert fine.name == "cifar100" and fine.image_shape == (32, 32, 3)
    assert fine.y_train.tolist() == [99, 0, 42, 7] and fine.y_test.tolist() == [1, 98]
    assert fine.num_classes == 100
    assert torch.equal(fine.x_train, _channel_last(_cifar_images(4, 1)))
    coarse = load_dataset("cifar100", labels="coarse")
    assert coarse.y_train.tolist() == [19, 0, 5, 3] and coarse.y_test.tolist() == [2, 18]
    assert torch.equal(coarse.x_test, fine.x_test)


@pytest.mark.parametrize("labels", ["medium", "Fine", 1])
def test_cifar100_rejects_bad_labels(no_data, labels):
    _write_fake_cifar100(no_data / "cifar" / "cifar-100-python")
    with pytest.raises(GraphensError, match=r"labels=.* is not valid.*'fine', 'coarse'") as info:
        data.cifar100(labels=labels)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cifar10", ["data_batch_1", "test_batch", data.CIFAR10_URL, "cifar-10-batches-py/",
                     "cifar/cifar-10-batches-py"]),
        ("cifar100", ["train, test", data.CIFAR100_URL, "cifar-100-python/"]),
        ("mnist", ["t10k-labels-idx1-ubyte[.gz]", data.MNIST_URL, "MNIST/raw"]),
    ],
)
def test_missing_files_say_where_to_put_which_and_how_in_one_line(tmp_path, no_data, name,
                                                                  expected):
    root = tmp_path / "root"
    with pytest.raises(GraphensError) as info:
        load_dataset(name, root=root)
    msg = str(info.value)
    assert "\n" not in msg
    home = "cifar" if name.startswith("cifar") else "mnist"
    assert f"{root} or $GRAPHENS_DATA/{home} (= {no_data / home})" in msg
    assert "download=True" in msg and "graphens[download]" in msg
    for text in expected:
        assert text in msg


def test_cifar_batches_must_be_cifar_batches(tmp_path, no_data):
    folder = tmp_path / "cifar-10-batches-py"
    _write_fake_cifar10(folder)
    # a pickle naming anything but numpy arrays and bytes is refused before it can run
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Path("x")}, protocol=2))
    with pytest.raises(GraphensError, match=r"test_batch cannot be read as a CIFAR python "
                       r"batch \(it names pathlib.*download and extract"):
        data.cifar10(root=tmp_path)
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(GraphensError, match="cannot be read as a CIFAR python batch"):
        data.cifar10(root=tmp_path)
    _write_cifar_batch(folder / "test_batch", _cifar_images(2, 0), {b"labels": [1]})
    with pytest.raises(GraphensError, match=r"test_batch is not a CIFAR python batch.*b'labels'"):
        data.cifar10(root=tmp_path)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_reads_idx_files(tmp_path, no_data, compress):
    arrays = _write_fake_fashion(tmp_path / "MNIST" / "raw", compress=compress)
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.name == "mnist" and ds.image_shape == (28, 28, 1)
    assert ds.x_train.shape == (6, 784) and ds.x_test.shape == (4, 784)
    expected = torch.from_numpy(arrays["x_train"].reshape(6, -1)).float() / 255.0
    assert torch.equal(ds.x_train, expected)
    assert ds.y_train.tolist() == arrays["y_train"].tolist()
    assert ds.y_test.tolist() == arrays["y_test"].tolist()


def test_mnist_looks_in_its_own_folder_of_graphens_data(no_data):
    # Fashion-MNIST's files have MNIST's names: $GRAPHENS_DATA itself is Fashion-MNIST's place
    _write_fake_fashion(no_data)
    with pytest.raises(GraphensError, match="MNIST files"):
        data.mnist()
    assert data.fashion_mnist().x_train.shape == (6, 784)
    _write_fake_fashion(no_data / "mnist", n_train=2)
    assert data.mnist().x_train.shape == (2, 784)


def test_download_needs_torchvision(tmp_path, no_data, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(GraphensError, match=r"download=True needs torchvision to fetch CIFAR-10"
                       r".*pip install 'graphens\[download\]'") as info:
        data.cifar10(root=tmp_path, download=True)
    assert "\n" not in str(info.value)
    # files in place are read without torchvision
    _write_fake_cifar10(tmp_path / "cifar-10-batches-py")
    assert data.cifar10(root=tmp_path, download=True).x_test.shape == (3, 3072)


def _fake_torchvision(monkeypatch, dataset_class: type) -> list[tuple]:
    calls: list[tuple] = []

    class Recording(dataset_class):
        def __init__(self, root, train=True, download=False):
            calls.append((root, train, download))
            super().__init__(root, train, download)

    package = types.ModuleType("torchvision")
    datasets = types.ModuleType("torchvision.datasets")
    for name in ("CIFAR10", "CIFAR100", "MNIST", "FashionMNIST"):
        setattr(datasets, name, Recording)
    package.datasets = datasets
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", datasets)
    return calls


def test_download_goes_through_torchvision_into_root(tmp_path, no_data, monkeypatch):
    class FakeCIFAR10:
        def __init__(self, root, train, download):
            if train:  # torchvision extracts the whole archive into its root
                _write_fake_cifar10(Path(root) / "cifar-10-batches-py")

    calls = _fake_torchvision(monkeypatch, FakeCIFAR10)
    ds = data.cifar10(root=tmp_path / "dl", download=True)
    assert calls == [(str(tmp_path / "dl"), True, True), (str(tmp_path / "dl"), False, True)]
    assert ds.x_train.shape == (10, 3072)
    calls.clear()
    data.cifar10(download=True)  # without root: into $GRAPHENS_DATA
    assert calls == [(str(no_data), True, True), (str(no_data), False, True)]
    calls.clear()
    data.cifar10(download=True)  # found there now: no second download
    assert calls == []


def test_download_failure_is_one_line(tmp_path, no_data, monkeypatch):
    class Offline:
        def __init__(self, root, train, download):
            raise OSError("<urlopen error [Errno -3]\n Temporary failure in name resolution>")

    _fake_torchvision(monkeypatch, Offline)
    for loader in (data.cifar10, data.cifar100, data.mnist):
        with pytest.raises(GraphensError, match=r"downloading .* with torchvision into .* "
                           r"failed \(<urlopen error \[Errno -3\] Temporary failure") as info:
            loader(root=tmp_path, download=True)
        assert "\n" not in str(info.value)


def test_new_vision_datasets_resolve_in_run_config(tmp_path, no_data):
    from graphens.config import MODALITY_DEFAULTS, RunConfig

    vision = MODALITY_DEFAULTS["vision"]
    for name in ("cifar10", "cifar100", "mnist"):
        config = RunConfig(dataset=name)
        assert config.modality == "vision"
        assert (config.rf_fraction, config.tau) == (vision["rf_fraction"], vision["tau"])
    config = RunConfig(dataset="cifar100", dataset_params={"labels": "coarse"})
    assert config.dataset_params == {"labels": "coarse"}
    _write_fake_cifar100(tmp_path / "cifar-100-python")
    ds = load_dataset(config.dataset, root=tmp_path, **config.dataset_params)
    assert ds.y_test.tolist() == [2, 18]


@pytest.mark.filterwarnings("ignore::graphens.errors.GraphensWarning")  # 1 epoch learns nothing
def test_cifar10_runs_end_to_end_from_the_registry(tmp_path, no_data):
    import graphens

    _write_fake_cifar10(tmp_path / "cifar-10-batches-py")
    config = graphens.RunConfig(dataset="cifar10", dataset_params={"root": str(tmp_path)},
                                nodes=3, hidden=(16,), dim=8, epochs=1, batch_size=8)
    results = graphens.run(config, tmp_path / "out", progress=False)
    assert results["config"]["dataset"] == "cifar10"
    assert len(results["per_node_accuracy"]) == 3
    assert 0.0 <= results["ensemble_accuracy"] <= 1.0
    assert (tmp_path / "out" / "results.json").is_file()
